"""What the two reference assets share: an append-only fetch log per source, a payload stored once by its
sha256, and what an API could not serve.
"""

import dagster as dg
import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.reference_apis import FetchReport
from retail_pipeline.core.contracts import empty

API_ROWS = "api"


def empty_log(schema: pl.Schema) -> pl.DataFrame:
    """An append-only reference table with no rows: its contract's columns plus ``_fetched_at``."""
    return empty(schema).with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("_fetched_at"))


def stored_log(lakehouse: Lakehouse, table: str, schema: pl.Schema) -> pl.LazyFrame:
    """An append-only reference table as stored so far (empty before the first run)."""
    return lakehouse.scan(table) if lakehouse.exists(table) else empty_log(schema).lazy()


def new_payloads(payloads: list[pl.DataFrame], stored: pl.LazyFrame) -> list[pl.DataFrame]:
    """The payloads whose sha256 the table does not hold yet (and the first of two identical ones)."""
    known = set(stored.select("payload_sha256").unique().collect().to_series().drop_nulls().to_list())
    fresh = []
    for payload in payloads:
        sha256 = payload["payload_sha256"].first() if payload.height else None
        if sha256 is not None and sha256 not in known:
            known.add(sha256)
            fresh.append(payload)
    return fresh


def append_new(
    context: dg.AssetExecutionContext,
    payloads: list[pl.DataFrame],
    stored: pl.LazyFrame,
    schema: pl.Schema,
    metadata: dict[str, object],
) -> pl.LazyFrame:
    """The rows of the payloads not stored yet (possibly none), with this run's id; says what is appended."""
    fresh = new_payloads(payloads, stored)
    metadata["payloads_appended"] = len(fresh)
    metadata["sources_appended"] = ", ".join(sorted({f["source"].first() for f in fresh})) or "none"
    context.add_output_metadata(metadata)
    columns = [*schema.names(), "_fetched_at"]
    rows = pl.concat([f.select(columns) for f in fresh]) if fresh else empty_log(schema)
    return rows.lazy().with_columns(pl.lit(context.run_id, pl.String).alias("_run_id"))


def report_api(context: dg.AssetExecutionContext, api: str, report: FetchReport) -> dict[str, object]:
    """Log each failed request and say what the bundle stands in for; the metadata that shows it in the UI."""
    for what, reason in report.failures:
        served = f" for {what[0]}..{what[1]}" if isinstance(what, tuple) else ""
        context.log.warning(f"{api} API could not serve{served}: {reason}; the offline bundle stands in")
    metadata: dict[str, object] = {
        "api_requests_planned": len(report.requested),
        "api_requests_sent": report.requests_sent,
        "api_payloads_valid": len(report.payloads),
        "api_failures": len(report.failures),
        "api_circuit_opened": report.circuit_opened,
        "fallback_to_bundle": report.fell_back,
    }
    if report.failures:
        metadata["fallback_reasons"] = dg.MetadataValue.md(
            "\n".join(
                f"- {f'{w[0]}..{w[1]}: ' if isinstance(w, tuple) else ''}{reason}" for w, reason in report.failures[:20]
            )
        )
    return metadata
