"""Runs that heal themselves, with real processes (issue 14): a ``retail-pipeline run`` SIGKILLed at a fixed
point (between two steps, between two table commits of one step, inside the whole-history step, after the
warehouse, after the report) is completed by the next plain run, which alone says "up to date", and the
tables then equal a clean run's; a failed whole-history step and a blocking check held back by a broken
reference table are retried by every run until fixed; two runners with different inputs never interleave.

The scenario (``conftest.py``): a lakehouse built from the June 1-4 files, then the shop re-exports June 2
(20 lines fewer) and drops June 5-8; the killed run is the one that lands and builds that change. The kill
points are named in ``crash_hook/sitecustomize.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.lakehouse_state import current_plan
from retail_pipeline.app.runner import RunFailed, run_pipeline
from retail_pipeline.core import tables
from retail_pipeline.defs.partitions import partition_bounds
from retail_pipeline_tests.app.conftest import UNTIL, copy_landing, trim, warehouse_rows
from retail_pipeline_tests.app.preloaded import Command
from retail_pipeline_tests.fingerprint import fingerprints

REPO = Path(__file__).resolve().parents[2]
CRASH_HOOK = Path(__file__).resolve().parents[1] / "crash_hook"
UP_TO_DATE = "up to date: every daily table, the whole-history marts, the warehouse and the report"


def start_from_base(scenario: dict[str, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the base lakehouse (with its warehouse and report beside it) and of the changed landing."""
    shutil.copytree(scenario["base"], tmp_path / "site")
    return copy_landing(scenario["after"], tmp_path / "landing"), tmp_path / "site" / "lake"


