"""Crash and concurrency safety, with real processes: every run below is a subprocess
(``retail_pipeline_tests/safety_run.py``) running a Dagster job on a persistent instance over real Delta tables.

- a run SIGKILLed in the middle of writing silver leaves every table readable at its previous version, and
  re-running the partition completes it;
- two runs writing different days of the same month (the same physical month partition) at once, or the same
  day at once, both succeed and the tables equal one clean run's: nothing lost, nothing duplicated;
- the multiprocess executor (forkserver) runs a partition with deltalake and gives the in-process tables.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.app.generate import generate_landing
from retail_pipeline.core.contracts import PER_RUN_COLUMNS
from retail_pipeline_tests.app.test_pipeline import assert_same_tables

REPO = Path(__file__).resolve().parents[2]
CRASH_HOOK = Path(__file__).resolve().parents[1] / "crash_hook"
LANDING_AND_DAILY = "landing_job,partitions_job"
# What partitions_job writes for a day, below bronze and including it.
DOWNSTREAM = (
    "silver/transactions",
    "silver/quarantine",
    "silver/partition_stats",
    "gold/daily_sales",
    "gold/dq_scorecard",
    "gold/fact_sales",
)
DAILY_TABLES = ("bronze/transactions", *DOWNSTREAM)
# Blocking checks of a daily run that must have run and passed (besides "every check passed").
KEY_CHECKS = {
    "silver/transactions:row_conservation",
    "silver/transactions:no_duplicate_lines",
    "gold/daily_sales:revenue_reconciles_with_silver",
    "gold/fact_sales:reconciles_with_silver",
}


def start(tmp_path: Path, lake: Path, landing: Path, jobs: str, *dates: str, args=(), env=None) -> subprocess.Popen:
    """A run of ``jobs`` in its own process, on the instance at ``tmp_path/dagster_home`` (shared by every run
    of the test, as runs launched by one deployment share theirs)."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    full_env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_DATA_DIR": str(home),
        "RETAIL_LANDING_DIR": str(landing),
        "RETAIL_LAKEHOUSE_URI": str(lake),
        "RETAIL_WAREHOUSE_PATH": str(lake.parent / f"{lake.name}.duckdb"),
        "RETAIL_REPORTS_DIR": str(lake.parent / f"{lake.name}_reports"),
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "retail_pipeline_tests.safety_run", jobs, *dates, *args],
        cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 240) -> dict:
    """Wait for a run started by ``start``; assert it succeeded and every error-severity asset check it ran
    passed (warnings such as ``latest_data_is_fresh`` fail on historical data by design)."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"run failed (exit {process.returncode}):\n{out[-3000:]}\n{err[-3000:]}"
    outcome = json.loads(out.strip().splitlines()[-1])
    for job, result in outcome["jobs"].items():
        failed = [name for name, c in result["checks"].items() if not c["passed"] and c["severity"] == "ERROR"]
        assert result["success"] and not failed, f"{job}: {result}"
    return outcome


def run(tmp_path, lake, landing, jobs, *dates, **kwargs) -> dict:
    return finish(start(tmp_path, lake, landing, jobs, *dates, **kwargs))


def run_together(tmp_path: Path, lake: Path, landing: Path, first: tuple[str, ...], second: tuple[str, ...]):
    """Two partition runs in two processes released at the same instant, once both have loaded everything."""
    barrier = tmp_path / "go"
    processes = [
        start(tmp_path, lake, landing, "partitions_job", *dates, args=("--barrier", str(barrier)))
        for dates in (first, second)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.ready.*"))) < 2:
        assert time.monotonic() < deadline and all(p.poll() is None for p in processes), [
            p.communicate() for p in processes if p.poll() is not None
        ]
        time.sleep(0.02)
    barrier.touch()
    return [finish(p) for p in processes]


def daily_snapshot(lake: Path) -> dict[str, pl.DataFrame]:
    """Every daily table without its per-run lineage columns, in a canonical order."""
    house = Lakehouse(root=str(lake))
    tables = {}
    for table in DAILY_TABLES:
        frame = house.read(table)
        frame = frame.drop([c for c in PER_RUN_COLUMNS if c in frame.columns])
        tables[table] = frame.sort(frame.columns, nulls_last=True)
    return tables


def all_tables(lake: Path) -> list[str]:
    return sorted(str(log.parent.relative_to(lake)) for log in lake.glob("*/*/_delta_log"))


def versions(lake: Path) -> dict[str, int]:
    return {table: DeltaTable(str(lake / table)).version() for table in all_tables(lake)}


@pytest.fixture(scope="module")
def built_month(tmp_path_factory) -> tuple[Path, Path]:
    """Three business days of one month (the daily tables hold them in one physical partition, ``_month``),
    landed and run once for the module."""
    base = tmp_path_factory.mktemp("month")
    landing = base / "landing"
    generate_landing(landing, rows=3000, start=date(2011, 1, 4), end=date(2011, 1, 6))
    run(base, base / "lake", landing, LANDING_AND_DAILY, "2011-01-04", "2011-01-06")
    return landing, base / "lake"


@pytest.fixture
def month(tmp_path, built_month) -> Path:
    """A copy of ``built_month`` for one test: its landing zone (returned), its lakehouse at tmp_path/lake
    (files keep their mtimes, so the manifest sees the same files) and its Dagster instance: two processes
    that are the first to open a new SQLite instance both create its tables, and one fails ("table ...
    already exists"), where a deployment's instance exists before runs start."""
    landing, lake = built_month
    shutil.copytree(landing, tmp_path / "landing")
    shutil.copytree(lake, tmp_path / "lake")
    shutil.copytree(lake.parent / "dagster_home", tmp_path / "dagster_home")
    return tmp_path / "landing"


def test_a_run_killed_while_writing_silver_leaves_every_table_at_its_previous_version(tmp_path):
    landing = tmp_path / "landing"
    # More than 8,192 rows in the day whose silver write is killed: see crash_hook/sitecustomize.py.
    generate_landing(landing, rows=20_000, start=date(2011, 1, 4), end=date(2011, 1, 5))
    lake = tmp_path / "lake"
    run(tmp_path, lake, landing, LANDING_AND_DAILY, "2011-01-04", "2011-01-05")
    before = versions(lake)
    contents_before = daily_snapshot(lake)

    # The shop re-exports 2011-01-05 with its last 100 lines gone, so the re-run has different rows to write.
    changed = landing / "online_retail_2011-01-05.csv"
    lines = changed.read_bytes().splitlines(keepends=True)
    assert len(lines) > 9_000
    changed.write_bytes(b"".join(lines[:-100]))

    report_file = tmp_path / "crash.json"
    crashed = start(
        tmp_path, lake, landing, LANDING_AND_DAILY, "2011-01-05",
        env={
            "PYTHONPATH": os.pathsep.join([str(CRASH_HOOK), os.environ.get("PYTHONPATH", "")]),
            "RETAIL_CRASH_TABLE": "silver/transactions",
            "RETAIL_CRASH_REPORT": str(report_file),
        },
    )
    out, err = crashed.communicate(timeout=240)
    assert crashed.returncode == -signal.SIGKILL, f"exit {crashed.returncode}:\n{out[-2000:]}\n{err[-3000:]}"
    report = json.loads(report_file.read_text())
    assert report["rows"] > 8_192

    # Nothing committed once the silver write began; what the run wrote before it (landing_job's tables,
    # bronze: one commit) stands, and silver and gold are at their previous versions.
    after = versions(lake)
    assert after == report["versions_at_write"] and set(after) == set(before)
    assert after["bronze/transactions"] == before["bronze/transactions"] + 1
    assert {t: after[t] for t in DOWNSTREAM} == {t: before[t] for t in DOWNSTREAM}
    # Every table reads, and silver and gold are the previous version's rows.
    for table in all_tables(lake):
        pl.read_delta(str(lake / table))
    contents_after = daily_snapshot(lake)
    for table in DOWNSTREAM:
        assert contents_after[table].equals(contents_before[table]), table
    # The killed write had put Parquet files on disk; they are orphans, not part of the table.
    silver = lake / "silver" / "transactions"
    assert report["new_files"] and all((silver / name).is_file() for name in report["new_files"])
    in_table = {Path(uri).resolve() for uri in DeltaTable(str(silver)).file_uris()}
    assert not in_table & {(silver / name).resolve() for name in report["new_files"]}

    # Re-running the partition completes it, its checks pass, and the tables equal one clean run's.
    rerun = run(tmp_path, lake, landing, "partitions_job", "2011-01-05")
    assert KEY_CHECKS <= set(rerun["jobs"]["partitions_job"]["checks"])
    clean = tmp_path / "clean"
    run(tmp_path, clean, landing, LANDING_AND_DAILY, "2011-01-04", "2011-01-05")
    assert_same_tables(daily_snapshot(clean), daily_snapshot(lake))
    assert not daily_snapshot(lake)["silver/transactions"].equals(contents_before["silver/transactions"])


def test_two_runs_writing_different_days_of_one_month_at_once_both_land(tmp_path, month):
    # The lake holds one run over the three days: each daily table holds them in the same files (one month), so
    # both runs below must rewrite those files to replace their own day and keep the others.
    lake = tmp_path / "lake"
    # New exports of 2011-01-05 and 2011-01-06 (last 10 lines gone): a lost write would leave its old rows.
    for day in ("2011-01-05", "2011-01-06"):
        export = month / f"online_retail_{day}.csv"
        export.write_bytes(b"".join(export.read_bytes().splitlines(keepends=True)[:-10]))
    clean = tmp_path / "clean"
    landing_run = start(tmp_path, lake, month, "landing_job")
    clean_run = start(tmp_path, clean, month, LANDING_AND_DAILY, "2011-01-04", "2011-01-06")
    finish(landing_run), finish(clean_run)
    before = versions(lake)

    first, second = run_together(tmp_path, lake, month, ("2011-01-05",), ("2011-01-06",))
    assert first["pid"] != second["pid"]
    for outcome in (first, second):
        assert KEY_CHECKS <= set(outcome["jobs"]["partitions_job"]["checks"])
    # Each run committed once to each daily table.
    assert {t: versions(lake)[t] - before[t] for t in DAILY_TABLES} == {t: 2 for t in DAILY_TABLES}
    together, expected = daily_snapshot(lake), daily_snapshot(clean)
    assert_same_tables(expected, together)
    days = sorted(together["silver/partition_stats"]["business_date"].to_list())
    assert days == [date(2011, 1, 4), date(2011, 1, 5), date(2011, 1, 6)]


def test_two_runs_writing_the_same_day_at_once_equal_one_clean_run(tmp_path, month):
    lake = tmp_path / "lake"  # one run over the three days
    expected = daily_snapshot(lake)
    run_together(tmp_path, lake, month, ("2011-01-05",), ("2011-01-05",))
    together = daily_snapshot(lake)
    assert_same_tables(expected, together)
    # Nothing duplicated: silver holds each landed record once.
    silver = together["silver/transactions"]
    assert silver.select("_source_file", "_source_row").is_duplicated().sum() == 0


def test_the_multiprocess_executor_with_forkserver_writes_what_in_process_writes(tmp_path, month):
    in_process = tmp_path / "lake"  # the three days run in one process
    multi = tmp_path / "multi"
    outcome = run(
        tmp_path, multi, month, LANDING_AND_DAILY, "2011-01-04", "2011-01-06",
        args=("--multiprocess", "forkserver"), env={"RETAIL_EXECUTOR": "multiprocess"},
    )
    daily = outcome["jobs"]["partitions_job"]
    assert daily["executor"] == "multiprocess"
    # Each step ran in a process of its own, none of them the launching one.
    assert len(daily["step_pids"]) > 2 and outcome["pid"] not in daily["step_pids"]
    assert KEY_CHECKS <= set(daily["checks"])
    assert_same_tables(daily_snapshot(in_process), daily_snapshot(multi))

