"""``/health`` (the process answers) and ``/ready`` (it can serve: the lakehouse is reachable and the
warehouse is there; the body says how fresh the data is, but old data is still ready)."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from retail_pipeline.adapters.warehouse_reader import WarehouseMissing
from retail_pipeline.app.api.problems import documented, problem_response
from retail_pipeline.app.api.stats import last_runs

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the server answers")
def health() -> dict:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: the lakehouse is reachable and the warehouse present; with each table's freshness",
    responses=documented(503),
)
def ready(request: Request):
    state = request.app.state
    problems = []
    try:
        facts = state.facts.all()
    except Exception as exc:  # the store behind the lakehouse is down, or its root is not readable
        facts = []
        problems.append(f"the lakehouse cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
    if not problems and not facts:
        problems.append("the lakehouse holds no table yet: run `retail-pipeline run`")
    try:
        state.warehouse.check()
    except WarehouseMissing as exc:
        problems.append(str(exc).replace(str(state.warehouse.path), "the lakehouse's warehouse file"))
    if problems:
        return problem_response(request, 503, "; ".join(problems))
    now = datetime.now(timezone.utc)
    runs = last_runs(state.instance, limit=1)
    return JSONResponse(
        {
            "status": "ready",
            "last_successful_run_age_s": runs["last_successful_run_age_s"],
            "tables": {
                f"{f.table.layer}.{f.table.name}": {
                    "version": f.version,
                    "updated_at": f.updated_at.isoformat(),
                    "age_s": round((now - f.updated_at).total_seconds(), 1),
                }
                for f in facts
            },
        }
    )
