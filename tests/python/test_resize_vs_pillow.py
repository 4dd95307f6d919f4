"""kprcnn's preprocessing against the references it must match: Pillow's resize, the recipe's resize plan,
torchvision's to_tensor.

Drives tests/tools/kprcnn_resize (binary PPM in and out). ctest sets KPRCNN_TOOLS_DIR; by hand:
    KPRCNN_TOOLS_DIR=build-pp/tests /usr/bin/python3 -m pytest -q tests/python/test_resize_vs_pillow.py
"""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TOOLS = os.environ.get("KPRCNN_TOOLS_DIR", "")
TOOL = Path(TOOLS) / "kprcnn_resize" if TOOLS else None
pytestmark = pytest.mark.skipif(not TOOLS, reason="KPRCNN_TOOLS_DIR not set (folder holding kprcnn_resize)")

MAX_PLANNED_PIXELS = 64 * 1024 * 1024  # plan_resize's cap on the model input


@pytest.fixture(scope="module")
def tool():
    assert TOOL.exists(), f"{TOOL} not built (cmake --build <build> --target kprcnn_resize)"
    return TOOL


def run(tool, *args):
    return subprocess.run([str(tool), *map(str, args)], capture_output=True, text=True, timeout=120)


def write_ppm(path, pixels):
    h, w, _ = pixels.shape
    path.write_bytes(b"P6\n%d %d\n255\n" % (w, h) + np.ascontiguousarray(pixels).tobytes())


def read_ppm(path):
    magic, size, maxval, data = path.read_bytes().split(b"\n", 3)
    assert magic == b"P6" and maxval == b"255"
    w, h = map(int, size.split())
    return np.frombuffer(data, np.uint8).reshape(h, w, 3)


# (source w, h) -> (target w, h): down and up, odd sizes, one pixel sides, one axis only, big ratios.
SIZES = [
    ((4032, 3024), (682, 512)),  # phone photo to the model's 512 (ratio ~5.9)
    ((3024, 4032), (512, 682)),
    ((960, 640), (768, 512)),
    ((640, 480), (682, 512)),  # upscale
    ((1920, 1080), (910, 512)),
    ((7, 5), (13, 11)),
    ((13, 11), (7, 5)),
    ((1, 1), (5, 3)),
    ((5, 3), (1, 1)),
    ((1, 9), (4, 2)),
    ((9, 1), (2, 4)),
    ((100, 1), (37, 4)),
    ((1, 100), (3, 512)),
    ((2, 2), (512, 512)),
    ((33, 77), (32, 77)),  # horizontal only
    ((33, 77), (33, 10)),  # vertical only
    ((640, 480), (640, 300)),
    ((3, 3), (9, 9)),
    ((10, 10), (3, 30)),
    ((1000, 3), (2, 1)),
    ((5000, 7), (3, 3)),  # windows of thousands of taps
    ((17, 19), (51, 57)),  # exact 3x: weights of exactly 1.0
    ((101, 67), (97, 71)),
]


