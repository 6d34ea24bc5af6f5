"""Operating the lakehouse: the weekly table maintenance job and its schedule (maintenance.py does the work),
and the alert on a failed run."""

import os

import dagster as dg
import httpx
from pydantic import Field

from retail_pipeline.lakehouse import Lakehouse
from retail_pipeline.maintenance import DEFAULT_RETENTION_HOURS, maintain
from retail_pipeline.partitions import TIMEZONE
from retail_pipeline.warehouse import SQL_TABLES

MAINTENANCE_JOB = "maintenance_job"


def retention_from_env() -> int:
    raw = os.environ.get("RETAIL_VACUUM_RETENTION_HOURS", str(DEFAULT_RETENTION_HOURS))
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"RETAIL_VACUUM_RETENTION_HOURS must be a whole number of hours, got {raw!r}") from None


class MaintenanceConfig(dg.Config):
    retention_hours: int = Field(
        default_factory=retention_from_env,
        ge=0,
        description="Vacuum keeps the files that versions younger than this need (RETAIL_VACUUM_RETENTION_HOURS, "
        "default 168: Delta's 7-day minimum; lower only when no reader may be looking at older versions).",
    )


@dg.op(description="Compact, checkpoint and vacuum every Delta table of the lakehouse; files and bytes before "
       "and after are recorded on each table's asset page (an observation).")
def maintain_tables(context: dg.OpExecutionContext, config: MaintenanceConfig, lakehouse: Lakehouse) -> None:
    for table in sorted(SQL_TABLES.values()):  # every Delta table of the graph (a test keeps the list complete)
        if not lakehouse.exists(table):  # not written yet
            continue
        done = maintain(lakehouse, table, config.retention_hours)
        context.log_event(dg.AssetObservation(asset_key=dg.AssetKey(table.split("/")), metadata=done.metadata()))
        context.log.info(
            f"{table}: {done.before.stored} -> {done.after.stored} data files stored, "
            f"{done.before.active} -> {done.after.active} active ({done.files_compacted} compacted, "
            f"{done.files_vacuumed} vacuumed)"
        )


@dg.job(name=MAINTENANCE_JOB, description="Table maintenance: compact small files, checkpoint, vacuum old files.")
def maintenance_job() -> None:
    maintain_tables()


maintenance_schedule = dg.ScheduleDefinition(
    name="maintenance_schedule",
    job=maintenance_job,
    cron_schedule="0 3 * * 0",  # Sundays 03:00, after the nightly run
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Weekly table maintenance (retention: RETAIL_VACUUM_RETENTION_HOURS).",
)


ALERT_TIMEOUT_S = 10.0


def root_cause(error) -> str:
    """The innermost error message: Dagster wraps the user's exception in its own step errors."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


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
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    run = context.dagster_run
    step_errors = {
        event.dagster_event.step_key: root_cause(event.dagster_event.event_specific_data.error)
        for event in context.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        if event.dagster_event.event_specific_data and event.dagster_event.event_specific_data.error
    }
    text = failure_alert(run.job_name, run.run_id, step_errors, context.failure_event.message or "")
    context.log.error(text)
    url = os.environ.get("RETAIL_ALERT_WEBHOOK")
    if url:
        problem = post_alert(url, text, run.run_id, run.job_name)
        if problem:
            context.log.warning(f"{problem}; the alert is in this log only")
