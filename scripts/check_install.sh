#!/usr/bin/env bash
# The install paths a user takes, checked end to end in fresh virtualenvs under tmp/check-install (CI runs this):
# 1. The AI Studio floor: Python 3.10 with paddlepaddle 2.6.2 installed first (a stand-in for AI Studio's preinstalled
#    GPU build) and Jupyter. The notebook, set up only by its own first cell, runs QUICK; Paddle must be the same
#    before and after; then the README's commands for such an environment and QUICK=1 NO_VENV=1 run_all.sh.
# 2. Serving without Paddle: `pip install ".[deploy]"` from a built wheel into an empty venv; its commands and Python
#    API, run from outside the checkout, give the floor's student export the floor's own predictions.
# The exact versions come from constraints/py310-paddle2.6.2.txt (PIP_CONSTRAINT), so a run is reproducible.
#   bash scripts/check_install.sh      # about 10 minutes; FLOOR_PYTHON picks the Python 3.10 interpreter
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
WORK="$ROOT/tmp/check-install"
FLOOR_PYTHON="${FLOOR_PYTHON:-$( (pyenv prefix 3.10.13 2>/dev/null || true) | sed 's|$|/bin/python|')}"
[ -x "$FLOOR_PYTHON" ] || FLOOR_PYTHON="$(command -v python3.10 || true)"
if [ ! -x "$FLOOR_PYTHON" ]; then
  echo "error: no Python 3.10 interpreter found: set FLOOR_PYTHON=/path/to/python3.10" >&2
  exit 2
fi
if [ -e "$WORK" ] && [ ! -e "$WORK/.made-by-check-install" ]; then
  echo "error: $WORK exists and was not made by this script: move it away" >&2
  exit 2
fi
rm -rf "$WORK"
mkdir -p "$WORK"
touch "$WORK/.made-by-check-install"
quiet() { "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
export PIP_CONSTRAINT="$ROOT/constraints/py310-paddle2.6.2.txt" PIP_DISABLE_PIP_VERSION_CHECK=1
elapsed() { echo "== $1 ($SECONDS s)"; }

# --- 1. The AI Studio floor --------------------------------------------------------------------------------------------
FLOOR="$WORK/py310-paddle2.6.2"
"$FLOOR_PYTHON" -m venv "$FLOOR"
quiet "$FLOOR/bin/python" -m pip install -q paddlepaddle==2.6.2 ipykernel nbclient nbformat
paddle_before="$("$FLOOR/bin/python" -m pip list --format=freeze | grep -i '^paddlepaddle')"
elapsed "floor: Python $("$FLOOR/bin/python" -V | cut -d' ' -f2), $paddle_before installed first"

# The notebook through a real kernel of that Python, set up only by its own first cell (QUICK run, fixture data).
QUICK=1 DATA_DIR="$ROOT/tests/fixtures/easy" TRAIN_ROWS=120 DEV_ROWS=40 OUTPUT_DIR="$WORK/notebook-run" \
  "$FLOOR/bin/python" - "$ROOT" <<'EOF'
import os, sys
import nbformat
from nbclient import NotebookClient

root = sys.argv[1]
notebook = nbformat.read(os.path.join(root, "run_all.ipynb"), as_version=4)
NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": root}}).execute()
print(notebook.cells[2].outputs[-1].get("text", "") if notebook.cells[2].outputs else "", end="")
EOF
elapsed "floor: the notebook ran through, set up by its first cell"
paddle_after="$("$FLOOR/bin/python" -m pip list --format=freeze | grep -i '^paddlepaddle')"
if [ "$paddle_before" != "$paddle_after" ]; then
  echo "error: the set-up replaced Paddle: $paddle_before before, $paddle_after after" >&2
  exit 1
fi

# The README's commands for an environment with its own Paddle, then the QUICK chain.
(
  export PATH="$FLOOR/bin:$PATH"
  NO_VENV=1 bash scripts/setup_env.sh
  QUICK=1 NO_VENV=1 OUTPUT_DIR="$WORK/quick" bash scripts/run_all.sh > "$WORK/quick.log" 2>&1 \
    || { tail -n 30 "$WORK/quick.log"; exit 1; }
)
[ "$("$FLOOR/bin/python" -m pip list --format=freeze | grep -i '^paddlepaddle')" = "$paddle_before" ] \
  || { echo "error: setup_env.sh replaced Paddle" >&2; exit 1; }
elapsed "floor: QUICK run_all.sh finished with $paddle_before kept"

# The floor's teacher export (Paddle 2's .pdmodel) gives the same answers under Paddle 3 (the project's .venv).
if [ -x "$ROOT/.venv/bin/python" ]; then
  teacher=(predict.py --model_dir "$WORK/quick/export/teacher" --backend paddle --text "这家酒店服务很好" --text "太差了")
  cmp <("$FLOOR/bin/python" "${teacher[@]}") <("$ROOT/.venv/bin/python" "${teacher[@]}")
  elapsed "the floor's teacher export answers alike under $("$ROOT/.venv/bin/python" -m ernie_distill.environment paddle)"
fi

# --- 2. Serving without Paddle, from a wheel, outside the checkout ---------------------------------------------------
DEPLOY="$WORK/deploy"
"$FLOOR_PYTHON" -m venv "$DEPLOY"
mkdir "$WORK/src"  # the wheel is built from a copy: setuptools writes build/ into the tree it builds
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$WORK/src"
quiet "$DEPLOY/bin/python" -m pip wheel -q --no-deps -w "$WORK/wheel" "$WORK/src"
quiet "$DEPLOY/bin/python" -m pip install -q "$(ls "$WORK"/wheel/ernie_gram_distill-*.whl)[deploy]"
if "$DEPLOY/bin/python" -c "import paddle" 2>/dev/null; then echo "error: the deploy install brought Paddle" >&2; exit 1; fi
student="$WORK/quick/export/student-hard"
texts=(--text "这家酒店服务很好" --text "太差了，再也不来了")
"$FLOOR/bin/python" predict.py --model_dir "$student" --backend paddle "${texts[@]}" > "$WORK/floor-paddle.jsonl"
(
  cd "$WORK"  # outside the checkout: only the installed package
  for backend in numba onnx; do
    "$DEPLOY/bin/ernie-distill-predict" --model_dir "$student" --backend "$backend" "${texts[@]}" > "deploy-$backend.jsonl"
  done
  "$DEPLOY/bin/python" - "$student" "floor-paddle.jsonl" <<'EOF'
import json, sys
from ernie_distill import Predictor

student, expected_file = sys.argv[1:]
expected = [json.loads(line) for line in open(expected_file, encoding="utf-8")]
got = Predictor(student)([e["text"] for e in expected])
for file in ("deploy-numba.jsonl", "deploy-onnx.jsonl"):
    got_file = [json.loads(line) for line in open(file, encoding="utf-8")]
    assert [g["label"] for g in got_file] == [e["label"] for e in expected], (file, got_file, expected)
for g, e in zip(got, expected):
    assert g["label"] == e["label"] and abs(g["score"] - e["score"]) < 1e-4, (g, e)
print("deploy venv: the floor's student export gives the floor's Paddle predictions on numba, onnx and the API")
EOF
  "$DEPLOY/bin/ernie-distill-serve" --help > /dev/null
)
elapsed "deploy: ernie-distill-predict, ernie-distill-serve and the Python API work without Paddle"
echo "check_install.sh: all install paths passed"
