"""The healing scenario shared by ``test_healing.py`` and ``test_dev_beside_cli.py``: built once per test
session (the pytest-xdist workers share it through a directory and a lock), since building it runs the
pipeline twice."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from retail_pipeline.app.generate import generate_landing
from retail_pipeline.app.runner import run_pipeline
from retail_pipeline_tests.fingerprint import fingerprints

UNTIL = date(2026, 10, 30)  # silver/fx_daily runs to today: compared up to the last bundled fixing


def copy_landing(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        shutil.copy2(path, target / path.name)  # mtimes kept: the manifest sees the same files
    return target


def warehouse_rows(site: Path) -> dict[str, int]:
    with duckdb.connect(str(site / "warehouse.duckdb"), read_only=True) as con:
        names = [row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        return {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0] for name in sorted(names)}


def _build(root: Path) -> None:
    every_day = root / "every_day"
    generate_landing(every_day, rows=1_500, start=date(2011, 6, 1), end=date(2011, 6, 8))
    before = root / "before"
    before.mkdir()
    for path in sorted(every_day.iterdir()):
        if path.name <= "online_retail_2011-06-04.csv":
            shutil.copy2(path, before / path.name)
    after = copy_landing(every_day, root / "after")
    june_2 = after / "online_retail_2011-06-02.csv"
    lines = june_2.read_bytes().splitlines(keepends=True)
    june_2.write_bytes(b"".join(lines[:-20]))  # the shop's re-export
    run_pipeline(str(before), str(root / "base" / "lake"), dg.DagsterInstance.ephemeral(), say=lambda _: None)
    run_pipeline(str(after), str(root / "clean" / "lake"), dg.DagsterInstance.ephemeral(), say=lambda _: None)
    (root / "clean.json").write_text(
        json.dumps({"fingerprints": fingerprints(str(root / "clean" / "lake"), UNTIL), "warehouse": warehouse_rows(root / "clean")})
    )
    (root / "ready").touch()


@pytest.fixture(scope="session")
def scenario(tmp_path_factory) -> dict:
    """A lakehouse built from the June 1-4 files (``base``, its warehouse and report beside it), the landing
    zone after June 2 was re-exported and June 5-8 dropped (``after``), and a clean build of that
    (``clean``, with its table fingerprints and warehouse row counts)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    shared = tmp_path_factory.getbasetemp().parent / f"healing-{run}" if run else tmp_path_factory.mktemp("healing")
    shared.mkdir(parents=True, exist_ok=True)
    with open(shared.parent / f"{shared.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "ready").exists():
            shutil.rmtree(shared)
            shared.mkdir()
            _build(shared)
    clean = json.loads((shared / "clean.json").read_text())
    return {
        "before": shared / "before",
        "after": shared / "after",
        "base": shared / "base",
        "clean": shared / "clean",
        "fingerprints": clean["fingerprints"],
        "warehouse": clean["warehouse"],
    }
