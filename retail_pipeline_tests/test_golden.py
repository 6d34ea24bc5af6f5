"""The golden output: a small seeded landing zone (4,000 generated rows over three weeks, with duplicates,
cancellations, fees and dirty descriptions), run end to end, gives exactly the committed content fingerprint
of every table (``golden/fingerprints.json``; per-run columns aside, see ``fingerprint.py``).

A change that alters what the pipeline computes fails here. When the change is deliberate, rewrite the file
with ``python -m retail_pipeline_tests.test_golden`` and say in the commit why the output changed.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import date
from pathlib import Path

import dagster as dg

from retail_pipeline.app.generate import generate_landing
from retail_pipeline.app.runner import run_pipeline
from retail_pipeline_tests.fingerprint import fingerprints

GOLDEN = Path(__file__).with_name("golden") / "fingerprints.json"
ROWS, SEED, FIRST, LAST = 4_000, 2011, date(2011, 3, 1), date(2011, 3, 21)
# The bundled ECB history's last fixing: calendar-day rates after it depend on the day the test runs.
UNTIL = date(2026, 10, 30)


def build(workdir: Path, instance: dg.DagsterInstance | None = None) -> dict[str, dict[str, object]]:
    landing, lake = workdir / "landing", workdir / "lakehouse"
    generate_landing(landing, rows=ROWS, seed=SEED, start=FIRST, end=LAST)
    run_pipeline(str(landing), str(lake), instance or dg.DagsterInstance.ephemeral(), say=lambda _: None)
    return fingerprints(str(lake), UNTIL)


def test_a_seeded_landing_zone_gives_the_committed_tables(tmp_path):
    expected = json.loads(GOLDEN.read_text())
    instance = dg.DagsterInstance.ephemeral()
    actual = build(tmp_path, instance)
    changed = {t: (expected.get(t), actual.get(t)) for t in set(expected) | set(actual) if expected.get(t) != actual.get(t)}
    assert not changed, (
        f"tables whose content changed (expected, actual): {changed}; if deliberate, run "
        "`python -m retail_pipeline_tests.test_golden` and say why in the commit"
    )
    assert actual["silver/transactions"]["rows"] > 3_000 and len(actual) == 22
    # What the run recorded in Dagster: the columns written, each with its contract's description.
    event = instance.get_latest_materialization_event(dg.AssetKey(["gold", "monthly_kpis"]))
    columns = event.asset_materialization.metadata["dagster/column_schema"].value.columns
    assert columns and all(column.description for column in columns)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as workdir:
        GOLDEN.write_text(json.dumps(build(Path(workdir)), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)
