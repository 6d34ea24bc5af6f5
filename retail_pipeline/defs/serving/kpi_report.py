"""gold/kpi_report: the KPI report (one HTML page with charts, and a dashboard image)."""

from pathlib import Path

import dagster as dg
import polars as pl

from retail_pipeline.adapters.build_state import record_whole
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.report import kpi_figures, svg_markdown, write_report
from retail_pipeline.core import tables
from retail_pipeline.defs.policies import input_of
from retail_pipeline.defs.resources import ReportsDir


@dg.asset(
    key=["gold", "kpi_report"],
    ins={
        "monthly": input_of(tables.MONTHLY_KPIS),
        "country_sales": input_of(tables.COUNTRY_SALES),
        "product_performance": input_of(tables.PRODUCT_PERFORMANCE),
        "customer_rfm": input_of(tables.CUSTOMER_RFM),
        "scorecard": input_of(tables.DQ_SCORECARD),
    },
    group_name="serving",
    kinds={"html", "svg"},
)
def kpi_report(
    context: dg.AssetExecutionContext,
    reports: ReportsDir,
    lakehouse: Lakehouse,
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
    page, svg = write_report(Path(reports.directory), figures)
    inputs = [tables.MONTHLY_KPIS, tables.COUNTRY_SALES, tables.PRODUCT_PERFORMANCE, tables.CUSTOMER_RFM, tables.DQ_SCORECARD]
    record_whole(lakehouse, tables.KPI_REPORT, [table.path for table in inputs], context.run_id)
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(page.resolve())),
            "dashboard": dg.MetadataValue.md(svg_markdown(svg)),
            "months": figures.monthly.height,
        }
    )
