"""Content fingerprints of a lakehouse's tables: rows and a sha256 of each table's content, per-run columns
aside, so two builds of the same landing zone can be compared table by table.

    python -m retail_pipeline_tests.fingerprint LAKEHOUSE [OTHER_LAKEHOUSE]

prints each table's rows and fingerprint (and, given two lakehouses, whether each table is equal). The golden
test (``test_golden.py``) compares a seeded run's fingerprints with ``golden/fingerprints.json``.
"""

from __future__ import annotations

import hashlib
import sys
from datetime import date

import polars as pl
from deltalake import DeltaTable

from retail_pipeline.core import tables

# Columns that differ between two builds of the same input by design: when a row was written or fetched, by
# which run, and the landing files' mtimes, inodes, ctimes and first sightings.
WHEN_WRITTEN = ("_ingested_at", "_run_id", "_fetched_at", "mtime", "inode", "ctime", "first_seen", "requested_at")
# Tables whose rows run up to today (the calendar-day exchange rates): compared up to a fixed date.
UP_TO_TODAY = {tables.FX_DAILY.path: "date"}


def content(frame: pl.DataFrame, until: date | None = None, table: str | None = None) -> pl.DataFrame:
    """A table's rows in a canonical form: per-run columns dropped, columns by name, floats to 9 significant
    digits (sums may differ in the last bit with row order), rows sorted."""
    frame = frame.drop([c for c in WHEN_WRITTEN if c in frame.columns])
    if until is not None and table in UP_TO_TODAY:
        frame = frame.filter(pl.col(UP_TO_TODAY[table]) <= until)
    frame = frame.select(sorted(frame.columns))
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    frame = frame.with_columns(
        pl.col(name).map_batches(lambda s: s.round_sig_figs(9), return_dtype=pl.Float64) for name in floats
    )
    sortable = [name for name, dtype in frame.schema.items() if not dtype.is_nested()]
    return frame.sort(sortable, nulls_last=True, maintain_order=True)


def table_fingerprint(frame: pl.DataFrame) -> str:
    """sha256 over the canonical rows written as NDJSON (stable across runs and machines)."""
    return hashlib.sha256(frame.write_ndjson().encode()).hexdigest()


def fingerprints(root: str, until: date | None = None) -> dict[str, dict[str, object]]:
    """table -> {"rows": n, "sha256": ...} for every table of the registry that exists under ``root``."""
    out: dict[str, dict[str, object]] = {}
    for table in tables.catalogue():
        uri = f"{root.rstrip('/')}/{table}"
        if not DeltaTable.is_deltatable(uri):
            continue
        frame = content(pl.read_delta(uri).drop("_month", strict=False), until, table)
        out[table] = {"rows": frame.height, "sha256": table_fingerprint(frame)}
    return out


def main(argv: list[str]) -> int:
    until = date.fromisoformat("2026-10-30")  # the last fixing of the bundled ECB history
    first = fingerprints(argv[0], until)
    second = fingerprints(argv[1], until) if len(argv) > 1 else None
    differ = 0
    for table, figures in first.items():
        line = f"{table:<28} {figures['rows']:>9,} rows  {figures['sha256'][:16]}"
        if second is not None:
            same = second.get(table) == figures
            differ += not same
            line += "  equal" if same else f"  DIFFERENT ({second.get(table)})"
        print(line)
    if second is not None:
        missing = sorted(set(second) ^ set(first))
        if missing:
            print(f"in one lakehouse only: {', '.join(missing)}")
        print(f"{len(first) - differ} of {len(first)} tables equal" + (f", {len(missing)} in one only" if missing else ""))
        return 1 if differ or missing else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
