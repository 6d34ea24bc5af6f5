"""The whole-history outputs follow the dates that changed: the month-grain marts recompute only the months
of silver whose files moved, the warehouse reloads only the tables and months that changed. Whatever
sequence of new, late, changed and deleted files a lakehouse went through, its marts and warehouse equal a
build from nothing of the same landing zone."""

import random
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.app.generate import generate_landing
from retail_pipeline.app.runner import run_pipeline
from retail_pipeline.core import tables
from retail_pipeline.core.contracts import PER_RUN_COLUMNS
from retail_pipeline.settings import lakehouse_outputs

MARTS = [t.path for t in tables.HISTORY_TABLES]
# Each kind of change at least once, in an order that mixes them; which file and which day is random.
PLAN = ["late", "changed", "new", "deleted", "changed", "late"]


def build(landing: Path, root: Path) -> None:
    run_pipeline(str(landing), str(root), dg.DagsterInstance.ephemeral(), say=lambda _: None)


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.drop([c for c in PER_RUN_COLUMNS if c in frame.columns])
    return frame.sort(frame.columns, nulls_last=True)


def outputs(root: Path) -> dict[str, pl.DataFrame]:
    house = Lakehouse(root=str(root))
    found = {table: canonical(house.read(table)) for table in MARTS}
    with duckdb.connect(lakehouse_outputs(str(root))[0], read_only=True) as conn:
        for table in tables.WAREHOUSE_TABLES:
            found[f"warehouse {table.sql_name}"] = canonical(conn.sql(f'SELECT * FROM "{table.sql_name}"').pl())
    return found


def change(landing: Path, rng: random.Random, step: int, scratch: Path, kind: str) -> str:
    """One change of ``kind`` to the landing zone, as shops make them, on a random file or day."""
    files = sorted(landing.glob("*.csv"))
    if kind == "deleted" and len(files) > 3:
        rng.choice(files).unlink()
    elif kind == "changed":
        target = rng.choice(files)
        lines = target.read_text().splitlines()
        keep = [lines[0]] + [line for line in lines[1:] if rng.random() > 0.3]  # some lines gone
        target.write_text("\n".join(keep) + "\n")
    else:
        # New days after the history, or a late file for a day already landed (another shop's export).
        day = date(2011, 3, 1 + step) if kind == "new" else date(2011, rng.choice([1, 2]), rng.randint(3, 25))
        day = day if day.weekday() != 5 else day.replace(day=day.day + 1)  # the generator skips Saturdays
        out = scratch / f"gen{step}"
        generate_landing(out, rows=150, seed=100 + step, start=day, end=day)
        for file in out.glob("*.csv"):
            shutil.move(str(file), landing / f"{kind}_{step}_{file.name}")
    return kind


def rebuilt_whole(root: Path, scratch: Path) -> dict[str, pl.DataFrame]:
    """The month-grain marts computed whole from the lakehouse's silver as it stands, and its warehouse
    written from nothing: what the refreshed ones must equal."""
    from dagster_duckdb import DuckDBResource

    from retail_pipeline.adapters.warehouse import rebuild_warehouse
    from retail_pipeline.core.transforms import kpis, marts

    house = Lakehouse(root=str(root))
    silver = house.scan(tables.SILVER_TRANSACTIONS.path)
    found = {
        tables.MONTHLY_KPIS.path: kpis.monthly_kpis(silver),
        tables.COUNTRY_SALES.path: marts.country_sales(silver),
        tables.PRODUCT_PERFORMANCE.path: marts.product_performance(silver, house.scan(tables.DIM_PRODUCT.path)),
    }
    found = {name: canonical(frame.collect()) for name, frame in found.items()}
    path = scratch / f"whole-{len(list(scratch.glob('whole-*')))}.duckdb"
    rebuild_warehouse(house, path, lambda p: DuckDBResource(database=str(p)).get_connection(), full=True)
    with duckdb.connect(str(path), read_only=True) as conn:
        for table in tables.WAREHOUSE_TABLES:
            found[f"warehouse {table.sql_name}"] = canonical(conn.sql(f'SELECT * FROM "{table.sql_name}"').pl())
    return found


def test_incremental_marts_and_warehouse_equal_a_full_rebuild_after_random_changes(tmp_path):
    landing = tmp_path / "landing"
    generate_landing(landing, rows=2_000, seed=5, start=date(2010, 12, 1), end=date(2011, 2, 28))
    house = tmp_path / "incremental" / "lakehouse"
    build(landing, house)
    rng = random.Random(17)
    kinds = []
    for round_ in range(2):  # three changes a round: each run meets a mix of kinds at once
        kinds += [change(landing, rng, 3 * round_ + i, tmp_path, PLAN[3 * round_ + i]) for i in range(3)]
        build(landing, house)
        ours, whole = outputs(house), rebuilt_whole(house, tmp_path)
        for name in whole:
            assert ours[name].equals(whole[name]), f"after {kinds}: {name} differs from a full rebuild"
        refreshed = Lakehouse(root=str(house)).table("gold/monthly_kpis").history(1)[0]
        assert "retail_pipeline.read" in refreshed  # the versions it was built from, for the next refresh
    # A build from nothing of the same landing zone agrees too, but for the rows of deleted files, which an
    # incremental run keeps until their dates are rebuilt (`run --full`).
    run_pipeline(str(landing), str(house), dg.DagsterInstance.ephemeral(), say=lambda _: None, full=True)
    fresh = tmp_path / "fresh" / "lakehouse"
    build(landing, fresh)
    ours, theirs = outputs(house), outputs(fresh)
    for name in theirs:
        assert ours[name].equals(theirs[name]), f"after {kinds} and a full run: {name} differs from a fresh build"


def test_a_month_grain_mart_recomputes_only_the_months_that_changed(tmp_path):
    """A new day of March leaves the rows of December to February as they were, read back, not recomputed:
    the refresh reads silver's March only (and all of it only for the monthly customers split)."""
    from retail_pipeline.adapters.history_refresh import months_behind

    landing = tmp_path / "landing"
    generate_landing(landing, rows=1_500, seed=5, start=date(2010, 12, 1), end=date(2011, 2, 28))
    root = tmp_path / "lakehouse"
    build(landing, root)
    house = Lakehouse(root=str(root))
    assert months_behind(house, tables.COUNTRY_SALES, tables.SILVER_TRANSACTIONS).months == frozenset()
    generate_landing(landing, rows=50, seed=9, start=date(2011, 3, 2), end=date(2011, 3, 2))
    run_pipeline(str(landing), str(root), dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False)
    refresh = months_behind(house, tables.COUNTRY_SALES, tables.SILVER_TRANSACTIONS)
    assert not refresh.whole and refresh.months == frozenset({date(2011, 3, 1)})
