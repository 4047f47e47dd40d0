"""The ONNX Runtime and numba paths of predict.py and serve.py never import Paddle or PaddleNLP."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import requests

from conftest import ROOT
from server_launcher import running_server

TEXTS = ["房间很干净，服务也好", "太差了，再也不来"]


def without_paddle(tmp_path):
    """An environment in which `import paddle` and `import paddlenlp` fail, as in a venv without them."""
    blocker = tmp_path / "no_paddle"
    for name in ("paddle", "paddlenlp", "paddle2onnx"):
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(f"raise ImportError('{name} must not be imported here')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), ROOT])}


@pytest.mark.parametrize("backend", ["onnx", None])  # None: the default, auto, which is numba for a student
def test_predict_and_serve_run_without_paddle(exported_student, tmp_path, backend):
    env = without_paddle(tmp_path)
    texts = [arg for text in TEXTS for arg in ("--text", text)]
    chosen = ["--backend", backend] if backend else []
    alone = subprocess.run([sys.executable, "predict.py", "--model_dir", exported_student, *chosen, *texts],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert alone.returncode == 0, alone.stderr
    full = subprocess.run([sys.executable, "predict.py", "--model_dir", exported_student, "--backend", "paddle",
                           *texts], cwd=ROOT, capture_output=True, text=True, timeout=120)
    as_json = [json.loads(line) for line in alone.stdout.splitlines()]
    assert [r["label"] for r in as_json] == [json.loads(line)["label"] for line in full.stdout.splitlines()]
    with running_server(exported_student, *chosen, env=env) as url:
        served = requests.post(f"{url}/predict", json={"texts": TEXTS}, timeout=30).json()["results"]
        assert requests.get(f"{url}/health", timeout=30).json()["backend"] == (backend or "numba")
    assert served == as_json


def test_a_student_with_only_a_paddle_program_says_what_its_export_lacks(exported_student, tmp_path):
    copy = tmp_path / "export"  # an export with neither the kernel nor an ONNX model: auto falls back to Paddle
    shutil.copytree(exported_student, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    for name in ("inference.npz", "inference.onnx"):
        del manifest["files"][name]
        os.remove(copy / name)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    done = subprocess.run([sys.executable, "predict.py", "--model_dir", str(copy), "--text", "好"], cwd=ROOT,
                          env=without_paddle(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: {copy} has neither the compiled kernel's inference.npz nor an ONNX model")


@pytest.mark.parametrize("module", ["numba", "numpy"])  # numba: imported by the Predictor; numpy: at import
def test_a_missing_dependency_is_one_error_line_naming_the_install_command(exported_student, tmp_path, module):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / f"{module}.py").write_text(f'raise ModuleNotFoundError("No module named {module!r}", name={module!r})\n')
    done = subprocess.run([sys.executable, "predict.py", "--model_dir", exported_student, "--text", "好"], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(blocker)}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: {module} is not installed in this Python ({sys.executable}): pip install "
                                  f'"{ROOT}[deploy]" brings it'), done.stderr


def test_the_kernels_first_compile_says_so_once_with_its_time(exported_student, tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}  # an empty cache: a fresh machine

    def predict():
        done = subprocess.run([sys.executable, "predict.py", "--model_dir", exported_student, "--text", "好"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stderr

    first = predict()
    assert first.count("compiling the student kernel (once; ~10 s)...") == 1 and first.count("compiled in ") == 1
    assert first.index("compiling the student kernel") < first.index("compiled in ")
    assert "compil" not in predict()  # the cache serves the next process


def test_a_model_from_an_untrained_teacher_is_warned_of_once_at_load(exported_student, tmp_path):
    copy = tmp_path / "export"  # as a QUICK=1 distilled student's export records it
    shutil.copytree(exported_student, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "pretrained": False}))
    for model_dir, warned in ((exported_student, 0), (copy, 1)):
        done = subprocess.run([sys.executable, "predict.py", "--model_dir", str(model_dir), "--text", "好", "--text",
                               "差"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and len(done.stdout.splitlines()) == 2, done.stderr
        assert done.stderr.count("this student learnt from a teacher that was never pretrained") == warned
