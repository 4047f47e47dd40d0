"""The set-up of scripts/setup_env.sh and the notebook's first cell (ernie_distill/environment.py): which Paddle is
here, what to install without replacing it, and when nothing needs installing."""
import importlib.util
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from ernie_distill import environment
from ernie_distill.errors import InputError


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """Stamps under tmp_path instead of this checkout's tmp/."""
    monkeypatch.setattr(environment, "ROOT", str(tmp_path))
    (tmp_path / "pyproject.toml").write_text("[project]\n", encoding="utf-8")
    constraints = tmp_path / "constraints"
    constraints.mkdir()
    for name in ("paddle2.txt", "py311-paddle3.3.1.txt"):
        (constraints / name).write_text("numpy<2\n", encoding="utf-8")
    monkeypatch.setattr(environment, "CONSTRAINTS", str(constraints))
    monkeypatch.setattr(environment, "installed_from_here", lambda: True)
    return tmp_path


def plan_with(monkeypatch, paddle, extras=("train",), own_venv=False):
    monkeypatch.setattr(environment, "installed_paddle", lambda: paddle)
    return environment.Plan(list(extras), own_venv)


def test_the_installed_paddle_is_kept_and_paddle_2_gets_its_constraints(checkout, monkeypatch):
    plan = plan_with(monkeypatch, ("paddlepaddle-gpu", "2.6.2"))
    assert plan.extras == ["train"] and plan.needed  # no [cpu]: nothing that installs Paddle
    assert plan.pip_arguments() == ["-e", f"{checkout}[train]", "-c", str(checkout / "constraints" / "paddle2.txt")]
    assert "kept" in plan.describe() and "paddlepaddle-gpu 2.6.2" in plan.describe()
    assert plan_with(monkeypatch, ("paddlepaddle", "3.3.1")).pip_arguments() == ["-e", f"{checkout}[train]"]


def test_without_paddle_the_cpu_build_comes_with_the_cpu_extra(checkout, monkeypatch):
    assert plan_with(monkeypatch, None).extras == ["cpu", "train"]
    own = plan_with(monkeypatch, None, own_venv=True)
    assert own.extras == ["cpu", "train"]
    assert ("-c" in own.pip_arguments()) == (sys.version_info[:2] in environment.VERIFIED)  # the verified stacks


def test_a_recorded_setup_is_not_repeated_until_something_changes(checkout, monkeypatch):
    paddle = ("paddlepaddle", "3.3.1")
    plan_with(monkeypatch, paddle, ["train", "test"]).record()
    assert not plan_with(monkeypatch, paddle, ["train"]).needed  # fewer extras: done already
    more = plan_with(monkeypatch, paddle, ["bench"])
    assert more.needed and more.extras == ["bench", "test", "train"]  # pip gets the union
    assert plan_with(monkeypatch, ("paddlepaddle", "3.3.2"), ["train"]).needed  # another Paddle
    assert plan_with(monkeypatch, ("paddlepaddle", "2.6.2"), ["train"]).needed  # (which needs its constraints)
    (checkout / "pyproject.toml").write_text("[project]\nversion = '2'\n", encoding="utf-8")
    assert plan_with(monkeypatch, paddle, ["train"]).needed  # a new pyproject.toml (git pull)


def test_an_environment_made_again_at_the_same_path_is_set_up_again(checkout, monkeypatch):
    paddle = ("paddlepaddle", "2.6.2")
    plan_with(monkeypatch, paddle, ["train"]).record()
    monkeypatch.setattr(environment, "installed_from_here", lambda: False)  # a new venv: the project is not in it
    assert plan_with(monkeypatch, paddle, ["train"]).needed


def test_where_paddlenlp_has_no_build_of_its_requirements_it_comes_without_them(checkout, monkeypatch):
    """Python 3.13: pip installs the project (PaddleNLP's other requirements come with [paddlenlp-py313]), then
    PaddleNLP with --no-deps, once."""
    commands = []
    monkeypatch.setattr(environment, "installed_paddle", lambda: ("paddlepaddle", "3.3.1"))
    monkeypatch.setattr(environment, "installed", lambda name: None)
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: commands.append(command) or
                        subprocess.CompletedProcess(command, 0, "", ""))
    monkeypatch.setattr(environment, "PADDLENLP_WITHOUT_DEPS_FROM", sys.version_info[:2])  # as on 3.13
    assert environment.setup(["train"]) == 0
    assert commands[1][-3:] == ["-q", "--no-deps", "paddlenlp>=2.6,<2.9"] and len(commands) == 2
    monkeypatch.setattr(environment, "PADDLENLP_WITHOUT_DEPS_FROM", (sys.version_info[0] + 1, 0))
    commands.clear()
    (checkout / "pyproject.toml").write_text("[project]\nversion = '2'\n", encoding="utf-8")
    assert environment.setup(["train"]) == 0 and len(commands) == 1  # elsewhere pip resolves PaddleNLP itself


