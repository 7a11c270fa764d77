"""The quickstart notebook runs top to bottom on a fresh machine, and is committed clean."""

from __future__ import annotations

import gc
import json
import sys
import warnings
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
pytestmark = pytest.mark.slow


def test_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_quickstart_notebook_runs(tmp_path: Path) -> None:
    # A kernel spec made here for this interpreter: nothing installed by hand,
    # and the kernel imports the very mongozarr under test.
    spec = tmp_path / "kernels" / "mongozarr-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "mongozarr test",
                "language": "python",
            }
        )
    )
    manager = KernelManager(
        kernel_name="mongozarr-test",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")]),
    )
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=60,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    # jupyter_client leaves its zmq sockets to the garbage collector: collect
    # them here (a third-party leak), not in whichever test runs next.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unclosed socket", ResourceWarning)
        del client, manager
        gc.collect()

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    outputs = [output for cell in code for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(
        o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs
    )
    assert "qc_dee" in text  # every reviewer's key survived the concurrent writes
    assert "mouse-7/session0" in text and "approved by all" in text
    assert "verified: True" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1  # the figure
