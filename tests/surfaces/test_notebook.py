"""``examples/tour.ipynb`` runs from top to bottom in a fresh Jupyter kernel (nbclient), as a user would run it.

The notebook's ``assert`` lines are its checks; a cell that raises fails the test with the cell's traceback.
"""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOK = EXAMPLES / "tour.ipynb"


def test_tour_notebook_runs_in_a_kernel():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    # the API it tours: every function of the front door appears in a cell
    text = "\n".join(c.source for c in code)
    for call in ("chipplan.train(", "chipplan.serve(", "chipplan.compare(", "chipplan.tco(", "chipplan.predict(",
                 "chipplan.codesign.sweep(", "chipplan.cost_per_token("):
        assert call in text, call
    assert all(not c.outputs for c in code), "commit the notebook without outputs"
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    for c in code:
        assert not any(o.output_type == "error" for o in c.outputs)
    last = code[-1].outputs
    assert any(o.output_type == "execute_result" and "design_id" in o.data["text/plain"] for o in last)
