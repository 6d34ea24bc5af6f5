"""What the lakehouse serves beyond its tables: the DuckDB warehouse file for SQL clients and BI tools, and
the KPI report with its charts."""


from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from retail_pipeline.automation import HISTORY_MART_CONDITION
from retail_pipeline.lakehouse import Lakehouse
from retail_pipeline.report import dashboard_png, kpi_figures, png_markdown, report_html
from retail_pipeline.resources import ReportsDir
from retail_pipeline.warehouse import WAREHOUSE_TABLES, rebuild_warehouse

REPORT_NAME = "kpi_report"


@dg.asset(
    key=["gold", "warehouse"],
    deps=[dg.AssetKey(["gold", name]) for name in WAREHOUSE_TABLES],
    automation_condition=HISTORY_MART_CONDITION,
    group_name="serving",
    kinds={"duckdb"},
)
def warehouse(lakehouse: Lakehouse, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """The DuckDB warehouse file (``data/warehouse.duckdb`` by default, ``RETAIL_WAREHOUSE_PATH``): every
    gold table under its own name (fact_sales, dim_*, monthly_kpis ...), for any SQL client or BI tool.
    Rebuilt whole into a new file that then replaces the old one: a reader never sees half a warehouse."""
    path = Path(duckdb.database)

    def connect(staging: Path):
        return DuckDBResource(database=str(staging), connection_config=duckdb.connection_config).get_connection()

    built = rebuild_warehouse(lakehouse, path, connect)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path.resolve())),
            "size_mib": round(built.size_bytes / 2**20, 1),
            "tables": len(built.rows),
            **{f"rows_{name}": n for name, n in built.rows.items()},
        }
    )


@dg.asset(
    key=["gold", REPORT_NAME],
    ins={
        "monthly": dg.AssetIn(key=["gold", "monthly_kpis"]),
        "country_sales": dg.AssetIn(key=["gold", "country_sales"]),
        "product_performance": dg.AssetIn(key=["gold", "product_performance"]),
        "customer_rfm": dg.AssetIn(key=["gold", "customer_rfm"]),
        "scorecard": dg.AssetIn(key=["gold", "dq_scorecard"]),
    },
    automation_condition=HISTORY_MART_CONDITION,
    group_name="serving",
    kinds={"html", "matplotlib"},
)
def kpi_report(
    reports: ReportsDir,
    monthly: pl.LazyFrame,
    country_sales: pl.LazyFrame,
    product_performance: pl.LazyFrame,
    customer_rfm: pl.LazyFrame,
    scorecard: pl.LazyFrame,
) -> dg.MaterializeResult:
    """The KPI report: monthly revenue in GBP, EUR and USD, top countries, top products, RFM segment sizes
    and the data-quality score over time, as one self-contained HTML file under ``data/reports/``
    (``RETAIL_REPORTS_DIR``); the same charts show on this page as one image."""
    figures = kpi_figures(monthly, country_sales, product_performance, customer_rfm, scorecard)
    directory = Path(reports.directory)
    directory.mkdir(parents=True, exist_ok=True)
    png = dashboard_png(figures)
    page = directory / f"{REPORT_NAME}.html"
    # Written beside, then renamed: a browser reloading the report never gets half a page.
    for target, content in ((page, report_html(figures).encode()), (directory / f"{REPORT_NAME}.png", png)):
        staging = target.with_name(f".{target.name}.tmp")
        staging.write_bytes(content)
        staging.replace(target)
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(page.resolve())),
            "dashboard": dg.MetadataValue.md(png_markdown(png)),
            "months": figures.monthly.height,
        }
    )
