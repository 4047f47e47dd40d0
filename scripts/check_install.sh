#!/usr/bin/env bash
# The install paths a user takes, checked end to end in fresh virtualenvs under tmp/check-install (CI runs this):
# 1. The AI Studio floor: Python 3.10 with paddlepaddle 2.6.2 installed first (a stand-in for AI Studio's preinstalled
#    GPU build) and Jupyter. The notebook, set up only by its own first cell, runs QUICK; Paddle must be the same
#    before and after; then the README's commands for such an environment and QUICK=1 NO_VENV=1 run_all.sh; then
#    `pip install -r requirements.txt` into a fresh venv with that Paddle: Paddle kept, the chain imports.
# 2. Serving without Paddle, on the newest Python supported (3.13: DEPLOY_PYTHON, else the floor's): `pip install
#    ".[deploy]"` from a built wheel into an empty venv; its commands and Python API, run from outside the checkout,
#    give the floor's student export the floor's own predictions.
# 3. Python 3.12 and 3.13: the project's own .venv way (setup_env.sh; 3.12 at constraints/py312-paddle3.3.1.txt, 3.13
#    with PaddleNLP installed without paddle2onnx), then the QUICK chain (run_all.sh) on each.
# The exact versions come from constraints/py310-paddle2.6.2.txt (PIP_CONSTRAINT), so a run is reproducible.
#   bash scripts/check_install.sh      # about 9 minutes on 2 cores; FLOOR_PYTHON picks the Python 3.10 interpreter
#   FLOOR_PYTHON=python3.11 FLOOR_PADDLE=3.3.1 bash scripts/check_install.sh   # the same with Paddle 3 preinstalled
# (a Python and Paddle without a constraints/pyPYVER-paddleVERSION.txt get pyproject's ranges, as a user would)
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
FLOOR_PADDLE="${FLOOR_PADDLE:-2.6.2}"
DEPLOY_PYTHON="${DEPLOY_PYTHON:-$( (pyenv prefix 3.13.0 2>/dev/null || true) | sed 's|$|/bin/python|')}"
[ -x "$DEPLOY_PYTHON" ] || DEPLOY_PYTHON="$(command -v python3.13 || echo "$FLOOR_PYTHON")"
LOCK="$ROOT/constraints/py$("$FLOOR_PYTHON" -c 'import sys; print("%d%d" % sys.version_info[:2])')-paddle$FLOOR_PADDLE.txt"
if [ -e "$WORK" ] && [ ! -e "$WORK/.made-by-check-install" ]; then
  echo "error: $WORK exists and was not made by this script: move it away" >&2
  exit 2
fi
rm -rf "$WORK"
mkdir -p "$WORK"
touch "$WORK/.made-by-check-install"
quiet() { "$@" 2> >(grep -v "is ignored: it is neither" >&2); }
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ -f "$LOCK" ]; then
  export PIP_CONSTRAINT="$LOCK"
else  # a combination not verified before: pyproject's ranges, as a user gets them (freeze the result into $LOCK)
  echo "== no $(basename "$LOCK"): resolving the ranges of pyproject.toml, as a user would"
fi
elapsed() { echo "== $1 ($SECONDS s)"; }

# --- 1. The AI Studio floor --------------------------------------------------------------------------------------------
FLOOR="$WORK/$(basename "$LOCK" .txt)"
"$FLOOR_PYTHON" -m venv "$FLOOR"
quiet "$FLOOR/bin/python" -m pip install -q "paddlepaddle==$FLOOR_PADDLE" ipykernel nbclient nbformat
paddle_before="$("$FLOOR/bin/python" -m pip list --format=freeze | grep -i '^paddlepaddle')"
elapsed "floor: Python $("$FLOOR/bin/python" -V | cut -d' ' -f2), $paddle_before installed first"

# The notebook through a real kernel of that Python, set up only by its own first cell (QUICK run, fixture data).
QUICK=1 DATA_DIR="$ROOT/tests/fixtures/easy" TRAIN_ROWS=120 DEV_ROWS=40 OUTPUT_DIR="$WORK/notebook-run" \
  "$FLOOR/bin/python" - "$ROOT" "$WORK/kernels" <<'EOF'
import os, sys
import nbformat
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

