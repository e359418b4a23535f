"""The notebook path: a notebook using the client, the array API and the progress
widget, executed headless by nbclient in a real Jupyter kernel."""

from __future__ import annotations

import sys

import nbformat
from nbclient import NotebookClient

CELLS = [
    "import sys\nimport numpy as np\nimport kaon\nimport kaon.array as ka\nprint(sys.prefix)",
    "client = kaon.Client(n_workers=1, threads_per_worker=1, dashboard_address=None)\nclient",
    "x = ka.random.random((2000, 500), chunks=(250, 250), seed=7)\nx",
    "r = (ka.sin(x) ** 2 + ka.cos(x) ** 2).sum(axis=1).compute(progress=True)\n"
    "print('identity', np.allclose(r, 500))",
    "f = client.compute(x.mean())\nkaon.progress(f)",
    "import time\nprint('mean', abs(f.result() - 0.5) < 0.01)\ntime.sleep(0.5)  # the bar updates",
    "client.close()\nprint('closed', client.status)",
]

WIDGET = "application/vnd.jupyter.widget-view+json"


def _outputs(cell) -> tuple[str, dict]:
    text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    data: dict = {}
    for o in cell.outputs:
        if o.output_type in ("display_data", "execute_result"):
            data.update(o.data)
        assert o.output_type != "error", o
    return text, data


def test_a_notebook_runs_with_widgets(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    cells = nb.cells
    assert _outputs(cells[0])[0].strip() == sys.prefix  # the kernel runs in this environment
    _, client_repr = _outputs(cells[1])
    assert "Dashboard" in client_repr["text/html"] and "Workers" in client_repr["text/html"]
    _, array_repr = _outputs(cells[2])
    assert "(2000, 500)" in array_repr["text/html"] and "tasks" in array_repr["text/html"]
    text, data = _outputs(cells[3])
    assert "identity True" in text
    assert WIDGET in data, data.keys()  # compute() showed an ipywidgets bar
    _, data = _outputs(cells[4])
    assert WIDGET in data  # so did kaon.progress()
    assert "mean True" in _outputs(cells[5])[0]
    assert "closed closed" in _outputs(cells[6])[0]
    # The widgets' final state: the bars reached their totals.
    states = (
        nb.metadata.get("widgets", {})
        .get("application/vnd.jupyter.widget-state+json", {})
        .get("state", {})
    )
    bars = [s["state"] for s in states.values() if s.get("model_name") == "IntProgressModel"]
    assert bars and all(b["value"] == b["max"] for b in bars), bars
