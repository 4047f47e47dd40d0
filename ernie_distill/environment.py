"""What this Python environment holds, read from package metadata (nothing is imported): the set-up of
scripts/setup_env.sh and of the notebook's first cell, which keep an installed Paddle and install only what is missing.

    python -m ernie_distill.environment paddle        # "paddlepaddle-gpu 2.6.2", or nothing
    python -m ernie_distill.environment missing train  # the project's requirements for [train] not installed here
"""
import os
import re
import sys
from importlib import metadata

PROJECT = "ernie-gram-distill"
PADDLE_DISTRIBUTIONS = ("paddlepaddle-gpu", "paddlepaddle")  # two packages, one `paddle` module
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def installed(name):
    """The installed version of distribution `name`, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def installed_paddle():
    """(distribution, version) of the installed Paddle, GPU build first, or None."""
    for name in PADDLE_DISTRIBUTIONS:
        version = installed(name)
        if version:
            return name, version
    return None


def pip_constraints():
    """pip arguments that keep an installed Paddle 2 working: its wheels need numpy 1 and older pyarrow/datasets."""
    paddle = installed_paddle()
    if paddle and paddle[1].startswith("2."):
        return ["-c", os.path.join(ROOT, "constraints", "paddle2.txt")]
    return []


def requirements(extras):
    """Names of the distributions the installed project needs with `extras`, following its extras that name others
    ("ernie-gram-distill[deploy]" inside [train])."""
    entries = []  # (extra or None, name, the project's extras it names)
    for requirement in metadata.requires(PROJECT) or []:
        spec, _, marker = requirement.partition(";")
        if "win32" in marker and sys.platform == "win32":  # uvloop: "sys_platform != 'win32'", the only such marker
            continue
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
        named = re.search(r"\[(.*)\]", spec)
        entries.append((extra and extra.group(1), re.match(r"[A-Za-z0-9._-]+", spec.strip()).group(0),
                        {e.strip() for e in named.group(1).split(",")} if named else set()))
    wanted = {None, *extras}
    while True:
        more = set().union(*(sub for extra, name, sub in entries if name == PROJECT and extra in wanted)) - wanted
        if not more:
            break
        wanted |= more
    return list(dict.fromkeys(name for extra, name, _ in entries if extra in wanted and name != PROJECT))


def missing(extras=("train",)):
    """What to install: the project itself when it is not installed, else its requirements that are not."""
    if installed(PROJECT) is None:
        return [PROJECT]
    return [name for name in requirements(list(extras)) if installed(name) is None]


def describe():
    """One line: Python, Paddle (and its device), PaddleNLP. Imports Paddle, so only once the set-up is done."""
    import paddle

    gpus = paddle.device.cuda.device_count() if paddle.device.is_compiled_with_cuda() else 0
    device = f"gpu ({gpus} visible)" if gpus else "cpu"
    return (f"Python {sys.version.split()[0]} | Paddle {paddle.__version__} ({installed_paddle()[0]}), device {device}"
            f" | PaddleNLP {installed('paddlenlp')} | {PROJECT} {installed(PROJECT)}")


if __name__ == "__main__":
    what, *rest = sys.argv[1:] or ["describe"]
    if what == "paddle":
        print(" ".join(installed_paddle() or ()))
    elif what == "missing":
        print(" ".join(missing(rest or ["train"])))
    else:
        print(describe())
