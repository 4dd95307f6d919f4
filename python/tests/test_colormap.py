"""Colormap parsing and validation (no torch needed)."""

from __future__ import annotations

import json

import pytest

from kprcnn_export import ExportError, load_colormap, parse_colormap


def test_parse_and_normalise():
    text = json.dumps(
        {
            "items": [{"label": "nose", "color": [1, 0, 0.5]}, {"label": "tail", "color": [0.0, 1.0, 0.25]}],
            "skeleton": [["nose", "tail"]],
            "extra": "ignored",
        }
    )
    cmap = parse_colormap(text)
    assert cmap.labels == ("nose", "tail")
    assert cmap.num_keypoints == 2
    assert cmap.skeleton == (("nose", "tail"),)
    doc = json.loads(cmap.to_json())
    assert doc == {
        "items": [{"label": "nose", "color": [1.0, 0.0, 0.5]}, {"label": "tail", "color": [0.0, 1.0, 0.25]}],
        "skeleton": [["nose", "tail"]],
    }


def test_skeleton_is_optional_and_normalised_to_empty():
    cmap = parse_colormap('{"items": [{"label": "a", "color": [0, 0, 0]}]}')
    assert json.loads(cmap.to_json())["skeleton"] == []


def test_unicode_labels_survive(tmp_path):
    path = tmp_path / "x-colormap.json"
    path.write_text('\ufeff{"items": [{"label": "épaule", "color": [0, 0, 1]}]}', encoding="utf-8")
    cmap = load_colormap(path)
    assert cmap.labels == ("épaule",)
    assert "épaule" in cmap.to_json()


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "not valid JSON"),
        ("{items: []}", "not valid JSON"),
        ("[]", '"items"'),
        ('{"labels": []}', '"items"'),
        ('{"items": []}', "non-empty"),
        ('{"items": [1]}', "item 0 is not an object"),
        ('{"items": [{"color": [0, 0, 0]}]}', 'no "label"'),
        ('{"items": [{"label": "", "color": [0, 0, 0]}]}', 'no "label"'),
        ('{"items": [{"label": "a"}]}', '"color" must be a list of 3 numbers'),
        ('{"items": [{"label": "a", "color": [0, 0]}]}', '"color" must be a list of 3 numbers'),
        ('{"items": [{"label": "a", "color": [0, 0, "1"]}]}', '"color" must be a list of 3 numbers'),
        ('{"items": [{"label": "a", "color": [true, 0, 0]}]}', '"color" must be a list of 3 numbers'),
        ('{"items": [{"label": "a", "color": [255, 0, 0]}]}', "divide by 255"),
        ('{"items": [{"label": "a", "color": [-0.1, 0, 0]}]}', "in 0..1"),
        ('{"items": [{"label": "a", "color": [0, 0, 0]}, {"label": "a", "color": [1, 1, 1]}]}', 'duplicate label "a"'),
        ('{"items": [{"label": "a", "color": [0, 0, 0]}], "skeleton": [["a", "b"]]}', 'unknown label "b"'),
        ('{"items": [{"label": "a", "color": [0, 0, 0]}], "skeleton": [["a", "a"]]}', "to itself"),
        ('{"items": [{"label": "a", "color": [0, 0, 0]}], "skeleton": [["a"]]}', "pair of labels"),
        ('{"items": [{"label": "a", "color": [0, 0, 0]}], "skeleton": "a-b"}', "list of label pairs"),
    ],
)
def test_invalid_colormaps_are_rejected_with_a_reason(text, fragment):
    with pytest.raises(ExportError) as info:
        parse_colormap(text, source="test.json")
    assert "test.json" in str(info.value)
    assert fragment.lower() in str(info.value).lower()


def test_non_finite_colour_is_rejected():
    with pytest.raises(ExportError, match="non-finite"):
        parse_colormap('{"items": [{"label": "a", "color": [NaN, 0, 0]}]}')


def test_unreadable_files(tmp_path):
    with pytest.raises(ExportError, match="cannot read colormap"):
        load_colormap(tmp_path / "missing-colormap.json")
    binary = tmp_path / "bin-colormap.json"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(ExportError, match="not UTF-8"):
        load_colormap(binary)


# --- the default colormap (no colormap file) --------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 17, 40])
def test_default_colormap_names_and_distinct_colours(k):
    from kprcnn_export.colormap import default_colormap

    cmap = default_colormap(k)
    assert cmap.labels == tuple(f"kp{i}" for i in range(k)) and cmap.skeleton == ()
    assert len(set(cmap.colors)) == k
    assert all(0 <= c <= 1 for color in cmap.colors for c in color)
    # What the exporter stores must read back the same (and so be valid for the C++ reader).
    assert parse_colormap(cmap.to_json()) == cmap


def test_default_colours_of_neighbours_differ_clearly():
    from kprcnn_export.colormap import default_colormap

    colors = default_colormap(17).colors
    for a, b in zip(colors, colors[1:]):
        assert max(abs(x - y) for x, y in zip(a, b)) > 0.2, (a, b)


def test_with_skeleton_replaces_and_validates():
    from kprcnn_export.colormap import default_colormap

    cmap = default_colormap(3).with_skeleton([("kp0", "kp1"), ("kp1", "kp2")], source="--skeleton")
    assert cmap.skeleton == (("kp0", "kp1"), ("kp1", "kp2"))
    with pytest.raises(ExportError, match='--skeleton: skeleton entry 0 names unknown label "nose"'):
        cmap.with_skeleton([("nose", "kp0")], source="--skeleton")