root, kernels = sys.argv[1:]
write_kernel_spec(os.path.join(kernels, "floor"))  # a kernel of this very interpreter, whatever else is installed
manager = KernelManager(kernel_name="floor", kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernels]))
notebook = nbformat.read(os.path.join(root, "run_all.ipynb"), as_version=4)
notebook.cells.insert(0, nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
NotebookClient(notebook, km=manager, timeout=900, resources={"metadata": {"path": root}}).execute()
assert os.path.samefile(notebook.cells[0].outputs[0]["text"].strip(), sys.executable), "the kernel ran another Python"
print("".join(output.get("text", "") for output in notebook.cells[3].outputs), end="")  # the set-up cell's lines
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
  "$FLOOR/bin/python" "${teacher[@]}" > "$WORK/teacher-floor.jsonl"
  "$ROOT/.venv/bin/python" "${teacher[@]}" > "$WORK/teacher-venv.jsonl"
  if [ "$(wc -l < "$WORK/teacher-floor.jsonl")" != 2 ] || ! cmp "$WORK/teacher-floor.jsonl" "$WORK/teacher-venv.jsonl"; then
    echo "error: the floor's teacher export answers differently under the project's .venv" >&2
    exit 1
  fi
  elapsed "the floor's teacher export answers alike under $("$ROOT/.venv/bin/python" -m pip list --format=freeze | grep -i '^paddlepaddle')"
fi

# The course's way: `pip install -r requirements.txt` in a fresh environment with its own Paddle keeps that Paddle,
# the chain imports (the package first, as every script does: it imports zlib before Paddle 2 can clash with it) and
# run_glue.py starts.
REQUIREMENTS="$WORK/requirements"
"$FLOOR_PYTHON" -m venv "$REQUIREMENTS"
quiet "$REQUIREMENTS/bin/python" -m pip install -q "paddlepaddle==$FLOOR_PADDLE"
quiet "$REQUIREMENTS/bin/python" -m pip install -q -r requirements.txt
[ "$("$REQUIREMENTS/bin/python" -m pip list --format=freeze | grep -i '^paddlepaddle')" = "$paddle_before" ] \
  || { echo "error: pip install -r requirements.txt replaced Paddle" >&2; exit 1; }
"$REQUIREMENTS/bin/python" -c "import ernie_distill, paddle, paddlenlp, paddle2onnx, onnxruntime, numba"
"$REQUIREMENTS/bin/python" run_glue.py --help > /dev/null
elapsed "floor: pip install -r requirements.txt kept $paddle_before; run_glue.py --help works"

# --- 2. Serving without Paddle, from a wheel, outside the checkout ---------------------------------------------------
DEPLOY="$WORK/deploy"
"$DEPLOY_PYTHON" -m venv "$DEPLOY"
mkdir "$WORK/src"  # the wheel is built from a copy: setuptools writes build/ into the tree it builds
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$WORK/src"
quiet "$DEPLOY/bin/python" -m pip wheel -q --no-deps -w "$WORK/wheel" "$WORK/src"
deploy_lock=(); [ "$DEPLOY_PYTHON" = "$FLOOR_PYTHON" ] || deploy_lock=(env -u PIP_CONSTRAINT)  # (the floor's pins are 3.10's)
quiet "${deploy_lock[@]}" "$DEPLOY/bin/python" -m pip install -q "$(ls "$WORK"/wheel/ernie_gram_distill-*.whl)[deploy]"
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
from ernie_distill.serving.page import load_page
assert b"<textarea" in load_page()[0], "the wheel lacks serve.py's page"  # (package data)
EOF
  "$DEPLOY/bin/ernie-distill-serve" --help > /dev/null
)
elapsed "deploy (Python $("$DEPLOY/bin/python" -V | cut -d' ' -f2)): ernie-distill-predict, ernie-distill-serve and the Python API work without Paddle"
# --- 3. Python 3.12 and 3.13: the project's own venv way (3.12 at constraints/py312-paddle3.3.1.txt, without which pip
# backtracks for long; 3.13 with PaddleNLP installed without the requirements that have no 3.13 build), then QUICK
for version in 3.12.1 3.13.0; do
  python="$( (pyenv prefix "$version" 2>/dev/null || true) | sed 's|$|/bin/python|')"
  [ -x "$python" ] || python="$(command -v "python${version%.*}" || true)"
  if [ ! -x "$python" ]; then echo "== no Python $version found: its install is not checked"; continue; fi
  env -u PIP_CONSTRAINT VENV="$WORK/py$version" PYTHON="$python" QUICK=1 OUTPUT_DIR="$WORK/quick$version" \
    bash scripts/run_all.sh > "$WORK/quick$version.log" 2>&1 || { tail -n 30 "$WORK/quick$version.log"; exit 1; }
  elapsed "Python $version: the project's own venv installed and QUICK run_all.sh finished"
done
echo "check_install.sh: all install paths passed"
