"""The installed package: `cmake --install` of this build, an outside CMake project (examples/detect) built against
it with find_package(kprcnn), and the installed tree moved to another prefix (README, "Install").

One module-scoped install per run (about 120 MB: the bundled ONNX Runtime and OpenVINO runtime). The model is a
fake detector (tests/python/test_cli.py): constant outputs, so the answer is known and no PyTorch export is needed.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
from test_cli import COLORMAP, OPENVINO_BUILT, fake_detector, noise_photo  # noqa: E402

BUILD = Path(os.environ.get("KPRCNN_BUILD_DIR", ""))
SOURCE = Path(os.environ.get("KPRCNN_SOURCE_DIR", Path(__file__).resolve().parents[2]))
pytestmark = pytest.mark.skipif(not (BUILD / "CMakeCache.txt").exists(), reason="KPRCNN_BUILD_DIR not configured")

BOXES = [[10, 20, 110, 220]]
KEYPOINTS = [[[30, 40, 1], [50, 60, 1], [70, 80, 1]]]


def sh(*args, cwd=None, env=None, timeout=600):
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args}: exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def clean_env(tmp):
    """No variable pointing into the build or source tree: the installed tree must find its pieces itself."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("KPRCNN_CLI", "KPRCNN_PYTHON_PATH", "KPRCNN_OPENVINO_PLUGIN", "KPRCNN_QUANTIZE_PYTHON",
                        "PYTHONPATH", "LD_LIBRARY_PATH")}
    env["XDG_CACHE_HOME"] = str(tmp / "cache")
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("package")
    prefix = tmp / "prefix"
    sh("cmake", "--install", BUILD, "--prefix", prefix)
    model = fake_detector(tmp / "fake.onnx", BOXES, [0.9], KEYPOINTS, [[5, 6, 7]], colormap=COLORMAP)
    image = noise_photo(tmp)
    return tmp, prefix, model, image


def build_example(tmp, prefix, name):
    build = tmp / name
    sh("cmake", "-S", SOURCE / "examples" / "detect", "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}",
       "-DCMAKE_BUILD_TYPE=Release")
    sh("cmake", "--build", build, "-j", "2")
    return build / "detect"


def run_example(exe, tmp, model, image, env):
    out = tmp / "annotated.png"
    out.unlink(missing_ok=True)
    proc = sh(exe, model, image, out, env=env)
    assert out.stat().st_size > 0
    return json.loads(proc.stdout), proc.stderr


def cli_predict(prefix, tmp, model, image, env, *extra):
    out = tmp / "cli-out"
    shutil.rmtree(out, ignore_errors=True)
    proc = sh(prefix / "bin" / "kprcnn", "predict", "-m", model, "-i", image, "-o", out, "--no-draw", *extra, env=env)
    return json.loads((out / "photo.json").read_text()), proc.stderr + proc.stdout


def test_installed_layout_has_no_build_paths(installed):
    tmp, prefix, _, _ = installed
    for rel in ("bin/kprcnn", "lib/libkprcnn.a", "include/kprcnn/kprcnn.h", "include/kprcnn/version.h",
                "lib/cmake/kprcnn/kprcnnConfig.cmake", "lib/cmake/kprcnn/kprcnnConfigVersion.cmake",
                "share/kprcnn/python/kprcnn_export/__main__.py", "share/kprcnn/models/face/face.pth"):
        assert (prefix / rel).is_file(), rel
    # Nothing installed refers to the source or build folder (no compiled-in paths, a relocatable config).
    needles = [str(SOURCE.resolve()).encode(), str(BUILD.resolve()).encode()]
    for path in [prefix / "bin" / "kprcnn", *(prefix / "lib" / "cmake" / "kprcnn").iterdir(),
                 *(prefix / "lib").glob("libkprcnn_openvino.so")]:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{path} contains {needle.decode()}"


def test_outside_project_predicts_like_the_cli_then_the_moved_tree_still_works(installed):
    tmp, prefix, model, image = installed
    env = clean_env(tmp)
    exe = build_example(tmp, prefix, "example-build")
    example, log = run_example(exe, tmp, model, image, env)
    assert len(example["detections"]) == 1
    # The installed plugin is found beside the installed libonnxruntime.so the example loaded.
    assert ("engine: openvino" if OPENVINO_BUILT else "engine: onnxruntime") in log, log
    cli, _ = cli_predict(prefix, tmp, model, image, env)
    assert example["detections"] == cli["detections"]
    # The constant box, scaled from the 768x512 model input back to the 450x300 photo.
    assert example["detections"][0]["box"] == pytest.approx([v * 300 / 512 for v in BOXES[0]], abs=1e-4)

    # Move the whole tree: the CLI finds its libraries, plugin and exporter relative to itself, and the package's
    # config is relocatable (a project configured against the new prefix builds and runs).
    moved = tmp / "moved" / "elsewhere"
    moved.parent.mkdir()
    prefix.rename(moved)
    try:
        for engine in ["ort"] + (["openvino"] if OPENVINO_BUILT else []):
            answer, log = cli_predict(moved, tmp, model, image, env, "--engine", engine)
            assert answer["detections"] == cli["detections"], engine
            assert f"engine: {'onnxruntime' if engine == 'ort' else 'openvino'}" in log, log
        # `kprcnn export` runs the exporter installed under share/kprcnn/python (its --help needs no torch).
        help_text = sh(moved / "bin" / "kprcnn", "export", "--help", env=env).stdout
        assert "--checkpoint" in help_text
        exe2 = build_example(tmp, moved, "example-build-moved")
        moved_answer, _ = run_example(exe2, tmp, model, image, env)
        assert moved_answer["detections"] == cli["detections"]
    finally:
        moved.rename(prefix)


def test_version_file_refuses_another_minor(installed, tmp_path):
    tmp, prefix, _, _ = installed
    project = tmp_path / "wants-9"
    project.mkdir()
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.21)\nproject(p LANGUAGES CXX)\nfind_package(kprcnn 9.0 CONFIG REQUIRED)\n")
    proc = subprocess.run(["cmake", "-S", project, "-B", tmp_path / "b", f"-DCMAKE_PREFIX_PATH={prefix}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "kprcnn" in proc.stderr
