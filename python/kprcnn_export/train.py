"""``kprcnn train``: fine-tune (or train from scratch) a torchvision Keypoint R-CNN on a COCO keypoint dataset and
write the recipe's training folder, which ``kprcnn export FOLDER`` reads as it is:

  FOLDER/<name>.pth              the weights: {"model": state_dict, "kprcnn": {"arch": ..., ...}} (fp16 with
                                 --fp16-weights), rewritten at every checkpoint
  FOLDER/<name>-colormap.json    keypoint names, colours and skeleton (from the dataset's categories)
  FOLDER/train-state.ckpt        everything --resume needs (fp32 weights, optimiser, schedule, random state)
  FOLDER/train-log.jsonl         one line per logged step: iteration, losses, learning rate, seconds

Every file is written to a temporary name and renamed, so an interrupted run (Ctrl-C, kill, a full disk) leaves
the last complete checkpoint in place; ``--resume`` continues from it and, with the same arguments, reaches
the same weights as an uninterrupted run would have. A fixed ``--seed`` gives the same run (same thread count).

Datasets: a folder as ``kprcnn synth`` writes it (``annotations.json`` + the images it names), or
``--annotations F --images D`` (e.g. a CVAT or Label Studio COCO keypoints export). Crowd annotations are
ignored; images that are missing or cannot be decoded are skipped and counted; boxes are clipped to the image,
and boxes wholly outside it are dropped and counted; anything structurally wrong (malformed JSON, keypoint arrays
that do not match the categories, no usable annotation at all) is an error naming the entry.
"""

from __future__ import annotations

import argparse
import colorsys
import io
import json
import math
import os
import random
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kprcnn_export.common import atomic_write
from kprcnn_export.errors import ExportError

STATE_NAME = "train-state.ckpt"
LOG_NAME = "train-log.jsonl"
CHECKPOINT_FORMAT = 1


class TrainError(ExportError):
    """A problem with the dataset, the arguments or the output folder; ``code`` is the CLI's exit code."""

    def __init__(self, message: str, code: int = 5):
        super().__init__(message)
        self.code = code


# --- dataset ----------------------------------------------------------------------------------------------------


@dataclass
class Sample:
    file: Path
    width: int
    height: int
    boxes: np.ndarray  # [N, 4] x1 y1 x2 y2
    labels: np.ndarray  # [N] 1..C
    keypoints: np.ndarray  # [N, K, 3] x y v


@dataclass
class Dataset:
    samples: list[Sample]
    names: tuple[str, ...]  # keypoint names
    skeleton: tuple[tuple[str, str], ...]
    categories: tuple[str, ...]  # class names, label i+1
    skipped: dict[str, int]
    num_annotations: int


def _fail(where: str, what: str) -> TrainError:
    return TrainError(f"{where}: {what}")


