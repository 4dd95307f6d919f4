"""python -m kprcnn_export CHECKPOINT_DIR | --checkpoint X.pth --colormap Y.json [-o OUT.onnx] [--opset 16]

Exit status: 0 on success, 1 on an export error (one line ``error: ...`` on stderr), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from kprcnn_export import __version__
from kprcnn_export.errors import ExportError

DESCRIPTION = """Export a fine-tuned torchvision keypointrcnn_resnet50_fpn checkpoint to ONNX for kprcnn.
Give a training folder holding exactly one checkpoint (*.pth / *.pt) and one *-colormap.json, or name both
files. The output defaults to <colormap name>-<checkpoint name>.onnx beside the checkpoint."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m kprcnn_export", description=DESCRIPTION)
    p.add_argument("folder", nargs="?", help="training folder with one checkpoint and one *-colormap.json")
    p.add_argument("--checkpoint", help="checkpoint file (.pth/.pt): a state_dict or {'model': state_dict, ...}")
    p.add_argument("--colormap", help='colormap JSON: {"items": [{"label": "nose", "color": [r, g, b]}, ...]}')
    p.add_argument("-o", "--output", help="output .onnx file (default: beside the checkpoint)")
    p.add_argument("--opset", type=int, default=16, help="ONNX opset (default: 16)")
    p.add_argument("--no-check", action="store_true", help="skip onnx.checker on the result")
    p.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow arbitrary Python objects in the checkpoint (unpickling can run code: trusted files only)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks and exporter warnings")
    p.add_argument("--version", action="version", version=f"kprcnn_export {__version__}")
    return p


def _progress(message: str) -> None:
    print(f"kprcnn_export: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.folder and (args.checkpoint or args.colormap):
        parser.error("give either a training folder or --checkpoint and --colormap, not both")
    if not args.folder and not (args.checkpoint and args.colormap):
        parser.error("give a training folder, or both --checkpoint and --colormap")
    try:
        # Imported here so that usage errors do not wait for torch to load.
        from kprcnn_export.checkpoint import find_inputs
        from kprcnn_export.export import export_onnx

        if args.folder:
            checkpoint, colormap = find_inputs(args.folder)
        else:
            checkpoint, colormap = args.checkpoint, args.colormap
        result = export_onnx(
            checkpoint,
            colormap,
            output=args.output,
            opset=args.opset,
            check=not args.no_check,
            trust_checkpoint=args.trust_checkpoint,
            verbose=args.debug,
            progress=_progress,
        )
    except ExportError as e:
        if args.debug:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; no output written", file=sys.stderr)
        return 130
    except Exception as e:  # a failure inside torch/onnx: keep the one-line contract, traceback on request
        if args.debug:
            traceback.print_exc()
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"error: export failed: {type(e).__name__}: {first} (re-run with --debug for details)", file=sys.stderr)
        return 1
    labels = ", ".join(result.labels)
    print(f"wrote {result.path}")
    print(
        f"  {result.size_bytes / 1e6:.1f} MB, K={result.num_keypoints} ({labels}), {result.num_classes} classes, "
        f"opset {result.opset}, {result.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
