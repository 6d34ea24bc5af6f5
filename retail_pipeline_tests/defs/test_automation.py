"""The landing sensor against a real landing folder and lakehouse (``build_sensor_context``), the nightly
schedule, the automation of whole-history marts, and the chunked backfill."""

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pytest
from dagster._core.utils import make_new_run_id

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.landing_zone import LandingZone
from retail_pipeline.app.runner import backfill, run_pipeline
from retail_pipeline.core import tables
from retail_pipeline.core.contracts import PER_RUN_COLUMNS
from retail_pipeline.core.planning import LandingCursor, group_ranges, stale_dates
from retail_pipeline.defs.definitions import build_definitions
from retail_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG
from retail_pipeline.defs.resources import build_resources
from retail_pipeline.defs.schedules import build_nightly_schedule
from retail_pipeline.defs.sensors import InstanceRunBook, evaluate_landing
from retail_pipeline.settings import Settings
from retail_pipeline_tests.app.test_pipeline import DAYS, assert_same_tables, snapshot, write_days
from retail_pipeline_tests.conftest import write_csv


def line(day: date, invoice: int, qty: int = 1) -> str:
    return f"{invoice},21777,RECIPE BOX,{qty},{day.month}/{day.day}/{day.year} 10:00,7.95,12583,France"


class Sensor:
    """Ticks of the landing sensor as the daemon makes them: the cursor carried from tick to tick, and the runs
    it asks for executed with the run key the daemon would give them (the sensor looks its runs up by it)."""

    def __init__(self, landing: Path, lake: Path, instance: dg.DagsterInstance, now: float = 1_000_000.0):
        self.landing, self.lake, self.instance = landing, lake, instance
        self.cursor: str | None = None
        self.now = now  # the sensor's clock (its backoff), moved by hand

    def tick(self) -> dg.SensorResult:
        # Built from the environment at each tick, as a daemon that reloaded the definitions would.
        settings = Settings.from_env()
        result = evaluate_landing(
            self.cursor,
            LandingZone(root=str(self.landing)),
            Lakehouse(root=str(self.lake)),
            dg.get_dagster_logger(),
            InstanceRunBook(self.instance, dg.get_dagster_logger()),
            settings.max_partitions_per_run,
            settings.retry_backoff_s,
            now=self.now,
        )
        self.cursor = result.cursor
        return result

    @staticmethod
    def ranges(result: dg.SensorResult) -> list[tuple[str, str]]:
        return [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in result.run_requests or [] if RANGE_START_TAG in r.tags]

    @staticmethod
    def jobs(result: dg.SensorResult) -> list[str]:
        return [r.job_name for r in result.run_requests or []]

    def run(self, result: dg.SensorResult, succeed: bool = True) -> None:
        """Execute what the sensor requested, as the daemon would."""
        defs = build_definitions(resources=build_resources(str(self.landing), str(self.lake)))
        for request in result.run_requests:
            done = defs.resolve_job_def(request.job_name).execute_in_process(
                instance=self.instance,
                tags={**request.tags, "dagster/run_key": request.run_key},
                asset_selection=request.asset_selection,
                raise_on_error=False,
            )
            assert done.success == succeed

    def drain(self, limit: int = 8, history: bool = False) -> list[tuple[str, list[tuple[str, str]]]]:
        """Tick and run what is asked until a tick asks for nothing: (job, ranges) of each request made. The
        whole-history run is asked for but not run unless ``history`` (these tests are about dates; a
        request with no run is not asked again: it counts as still queued)."""
        asked = []
        for _ in range(limit):
            result = self.tick()
            if not result.run_requests:
                if "landed at the next tick" in result.skip_reason.skip_message:
                    continue  # files seen for the first time wait one tick
                return asked
            asked += [(job, self.ranges(result)) for job in sorted(set(self.jobs(result)))]
            if history or self.jobs(result) != ["history_job"]:
                self.run(result)
        raise AssertionError(f"the sensor still asks for work after {limit} ticks: {asked}")

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
    # The sensor only stats files: the landing run (the one writer of the manifest) reads and hashes them.
    assert sensor.jobs(second) == ["landing_job"] and not (sensor.lake / "bronze" / "landed_files").exists()
    sensor.run(second)
    assert sensor.manifest()["status"].to_list() == ["active"]
    third = sensor.tick()
    assert sensor.jobs(third) == ["partitions_job"] and sensor.ranges(third) == [("2010-12-01", "2010-12-01")]
    sensor.run(third)
    assert Lakehouse(root=str(sensor.lake)).read("silver/transactions").height == 3
    # Once no date is behind, the whole-history outputs that are: one run for all of them.
    fourth = sensor.tick()
    assert sensor.jobs(fourth) == ["history_job"]
    assert {"/".join(k.path) for k in fourth.run_requests[0].asset_selection} == set(tables.HISTORY_OUTPUTS)
    sensor.run(fourth)
    quiet = sensor.tick()
    assert not quiet.run_requests and quiet.skip_reason.skip_message == "nothing to do: 1 file(s), up to date"


