"""Checkpoint + colormap -> ONNX, the model contract the C++ side checks at load:

  input  "input"            float32 [1, 3, height, width], RGB in 0..1 (batch size 1 only)
  output "boxes"            float32 [detections, 4]  (x1, y1, x2, y2 in input pixels)
         "labels"           int64   [detections]
         "scores"           float32 [detections]
         "keypoints"        float32 [detections, K, 3]  (x, y, visibility)
         "keypoints_scores" float32 [detections, K]

plus metadata_props (``kprcnn.*``, see METADATA_KEYS) carrying the colormap, K, versions and every export knob
(``kprcnn.export_options``, JSON). The file is written atomically: exported to a temporary file beside the
destination, completed, optionally simplified, checked and verified against PyTorch there (see verify.py), then
renamed; on any failure the temporary is removed and no output is left.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import json
import os
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
import torchvision

from kprcnn_export import __version__
from kprcnn_export.arch import Arch
from kprcnn_export.checkpoint import CheckpointInfo, build_model, checkpoint_arch, load_checkpoint
from kprcnn_export.colormap import Colormap, default_colormap, load_colormap
from kprcnn_export.errors import ExportError
from kprcnn_export.options import ModelOptions
from kprcnn_export.verify import Report, find_cli, verify_export

FORMAT_VERSION = "1"
INPUT_NAME = "input"
OUTPUT_NAMES = ("boxes", "labels", "scores", "keypoints", "keypoints_scores")
DYNAMIC_AXES = {INPUT_NAME: {2: "height", 3: "width"}, **{name: {0: "detections"} for name in OUTPUT_NAMES}}
# (element type, rank) of each output, as the C++ Detector expects.
OUTPUT_TYPES = {
    "boxes": (onnx.TensorProto.FLOAT, 2),
    "labels": (onnx.TensorProto.INT64, 1),
    "scores": (onnx.TensorProto.FLOAT, 1),
    "keypoints": (onnx.TensorProto.FLOAT, 3),
    "keypoints_scores": (onnx.TensorProto.FLOAT, 2),
}
DEFAULT_OPSET = 16
MIN_OPSET = 11  # torchvision's detection models need opset 11 at least
DUMMY_HEIGHT, DUMMY_WIDTH = 512, 768
METADATA_KEYS = (
    "kprcnn.format",
    "kprcnn.colormap",
    "kprcnn.num_keypoints",
    "kprcnn.num_classes",
    "kprcnn.exporter_version",
    "kprcnn.torch_version",
    "kprcnn.torchvision_version",
    "kprcnn.onnx_version",
    "kprcnn.opset",
    "kprcnn.checkpoint_sha256",
    "kprcnn.checkpoint_name",
    "kprcnn.export_options",
    "kprcnn.arch",
    "kprcnn.architecture",
)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    size_bytes: int
    num_keypoints: int
    num_classes: int
    labels: tuple[str, ...]
    opset: int
    checkpoint_sha256: str
    seconds: float
    verification: Report | None = None  # None: skipped (--no-verify, or no kprcnn binary to run ONNX Runtime)
    simplified_with: str | None = None  # "onnxsim x.y.z", "kprcnn optimize (basic)" or None


def default_output_path(checkpoint: str | os.PathLike[str], colormap: str | os.PathLike[str] | None = None) -> Path:
    """``<colormap stem without "-colormap">-<checkpoint stem>.onnx`` beside the checkpoint (``<checkpoint
    stem>.onnx`` without a colormap)."""
    checkpoint = Path(checkpoint)
    if colormap is None:
        return checkpoint.with_suffix(".onnx")
    colormap = Path(colormap)
    prefix = colormap.stem[: -len("-colormap")] if colormap.stem.endswith("-colormap") else colormap.stem
    name = f"{prefix}-{checkpoint.stem}.onnx" if prefix else f"{checkpoint.stem}.onnx"
    return checkpoint.parent / name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _create_temp(output: Path) -> Path:
    """An empty temporary file beside ``output`` (fails fast, with a clear error, if the folder is unwritable)."""
    folder = output.parent
    if output.is_dir():
        raise ExportError(f"output {output} is a folder; pass a file name such as {output / 'model.onnx'}")
    if not folder.is_dir():
        raise ExportError(f"output folder {folder} does not exist; create it first")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise ExportError(f"cannot write to output folder {folder}: {e.strerror or e}") from e
    os.close(fd)
    return Path(name)


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _merge_levels_by_gather(levels: torch.Tensor, unmerged_results: list[torch.Tensor]) -> torch.Tensor:
    """What torchvision's ``_onnx_merge_levels`` computes, in two copies instead of one scatter per FPN level.

    MultiScaleRoIAlign pools each region of interest on its FPN level and must put the rows back in the regions'
    order. Traced, torchvision does it with a ScatterElements per level over the whole [N, C, H, W] result, driven
    by an index tensor expanded to that size: for the box head's 1000 proposals at 256x7x7 that is four 50 MB
    copies plus four scatters of 12.5 million elements each, 10-14% of a whole run (bench/RESULTS.md, profile).
    Here the per-level results are concatenated once (with one zero row after them) and one Gather takes row
    ``pos[i]`` for region i: the position of region i in that concatenation, or the zero row for a region no level
    claimed (as the scatter leaves it zero). Values are copied, never recomputed: the result is identical.
    """
    order = torch.cat([torch.where(levels == level)[0] for level in range(len(unmerged_results))])
    first = unmerged_results[0]
    zero_row = torch.zeros((1,) + tuple(first.shape[1:]), dtype=first.dtype, device=first.device)
    merged = torch.cat(list(unmerged_results) + [zero_row], dim=0)
    # pos = len(order) everywhere (the zero row), then pos[order[j]] = j
    pos = torch.zeros_like(levels) + order.size(0)
    pos = pos.scatter(0, order, torch.ones_like(order).cumsum(0) - 1)
    return merged[pos]


@contextlib.contextmanager
def _gather_merge_levels():
    """Trace MultiScaleRoIAlign with ``_merge_levels_by_gather`` (when this torchvision has the hook); yields
    whether it is in place."""
    import torchvision.ops.poolers as poolers

    original = getattr(poolers, "_onnx_merge_levels", None)
    if original is None:
        yield False
        return
    poolers._onnx_merge_levels = _merge_levels_by_gather
    try:
        yield True
    finally:
        poolers._onnx_merge_levels = original


def _torch_export(model: torch.nn.Module, path: Path, opset: int, verbose: bool) -> dict[str, object]:
    """Trace-export ``model`` to ``path``; returns torch.onnx.export's settings (part of kprcnn.export_options)."""
    generator = torch.Generator().manual_seed(0)
    dummy = torch.rand(1, 3, DUMMY_HEIGHT, DUMMY_WIDTH, generator=generator)
    kwargs: dict[str, object] = dict(
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        dynamic_axes=DYNAMIC_AXES,
        opset_version=opset,
        do_constant_folding=True,
    )
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # torch 2.x: the TorchScript-based exporter, which this contract was built on
    with warnings.catch_warnings():
        if not verbose:
            warnings.simplefilter("ignore")  # tracer warnings about data-dependent Python values are expected
        with torch.no_grad(), _gather_merge_levels() as gathered:
            torch.onnx.export(model, (dummy,), str(path), **kwargs)
    options = {k: v for k, v in kwargs.items()}
    options["roi_merge_levels"] = "gather" if gathered else "torchvision"
    options["dummy_input_shape"] = list(dummy.shape)
    options["batch_size"] = 1
    return options


