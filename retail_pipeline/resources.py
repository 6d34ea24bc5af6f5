"""The resources of the graph, configured from environment variables with local defaults."""

from __future__ import annotations

import os

from retail_pipeline.apis import CountriesApi, FxApi
from retail_pipeline.checks import QualityThresholds
from retail_pipeline.io_manager import DeltaIOManager
from retail_pipeline.lakehouse import DEFAULT_LAKEHOUSE, Lakehouse
from retail_pipeline.landing import DEFAULT_LANDING, LandingZone


def build_resources(landing: str | None = None, lakehouse: str | None = None) -> dict:
    """``RETAIL_LANDING_DIR`` and ``RETAIL_LAKEHOUSE_URI`` unless given; defaults under ``data/``. The
    reference APIs from ``RETAIL_FX_API_*`` / ``RETAIL_COUNTRIES_API_*`` / ``RETAIL_API_*`` (apis.py)."""
    house = Lakehouse(root=lakehouse or os.environ.get("RETAIL_LAKEHOUSE_URI", DEFAULT_LAKEHOUSE))
    return {
        "lakehouse": house,
        "landing": LandingZone(root=landing or os.environ.get("RETAIL_LANDING_DIR", DEFAULT_LANDING)),
        "io_manager": DeltaIOManager(lakehouse=house),
        "quality": QualityThresholds.from_env(),
        # Off (offline bundles) unless RETAIL_FX_API_URL / RETAIL_COUNTRIES_API_URL is set; see apis.py.
        "fx_api": FxApi.from_env(),
        "countries_api": CountriesApi.from_env(),
    }
