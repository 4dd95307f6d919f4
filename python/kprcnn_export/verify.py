"""Verification of an export: PyTorch eager and ONNX Runtime on the same inputs must give the same detections.

ONNX Runtime runs through the C++ ``kprcnn predict`` (the Python onnxruntime package is not needed): the exporter
finds the binary in ``$KPRCNN_CLI`` (``kprcnn export`` sets it to itself) or on ``PATH``. Both sides see the
same pixels: each verification image is prepared in Python (EXIF orientation applied, RGB, shorter side scaled to
``VERIFY_SIZE`` with Pillow's bicubic filter) and saved as PNG, and ``kprcnn predict --size VERIFY_SIZE`` then
feeds it unresized, so what is compared is the graph, not the resize.

The default inputs are synthetic: a near-blank image first (grey with faint noise: a trained model finds nothing
above its threshold there) and a scene of another size and aspect ratio after it (faces, as ``kprcnn synth``
draws them), in the same ONNX Runtime session, because exported torchvision detectors have been known to fail
on the run after one that produced no boxes. A model that finds nothing on that scene (one trained on other
objects, or an export whose --box-score-thresh no detection reaches) compares nothing there: the report counts
the detections compared and warns when fewer than ``MIN_COMPARED`` were, so that the user passes
``--verify-image`` with images of their own objects. The noise matters: on a perfectly uniform image every position looks the same, many candidate boxes get
exactly equal scores, and which of the tied ones survive NMS and the detections cap is arbitrary (PyTorch and
ONNX Runtime break the ties differently), so such an image cannot be compared box by box. Every detection the
graph returns (score above box_score_thresh) is compared, with the tolerances of ``Tolerance``; a detection whose
score lies within the score tolerance of a cut-off (box_score_thresh, or the last place of a full
detections_per_img list) may legitimately exist on one side only and is left out.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from kprcnn_export.common import CLI_ENV, find_cli, iou, plan_resize  # noqa: F401 (re-exported)
from kprcnn_export.errors import ExportError

VERIFY_SIZE = 320  # shorter side of the verification inputs (the graph upsamples to min_size anyway)
# (name, width, height, scene seed or None for the near-blank image): two sizes, the near-blank one first.
SYNTHETIC_INPUTS = (("a_blank", 320, 400, None), ("b_scene", 480, 320, 2))
SENSITIVITY_NOISE = 1e-6  # relative input noise of the eager re-runs that test a differing detection's conditioning
SENSITIVITY_RUNS = 3
MIN_COMPARED = 3  # fewer detections compared than this: the verification says little, and says so
BLANK_NOISE = 4.0  # standard deviation (grey levels) of the near-blank image's noise around 128


@dataclass(frozen=True)
class Tolerance:
    """What "the same" means: boxes and keypoints within ``coord_abs`` px or ``coord_rel`` of the value; scores
    within ``score``; keypoint scores (heatmap logits of magnitude ~10) within ``keypoint_score_abs`` or
    ``keypoint_score_rel``. Detections whose scores differ by less than ``score`` may come in either order."""

    coord_abs: float = 1e-2
    coord_rel: float = 1e-3
    score: float = 1e-4
    keypoint_score_abs: float = 1e-2
    keypoint_score_rel: float = 1e-3

    def describe(self) -> str:
        return (
            f"boxes/keypoints {self.coord_abs:g} px or {self.coord_rel:g} relative, scores {self.score:g}, "
            f"keypoint scores {self.keypoint_score_abs:g} or {self.keypoint_score_rel:g} relative"
        )


@dataclass
class Suspect:
    expected: dict
    actual: dict
    problems: list[str]


@dataclass
class Comparison:
    """The comparison of one image's detections: counts, largest differences, and every problem found."""

    name: str
    size: tuple[int, int]
    expected: int = 0  # eager detections
    actual: int = 0  # ONNX Runtime detections
    borderline: int = 0  # left out: scores at a cut-off
    matched: int = 0
    max_box: float = 0.0
    max_keypoint: float = 0.0
    max_score: float = 0.0
    max_keypoint_score: float = 0.0
    problems: list[str] = field(default_factory=list)
    suspects: list[Suspect] = field(default_factory=list)  # pairs that differ beyond the tolerance
    float_sensitive: int = 0  # suspects cleared: PyTorch itself gives their ONNX Runtime values (see clear_...)
    sensitive_spread: float = 0.0  # how far PyTorch's own runs moved them, px

    def summary(self) -> str:
        w, h = self.size
        text = f"{self.name} ({w}x{h}): {self.expected} detections (PyTorch) vs {self.actual} (ONNX Runtime)"
        if self.matched:
            text += (
                f", max |diff| boxes {self.max_box:.2g} px, keypoints {self.max_keypoint:.2g} px, "
                f"scores {self.max_score:.2g}, keypoint scores {self.max_keypoint_score:.2g}"
            )
        if self.borderline:
            text += f" ({self.borderline} at a score cut-off left out)"
        if self.float_sensitive:
            text += (
                f"; {self.float_sensitive} float-sensitive (PyTorch itself moves them by up to "
                f"{self.sensitive_spread:.2g} px under float32-level input noise, and ONNX Runtime's values lie "
                "within that range)"
            )
        return text