def export_options(
    torch_settings: dict[str, object], model_options: ModelOptions, **extra: object
) -> dict[str, object]:
    """The ``kprcnn.export_options`` document: torch.onnx.export's settings, every model knob (ModelOptions) and
    the other export choices (``extra``: simplify, verify, ...)."""
    options = dict(torch_settings)
    options.update(model_options.to_dict())
    options.update(extra)
    return options


def metadata_values(
    cmap: Colormap,
    info: CheckpointInfo,
    opset: int,
    checkpoint_sha256: str,
    options: dict[str, object],
    arch: Arch | None = None,
) -> dict[str, str]:
    """The ``kprcnn.*`` metadata_props of an export (keys: METADATA_KEYS)."""
    arch = arch or Arch(name="resnet50_fpn")
    return {
        "kprcnn.format": FORMAT_VERSION,
        "kprcnn.colormap": cmap.to_json(),
        "kprcnn.num_keypoints": str(info.num_keypoints),
        "kprcnn.num_classes": str(info.num_classes),
        "kprcnn.exporter_version": __version__,
        "kprcnn.torch_version": torch.__version__,
        "kprcnn.torchvision_version": torchvision.__version__,
        "kprcnn.onnx_version": onnx.__version__,
        "kprcnn.opset": str(opset),
        "kprcnn.checkpoint_sha256": checkpoint_sha256,
        "kprcnn.checkpoint_name": info.path.name,
        "kprcnn.export_options": json.dumps(options, sort_keys=True),
        "kprcnn.arch": json.dumps({"description": arch.describe(), **arch.to_dict()}, sort_keys=True),
        "kprcnn.architecture": arch.describe(),  # the same in words, for kprcnn info
    }


