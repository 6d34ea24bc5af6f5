"""The KPI report: the main figures of the gold marts as charts, in one self-contained HTML file (inline
SVG: no script, no network, opens anywhere) and one PNG dashboard for the asset's page in the UI.

matplotlib draws them: it writes both SVG and PNG offline with no browser or JavaScript runtime (plotly or
altair need one to export an image), and its Agg backend needs no display. It is imported when a report is
drawn, not with the definitions: 0.5 s of every CLI run otherwise, drawn or not.
"""

from __future__ import annotations

import base64
import functools
import html
import io
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from retail_pipeline.core.transforms.marts import SEGMENT_NAMES

TOP = 10
COLOURS = {"gbp": "#1f4e79", "eur": "#2e8b57", "usd": "#c0504d"}


@functools.cache
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def _thousands():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:,.0f}")


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


def _revenue(ax, f: KpiFigures) -> None:
    for ccy, colour in COLOURS.items():
        ax.plot(f.monthly["month"].to_list(), f.monthly[f"gross_revenue_{ccy}"].to_list(), marker="o", ms=3, color=colour, label=ccy.upper())
    ax.set_title("Gross revenue per month")
    ax.yaxis.set_major_formatter(_thousands())
    ax.legend(frameon=False)
    ax.tick_params(axis="x", rotation=45)


def _barh(ax, labels: list[str], values: list[float], title: str, colour: str) -> None:
    ax.barh(labels[::-1], values[::-1], color=colour)
    ax.set_title(title)
    ax.xaxis.set_major_formatter(_thousands())
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    ax.tick_params(axis="y", labelsize=8)


def _countries(ax, f: KpiFigures) -> None:
    _barh(ax, f.countries["country"].to_list(), f.countries["gross_revenue_gbp"].to_list(), f"Top {TOP} countries, gross revenue (GBP)", COLOURS["gbp"])


def _products(ax, f: KpiFigures) -> None:
    _barh(ax, f.products["label"].to_list(), f.products["revenue_gbp"].to_list(), f"Top {TOP} products, revenue (GBP)", COLOURS["eur"])


def _segments(ax, f: KpiFigures) -> None:
    ax.bar(f.segments["segment"].to_list(), f.segments["customers"].to_list(), color=COLOURS["usd"])
    ax.set_title("Customers per RFM segment")
    ax.tick_params(axis="x", rotation=30, labelsize=8)


def _quality(ax, f: KpiFigures) -> None:
    for table, part in f.quality.partition_by("table", as_dict=True, maintain_order=True).items():
        ax.plot(part["business_date"].to_list(), part["score"].to_list(), lw=1, label=table[0])
    lowest = f.quality["score"].min() if f.quality.height else 0.0
    ax.set_ylim(max(0.0, (lowest or 0.0) - 0.05), 1.005)  # room to see a dip, not a flat line at the top
    ax.set_title("Data-quality score per business date")
    ax.legend(frameon=False, fontsize=8)
    ax.tick_params(axis="x", rotation=45)


CHARTS = (
    ("revenue", _revenue),
    ("countries", _countries),
    ("products", _products),
    ("segments", _segments),
    ("quality", _quality),
)


def _save(fig, fmt: str, dpi: int = 90) -> bytes:
    """The figure's bytes, the same for the same figures (no drawing date, SVG ids from a fixed salt): a
    rebuilt report equals the one a clean run writes."""
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {}
    plt = _pyplot()
    with plt.rc_context({"svg.hashsalt": "retail-pipeline"}):
        fig.savefig(buffer, format=fmt, bbox_inches="tight", dpi=dpi, metadata=metadata)
    plt.close(fig)
    return buffer.getvalue()


def dashboard_png(f: KpiFigures) -> bytes:
    """All the charts on one image (the asset's page in the UI shows it)."""
    # Two charts a row, about 1,000 px wide: the UI shows the image at its size, without scaling it down.
    fig, axes = _pyplot().subplots(3, 2, figsize=(13, 13))
    for ax, (_, draw) in zip(axes.flat, CHARTS, strict=False):
        draw(ax, f)
    axes.flat[-1].axis("off")
    fig.tight_layout()
    return _save(fig, "png", dpi=75)


def report_html(f: KpiFigures, title: str = "Retail KPI report") -> str:
    """One HTML file with the headline figures and each chart as inline SVG."""
    sections = []
    for name, draw in CHARTS:
        fig, ax = _pyplot().subplots(figsize=(9, 4.5))
        draw(ax, f)
        fig.tight_layout()
        svg = _save(fig, "svg").decode()
        sections.append(f'<section id="{name}">{svg[svg.index("<svg"):]}</section>')
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


def png_markdown(png: bytes) -> str:
    """Markdown showing ``png`` inline (Dagster renders it on the asset's page)."""
    return f"![KPI dashboard](data:image/png;base64,{base64.b64encode(png).decode()})"


def write_report(directory: Path, figures: KpiFigures, name: str = "kpi_report") -> tuple[Path, bytes]:
    """Write ``<name>.html`` and ``<name>.png`` into ``directory``; the page's path and the dashboard PNG.
    Each file is written beside its target, then renamed: a browser reloading the report never gets half a
    page."""
    directory.mkdir(parents=True, exist_ok=True)
    png = dashboard_png(figures)
    page = directory / f"{name}.html"
    for target, content in ((page, report_html(figures).encode()), (directory / f"{name}.png", png)):
        staging = target.with_name(f".{target.name}.tmp")
        staging.write_bytes(content)
        staging.replace(target)
    return page, png
