"""Training checkpoints: find them, load them safely, infer K and the class count, build the torchvision model.

Accepted checkpoint layouts (``torch.save`` output, ``.pth`` / ``.pt`` / ``.bin``):
  - a plain state_dict;
  - a dict wrapping it under ``"model"``, ``"state_dict"`` or ``"model_state_dict"`` (other entries, such as the
    optimizer state or the epoch, are ignored);
  - a whole pickled model (``torch.save(model)``), alone or under one of those keys: only with ``trust=True``
    (``--trust-checkpoint``), because unpickling a model object imports and runs code named by the file;
  - keys prefixed with ``module.`` (DataParallel / DistributedDataParallel) are stripped.
A backbone fine-tuned from pretrained weights uses FrozenBatchNorm2d (no ``num_batches_tracked`` buffers) while
the model we build uses nn.BatchNorm2d; both compute the same in eval mode, so exactly those buffers may differ.
Any other missing or unexpected key means a different architecture and is an error.
"""

from __future__ import annotations

import fnmatch
import inspect
import os
import pickle
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision

from kprcnn_export.arch import Arch, infer_arch
from kprcnn_export.errors import ExportError
from kprcnn_export.options import ModelOptions

KEYPOINT_WEIGHT = "roi_heads.keypoint_predictor.kps_score_lowres.weight"
CLASS_WEIGHT = "roi_heads.box_predictor.cls_score.weight"
BOX_WEIGHT = "roi_heads.box_predictor.bbox_pred.weight"
WRAPPER_KEYS = ("model", "state_dict", "model_state_dict")
CHECKPOINT_PATTERNS = ("*.pth", "*.pt", "*.bin")
COLORMAP_PATTERN = "*-colormap.json"
# Buffers that nn.BatchNorm2d has and FrozenBatchNorm2d has not; unused in eval mode.
_IGNORABLE_SUFFIX = ".num_batches_tracked"
# torch >= 1.13 can refuse to unpickle anything but tensors and plain containers.
_HAS_WEIGHTS_ONLY = "weights_only" in inspect.signature(torch.load).parameters


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    layout: str  # how the state_dict was found, for messages ("a plain state_dict", 'the "model" entry', ...)
    num_keypoints: int  # K
    num_classes: int  # including the background class
    num_tensors: int
    recorded: dict | None = None  # the "kprcnn" entry kprcnn train writes beside the weights (arch, names, ...)


def _preview(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items)} in all)" if len(items) > limit else "")


