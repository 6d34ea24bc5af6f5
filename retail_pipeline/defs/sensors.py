"""The sensors: the landing sensor, the automation sensor of the whole-history marts, and the alert on a
failed run. Built from the settings when the definitions load (``build_sensors``).

- **Landing sensor** (on by default): each tick lists the landing zone (names, sizes, mtimes only). A file is
  landed once it looked the same on two consecutive ticks, so a file still being written waits; temporary
  names (``*.tmp``, ``*.part``, ...) are never landed. Landing writes the manifest (``bronze/landed_files``,
  the code ``retail-pipeline run`` uses too), then the sensor compares the manifest with what bronze holds
  and requests runs for exactly the business dates that differ, grouped into ranges (one run per range, not
  per day). A file that disappears is marked ``missing`` and reported; it requests nothing.
- **Whole-history marts** carry ``HISTORY_MART_CONDITION`` (``defs/policies.py``), and an automation sensor
  (on by default) requests them once after a batch of daily partitions lands.
- **Run failure alert** (on by default): logs each failed run with its steps' root errors, and posts it to
  ``RETAIL_ALERT_WEBHOOK`` when set.
"""

from datetime import datetime, timezone

import dagster as dg
import httpx
import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.lakehouse_state import bronze_files, read_manifest
from retail_pipeline.adapters.landing_zone import LandingZone
from retail_pipeline.core import tables
from retail_pipeline.core.manifest import files_to_probe, resolve_manifest
from retail_pipeline.core.planning import (
    MAX_GAP_DAYS,
    LandingCursor,
    group_ranges,
    listing_digest,
    observe,
    range_run_key,
    settled_listing,
    stale_dates,
)
from retail_pipeline.defs.errors import root_cause
from retail_pipeline.defs.jobs import RANGE_END_TAG, RANGE_START_TAG, incremental_job
from retail_pipeline.defs.partitions import partition_bounds
from retail_pipeline.defs.policies import key_of
from retail_pipeline.defs.resources import AlertWebhook
from retail_pipeline.settings import Settings


def evaluate_landing(
    cursor_text: str | None,
    landing: LandingZone,
    lakehouse: Lakehouse,
    log,
    max_partitions_per_run: int = 366,
    now: datetime | None = None,
) -> dg.SensorResult:
    """One tick of the landing sensor (see the module docstring); pure of Dagster context for testing."""
    cursor = LandingCursor.parse(cursor_text)
    listing = landing.list_files()
    seen = observe(listing)
    # Nothing moved since the last tick, and that listing was landed: the cheap, common case.
    if seen == cursor.seen and listing_digest(seen) == cursor.landed:
        return dg.SensorResult(skip_reason=f"nothing new in {len(seen)} file(s)", cursor=cursor.dump())

    previous = read_manifest(lakehouse)
    settled = settled_listing(listing, cursor.seen, previous)
    waiting = sorted(p for p, stat in seen.items() if cursor.seen.get(p) != stat)
    first_seen = sum(1 for p in waiting if p not in cursor.seen)
    start, end = partition_bounds()
    probes = landing.probe(files_to_probe(settled, previous))
    manifest = resolve_manifest(settled, previous, probes, now or datetime.now(timezone.utc), start, end)

    events = []
    if not manifest.equals(previous.sort("path")):  # Delta does not keep row order; the manifest is by path
        result = lakehouse.write(tables.MANIFEST.path, manifest)
        counts = dict(manifest.group_by("status").len().iter_rows())
        for path, reason in manifest.filter(pl.col("status") == "rejected").select("path", "reason").iter_rows():
            log.warning(f"rejected {path}: {reason}")
        newly_missing = manifest.filter(pl.col("status") == "missing").join(
            previous.filter(pl.col("status") == "missing"), on="path", how="anti"
        )
        for path in newly_missing["path"]:
            log.warning(f"missing {path}: landed before, no longer in the landing zone (nothing is rebuilt for it)")
        events.append(
            dg.AssetMaterialization(
                asset_key=key_of(tables.MANIFEST),
                metadata={
                    "landed_by": "landing_sensor",
                    "delta_version": result.version,
                    **{f"files_{s}": counts.get(s, 0) for s in ("active", "duplicate", "missing", "rejected")},
                },
            )
        )

    dates = stale_dates(manifest, bronze_files(lakehouse), start, end)
    requests = [
        dg.RunRequest(
            run_key=range_run_key(first, last, manifest),
            tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()},
        )
        for first, last in group_ranges(dates, MAX_GAP_DAYS, max_partitions_per_run)
    ]
    # The listing counts as landed only once nothing waits: a waiting file must be looked at again.
    landed = listing_digest(seen) if not waiting else cursor.landed
    new_cursor = LandingCursor(seen=seen, landed=landed).dump()
    # A file is landed on the tick after it was first seen, if it has not changed in between.
    pending = (
        f"{first_seen} file(s) seen for the first time, {len(waiting) - first_seen} still changing: "
        "landed at the next tick if unchanged"
    )
    if waiting:
        log.info(f"{pending} ({', '.join(waiting[:5])}{', ...' if len(waiting) > 5 else ''})")
    if not requests:
        reason = f"no business date to rebuild yet ({pending})" if waiting else "no business date to rebuild"
        return dg.SensorResult(skip_reason=reason, cursor=new_cursor, asset_events=events)
    return dg.SensorResult(run_requests=requests, cursor=new_cursor, asset_events=events)


