# Sourced by scripts/test.sh and scripts/run_all.sh (and runnable alone: `bash scripts/setup_env.sh`): makes sure this
# project and what it needs are installed, then puts that Python first on PATH. An installed Paddle is never replaced.
#
# Default: a virtualenv in .venv (PYTHON chooses the interpreter, default python3) with Paddle's CPU build; on
#   Python 3.11 with the exact versions verified here (constraints/py311-paddle3.3.1.txt).
# NO_VENV=1: the current Python (AI Studio, a GPU box with paddlepaddle-gpu). The installed Paddle (2.6 or 3.x) is
#   kept, with constraints/paddle2.txt for Paddle 2; only what is missing is installed, and the project itself
#   (editable). With no Paddle at all, the CPU build is installed (the [cpu] extra).
# EXTRAS (set by the caller): the project's extras to install, default "train"; scripts/test.sh adds "test".
# Installs again only when pyproject.toml, the constraints, the extras or the installed Paddle change.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRAS="${EXTRAS:-train}"

if [ "${NO_VENV:-0}" != 1 ]; then
  VENV="${VENV:-$ROOT/.venv}"
  [ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV" || return 1 2>/dev/null || exit 1
  PY="$VENV/bin/python"
  stamp="$VENV/.setup.sha256"
else
  PY="$(command -v python || command -v python3)"
  mkdir -p "$ROOT/tmp"
  stamp="$ROOT/tmp/.setup-$("$PY" -c 'import sys; print(sys.prefix)' | sha256sum | cut -c1-16).sha256"
fi

constraints=()
PADDLE_FOUND=""
if [ "${NO_VENV:-0}" != 1 ]; then
  EXTRAS="cpu,$EXTRAS"  # the venv is ours: Paddle's CPU build, at the verified version on Python 3.11
  if [ "$("$PY" -c 'import sys; print(sys.version_info[:2] == (3, 11))')" = True ]; then
    constraints=(-c "$ROOT/constraints/py311-paddle3.3.1.txt")
  fi
else
  # Which Paddle is installed ("paddlepaddle-gpu 2.6.2")? Read from package metadata: nothing is imported. It is kept.
  PADDLE_FOUND="$(cd "$ROOT" && "$PY" -m ernie_distill.environment paddle)"
  case "$PADDLE_FOUND" in
    *" 2."*) constraints=(-c "$ROOT/constraints/paddle2.txt") ;;
    "") EXTRAS="cpu,$EXTRAS" ;;
  esac
fi

wanted="$(cat "$ROOT/pyproject.toml" "$ROOT"/constraints/*.txt | sha256sum | cut -d' ' -f1) [$EXTRAS] $PADDLE_FOUND"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing this project with [$EXTRAS] into $("$PY" -c 'import sys; print(sys.prefix)') (minutes, once);" \
    "${PADDLE_FOUND:-Paddle: the CPU build}${PADDLE_FOUND:+ is kept}" >&2
  if ! "$PY" -m pip install -q -e "$ROOT[$EXTRAS]" "${constraints[@]}" > "$stamp.log" 2>&1; then
    grep -v "is ignored: it is neither" "$stamp.log" >&2
    echo "error: installing failed (pip's output above, also in $stamp.log)" >&2
    return 1 2>/dev/null || exit 1
  fi
  echo "$wanted" > "$stamp"
fi
PATH="$(dirname "$PY"):$PATH"
export PATH
export GLOG_minloglevel="${GLOG_minloglevel:-2}"
