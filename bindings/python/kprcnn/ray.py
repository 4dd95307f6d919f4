"""Batch inference on Ray Data: one kprcnn.Detector per actor (README "Scaling out").

As a library, in a Ray Data pipeline of your own:

    import ray, kprcnn.ray
    ds = ray.data.read_binary_files("s3://bucket/images/", include_paths=True)
    rows = ds.map_batches(kprcnn.ray.Predictor, fn_constructor_kwargs={"model": "/models/face.onnx"},
                          concurrency=4, num_cpus=2, batch_size=8, **kprcnn.ray.ACTOR_ARGS)
    rows.write_parquet("s3://bucket/results/")     # columns: see Predictor.__call__

As a command, a folder (or any pyarrow filesystem URI) end to end, writing OUT/<stem>.json as `kprcnn predict`
does (same names, same documents):

    python -m kprcnn.ray --model M.onnx --input DIR --output OUT [--address ADDR] [--actors N] [--threads T]
                         [-o threshold=0.8 -o size=512 ...] [--parquet FILE]

Without --address a local Ray instance is started (and stopped) for the job. Each image is decoded and run by an
actor; the driver writes the results as batches complete (Ray hands a batch's rows over once, when its task has
finished: a task whose actor died is re-run on the restarted actor and its partial work is dropped, so no image is
lost or written twice). Per-image failures (an image that does not decode, a model missing on a worker node) are
rows with `error`/`code` set: printed, listed in OUT/_failed.json, exit status 1; the job itself goes on.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import PurePosixPath

import numpy as np

import kprcnn

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# Remote arguments for the actor pool: a dead actor is restarted and its unfinished tasks are retried there, for
# ever (Ray Data's default for actor pools too; spelled out because the command's guarantees rest on it).
ACTOR_ARGS = {"max_restarts": -1, "max_task_retries": -1}


def _split_options(options: dict) -> tuple[dict, dict]:
    """kprcnn option names -> (Detector options, predict options), by the option table's groups."""
    groups = {row["name"]: row["group"] for row in kprcnn.options()}
    detector, predict = {}, {}
    for name, value in options.items():
        if name not in groups:
            raise ValueError(f"unknown option '{name}': kprcnn.options() lists the options")
        (detector if groups[name] == "detector" else predict)[name] = value
    return detector, predict


class Predictor:
    """A callable class for Dataset.map_batches: holds one kprcnn.Detector for the actor's life.

    Input batch (numpy format): `bytes` (the encoded image files) and `path` (read_binary_files(include_paths=True)).
    Output rows (a pyarrow table, ROW_SCHEMA): path, image (file name), json (the document `kprcnn predict` writes;
    "" on failure), boxes (N x 4 float32, flat), scores, labels (ints), keypoints (N x K x 3 flat: x, y, score),
    num_detections, error and code ("" when the image succeeded), node (the host that ran it).
    A model that fails to load is not fatal to the job: every image of this actor reports that error.
    """

    def __init__(self, model: str, options: dict | None = None):
        detector_options, self._predict_options = _split_options(options or {})
        self._node = os.uname().nodename
        self._load_error = None
        try:
            self._detector = kprcnn.Detector(model, **detector_options)
        except kprcnn.Error as e:
            self._detector = None
            self._load_error = (e.code, f"model {model} on {self._node}: {e}")

    def __call__(self, batch: dict) -> dict:
        rows = {k: [] for k in ("path", "image", "json", "boxes", "scores", "labels", "keypoints", "num_detections",
                                "error", "code", "node")}  # fmt: skip
        for data, path in zip(batch["bytes"], batch["path"]):
            name = PurePosixPath(str(path)).name
            out = {"path": str(path), "image": name, "json": "", "boxes": [], "scores": [], "labels": [],
                   "keypoints": [], "num_detections": 0, "error": "", "code": "", "node": self._node}  # fmt: skip
            try:
                if self._load_error:
                    raise _Failure(*self._load_error)
                prediction = self._detector.predict(bytes(data), name=name, **self._predict_options)
                dets = prediction.detections
                out["json"] = prediction.to_json()
                out["boxes"] = [float(v) for d in dets for v in d.box]
                out["scores"] = [float(d.score) for d in dets]
                out["labels"] = [int(d.label) for d in dets]
                out["keypoints"] = [float(v) for d in dets for v in np.asarray(d.keypoints).ravel()]
                out["num_detections"] = len(dets)
            except _Failure as e:
                out["code"], out["error"] = e.code, e.message
            except kprcnn.Error as e:
                out["code"], out["error"] = e.code, str(e)
            for k, v in out.items():
                rows[k].append(v)
        import pyarrow as pa

        return pa.table(rows, schema=ROW_SCHEMA())


