#!/usr/bin/env bash
# A second venv for the scale-out integrations (README "Scaling out"; tests/scale, label `scale`): Ray Data
# (kprcnn.ray) and Triton's Python client + model-config protobuf classes (kprcnn triton-repo, kprcnn.triton).
# Separate from build/venv because Ray pulls numpy 2, pandas 3 and pyarrow, which must not shadow Debian's numpy
# that Debian's torch in build/venv was built against. Same interpreter (Debian's python3.11), so the module built
# in build/python imports here too. No system site packages. Idempotent: seconds when the pins are installed.
# Usage: scripts/make_scale_venv.sh VENV_DIR
set -euo pipefail
venv=${1:?usage: make_scale_venv.sh VENV_DIR}
RAY_VERSION=2.60.0
TRITONCLIENT_VERSION=2.73.0
PYTEST_VERSION=9.2.0
if [[ ! -x $venv/bin/python ]]; then
  /usr/bin/python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('ray') != '$RAY_VERSION' or m.version('tritonclient') != '$TRITONCLIENT_VERSION' or m.version('pytest') != '$PYTEST_VERSION')" 2>/dev/null; then
  echo "setup: pip install ray[data]==$RAY_VERSION tritonclient[http,grpc]==$TRITONCLIENT_VERSION into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "ray[data]==$RAY_VERSION" \
    "tritonclient[http,grpc]==$TRITONCLIENT_VERSION" "pytest==$PYTEST_VERSION"
fi
