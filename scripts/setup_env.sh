#!/usr/bin/env bash
# Sourced by scripts/test.sh and scripts/run_all.sh (and runnable alone: `bash scripts/setup_env.sh`): installs this
# project and what it needs, then puts that Python first on PATH. An installed Paddle is never replaced.
#
# Default: a virtualenv in .venv, made with PYTHON (default python3) the first time, with Paddle's CPU build; on
#   Python 3.11 at the exact versions verified here (constraints/py311-paddle3.3.1.txt).
# NO_VENV=1: the current Python (PYTHON, else `python` on PATH: AI Studio, a GPU box with paddlepaddle-gpu). Its Paddle
#   (2.6 or 3.x) is kept, with constraints/paddle2.txt for Paddle 2; only what is missing is installed, and this
#   project (editable). With no Paddle at all, the CPU build is installed (the [cpu] extra).
# EXTRAS (set by the caller): the project's extras, default "train"; scripts/test.sh adds "test". pip runs again only
# when pyproject.toml, the constraints, the Paddle found or the extras change (ernie_distill/environment.py).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${NO_VENV:-0}" != 1 ]; then
  VENV="${VENV:-$ROOT/.venv}"
  [ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV" || return 1 2>/dev/null || exit 1
  PY="$VENV/bin/python"
  own_venv=--own-venv
else
  PY="$(command -v "${PYTHON:-python}" || command -v python3)"
  own_venv=
fi
(cd "$ROOT" && "$PY" -m ernie_distill.environment setup "${EXTRAS:-train}" $own_venv) || return 1 2>/dev/null || exit 1
PATH="$(dirname "$PY"):$PATH"
export PATH
export GLOG_minloglevel="${GLOG_minloglevel:-2}"