def _check_contract(proto: onnx.ModelProto) -> None:
    """The exported graph has the inputs/outputs the C++ side expects (a torch/torchvision change would show here)."""
    graph = proto.graph
    inputs = [i.name for i in graph.input]
    outputs = [o.name for o in graph.output]
    if inputs != [INPUT_NAME] or outputs != list(OUTPUT_NAMES):
        raise ExportError(
            f"the exported graph has inputs {inputs} and outputs {outputs}, expected [{INPUT_NAME}] and "
            f"{list(OUTPUT_NAMES)}; this torch/torchvision version is not supported"
        )
    for value in graph.output:
        elem_type, rank = OUTPUT_TYPES[value.name]
        t = value.type.tensor_type
        if t.elem_type != elem_type or len(t.shape.dim) != rank:
            raise ExportError(
                f"exported output {value.name} has type {onnx.TensorProto.DataType.Name(t.elem_type)} rank "
                f"{len(t.shape.dim)}, expected {onnx.TensorProto.DataType.Name(elem_type)} rank {rank}"
            )


def _subgraphs(graph: onnx.GraphProto):
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _subgraphs(attr.g)
            for sub in attr.graphs:
                yield from _subgraphs(sub)


def _fix_roi_align(proto: onnx.ModelProto, opset: int) -> int:
    """Make RoiAlign compute what torchvision's roi_align(aligned=False) computes; returns the nodes changed.

    torchvision < 0.15 has only an opset-11 symbolic for roi_align: it emits RoiAlign without
    coordinate_transformation_mode and emulates aligned=True by shifting the rois, both relying on RoiAlign-10's
    pixel model (what opset 16 calls "output_half_pixel"). From opset 16 on, a missing attribute means
    "half_pixel", which shifts every sample by half a feature cell: boxes, scores and keypoints then differ from
    PyTorch (seen as score differences of 1e-2 and boxes moving by pixels). Stating the mode restores them.
    """
    if opset < 16:
        return 0
    changed = 0
    for graph in _subgraphs(proto.graph):
        for node in graph.node:
            if node.op_type == "RoiAlign" and node.domain in ("", "ai.onnx"):
                if not any(a.name == "coordinate_transformation_mode" for a in node.attribute):
                    node.attribute.append(
                        onnx.helper.make_attribute("coordinate_transformation_mode", "output_half_pixel")
                    )
                    changed += 1
    return changed


def _set_static_dims(proto: onnx.ModelProto, num_keypoints: int) -> None:
    """The tracer leaves K and 3 symbolic in keypoints [N, K, 3] / keypoints_scores [N, K]; state them, so that
    the model's interface shows K (the C++ side cross-checks it against the colormap)."""
    static = {"boxes": {1: 4}, "keypoints": {1: num_keypoints, 2: 3}, "keypoints_scores": {1: num_keypoints}}
    for value in proto.graph.output:
        for index, size in static.get(value.name, {}).items():
            dim = value.type.tensor_type.shape.dim[index]
            dim.Clear()
            dim.dim_value = size


def _set_metadata(proto: onnx.ModelProto, colormap: Colormap, values: dict[str, str]) -> None:
    kept = [p for p in proto.metadata_props if not p.key.startswith("kprcnn.")]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    for key in METADATA_KEYS:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, values[key]
    labels = ", ".join(colormap.labels)
    proto.producer_name = "kprcnn_export"
    proto.producer_version = __version__
    arch = json.loads(values["kprcnn.arch"])
    proto.graph.name = f"keypointrcnn_{arch['name']}" if arch.get("name") else "keypointrcnn"
    proto.doc_string = (
        f"torchvision KeypointRCNN ({arch['description']}), {colormap.num_keypoints} keypoints ({labels}), "
        f"{values['kprcnn.num_classes']} classes, from {values['kprcnn.checkpoint_name']}; exported by kprcnn_export "
        f"{__version__} with torch {torch.__version__}, torchvision {torchvision.__version__}"
    )


