"""Checkpoint + colormap -> ONNX, the model contract the C++ side checks at load:

  input  "input"            float32 [1, 3, height, width], RGB in 0..1 (batch size 1 only)
  output "boxes"            float32 [detections, 4]  (x1, y1, x2, y2 in input pixels)
         "labels"           int64   [detections]
         "scores"           float32 [detections]
         "keypoints"        float32 [detections, K, 3]  (x, y, visibility)
         "keypoints_scores" float32 [detections, K]

plus metadata_props (``kprcnn.*``, see METADATA_KEYS) carrying the colormap, K and versions. The file is written
atomically: exported to a temporary file beside the destination, completed and checked there, then renamed; on
any failure the temporary is removed and no output is left.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch
import torchvision

from kprcnn_export import __version__
from kprcnn_export.checkpoint import build_model, load_checkpoint
from kprcnn_export.colormap import Colormap, load_colormap
from kprcnn_export.errors import ExportError

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
GRAPH_NAME = "keypointrcnn_resnet50_fpn"
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


def default_output_path(checkpoint: str | os.PathLike[str], colormap: str | os.PathLike[str]) -> Path:
    """``<colormap stem without "-colormap">-<checkpoint stem>.onnx`` beside the checkpoint."""
    checkpoint, colormap = Path(checkpoint), Path(colormap)
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


def _torch_export(model: torch.nn.Module, path: Path, opset: int, verbose: bool) -> dict[str, object]:
    """Trace-export ``model`` to ``path``; returns the knobs used (stored in kprcnn.export_options)."""
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
        with torch.no_grad():
            torch.onnx.export(model, (dummy,), str(path), **kwargs)
    options = {k: v for k, v in kwargs.items()}
    options["dummy_input_shape"] = list(dummy.shape)
    options["batch_size"] = 1
    return options


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
    proto.graph.name = GRAPH_NAME
    proto.doc_string = (
        f"torchvision keypointrcnn_resnet50_fpn, {colormap.num_keypoints} keypoints ({labels}), "
        f"{values['kprcnn.num_classes']} classes, from {values['kprcnn.checkpoint_name']}; exported by kprcnn_export "
        f"{__version__} with torch {torch.__version__}, torchvision {torchvision.__version__}"
    )


def export_onnx(
    checkpoint: str | os.PathLike[str],
    colormap: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    trust_checkpoint: bool = False,
    verbose: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export ``checkpoint`` with the keypoint names/colours of ``colormap`` to ``output`` (default:
    ``default_output_path``). Raises ExportError, leaving no output file, on any expected failure."""
    started = time.monotonic()
    say = progress or (lambda _msg: None)
    max_opset = getattr(getattr(torch.onnx, "_constants", None), "ONNX_MAX_OPSET", 17)
    if not MIN_OPSET <= opset <= max_opset:
        raise ExportError(f"opset {opset} is not supported: use {MIN_OPSET}..{max_opset} (default {DEFAULT_OPSET})")
    checkpoint, colormap_path = Path(checkpoint), Path(colormap)
    cmap = load_colormap(colormap_path)
    output = Path(output) if output is not None else default_output_path(checkpoint, colormap_path)
    if not checkpoint.exists():
        raise ExportError(f"checkpoint {checkpoint} does not exist")

    temp = _create_temp(output)
    try:
        say(f"loading {checkpoint}")
        state, info = load_checkpoint(checkpoint, trust=trust_checkpoint)
        if info.num_keypoints != cmap.num_keypoints:
            raise ExportError(
                f"colormap {colormap_path} has {cmap.num_keypoints} keypoints ({', '.join(cmap.labels)}) but checkpoint "
                f"{checkpoint} was trained with {info.num_keypoints} (roi_heads.keypoint_predictor.kps_score_lowres "
                "has that many output channels); use the colormap the model was trained with"
            )
        model = build_model(state, info)
        del state
        checkpoint_sha256 = _sha256(checkpoint)

        say(f"exporting to ONNX opset {opset} (about half a minute)")
        try:
            options = _torch_export(model, temp, opset, verbose)
            proto = onnx.load(str(temp))
            _check_contract(proto)
            _set_static_dims(proto, info.num_keypoints)
            options["roi_align_mode_fixed"] = _fix_roi_align(proto, opset)
            values = {
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
                "kprcnn.checkpoint_name": checkpoint.name,
                "kprcnn.export_options": json.dumps(options, sort_keys=True),
            }
            _set_metadata(proto, cmap, values)
            onnx.save(proto, str(temp))
            del proto
            if check:
                say("checking the model (onnx.checker)")
                onnx.checker.check_model(str(temp))
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
    )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
