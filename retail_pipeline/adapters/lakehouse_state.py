"""What the lakehouse holds, read for planning: the manifest, the file versions bronze holds per business date,
and the build state. The planner (``core/planning.py``) decides from these (``current_plan``).
"""

from datetime import date, datetime, timezone

import polars as pl

from retail_pipeline.adapters.build_state import read_state
from retail_pipeline.adapters.erasure_register import registered
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core import tables
from retail_pipeline.core.contracts import LANDED_FILES, empty
from retail_pipeline.core.erasure import is_erased
from retail_pipeline.core.manifest import upgrade_manifest
from retail_pipeline.core.planning import Plan, plan


def bronze_files(lakehouse: Lakehouse) -> pl.DataFrame:
    """(file, sha256, business date, rows) of what bronze holds, with ``erased_customer_rows``: the rows of
    customers in the erasure register that bronze still holds (it must hold none). A file version whose
    records of a date were all left out for erasure (``bronze/erased_rows``) counts as held, with 0 rows."""
    keys = {"_source_file": pl.String, "_file_sha256": pl.String, "_partition_date": pl.Date}
    counts = {"rows": pl.Int64, "erased_customer_rows": pl.Int64}
    parts = [pl.LazyFrame(schema={**keys, **counts})]
    if lakehouse.exists(tables.BRONZE_TRANSACTIONS.path):
        ids = registered(lakehouse)
        # Without a register, the customer columns are not read at all.
        erased = is_erased(ids).sum() if ids.len() else pl.lit(0)
        parts.append(
            lakehouse.scan(tables.BRONZE_TRANSACTIONS.path)
            .group_by(*keys)
            .agg(pl.len().cast(pl.Int64).alias("rows"), erased.cast(pl.Int64).alias("erased_customer_rows"))
        )
    if lakehouse.exists(tables.ERASED_ROWS.path):
        parts.append(
            lakehouse.scan(tables.ERASED_ROWS.path)
            .select(*keys)
            .unique()
            .with_columns(pl.lit(0, pl.Int64).alias("rows"), pl.lit(0, pl.Int64).alias("erased_customer_rows"))
        )
    return pl.concat(parts).group_by(*keys).agg(pl.col(*counts).sum()).collect()


def read_manifest(lakehouse: Lakehouse) -> pl.DataFrame:
    """The manifest as the last landing wrote it, in today's schema (empty before the first landing)."""
    if not lakehouse.exists(tables.MANIFEST.path):
        return empty(LANDED_FILES)
    return upgrade_manifest(lakehouse.read(tables.MANIFEST.path))


def manifest_written_at(lakehouse: Lakehouse) -> datetime | None:
    """When the landing last wrote the manifest (its Delta commit's time); None before the first landing."""
    if not lakehouse.exists(tables.MANIFEST.path):
        return None
    (last,) = lakehouse.table(tables.MANIFEST.path).history(1)
    return datetime.fromtimestamp(last["timestamp"] / 1000, tz=timezone.utc)


def current_plan(
    lakehouse: Lakehouse, start: date, end: date, full: bool = False, also: list[date] | tuple = (),
    outputs: tuple[str, ...] = tables.HISTORY_OUTPUTS,
) -> Plan:
    """What must run now for ``lakehouse`` to be up to date (the one planner, on the lakehouse as it stands);
    ``outputs``: the deployment's whole-history outputs (``tables.history_outputs``)."""
    return plan(
        read_manifest(lakehouse),
        bronze_files(lakehouse),
        read_state(lakehouse),
        start,
        end,
        [table.path for table in tables.DAILY_TABLES],
        list(outputs),
        full=full,
        also=also,
    )
