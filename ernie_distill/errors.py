"""Errors that mean bad input (a file, a row, a flag), not a bug: scripts print them in one line, without a traceback."""
import errno
import os
import sys


class InputError(ValueError):
    """Bad input; the message names the file, line or flag and what to do."""


# what a full disk, a quota, a read-only filesystem or a directory of another user make writing raise
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


ABLE = {"write": "writable", "access": "accessible"}


class WriteError(InputError):
    """An output that cannot be written: the message names it, the reason and what to do."""

    def __init__(self, path, reason, verb="write"):
        full = reason in (errno.ENOSPC, errno.EDQUOT)
        advice = ("free space there, or write elsewhere, then run the same command again" if full else
                  f"it is read-only or not {ABLE[verb]} by this user: choose a location this user may {verb} (e.g. "
                  "under tmp/)")
        super().__init__(f"cannot {verb} {path}: {os.strerror(reason)}; {advice}")
        self.path, self.reason = path, reason


def write_error(path, err, verb="write"):
    """The WriteError to raise instead of `err` (an OSError or a WriteError) from writing (or, with verb "access",
    using) `path`, or None when `err` is not about the disk or the permissions."""
    if isinstance(err, WriteError):
        return WriteError(path, err.reason, verb)
    if isinstance(err, OSError) and err.errno in WRITE_ERRNOS:
        return WriteError(path, err.errno, verb)
    return None


# a dependency's module -> the extra of this project that installs it (pyproject.toml)
EXTRA_OF = {**dict.fromkeys(("numpy", "numba", "rjieba", "jieba", "onnxruntime", "httptools", "uvloop",
                             "prometheus_client"), "deploy"),
            "paddle": "cpu", **dict.fromkeys(("paddlenlp", "onnx", "paddle2onnx", "ml_dtypes", "matplotlib",
                                              "requests"), "train"),
            "sklearn": "bench", "fasttext": "bench"}


def missing_dependency(err):
    """The InputError to print for a ModuleNotFoundError of one of this project's dependencies (None for any other
    module): it names the module, this Python, and the command that installs it."""
    name = (err.name or "").split(".")[0]
    if name not in EXTRA_OF:
        return None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    checkout = os.path.isfile(os.path.join(root, "pyproject.toml"))
    install = f'pip install "{root if checkout else "ernie-gram-distill"}[{EXTRA_OF[name]}]"'
    if name == "paddle":
        install += " (or Paddle's GPU build, from Paddle's own package index)"
    venv = os.path.join(root, ".venv", "bin", "activate")
    other = f", or use the environment scripts/setup_env.sh made: source {venv}" if os.path.isfile(venv) else ""
    return InputError(f"{name} is not installed in this Python ({sys.executable}): {install} brings it{other}")
