#!/usr/bin/env bash
# Create .venv and install ppedu with the given extras (e.g. `lab` or `lab,test`). Idempotent.
# CPU machines get torch 2.13.0 (a CPU wheel on the course machines); a GPU machine whose Python
# already has CUDA torch keeps it (the venv sees system site-packages).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-lab}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv --system-site-packages .venv
fi
VPY=.venv/bin/python
if ! "$VPY" -c "import torch" 2>/dev/null; then
  echo "==> installing torch 2.13.0 (CPU)"
  "$VPY" -m pip install -q "torch==2.13.0"
fi
stamp=".venv/.ppedu-installed-$extras-$(sha1sum pyproject.toml | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  echo "==> installing ppedu[$extras]"
  "$VPY" -m pip install -q --upgrade pip
  "$VPY" -m pip install -q -e ".[$extras]"
  "$VPY" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ppedu)" >/dev/null
  touch "$stamp"
fi
# JupyterLab defaults for the course: no "get notified about official Jupyter news?" popup and no
# update check (settings overrides in the venv's app settings; a user's own settings still win).
settings=".venv/share/jupyter/lab/settings/overrides.d"
mkdir -p "$settings"
cp scripts/jupyterlab_overrides.json "$settings/ppedu.json"