def cli_run(landing: Path, lake: Path, home: Path, env: dict | None = None, wait: bool = True):
    """``retail-pipeline run`` in its own process (forked with its imports done: ``preloaded.py``), from a
    directory with no dagster.yaml and no DAGSTER_HOME: Dagster's ephemeral instance (what these tests look
    at is the lakehouse)."""
    home.mkdir(exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_HOME")} | (env or {})
    command = Command(["run", "--landing", str(landing), "--lakehouse", str(lake)], full_env, home, home / "streams")
    return command.wait() if wait else command


def hooked(point: str, mark: Path, action: str = "RETAIL_KILL_AFTER", **extra: str) -> dict:
    return {action: point, "RETAIL_KILL_MARK": str(mark), **extra}


def plain_run(landing: Path, lake: Path) -> list[str]:
    said: list[str] = []
    run_pipeline(str(landing), str(lake), dg.DagsterInstance.ephemeral(), say=said.append)
    return said


def assert_equals_clean(lake: Path, scenario: dict) -> None:
    ours, clean = fingerprints(str(lake), UNTIL), scenario["fingerprints"]
    differ = {t for t in clean if ours.get(t) != clean[t]} | (set(ours) - set(clean))
    assert not differ, f"tables that differ from a clean run's: {sorted(differ)}"
    assert warehouse_rows(lake.parent) == scenario["warehouse"]
    # The report is the clean run's, charts and figures (the base lakehouse's stopped at June 9).
    def report(site: Path) -> str:  # the page says when it was generated
        return re.sub(r"generated \S+ \S+ UTC", "", (site / "lake.reports" / "kpi_report.html").read_text())

    assert report(lake.parent) == report(scenario["clean"])
    assert current_plan(Lakehouse(root=str(lake)), *partition_bounds()).up_to_date


KILL_POINTS = [
    "bronze/transactions",  # after bronze's commit (the run's records are committed when it ends)
    "silver/transactions",  # between silver's tables (quarantine and partition_stats not written)
    "gold/daily_sales",  # after each daily gold table: the first,
    "gold/fact_sales",  # the second,
    "record:gold/dq_scorecard",  # the last, its run's records committed, not confirmed
    "gold/monthly_kpis",  # inside the whole-history step
    "before-record:gold/warehouse",  # the warehouse file replaced, not recorded
    "record:gold/kpi_report",  # after the report: the last thing a run does before its confirmation
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_run_killed_at_any_point_is_completed_by_the_next_plain_run(scenario, tmp_path, point):
    landing, lake = start_from_base(scenario, tmp_path)
    mark = tmp_path / "killed"
    code, out, err = cli_run(landing, lake, tmp_path / "home", hooked(point, mark))
    assert code == -signal.SIGKILL and mark.read_text() == point, f"exit {code}:\n{out[-1500:]}\n{err[-2500:]}"
    assert UP_TO_DATE not in out

    said = plain_run(landing, lake)
    assert said[-1].endswith(UP_TO_DATE), said
    assert_equals_clean(lake, scenario)
    if point == KILL_POINTS[-1]:  # and the next run has nothing to do (the planner agrees: checked above)
        again = plain_run(landing, lake)
        assert "[2/3] every business date is up to date" in again and again[-1].endswith(UP_TO_DATE)


def test_a_failed_whole_history_step_is_completed_by_the_next_run(scenario, tmp_path, monkeypatch):
    landing, lake = start_from_base(scenario, tmp_path)
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("a file where the warehouse's folder should be")
    monkeypatch.setenv("RETAIL_WAREHOUSE_PATH", str(blocker / "warehouse.duckdb"))
    with pytest.raises(RunFailed, match="gold__warehouse") as failed:  # daily tables built, the warehouse fails
        plain_run(landing, lake)
    # The failed run vouches for nothing it built (its marts stay pending too): all of it is behind.
    assert "still behind:" in str(failed.value) and "gold/warehouse" in str(failed.value).split("still behind:")[1]
    monkeypatch.delenv("RETAIL_WAREHOUSE_PATH")
    said = plain_run(landing, lake)
    assert "[2/3] every business date is up to date" in said
    assert any(line.startswith("[3/3] whole-history outputs:") and "gold/warehouse" in line for line in said), said
    assert said[-1].endswith(UP_TO_DATE)
    assert_equals_clean(lake, scenario)


def test_a_blocking_check_holds_its_dates_back_until_its_cause_is_fixed(scenario, tmp_path):
    landing, lake = start_from_base(scenario, tmp_path)
    house = Lakehouse(root=str(lake))
    rates = house.read(tables.FX_RATES.path)
    # A broken reference table: the exchange-rate log lost its pound (it is append-only, so no run refills
    # it by itself); the new dates' lines get no GBP rate and silver's blocking rate check fails.
    house.write(tables.FX_RATES.path, rates.filter(pl.col("currency") != "GBP"))
    for _ in range(2):
        with pytest.raises(RunFailed) as failed:
            plain_run(landing, lake)
        message = str(failed.value)
        assert "blocked by a failing check: silver/transactions: every_line_has_an_fx_rate on 2011-06-02" in message
        assert "still behind:" in message and UP_TO_DATE not in message
    daily = house.read(tables.DAILY_SALES.path)
    assert daily.filter(pl.col("invoice_date") >= date(2011, 6, 5)).is_empty()  # nothing below the check
    plan = current_plan(house, *partition_bounds())
    assert not plan.up_to_date and plan.blocked

    house.write(tables.FX_RATES.path, rates)  # fixed
    said = plain_run(landing, lake)
    assert said[-1].endswith(UP_TO_DATE)
    assert_equals_clean(lake, scenario)


def test_two_runners_with_different_inputs_never_interleave(scenario, tmp_path):
    """Runner A builds the change with June 6 exported 5 lines short, holding the lock (paused after silver);
    meanwhile the shop re-exports June 6 complete and runner B starts: B waits for A, then lands the newer
    file and rebuilds its date, so the lakehouse ends as one clean run of the newest files."""
    landing, lake = start_from_base(scenario, tmp_path)
    june_6 = landing / "online_retail_2011-06-06.csv"
    trim(june_6, 5)
    mark, resume = tmp_path / "paused", tmp_path / "resume"
    pause = hooked("silver/transactions", mark, "RETAIL_PAUSE_AFTER", RETAIL_PAUSE_UNTIL=str(resume), RETAIL_PAUSE_SECONDS="60")
    first = cli_run(landing, lake, tmp_path / "home", pause, wait=False)
    deadline = time.monotonic() + 120
    while not mark.exists():
        assert first.running() and time.monotonic() < deadline, first.wait()
        time.sleep(0.05)
    shutil.copy2(scenario["after"] / june_6.name, june_6)  # the complete re-export
    second = cli_run(landing, lake, tmp_path / "home", wait=False)
    while "waiting for the lakehouse" not in second.output():  # B reached the lock A holds
        assert second.running() and time.monotonic() < deadline, second.wait()
        time.sleep(0.05)
    resume.touch()
    code_a, out_a, err_a = first.wait()
    code_b, out_b, err_b = second.wait()
    assert code_a == 0, err_a[-2000:]
    assert code_b == 0, err_b[-2000:]
    assert "waiting for the lakehouse: `retail-pipeline run`" in out_b
    assert "2011-06-06 .. 2011-06-06" in out_b  # B rebuilt the date A had built from the shorter file
    assert_equals_clean(lake, scenario)
