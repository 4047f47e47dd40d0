"""The set-up shared by scripts/setup_env.sh and the notebook's first cell: install this checkout and what it needs into
a Python environment, never over the Paddle installed there.

Which Paddle is installed is read from package metadata (nothing is imported). Paddle 2 gets constraints/paddle2.txt
(numpy 1 and the pyarrow, datasets and paddle2onnx it works with); only an environment with no Paddle at all gets the
CPU build (the [cpu] extra). A
`paddle` module that no known distribution provides stops the set-up instead: pip would write the CPU build over it.
What was installed is recorded in tmp/.setup-* of this checkout, one file per environment, so a set-up runs pip again
only when pyproject.toml, the constraints, the Paddle found or the extras asked for change.

    python -m ernie_distill.environment setup train,test [--own-venv]   # what setup_env.sh runs
    python -m ernie_distill.environment                                  # Python, Paddle, PaddleNLP and the device
"""
import hashlib
import importlib.util
import json
import os
import pathlib
import shlex
import subprocess
import sys
from importlib import metadata

from .errors import InputError

PROJECT = "ernie-gram-distill"
PADDLE_DISTRIBUTIONS = ("paddlepaddle-gpu", "paddlepaddle")  # two packages, one `paddle` module
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONSTRAINTS = os.path.join(ROOT, "constraints")
PADDLENLP = "paddlenlp>=2.6,<2.9"  # as in pyproject.toml's [train]
PADDLENLP_WITHOUT_DEPS_FROM = (3, 13)  # the first Python where PaddleNLP is installed without its requirements
# the exact stack this project's own venv gets, by Python version
VERIFIED = {(3, 11): "py311-paddle3.3.1.txt", (3, 12): "py312-paddle3.3.1.txt"}


