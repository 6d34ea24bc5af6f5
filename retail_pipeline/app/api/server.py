"""The app of ``retail-pipeline serve``: one lakehouse (the same settings and resolution as ``run``), its
warehouse file, its keys file; and ``serve()``, which runs it under uvicorn."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import disable_created_metrics

from retail_pipeline.adapters.api_keys import KeyStore
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.table_facts import Facts
from retail_pipeline.adapters.table_pages import TablePages
from retail_pipeline.adapters.warehouse_reader import WarehouseReader
from retail_pipeline.app.api import health, landing, marts, problems, runs, stats, tables
from retail_pipeline.app.api.observability import AccessLog, Metrics
from retail_pipeline.app.api.security import RateLimiter
from retail_pipeline.settings import Settings, dagster_home

DESCRIPTION = """One retail lakehouse over HTTP: its tables page by page, the gold marts, quality figures and
Prometheus metrics; uploads into its landing zone and run requests to its Dagster instance. Requests carry `Authorization: Bearer <key>`; keys and their scopes (`read`,
`pii`, `upload`, `run`) are made with `retail-pipeline api-key create`. Errors are `application/problem+json`."""


def _instance():
    """The Dagster instance runs are recorded in (as ``retail-pipeline run`` resolves it), None without one."""
    import dagster as dg

    home = dagster_home()
    if not home:
        return None
    os.environ.setdefault("DAGSTER_HOME", home)
    os.environ.setdefault("DAGSTER_DATA_DIR", os.path.join(home, "data", "dagster"))
    try:
        return dg.DagsterInstance.get()
    except Exception:  # a broken dagster.yaml: runs are simply not reported
        logging.getLogger("retail_pipeline.api").warning("no Dagster instance at DAGSTER_HOME: runs are not reported")
        return None


def create_app(settings: Settings | None = None, instance=None) -> FastAPI:
    settings = settings or Settings.from_env()
    disable_created_metrics()  # a `_created` series per counter doubles the scrape for nothing here
    from importlib.metadata import version

    app = FastAPI(title="retail-pipeline", version=version("retail-pipeline"), description=DESCRIPTION)
    lakehouse = Lakehouse.from_settings(settings)
    pages = TablePages(lakehouse)
    state = app.state
    state.settings, state.lakehouse, state.pages = settings, lakehouse, pages
    state.facts = Facts(lakehouse, pages.latest)
    state.warehouse = WarehouseReader(settings.warehouse_path)
    state.keys = KeyStore(settings.api_state_dir)
    state.limiter = RateLimiter(settings.api_rate_per_s, settings.api_rate_burst)
    state.instance = instance if instance is not None else _instance()
    state.metrics = Metrics(lambda: stats.pipeline_figures(state))
    state.landing_root = Path(settings.landing_dir)
    state.manifest = landing.manifest_reader(lakehouse)
    state.runs = runs.run_queue(state.instance)
    problems.install(app)
    for module in (health, stats, tables, marts, landing, runs):
        app.include_router(module.router)
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.api_cors_origins), allow_methods=["GET"],
            allow_headers=["Authorization", "X-Request-ID"], expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(AccessLog, metrics=state.metrics)
    return app


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    api_log = logging.getLogger("retail_pipeline.api")
    api_log.addHandler(handler)
    api_log.setLevel(logging.INFO)
    api_log.propagate = False
    # uvicorn's own access log prints each path and query string (customer ids among them): off.
    uvicorn.run(create_app(settings), host=host, port=port, access_log=False, log_level="info", server_header=False)
