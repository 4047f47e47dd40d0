"""ernie-gram-distill: fine-tune ERNIE-Gram, distil it into a Bi-LSTM, export and serve the student.

    from ernie_distill import Predictor
    Predictor("tmp/export/student")(["这家酒店服务很好", "太差了"])  # [{"text", "label", "score"}, ...]

Importing the package before Paddle does two things for every script: it quiets Paddle's import-time noise (a "No
ccache found" warning meant for people compiling C++ extensions, setuptools' distutils notice, glog info lines), and it
loads Python's zlib first. Paddle 2.6 ships zlib symbols of its own: loaded after it, Python's zlib breaks (a
segfault or "double free" in `import paddlenlp`, "inconsistent stream state" in pyarrow).
"""
import os
import warnings
import zlib  # noqa: F401  (before any `import paddle`: see above)

warnings.filterwarnings("ignore", message="No ccache found")
warnings.filterwarnings("ignore", message="Setuptools is replacing distutils")
warnings.filterwarnings("ignore", message=r"The Attr\(force_cpu\) of Op\(fill_constant\)")  # Paddle 2.6's export
os.environ.setdefault("GLOG_minloglevel", "2")


def __getattr__(name):
    """`ernie_distill.Predictor` without importing the inference stack (numba, ONNX Runtime) for every script."""
    if name == "Predictor":
        from .deploy.inference import Predictor

        return Predictor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
