"""notebooks/ run top to bottom on small synthetic data, and are committed without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _read(path: Path):  # type: ignore[no-untyped-def]
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's own paths; no deprecation notice
    import nbformat

    return nbformat.read(path, as_version=4)


def test_there_are_notebooks_and_they_are_stripped() -> None:
    assert [p.name for p in NOTEBOOKS] == ["01_pipeline_tour.ipynb", "02_fp_fn_analysis.ipynb",
                                           "03_detector_health.ipynb"]
    for path in NOTEBOOKS:
        for cell in _read(path).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: outputs not stripped"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path) -> None:
    nb = _read(path)
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert any(o.get("data", {}).get("image/png") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