def test_nothing_new_is_asked_while_a_requested_run_is_running(sensor, landing):
    write_days(landing, {"2010-12-01": DAYS["2010-12-01"]})
    sensor.tick()
    asked = sensor.tick()
    assert sensor.jobs(asked) == ["landing_job"]
    # The daemon started it and it has not finished (a local instance would look for its process too).
    sensor.instance.add_run(
        dg.DagsterRun(job_name="landing_job", run_id=make_new_run_id(), status=dg.DagsterRunStatus.STARTED,
                      tags={"dagster/run_key": asked.run_requests[0].run_key})
    )
    waiting = sensor.tick()
    assert not waiting.run_requests and waiting.skip_reason.skip_message.startswith("waiting for 1 run(s)")


def test_a_run_the_api_queued_under_the_sensors_run_key_is_not_asked_for_again(sensor, landing):
    """POST /v1/runs queues the work the sensor would ask for under the same run key (the sensor's own
    cursor has not asked yet): the sensor takes that run as its attempt and waits for it."""
    write_days(landing, {"2010-12-01": DAYS["2010-12-01"]})
    sensor.tick()
    asked = sensor.tick()
    key = asked.run_requests[0].run_key
    fresh = Sensor(sensor.landing, sensor.lake, sensor.instance)  # a sensor that never asked
    fresh.tick()
    sensor.instance.add_run(
        dg.DagsterRun(job_name="landing_job", run_id=make_new_run_id(), status=dg.DagsterRunStatus.NOT_STARTED,
                      tags={"dagster/run_key": key, "retail_pipeline/requested_by": "api"})
    )
    adopted = fresh.tick()
    assert not adopted.run_requests, adopted.run_requests
    assert fresh.tick().skip_reason.skip_message.startswith("waiting for 1 run(s)")


def test_a_dead_run_of_the_pipeline_is_marked_failed_whoever_launched_it(landing, lakehouse_root, tmp_path):
    """A run launched from the UI (no run key of the sensor) whose process died stays STARTED in a local
    instance; with dagster.yaml's one-writer-at-a-time limit it would hold the queue: a tick marks it failed.
    A run of a job that is not the pipeline's is left alone."""
    import subprocess

    (tmp_path / "dagster").mkdir()
    sensor = Sensor(landing, lakehouse_root, dg.DagsterInstance.local_temp(str(tmp_path / "dagster")))
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = {}
    for job in ("partitions_job", "someone_elses_job"):
        run = dg.DagsterRun(job_name=job, run_id=make_new_run_id(), status=dg.DagsterRunStatus.STARTED)
        sensor.instance.add_run(run)
        sensor.instance.report_engine_event(f"Started process for run (pid: {gone.pid}).", run)
        dead[job] = run.run_id
    sensor.tick()
    assert sensor.instance.get_run_by_id(dead["partitions_job"]).status == dg.DagsterRunStatus.FAILURE
    assert sensor.instance.get_run_by_id(dead["someone_elses_job"]).status == dg.DagsterRunStatus.STARTED


