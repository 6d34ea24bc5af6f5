"""The landing sensor against a real landing folder and lakehouse (``build_sensor_context``), the nightly
schedule, the automation of whole-history marts, and the chunked backfill."""

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pytest

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.landing_zone import LandingZone
from retail_pipeline.app.runner import backfill, run_pipeline
from retail_pipeline.core.contracts import PER_RUN_COLUMNS
from retail_pipeline.core.planning import LandingCursor, chunks, group_ranges, stale_dates
from retail_pipeline.defs.definitions import build_definitions
from retail_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG
from retail_pipeline.defs.resources import build_resources
from retail_pipeline.defs.schedules import build_nightly_schedule
from retail_pipeline.defs.sensors import build_landing_sensor
from retail_pipeline.settings import Settings
from retail_pipeline_tests.app.test_pipeline import DAYS, assert_same_tables, snapshot, write_days
from retail_pipeline_tests.conftest import write_csv


def line(day: date, invoice: int, qty: int = 1) -> str:
    return f"{invoice},21777,RECIPE BOX,{qty},{day.month}/{day.day}/{day.year} 10:00,7.95,12583,France"


class Sensor:
    """Ticks of the landing sensor as the daemon makes them: the cursor carried from tick to tick."""

    def __init__(self, landing: Path, lake: Path, instance: dg.DagsterInstance):
        self.landing, self.lake, self.instance = landing, lake, instance
        self.cursor: str | None = None

    def tick(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            cursor=self.cursor,
            instance=self.instance,
            resources={"landing": LandingZone(root=str(self.landing)), "lakehouse": Lakehouse(root=str(self.lake))},
        )
        # Built from the environment at each tick, as a daemon that reloaded the definitions would.
        result = build_landing_sensor(Settings.from_env())(context)
        self.cursor = result.cursor
        return result

    def ranges(self, result: dg.SensorResult) -> list[tuple[str, str]]:
        return [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in result.run_requests or []]

    def run(self, result: dg.SensorResult) -> None:
        """Execute what the sensor requested, as the daemon would."""
        defs = build_definitions(resources=build_resources(str(self.landing), str(self.lake)))
        for request in result.run_requests:
            done = defs.resolve_job_def("incremental_job").execute_in_process(instance=self.instance, tags=request.tags)
            assert done.success

    def manifest(self) -> pl.DataFrame:
        return Lakehouse(root=str(self.lake)).read("bronze/landed_files").sort("path")


@pytest.fixture
def sensor(landing, lakehouse_root) -> Sensor:
    return Sensor(landing, lakehouse_root, dg.DagsterInstance.ephemeral())


def test_a_new_file_waits_one_tick_then_lands_and_runs_its_day_only(sensor, landing):
    write_days(landing, {"2010-12-01": DAYS["2010-12-01"]})
    first = sensor.tick()
    assert not first.run_requests and "1 file(s) seen for the first time, 0 still changing" in first.skip_reason.skip_message
    assert not (sensor.lake / "bronze" / "landed_files").exists()  # nothing landed on first sight

    second = sensor.tick()
    assert sensor.ranges(second) == [("2010-12-01", "2010-12-01")]
    assert sensor.manifest()["status"].to_list() == ["active"]
    assert [e.asset_key for e in second.asset_events] == [dg.AssetKey(["bronze", "landed_files"])]
    sensor.run(second)
    assert Lakehouse(root=str(sensor.lake)).read("silver/transactions").height == 3

    third = sensor.tick()
    assert not third.run_requests and third.skip_reason.skip_message.startswith("nothing new")


def test_a_half_written_file_waits_and_temporary_names_never_land(sensor, landing):
    path = landing / "day.csv"
    write_csv(path, [line(date(2010, 12, 1), 536001)])
    write_csv(landing / "next.csv.part", [line(date(2010, 12, 2), 536002)])
    sensor.tick()
    with path.open("a") as f:  # the shop's export is still being written
        f.write(line(date(2010, 12, 1), 536003) + "\n")
    growing = sensor.tick()
    assert not growing.run_requests and "0 file(s) seen for the first time, 1 still changing" in growing.skip_reason.skip_message
    settled = sensor.tick()
    assert sensor.ranges(settled) == [("2010-12-01", "2010-12-01")]
    manifest = sensor.manifest()
    assert manifest["path"].to_list() == ["day.csv"] and manifest["rows"].to_list() == [2]