def installed(name):
    """The installed version of distribution `name`, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def installed_from_here():
    """Is this checkout the project installed in this environment (editable)? A record of an earlier set-up is not
    enough: the environment may have been made again since, at the same path."""
    here = pathlib.Path(ROOT).as_uri()
    for distribution in metadata.distributions(name=PROJECT):  # (a checkout's own *.egg-info has no direct_url.json)
        try:
            if json.loads(distribution.read_text("direct_url.json") or "{}").get("url") == here:
                return True
        except ValueError:
            pass
    return False


def installed_paddle():
    """(distribution, version) of the installed Paddle, the GPU build first, or None when there is none. A `paddle`
    module from no known distribution (a source or XPU build) is an InputError: the set-up must not install over it."""
    for name in PADDLE_DISTRIBUTIONS:
        version = installed(name)
        if version:
            return name, version
    spec = importlib.util.find_spec("paddle")
    if spec is not None:
        raise InputError(f"a `paddle` module is installed ({spec.origin}), but from neither "
                         f"{' nor '.join(PADDLE_DISTRIBUTIONS)}: install the rest yourself with "
                         f"`pip install -e '{ROOT}[train]'`, which never installs Paddle")
    return None


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Plan:
    """What a set-up of `extras` installs here: pip's arguments, or nothing when a set-up of this checkout did
    already."""

    def __init__(self, extras, own_venv=False):
        self.paddle = installed_paddle()
        wanted = set(extras)
        constraints = []
        if own_venv:  # the project's .venv: the CPU build, at the verified versions where there are some
            wanted.add("cpu")
            if sys.version_info[:2] in VERIFIED:
                constraints.append(VERIFIED[sys.version_info[:2]])
        elif self.paddle is None:
            wanted.add("cpu")
        elif self.paddle[1].startswith("2."):
            constraints.append("paddle2.txt")
        self.constraints = [os.path.join(CONSTRAINTS, name) for name in constraints]
        prefix = hashlib.sha256(os.path.realpath(sys.prefix).encode()).hexdigest()[:16]
        self.stamp = os.path.join(ROOT, "tmp", f".setup-{prefix}")
        recorded = self._recorded()
        earlier = set(recorded.get("extras", []))
        if self.paddle and not own_venv:  # a Paddle brought since (the GPU build): no [cpu] over it
            earlier.discard("cpu")
        self.extras = sorted(wanted | earlier)
        self.needed = not self._done_by(recorded, wanted)

    def _recorded(self):
        """What the last set-up of this environment from this checkout installed: {} if none."""
        try:
            with open(self.stamp, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _done_by(self, recorded, wanted):
        """Did that set-up install all this one would, and is it still here: this checkout installed, the same
        pyproject.toml, these extras or more, the Paddle that is here now, and each constraints file needed now?"""
        return (installed_from_here()
                and recorded.get("pyproject") == _digest(os.path.join(ROOT, "pyproject.toml"))
                and wanted <= set(recorded.get("extras", []))
                and recorded.get("paddle") == list(self.paddle or [])
                and all(recorded.get("constraints", {}).get(os.path.basename(path)) == _digest(path)
                        for path in self.constraints))

    def pip_arguments(self):
        """For `pip install`: the checkout, editable, with its extras, and the constraints."""
        arguments = ["-e", f"{ROOT}[{','.join(self.extras)}]"]
        for path in self.constraints:
            arguments += ["-c", path]
        return arguments

    def record(self):
        """Note what was installed, once pip succeeded: pyproject.toml and the constraints used (by content), the
        extras, and the Paddle there is now (the one kept, or the CPU build that [cpu] brought)."""
        os.makedirs(os.path.dirname(self.stamp), exist_ok=True)
        with open(self.stamp, "w", encoding="utf-8") as f:
            json.dump({"pyproject": _digest(os.path.join(ROOT, "pyproject.toml")), "extras": self.extras,
                       "constraints": {os.path.basename(path): _digest(path) for path in self.constraints},
                       "paddle": list(installed_paddle() or [])}, f)

    def describe(self):
        kept = f"{self.paddle[0]} {self.paddle[1]} is kept" if self.paddle else "Paddle: its CPU build"
        return f"installing this project with [{','.join(self.extras)}] into {sys.prefix} (minutes, once); {kept}"


def setup(extras, own_venv=False):
    """Run the plan with pip in this interpreter; pip's output is shown only when it fails. Returns an exit status."""
    plan = Plan(extras, own_venv)
    if not plan.needed:
        return 0
    print(plan.describe(), file=sys.stderr, flush=True)
    command = [sys.executable, "-m", "pip", "install", "-q", *plan.pip_arguments()]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        noise = "is ignored: it is neither"  # (this machine's local package mirrors)
        sys.stderr.write("".join(line for line in (done.stdout + done.stderr).splitlines(True) if noise not in line))
        print(f"error: installing failed (pip's output above): {shlex.join(command)}", file=sys.stderr)
        return 1
    if sys.version_info[:2] >= PADDLENLP_WITHOUT_DEPS_FROM and installed("paddlenlp") is None:
        # PaddleNLP requires paddle2onnx and tool-helpers, which have no build for this Python: its other
        # requirements came with the [paddlenlp-py313] extra, PaddleNLP itself comes without them
        command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", PADDLENLP]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            sys.stderr.write(done.stdout + done.stderr)
            print(f"error: installing failed (pip's output above): {shlex.join(command)}", file=sys.stderr)
            return 1
    plan.record()
    return 0


def describe():
    """One line: Python, Paddle (and its device), PaddleNLP. Imports Paddle, so only once the set-up is done."""
    import paddle

    gpus = paddle.device.cuda.device_count() if paddle.device.is_compiled_with_cuda() else 0
    device = f"gpu ({gpus} visible)" if gpus else "cpu"
    return (f"Python {sys.version.split()[0]} | Paddle {paddle.__version__} ({installed_paddle()[0]}), device {device}"
            f" | PaddleNLP {installed('paddlenlp')} | {PROJECT} {installed(PROJECT)}")


def main(argv):
    if argv[:1] == ["setup"] and len(argv) >= 2 and set(argv[2:]) <= {"--own-venv"}:
        return setup(argv[1].split(","), own_venv="--own-venv" in argv[2:])
    if argv:
        raise InputError("usage: python -m ernie_distill.environment [setup EXTRAS [--own-venv]]")
    print(describe())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
