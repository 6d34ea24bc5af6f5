"""The sensors: the landing sensor, which asks the planner what is behind and requests the runs that complete
it, and the alert on a failed run. Built from the settings when the definitions load (``build_sensors``).

- **Landing sensor** (on by default): each tick lists the landing zone (names, sizes, mtimes, inodes, ctimes: it never reads
  or hashes a file, its tick has a 60 s deadline). A file is ready once it looked the same on two consecutive
  ticks, so a file still being written waits; temporary names (``*.tmp``, ``*.part``, ...) are never landed.
  Then, one step at a time (nothing new is asked while a run it asked for is queued or running):

  1. settled files differ from the manifest (new, changed, gone): it requests ``landing_job``, the one writer
     of the manifest, which reads and hashes them;
  2. otherwise it asks the planner (``core/planning.py``, the one ``retail-pipeline run`` uses): the business
     dates some daily table is behind on run as ranges of ``partitions_job`` (one run per range, not per day);
  3. when no date is behind, the whole-history outputs that are (marts, warehouse, report) run as one
     ``history_job`` run.

  Work that was asked for and is still behind once its run finished (it failed, or a blocking check holds
  it back) is asked again after ``RETAIL_RETRY_BACKOFF_S``, doubled per attempt; new inputs ask at once. A
  run whose process died (SIGKILL) stays STARTED in a local instance: the sensor marks it failed, so its
  work is asked again.
- **Run failure alert** (on by default): logs each failed run with its steps' root errors, and posts it to
  ``RETAIL_ALERT_WEBHOOK`` when set.
"""

import os
import re
import time
from typing import Protocol

import dagster as dg

from retail_pipeline.adapters.build_state import confirm_runs, read_state
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.lakehouse_state import current_plan, manifest_written_at, read_manifest
from retail_pipeline.adapters.landing_zone import LandingZone
from retail_pipeline.core import build_state, tables
from retail_pipeline.core.errors import root_cause
from retail_pipeline.core.planning import (
    LandingCursor,
    Plan,
    landing_needed,
    listing_digest,
    next_attempt,
    observe,
    range_run_key,
    range_state_digest,
    run_key,
    settled_listing,
)
from retail_pipeline.defs.jobs import (
    ASSET_JOBS,
    RANGE_END_TAG,
    RANGE_START_TAG,
    WRITER_TAGS,
    history_job,
    history_selection,
    landing_job,
    partitions_job,
)
from retail_pipeline.defs.partitions import partition_bounds
from retail_pipeline.defs.resources import AlertWebhook
from retail_pipeline.settings import Settings

FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


class RunBook(Protocol):
    """The status of the run a request key started (``None``: no such run yet), and of a run by its id."""

    def status(self, key: str) -> str | None: ...

    def run_status(self, run_id: str) -> str | None: ...

    def sweep(self) -> None: ...


class InstanceRunBook:
    """Run statuses from a Dagster instance. In a local instance (SQLite storage: ``make dev``, one machine)
    a STARTED run whose process is gone (killed: the local run launcher has no health check, the run would
    stay STARTED forever) is marked failed here."""

    def __init__(self, instance: dg.DagsterInstance, log):
        self.instance, self.log = instance, log

    def status(self, key: str) -> str | None:
        runs = self.instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": key}), limit=1)
        return self._status(runs[0]) if runs else None

    def run_status(self, run_id: str) -> str | None:
        run = self.instance.get_run_by_id(run_id)
        return self._status(run) if run is not None else None

    def sweep(self) -> None:
        """Look at every STARTED run of the pipeline's jobs, whoever launched it (the UI, the API): a dead one
        is marked failed, as its own requester would. dagster.yaml lets one lakehouse writer out of the queue
        at a time, so a dead run left STARTED would hold every run queued after it."""
        names = {job.name for job in ASSET_JOBS}
        for run in self.instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
            if run.job_name in names:
                self._status(run)

    def _status(self, run) -> str:
        if run.status == dg.DagsterRunStatus.STARTED and self._process_gone(run):
            message = f"the process of run {run.run_id} is gone (killed?): marked failed so its work is asked again"
            self.log.warning(message)
            self.instance.report_run_failed(run, message)
            return "FAILURE"
        return run.status.value

    def _process_gone(self, run) -> bool:
        from dagster._core.storage.runs import SqliteRunStorage

        if not isinstance(self.instance.run_storage, SqliteRunStorage):
            return False  # another machine's processes cannot be looked at (a deployment's run monitoring can)
        for record in self.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            found = re.search(r"Started process for run \(pid: (\d+)\)", record.message or "")
            if found:
                try:
                    os.kill(int(found.group(1)), 0)
                except ProcessLookupError:
                    return True
                except PermissionError:
                    return False
                return False
        return False