def load_dataset(annotations: Path, images: Path) -> Dataset:
    """Read a COCO keypoint annotation file; raise TrainError naming the first bad entry."""
    from PIL import Image

    try:
        text = annotations.read_text(encoding="utf-8")
    except OSError as e:
        raise TrainError(f"cannot read {annotations}: {e.strerror or e}", code=3) from e
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TrainError(f"{annotations} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    if not isinstance(doc, dict):
        raise _fail(str(annotations), "expected a JSON object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise _fail(str(annotations), f'"{key}" is missing or not a list')
    cats = doc["categories"]
    if not cats:
        raise _fail(str(annotations), "no categories")
    names: tuple[str, ...] | None = None
    skeleton: list[list[int]] = []
    cat_label: dict[int, int] = {}
    cat_names = []
    for i, cat in enumerate(sorted(cats, key=lambda c: c.get("id", 0) if isinstance(c, dict) else 0)):
        where = f"{annotations}: categories[{i}]"
        if not isinstance(cat, dict) or not isinstance(cat.get("id"), int):
            raise _fail(where, 'expected an object with an integer "id"')
        kps = cat.get("keypoints")
        if not isinstance(kps, list) or not kps or not all(isinstance(k, str) and k for k in kps):
            raise _fail(where, '"keypoints" must be a non-empty list of names (a COCO keypoint dataset)')
        if names is None:
            names = tuple(kps)
            skeleton = cat.get("skeleton") or []
        elif tuple(kps) != names:
            raise _fail(where, f"keypoints {kps} differ from the first category's {list(names)}: one model has one "
                        "keypoint set")  # fmt: skip
        if cat["id"] in cat_label:
            raise _fail(where, f"duplicate category id {cat['id']}")
        cat_label[cat["id"]] = len(cat_label) + 1
        cat_names.append(str(cat.get("name", f"class{cat['id']}")))
    assert names is not None
    if len(set(names)) != len(names):
        raise _fail(f"{annotations}: categories", f"keypoint names repeat: {list(names)}")
    pairs = []
    for j, pair in enumerate(skeleton):
        if (not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(v, int) for v in pair)
                or not all(1 <= v <= len(names) for v in pair)):  # fmt: skip
            raise _fail(f"{annotations}: categories[0].skeleton[{j}]", f"expected two 1-based keypoint indices, got {pair}")
        pairs.append((names[pair[0] - 1], names[pair[1] - 1]))
    k = len(names)
    by_image: dict[int, dict] = {}
    for i, im in enumerate(doc["images"]):
        where = f"{annotations}: images[{i}]"
        if not isinstance(im, dict) or not isinstance(im.get("id"), int) or not isinstance(im.get("file_name"), str):
            raise _fail(where, 'expected an object with an integer "id" and a "file_name"')
        if im["id"] in by_image:
            raise _fail(where, f"duplicate image id {im['id']}")
        by_image[im["id"]] = {"image": im, "anns": []}
    skipped = {"crowd": 0, "outside the image": 0, "missing image": 0, "unreadable image": 0}
    for i, ann in enumerate(doc["annotations"]):
        where = f"{annotations}: annotations[{i}]"
        if not isinstance(ann, dict):
            raise _fail(where, "expected an object")
        if ann.get("image_id") not in by_image:
            raise _fail(where, f"image_id {ann.get('image_id')!r} is not in images")
        if ann.get("category_id") not in cat_label:
            raise _fail(where, f"category_id {ann.get('category_id')!r} is not in categories")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_finite(v) for v in bbox)):
            raise _fail(where, f"bbox must be [x, y, width, height] numbers, got {bbox!r}")
        if bbox[2] < 0 or bbox[3] < 0:
            raise _fail(where, f"bbox {bbox} has a negative width or height")
        kps = ann.get("keypoints")
        if not (isinstance(kps, list) and len(kps) == 3 * k and all(_finite(v) for v in kps)):
            got = f"{len(kps)} numbers" if isinstance(kps, list) else repr(kps)
            raise _fail(where, f"keypoints must be {3 * k} finite numbers (x, y, v for {k} keypoints), got {got}")
        if any(v not in (0, 1, 2) for v in kps[2::3]):
            raise _fail(where, "keypoint visibilities must be 0, 1 or 2")
        if ann.get("iscrowd", 0):
            skipped["crowd"] += 1
            continue
        by_image[ann["image_id"]]["anns"].append(ann)
    samples = []
    used = 0
    for entry in by_image.values():
        im = entry["image"]
        path = images / im["file_name"]
        try:
            with Image.open(path) as opened:
                width, height = opened.size
                opened.verify()
        except FileNotFoundError:
            skipped["missing image"] += 1
            continue
        except Exception:  # noqa: BLE001 - Pillow raises many types for corrupt files
            skipped["unreadable image"] += 1
            continue
        boxes, labels, points = [], [], []
        for ann in entry["anns"]:
            x, y, w, h = (float(v) for v in ann["bbox"])
            x1, y1 = max(0.0, x), max(0.0, y)
            x2, y2 = min(float(width), x + w), min(float(height), y + h)
            if x2 - x1 < 1 or y2 - y1 < 1:
                skipped["outside the image"] += 1
                continue
            kp = np.asarray(ann["keypoints"], np.float32).reshape(k, 3)
            boxes.append((x1, y1, x2, y2))
            labels.append(cat_label[ann["category_id"]])
            points.append(kp)
        used += len(boxes)
        samples.append(
            Sample(
                path, width, height,
                np.asarray(boxes, np.float32).reshape(-1, 4),
                np.asarray(labels, np.int64),
                np.asarray(points, np.float32).reshape(-1, k, 3),
            )
        )  # fmt: skip
    if not samples:
        raise TrainError(
            f"{annotations}: none of its {len(by_image)} images could be read from {images} "
            f"({skipped['missing image']} missing, {skipped['unreadable image']} unreadable)"
        )
    if used == 0:
        raise TrainError(f"{annotations}: no usable annotation (non-crowd, box inside its image) in {len(samples)} images")
    return Dataset(samples, names, tuple(pairs), tuple(cat_names), skipped, used)


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def flip_permutation(names: tuple[str, ...]) -> list[int] | None:
    """Index map for a horizontal flip (left_* <-> right_*), or None when the names do not pair up."""
    perm = list(range(len(names)))
    for i, n in enumerate(names):
        for a, b in (("left", "right"), ("right", "left")):
            if a in n:
                partner = n.replace(a, b)
                if partner not in names:
                    return None
                perm[i] = names.index(partner)
    return perm


