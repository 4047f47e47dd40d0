"""ernie-gram-distill: fine-tune ERNIE-Gram, distil it into a Bi-LSTM, export and serve the student.

Importing the package first quiets Paddle's import-time noise (a "No ccache found" warning meant for people compiling
C++ extensions, setuptools' distutils notice, glog info lines), so no script prints it.
"""
import os
import warnings

warnings.filterwarnings("ignore", message="No ccache found")
warnings.filterwarnings("ignore", message="Setuptools is replacing distutils")
os.environ.setdefault("GLOG_minloglevel", "2")
