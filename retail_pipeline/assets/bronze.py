"""Bronze: data as it arrived, plus lineage. Transactions from the landing zone; reference data from the
offline bundles and, when configured, from HTTP APIs (append-only logs of every distinct payload)."""


from datetime import datetime, timezone

import dagster as dg
import polars as pl

from retail_pipeline.apis import CountriesApi, FetchReport, FxApi
from retail_pipeline.enrichment.countries import read_bundled_countries
from retail_pipeline.enrichment.fx import missing_ranges, needed_range, read_bundled_ecb_rates
from retail_pipeline.io_manager import APPEND, PARTITION_COLUMN, WRITE_MODE
from retail_pipeline.lakehouse import Lakehouse, Window
from retail_pipeline.landing import LandingError, LandingZone, land, to_bronze, upgrade_manifest
from retail_pipeline.partitions import daily_partitions, partition_bounds, window_dates
from retail_pipeline.contracts import BRONZE_TRANSACTIONS, COUNTRIES, FX_RATES, LANDED_FILES
from retail_pipeline.erasure import drop_erased, registered
from retail_pipeline.schemas import conform, empty

MANIFEST = "bronze/landed_files"


@dg.asset(key=["bronze", "landed_files"], group_name="bronze", kinds={"delta", "polars"})
def landed_files(context: dg.AssetExecutionContext, landing: LandingZone, lakehouse: Lakehouse) -> pl.LazyFrame:
    """The manifest of the landing zone: one row per file ever landed, with its size, mtime, sha256, format,
    business dates, and status (active, duplicate, missing, rejected with a reason)."""
    previous = upgrade_manifest(lakehouse.read(MANIFEST)) if lakehouse.exists(MANIFEST) else empty(LANDED_FILES)
    start, end = partition_bounds()
    manifest = land(landing, previous, start, end, now=datetime.now(timezone.utc))

    by_status = dict(manifest.group_by("status").len().iter_rows())
    for path, reason in manifest.filter(pl.col("status") == "rejected").select("path", "reason").iter_rows():
        context.log.warning(f"rejected {path}: {reason}")
    for path in manifest.filter(pl.col("status") == "missing")["path"]:
        context.log.warning(f"missing {path}: landed before, no longer in the landing zone")
    context.add_output_metadata(
        {
            "landing_root": landing.root,
            **{f"files_{status}": by_status.get(status, 0) for status in ("active", "duplicate", "missing", "rejected")},
            "active_rows": int(manifest.filter(pl.col("status") == "active")["rows"].sum()),
        }
    )
    return manifest.lazy()


def active_files(manifest: pl.LazyFrame, window: Window) -> pl.DataFrame:
    """(path, sha256) of the active files holding at least one business date of ``window``."""
    return (
        manifest.filter(pl.col("status") == "active")
        .filter(pl.col("business_dates").list.eval(window.expr(pl.element())).list.any())
        .select("path", "sha256")
        .sort("path")
        .collect()
    )


# The erasure register (retail_pipeline/erasure.py): written by `retail-pipeline forget-customer`, never by a
# run, so it is an external asset here; bronze reads it to leave its customers' records out.
erased_customers = dg.AssetsDefinition(
    specs=[
        dg.AssetSpec(
            key=["bronze", "erased_customers"],
            group_name="bronze",
            kinds={"delta"},
            description="The erasure register: customers (customer_id as silver writes it, requested_at) whose "
            "records bronze never lands again. Written by `retail-pipeline forget-customer ID`.",
        )
    ]
)


