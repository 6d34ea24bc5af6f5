"""bronze/transactions and bronze/erased_rows: the raw records of each business date, and the count of those
left out for erasure."""

from datetime import datetime, timezone

import dagster as dg
import polars as pl

from retail_pipeline.adapters.erasure_register import registered
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.landing_zone import LandingZone
from retail_pipeline.core import tables
from retail_pipeline.core.contracts import conform, empty
from retail_pipeline.core.dates import Window
from retail_pipeline.core.erasure import drop_erased
from retail_pipeline.core.landing_files import LandingError, to_bronze
from retail_pipeline.core.manifest import active_files
from retail_pipeline.defs.bronze.erased_customers import erased_customers
from retail_pipeline.defs.checks import contract_check
from retail_pipeline.defs.partitions import partition_bounds, window_dates
from retail_pipeline.defs.policies import DAILY, DELTA, input_of, key_of


@dg.multi_asset(
    outs={
        "transactions": dg.AssetOut(
            key=key_of(tables.BRONZE_TRANSACTIONS),
            description="Raw transaction records of each business date: every field as the string found in "
            "the file, with lineage (source file, record number, file sha256, format, ingestion time, run id). "
            "A partition holds exactly the records of the active landing files that contain its date, less "
            "those of the customers in the erasure register.",
            kinds=DELTA,
        ),
        "erased_rows": dg.AssetOut(
            key=key_of(tables.ERASED_ROWS),
            description="Per business date and landing-file version, the records left out of bronze because "
            "their customer is in the erasure register (counts only, no customer id): with bronze's rows they "
            "account for every record of the active files.",
            kinds=DELTA,
        ),
    },
    ins={"manifest": input_of(tables.MANIFEST)},
    deps=[erased_customers],
    group_name="bronze",
    **DAILY,
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
    landed = conform(pl.concat(parts), tables.BRONZE_TRANSACTIONS.schema) if parts else empty(tables.BRONZE_TRANSACTIONS.schema).lazy()
    kept, erased = drop_erased(landed, registered(lakehouse), context.run_id)
    frame, erased = pl.collect_all([kept, erased])
    rows_erased = int(erased["rows_erased"].sum())
    if rows_erased:
        context.log.info(f"{rows_erased} record(s) of customers in the erasure register were not landed")
    yield dg.Output(frame.lazy(), "transactions", metadata={"files_read": len(parts), "rows_erased": rows_erased})
    yield dg.Output(erased.lazy(), "erased_rows", metadata={"rows_erased": rows_erased})


matches_contract = contract_check(tables.BRONZE_TRANSACTIONS)
