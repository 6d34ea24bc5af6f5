"""The Dagster instance's run queue, as ``POST /v1/runs`` uses it: runs created from the definitions loaded in
this process and queued for the daemon (``make dev``'s, or the compose stack's), which launches them in its
own code location of the same name (``retail_pipeline``, workspace.yaml); whether a daemon is there to do it
(its heartbeat); and what became of a run.

This is the sequence Dagster's own sensor daemon follows to create a run (``dagster._daemon.sensor``):
Dagster has no public call that queues a run without a webserver. Its private pieces used here are checked
by ``retail_pipeline_tests/app/test_api_writes.py`` with a real daemon executing the queued runs.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone

import dagster as dg

from retail_pipeline.core.errors import root_cause

# The code location's name in workspace.yaml, deploy/workspace.yaml and the compose user-code service: the
# daemon launches a queued run in the location its origin names.
LOCATION = "retail_pipeline"
DEFINITIONS_MODULE = "retail_pipeline.definitions"
QUEUED_RUN_COORDINATOR = "QUEUED_RUN_COORDINATOR"
# The daemon writes a heartbeat every 30 s; three missed ones mean it is not running.
HEARTBEAT_TOLERANCE_S = 90.0
REQUESTED_BY_TAG = "retail_pipeline/requested_by"
IN_FLIGHT = (
    dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING,
)


class NoDaemon(Exception):
    """Nothing would execute a queued run; the message says how to start what is missing."""


class DefinitionsError(RuntimeError):
    """The definitions (``retail_pipeline.definitions``) do not load in this process: no run can be made."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    job: str
    status: str
    created: datetime | None
    started: datetime | None
    ended: datetime | None
    error: str | None  # the failed step's first error line (or the run's, when no step failed)
    tags: dict[str, str]

    def as_json(self) -> dict:
        stamp = lambda t: t.isoformat() if t else None  # noqa: E731
        return {
            "run_id": self.run_id, "job": self.job, "status": self.status, "created": stamp(self.created),
            "started": stamp(self.started), "ended": stamp(self.ended), "error": self.error,
        }




def _utc(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, tz=timezone.utc) if seconds else None


