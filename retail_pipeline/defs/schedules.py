"""The schedules: the nightly run (off by default) and the weekly table maintenance, built from the settings
when the definitions load."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from retail_pipeline.core.dates import TIMEZONE
from retail_pipeline.defs.jobs import nightly_job
from retail_pipeline.settings import Settings


def build_nightly_schedule(settings: Settings) -> dg.ScheduleDefinition:
    """Every night at ``RETAIL_SCHEDULE_TIME`` (Europe/London): land, and materialise the previous day."""

    @dg.schedule(
        name="nightly_schedule",
        job=nightly_job,
        cron_schedule=settings.schedule_cron,
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Every night: land the landing zone and materialise the previous day's partitions.",
    )
    def nightly_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).date() - timedelta(days=1)
        return dg.RunRequest(run_key=f"nightly-{day}", partition_key=day.isoformat())

    return nightly_schedule


def build_maintenance_schedule(maintenance_job: dg.JobDefinition) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="maintenance_schedule",
        job=maintenance_job,
        cron_schedule="0 3 * * 0",  # Sundays 03:00, after the nightly run
        execution_timezone=TIMEZONE,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Weekly table maintenance (retention: RETAIL_VACUUM_RETENTION_HOURS).",
    )
