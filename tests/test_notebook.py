"""run_all.ipynb executed as "Run All" does, through a real Jupyter kernel (nbclient + ipykernel)."""
import os

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from conftest import FIXTURE_DIR, ROOT


def execute_notebook(path, env, kernels_dir):
    """Run the notebook as "Run All" does, in a real Jupyter kernel on this interpreter; raises at a failing cell."""
    write_kernel_spec(os.path.join(kernels_dir, "python3"))  # starts sys.executable, whatever kernels are installed
    kernel = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[kernels_dir]))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, km=kernel, timeout=600, resources={"metadata": {"path": ROOT}}).execute(env=env)


def test_a_failing_step_stops_the_notebook_at_its_cell(tmp_path):
    output_dir = tmp_path / "run"
    env = {**os.environ, "QUICK": "1", "DATA_DIR": FIXTURE_DIR, "OUTPUT_DIR": str(output_dir), "TRAIN_ROWS": "120",
           "DEV_ROWS": "40", "MODEL_TYPE": "gpt"}
    with pytest.raises(CellExecutionError, match=r'run_steps\("teacher"\)[\s\S]*CalledProcessError'):
        execute_notebook(os.path.join(ROOT, "run_all.ipynb"), env, str(tmp_path / "kernels"))
    assert (output_dir / "logs" / "teacher.log").is_file() and not (output_dir / "student-hard").exists()