@dataclass(frozen=True)
class Report:
    comparisons: tuple[Comparison, ...]
    seconds: float
    eager_seconds: float
    onnx_seconds: float

    @property
    def ok(self) -> bool:
        return not any(c.problems for c in self.comparisons)

    @property
    def compared(self) -> int:
        """Detections compared pair by pair (matched on both sides)."""
        return sum(c.matched for c in self.comparisons)


# --- inputs -----------------------------------------------------------------------------------------------------


def prepare_inputs(folder: Path, user_images: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """Write the verification images into ``folder`` as PNG (sorted names = run order); user images replace the
    synthetic scene but the blank image always runs first."""
    from PIL import Image, ImageOps

    from kprcnn_export.synth import face_scene

    paths = []
    name, width, height, _ = SYNTHETIC_INPUTS[0]
    path = folder / f"{name}.png"
    noise = np.random.default_rng(0).normal(128.0, BLANK_NOISE, (height, width, 3))
    Image.fromarray(np.clip(np.rint(noise), 0, 255).astype(np.uint8), "RGB").save(path)
    paths.append(path)
    if not user_images:
        for name, width, height, seed in SYNTHETIC_INPUTS[1:]:
            path = folder / f"{name}.png"
            face_scene(width, height, seed=seed).save(path)
            paths.append(path)
        return paths
    for i, source in enumerate(user_images):
        source = Path(source)
        try:
            with Image.open(source) as opened:
                image = ImageOps.exif_transpose(opened).convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise ExportError(f"cannot read --verify-image {source}: {e}") from e
        if min(image.size) < 16:
            raise ExportError(f"--verify-image {source} is {image.size[0]}x{image.size[1]}: too small to verify with")
        size = plan_resize(*image.size, VERIFY_SIZE)
        if size != image.size:
            image = image.resize(size, Image.BICUBIC)
        path = folder / f"b{i:02d}_{source.stem[:40]}.png"
        image.save(path)
        paths.append(path)
    return paths


# --- the two sides ----------------------------------------------------------------------------------------------


def _clamp(value: float, upper: int) -> float:
    return float(min(max(value, 0.0), float(upper)))


def eager_detections(
    model: torch.nn.Module, path: Path, names: Sequence[str], noise: float = 0.0, seed: int = 0
) -> tuple[list[dict], tuple[int, int]]:
    """torchvision eager on one verification image, as kprcnn predict's detection list (scores > 0, clamped to
    the image like kprcnn's postprocess, sorted by score), and the image size. ``noise`` > 0 multiplies every
    input value by (1 + noise * N(0, 1)) first (see ``SENSITIVITY_NOISE``)."""
    from PIL import Image

    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    height, width = array.shape[:2]
    tensor = torch.from_numpy(array).permute(2, 0, 1).contiguous()
    if noise > 0:
        generator = torch.Generator().manual_seed(seed)
        tensor = tensor * (1 + noise * torch.randn(tensor.shape, generator=generator))
    with torch.no_grad():
        raw = model([tensor])[0]
    boxes = raw["boxes"].double().numpy()
    scores = raw["scores"].double().numpy()
    labels = raw["labels"].numpy()
    keypoints = raw["keypoints"].double().numpy()
    kp_scores = raw["keypoints_scores"].double().numpy()
    detections = []
    for i in range(len(scores)):
        values = [scores[i], *boxes[i], *keypoints[i, :, :2].ravel(), *kp_scores[i]]
        if not scores[i] > 0 or not all(math.isfinite(v) for v in values):
            continue
        x1, y1, x2, y2 = boxes[i]
        detections.append(
            {
                "label": int(labels[i]),
                "score": float(scores[i]),
                "box": [_clamp(x1, width), _clamp(y1, height), _clamp(x2, width), _clamp(y2, height)],
                "keypoints": [
                    {
                        "name": names[k],
                        "x": _clamp(keypoints[i, k, 0], width),
                        "y": _clamp(keypoints[i, k, 1], height),
                        "score": float(kp_scores[i, k]),
                    }
                    for k in range(len(names))
                ],
            }
        )
    detections.sort(key=lambda d: -d["score"])
    return detections, (width, height)


def onnx_documents(cli: Path, model_path: Path, images: Path, output: Path, timeout: float = 900) -> dict[str, dict]:
    """``kprcnn predict`` over the image folder (one session, sorted order), every detection kept (threshold 0):
    the per-image JSON documents by image stem."""
    cmd = [
        str(cli), "predict", "--model", str(model_path), "--input", str(images), "--output", str(output),
        "--threshold", "0", "--size", str(VERIFY_SIZE), "--no-draw", "--quiet",
        # The verification is of the graph against PyTorch on ONNX Runtime, the reference engine (`--engine auto`
        # may pick OpenVINO; tests/model checks the exported graph's parity on both engines).
        "--engine", "ort",
    ]  # fmt: skip
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ExportError(f"verification could not run {cli}: {e}") from e
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip() or f"exit {result.returncode}").splitlines()
        raise ExportError(
            f"verification failed: ONNX Runtime (kprcnn predict) could not run the exported model: "
            f"{' | '.join(detail[-3:])}"
        )
    documents = {}
    for path in sorted(output.glob("*.json")):
        documents[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return documents


# --- comparison -------------------------------------------------------------------------------------------------


def _distance(a: dict, b: dict) -> float:
    """Largest coordinate difference (box and keypoints), pixels."""
    values = [abs(p - q) for p, q in zip(a["box"], b["box"])]
    values += [abs(p[k] - q[k]) for p, q in zip(a["keypoints"], b["keypoints"]) for k in ("x", "y")]
    return max(values, default=0.0)


def match(expected: list[dict], actual: list[dict], tie: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pair the detections of two lists: (pairs, unpaired expected indices, unpaired actual indices).

    First the closest pairs among those with the same label and scores within ``tie`` (taken in order of
    coordinate distance, so a run of tied scores in either order pairs up right, and one odd detection cannot
    push its neighbours into wrong pairs); then what is left, by box overlap (IoU >= 0.5, same label), so that a
    detection whose values moved is reported as moved rather than as one missing and one extra."""
    candidates = sorted(
        (_distance(e, a), i, j)
        for i, e in enumerate(expected)
        for j, a in enumerate(actual)
        if e["label"] == a["label"] and abs(e["score"] - a["score"]) <= tie
    )
    used_e: set[int] = set()
    used_a: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_e and j not in used_a:
            pairs.append((i, j))
            used_e.add(i)
            used_a.add(j)
    overlaps = sorted(
        ((iou(expected[i]["box"], actual[j]["box"]), i, j)
         for i in range(len(expected)) if i not in used_e
         for j in range(len(actual)) if j not in used_a),
        reverse=True,
    )  # fmt: skip
    for overlap, i, j in overlaps:
        if overlap < 0.5:
            break
        if i not in used_e and j not in used_a:
            pairs.append((i, j))
            used_e.add(i)
            used_a.add(j)
    pairs.sort(key=lambda p: p[1])
    return pairs, [i for i in range(len(expected)) if i not in used_e], [j for j in range(len(actual)) if j not in used_a]


def _close(a: float, b: float, abs_tol: float, rel_tol: float) -> bool:
    return abs(a - b) <= abs_tol or abs(a - b) <= rel_tol * abs(b)


def drop_borderline(
    expected: list[dict], actual: list[dict], cutoffs: Sequence[float], cap: int, tol: Tolerance
) -> tuple[list[dict], list[dict]]:
    """Leave out detections that may exist on one side only: scores within tolerance of a cut-off, and, when
    either side reached the ``cap`` of detections per image, everything within tolerance of the lowest kept score
    or below it on the longer side."""
    cuts = list(cutoffs)
    full = len(expected) >= cap or len(actual) >= cap
    if full:
        cuts.append(min(d["score"] for d in (expected if len(expected) >= cap else actual)))
    keep_e = [d for d in expected if all(abs(d["score"] - c) > tol.score for c in cuts)]
    keep_a = [d for d in actual if all(abs(d["score"] - c) > 2 * tol.score for c in cuts)]
    if full:
        floor = cuts[-1] + 2 * tol.score
        keep_e = [d for d in keep_e if d["score"] > floor]
        keep_a = [d for d in keep_a if d["score"] > floor]
    return keep_e, keep_a


def differences(e: dict, a: dict, tol: Tolerance, tag: str, result: Comparison | None = None) -> list[str]:
    """What differs beyond ``tol`` between a PyTorch detection ``e`` and its ONNX Runtime pair ``a``; updates the
    largest differences of ``result``."""
    problems = []
    if a["label"] != e["label"]:
        problems.append(f"{tag}: label {a['label']}, PyTorch {e['label']}")
    d = abs(a["score"] - e["score"])
    if result is not None:
        result.max_score = max(result.max_score, d)
    if d > tol.score:
        problems.append(f"{tag}: score {a['score']:.6f}, PyTorch {e['score']:.6f}")
    for axis, (va, ve) in enumerate(zip(a["box"], e["box"])):
        if result is not None:
            result.max_box = max(result.max_box, abs(va - ve))
        if not _close(va, ve, tol.coord_abs, tol.coord_rel):
            problems.append(f"{tag}: box[{axis}] {va:.4f}, PyTorch {ve:.4f}")
    if [k["name"] for k in a["keypoints"]] != [k["name"] for k in e["keypoints"]]:
        problems.append(f"{tag}: keypoint names {[k['name'] for k in a['keypoints']]}")
        return problems
    for ka, ke in zip(a["keypoints"], e["keypoints"]):
        for axis in ("x", "y"):
            if result is not None:
                result.max_keypoint = max(result.max_keypoint, abs(ka[axis] - ke[axis]))
            if not _close(ka[axis], ke[axis], tol.coord_abs, tol.coord_rel):
                problems.append(f"{tag}: keypoint {ke['name']}.{axis} {ka[axis]:.4f}, PyTorch {ke[axis]:.4f}")
        d = abs(ka["score"] - ke["score"])
        if result is not None:
            result.max_keypoint_score = max(result.max_keypoint_score, d)
        if not _close(ka["score"], ke["score"], tol.keypoint_score_abs, tol.keypoint_score_rel):
            problems.append(f"{tag}: keypoint {ke['name']} score {ka['score']:.5f}, PyTorch {ke['score']:.5f}")
    return problems


def compare(
    expected: list[dict],
    actual: list[dict],
    tol: Tolerance,
    name: str = "",
    size: tuple[int, int] = (0, 0),
    cutoffs: Sequence[float] = (),
    cap: int = 1 << 30,
) -> Comparison:
    """Compare two detection lists in kprcnn predict's JSON layout; every difference beyond ``tol`` is a problem.
    Pairs that differ are kept in ``suspects`` (for ``clear_float_sensitive``)."""
    result = Comparison(name=name, size=size, expected=len(expected), actual=len(actual))
    kept_e, kept_a = drop_borderline(expected, actual, cutoffs, cap, tol)
    result.borderline = len(expected) - len(kept_e)
    pairs, lone_e, lone_a = match(kept_e, kept_a, tol.score)
    if lone_e or lone_a:
        result.problems.append(
            f"{name}: {len(kept_a)} detections from ONNX Runtime, {len(kept_e)} from PyTorch "
            f"({len(lone_a)} and {len(lone_e)} without a counterpart; scores at a cut-off left out)"
        )
    for i, j in pairs:
        e, a = kept_e[i], kept_a[j]
        tag = f"{name}: detection {j} (score {e['score']:.5f})"
        result.matched += 1
        problems = differences(e, a, tol, tag, result)
        if problems:
            result.suspects.append(Suspect(e, a, problems))
            result.problems.extend(problems)
    return result


def clear_float_sensitive(comparison: Comparison, runs: Sequence[list[dict]], tol: Tolerance) -> None:
    """Drop the problems of each suspect pair whose ONNX Runtime values PyTorch itself gives under float rounding.

    ``runs`` are eager's detections on the same image with its input perturbed at float32 rounding level. A
    detection on a near-tie (a proposal that survives the RPN's NMS or top-k cut on one side and its neighbour
    on the other) moves by pixels between those runs, while a well-conditioned one moves by ~1e-4 px. A suspect
    is cleared when every value of the ONNX Runtime detection lies within the range PyTorch's own runs span
    (widened by ``tol``); its label must be the same. What eager does not reproduce stays a problem."""
    cleared = []
    for suspect in comparison.suspects:
        e, a = suspect.expected, suspect.actual
        if a["label"] != e["label"]:
            continue
        family = [e]
        for run in runs:
            same = [d for d in run if d["label"] == e["label"] and iou(d["box"], e["box"]) >= 0.5]
            if same:
                family.append(max(same, key=lambda d: iou(d["box"], e["box"])))
        if len(family) < 2:
            continue

        def within(get, abs_tol: float, rel_tol: float) -> bool:
            values = [get(d) for d in family]
            low, high = min(values), max(values)
            slack = max(abs_tol, rel_tol * max(abs(low), abs(high)))
            return low - slack <= get(a) <= high + slack

        checks = [within(lambda d: d["score"], tol.score, 0.0)]
        checks += [within(lambda d, k=k: d["box"][k], tol.coord_abs, tol.coord_rel) for k in range(4)]
        for k in range(len(e["keypoints"])):
            checks += [within(lambda d, k=k, ax=ax: d["keypoints"][k][ax], tol.coord_abs, tol.coord_rel)
                       for ax in ("x", "y")]  # fmt: skip
            checks.append(within(lambda d, k=k: d["keypoints"][k]["score"], tol.keypoint_score_abs,
                                 tol.keypoint_score_rel))  # fmt: skip
        if all(checks):
            cleared.append(suspect)
            comparison.float_sensitive += 1
            comparison.sensitive_spread = max(comparison.sensitive_spread, max(_distance(e, d) for d in family))
    for suspect in cleared:
        comparison.suspects.remove(suspect)
        for problem in suspect.problems:
            comparison.problems.remove(problem)


# --- the whole check --------------------------------------------------------------------------------------------


def verify_export(
    model: torch.nn.Module,
    onnx_path: Path,
    cli: Path,
    names: Sequence[str],
    box_score_thresh: float,
    detections_per_img: int,
    images: Sequence[str | os.PathLike[str]] = (),
    tol: Tolerance = Tolerance(),
    say: Callable[[str], None] = lambda _msg: None,
) -> Report:
    """Run ``model`` (eager) and ``onnx_path`` (ONNX Runtime via ``cli``) on the verification inputs and compare.

    Returns the report; raises ExportError when ONNX Runtime cannot run the model or any image differs beyond
    ``tol`` (the message lists the first differences)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kprcnn-verify-") as work:
        folder, output = Path(work) / "images", Path(work) / "onnx"
        folder.mkdir()
        output.mkdir()
        inputs = prepare_inputs(folder, images)
        t0 = time.monotonic()
        documents = onnx_documents(cli, onnx_path, folder, output)
        onnx_seconds = time.monotonic() - t0
        comparisons = []
        eager_seconds = 0.0
        for path in inputs:
            t0 = time.monotonic()
            expected, size = eager_detections(model, path, names)
            eager_seconds += time.monotonic() - t0
            doc = documents.get(path.stem)
            if doc is None:
                raise ExportError(f"verification failed: kprcnn predict wrote no result for {path.name}")
            comparison = compare(
                expected,
                doc["detections"],
                tol,
                name=path.stem,
                size=size,
                cutoffs=(box_score_thresh,),
                cap=detections_per_img,
            )
            if comparison.suspects:
                # Differences: is PyTorch itself that unstable here? Re-run it on float32-level perturbations.
                t0 = time.monotonic()
                runs = [eager_detections(model, path, names, noise=SENSITIVITY_NOISE, seed=k)[0]
                        for k in range(SENSITIVITY_RUNS)]  # fmt: skip
                eager_seconds += time.monotonic() - t0
                clear_float_sensitive(comparison, runs, tol)
            if (doc["width"], doc["height"]) != size:
                comparison.problems.append(f"{path.stem}: kprcnn predict saw {doc['width']}x{doc['height']}")
            say(f"  {comparison.summary()}")
            comparisons.append(comparison)
    report = Report(tuple(comparisons), time.monotonic() - started, eager_seconds, onnx_seconds)
    if report.ok and report.compared < MIN_COMPARED:
        say(
            f"warning: only {report.compared} detection(s) were compared between PyTorch and ONNX Runtime, too few "
            "for the check to mean much (the model finds little on these images"
            + (f", and the graph drops everything scoring <= {box_score_thresh:g}" if box_score_thresh > 0.05 else "")
            + "): pass --verify-image with images of the objects the model was trained on"
        )
    if not report.ok:
        problems = [p for c in comparisons for p in c.problems]
        shown = "; ".join(problems[:5]) + (f"; ... ({len(problems)} differences in all)" if len(problems) > 5 else "")
        raise ExportError(
            f"verification failed: ONNX Runtime and PyTorch disagree beyond the tolerances ({tol.describe()}): "
            f"{shown}. The model was not written; re-run with --debug and report it, or --no-verify to keep it"
        )
    return report
