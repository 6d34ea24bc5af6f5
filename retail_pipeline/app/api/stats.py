"""``/v1/stats`` (rows per layer, duplicates dropped, quarantined rows by reason, quality scores, the last
runs, table versions) and the figures ``/metrics`` exports as gauges."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from retail_pipeline.app.api.problems import KEYED, documented
from retail_pipeline.app.api.security import require

router = APIRouter(tags=["stats"])


def last_runs(instance: dg.DagsterInstance | None, limit: int = 10) -> dict:
    """The last runs of the Dagster instance the command line records its runs in, newest first, and the
    age of the last successful one (None without an instance or such a run)."""
    if instance is None:
        return {"runs": [], "last_successful_run_age_s": None}
    stamp = lambda t: datetime.fromtimestamp(t, tz=timezone.utc).isoformat() if t else None  # noqa: E731
    runs = [
        {
            "run_id": record.dagster_run.run_id,
            "job": record.dagster_run.job_name,
            "status": record.dagster_run.status.value,
            "start": stamp(record.start_time),
            "end": stamp(record.end_time),
        }
        for record in instance.get_run_records(limit=limit)
    ]
    success = instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1)
    ended = success[0].end_time if success else None
    age = round(datetime.now(timezone.utc).timestamp() - ended, 1) if ended else None
    return {"runs": runs, "last_successful_run_age_s": age}


def pipeline_figures(state) -> dict:
    facts = state.facts.all()
    quality = state.facts.quality(state.pages.scan)
    return {
        "tables": {f"{f.table.layer}.{f.table.name}": {"rows": f.rows, "version": f.version} for f in facts},
        **quality,
        "last_successful_run_age_s": last_runs(state.instance, limit=1)["last_successful_run_age_s"],
    }


@router.get(
    "/v1/stats", summary="Rows per layer, duplicates, quarantine by reason, quality scores, last runs, versions",
    responses=documented(*KEYED),
)
def stats(request: Request, _=Depends(require("read"))):
    state = request.app.state
    facts = state.facts.all()
    layers: dict[str, dict] = {}
    for f in facts:
        layer = layers.setdefault(f.table.layer, {"rows": 0, "tables": {}})
        layer["rows"] += f.rows
        layer["tables"][f.table.name] = f.rows
    runs = last_runs(state.instance)
    return JSONResponse(
        {
            "rows_per_layer": layers,
            **state.facts.quality(state.pages.scan),
            "last_runs": runs["runs"],
            "last_successful_run_age_s": runs["last_successful_run_age_s"],
            "table_versions": {f"{f.table.layer}.{f.table.name}": f.version for f in facts},
        }
    )


@router.get(
    "/metrics", summary="Prometheus metrics: requests, latencies, and pipeline gauges", response_class=PlainTextResponse,
    responses=documented(*KEYED),
)
def metrics(request: Request, _=Depends(require("read"))):
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