@dg.multi_asset(
    outs={
        "transactions": dg.AssetOut(
            key=["bronze", "transactions"],
            description="Raw transaction records of each business date: every field as the string found in "
            "the file, with lineage (source file, record number, file sha256, format, ingestion time, run id). "
            "A partition holds exactly the records of the active landing files that contain its date, less "
            "those of the customers in the erasure register.",
            metadata={PARTITION_COLUMN: "_partition_date"},
            kinds={"delta", "polars"},
        ),
        "erased_rows": dg.AssetOut(
            key=["bronze", "erased_rows"],
            description="Per business date and landing-file version, the records left out of bronze because "
            "their customer is in the erasure register (counts only, no customer id): with bronze's rows they "
            "account for every record of the active files.",
            metadata={PARTITION_COLUMN: "_partition_date"},
            kinds={"delta", "polars"},
        ),
    },
    ins={"manifest": dg.AssetIn(key=["bronze", "landed_files"])},
    deps=[erased_customers],
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="bronze",
)
def transactions(
    context: dg.AssetExecutionContext, manifest: pl.LazyFrame, landing: LandingZone, lakehouse: Lakehouse
):
    """Bronze transactions of the run's business dates from the active landing files, less the erased
    customers' records, and the count of those records (both outputs are always written together, so the
    count never describes another version of bronze)."""
    window = Window(*window_dates(context))
    valid_start, valid_end = partition_bounds()
    ingested_at = datetime.now(timezone.utc)
    files = active_files(manifest, window)
    parts = []
    for path, sha256 in files.iter_rows():
        try:
            raw = landing.read(path)
        except (LandingError, OSError) as exc:
            raise dg.Failure(
                f"{path} was landed but cannot be read now ({exc}): materialise bronze/landed_files again, "
                "then this partition."
            ) from exc
        if raw.sha256 != sha256:
            raise dg.Failure(
                f"{path} changed since it was landed (sha256 {sha256[:12]}... -> {raw.sha256[:12]}...): "
                "materialise bronze/landed_files again, then this partition.",
            )
        rows = to_bronze(raw, valid_start, valid_end, ingested_at, context.run_id)
        parts.append(rows.filter(window.expr("_partition_date")))
    landed = conform(pl.concat(parts), BRONZE_TRANSACTIONS) if parts else empty(BRONZE_TRANSACTIONS).lazy()
    kept, erased = drop_erased(landed, registered(lakehouse), context.run_id)
    frame, erased = pl.collect_all([kept, erased])
    rows_erased = int(erased["rows_erased"].sum())
    if rows_erased:
        context.log.info(f"{rows_erased} record(s) of customers in the erasure register were not landed")
    yield dg.Output(frame.lazy(), "transactions", metadata={"files_read": len(parts), "rows_erased": rows_erased})
    yield dg.Output(erased.lazy(), "erased_rows", metadata={"rows_erased": rows_erased})


FX_TABLE = "bronze/fx_rates"
COUNTRIES_TABLE = "bronze/countries"
API_ROWS = "api"


def _empty_log(schema: pl.Schema) -> pl.DataFrame:
    """An append-only reference table with no rows: its contract's columns plus ``_fetched_at``."""
    return empty(schema).with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("_fetched_at"))


def _stored(lakehouse: Lakehouse, table: str, schema: pl.Schema) -> pl.LazyFrame:
    """An append-only reference table as stored so far (empty before the first run)."""
    return lakehouse.scan(table) if lakehouse.exists(table) else _empty_log(schema).lazy()


def _new_payloads(payloads: list[pl.DataFrame], stored: pl.LazyFrame) -> list[pl.DataFrame]:
    """The payloads whose sha256 the table does not hold yet (and the first of two identical ones)."""
    known = set(stored.select("payload_sha256").unique().collect().to_series().drop_nulls().to_list())
    fresh = []
    for payload in payloads:
        sha256 = payload["payload_sha256"].first() if payload.height else None
        if sha256 is not None and sha256 not in known:
            known.add(sha256)
            fresh.append(payload)
    return fresh


def _append_new(
    context: dg.AssetExecutionContext,
    payloads: list[pl.DataFrame],
    stored: pl.LazyFrame,
    schema: pl.Schema,
    metadata: dict[str, object],
) -> pl.LazyFrame:
    """The rows of the payloads not stored yet (possibly none), with this run's id; says what is appended."""
    fresh = _new_payloads(payloads, stored)
    metadata["payloads_appended"] = len(fresh)
    metadata["sources_appended"] = ", ".join(sorted({f["source"].first() for f in fresh})) or "none"
    context.add_output_metadata(metadata)
    columns = [*schema.names(), "_fetched_at"]
    rows = pl.concat([f.select(columns) for f in fresh]) if fresh else _empty_log(schema)
    return rows.lazy().with_columns(pl.lit(context.run_id, pl.String).alias("_run_id"))