def _colormap(names: tuple[str, ...], skeleton: tuple[tuple[str, str], ...]) -> dict:
    from kprcnn_export.synth import COLORS

    items = []
    for i, n in enumerate(names):
        color = COLORS.get(n) or colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.8, 0.95)
        items.append({"label": n, "color": [round(float(c), 3) for c in color]})
    return {"items": items, "skeleton": [list(p) for p in skeleton]}


# --- files ------------------------------------------------------------------------------------------------------


# --- training ---------------------------------------------------------------------------------------------------


def _load_image(sample: Sample):
    import torch
    from PIL import Image

    with Image.open(sample.file) as im:
        array = np.array(im.convert("RGB"), dtype=np.uint8)  # a writable copy for torch.from_numpy
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def _batch(dataset: Dataset, order: list[int], flips: list[bool], perm: list[int] | None, cache: dict):
    import torch

    images, targets = [], []
    for index, flip in zip(order, flips):
        s = dataset.samples[index]
        image = cache.get(index)
        if image is None:
            image = _load_image(s)
            if len(cache) < 20000:
                cache[index] = image
        boxes = torch.from_numpy(s.boxes.copy())
        keypoints = torch.from_numpy(s.keypoints.copy())
        if flip and perm is not None:
            image = image.flip(-1)
            w = float(s.width)
            boxes = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], dim=1)
            keypoints = keypoints[:, perm]
            labelled = keypoints[:, :, 2] > 0
            keypoints[:, :, 0] = torch.where(labelled, w - keypoints[:, :, 0], keypoints[:, :, 0])
        images.append(image.float().div_(255.0))
        targets.append({"boxes": boxes, "labels": torch.from_numpy(s.labels.copy()), "keypoints": keypoints})
    return images, targets


def _schedule(iteration: int, total: int, warmup: int) -> float:
    if iteration < warmup:
        return 0.001 + (1 - 0.001) * iteration / warmup
    progress = (iteration - warmup) / max(1, total - warmup)
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _fingerprint(dataset: Dataset) -> dict:
    return {"images": len(dataset.samples), "annotations": dataset.num_annotations, "keypoints": list(dataset.names)}


