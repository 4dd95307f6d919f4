"""python -m kprcnn_export CHECKPOINT_DIR | --checkpoint X.pth [--colormap Y.json] [-o OUT.onnx] [knobs]

Exit status: 0 on success, 1 on an export error (one line ``error: ...`` on stderr), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from kprcnn_export import __version__
from kprcnn_export.errors import ExportError

DESCRIPTION = """Export a fine-tuned torchvision keypointrcnn_resnet50_fpn checkpoint to ONNX for kprcnn.
Give a training folder holding exactly one checkpoint (*.pth / *.pt / *.bin) and at most one *-colormap.json,
or name the files. Without a colormap the keypoints are named kp0..kpK-1 (K read from the checkpoint). The
output defaults to <colormap name>-<checkpoint name>.onnx beside the checkpoint. Every export is verified
against PyTorch through ONNX Runtime (the kprcnn binary) unless --no-verify."""

KNOBS_HELP = """Inference settings frozen into the graph (defaults: torchvision's; all recorded in the model's
metadata, kprcnn.export_options). See the README's "Export options" for what each costs or saves."""


def _parser() -> argparse.ArgumentParser:
    from kprcnn_export.options import ModelOptions

    d = ModelOptions()
    p = argparse.ArgumentParser(prog="python -m kprcnn_export", description=DESCRIPTION)
    p.add_argument("folder", nargs="?", help="training folder with one checkpoint and at most one *-colormap.json")
    p.add_argument(
        "--checkpoint",
        help="checkpoint file (.pth/.pt/.bin): a state_dict, {'model': state_dict, ...}, or (with "
        "--trust-checkpoint) a whole pickled model",
    )
    p.add_argument("--colormap", help='colormap JSON: {"items": [{"label": "nose", "color": [r, g, b]}, ...]}')
    p.add_argument(
        "--skeleton",
        nargs=2,
        action="append",
        metavar=("A", "B"),
        help="join keypoints A and B with a line when drawing (repeat for each pair; replaces the colormap's)",
    )
    p.add_argument("-o", "--output", help="output .onnx file (default: beside the checkpoint)")
    p.add_argument("--opset", type=int, default=16, help="ONNX opset (default: 16)")
    p.add_argument("--batch-size", type=int, default=1, help="must be 1: one image per run (default: 1)")
    p.add_argument("--no-check", action="store_true", help="skip onnx.checker on the result")
    p.add_argument("--no-verify", action="store_true", help="skip the comparison with PyTorch eager")
    p.add_argument(
        "--verify-image",
        action="append",
        default=[],
        metavar="IMAGE",
        help="verify on this image instead of the synthetic scene (repeatable; a blank image always runs first)",
    )
    p.add_argument(
        "--simplify",
        action="store_true",
        help="simplify the graph with onnxsim if installed, else with `kprcnn optimize --level basic`",
    )
    p.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow arbitrary Python objects in the checkpoint (unpickling can run code: trusted files only)",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks and exporter warnings")
    p.add_argument("--version", action="version", version=f"kprcnn_export {__version__}")
    g = p.add_argument_group("model knobs", KNOBS_HELP)
    g.add_argument(
        "--min-size", type=int, default=None,
        help="internal resize: shorter side (default: the architecture's training size; 800 for torchvision's)"
    )
    g.add_argument(
        "--max-size", type=int, default=None,
        help="internal resize: longer side cap (default: the architecture's; 1333 for torchvision's)"
    )
    g.add_argument(
        "--box-score-thresh",
        type=float,
        default=d.box_score_thresh,
        help="drop boxes scoring at or below this inside the graph (default: %(default)s)",
    )
    g.add_argument("--box-nms-thresh", type=float, default=d.box_nms_thresh, help="box NMS IoU (default: %(default)s)")
    g.add_argument(
        "--detections-per-img", type=int, default=d.detections_per_img, help="most detections (default: %(default)s)"
    )
    g.add_argument(
        "--rpn-pre-nms-top-n",
        type=int,
        default=d.rpn_pre_nms_top_n,
        help="proposals per FPN level before the RPN's NMS (default: %(default)s)",
    )
    g.add_argument(
        "--rpn-post-nms-top-n",
        type=int,
        default=d.rpn_post_nms_top_n,
        help="proposals after the RPN's NMS (default: %(default)s)",
    )
    return p


def _progress(message: str) -> None:
    print(f"kprcnn_export: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.folder and args.checkpoint:
        parser.error("give either a training folder or --checkpoint, not both")
    if not args.folder and not args.checkpoint:
        parser.error("give a training folder, or --checkpoint (and optionally --colormap)")
    if args.no_verify and args.verify_image:
        parser.error("--verify-image and --no-verify contradict each other")
    try:
        # Imported here so that usage errors do not wait for torch to load.
        from kprcnn_export.checkpoint import find_inputs
        from kprcnn_export.export import export_onnx
        from kprcnn_export.options import ModelOptions

        if args.folder:
            checkpoint, colormap = find_inputs(args.folder)
            colormap = args.colormap or colormap
        else:
            checkpoint, colormap = args.checkpoint, args.colormap
        options = ModelOptions(
            min_size=args.min_size,
            max_size=args.max_size,
            box_score_thresh=args.box_score_thresh,
            box_nms_thresh=args.box_nms_thresh,
            detections_per_img=args.detections_per_img,
            rpn_pre_nms_top_n=args.rpn_pre_nms_top_n,
            rpn_post_nms_top_n=args.rpn_post_nms_top_n,
        )
        result = export_onnx(
            checkpoint,
            colormap,
            output=args.output,
            opset=args.opset,
            check=not args.no_check,
            trust_checkpoint=args.trust_checkpoint,
            verbose=args.debug,
            progress=_progress,
            options=options,
            batch_size=args.batch_size,
            skeleton=[tuple(pair) for pair in args.skeleton] if args.skeleton else None,
            verify=not args.no_verify,
            verify_images=args.verify_image,
            simplify=args.simplify,
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
    if result.simplified_with:
        print(f"  simplified with {result.simplified_with}")
    from kprcnn_export.verify import MIN_COMPARED

    report = result.verification
    if report is None:
        print("  not verified against PyTorch")
    else:
        worst = lambda attr: max(getattr(c, attr) for c in report.comparisons)  # noqa: E731
        print(
            f"  verified against PyTorch on {len(report.comparisons)} images ({report.compared} detections compared"
            f"{', too few to mean much' if report.compared < MIN_COMPARED else ''}) in {report.seconds:.0f} s "
            f"(eager {report.eager_seconds:.0f} s, ONNX Runtime {report.onnx_seconds:.0f} s): max |diff| boxes "
            f"{worst('max_box'):.2g} px, keypoints {worst('max_keypoint'):.2g} px, scores {worst('max_score'):.2g}, "
            f"keypoint scores {worst('max_keypoint_score'):.2g}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
