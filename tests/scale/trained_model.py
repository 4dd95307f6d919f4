"""The trained face model for the scale tests and bench/ray_batch.py: the same export tests/model and
tests/python_module make, under the same store key. Store keys hash torch's version and build/venv-scale has no
torch, so Debian's Python (KPRCNN_PYTHON) computes the key and exports when the store lacks it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("KPRCNN_SOURCE_DIR", Path(__file__).resolve().parent.parent.parent))
DEBIAN_PYTHON = os.environ.get("KPRCNN_PYTHON", "/usr/bin/python3")

_CODE = """
import shutil, subprocess, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1] + "/tests/model")
from model_store import MODEL, TRAINED_CHECKPOINT, TRAINED_COLORMAP, stored_folder, trained_key
def export(folder):
    shutil.copyfile(TRAINED_CHECKPOINT, folder / TRAINED_CHECKPOINT.name)
    shutil.copyfile(TRAINED_COLORMAP, folder / TRAINED_COLORMAP.name)
    subprocess.run([sys.executable, "-m", "kprcnn_export", str(folder), "-o", str(folder / MODEL), "--no-verify"],
                   check=True, capture_output=True, timeout=1200)
print(stored_folder(trained_key(), export) / MODEL)
"""


def trained_model(env: dict | None = None) -> Path:
    """The exported trained face model's path (exports it into KPRCNN_MODEL_CACHE once)."""
    env = dict(env or os.environ, PYTHONPATH=str(SOURCE_DIR / "python"))
    r = subprocess.run([DEBIAN_PYTHON, "-c", _CODE, str(SOURCE_DIR)], capture_output=True, text=True, env=env,
                       timeout=1500)  # fmt: skip
    if r.returncode != 0:
        raise RuntimeError(f"exporting the trained face model failed:\n{r.stderr[-3000:]}")
    return Path(r.stdout.strip().splitlines()[-1])