def test_a_half_written_file_waits_and_temporary_names_never_land(sensor, landing):
    path = landing / "day.csv"
    write_csv(path, [line(date(2010, 12, 1), 536001)])
    write_csv(landing / "next.csv.part", [line(date(2010, 12, 2), 536002)])
    sensor.tick()
    with path.open("a") as f:  # the shop's export is still being written
        f.write(line(date(2010, 12, 1), 536003) + "\n")
    growing = sensor.tick()
    assert not growing.run_requests and "0 file(s) seen for the first time, 1 still changing" in growing.skip_reason.skip_message
    assert sensor.drain()[:2] == [("landing_job", []), ("partitions_job", [("2010-12-01", "2010-12-01")])]
    manifest = sensor.manifest()
    assert manifest["path"].to_list() == ["day.csv"] and manifest["rows"].to_list() == [2]


def test_identical_redrop_is_a_duplicate_and_runs_nothing(sensor, landing):
    write_days(landing, {"2010-12-01": DAYS["2010-12-01"]})
    sensor.drain()
    shutil.copy(landing / "online_retail_2010-12-01.csv", landing / "copy_of_monday.csv")
    assert sensor.drain() == [("landing_job", [])]
    statuses = dict(sensor.manifest().select("path", "status").iter_rows())
    assert statuses == {"copy_of_monday.csv": "duplicate", "online_retail_2010-12-01.csv": "active"}


def test_a_changed_file_reruns_its_old_and_new_dates_and_a_late_file_only_its_date(sensor, landing):
    write_csv(landing / "a.csv", [line(date(2010, 12, 1), 536001)])
    write_csv(landing / "b.csv", [line(date(2010, 12, 10), 536002), line(date(2010, 12, 20), 536003)])
    sensor.drain()

    write_csv(landing / "a.csv", [line(date(2010, 12, 3), 536001)])  # the shop re-exported a.csv
    asked = sensor.drain()
    assert asked[:2] == [("landing_job", []), ("partitions_job", [("2010-12-01", "2010-12-03")])]
    assert asked[2][0] == "history_job"
    silver = Lakehouse(root=str(sensor.lake)).read("silver/transactions")
    assert sorted(silver["invoice_date"].to_list()) == [date(2010, 12, 3), date(2010, 12, 10), date(2010, 12, 20)]

    write_csv(landing / "late.csv", [line(date(2010, 12, 10), 536999)])  # a late file for an old date
    assert sensor.drain()[:2] == [("landing_job", []), ("partitions_job", [("2010-12-10", "2010-12-10")])]


def test_a_deleted_file_is_reported_missing_and_runs_nothing(sensor, landing):
    write_days(landing)
    sensor.drain()
    (landing / "online_retail_2010-12-02.csv").unlink()
    assert sensor.drain() == [("landing_job", [])]  # the landing marks it missing; no date is rebuilt
    statuses = dict(sensor.manifest().select("path", "status").iter_rows())
    assert statuses["online_retail_2010-12-02.csv"] == "missing"
    assert not sensor.tick().run_requests  # and it stays quiet


def test_300_new_days_are_one_run_and_the_run_size_is_bounded(sensor, landing, monkeypatch):
    first = date(2011, 1, 3)
    for i in range(300):
        day = first + timedelta(days=i)
        write_csv(landing / f"day_{day}.csv", [line(day, 540000 + i)])
    sensor.tick()
    sensor.run(sensor.tick())  # the landing
    result = sensor.tick()
    assert sensor.ranges(result) == [("2011-01-03", str(first + timedelta(days=299)))]

    monkeypatch.setenv("RETAIL_MAX_PARTITIONS_PER_RUN", "120")
    # A fresh cursor: every file is new to it, but the manifest holds them as they are, so it plans at once.
    restarted = Sensor(landing, sensor.lake, sensor.instance)
    bounded = restarted.tick()
    assert [(date.fromisoformat(b) - date.fromisoformat(a)).days + 1 for a, b in restarted.ranges(bounded)] == [120, 120, 60]


def test_the_cursor_survives_a_restart(sensor, landing):
    write_days(landing)
    sensor.drain(history=True)
    saved = sensor.cursor
    assert LandingCursor.parse(saved).seen.keys() == {p.name for p in landing.iterdir()}

    after_restart = Sensor(sensor.landing, sensor.lake, sensor.instance)
    after_restart.cursor = saved
    quiet = after_restart.tick()
    assert not quiet.run_requests and quiet.skip_reason.skip_message == "nothing to do: 3 file(s), up to date"