def _request(
    cursor: LandingCursor,
    runs: RunBook,
    key: str,
    now: float,
    backoff_s: float,
    log,
    **request,
) -> dg.RunRequest | None:
    """A run request for work ``key``, unless it was asked for and its run is not finished or the backoff has
    not passed (``next_attempt``). A run that already carries the attempt's run key (``POST /v1/runs`` asks
    for the same work under the same keys) is that attempt: it is not asked for twice."""
    previous = cursor.requests.get(key)
    status = runs.status(run_key(key, int(previous[0]))) if previous else None
    attempt = next_attempt(previous, status, now, backoff_s)
    if attempt is None:
        return None
    if runs.status(run_key(key, attempt)) is not None:
        log.info(f"{key}: attempt {attempt + 1} was asked for by the API already: waiting for that run")
        cursor.requests[key] = [attempt, now]
        return None
    if attempt:
        log.info(f"{key}: its last run ended {status} and the work is still behind: asking again (attempt {attempt + 1})")
    cursor.requests[key] = [attempt, now]
    tags = {**request.pop("tags", {}), **WRITER_TAGS}
    return dg.RunRequest(run_key=run_key(key, attempt), tags=tags, **request)


def confirm_succeeded(lakehouse: Lakehouse, runs: RunBook) -> None:
    """Confirm the pending build records of runs that succeeded (launched by the daemon or the UI: the CLI
    confirms its own), so that what their blocking checks vouched for counts as built."""
    succeeded = {run_id for run_id in build_state.pending_runs(read_state(lakehouse)) if runs.run_status(run_id) == "SUCCESS"}
    confirm_runs(lakehouse, succeeded)


def plan_requests(
    lakehouse: Lakehouse, cursor: LandingCursor, runs: RunBook, max_partitions_per_run: int, now: float, backoff_s: float, log,
    max_rows_per_run: int | None = None, outputs: tuple[str, ...] = tables.HISTORY_OUTPUTS,
) -> tuple[list[dg.RunRequest], Plan, set[str]]:
    """The runs that complete what the planner finds behind: daily ranges first, the whole-history outputs
    once no date is behind; a reference table held back by its check gets the landing run (which refreshes
    reference data) again. Also the keys of that work (asked for now or before): the cursor keeps those."""
    start, end = partition_bounds()
    work = current_plan(lakehouse, start, end, outputs=outputs)
    state = read_state(lakehouse)
    wanted: list[tuple[str, dict]] = []
    if work.dates:
        manifest = read_manifest(lakehouse)
        for first, last in work.ranges(max_partitions_per_run, max_rows_per_run):
            key = f"{range_run_key(first, last, manifest)}.{range_state_digest(state, first, last)}"
            tags = {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}
            wanted.append((key, {"job_name": partitions_job.name, "tags": tags}))
    elif work.history:
        # What the outputs would be built from now: new daily data asks at once, the same inputs after a
        # failure wait for the backoff.
        inputs = [f"{t.path}={build_state.table_token(state, t.path)}" for t in tables.DAILY_TABLES]
        key = f"history@{build_state.digest([*work.history, *inputs])[:16]}"
        wanted.append((key, {"job_name": history_job.name, "asset_selection": history_selection(work.history, outputs)}))
    elif work.blocked:
        key = f"reference@{build_state.digest(sorted(work.blocked))[:16]}"
        wanted.append((key, {"job_name": landing_job.name}))
    requests = [r for key, request in wanted if (r := _request(cursor, runs, key, now, backoff_s, log, **request))]
    return requests, work, {key for key, _ in wanted}