def test_this_checkout_is_the_project_installed_here():
    assert environment.installed_from_here()


def test_a_paddle_installed_since_a_cpu_setup_is_not_installed_over(checkout, monkeypatch):
    plan_with(monkeypatch, None, ["train"]).record()  # no Paddle then: [cpu] brought the CPU build
    later = plan_with(monkeypatch, ("paddlepaddle-gpu", "3.3.1"), ["train"])  # the user's GPU build since
    assert later.needed and later.extras == ["train"]


def test_the_own_venvs_setup_also_serves_the_notebook_kernel_in_it(checkout, monkeypatch):
    """setup_env.sh records the CPU build it installed with the verified constraints; the notebook's cell, run by a
    kernel of that venv, finds nothing to do (the tests run the notebook so, offline)."""
    own = plan_with(monkeypatch, None, ["train", "test"], own_venv=True)
    monkeypatch.setattr(environment, "installed_paddle", lambda: ("paddlepaddle", "3.3.1"))
    own.record()  # after pip: the CPU build is there
    assert not plan_with(monkeypatch, ("paddlepaddle", "3.3.1"), ["train"]).needed
    assert not plan_with(monkeypatch, ("paddlepaddle", "3.3.1"), ["train"], own_venv=True).needed


def test_a_paddle_module_of_no_known_distribution_stops_the_setup(monkeypatch, tmp_path):
    (tmp_path / "paddle").mkdir()
    (tmp_path / "paddle" / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.setattr(environment, "installed", lambda name: None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: importlib.machinery.ModuleSpec(
        name, None, origin=str(tmp_path / "paddle" / "__init__.py")))
    with pytest.raises(InputError, match="a `paddle` module is installed .* which never installs Paddle"):
        environment.installed_paddle()


def test_this_environment_is_set_up_and_described():
    name, version = environment.installed_paddle()
    import paddle

    assert name in environment.PADDLE_DISTRIBUTIONS and version == paddle.__version__
    run = [sys.executable, "-m", "ernie_distill.environment"]
    line = subprocess.run(run, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert line.startswith(f"Python {sys.version.split()[0]} | Paddle ")
    assert "device cpu" in line and "PaddleNLP" in line
    bad = subprocess.run(run + ["paddle"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and bad.stderr.startswith("error: usage:")


def test_serve_without_the_deploy_extra_is_one_error_line_after_its_help(tmp_path):
    """Where httptools is missing (no [deploy] extra) serve's --help still works and serving is one error line."""
    block = "import sys; sys.modules['httptools'] = None; from ernie_distill.commands.serve import run; sys.exit(run())"
    command = [sys.executable, "-c", block]
    assert "--max_texts" in subprocess.run(command + ["--help"], capture_output=True, text=True, check=True).stdout
    done = subprocess.run(command + ["--model_dir", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith('error: httptools is not installed') and '[deploy]' in done.stderr


def test_requirements_txt_is_the_train_extra_with_paddle_2s_pins_and_never_paddle():
    """`pip install -r requirements.txt` (the course's way) must keep the user's Paddle: it is never named, and the
    pins that Paddle 2 needs are those of constraints/paddle2.txt that work for Paddle 3 too."""
    from packaging.requirements import Requirement

    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert lines[0] == "-e .[train]"
    requirements = [Requirement(line) for line in lines[1:]]
    assert not [r for r in requirements if r.name.startswith("paddlepaddle")]
    with open(os.path.join(ROOT, "constraints", "paddle2.txt"), encoding="utf-8") as f:
        pins = [Requirement(line) for line in map(str.strip, f) if line and not line.startswith("#")]
    paddle2 = {r.name: str(r.specifier) for r in pins}
    assert {r.name for r in requirements} == set(paddle2)
    for r in requirements:
        assert paddle2[r.name] == str(r.specifier) and r.marker.evaluate({"python_version": "3.10"})
        assert not r.marker.evaluate({"python_version": "3.11"})
