# Sourced by scripts/test.sh and scripts/run_all.sh: a virtualenv in .venv with requirements.txt and this project
# (`pip install -e .`, so every script and `python -m pytest` import the package without path tricks) installed.
# Reinstalls only when requirements.txt or pyproject.toml changes. Set PYTHON to choose the interpreter (Python 3.11 is verified).
# NO_VENV=1 uses the current environment as it is (AI Studio, or a GPU machine with paddlepaddle-gpu installed).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "${NO_VENV:-0}" != 1 ]; then
  VENV="${VENV:-$ROOT/.venv}"
  if [ ! -x "$VENV/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$VENV"
  fi
  stamp="$VENV/.requirements.sha256"
  wanted="$(cat "$ROOT/requirements.txt" "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    echo "installing requirements into $VENV (about a minute, once)" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1
    "$VENV/bin/python" -m pip install -q -r "$ROOT/requirements.txt" 2> >(grep -v "is ignored: it is neither" >&2)
    "$VENV/bin/python" -m pip install -q --no-deps -e "$ROOT" > "$VENV/install-project.log" 2>&1 \
      || { cat "$VENV/install-project.log" >&2; exit 1; }
    echo "$wanted" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
fi
export GLOG_minloglevel="${GLOG_minloglevel:-2}"