def test_identical_redrop_is_a_duplicate_and_runs_nothing(sensor, landing):
    write_days(landing, {"2010-12-01": DAYS["2010-12-01"]})
    sensor.tick()
    sensor.run(sensor.tick())
    shutil.copy(landing / "online_retail_2010-12-01.csv", landing / "copy_of_monday.csv")
    sensor.tick()
    again = sensor.tick()
    assert not again.run_requests
    statuses = dict(sensor.manifest().select("path", "status").iter_rows())
    assert statuses == {"copy_of_monday.csv": "duplicate", "online_retail_2010-12-01.csv": "active"}


def test_a_changed_file_reruns_its_old_and_new_dates_and_a_late_file_only_its_date(sensor, landing):
    write_csv(landing / "a.csv", [line(date(2010, 12, 1), 536001)])
    write_csv(landing / "b.csv", [line(date(2010, 12, 10), 536002), line(date(2010, 12, 20), 536003)])
    sensor.tick()
    sensor.run(sensor.tick())

    write_csv(landing / "a.csv", [line(date(2010, 12, 3), 536001)])  # the shop re-exported a.csv
    sensor.tick()
    changed = sensor.tick()
    assert sensor.ranges(changed) == [("2010-12-01", "2010-12-03")]
    sensor.run(changed)
    silver = Lakehouse(root=str(sensor.lake)).read("silver/transactions")
    assert sorted(silver["invoice_date"].to_list()) == [date(2010, 12, 3), date(2010, 12, 10), date(2010, 12, 20)]

    write_csv(landing / "late.csv", [line(date(2010, 12, 10), 536999)])  # a late file for an old date
    sensor.tick()
    late = sensor.tick()
    assert sensor.ranges(late) == [("2010-12-10", "2010-12-10")]


def test_a_deleted_file_is_reported_missing_and_runs_nothing(sensor, landing):
    write_days(landing)
    sensor.tick()
    sensor.run(sensor.tick())
    (landing / "online_retail_2010-12-02.csv").unlink()
    gone = sensor.tick()
    assert not gone.run_requests
    statuses = dict(sensor.manifest().select("path", "status").iter_rows())
    assert statuses["online_retail_2010-12-02.csv"] == "missing"
    assert not sensor.tick().run_requests  # and it stays quiet


def test_300_new_days_are_one_run_and_the_run_size_is_bounded(sensor, landing, monkeypatch):
    first = date(2011, 1, 3)
    for i in range(300):
        day = first + timedelta(days=i)
        write_csv(landing / f"day_{day}.csv", [line(day, 540000 + i)])
    sensor.tick()
    result = sensor.tick()
    assert sensor.ranges(result) == [("2011-01-03", str(first + timedelta(days=299)))]

    monkeypatch.setenv("RETAIL_MAX_PARTITIONS_PER_RUN", "120")
    restarted = Sensor(landing, sensor.lake, sensor.instance)  # fresh cursor: observes, then plans again
    restarted.tick()
    bounded = restarted.tick()
    assert [(date.fromisoformat(b) - date.fromisoformat(a)).days + 1 for a, b in restarted.ranges(bounded)] == [120, 120, 60]


def test_the_cursor_survives_a_restart(sensor, landing):
    write_days(landing)
    sensor.tick()
    sensor.run(sensor.tick())
    saved = sensor.cursor
    assert LandingCursor.parse(saved).seen.keys() == {p.name for p in landing.iterdir()}

    after_restart = Sensor(sensor.landing, sensor.lake, sensor.instance)
    after_restart.cursor = saved
    quiet = after_restart.tick()
    assert not quiet.run_requests and quiet.skip_reason.skip_message == "nothing new in 3 file(s)"


