"""A snapshot of the definitions: asset keys, groups, kinds, dependencies, partitions, automation, checks and
their blocking flags, jobs and their assets, sensors and schedules, compared with the committed
``golden/definitions.json`` (as dagster-open-platform's ``test_defs.py`` does), so a change to the graph is a
reviewed diff. After a deliberate change: ``python -m retail_pipeline_tests.defs.test_definitions`` rewrites it.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import dagster as dg

from retail_pipeline.defs.definitions import build_definitions
from retail_pipeline.settings import Settings

SNAPSHOT = Path(__file__).parents[1] / "golden" / "definitions.json"


def snapshot(defs: dg.Definitions) -> dict:
    """What the graph is, in a form that diffs well (every list sorted)."""
    assets = {
        spec.key.to_user_string(): {
            "group": spec.group_name,
            "kinds": sorted(spec.kinds),
            "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
            "partitions": type(spec.partitions_def).__name__ if spec.partitions_def else None,
            "automation_condition": spec.automation_condition is not None,
            "described": bool(spec.description),
        }
        for spec in defs.resolve_all_asset_specs()
    }
    checks = {
        f"{spec.asset_key.to_user_string()}:{spec.name}": {
            "blocking": spec.blocking,
            "partitioned": spec.partitions_def is not None,
        }
        for definition in defs.asset_checks or []
        for spec in definition.check_specs
    }
    jobs = {
        job.name: {
            "assets": sorted(key.to_user_string() for key in job.asset_layer.executable_asset_keys),
            "executor": job.executor_def.name,
        }
        for job in defs.resolve_all_job_defs()
        if not job.name.startswith("__")
    }
    sensors = {
        sensor.name: {
            "type": type(sensor).__name__,
            "interval_s": sensor.minimum_interval_seconds,
            "default_status": sensor.default_status.value,
            "jobs": sorted(job.name for job in sensor.jobs) if sensor.has_jobs else [],
        }
        for sensor in defs.sensors or []
    }
    schedules = {
        schedule.name: {
            "cron": schedule.cron_schedule,
            "timezone": schedule.execution_timezone,
            "job": schedule.job_name,
            "default_status": schedule.default_status.value,
        }
        for schedule in defs.schedules or []
    }
    return {"assets": assets, "checks": checks, "jobs": jobs, "sensors": sensors, "schedules": schedules}


def current() -> dict:
    # The default settings, not this machine's environment: the snapshot is of the code.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return snapshot(build_definitions(Settings()))


def test_the_definitions_match_the_reviewed_snapshot():
    expected = json.loads(SNAPSHOT.read_text())
    actual = current()
    for part in expected:
        assert actual[part] == expected[part], (
            f"the {part} of the graph changed; if deliberate, run `python -m retail_pipeline_tests.defs.test_definitions` "
            "and commit golden/definitions.json"
        )
    assert set(actual) == set(expected)


def test_every_asset_is_described_and_every_check_is_on_a_known_asset():
    actual = current()
    assert all(asset["described"] for asset in actual["assets"].values())
    assert {name.split(":")[0] for name in actual["checks"]} <= set(actual["assets"])


def test_every_table_shows_its_columns_with_their_descriptions():
    """The UI's column schema of each lakehouse table comes from its contract, one description per column."""
    from retail_pipeline.core import tables

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        specs = {spec.key.to_user_string(): spec for spec in build_definitions(Settings()).resolve_all_asset_specs()}
    for table in (table for table in tables.TABLES if table.is_asset):  # a side table is not an asset
        columns = specs[table.path].metadata["dagster/column_schema"].columns
        assert [c.name for c in columns] == table.schema.names()
        assert all(c.description for c in columns), f"{table.path}: a column has no description"


def test_settings_reach_the_sensors_and_schedules():
    """The interval and the schedule's time come from the settings the definitions are built with."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        defs = build_definitions(
            Settings(landing_sensor_interval_s=7, schedule_time="23:45", executor="multiprocess")
        )
    shot = snapshot(defs)
    assert shot["sensors"]["landing_sensor"]["interval_s"] == 7
    assert shot["schedules"]["nightly_schedule"]["cron"] == "45 23 * * *"
    assert {job["executor"] for job in shot["jobs"].values()} == {"multiprocess"}


if __name__ == "__main__":
    SNAPSHOT.parent.mkdir(exist_ok=True)
    SNAPSHOT.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT}", file=sys.stderr)
