"""The quickstart notebook: re-executed here, and committed with its outputs (GitHub shows the plot).

The notebook starts its own local server (``mongozarr serve DIR --detach``, the
``server`` extra) in a temporary directory, so the ``!mongozarr`` cells and the
Python cells share one database; it stops the server in its last cell. The
run here points the kernel's temporary directory into ``tmp_path`` and stops
any server left there, whether or not the notebook got that far.
"""

from __future__ import annotations

import base64
import gc
import json
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
pytestmark = pytest.mark.slow


def _outputs(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def _text(outputs: list[nbformat.NotebookNode]) -> str:
    parts = []
    for output in outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.get("data", {}).get("text/plain", ""))
        elif output.output_type == "error":
            parts.append("\n".join(output.traceback))
    return "\n".join(parts).replace("\r\n", "\n")  # `!cmd` output comes through a terminal


def _cell(notebook: nbformat.NotebookNode, marker: str) -> nbformat.NotebookNode:
    """The one code cell whose source contains ``marker``."""
    cells = [c for c in notebook.cells if c.cell_type == "code" and marker in c.source]
    assert len(cells) == 1, f"expected one cell containing {marker!r}, found {len(cells)}"
    return cells[0]


def _cell_text(notebook: nbformat.NotebookNode, marker: str) -> str:
    return _text(_cell(notebook, marker).outputs)


def _stop_leftover_servers(directory: Path) -> list[Path]:
    from mongozarr.server import stop

    return [server for server in directory.glob("mongozarr-quickstart-*/server") if stop(server)]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[nbformat.NotebookNode]:
    """A copy of the notebook, executed top to bottom by a kernel of this interpreter."""
    pytest.importorskip(
        "mongoeco", reason="the notebook starts `mongozarr serve`, which needs the server extra (Python 3.13)"
    )
    tmp_path = tmp_path_factory.mktemp("notebook")
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
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TMPDIR", str(tmp_path))  # the notebook's workdir lands here
        env.delenv("MONGOZARR_URI", raising=False)
        manager = KernelManager(
            kernel_name="mongozarr-test",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")]),
        )
        client = NotebookClient(
            notebook,
            km=manager,
            timeout=60,
            allow_errors=True,  # the assertions below name the failing cell
            resources={"metadata": {"path": str(tmp_path)}},
        )
        try:
            client.execute()
        finally:
            leftover = _stop_leftover_servers(tmp_path)
            # jupyter_client leaves its zmq sockets to the garbage collector: collect
            # them here (a third-party leak), not in whichever test runs next.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Unclosed socket", ResourceWarning)
                del client, manager
                gc.collect()
    notebook.metadata["leftover_servers"] = len(leftover)
    yield notebook


def test_every_cell_ran_without_error(executed: nbformat.NotebookNode) -> None:
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert code
    errors = [
        f"cell {index}: {output.ename}: {output.evalue}"
        for index, cell in enumerate(code)
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
    assert all(cell.execution_count is not None for cell in code)
    assert executed.metadata["leftover_servers"] == 0  # the last cell stopped its server
    assert "server stopped" in _cell_text(executed, "serve\", \"--stop\"")


def test_cli_cells_reach_the_same_store(executed: nbformat.NotebookNode) -> None:
    text = _cell_text(executed, "!mongozarr ls")
    assert "/mouse-7/session1" in text and "(32, 32)" in text  # ls
    assert '"dapi"\n"gfp"' in text  # distinct
    assert "/mouse-8/session1" in text  # find
    assert "back in Python: re-image: focus drift" in text


def test_concurrent_writers_kept_every_key_and_count(executed: nbformat.NotebookNode) -> None:
    text = _cell_text(executed, "def worker(")
    kept = dict(re.findall(r"^(worker keys kept|\$inc updates counted|rows counted): (\d+ of \d+)$", text, re.M))
    assert kept == {
        "worker keys kept": "8 of 8",
        "$inc updates counted": "40 of 40",
        "rows counted": "280 of 280",
    }


def test_two_appenders_rows_are_exact(executed: nbformat.NotebookNode) -> None:
    text = _cell_text(executed, "def appender(")
    assert "shape: (60, 2)" in text
    assert "writer 1: 30 rows, all of its own in order: True" in text
    assert "writer 2: 30 rows, all of its own in order: True" in text
    assert "unwritten rows: 0" in text


def test_watch_saw_the_three_changes(executed: nbformat.NotebookNode) -> None:
    lines = _cell_text(executed, "tree.watch(").strip().splitlines()
    seen = [tuple(line.split(" ", 2)) for line in lines]
    assert [(kind, path) for kind, path, _ in seen] == [
        ("changed", "/mouse-8/session0"),
        ("created", "/mouse-8/session2"),
        ("deleted", "/mouse-8/session1"),
    ]
    assert "'qc'" in seen[0][2]  # the changed attribute key


def test_xarray_round_trip_and_aggregation(executed: nbformat.NotebookNode) -> None:
    text = _cell_text(executed, "to_zarr(")
    assert "identical: True" in text
    assert "found by query: ['/mouse-7/trace']" in text
    counts = _cell_text(executed, "aggregate(").strip().splitlines()
    # mouse-7: 2 images and the events array (the trace's subject is on its group);
    # mouse-8 lost session1 in the watch cell.
    assert counts == ["mouse-7: 3 arrays", "mouse-8: 1 arrays", "mouse-9: 2 arrays"]


def test_plot_is_an_image_and_reviewers_score_differently(executed: nbformat.NotebookNode) -> None:
    cell = _cell(executed, "plt.subplots(")
    images = [o.data["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
    assert base64.b64decode(images[0]).startswith(PNG_SIGNATURE)
    scores = dict(re.findall(r"^(\w+): mean [\d.]+, scores (\[.*\])$", _text(cell.outputs), re.M))
    assert set(scores) == {"ana", "ben", "chen"}
    parsed = {name: json.loads(values) for name, values in scores.items()}
    assert all(len(values) == 5 for values in parsed.values())
    assert len({tuple(values) for values in parsed.values()}) == 3  # three different reviewers


def test_export_is_non_empty_and_reimports(executed: nbformat.NotebookNode) -> None:
    text = _cell_text(executed, "export_archive(")
    exported = re.search(r"exported (\d+) keys, archive of (\d+) bytes, verified: True", text)
    assert exported and int(exported[1]) > 0 and int(exported[2]) > 0
    assert re.search(r"re-imported (\d+) keys, verified: True", text)
    assert "same QC scores: True" in text
    assert "same events: True" in text


def test_committed_notebook_has_outputs_and_no_machine_details() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count is not None for cell in code)
    outputs = _outputs(notebook)
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    committed = json.dumps([o for o in outputs], default=str)
    for leak in ("/tmp", "/work", "/home", "password", "127.0.0.1:", "localhost:"):
        assert leak not in committed, leak
