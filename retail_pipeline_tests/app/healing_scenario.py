"""The healing scenario of ``test_healing.py`` and ``test_dev_beside_cli.py``, built once per test session:
a lakehouse built from the June 1-4 files, the landing zone after June 2 was re-exported and June 5-8
dropped, and a clean build of that, with its fingerprints.

    python -m retail_pipeline_tests.app.healing_scenario DIR

builds it into DIR (``ready`` last). The root ``conftest.py`` starts that in the background as a pytest-xdist
session begins, so no worker sits idle while it is built; the ``scenario`` fixture waits for it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from datetime import date
from pathlib import Path

UNTIL = date(2026, 10, 30)  # silver/fx_daily runs to today: compared up to the last bundled fixing


def shared_dir() -> Path | None:
    """Where this pytest-xdist session's scenario is built (None outside xdist: the fixture builds its own)."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    return Path(tempfile.gettempdir()) / f"retail-healing-{run}" if run else None


def copy_landing(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        shutil.copy2(path, target / path.name)  # mtimes kept: the manifest sees the same files
    return target


def trim(path: Path, lines: int) -> None:
    """The shop's re-export of a day file, ``lines`` lines shorter."""
    kept = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(kept[:-lines]))


def warehouse_rows(site: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(site / "lake.duckdb"), read_only=True) as con:
        names = [row[0] for row in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()]
        return {name: con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0] for name in sorted(names)}


def landings(root: Path, rows: int, last: date, kept_until: date, changed: date) -> tuple[Path, Path]:
    """Day files of June 1 to ``last`` generated under ``root``; ``before``: those up to ``kept_until``;
    ``after``: all of them with ``changed`` re-exported 20 lines shorter."""
    from retail_pipeline.app.generate import generate_landing

    every_day = root / "every_day"
    generate_landing(every_day, rows=rows, start=date(2011, 6, 1), end=last)
    before = root / "before"
    before.mkdir()
    for path in sorted(every_day.iterdir()):
        if path.name <= f"online_retail_{kept_until}.csv":
            shutil.copy2(path, before / path.name)
    after = copy_landing(every_day, root / "after")
    trim(after / f"online_retail_{changed}.csv", 20)
    return before, after


def build(root: Path) -> None:
    import dagster as dg

    from retail_pipeline.app.runner import run_pipeline
    from retail_pipeline_tests.fingerprint import fingerprints

    root.mkdir(parents=True, exist_ok=True)
    before, after = landings(root, 1_500, date(2011, 6, 8), date(2011, 6, 4), date(2011, 6, 2))
    clean = {}
    for landing, site in ((before, "base"), (after, "clean")):
        run_pipeline(str(landing), str(root / site / "lake"), dg.DagsterInstance.ephemeral(), say=lambda _: None)
        clean[site] = {
            "fingerprints": fingerprints(str(root / site / "lake"), UNTIL),
            "warehouse": warehouse_rows(root / site),
        }
    (root / "clean.json").write_text(json.dumps(clean))
    (root / "ready").touch()


if __name__ == "__main__":
    target = Path(sys.argv[1])
    try:
        build(target)
    except BaseException as exc:
        (target / "failed").write_text(f"{type(exc).__name__}: {exc}")
        raise
