"""`pip install .` as a user runs it (README "Python module"), into a venv of its own, then `import kprcnn` from
outside the source tree: the installed module predicts what `kprcnn predict` writes, on both engines, and points
nowhere into the build tree. Without OpenVINO's libraries engine="auto" runs ONNX Runtime.

The venv (<build>/wheel-test/venv, Debian's Python with --system-site-packages for numpy) is kept between runs,
and so is scikit-build-core's build folder (<build>/wheel): a rerun rebuilds what changed, then reinstalls. The
venv sees the build venv's site-packages (a .pth file) for nanobind and scikit-build-core, which
--no-build-isolation builds with; OpenVINO is installed into it from the wheel scripts/fetch_openvino.sh fetched,
as make_venv.sh installs it, so the plugin's RPATH (../openvino/libs from site-packages/kprcnn) resolves there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import BUILD_DIR, OPENVINO_BUILT, SOURCE_DIR, THRESHOLD

WORK = BUILD_DIR / "wheel-test"
VENV = WORK / "venv"
PYTHON = VENV / "bin" / "python"


def run(*cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=1800, **kw)
    assert proc.returncode == 0, f"{cmd}: exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def clean_env():
    """The user's environment: no PYTHONPATH into the source or build tree, no plugin override."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KPRCNN_OPENVINO_PLUGIN")}
    # One compile per core (ninja's default is cores + 2; on a shared 2-core machine that starves other work).
    return dict(env, PYTHONNOUSERSITE="1", CMAKE_BUILD_PARALLEL_LEVEL=env.get("CMAKE_BUILD_PARALLEL_LEVEL",
                                                                              str(os.cpu_count() or 1)))


@pytest.fixture(scope="module")
def installed() -> Path:
    """site-packages/kprcnn of the test venv after `pip install .`."""
    if not PYTHON.exists():
        run("/usr/bin/python3", "-m", "venv", "--system-site-packages", VENV)
    site = Path(run(PYTHON, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    env = clean_env()
    if OPENVINO_BUILT and not (site / "openvino").is_dir():
        wheels = sorted((SOURCE_DIR / "build" / "third-party" / "openvino").glob("openvino-*.whl"))
        assert wheels, "no OpenVINO wheel: run scripts/setup.sh"
        run(PYTHON, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", wheels[-1], env=env)
    # After OpenVINO (pip would take the build venv's for installed already): the build tools, through a .pth.
    build_site = Path(sysconfig.get_paths()["purelib"])  # this interpreter is the build venv's (ctest)
    (site / "kprcnn-build-tools.pth").write_text(f"{build_site}\n")
    run(PYTHON, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-build-isolation", "--no-deps",
        "--force-reinstall", f"--config-settings=build-dir={BUILD_DIR / 'wheel'}", ".", cwd=SOURCE_DIR, env=env)
    return site / "kprcnn"


def test_installed_files_and_rpaths(installed):
    names = sorted(p.name for p in installed.iterdir() if p.name != "__pycache__")
    module = next(installed.glob("_kprcnn*.so"))
    assert "__init__.py" in names and "libonnxruntime.so.1" in names, names
    assert ("libkprcnn_openvino.so" in names) == OPENVINO_BUILT, names
    for lib in [module, *installed.glob("libkprcnn_openvino.so")]:
        dynamic = run("readelf", "-d", lib).stdout
        assert str(BUILD_DIR) not in dynamic and str(SOURCE_DIR) not in dynamic, dynamic
        assert "RUNPATH" in dynamic or "RPATH" in dynamic, dynamic
    # The bundled ONNX Runtime, system libraries (libjpeg, libpng, zlib, libstdc++) and nothing else.
    ldd = run("ldd", module).stdout
    assert f"libonnxruntime.so.1 => {installed}/libonnxruntime.so.1" in ldd, ldd
    resolved = [line.split("=>")[1].split()[0] for line in ldd.splitlines() if "=>" in line]
    assert all(p.startswith((str(installed), "/lib", "/usr/lib")) for p in resolved), ldd


def predict_script(model: Path, images: list[Path], engine: str) -> str:
    return f"""
import json, sys, kprcnn
detector = kprcnn.Detector({str(model)!r}, engine={engine!r}, no_cache=True)
docs = {{p: detector.predict(p, threshold={THRESHOLD}).to_json() for p in {[str(p) for p in images]!r}}}
print(json.dumps({{"file": kprcnn.__file__, "engine": detector.load_report["engine"], "docs": docs}}))
"""


@pytest.mark.parametrize("engine", ["ort", pytest.param("openvino", marks=pytest.mark.skipif(
    not OPENVINO_BUILT, reason="no OpenVINO"))])
def test_installed_module_predicts_as_the_cli(installed, model, scenes, cli_documents, engine, tmp_path):
    images = [scenes["faces_a"], scenes["faces_jpeg"]]
    proc = run(PYTHON, "-c", predict_script(model, images, engine), cwd=tmp_path, env=clean_env())
    out = json.loads(proc.stdout)
    assert Path(out["file"]).parent == installed and out["engine"] == engine
    for path in images:
        assert out["docs"][str(path)] == cli_documents[engine, path.stem], path


@pytest.mark.skipif(not OPENVINO_BUILT, reason="no OpenVINO")
def test_without_openvino_auto_runs_onnx_runtime(installed, model, scenes, cli_documents, tmp_path):
    """The installed package copied where no openvino/libs is beside it: the plugin cannot load, and "auto"
    falls back to ONNX Runtime (the same document as --engine ort)."""
    shutil.copytree(installed, tmp_path / "alone" / "kprcnn")
    script = f"""
import json, sys
sys.path.insert(0, {str(tmp_path / 'alone')!r})
import kprcnn
detector = kprcnn.Detector({str(model)!r}, no_cache=True)
print(json.dumps({{"engine": detector.load_report["engine"], "note": detector.load_report["engine_note"],
                  "reason": kprcnn.openvino_unavailable_reason(),
                  "doc": detector.predict({str(scenes['faces_a'])!r}, threshold={THRESHOLD}).to_json()}}))
"""
    out = json.loads(run(sys.executable, "-c", script, cwd=tmp_path, env=clean_env()).stdout)
    assert out["engine"] == "ort", out
    assert "cannot load the OpenVINO plugin" in out["reason"], out["reason"]
    assert out["doc"] == cli_documents["ort", "faces_a"]
