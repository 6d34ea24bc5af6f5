"""The resources of the graph, built from the settings when the definitions load (never at import)."""

from __future__ import annotations

from typing import Optional

import dagster as dg
from dagster_duckdb import DuckDBResource

from retail_pipeline.adapters.io_manager import DeltaIOManager
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.landing_zone import LandingZone
from retail_pipeline.adapters.postgres_marts import PostgresMarts
from retail_pipeline.adapters.reference_apis import CountriesApi, FxApi
from retail_pipeline.settings import ALERT_WEBHOOK, Settings

# PostgresMarts field <- the variable it is read from (as dg.EnvVar: the UI shows the name, never the value).
_POSTGRES_FIELDS = {
    "url": "RETAIL_POSTGRES_URL", "host": "RETAIL_POSTGRES_HOST", "port": "RETAIL_POSTGRES_PORT",
    "user": "RETAIL_POSTGRES_USER", "password": "RETAIL_POSTGRES_PASSWORD", "dbname": "RETAIL_POSTGRES_DB",
    "sslmode": "RETAIL_POSTGRES_SSLMODE",
}


def postgres_marts(settings: Settings) -> PostgresMarts:
    """Where serving/postgres_marts publishes (only built where ``settings.postgres_enabled``)."""
    return PostgresMarts(
        **{field: dg.EnvVar(name) for field, name in _POSTGRES_FIELDS.items() if name in settings.postgres_variables},
        schema_name=settings.postgres_schema,
        reader_role=settings.postgres_reader_role,
        swap_timeout_s=settings.postgres_swap_timeout_s,
    )


class ReportsDir(dg.ConfigurableResource):
    """Where the KPI report is written (``RETAIL_REPORTS_DIR``)."""

    directory: str = "data/reports"


class QualityThresholds(dg.ConfigurableResource):
    """Where the warning checks draw the line (``RETAIL_MAX_UNKNOWN_COUNTRY_SHARE``, ``RETAIL_FRESHNESS_DAYS``)."""

    max_unknown_country_share: float = 0.05
    freshness_days: int = 2


class AlertWebhook(dg.ConfigurableResource):
    """Where failed-run alerts are posted (``RETAIL_ALERT_WEBHOOK``, a secret: held as ``dg.EnvVar``); unset,
    alerts go to the sensor's log only."""

    url: Optional[str] = None


def build_resources(landing: str | None = None, lakehouse: str | None = None, settings: Settings | None = None) -> dict:
    """The resources of ``settings`` (default: ``Settings.from_env()`` with ``landing`` and ``lakehouse``
    overriding the landing zone and the lakehouse root when given). The warehouse file and the reports sit beside
    the lakehouse unless ``RETAIL_WAREHOUSE_PATH`` / ``RETAIL_REPORTS_DIR`` say otherwise; the reference APIs
    are off (offline bundles) unless their URL is set."""
    if settings is None:
        settings = Settings.from_env(landing_dir=landing, lakehouse_uri=lakehouse)
    elif landing or lakehouse:
        raise ValueError("give either settings or landing/lakehouse overrides, not both")
    house = Lakehouse.from_settings(settings)
    return {
        "duckdb": DuckDBResource(database=settings.warehouse_path),
        "reports": ReportsDir(directory=settings.reports_dir),
        "lakehouse": house,
        "landing": LandingZone(root=settings.landing_dir),
        "io_manager": DeltaIOManager(lakehouse=house, lock_lease_s=settings.lock_lease_s),
        "quality": QualityThresholds(
            max_unknown_country_share=settings.max_unknown_country_share, freshness_days=settings.freshness_days
        ),
        "fx_api": FxApi.from_settings(settings.fx_api, max_age_days=settings.fx_max_age_days),
        "countries_api": CountriesApi.from_settings(settings.countries_api),
        "alert_webhook": AlertWebhook(url=dg.EnvVar(ALERT_WEBHOOK) if settings.alert_webhook_set else None),
        **({"postgres": postgres_marts(settings)} if settings.postgres_enabled else {}),
    }