def ROW_SCHEMA():  # noqa: N802 (a constant, built on first use: pyarrow is imported only where Ray runs)
    import pyarrow as pa

    floats = pa.list_(pa.float32())
    return pa.schema([("path", pa.string()), ("image", pa.string()), ("json", pa.string()), ("boxes", floats),
                      ("scores", floats), ("labels", pa.list_(pa.int64())), ("keypoints", floats),
                      ("num_detections", pa.int64()), ("error", pa.string()), ("code", pa.string()),
                      ("node", pa.string())])  # fmt: skip


class _Failure(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _filesystem(uri: str):
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(uri if "://" in uri else os.path.abspath(uri))


def list_images(uri: str) -> tuple[object, list[str]]:
    """The folder's .jpg/.jpeg/.png files (not recursive, sorted: as `kprcnn predict` lists a folder), or one file."""
    import pyarrow.fs

    fs, root = _filesystem(uri)
    info = fs.get_file_info(root)
    if info.type == pyarrow.fs.FileType.NotFound:
        raise SystemExit(f"error: input not found: {uri}")
    if info.type == pyarrow.fs.FileType.File:
        return fs, [root]
    files = [f.path for f in fs.get_file_info(pyarrow.fs.FileSelector(root, recursive=False))
             if f.type == pyarrow.fs.FileType.File and f.path.lower().endswith(IMAGE_EXTENSIONS)]  # fmt: skip
    if not files:
        raise SystemExit(f"error: no .jpg, .jpeg or .png files in folder {uri}")
    return fs, sorted(files)


def output_names(paths: list[str]) -> dict[str, str]:
    """path -> output name: the stem, or the file name where two inputs share a stem (kprcnn predict's rule)."""
    stems = [PurePosixPath(p).stem for p in paths]
    return {p: (PurePosixPath(p).name if stems.count(s) > 1 else s) for p, s in zip(paths, stems)}


class _Writer:
    """Writes OUT/<name>.json: a temporary file renamed into place on a local folder, a stream on other filesystems."""

    def __init__(self, uri: str):
        self.fs, self.root = _filesystem(uri)
        self.local = type(self.fs).__name__ == "LocalFileSystem"
        self.fs.create_dir(self.root, recursive=True)

    def write(self, name: str, text: str) -> None:
        target = f"{self.root}/{name}"
        if self.local:
            tmp = f"{target}.tmp-{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, target)
        else:
            with self.fs.open_output_stream(target) as f:
                f.write(text.encode())


def run(args) -> int:
    import ray

    options = {}
    for item in args.option:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: -o expects NAME=VALUE, got '{item}'")
        options[name] = _parse_value(value)
    if args.threads:
        options["threads"] = args.threads
    _split_options(options)  # an unknown option fails here, before any actor starts
    if not os.path.isfile(args.model) and "://" not in args.model:
        print(f"warning: {args.model} is not a file here; each worker must have it", file=sys.stderr)

    fs, paths = list_images(args.input)
    names = output_names(paths)
    writer = _Writer(args.output)

    started = time.monotonic()
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # per-operator progress lines on every tick
    ray.init(address=args.address, include_dashboard=False, log_to_driver=False, configure_logging=False,
             **({} if args.address else {"num_cpus": args.num_cpus}))  # fmt: skip
    try:
        # Reading is I/O: its tasks take no CPU from the actors' budget (with 1 CPU each, N actors on N CPUs would
        # otherwise leave the reads nothing to run on, and the job would wait for ever).
        ds = ray.data.read_binary_files(paths, filesystem=fs, include_paths=True, ray_remote_args={"num_cpus": 0},
                                        override_num_blocks=-(-len(paths) // args.batch_size))  # fmt: skip
        results = ds.map_batches(Predictor, fn_constructor_kwargs={"model": args.model, "options": options},
                                 batch_size=args.batch_size, batch_format="numpy", concurrency=args.actors,
                                 num_cpus=args.threads or 1, **ACTOR_ARGS)  # fmt: skip
        written, failed, parquet_rows = set(), [], []
        by_path = {}
        for p in paths:  # Ray reports paths without the filesystem's scheme
            by_path[p] = p
            by_path[p.lstrip("/")] = p
        for batch in results.iter_batches(batch_size=None, batch_format="pyarrow"):
            for row in batch.to_pylist():
                path = by_path.get(row["path"], row["path"])
                name = names.get(path, PurePosixPath(path).stem)
                if name in written or name in (f["image"] for f in failed):
                    raise RuntimeError(f"{path}: a result arrived twice (a Ray retry was not deduplicated)")
                if row["error"]:
                    failed.append({"image": name, "path": path, "code": row["code"], "error": row["error"]})
                    print(f"error: {path}: {row['error']}", file=sys.stderr)
                    continue
                writer.write(f"{name}.json", row["json"])
                written.add(name)
                if args.parquet:
                    parquet_rows.append(row)
    finally:
        ray.shutdown()
    elapsed = time.monotonic() - started
    missing = [p for p in paths if names[p] not in written and names[p] not in {f["image"] for f in failed}]
    for p in missing:
        failed.append({"image": names[p], "path": p, "code": "internal", "error": "no result came back"})
    if failed:
        writer.write("_failed.json", json.dumps({"failed": failed}, indent=2) + "\n")
    if args.parquet:
        _write_parquet(args.parquet, parquet_rows)
    print(f"done: {len(written)} of {len(paths)} images written to {args.output} in {elapsed:.2f} s "
          f"({len(paths) / elapsed:.3f} images/s, {args.actors} actors){' (see errors above)' if failed else ''}",
          file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


def _parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _write_parquet(target: str, rows: list[dict]) -> None:
    """One row per image that succeeded: the Predictor's columns but json, error and code."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([f for f in ROW_SCHEMA() if f.name not in ("json", "error", "code")])
    table = pa.Table.from_pylist([{f.name: r[f.name] for f in schema} for r in rows], schema=schema)
    tmp = f"{target}.tmp-{os.getpid()}"
    pq.write_table(table, tmp)
    os.replace(tmp, target)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kprcnn.ray", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--model", required=True, help="exported model (.onnx); a path every worker can open")
    ap.add_argument("--input", required=True, help="image file or folder, local or a pyarrow filesystem URI")
    ap.add_argument("--output", required=True, help="folder for <stem>.json (created), local or a URI")
    ap.add_argument("--address", default=None, help="Ray cluster (ray start --head ...); default: a local instance")
    ap.add_argument("--actors", type=int, default=1, help="actors, one Detector each (default 1)")
    ap.add_argument("--threads", type=int, default=1, help="inference threads per actor = its num_cpus (default 1)")
    ap.add_argument("--batch-size", type=int, default=4, help="images per actor task (default 4)")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local instance (default: all)")
    ap.add_argument("-o", "--option", action="append", default=[], metavar="NAME=VALUE",
                    help="a kprcnn option (kprcnn.options(): engine, threshold, size, ...)")  # fmt: skip
    ap.add_argument("--parquet", default=None, help="also write one Parquet file of every image's rows")
    args = ap.parse_args(argv)
    if args.actors < 1 or args.threads < 1 or args.batch_size < 1:
        ap.error("--actors, --threads and --batch-size must be at least 1")
    try:
        return run(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
