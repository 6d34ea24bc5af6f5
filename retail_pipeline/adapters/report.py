"""The KPI report: the main figures of the gold marts as charts, in one self-contained HTML file (inline
SVG: no script, no network, opens anywhere) and one SVG dashboard for the asset's page in the UI. The charts
are drawn by ``adapters/charts.py``.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from retail_pipeline.adapters import charts
from retail_pipeline.core.transforms.marts import SEGMENT_NAMES

TOP = 10
COLOURS = {"gbp": "#1f4e79", "eur": "#2e8b57", "usd": "#c0504d"}


@dataclass(frozen=True)
class KpiFigures:
    """What the report draws, each a small frame computed from the marts."""

    monthly: pl.DataFrame  # month, gross_revenue_gbp/eur/usd, orders, customers
    countries: pl.DataFrame  # country, gross_revenue_gbp (top countries)
    products: pl.DataFrame  # label, revenue_gbp (top products)
    segments: pl.DataFrame  # segment, customers
    quality: pl.DataFrame  # business_date, table, score


def kpi_figures(
    monthly: pl.LazyFrame,
    country_sales: pl.LazyFrame,
    product_performance: pl.LazyFrame,
    customer_rfm: pl.LazyFrame,
    scorecard: pl.LazyFrame,
) -> KpiFigures:
    countries = (
        country_sales.group_by(pl.col("country").fill_null("(none)"))
        .agg(pl.col("gross_revenue_gbp").sum())
        .sort("gross_revenue_gbp", "country", descending=[True, False])
        .head(TOP)
    )
    products = (
        product_performance.group_by("stock_code")
        .agg(pl.col("description").first(), pl.col("revenue_gbp").sum())
        .sort("revenue_gbp", "stock_code", descending=[True, False])
        .head(TOP)
        .select(
            pl.concat_str(["stock_code", pl.col("description").fill_null("")], separator=" ").str.slice(0, 32).alias("label"),
            "revenue_gbp",
        )
    )
    segments = (
        pl.LazyFrame({"segment": SEGMENT_NAMES})
        .join(
            customer_rfm.group_by("segment").agg(pl.len().cast(pl.Int64).alias("customers")),
            on="segment",
            how="left",
            maintain_order="left",  # best segment first
        )
        .with_columns(pl.col("customers").fill_null(0))
    )
    quality = scorecard.filter(pl.col("rows") > 0).select("business_date", "table", "score").sort("business_date")
    frames = pl.collect_all(
        [
            monthly.select("month", "gross_revenue_gbp", "gross_revenue_eur", "gross_revenue_usd", "orders", "customers").sort("month"),
            countries,
            products,
            segments,
            quality,
        ]
    )
    return KpiFigures(*frames)


def _revenue(f: KpiFigures) -> str:
    series = {ccy.upper(): (f.monthly[f"gross_revenue_{ccy}"].to_list(), colour) for ccy, colour in COLOURS.items()}
    return charts.line_chart("Gross revenue per month", f.monthly["month"].to_list(), series)


def _countries(f: KpiFigures) -> str:
    return charts.bar_chart(
        f"Top {TOP} countries, gross revenue (GBP)", f.countries["country"].to_list(),
        f.countries["gross_revenue_gbp"].to_list(), COLOURS["gbp"], horizontal=True,
    )


def _products(f: KpiFigures) -> str:
    return charts.bar_chart(
        f"Top {TOP} products, revenue (GBP)", f.products["label"].to_list(), f.products["revenue_gbp"].to_list(),
        COLOURS["eur"], horizontal=True,
    )


def _segments(f: KpiFigures) -> str:
    return charts.bar_chart(
        "Customers per RFM segment", f.segments["segment"].to_list(), f.segments["customers"].to_list(), COLOURS["usd"]
    )


QUALITY_COLOURS = ("#1f4e79", "#2e8b57", "#c0504d", "#8064a2", "#f79646", "#4bacc6", "#7f7f7f", "#9bbb59")


def _quality(f: KpiFigures) -> str:
    # One line per table over every business date scored (a date a table has no score for breaks its line).
    days = f.quality["business_date"].unique().sort()
    wide = (
        f.quality.pivot(on="table", index="business_date", values="score", aggregate_function="first")
        if f.quality.height
        else pl.DataFrame({"business_date": days})
    )
    wide = pl.DataFrame({"business_date": days}).join(wide, on="business_date", how="left").sort("business_date")
    tables = [c for c in wide.columns if c != "business_date"]
    series = {t: (wide[t].to_list(), QUALITY_COLOURS[i % len(QUALITY_COLOURS)]) for i, t in enumerate(tables)}
    lowest = f.quality["score"].min() if f.quality.height else 0.0
    # Room to see a dip, not a flat line at the top.
    return charts.line_chart(
        "Data-quality score per business date", days.to_list(), series, y_range=(max(0.0, (lowest or 0.0) - 0.05), 1.0)
    )


CHARTS = (
    ("revenue", _revenue),
    ("countries", _countries),
    ("products", _products),
    ("segments", _segments),
    ("quality", _quality),
)


def dashboard_svg(f: KpiFigures) -> bytes:
    """All the charts on one image (the asset's page in the UI shows it)."""
    return charts.grid([draw(f) for _, draw in CHARTS]).encode()


def report_html(f: KpiFigures, title: str = "Retail KPI report") -> str:
    """One HTML file with the headline figures and each chart as inline SVG."""
    sections = [f'<section id="{name}">{draw(f)}</section>' for name, draw in CHARTS]
    totals = f.monthly.select(pl.col("gross_revenue_gbp", "gross_revenue_eur", "gross_revenue_usd", "orders").sum())
    gbp, eur, usd, orders = totals.row(0) if f.monthly.height else (0.0, 0.0, 0.0, 0)
    months = f"{f.monthly['month'].min()} .. {f.monthly['month'].max()}" if f.monthly.height else "no data"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 960px; color: #222; }}
.figures {{ display: flex; gap: 2rem; flex-wrap: wrap; margin: 1rem 0 2rem; }}
.figures div {{ background: #f3f6fa; padding: .8rem 1.2rem; border-radius: 6px; }}
.figures b {{ display: block; font-size: 1.4rem; }}
section svg {{ width: 100%; height: auto; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>Months {html.escape(months)}; generated {stamp} from the gold marts.</p>
<div class="figures">
<div><b>£{gbp:,.0f}</b>gross revenue</div><div><b>€{eur:,.0f}</b>in EUR</div>
<div><b>${usd:,.0f}</b>in USD</div><div><b>{orders:,}</b>orders</div>
</div>
{chr(10).join(sections)}
</body></html>
"""


def svg_markdown(svg: bytes) -> str:
    """Markdown showing ``svg`` inline (Dagster renders it on the asset's page)."""
    return f"![KPI dashboard](data:image/svg+xml;base64,{base64.b64encode(svg).decode()})"


def write_report(directory: Path, figures: KpiFigures, name: str = "kpi_report") -> tuple[Path, bytes]:
    """Write ``<name>.html`` and ``<name>.svg`` (the dashboard) into ``directory``; the page's path and the
    dashboard. Each file is written beside its target, then renamed: a browser reloading the report never
    gets half a page."""
    directory.mkdir(parents=True, exist_ok=True)
    svg = dashboard_svg(figures)
    page = directory / f"{name}.html"
    for target, content in ((page, report_html(figures).encode()), (directory / f"{name}.svg", svg)):
        staging = target.with_name(f".{target.name}.tmp")
        staging.write_bytes(content)
        staging.replace(target)
    return page, svg