def train(args: argparse.Namespace) -> int:
    import torch

    from kprcnn_export.arch import Arch, preset

    if args.data:
        annotations, images = Path(args.data) / "annotations.json", Path(args.data)
    else:
        annotations, images = Path(args.annotations), Path(args.images)
    out = Path(args.out)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    arch: Arch = preset(args.arch)
    dataset = load_dataset(annotations, images)
    k, num_classes = len(dataset.names), len(dataset.categories) + 1
    perm = flip_permutation(dataset.names) if not args.no_flip else None
    name = args.name or dataset.categories[0].replace(" ", "_")
    skipped = ", ".join(f"{n} {why}" for why, n in dataset.skipped.items() if n)
    print(
        f"train: {len(dataset.samples)} images, {dataset.num_annotations} objects, K={k} "
        f"({', '.join(dataset.names)}), {num_classes - 1} class(es){'; skipped: ' + skipped if skipped else ''}",
        file=sys.stderr,
    )
    print(f"train: {arch.describe()}; horizontal flips {'on' if perm else 'off'}", file=sys.stderr)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TrainError(f"cannot create {out}: {e.strerror or e}", code=3) from e

    torch.manual_seed(args.seed)
    scales = tuple(int(arch.min_size * f) for f in (0.8, 0.9, 1.1, 1.2)) + (arch.min_size,)
    model = arch.build(
        k, num_classes,
        min_size=scales,  # training picks one at random per batch; evaluation uses the last
        box_batch_size_per_image=args.box_batch_size,
        rpn_pre_nms_top_n_train=1000, rpn_post_nms_top_n_train=500,
    )  # fmt: skip
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() > 1]
    no_decay = [p for p in params if p.dim() <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
    )
    meta = {
        "format": CHECKPOINT_FORMAT,
        "arch": arch.to_dict(),
        "num_keypoints": k,
        "num_classes": num_classes,
        "keypoint_names": list(dataset.names),
        "classes": list(dataset.categories),
        "dataset": _fingerprint(dataset),
        "seed": args.seed,
        "max_iters": args.max_iters,
    }
    start = 0
    state_path = out / STATE_NAME
    if args.resume:
        if not state_path.is_file():
            raise TrainError(f"--resume: {state_path} does not exist (nothing to resume in {out})", code=3)
        try:
            state = torch.load(state_path, map_location="cpu")
        except Exception as e:  # noqa: BLE001
            raise TrainError(f"--resume: {state_path} is not readable ({type(e).__name__}: {e})") from e
        old = state.get("kprcnn", {})
        if Arch.from_dict(old.get("arch", {})) != arch:
            raise TrainError(
                f"--resume: {state_path} is a {Arch.from_dict(old.get('arch', {})).describe()} run, not --arch "
                f"{args.arch}; resume with the same --arch, or train into another --out"
            )
        if old.get("keypoint_names") != list(dataset.names) or old.get("num_classes") != num_classes:
            raise TrainError(f"--resume: {state_path} was trained on other keypoints or classes")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["iteration"])
        torch.set_rng_state(state["torch_rng"])
        print(f"train: resuming at iteration {start} from {state_path}", file=sys.stderr)
    else:
        for stale in (state_path, out / LOG_NAME):
            stale.unlink(missing_ok=True)
    colormap_path = out / f"{name}-colormap.json"
    atomic_write(colormap_path, (json.dumps(_colormap(dataset.names, dataset.skeleton), indent=2) + "\n").encode())
    weights_path = out / f"{name}.pth"

    def save(iteration: int) -> None:
        sd = model.state_dict()
        weights = {kk: (v.half() if args.fp16_weights and v.is_floating_point() else v) for kk, v in sd.items()}
        final_meta = {**meta, "iteration": iteration}
        buf = io.BytesIO()
        torch.save({"model": weights, "kprcnn": final_meta}, buf)
        full = io.BytesIO()
        torch.save(
            {"model": sd, "optimizer": optimizer.state_dict(), "iteration": iteration,
             "torch_rng": torch.get_rng_state(), "kprcnn": final_meta},
            full,
        )  # fmt: skip
        atomic_write(weights_path, buf.getvalue())
        atomic_write(state_path, full.getvalue())

    # Epoch order from (seed, epoch): a resumed run sees the same batches as an uninterrupted one.
    n = len(dataset.samples)
    per_epoch = max(1, n // args.batch_size)

    def batch_at(it: int) -> tuple[list[int], list[bool]]:
        epoch, pos = divmod(it, per_epoch)
        rng = np.random.default_rng([args.seed, epoch])
        order = rng.permutation(n)
        flips = rng.random(n) < 0.5
        sel = order[pos * args.batch_size : (pos + 1) * args.batch_size]
        return [int(i) for i in sel], [bool(flips[i]) for i in sel]

    cache: dict = {}
    warmup = min(300, max(1, args.max_iters // 10))
    log = open(out / LOG_NAME, "a", encoding="utf-8")
    t_start = time.monotonic()
    last_saved = start
    smooth = None
    interrupted = False
    # Ctrl-C / SIGTERM: finish the step (and a checkpoint being written), then stop; a second one stops at once.
    stop: dict[str, int] = {}

    def on_signal(signum: int, _frame: object) -> None:
        if stop:
            raise KeyboardInterrupt
        stop["signal"] = signum

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for it in range(start, args.max_iters):
            if stop:
                interrupted = True
                break
            factor = _schedule(it, args.max_iters, warmup)
            for g in optimizer.param_groups:
                g["lr"] = args.lr * factor
            order, flips = batch_at(it)
            images_b, targets = _batch(dataset, order, flips, perm, cache)
            losses = model(images_b, targets)
            loss = sum(losses.values())
            if not torch.isfinite(loss):
                raise TrainError(f"iteration {it}: the loss is {float(loss)} (diverged); lower --lr and retrain")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            optimizer.step()
            value = float(loss)
            smooth = value if smooth is None else 0.95 * smooth + 0.05 * value
            done = it + 1
            elapsed = time.monotonic() - t_start
            rate = (done - start) / elapsed if elapsed > 0 else 0.0
            if done % args.log_every == 0 or done == args.max_iters:
                log.write(json.dumps({"iteration": done, "loss": round(value, 5),
                                      **{kk: round(float(v), 5) for kk, v in losses.items()},
                                      "lr": args.lr * factor, "seconds": round(elapsed, 1)}) + "\n")  # fmt: skip
                log.flush()
            if not args.quiet:
                eta = (args.max_iters - done) / rate if rate > 0 else 0
                width = 24
                fill = int(width * done / args.max_iters)
                print(
                    f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{args.max_iters} loss {smooth:.3f} "
                    f"(kp {float(losses['loss_keypoint']):.2f}) {rate:.2f} it/s ETA {_hms(eta)}   ",
                    end="", file=sys.stderr, flush=True,
                )  # fmt: skip
            if done % args.checkpoint_every == 0 or done == args.max_iters:
                save(done)
                last_saved = done
    except KeyboardInterrupt:
        interrupted = True
    finally:
        log.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not args.quiet:
        print(file=sys.stderr)
    if interrupted:
        kept = f"the checkpoint of iteration {last_saved} is kept" if last_saved > 0 and weights_path.exists() else \
            "no checkpoint was complete yet"  # fmt: skip
        print(f"train: interrupted; {kept} (--resume continues from it)", file=sys.stderr)
        return 130
    total = time.monotonic() - t_start
    size = weights_path.stat().st_size
    print(f"wrote {weights_path} ({size / 1e6:.1f} MB) and {colormap_path}; {args.max_iters - start} iterations in "
          f"{_hms(total)}")  # fmt: skip
    print(f"next: kprcnn export {out}")
    return 0


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _parser() -> argparse.ArgumentParser:
    from kprcnn_export.arch import PRESETS

    p = argparse.ArgumentParser(
        prog="kprcnn train",
        description="Train a torchvision Keypoint R-CNN on a COCO keypoint dataset into a training folder "
        "(<name>.pth + <name>-colormap.json) that `kprcnn export FOLDER` reads as it is.",
        epilog="Files: <name>.pth (weights + recorded architecture), <name>-colormap.json, train-state.ckpt "
        "(--resume), train-log.jsonl. Exit status: 0 done, 130 interrupted (last complete checkpoint kept), 2 usage, "
        "3 files, 5 dataset or architecture errors.",
    )
    src = p.add_argument_group("dataset (one of)")
    src.add_argument("--data", help="folder with annotations.json and the images it names (kprcnn synth output)")
    src.add_argument("--annotations", help="COCO keypoint annotation file")
    src.add_argument("--images", help="folder the annotation file's file_name entries are relative to")
    p.add_argument("--arch", default="slim", choices=sorted(PRESETS), help="architecture (default: slim)")
    p.add_argument("--out", required=True, help="training folder to write")
    p.add_argument("--name", help="file name stem of <name>.pth and <name>-colormap.json (default: the class)")
    p.add_argument("--max-iters", type=int, required=True, help="training iterations (batches)")
    p.add_argument("--batch-size", type=int, default=2, help="images per iteration (default: 2)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak AdamW learning rate (default: 2e-3)")
    p.add_argument("--box-batch-size", type=int, default=128,
                   help="sampled proposals per image for the box and keypoint heads (default: 128)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: all)")
    p.add_argument("--checkpoint-every", type=int, default=250, help="iterations between checkpoints (default 250)")
    p.add_argument("--log-every", type=int, default=25, help="iterations between train-log.jsonl lines")
    p.add_argument("--resume", action="store_true", help="continue from --out's train-state.ckpt")
    p.add_argument("--fp16-weights", action="store_true", help="store <name>.pth in float16 (half the size)")
    p.add_argument("--no-flip", action="store_true", help="no horizontal flip augmentation")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    if bool(args.data) == bool(args.annotations or args.images):
        p.error("give --data DIR, or --annotations FILE and --images DIR")
    if not args.data and not (args.annotations and args.images):
        p.error("--annotations and --images go together")
    for flag, value, low in (("--max-iters", args.max_iters, 1), ("--batch-size", args.batch_size, 1),
                             ("--checkpoint-every", args.checkpoint_every, 1), ("--log-every", args.log_every, 1),
                             ("--box-batch-size", args.box_batch_size, 1), ("--threads", args.threads, 0)):  # fmt: skip
        if value < low:
            p.error(f"{flag} {value} must be at least {low}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        p.error(f"--lr {args.lr} must be a positive number")
    random.seed(args.seed)
    try:
        return train(args)
    except TrainError as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return e.code
    except ExportError as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 5
    except OSError as e:
        print(f"\nerror: {e.filename or ''}: {e.strerror or e}; the last complete checkpoint is kept", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