def test_stale_dates_and_ranges_are_pure_functions():
    manifest = pl.DataFrame(
        {
            "path": ["a.csv", "b.csv", "gone.csv"],
            "sha256": ["a2", "b1", "g1"],
            "status": ["active", "active", "missing"],
            "business_dates": [[date(2011, 1, 4)], [date(2011, 1, 5)], [date(2011, 1, 6)]],
        }
    )
    bronze = pl.DataFrame(
        {
            "_source_file": ["a.csv", "b.csv", "gone.csv"],
            "_file_sha256": ["a1", "b1", "g1"],
            "_partition_date": [date(2011, 1, 3), date(2011, 1, 5), date(2011, 1, 6)],
        }
    )
    # a.csv changed (old rows on 01-03, new on 01-04); b.csv is in place; gone.csv's deletion runs nothing.
    assert stale_dates(manifest, bronze, date(2010, 12, 1), date(2012, 1, 1)) == [date(2011, 1, 3), date(2011, 1, 4)]
    days = [date(2011, 1, 3), date(2011, 1, 4), date(2011, 1, 10), date(2011, 3, 1)]
    assert group_ranges(days, max_gap_days=7, max_len=366) == [
        (date(2011, 1, 3), date(2011, 1, 10)), (date(2011, 3, 1), date(2011, 3, 1))
    ]
    assert group_ranges(days, max_gap_days=7, max_len=2) == [
        (date(2011, 1, 3), date(2011, 1, 4)), (date(2011, 1, 10), date(2011, 1, 10)), (date(2011, 3, 1), date(2011, 3, 1))
    ]
    assert chunks(date(2011, 1, 1), date(2011, 1, 5), 2) == [
        (date(2011, 1, 1), date(2011, 1, 2)), (date(2011, 1, 3), date(2011, 1, 4)), (date(2011, 1, 5), date(2011, 1, 5))
    ]


def test_the_nightly_schedule_requests_the_previous_day(monkeypatch):
    nightly_schedule = build_nightly_schedule(Settings())
    london = ZoneInfo("Europe/London")
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2011, 12, 10, 2, 0, tzinfo=london))
    request = nightly_schedule(context)
    assert request.partition_key == "2011-12-09" and request.run_key == "nightly-2011-12-09"
    assert nightly_schedule.cron_schedule == "0 2 * * *" and nightly_schedule.execution_timezone == "Europe/London"
    assert nightly_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert nightly_schedule.job_name == "nightly_job"
    monkeypatch.setenv("RETAIL_SCHEDULE_TIME", "23:45")
    assert build_nightly_schedule(Settings.from_env()).cron_schedule == "45 23 * * *"
    monkeypatch.setenv("RETAIL_SCHEDULE_TIME", "2am")
    with pytest.raises(ValueError, match="RETAIL_SCHEDULE_TIME='2am': expected a time like 02:00"):
        Settings.from_env()


def test_whole_history_marts_are_requested_once_after_a_multi_partition_run(landing, lakehouse_root):
    write_days(landing)
    instance = dg.DagsterInstance.ephemeral()
    defs = build_definitions(resources=build_resources(str(landing), str(lakehouse_root)))
    monthly = dg.AssetKey(["gold", "monthly_kpis"])

    def requested(cursor=None):
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        return result, result.get_num_requested(monthly)

    baseline, _ = requested()
    assert defs.resolve_job_def("landing_job").execute_in_process(instance=instance).success
    tags = {RANGE_START_TAG: "2010-12-01", RANGE_END_TAG: "2010-12-03"}
    assert defs.resolve_job_def("partitions_job").execute_in_process(instance=instance, tags=tags).success

    after_batch, count = requested(baseline.cursor)
    assert count == 1  # three new partitions of silver: one request, not three
    # Every whole-history mart, the warehouse and the report come in the same tick, once each.
    history = [key for key in defs.resolve_asset_graph().get_all_asset_keys()
               if key.path[0] == "gold" and not defs.resolve_assets_def(key).partitions_def]
    assert len(history) == 11
    from retail_pipeline.defs.sensors import history_marts_sensor  # on by default in `make dev`

    assert set(history) <= history_marts_sensor.asset_selection.resolve(defs.resolve_asset_graph())
    assert {key.to_user_string(): after_batch.get_num_requested(key) for key in history} == {
        key.to_user_string(): 1 for key in history
    }
    _, again = requested(after_batch.cursor)
    assert again == 0  # nothing changed since