def random_sizes(count, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        w, h = rng.integers(1, 300, size=2)
        tw, th = rng.integers(1, 300, size=2)
        out.append(((int(w), int(h)), (int(tw), int(th))))
    return out


def compare(tool, tmp_path, src_size, dst_size, seed, plain=False):
    (w, h), (tw, th) = src_size, dst_size
    pixels = np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    src, dst = tmp_path / "in.ppm", tmp_path / "out.ppm"
    write_ppm(src, pixels)
    proc = run(tool, src, dst, tw, th, *(["--plain"] if plain else []))
    assert proc.returncode == 0, proc.stderr
    ours = read_ppm(dst).astype(np.int16)
    ref = np.asarray(Image.fromarray(pixels).resize((tw, th))).astype(np.int16)  # default filter: BICUBIC
    assert ours.shape == ref.shape
    diff = np.abs(ours - ref)
    assert diff.max() == 0, (
        f"{w}x{h} -> {tw}x{th}{' plain' if plain else ''}: max diff {diff.max()}, "
        f"{np.count_nonzero(diff) / diff.size:.4%} of values differ"
    )


@pytest.mark.parametrize("src_size,dst_size", SIZES, ids=[f"{a[0]}x{a[1]}-{b[0]}x{b[1]}" for a, b in SIZES])
def test_resize_matches_pillow_exactly(tool, tmp_path, src_size, dst_size):
    compare(tool, tmp_path, src_size, dst_size, seed=src_size[0] * 7919 + dst_size[1])


@pytest.mark.parametrize("src_size,dst_size", SIZES[:6])
def test_plain_kernels_match_pillow_exactly(tool, tmp_path, src_size, dst_size):
    compare(tool, tmp_path, src_size, dst_size, seed=3, plain=True)


def test_resize_matches_pillow_on_random_sizes(tool, tmp_path):
    for i, (src_size, dst_size) in enumerate(random_sizes(60, seed=20240501)):
        compare(tool, tmp_path, src_size, dst_size, seed=i)


def test_chw_dump_is_to_tensor(tool, tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, size=(40, 30, 3), dtype=np.uint8)
    pixels[0, :3] = [[0, 0, 0], [255, 255, 255], [3, 51, 127]]
    write_ppm(tmp_path / "in.ppm", pixels)
    proc = run(tool, tmp_path / "in.ppm", tmp_path / "out.ppm", 30, 40, "--chw", tmp_path / "t.f32")  # same size
    assert proc.returncode == 0, proc.stderr
    ours = np.fromfile(tmp_path / "t.f32", dtype="<f4").reshape(3, 40, 30)
    # to_tensor is img.permute(2, 0, 1).float().div(255): a float32 division, which numpy reproduces exactly.
    expected = pixels.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    assert np.array_equal(ours, expected)
    try:
        import torch  # noqa: F401
        from torchvision.transforms.functional import to_tensor
    except ImportError:
        pytest.skip("torch/torchvision not installed: compared with numpy's float32 division only")
    assert np.array_equal(ours, to_tensor(Image.fromarray(pixels)).numpy())


def recipe_plan(w, h, target, divisor):
    """The recipe's resize_img size computation, verbatim in spirit (numpy argmin/argmax, float division)."""
    size = (w, h)
    min_dim, max_dim = int(np.argmin(size)), int(np.argmax(size))
    ratio = min(size) / target
    new_sz = []
    new_sz.insert(min_dim, target)
    new_sz.insert(max_dim, int(max(size) / ratio))
    if divisor > 0:
        new_sz = [d - d % divisor for d in new_sz]
    return new_sz


def plan_cases():
    cases = [(w, w, t, d) for w in (1, 7, 9, 49, 100, 333, 512, 1000, 4096) for t in (224, 512, 800) for d in (0, 1, 32)]
    cases += [(640, 480, 512, 1), (480, 640, 512, 32), (4032, 3024, 512, 1), (3024, 4032, 512, 32), (1, 3, 5, 1)]
    cases += [(1000, 999, 512, 32), (999, 1000, 512, 32), (1920, 1080, 800, 0), (333, 777, 300, 7)]
    cases += [(1, 10000, 512, 1), (10000, 1, 512, 32), (100, 200, 16, 32), (5, 5, 31, 32)]  # errors
    rng = np.random.default_rng(7)
    for _ in range(150):
        w, h = (int(v) for v in rng.integers(1, 5000, size=2))
        cases.append((w, h, int(rng.choice([224, 320, 512, 800, 1333])), int(rng.choice([-1, 0, 1, 8, 32]))))
    return cases


def test_plan_resize_matches_recipe(tool):
    mismatches = []
    for w, h, target, divisor in plan_cases():
        expected = recipe_plan(w, h, target, divisor)
        proc = run(tool, "--plan", w, h, target, divisor)
        if 0 in expected or expected[0] * expected[1] > MAX_PLANNED_PIXELS:
            if proc.returncode != 2 or "error (invalid_argument)" not in proc.stderr:
                mismatches.append(((w, h, target, divisor), "expected an error", proc.stdout, proc.stderr))
            continue
        got = [int(v) for v in proc.stdout.split()] if proc.returncode == 0 else proc.stderr
        if got != expected:
            mismatches.append(((w, h, target, divisor), expected, got))
    assert not mismatches, mismatches[:10]


def test_plan_error_says_what_to_do(tool):
    proc = run(tool, "--plan", 1, 10000, 512, 1)
    assert proc.returncode == 2
    assert "512x5120000" in proc.stderr and "64 Mpx" in proc.stderr and "crop" in proc.stderr
    proc = run(tool, "--plan", 0, 10, 512, 1)
    assert proc.returncode == 2 and "empty image" in proc.stderr
