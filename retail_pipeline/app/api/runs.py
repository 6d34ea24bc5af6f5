"""``POST /v1/runs`` (scope ``run``): queue the runs the planner asks for now, or a rebuild of a range of business
dates; ``GET /v1/runs/{run_id}`` (scope ``read``): what became of one. The runs go to the Dagster instance's
queue (``adapters/run_queue.py``); the daemon executes them, the API never waits for one."""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from typing import Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import JSONResponse

from retail_pipeline.adapters.lakehouse_state import current_plan
from retail_pipeline.adapters.landing_zone import LandingZone
from retail_pipeline.adapters.run_queue import DefinitionsError, NoDaemon, RunQueue
from retail_pipeline.app.api.problems import KEYED, Problem, documented
from retail_pipeline.app.api.security import require
from retail_pipeline.core import tables
from retail_pipeline.core.planning import LandingCursor, observe, run_key
from retail_pipeline.defs.jobs import (
    ASSET_JOBS,
    RANGE_END_TAG,
    RANGE_START_TAG,
    WRITER_TAGS,
    history_job,
    history_selection,
    partitions_job,
)
from retail_pipeline.defs.partitions import partition_bounds
from retail_pipeline.defs.sensors import InstanceRunBook, evaluate_landing

router = APIRouter(tags=["runs"])
log = logging.getLogger("retail_pipeline.api.runs")

# Two looks at the landing zone this far apart: a file that changed between them is still being written and
# waits, as it does for the landing sensor (which looks once per tick).
SETTLE_S = 1.0
RUN_ID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
REBUILD_TAG = "retail_pipeline/rebuild"


