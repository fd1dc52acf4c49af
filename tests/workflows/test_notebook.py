"""The quick-start notebook runs top to bottom and shows what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[2] / "workflows" / "notebooks" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # the committed copy may carry its outputs (so it reads on GitHub): none of them an error
    stored = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in stored if o.get("output_type") == "error"]
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell (the asserts included)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # heatmap, graph, structure figure, learning curves, the loaded model's raster
    assert len(images) >= 5
    text = "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert "CellTypeStructure(" in text  # the hand-off object is shown
    assert "mdgl-data" in text
    # the last cell loads the saved model (asserting its spikes equal the trained network's) and
    # shows the raster
    assert "load_model" in nb.cells[-1].source
    assert any("image/png" in o.get("data", {}) for o in nb.cells[-1].outputs)
