#!/usr/bin/env bash
# Create .venv and install hf-quicktune with everything the demo and the tests need.
# Idempotent: a second run with unchanged pyproject/constraints returns in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=.venv
STAMP=$VENV/.hfqt-installed
WANT=$(cat pyproject.toml constraints.txt tools/setup_venv.sh tools/_hfqt_torchvision_fix.py | sha256sum | cut -d' ' -f1)

# The Space's browser test (tests/space) drives Debian's Chromium with Playwright (Playwright's own
# browser download needs network access CI does not have). Installed once; skipped when present.
CHROMIUM=${HFQT_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  echo "[setup] installing chromium for the Space's browser test (apt-get)"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium; } >/dev/null; then
    echo "[setup] could not install chromium: the browser test will fail until $CHROMIUM exists" >&2
  fi
fi

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
echo "[setup] installing hf-quicktune and its dependencies into $VENV (first time: a few minutes)"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
# torch and torchvision are pinned through constraints.txt: torch 2.13.0 is the local CPU build
# here, and an unpinned torchvision would pull a newer torch plus GBs of CUDA wheels.
"$VENV/bin/python" -m pip install -q -c constraints.txt "torch==2.13.0" "torchvision==0.28.0"
"$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[dev]"
# The bench's DEHB and Syne Tune peers without their declared dependencies (numpy<2; xgboost + NCCL): the
# dependencies their used code imports come with the bench/dev extras (pyproject.toml).
"$VENV/bin/python" -m pip install -q -c constraints.txt --no-deps "dehb==0.1.2" "syne-tune==0.16.0"

# CPU-only machines get torchvision's CUDA build, whose import crashes (pytorch/vision#9085).
# Install the import hook documented in tools/_hfqt_torchvision_fix.py only in that case.
SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -f "$SITE/_hfqt_torchvision_fix.pth" "$SITE/_hfqt_torchvision_fix.py"
if ! ERR=$("$VENV/bin/python" -c "import torchvision" 2>&1); then
  if echo "$ERR" | grep -q "torchvision::nms does not exist"; then
    echo "[setup] torchvision's compiled ops do not load against CPU torch: installing the import hook"
    cp tools/_hfqt_torchvision_fix.py "$SITE/"
    echo "import _hfqt_torchvision_fix; _hfqt_torchvision_fix.install()" > "$SITE/_hfqt_torchvision_fix.pth"
  else
    echo "$ERR" >&2
    echo "[setup] import torchvision failed for an unexpected reason (above)." >&2
    exit 1
  fi
fi
"$VENV/bin/python" -c "import torchvision, timm" || { echo "[setup] import timm failed" >&2; exit 1; }
echo "$WANT" > "$STAMP"
echo "[setup] done"