class RunAction(BaseModel):
    """`update`: what the landing sensor would ask for now. `rebuild`: the business dates `from`..`to`, then the
    whole-history outputs."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    action: Literal["update", "rebuild"]
    first: date | None = Field(None, alias="from", description="rebuild: the first business date")
    last: date | None = Field(None, alias="to", description="rebuild: the last business date")

    @model_validator(mode="after")
    def _dates(self):
        if self.action == "rebuild":
            if self.first is None or self.last is None:
                raise ValueError("a rebuild needs `from` and `to` (YYYY-MM-DD)")
            if self.first > self.last:
                raise ValueError(f"`from` ({self.first}) is after `to` ({self.last})")
        elif self.first is not None or self.last is not None:
            raise ValueError("`from` and `to` belong to a rebuild; an update takes no dates")
        return self


_RUN_SCHEMA = {
    "type": "object",
    "properties": {
        "run_id": {"type": "string"}, "job": {"type": "string"}, "status": {"type": "string"},
        "created": {"type": ["string", "null"]}, "started": {"type": ["string", "null"]},
        "ended": {"type": ["string", "null"]}, "error": {"type": ["string", "null"]},
        "partition_range": {"type": ["object", "null"]},
    },
}
_ACCEPTED = {
    202: {
        "description": "Queued (or, while the pipeline's runs are in flight, those runs)",
        "content": {"application/json": {"schema": {"type": "object", "properties": {
            "action": {"type": "string"}, "submitted": {"type": "boolean"}, "run_ids": {"type": "array"},
            "runs": {"type": "array", "items": _RUN_SCHEMA}, "detail": {"type": "string"},
        }}}},
    }
}


def _as_json(info) -> dict:
    body = info.as_json()
    body["partition_range"] = (
        {"from": info.tags[RANGE_START_TAG], "to": info.tags.get(RANGE_END_TAG)} if RANGE_START_TAG in info.tags else None
    )
    return body


class _NewAttempts:
    """The sensor's run book, except that every piece of work looks never asked for: the API takes the next
    free run key itself (``_free_key``), so that asking again after a failure queues a new attempt."""

    def __init__(self, book: InstanceRunBook):
        self.book = book

    def status(self, key: str) -> str | None:
        return None

    def run_status(self, run_id: str) -> str | None:
        return self.book.run_status(run_id)

    def sweep(self) -> None:
        self.book.sweep()


def _free_key(queue: RunQueue, key_with_attempt: str) -> str:
    key = key_with_attempt.rsplit("#", 1)[0]
    attempt = 0
    while queue.run_key_taken(run_key(key, attempt)):
        attempt += 1
    return run_key(key, attempt)


def _update(request: Request, queue: RunQueue, by: str) -> tuple[list[str], str]:
    state = request.app.state
    settings, lakehouse = state.settings, state.lakehouse
    landing = LandingZone(root=settings.landing_dir)
    first_look = observe(landing.list_files())
    time.sleep(SETTLE_S)
    result = evaluate_landing(
        LandingCursor(seen=first_look).dump(), landing, lakehouse, log,
        _NewAttempts(InstanceRunBook(queue.instance, log)), settings.max_partitions_per_run, settings.retry_backoff_s,
        max_rows_per_run=settings.max_rows_per_run, outputs=tables.history_outputs(settings.postgres_enabled),
    )
    run_ids = []
    for wanted in result.run_requests or []:
        tags = {**wanted.tags, "dagster/run_key": _free_key(queue, wanted.run_key)}  # the sensor's, writer tag included
        run_ids.append(queue.submit(wanted.job_name, tags, wanted.asset_selection, requested_by=by))
    reason = result.skip_reason.skip_message if result.skip_reason else ""
    return run_ids, reason or f"queued {len(run_ids)} run(s): what the landing sensor would ask for now"


def _rebuild(request: Request, queue: RunQueue, first: date, last: date, by: str) -> tuple[list[str], str]:
    settings, lakehouse = request.app.state.settings, request.app.state.lakehouse
    start, end = partition_bounds()
    if first < start or last >= end:
        raise Problem(422, f"the business dates run from {start} to {end - timedelta(days=1)}; {first}..{last} is outside")
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    outputs = tables.history_outputs(settings.postgres_enabled)
    work = current_plan(lakehouse, start, end, also=days, outputs=outputs)
    ranges = work.ranges(settings.max_partitions_per_run, settings.max_rows_per_run)
    label = f"{first.isoformat()}..{last.isoformat()}"
    run_ids = [
        queue.submit(
            partitions_job.name,
            {RANGE_START_TAG: a.isoformat(), RANGE_END_TAG: b.isoformat(), REBUILD_TAG: label, **WRITER_TAGS},
            requested_by=by,
        )
        for a, b in ranges
    ]
    # Queued after the ranges: the instance runs the pipeline's runs one at a time, in order (dagster.yaml's
    # tag concurrency limit), so the whole-history outputs are built from the rebuilt dates.
    run_ids.append(
        queue.submit(
            history_job.name, {REBUILD_TAG: label, **WRITER_TAGS}, history_selection(list(outputs), outputs), requested_by=by
        )
    )
    return run_ids, (
        f"queued {len(ranges)} range run(s) over {first}..{last} (with anything else behind) and the whole-history outputs"
    )


@router.post(
    "/v1/runs",
    status_code=202,
    summary="Queue the runs the planner asks for now, or a rebuild of a range of business dates",
    responses={**_ACCEPTED, **documented(400, *KEYED)},
)
def submit_runs(request: Request, body: RunAction, key=Depends(require("run"))) -> JSONResponse:
    """`{"action": "update"}` queues exactly what the landing sensor would ask for now (landing new files, then
    the business dates behind, then the whole-history outputs: one step per call, as the sensor does);
    `{"action": "rebuild", "from": "2011-06-01", "to": "2011-06-30"}` queues those dates and the whole-history
    outputs. While runs of the pipeline are queued or running, nothing new is queued and the answer names those
    runs. 503 when no Dagster daemon is running to execute them."""
    queue: RunQueue = request.app.state.runs
    try:
        queue.check_daemon()
    except NoDaemon as exc:
        raise Problem(503, str(exc), {"Retry-After": "30"}) from exc
    # One request at a time decides and queues: two at once would both find nothing in flight and queue the
    # same work twice.
    with queue.deciding:
        try:
            return _submit(request, queue, body, key)
        except DefinitionsError as exc:
            raise Problem(503, f"{exc}: fix the settings of the API's process (the same as the daemon's)") from exc


def _submit(request: Request, queue: RunQueue, body: RunAction, key) -> JSONResponse:
    InstanceRunBook(queue.instance, log).sweep()  # a dead run is not in flight
    in_flight = queue.in_flight()
    if in_flight:
        run_ids, submitted = [run.run_id for run in in_flight], False
        detail = f"{len(in_flight)} run(s) of the pipeline are queued or running: nothing new was queued; follow them"
    else:
        by = f"api:{key.name}"
        if body.action == "update":
            run_ids, detail = _update(request, queue, by)
        else:
            run_ids, detail = _rebuild(request, queue, body.first, body.last, by)
        submitted = bool(run_ids)
    runs = [_as_json(queue.run(run_id)) for run_id in run_ids]
    return JSONResponse(
        {"action": body.action, "submitted": submitted, "run_ids": run_ids, "runs": runs, "detail": detail},
        status_code=202,
    )


@router.get(
    "/v1/runs/{run_id}",
    summary="A run's status, start, end and first error",
    responses={200: {"description": "The run", "content": {"application/json": {"schema": _RUN_SCHEMA}}},
               **documented(404, *KEYED)},
)
def get_run(request: Request, run_id: str = Path(pattern=RUN_ID), _key=Depends(require("read"))) -> JSONResponse:
    queue: RunQueue = request.app.state.runs
    info = queue.run(run_id) if queue.instance is not None else None
    if info is None:
        raise Problem(404, f"no run {run_id} in the Dagster instance at DAGSTER_HOME")
    return JSONResponse(_as_json(info))


def run_queue(instance) -> RunQueue:
    return RunQueue(instance, tuple(job.name for job in ASSET_JOBS))
