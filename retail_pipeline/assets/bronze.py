"""Bronze: data as it arrived, plus lineage. Transactions from the landing zone; reference data from its
source (the offline bundles by default)."""


from datetime import datetime, timezone

import dagster as dg
import polars as pl

from retail_pipeline.enrichment.countries import read_bundled_countries
from retail_pipeline.enrichment.fx import read_bundled_ecb_rates
from retail_pipeline.io_manager import PARTITION_COLUMN
from retail_pipeline.lakehouse import Lakehouse, Window
from retail_pipeline.landing import LandingError, LandingZone, land, to_bronze, upgrade_manifest
from retail_pipeline.partitions import daily_partitions, partition_bounds, window_dates
from retail_pipeline.contracts import BRONZE_TRANSACTIONS, LANDED_FILES
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


@dg.asset(
    key=["bronze", "transactions"],
    ins={"manifest": dg.AssetIn(key=["bronze", "landed_files"])},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={PARTITION_COLUMN: "_partition_date"},
    group_name="bronze",
    kinds={"delta", "polars"},
)
def transactions(context: dg.AssetExecutionContext, manifest: pl.LazyFrame, landing: LandingZone) -> pl.LazyFrame:
    """Raw transaction records of each business date: every field as the string found in the file, with
    lineage (source file, record number, file sha256, format, ingestion time, run id). A partition holds
    exactly the rows of the active landing files that contain its date."""
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
    frame = conform(pl.concat(parts), BRONZE_TRANSACTIONS).collect() if parts else empty(BRONZE_TRANSACTIONS)
    context.add_output_metadata({"files_read": len(parts)})
    return frame.lazy()


@dg.asset(key=["bronze", "fx_rates"], group_name="bronze", kinds={"delta", "polars"})
def fx_rates(context: dg.AssetExecutionContext) -> pl.LazyFrame:
    """Euro foreign exchange reference rates of the ECB as published (EUR base, business days only), one
    row per date and currency, with the source that served them."""
    rates, sha256 = read_bundled_ecb_rates()
    context.add_output_metadata(
        {
            "source": rates["source"].first(),
            "payload_sha256": sha256,
            "first_fixing": str(rates["rate_date"].min()),
            "last_fixing": str(rates["rate_date"].max()),
        }
    )
    return rates.lazy().with_columns(
        pl.lit(datetime.now(timezone.utc)).alias("_fetched_at"), pl.lit(context.run_id).alias("_run_id")
    )


@dg.asset(key=["bronze", "countries"], group_name="bronze", kinds={"delta", "polars"})
def countries(context: dg.AssetExecutionContext) -> pl.LazyFrame:
    """ISO 3166-1 countries (alpha-2, alpha-3, names) with their UN region and continent, as the source
    gave them."""
    frame = read_bundled_countries()
    context.add_output_metadata({"source": frame["source_name"].first()})
    return frame.lazy().with_columns(
        pl.lit(datetime.now(timezone.utc)).alias("_fetched_at"), pl.lit(context.run_id).alias("_run_id")
    )
