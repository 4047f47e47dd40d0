"""The set-up's view of the environment (scripts/setup_env.sh, the notebook's first cell): read from package metadata."""
import os
import subprocess
import sys

from conftest import ROOT
from ernie_distill import environment


def test_requirements_follow_the_extras_without_ever_naming_paddle_outside_cpu():
    base, train, cpu = (environment.requirements(extras) for extras in ([], ["train"], ["cpu"]))
    assert {"numpy", "numba", "rjieba"} <= set(base) and "onnxruntime" not in base
    assert {"paddlenlp", "onnxruntime", "httptools", "onnx"} <= set(train)  # [train] takes in [deploy]
    assert not [name for name in base + train if name.startswith("paddlepaddle")]
    assert set(cpu) == set(train) | {"paddlepaddle"}


def test_this_environment_is_complete_and_its_paddle_is_found():
    name, version = environment.installed_paddle()
    import paddle

    assert name in environment.PADDLE_DISTRIBUTIONS and version == paddle.__version__
    assert environment.missing(["train", "test"]) == []
    assert environment.missing(["no-such-extra"]) == []  # an unknown extra adds nothing


def test_paddle_2_gets_its_constraints(monkeypatch):
    monkeypatch.setattr(environment, "installed_paddle", lambda: ("paddlepaddle-gpu", "2.6.2"))
    flag, path = environment.pip_constraints()
    assert flag == "-c" and path == os.path.join(ROOT, "constraints", "paddle2.txt") and "numpy<2" in open(path).read()
    monkeypatch.setattr(environment, "installed_paddle", lambda: ("paddlepaddle", "3.3.1"))
    assert environment.pip_constraints() == []


def test_the_command_line_and_the_versions_line():
    run = [sys.executable, "-m", "ernie_distill.environment"]
    assert subprocess.run(run + ["paddle"], capture_output=True, text=True, check=True).stdout.startswith("paddlepaddle")
    assert subprocess.run(run + ["missing", "train"], capture_output=True, text=True, check=True).stdout.strip() == ""
    line = subprocess.run(run, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert line.startswith(f"Python {sys.version.split()[0]} | Paddle ") and "device cpu" in line and "PaddleNLP" in line