class RunQueue:
    """Runs of ``instance`` for the API (``jobs``: the names of the pipeline's jobs). The code location is
    loaded once, at the first submission."""

    def __init__(self, instance: dg.DagsterInstance | None, jobs: tuple[str, ...]):
        self.instance, self.jobs = instance, jobs
        self._workspace = None
        self._lock = threading.Lock()
        self.deciding = threading.Lock()  # held by a request from planning to queueing (app/api/runs.py)

    def check_daemon(self) -> None:
        """``NoDaemon`` unless the instance queues runs and a daemon dequeues them (a recent heartbeat)."""
        from dagster._core.run_coordinator import QueuedRunCoordinator

        if self.instance is None:
            raise NoDaemon(
                "no Dagster instance: set DAGSTER_HOME to the folder of the dagster.yaml the daemon uses "
                "(`make dev` uses the repository root)"
            )
        if not isinstance(self.instance.run_coordinator, QueuedRunCoordinator):
            raise NoDaemon(
                f"the instance at DAGSTER_HOME runs with {type(self.instance.run_coordinator).__name__}, which does "
                "not queue runs: configure run_coordinator: QueuedRunCoordinator in its dagster.yaml"
            )
        beat = self.instance.get_daemon_heartbeats().get(QUEUED_RUN_COORDINATOR)
        age = time.time() - beat.timestamp if beat else None
        if age is None or age > HEARTBEAT_TOLERANCE_S:
            seen = f"its last heartbeat was {age:.0f} s ago" if age is not None else "it never wrote a heartbeat"
            raise NoDaemon(
                f"no Dagster daemon is running for this instance ({seen}): start one with `make dev` (webserver "
                "and daemon) or `dagster-daemon run -w workspace.yaml` with the same DAGSTER_HOME, or `docker "
                "compose up -d daemon` in the team deployment; then ask again"
            )

    def in_flight(self) -> list[RunInfo]:
        """The pipeline's runs not finished yet (queued or running), oldest first."""
        runs = self.instance.get_run_records(filters=dg.RunsFilter(statuses=list(IN_FLIGHT)))
        return [self._info(record) for record in reversed(runs) if record.dagster_run.job_name in self.jobs]

    def run_key_taken(self, key: str) -> bool:
        return bool(self.instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": key}), limit=1))

    def submit(self, job_name: str, tags: dict[str, str], asset_selection=None, requested_by: str = "api") -> str:
        """Create a run of ``job_name`` (its assets, or ``asset_selection`` of them) with ``tags`` and queue it;
        its run id. ``requested_by`` (``api:<key name>``) is its ``retail_pipeline/requested_by`` tag."""
        from dagster._core.definitions.selector import JobSubsetSelector
        from dagster._core.utils import make_new_run_id

        with self._lock:
            context = self._context()
            location = context.get_code_location(LOCATION)
            repository = next(iter(location.get_repositories().values()))
            selector = JobSubsetSelector(
                location_name=LOCATION, repository_name=repository.name, job_name=job_name, op_selection=None,
                asset_selection=asset_selection,
            )
            remote_job = location.get_job(selector)
            plan = location.get_execution_plan(remote_job, {}, step_keys_to_execute=None, known_state=None, instance=self.instance)
            run = self.instance.create_run(
                job_name=job_name, run_id=make_new_run_id(), run_config={},
                resolved_op_selection=remote_job.resolved_op_selection, step_keys_to_execute=None,
                status=dg.DagsterRunStatus.NOT_STARTED, op_selection=None, root_run_id=None, parent_run_id=None,
                tags={**(remote_job.run_tags or {}), **tags, REQUESTED_BY_TAG: requested_by},
                job_snapshot=remote_job.job_snapshot, execution_plan_snapshot=plan.execution_plan_snapshot,
                parent_job_snapshot=remote_job.parent_job_snapshot, remote_job_origin=remote_job.get_remote_origin(),
                job_code_origin=remote_job.get_python_origin(),
                asset_selection=frozenset(asset_selection) if asset_selection is not None else None,
                asset_check_selection=None, asset_graph=repository.asset_graph,
            )
            self.instance.submit_run(run.run_id, context)
            return run.run_id

    def _context(self):
        if self._workspace is None:
            from dagster._core.remote_origin import InProcessCodeLocationOrigin
            from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
            from dagster._core.workspace.context import WorkspaceProcessContext
            from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget

            origin = InProcessCodeLocationOrigin(
                loadable_target_origin=LoadableTargetOrigin(module_name=DEFINITIONS_MODULE), location_name=LOCATION
            )
            with warnings.catch_warnings():
                # Dagster warns with the whole stack trace of a location that fails to load; the error is
                # reported below, in one line, to the client.
                warnings.simplefilter("ignore", UserWarning)
                self._workspace = WorkspaceProcessContext(self.instance, InProcessWorkspaceLoadTarget(origin))
        context = self._workspace.create_request_context()
        error = context.get_code_location_error(LOCATION)
        if error:
            self._workspace = None  # loaded again at the next request, once the cause is fixed
            raise DefinitionsError(f"the definitions did not load: {root_cause(error).splitlines()[0]}")
        return context

    def run(self, run_id: str) -> RunInfo | None:
        records = self.instance.get_run_records(filters=dg.RunsFilter(run_ids=[run_id]), limit=1)
        return self._info(records[0]) if records else None

    def _info(self, record) -> RunInfo:
        run = record.dagster_run
        error = None
        if run.status == dg.DagsterRunStatus.FAILURE:
            error = self._first_error(run.run_id)
        return RunInfo(
            run.run_id, run.job_name, run.status.value, record.create_timestamp.astimezone(timezone.utc)
            if record.create_timestamp else None, _utc(record.start_time), _utc(record.end_time), error, dict(run.tags),
        )

    def _first_error(self, run_id: str) -> str | None:
        for kind in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE):
            for event in self.instance.all_logs(run_id, of_type=kind):
                data = event.dagster_event.event_specific_data if event.dagster_event else None
                error = getattr(data, "error", None)
                text = root_cause(error) if error else (event.message or "")
                if text.strip():
                    step = event.dagster_event.step_key
                    line = text.strip().splitlines()[0]
                    return f"{step}: {line}" if step else line
        return None