def test_failed_work_is_asked_again_after_a_backoff_and_at_once_when_the_inputs_change(sensor, landing, monkeypatch):
    monkeypatch.setenv("RETAIL_RETRY_BACKOFF_S", "100")
    write_days(landing, {"2010-12-01": DAYS["2010-12-01"]})
    sensor.tick()
    sensor.run(sensor.tick())
    asked = sensor.tick()
    assert sensor.ranges(asked) == [("2010-12-01", "2010-12-01")]
    # The daemon's run of it failed before writing anything (its process could not start, say).
    sensor.instance.add_run(
        dg.DagsterRun(job_name="partitions_job", run_id=make_new_run_id(), status=dg.DagsterRunStatus.FAILURE,
                      tags={"dagster/run_key": asked.run_requests[0].run_key})
    )
    sensor.now += 30
    quiet = sensor.tick()
    assert not quiet.run_requests and "retried with a backoff" in quiet.skip_reason.skip_message
    sensor.now += 71  # past 100 s after the request
    again = sensor.tick()
    assert sensor.ranges(again) == [("2010-12-01", "2010-12-01")]
    assert again.run_requests[0].run_key.endswith("#1") and asked.run_requests[0].run_key.endswith("#0")
    sensor.instance.add_run(
        dg.DagsterRun(job_name="partitions_job", run_id=make_new_run_id(), status=dg.DagsterRunStatus.FAILURE,
                      tags={"dagster/run_key": again.run_requests[0].run_key})
    )
    sensor.now += 150  # the second retry waits 200 s
    assert not sensor.tick().run_requests
    # A new file for the date: new inputs, asked for at once (after the landing).
    write_csv(landing / "more.csv", [line(date(2010, 12, 1), 536800)])
    sensor.tick()
    sensor.run(sensor.tick())
    fresh = sensor.tick()
    assert sensor.ranges(fresh) == [("2010-12-01", "2010-12-01")] and fresh.run_requests[0].run_key.endswith("#0")


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


def test_the_nightly_schedule_requests_the_previous_day_and_what_is_behind(monkeypatch, landing, lakehouse_root):
    nightly_schedule = build_nightly_schedule(Settings())
    london = ZoneInfo("Europe/London")
    house = Lakehouse(root=str(lakehouse_root))
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2011, 12, 10, 2, 0, tzinfo=london), resources={"lakehouse": house}
    )
    (request,) = nightly_schedule(context)
    assert request.partition_key == "2011-12-09" and request.run_key == "nightly-2011-12-09"
    # A lakehouse with a date behind (its silver was built from older files): the night completes it too.
    write_days(landing, {"2010-12-01": DAYS["2010-12-01"]})
    run_pipeline(str(landing), str(lakehouse_root), dg.DagsterInstance.ephemeral(), say=lambda _: None, marts=False)
    record_daily_as(house, "silver/transactions", date(2010, 12, 1), "a token of older files")
    nightly, healing = nightly_schedule(context)  # the daily range first; the marts once no date is behind
    assert healing.tags[RANGE_START_TAG] == healing.tags[RANGE_END_TAG] == "2010-12-01"
    assert healing.job_name == "nightly_job" and healing.run_key.startswith("nightly-2011-12-09-")
    assert {"/".join(k.path) for k in healing.asset_selection} == {t.path for t in tables.DAILY_TABLES if t.is_asset}
    assert nightly_schedule.cron_schedule == "0 2 * * *" and nightly_schedule.execution_timezone == "Europe/London"
    assert nightly_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert nightly_schedule.job_name == "nightly_job"
    monkeypatch.setenv("RETAIL_SCHEDULE_TIME", "23:45")
    assert build_nightly_schedule(Settings.from_env()).cron_schedule == "45 23 * * *"
    monkeypatch.setenv("RETAIL_SCHEDULE_TIME", "2am")
    with pytest.raises(ValueError, match="RETAIL_SCHEDULE_TIME='2am': expected a time like 02:00"):
        Settings.from_env()