def _choose_simplifier(cli: Path | None) -> str:
    """"onnxsim" when the onnxsim package is importable, else "kprcnn optimize" (needs the kprcnn binary)."""
    try:
        importlib.import_module("onnxsim")
        return "onnxsim"
    except ImportError:
        pass
    if cli is None:
        raise ExportError(
            "--simplify needs the onnxsim package (pip install onnxsim) or the kprcnn binary for its fallback, "
            "`kprcnn optimize` (run the exporter as `kprcnn export ...` or set KPRCNN_CLI); neither was found"
        )
    return "kprcnn optimize"


def _simplify(path: Path, simplifier: str, cli: Path | None, say: Callable[[str], None]) -> str:
    """Simplify the model at ``path`` in place; returns what did it (for messages and the result)."""
    if simplifier == "onnxsim":
        onnxsim = importlib.import_module("onnxsim")
        say(f"simplifying with onnxsim {getattr(onnxsim, '__version__', '?')}")
        proto = onnx.load(str(path))
        kwargs: dict[str, object] = {}
        if "test_input_shapes" in inspect.signature(onnxsim.simplify).parameters:  # older onnxsim: dynamic input
            kwargs["test_input_shapes"] = {INPUT_NAME: [1, 3, DUMMY_HEIGHT, DUMMY_WIDTH]}
        simplified, ok = onnxsim.simplify(proto, **kwargs)
        if not ok:
            raise ExportError("onnxsim could not validate its simplified model; export without --simplify")
        kept = {p.key: p.value for p in proto.metadata_props}
        if {p.key: p.value for p in simplified.metadata_props} != kept:
            del simplified.metadata_props[:]
            for key, value in kept.items():
                entry = simplified.metadata_props.add()
                entry.key, entry.value = key, value
        onnx.save(simplified, str(path))
        return f"onnxsim {getattr(onnxsim, '__version__', '?')}"
    assert cli is not None
    say("onnxsim is not installed: simplifying with `kprcnn optimize --level basic` (ONNX Runtime's portable "
        "graph optimisations) instead")
    optimized = path.with_name(path.name + ".opt")
    try:
        result = subprocess.run(
            [str(cli), "optimize", str(path), str(optimized), "--level", "basic"],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if result.returncode != 0:
            detail = (result.stderr.strip() or f"exit {result.returncode}").splitlines()[-1]
            raise ExportError(f"--simplify: kprcnn optimize failed: {detail}")
        for line in result.stdout.strip().splitlines():
            if line.strip().startswith(("nodes:", "size:")):  # the "wrote <temporary>" line means nothing here
                say(f"  {line.strip()}")
        os.replace(optimized, path)
    finally:
        optimized.unlink(missing_ok=True)
    return "kprcnn optimize (basic)"


def export_onnx(
    checkpoint: str | os.PathLike[str],
    colormap: str | os.PathLike[str] | None = None,
    output: str | os.PathLike[str] | None = None,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    trust_checkpoint: bool = False,
    verbose: bool = False,
    progress: Callable[[str], None] | None = None,
    options: ModelOptions | None = None,
    batch_size: int = 1,
    skeleton: Sequence[tuple[str, str]] | None = None,
    verify: bool = True,
    verify_images: Sequence[str | os.PathLike[str]] = (),
    simplify: bool = False,
) -> ExportResult:
    """Export ``checkpoint`` to ``output`` (default: ``default_output_path``).

    ``colormap`` gives the keypoint names and colours (None: kp0..kpK-1 and a distinct palette); ``skeleton``
    replaces its skeleton (pairs of names). ``options`` are the graph's inference settings (ModelOptions). With
    ``verify`` the result is compared with PyTorch eager through ONNX Runtime (the kprcnn binary; skipped with a
    warning where there is none); with ``simplify`` it is simplified by onnxsim or, without it, `kprcnn optimize`.
    Raises ExportError, leaving no output file, on any expected failure."""
    started = time.monotonic()
    say = progress or (lambda _msg: None)
    options = (options or ModelOptions()).validate()
    max_opset = getattr(getattr(torch.onnx, "_constants", None), "ONNX_MAX_OPSET", 17)
    if not MIN_OPSET <= opset <= max_opset:
        raise ExportError(f"opset {opset} is not supported: use {MIN_OPSET}..{max_opset} (default {DEFAULT_OPSET})")
    if batch_size != 1:
        raise ExportError(
            f"batch size {batch_size} is not supported: kprcnn models take one image per run (batch size 1, "
            "input [1, 3, H, W]); run images one after another, or several sessions in parallel"
        )
    checkpoint = Path(checkpoint)
    colormap_path = Path(colormap) if colormap is not None else None
    cmap = load_colormap(colormap_path) if colormap_path is not None else None
    output = Path(output) if output is not None else default_output_path(checkpoint, colormap_path)
    if not checkpoint.exists():
        raise ExportError(f"checkpoint {checkpoint} does not exist")
    cli = find_cli() if (verify or simplify) else None
    simplifier = _choose_simplifier(cli) if simplify else None
    if verify and cli is None:
        say(
            "warning: verification skipped: ONNX Runtime runs through the kprcnn binary, and none was found. "
            "Run the exporter as `kprcnn export ...` (or set KPRCNN_CLI=/path/to/kprcnn) to verify; "
            "--no-verify silences this warning"
        )
        verify = False

    temp = _create_temp(output)
    try:
        say(f"loading {checkpoint}")
        state, info = load_checkpoint(checkpoint, trust=trust_checkpoint)
        if cmap is None:
            cmap = default_colormap(info.num_keypoints)
            say(f"no colormap: naming the {info.num_keypoints} keypoints {', '.join(cmap.labels)}")
        elif info.num_keypoints != cmap.num_keypoints:
            raise ExportError(
                f"colormap {colormap_path} has {cmap.num_keypoints} keypoints ({', '.join(cmap.labels)}) but "
                f"checkpoint {checkpoint} was trained with {info.num_keypoints} (roi_heads.keypoint_predictor.kps_score_lowres "
                "has that many output channels); use the colormap the model was trained with"
            )
        if skeleton is not None:
            cmap = cmap.with_skeleton([tuple(pair) for pair in skeleton], source="--skeleton")
        arch = checkpoint_arch(state, info)
        options = options.resolve(arch)
        say(f"architecture: {arch.describe()}")
        model = build_model(state, info, options, arch)
        del state
        checkpoint_sha256 = _sha256(checkpoint)

        say(f"exporting to ONNX opset {opset} (about a minute)")
        try:
            settings = _torch_export(model, temp, opset, verbose)
            proto = onnx.load(str(temp))
            _check_contract(proto)
            _set_static_dims(proto, info.num_keypoints)
            settings["roi_align_mode_fixed"] = _fix_roi_align(proto, opset)
            recorded = export_options(
                settings,
                options,
                simplify=simplifier,
                verify=bool(verify),
                verify_images=[Path(p).name for p in verify_images] if verify else [],
            )
            _set_metadata(proto, cmap, metadata_values(cmap, info, opset, checkpoint_sha256, recorded, arch))
            onnx.save(proto, str(temp))
            del proto
            simplified_with = _simplify(temp, simplifier, cli, say) if simplifier else None
            if check:
                say("checking the model (onnx.checker)")
                onnx.checker.check_model(str(temp))
            report = None
            if verify:
                assert cli is not None
                say(
                    f"verifying: PyTorch eager vs ONNX Runtime ({cli}) on {1 + (len(verify_images) or 1)} images "
                    "(a minute or two on a laptop CPU; --no-verify skips it)"
                )
                report = verify_export(
                    model,
                    temp,
                    cli,
                    cmap.labels,
                    options.box_score_thresh,
                    options.detections_per_img,
                    images=verify_images,
                    say=say,
                )
            os.chmod(temp, 0o666 & ~_umask())
            _fsync(temp)
            os.replace(temp, output)
        except OSError as e:
            raise ExportError(f"cannot write {output}: {e.strerror or e}") from e
        except onnx.checker.ValidationError as e:
            raise ExportError(f"the exported model failed onnx.checker: {str(e).splitlines()[0]}") from e
        try:
            _fsync(output.parent, directory=True)
        except OSError:
            pass  # some filesystems cannot fsync a folder; the rename itself is done
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return ExportResult(
        path=output,
        size_bytes=output.stat().st_size,
        num_keypoints=info.num_keypoints,
        num_classes=info.num_classes,
        labels=cmap.labels,
        opset=opset,
        checkpoint_sha256=checkpoint_sha256,
        seconds=time.monotonic() - started,
        verification=report,
        simplified_with=simplified_with,
    )




def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