def test_a_day_by_day_backfill_equals_one_range_run(tmp_path):
    landing = tmp_path / "landing"
    days = {"2010-12-01": DAYS["2010-12-01"], "2010-12-02": DAYS["2010-12-02"], "2010-12-03": DAYS["2010-12-03"],
            "2010-12-06": [line(date(2010, 12, 6), 536500, 4)]}
    write_days(landing, days)
    instance = dg.DagsterInstance.ephemeral()
    lines: list[str] = []
    backfill(str(landing), str(tmp_path / "chunked"), instance, date(2010, 12, 1), date(2010, 12, 6), 1, lines.append)
    assert [l for l in lines if l.startswith("[2/3]")] == [
        f"[2/3] chunk {i}/6: 2010-12-0{i} .. 2010-12-0{i} (1 daily partitions, one run) ..." for i in range(1, 7)
    ]
    run_pipeline(str(landing), str(tmp_path / "one_run"), instance, say=lambda _: None)
    assert_same_tables(snapshot(Lakehouse(root=str(tmp_path / "chunked"))), snapshot(Lakehouse(root=str(tmp_path / "one_run"))))
    with pytest.raises(ValueError, match="is after"):
        backfill(str(landing), str(tmp_path / "x"), instance, date(2010, 12, 6), date(2010, 12, 1), 2)


def test_run_rebuilds_only_what_changed_and_completes_unfinished_dates(landing, lakehouse_root):
    from retail_pipeline.core.dates import Window

    write_days(landing)
    instance = dg.DagsterInstance.ephemeral()

    def run(**kwargs) -> list[str]:
        lines: list[str] = []
        # Daily tables only: this test is about which dates run, not the whole-history marts.
        run_pipeline(str(landing), str(lakehouse_root), instance, say=lines.append, marts=False, **kwargs)
        return [l for l in lines if l.startswith("[2/3]")]

    assert run() == ["[2/3] bronze -> silver -> gold for 2010-12-01 .. 2010-12-03 (3 daily partitions, one run) ..."]
    assert run() == ["[2/3] every business date is up to date: nothing to materialise (`--full` rebuilds them all)."]

    write_csv(landing / "monday.csv", [line(date(2010, 12, 6), 536700)])
    assert run() == ["[2/3] bronze -> silver -> gold for 2010-12-06 .. 2010-12-06 (1 daily partitions, one run) ..."]

    # A run that died after bronze: silver's figures for 12-02 are missing, so the next run completes that day.
    house = Lakehouse(root=str(lakehouse_root))
    stats = house.read("silver/partition_stats")
    house.write("silver/partition_stats", stats.head(0), "business_date", Window(date(2010, 12, 2), date(2010, 12, 3)))
    assert run() == ["[2/3] bronze -> silver -> gold for 2010-12-02 .. 2010-12-02 (1 daily partitions, one run) ..."]
    per_run = [c for c in PER_RUN_COLUMNS if c in stats.columns]
    assert house.read("silver/partition_stats").drop(per_run).sort("business_date").equals(
        stats.drop(per_run).sort("business_date")
    )

    assert run(full=True) == ["[2/3] bronze -> silver -> gold for 2010-12-01 .. 2010-12-06 (6 daily partitions, one run) ..."]
    # marts=False left the whole-history marts alone; history=True builds them with no date to run.
    assert house.exists("gold/daily_sales") and not house.exists("gold/monthly_kpis")
    run_pipeline(str(landing), str(lakehouse_root), instance, say=lambda _: None, history=True)
    assert house.read("gold/monthly_kpis")["orders"].sum() > 0