def find_inputs(folder: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """The one checkpoint (``*.pth``/``*.pt``/``*.bin``) of a training folder and its ``*-colormap.json``, which
    may be absent (None: the exporter then names the keypoints kp0..kpK-1) but not ambiguous."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"{folder} is not a folder (pass a training folder, or --checkpoint and --colormap)")
    try:
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
    except OSError as e:
        raise ExportError(f"cannot list {folder}: {e.strerror or e}") from e
    checkpoints = [n for n in names if any(fnmatch.fnmatch(n, pat) for pat in CHECKPOINT_PATTERNS)]
    colormaps = [n for n in names if fnmatch.fnmatch(n, COLORMAP_PATTERN)]
    problems = []
    if len(checkpoints) != 1:
        found = _preview(checkpoints) if checkpoints else "none"
        problems.append(f"expected exactly one checkpoint (*.pth, *.pt, *.bin), found {found}")
    if len(colormaps) > 1:
        problems.append(f"expected at most one *-colormap.json, found {_preview(colormaps)}")
    if problems:
        raise ExportError(f"in {folder}: " + "; ".join(problems) + "; pass --checkpoint and --colormap to choose")
    return folder / checkpoints[0], (folder / colormaps[0] if colormaps else None)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles tensors and plain containers only (what torch's weights_only allows, plus the floats and other
    plain values that torch 1.13's weights_only unpickler refuses, e.g. an optimizer's learning rate)."""

    _ALLOWED = {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch", "Size"),
        ("torch", "device"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"Unsupported class {module}.{name}")


# torch.load(pickle_module=...) wants a module with load() and Unpickler.
_restricted_pickle = types.ModuleType("kprcnn_restricted_pickle")
_restricted_pickle.Unpickler = _RestrictedUnpickler  # type: ignore[attr-defined]
_restricted_pickle.load = lambda f, **kw: _RestrictedUnpickler(f, **kw).load()  # type: ignore[attr-defined]


def _safe_load(path: Path) -> object:
    """torch.load without running code from the file."""
    if not _HAS_WEIGHTS_ONLY:
        return torch.load(path, map_location="cpu", pickle_module=_restricted_pickle)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported operand" not in str(e):  # torch 1.13 refuses e.g. floats; anything else is final
            raise
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_restricted_pickle)


def _torch_load(path: Path, trust: bool) -> object:
    """torch.load on CPU; without ``trust`` only tensors and plain containers are unpickled (no code runs)."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ExportError(f"cannot read checkpoint {path}: {e.strerror or e}") from e
    if not path.is_file():
        raise ExportError(f"checkpoint {path} is not a file")
    if size == 0:
        raise ExportError(f"checkpoint {path} is empty (0 bytes): the file was not written completely")
    try:
        if trust:
            # torch >= 2.6 defaults to weights_only=True, which refuses the model objects trust is asked for.
            extra = {"weights_only": False} if _HAS_WEIGHTS_ONLY else {}
            return torch.load(path, map_location="cpu", **extra)
        return _safe_load(path)
    except OSError as e:
        raise ExportError(f"cannot read checkpoint {path}: {e.strerror or e}") from e
    except Exception as e:  # torch.load raises many types (UnpicklingError, RuntimeError, EOFError, ...)
        text = str(e).strip()
        unsafe = re.search(r"Unsupported (class|global).*", text)
        if not trust and unsafe:
            what = "Python objects other than tensors and plain containers"
            if re.search(r"torchvision\.|torch\.nn\.", unsafe.group(0)):
                what = "a whole pickled model (torch.save(model)) rather than its state_dict"
            raise ExportError(
                f"checkpoint {path} holds {what} ({unsafe.group(0)[:200]}); "
                "they are not loaded by default because unpickling can run code. If you trust the file, "
                "re-run with --trust-checkpoint, or re-save just model.state_dict()"
            ) from e
        detail = text.splitlines()[0][:200] if text else "no detail"
        raise ExportError(
            f"checkpoint {path} is not a readable PyTorch checkpoint ({type(e).__name__}: {detail}); "
            "it may be truncated or not a torch.save file"
        ) from e


def _is_state_dict(obj: object) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def _recorded(obj: object) -> dict | None:
    """The ``"kprcnn"`` entry of a checkpoint dict (what kprcnn train records: the architecture and more)."""
    if isinstance(obj, Mapping) and isinstance(obj.get("kprcnn"), Mapping):
        return dict(obj["kprcnn"])
    return None


def _unwrap(obj: object, path: Path) -> tuple[dict[str, torch.Tensor], str]:
    if isinstance(obj, torch.nn.Module):
        return dict(obj.state_dict()), "a pickled nn.Module"
    if _is_state_dict(obj):
        return dict(obj), "a plain state_dict"  # type: ignore[arg-type]
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, torch.nn.Module):
                return dict(inner.state_dict()), f'a pickled nn.Module under "{key}"'
            if _is_state_dict(inner):
                return dict(inner), f'the "{key}" entry'  # type: ignore[arg-type]
        keys = [str(k) for k in obj.keys()]
        raise ExportError(
            f"checkpoint {path} holds no state_dict: expected a dict of tensors or one under "
            f'"model", "state_dict" or "model_state_dict"; found a dict with keys {_preview(keys) or "(none)"}'
        )
    raise ExportError(f"checkpoint {path} holds a {type(obj).__name__}, not a state_dict (a dict of tensors)")


def _strip_prefix(state: dict[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _shape(t: torch.Tensor) -> str:
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def _infer_sizes(state: dict[str, torch.Tensor], path: Path) -> tuple[int, int]:
    """(K, num_classes) from the predictor weights; errors name the key and shape."""
    if KEYPOINT_WEIGHT not in state:
        raise ExportError(
            f"checkpoint {path} is not a torchvision Keypoint R-CNN: it has no {KEYPOINT_WEIGHT} "
            f"({len(state)} tensors, e.g. {_preview(sorted(state), 3)})"
        )
    kps = state[KEYPOINT_WEIGHT]
    # ConvTranspose2d(512, K, 4, 4): weight [in_channels, out_channels, kH, kW].
    if kps.dim() != 4 or tuple(kps.shape[2:]) != (4, 4) or kps.shape[1] < 1:
        raise ExportError(
            f"checkpoint {path}: {KEYPOINT_WEIGHT} has shape {_shape(kps)}, expected [channels, K, 4, 4] "
            "(torchvision's KeypointRCNNPredictor; keypointrcnn_resnet50_fpn has [512, K, 4, 4])"
        )
    if CLASS_WEIGHT not in state:
        raise ExportError(f"checkpoint {path} is not a torchvision Keypoint R-CNN: it has no {CLASS_WEIGHT}")
    cls = state[CLASS_WEIGHT]
    if cls.dim() != 2 or cls.shape[0] < 2:
        raise ExportError(
            f"checkpoint {path}: {CLASS_WEIGHT} has shape {_shape(cls)}, expected [num_classes >= 2, width] "
            "(background plus at least one class)"
        )
    num_classes = int(cls.shape[0])
    box = state.get(BOX_WEIGHT)
    if box is not None and (box.dim() != 2 or box.shape[0] != 4 * num_classes):
        raise ExportError(
            f"checkpoint {path}: {BOX_WEIGHT} has shape {_shape(box)} but {CLASS_WEIGHT} says {num_classes} "
            f"classes (expected [{4 * num_classes}, {cls.shape[1]}]); the checkpoint is inconsistent"
        )
    return int(kps.shape[1]), num_classes


def _check_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ExportError(
            f"checkpoint {path} has NaN or Inf values in {len(bad)} tensor(s) ({_preview(bad, 3)}): "
            "training diverged; export an earlier checkpoint"
        )


def load_checkpoint(
    path: str | os.PathLike[str], trust: bool = False
) -> tuple[dict[str, torch.Tensor], CheckpointInfo]:
    """Load a checkpoint's state_dict (unwrapped, ``module.`` stripped) and infer K and the class count."""
    path = Path(path)
    obj = _torch_load(path, trust)
    state, layout = _unwrap(obj, path)
    state = _strip_prefix(state)
    num_keypoints, num_classes = _infer_sizes(state, path)
    _check_finite(state, path)
    return state, CheckpointInfo(path, layout, num_keypoints, num_classes, len(state), _recorded(obj))


def checkpoint_arch(state: dict[str, torch.Tensor], info: CheckpointInfo) -> Arch:
    """The architecture of a loaded checkpoint: read from its weights, completed by what kprcnn train recorded."""
    recorded = (info.recorded or {}).get("arch")
    if recorded is not None and not isinstance(recorded, Mapping):
        raise ExportError(f"checkpoint {info.path}: its kprcnn.arch entry is not a dict")
    try:
        return infer_arch(state, recorded)
    except ExportError as e:
        raise ExportError(f"checkpoint {info.path}: {e}") from e


def build_model(
    state: dict[str, torch.Tensor], info: CheckpointInfo, options: ModelOptions | None = None, arch: Arch | None = None
) -> torch.nn.Module:
    """The checkpoint's Keypoint R-CNN (``arch``, default: ``checkpoint_arch``) with its weights and the inference
    ``options``, in eval mode."""
    arch = arch or checkpoint_arch(state, info)
    model = arch.build(
        info.num_keypoints, info.num_classes, **(options or ModelOptions()).resolve(arch).torchvision_kwargs()
    )
    what = arch.describe()
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # size mismatches are raised even with strict=False
        lines = [ln.strip() for ln in str(e).splitlines() if "size mismatch" in ln]
        raise ExportError(
            f"checkpoint {info.path} does not fit {what} (torchvision {torchvision.__version__}): "
            f"{_preview(lines, 3) if lines else str(e).splitlines()[0]}"
        ) from e
    missing = [k for k in result.missing_keys if not k.endswith(_IGNORABLE_SUFFIX)]
    unexpected = [k for k in result.unexpected_keys if not k.endswith(_IGNORABLE_SUFFIX)]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_preview(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_preview(unexpected)}")
        raise ExportError(
            f"checkpoint {info.path} does not fit the architecture its weights describe ({what}, "
            f"{info.num_keypoints} keypoints, {info.num_classes} classes): {'; '.join(parts)}. kprcnn exports "
            "torchvision KeypointRCNN models with a ResNet-FPN backbone, a TwoMLPHead box head and "
            "KeypointRCNNHeads"
        )
    return model.eval()
