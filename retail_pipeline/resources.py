"""The resources of the graph, configured from environment variables with local defaults."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from retail_pipeline.apis import CountriesApi, FxApi
from retail_pipeline.checks import QualityThresholds
from retail_pipeline.io_manager import DeltaIOManager
from retail_pipeline.lakehouse import Lakehouse
from retail_pipeline.landing import DEFAULT_LANDING, LandingZone


class ReportsDir(dg.ConfigurableResource):
    """Where the KPI report is written (``RETAIL_REPORTS_DIR``)."""

    directory: str = "data/reports"


def beside_lakehouse(root: str, name: str) -> str:
    """``name`` next to a local lakehouse (``data/lakehouse`` -> ``data/<name>``); under ``data/`` for an
    object-store lakehouse."""
    return str(Path("data" if "://" in root else Path(root).parent) / name)


def build_resources(landing: str | None = None, lakehouse: str | None = None) -> dict:
    """``RETAIL_LANDING_DIR`` and ``RETAIL_LAKEHOUSE_URI`` unless given; defaults under ``data/``; an
    object-store lakehouse reaches its store with the ``AWS_*`` variables (``Lakehouse.from_env``). The
    reference APIs from ``RETAIL_FX_API_*`` / ``RETAIL_COUNTRIES_API_*`` / ``RETAIL_API_*`` (apis.py). The
    warehouse file and the reports sit beside the lakehouse unless ``RETAIL_WAREHOUSE_PATH`` /
    ``RETAIL_REPORTS_DIR`` say otherwise."""
    house = Lakehouse.from_env(lakehouse)
    return {
        "duckdb": DuckDBResource(
            database=os.environ.get("RETAIL_WAREHOUSE_PATH") or beside_lakehouse(house.root, "warehouse.duckdb")
        ),
        "reports": ReportsDir(directory=os.environ.get("RETAIL_REPORTS_DIR") or beside_lakehouse(house.root, "reports")),
        "lakehouse": house,
        "landing": LandingZone(root=landing or os.environ.get("RETAIL_LANDING_DIR", DEFAULT_LANDING)),
        "io_manager": DeltaIOManager(lakehouse=house),
        "quality": QualityThresholds.from_env(),
        # Off (offline bundles) unless RETAIL_FX_API_URL / RETAIL_COUNTRIES_API_URL is set; see apis.py.
        "fx_api": FxApi.from_env(),
        "countries_api": CountriesApi.from_env(),
    }
