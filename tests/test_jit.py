"""A read-only container: with no writable numba cache anywhere, the compiled code is built in memory, with one
warning, and predictions are unchanged."""
import json
import os
import shutil
import subprocess
import sys

from conftest import ROOT

PREDICT = """
import json, sys
from ernie_distill import Predictor
print(json.dumps([Predictor(sys.argv[1], backend)(["这家酒店服务很好", "太差了"]) for backend in ("numba", "onnx")]))
"""


def read_only_copy(tmp_path):
    """The package where numba cannot cache beside the code: each __pycache__ is a file, not a folder."""
    copy = tmp_path / "site"
    shutil.copytree(os.path.join(ROOT, "ernie_distill"), copy / "ernie_distill",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for folder, _, _ in os.walk(copy / "ernie_distill"):
        open(os.path.join(folder, "__pycache__"), "w").close()
    return copy


def test_no_writable_cache_compiles_in_memory_with_one_warning(exported_student, tmp_path):
    nowhere = "/dev/null/cache"  # under a file: no folder can be made there, not even by root
    env = {**os.environ, "PYTHONPATH": str(read_only_copy(tmp_path)), "NUMBA_CACHE_DIR": nowhere,
           "XDG_CACHE_HOME": nowhere, "HOME": "/dev/null", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", PREDICT, exported_student], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("numba can write no cache here") == 1 and "Traceback" not in done.stderr
    on_numba, on_onnx = json.loads(done.stdout)
    expected = json.loads(subprocess.run([sys.executable, "-c", PREDICT, exported_student], capture_output=True,
                                         text=True, check=True, cwd=ROOT, timeout=300).stdout)
    assert [r["label"] for r in on_numba] == [r["label"] for r in expected[0]] == [r["label"] for r in on_onnx]
    assert on_numba == expected[0]