def _report_api(context: dg.AssetExecutionContext, api: str, report: FetchReport) -> dict[str, object]:
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


@dg.asset(
    key=["bronze", "fx_rates"],
    ins={"manifest": dg.AssetIn(key=["bronze", "landed_files"])},
    metadata={WRITE_MODE: APPEND},
    group_name="bronze",
    kinds={"delta", "polars"},
)
def fx_rates(
    context: dg.AssetExecutionContext, manifest: pl.LazyFrame, lakehouse: Lakehouse, fx_api: FxApi
) -> pl.LazyFrame:
    """ECB euro reference rates as each source served them (units of currency per EUR, business days only):
    the offline bundle, and, when ``RETAIL_FX_API_URL`` is set, the payloads of a Frankfurter-compatible API
    with their request URL, HTTP status and requested range. Append-only: a payload is stored once (by its
    sha256), so a re-run adds nothing and the table shows what each source said when."""
    stored = _stored(lakehouse, FX_TABLE, FX_RATES)
    now = datetime.now(timezone.utc)
    bundle, bundle_sha256 = read_bundled_ecb_rates()
    payloads = [bundle.with_columns(pl.lit(now).alias("_fetched_at"))]
    metadata: dict[str, object] = {"bundle_sha256": bundle_sha256, "api_configured": fx_api.enabled}

    if fx_api.enabled:
        dates = (
            manifest.filter(pl.col("status") == "active")
            .select(pl.col("business_dates").explode().alias("business_date"))
            .drop_nulls()
        )
        needed = needed_range(dates, today=now.date())
        todo = missing_ranges(needed, stored, fx_api.days_per_request)
        context.log.info(
            f"FX API {fx_api.host}: transactions need {needed[0]}..{needed[1]}, {len(todo)} range(s) not yet fetched"
            if needed else f"FX API {fx_api.host}: no business dates landed, nothing to fetch"
        )
        report = fx_api.fetch(todo)
        payloads += report.payloads
        metadata |= _report_api(context, "FX", report)
        metadata["fx_ranges_fetched"] = ", ".join(f"{a}..{b}" for a, b in todo) or "none (all stored)"
    else:
        context.log.info("FX API not configured (RETAIL_FX_API_URL): the offline ECB bundle is the source")

    return _append_new(context, payloads, stored, FX_RATES, metadata)


@dg.asset(
    key=["bronze", "countries"],
    metadata={WRITE_MODE: APPEND},
    group_name="bronze",
    kinds={"delta", "polars"},
)
def countries(context: dg.AssetExecutionContext, lakehouse: Lakehouse, countries_api: CountriesApi) -> pl.LazyFrame:
    """ISO 3166-1 countries (codes, names, UN region, continent) as each source served them: the offline
    bundle (pycountry + country_converter) and, when ``RETAIL_COUNTRIES_API_URL`` is set, the payloads of a
    REST-Countries-compatible API (with currencies). Append-only by payload sha256."""
    stored = _stored(lakehouse, COUNTRIES_TABLE, COUNTRIES)
    now = datetime.now(timezone.utc)
    bundle = read_bundled_countries()
    payloads = [bundle.with_columns(pl.lit(now).alias("_fetched_at"))]
    metadata: dict[str, object] = {"api_configured": countries_api.enabled}

    if countries_api.enabled:
        last_fetch = (
            stored.filter(pl.col("source") == API_ROWS).select(pl.col("_fetched_at").max()).collect().item()
        )
        age_hours = (now - last_fetch).total_seconds() / 3600 if last_fetch is not None else None
        if age_hours is not None and age_hours < countries_api.refresh_hours:
            context.log.info(
                f"Countries API {countries_api.host}: the stored payload is {age_hours:.1f} h old "
                f"(refresh after {countries_api.refresh_hours:g} h); not fetched"
            )
            metadata["api_requests_sent"] = 0
        else:
            report = countries_api.fetch()
            payloads += report.payloads
            metadata |= _report_api(context, "Countries", report)
    else:
        context.log.info("Countries API not configured (RETAIL_COUNTRIES_API_URL): the offline bundle is the source")

    return _append_new(context, payloads, stored, COUNTRIES, metadata)
