"""bronze/landed_files: the manifest of the landing zone, and its checks."""

from datetime import datetime, timezone

import dagster as dg
import polars as pl

from retail_pipeline.adapters.build_state import read_state
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.lakehouse_state import manifest_written_at, read_manifest
from retail_pipeline.adapters.landing_zone import LandingZone, land
from retail_pipeline.adapters.staging import StagedRecords
from retail_pipeline.core import tables
from retail_pipeline.core.build_state import changed_sources
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.partitions import partition_bounds
from retail_pipeline.defs.policies import DELTA, key_of


@dg.asset(key=key_of(tables.MANIFEST), group_name="bronze", kinds=DELTA)
def landed_files(context: dg.AssetExecutionContext, landing: LandingZone, lakehouse: Lakehouse) -> pl.LazyFrame:
    """The manifest of the landing zone: one row per file ever landed, with its size, mtime, sha256, format,
    business dates, and status (active, duplicate, missing, rejected with a reason)."""
    start, end = partition_bounds()
    # Files bronze found changed since they were landed, and no landing has read again since.
    changed = changed_sources(read_state(lakehouse), since=manifest_written_at(lakehouse))
    # Each new or changed file is parsed once here and its records staged for bronze (adapters/staging.py).
    staged = StagedRecords(lakehouse.root)
    manifest = land(
        landing, read_manifest(lakehouse), start, end, now=datetime.now(timezone.utc), changed=changed, staged=staged
    )
    staged.prune(set(manifest.filter(pl.col("status") == "active")["sha256"].drop_nulls()))

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


matches_contract = contract_check(tables.MANIFEST)


@dg.asset_check(asset=key_of(tables.MANIFEST))
def no_schema_drift(lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Active landing files have exactly the columns of a known Online Retail header; a file with more is
    still landed (the extras are kept in bronze's ``_extra``) and named here as a warning."""
    drifted = (
        lakehouse.scan(tables.MANIFEST.path)
        .filter((pl.col("status") == "active") & (pl.col("extra_columns").list.len() > 0))
        .select("path", pl.col("extra_columns").list.join(", "))
        .sort("path")
        .collect()
    )
    return dg.AssetCheckResult(
        passed=drifted.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(f"{p}: extra columns {c}" for p, c in drifted.head(10).iter_rows()) or None,
        metadata={"files_with_extra_columns": drifted.height},
    )