def test_a_chunked_backfill_equals_one_range_run(tmp_path):
    landing = tmp_path / "landing"
    days = {"2010-12-01": DAYS["2010-12-01"], "2010-12-02": DAYS["2010-12-02"], "2010-12-03": DAYS["2010-12-03"],
            "2010-12-06": [line(date(2010, 12, 6), 536500, 4)]}
    write_days(landing, days)
    instance = dg.DagsterInstance.ephemeral()
    lines: list[str] = []
    backfill(str(landing), str(tmp_path / "chunked"), instance, date(2010, 12, 1), date(2010, 12, 6), 2, lines.append)
    assert [l for l in lines if l.startswith("[2/3]")] == [
        f"[2/3] bronze -> silver -> gold for 2010-12-0{a} .. 2010-12-0{a + 1} (2 daily partitions, one run, chunk {i}/3) ..."
        for i, a in enumerate((1, 3, 5), start=1)
    ]
    run_pipeline(str(landing), str(tmp_path / "one_run"), instance, say=lambda _: None)
    assert_same_tables(snapshot(Lakehouse(root=str(tmp_path / "chunked"))), snapshot(Lakehouse(root=str(tmp_path / "one_run"))))
    with pytest.raises(ValueError, match="is after"):
        backfill(str(landing), str(tmp_path / "x"), instance, date(2010, 12, 6), date(2010, 12, 1), 2)


def record_daily_as(house: Lakehouse, table: str, day: date, token: str) -> None:
    from retail_pipeline.core import build_state as core_state

    house.append(tables.BUILD_LOG, core_state.rows(table, {day: token}, None, [], "test", datetime.now(ZoneInfo("UTC"))))


def test_a_deleted_file_is_named_with_the_rows_still_held_until_a_full_run_takes_them_out(landing, lakehouse_root):
    write_days(landing)
    instance = dg.DagsterInstance.ephemeral()

    def run(**kwargs) -> list[str]:
        lines: list[str] = []
        run_pipeline(str(landing), str(lakehouse_root), instance, say=lines.append, marts=False, **kwargs)
        return lines

    run()
    (landing / "online_retail_2010-12-03.csv").unlink()  # the last date: no other file holds it
    after_delete = run()
    house = Lakehouse(root=str(lakehouse_root))
    held = house.read("bronze/transactions").filter(pl.col("_source_file") == "online_retail_2010-12-03.csv").height
    assert held == 2
    assert any(
        "missing online_retail_2010-12-03.csv" in l and "2 rows still in bronze" in l and "--full" in l for l in after_delete
    ), after_delete
    full = run(full=True)
    assert "[2/3] bronze -> silver -> gold for 2010-12-01 .. 2010-12-03 (3 daily partitions, one run) ..." in full
    assert house.read("bronze/transactions").filter(pl.col("_partition_date") == date(2010, 12, 3)).is_empty()
    assert house.read("silver/transactions").filter(pl.col("invoice_date") == date(2010, 12, 3)).is_empty()
    assert any("missing online_retail_2010-12-03.csv" in l and "no rows left" in l for l in full), full


def test_run_rebuilds_only_what_changed_and_completes_unfinished_dates(landing, lakehouse_root):
    write_days(landing)
    instance = dg.DagsterInstance.ephemeral()

    def run(**kwargs) -> list[str]:
        lines: list[str] = []
        # Daily tables only: this test is about which dates run, not the whole-history marts.
        run_pipeline(str(landing), str(lakehouse_root), instance, say=lines.append, marts=False, **kwargs)
        return [l for l in lines if l.startswith("[2/3]")]

    assert run() == ["[2/3] bronze -> silver -> gold for 2010-12-01 .. 2010-12-03 (3 daily partitions, one run) ..."]
    assert run() == ["[2/3] every business date is up to date"]

    write_csv(landing / "monday.csv", [line(date(2010, 12, 6), 536700)])
    assert run() == ["[2/3] bronze -> silver -> gold for 2010-12-06 .. 2010-12-06 (1 daily partitions, one run) ..."]

    # A run that died between layers (killed for real in test_healing.py): the build log says silver was not
    # built from what bronze holds on 12-02, so the next run completes that day.
    house = Lakehouse(root=str(lakehouse_root))
    stats = house.read("silver/partition_stats")
    record_daily_as(house, "silver/partition_stats", date(2010, 12, 2), "a token of older files")
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
