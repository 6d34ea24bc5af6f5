"""The ``scenario`` fixture of the healing tests (``healing_scenario.py`` says what it holds)."""

from __future__ import annotations

import json
import time

import pytest

from retail_pipeline_tests.app.healing_scenario import UNTIL, build, copy_landing, shared_dir, trim, warehouse_rows

__all__ = ["UNTIL", "copy_landing", "trim", "warehouse_rows"]


@pytest.fixture(scope="session")
def scenario(tmp_path_factory) -> dict:
    root = shared_dir()
    if root is None:  # no xdist: build it here
        root = tmp_path_factory.mktemp("healing")
        build(root)
    deadline = time.monotonic() + 600
    while not (root / "ready").exists():  # the background build started by the root conftest.py
        if (root / "failed").exists() or time.monotonic() > deadline:
            log = (root.parent / f"{root.name}.log")
            raise RuntimeError(f"the healing scenario was not built: {log.read_text()[-3000:] if log.exists() else ''}")
        time.sleep(0.2)
    clean = json.loads((root / "clean.json").read_text())
    return {
        "before": root / "before",
        "after": root / "after",
        "base": root / "base",
        "clean": root / "clean",
        "fingerprints": clean["clean"]["fingerprints"],
        "warehouse": clean["clean"]["warehouse"],
    }