def build_landing_sensor(settings: Settings) -> dg.SensorDefinition:
    """The landing sensor, ticking every ``RETAIL_LANDING_SENSOR_INTERVAL_S`` seconds."""

    @dg.sensor(
        name="landing_sensor",
        job=incremental_job,
        minimum_interval_seconds=settings.landing_sensor_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Lands new or changed files of the landing zone and runs exactly the business dates they touch.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingZone, lakehouse: Lakehouse) -> dg.SensorResult:
        return evaluate_landing(context.cursor, landing, lakehouse, context.log, settings.max_partitions_per_run)

    return landing_sensor


history_marts_sensor = dg.AutomationConditionSensorDefinition(
    "history_marts_sensor",
    # Every asset with an automation condition: the whole-history marts, the warehouse and the report.
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Refreshes the whole-history marts once after new daily partitions land.",
)

ALERT_TIMEOUT_S = 10.0


def failure_alert(job: str, run_id: str, step_errors: dict[str, str], message: str) -> str:
    """The line an operator reads first: which run failed, in which steps, and why (each error's first line)."""
    causes = "; ".join(f"{step}: {error.splitlines()[0]}" for step, error in step_errors.items() if error)
    first = causes or (message or "no error message").strip().splitlines()[0]
    return f"retail-pipeline: run {run_id} of {job} failed: {first}"


def post_alert(url: str, text: str, run_id: str, job: str) -> str | None:
    """POST ``text`` as JSON (``{"text": ...}``: what Slack, Teams and Mattermost incoming webhooks read) to
    ``url``; the error, if the post failed, without the URL (a webhook URL is a secret)."""
    try:
        response = httpx.post(url, json={"text": text, "run_id": run_id, "job": job}, timeout=ALERT_TIMEOUT_S)
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        return f"the alert webhook answered HTTP {exc.response.status_code}"
    except httpx.HTTPError as exc:
        return f"the alert webhook could not be reached ({type(exc).__name__})"
    return None


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    monitor_all_code_locations=False,
    description="Logs a clear alert for every failed run, and posts it to RETAIL_ALERT_WEBHOOK when set.",
)
def run_failure_alert(context: dg.RunFailureSensorContext, alert_webhook: AlertWebhook) -> None:
    run = context.dagster_run
    step_errors = {
        event.dagster_event.step_key: root_cause(event.dagster_event.event_specific_data.error)
        for event in context.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        if event.dagster_event.event_specific_data and event.dagster_event.event_specific_data.error
    }
    text = failure_alert(run.job_name, run.run_id, step_errors, context.failure_event.message or "")
    context.log.error(text)
    if alert_webhook.url:
        problem = post_alert(alert_webhook.url, text, run.run_id, run.job_name)
        if problem:
            context.log.warning(f"{problem}; the alert is in this log only")


def build_sensors(settings: Settings) -> list[dg.SensorDefinition]:
    return [build_landing_sensor(settings), history_marts_sensor, run_failure_alert]