def evaluate_landing(
    cursor_text: str | None,
    landing: LandingZone,
    lakehouse: Lakehouse,
    log,
    runs: RunBook,
    max_partitions_per_run: int = 366,
    backoff_s: float = 300,
    now: float | None = None,
    max_rows_per_run: int | None = None,
    outputs: tuple[str, ...] = tables.HISTORY_OUTPUTS,
) -> dg.SensorResult:
    """One tick of the landing sensor (see the module docstring); pure of Dagster context for testing."""
    now = time.time() if now is None else now
    cursor = LandingCursor.parse(cursor_text)
    listing = landing.list_files()
    seen = observe(listing)
    waiting = sorted(p for p, stat in seen.items() if cursor.seen.get(p) != stat)
    first_seen = sum(1 for p in waiting if p not in cursor.seen)
    previous_seen, cursor.seen = cursor.seen, seen

    def result(skip: str | None = None, requests: list[dg.RunRequest] | None = None) -> dg.SensorResult:
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor.dump())
        return dg.SensorResult(skip_reason=skip, cursor=cursor.dump())

    runs.sweep()
    confirm_succeeded(lakehouse, runs)
    in_flight = [key for key, entry in cursor.requests.items() if runs.status(run_key(key, int(entry[0]))) not in FINISHED | {None}]
    if in_flight:
        return result(f"waiting for {len(in_flight)} run(s) it asked for: {', '.join(in_flight[:3])}")

    manifest = read_manifest(lakehouse)
    settled = settled_listing(listing, previous_seen, manifest)
    pending = (
        f"{first_seen} file(s) seen for the first time, {len(waiting) - first_seen} still changing: "
        "landed at the next tick if unchanged"
    )
    if waiting:
        log.info(f"{pending} ({', '.join(waiting[:5])}{', ...' if len(waiting) > 5 else ''})")
    changed = build_state.changed_sources(read_state(lakehouse), since=manifest_written_at(lakehouse))
    to_land = landing_needed(settled, manifest, changed)
    if to_land:
        key = f"land@{listing_digest(observe(settled))[:16]}"
        request = _request(cursor, runs, key, now, backoff_s, log, job_name=landing_job.name)
        log.info(f"{len(to_land)} file(s) to land: {', '.join(to_land[:5])}{', ...' if len(to_land) > 5 else ''}")
        # Older landings are superseded; the other work keeps its attempts (and so its backoff).
        _forget_other_requests(cursor, keep={key} | {k for k in cursor.requests if not k.startswith("land@")})
        status = "landing asked for already"
        return result(f"{status}; {pending}" if waiting else status, [request] if request else None)

    requests, work, keys = plan_requests(
        lakehouse, cursor, runs, max_partitions_per_run, now, backoff_s, log, max_rows_per_run, outputs
    )
    _forget_other_requests(cursor, keep=keys)
    if requests:
        return result(requests=requests)
    if work.up_to_date:
        status = f"nothing to do: {len(seen)} file(s), up to date"
    else:
        blocked = "; ".join(f"{check} on {len(days)} date(s)" if days else check for check, days in work.blocked.items())
        status = f"behind, asked for already (retried with a backoff){': blocked by ' + blocked if blocked else ''}"
    return result(f"{status}; {pending}" if waiting else status)


def _forget_other_requests(cursor: LandingCursor, keep: set[str]) -> None:
    """Keep the cursor bounded: requests whose work is done or superseded are dropped."""
    cursor.requests = {key: entry for key, entry in cursor.requests.items() if key in keep}


def build_landing_sensor(settings: Settings) -> dg.SensorDefinition:
    """The landing sensor, ticking every ``RETAIL_LANDING_SENSOR_INTERVAL_S`` seconds."""

    @dg.sensor(
        name="landing_sensor",
        jobs=[landing_job, partitions_job, history_job],
        minimum_interval_seconds=settings.landing_sensor_interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Lands new or changed files of the landing zone, then runs what the planner finds behind: "
        "the business dates they touch, then the whole-history marts, the warehouse and the report.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingZone, lakehouse: Lakehouse) -> dg.SensorResult:
        return evaluate_landing(
            context.cursor,
            landing,
            lakehouse,
            context.log,
            InstanceRunBook(context.instance, context.log),
            settings.max_partitions_per_run,
            settings.retry_backoff_s,
            max_rows_per_run=settings.max_rows_per_run,
            outputs=tables.history_outputs(settings.postgres_enabled),
        )

    return landing_sensor


ALERT_TIMEOUT_S = 10.0


def failure_alert(job: str, run_id: str, step_errors: dict[str, str], message: str) -> str:
    """The line an operator reads first: which run failed, in which steps, and why (each error's first line)."""
    causes = "; ".join(f"{step}: {error.splitlines()[0]}" for step, error in step_errors.items() if error)
    first = causes or (message or "no error message").strip().splitlines()[0]
    return f"retail-pipeline: run {run_id} of {job} failed: {first}"


def post_alert(url: str, text: str, run_id: str, job: str) -> str | None:
    """POST ``text`` as JSON (``{"text": ...}``: what Slack, Teams and Mattermost incoming webhooks read) to
    ``url``; the error, if the post failed, without the URL (a webhook URL is a secret)."""
    import httpx  # only a configured webhook calls out: not on every run's import path

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
    return [build_landing_sensor(settings), run_failure_alert]
