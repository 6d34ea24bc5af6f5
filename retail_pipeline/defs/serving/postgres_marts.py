"""serving/postgres_marts: the gold marts published into a Postgres schema, for BI tools (only where
``RETAIL_POSTGRES_URL`` or ``RETAIL_POSTGRES_HOST`` is set)."""

import inspect
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from retail_pipeline.adapters.build_state import record_whole
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.postgres_marts import PostgresMarts, PublishError
from retail_pipeline.core import tables
from retail_pipeline.core.tables import WAREHOUSE_TABLES


def descriptions() -> dict[str, tuple[str, dict[str, str]]]:
    """SQL name -> (the table's description, its columns' descriptions), from the contracts."""
    return {
        table.sql_name: ((inspect.getdoc(table.contract) or "").split("\n\n")[0].replace("\n", " "), table.descriptions())
        for table in WAREHOUSE_TABLES
    }


@dg.asset(
    key=tables.POSTGRES_MARTS.split("/"),
    deps=[dg.AssetKey(tables.WAREHOUSE.split("/"))],
    group_name="serving",
    kinds={"postgres"},
)
def postgres_marts(
    context: dg.AssetExecutionContext, postgres: PostgresMarts, duckdb: DuckDBResource, lakehouse: Lakehouse
) -> dg.MaterializeResult:
    """The gold marts in Postgres (``RETAIL_POSTGRES_SCHEMA``, default ``retail_gold``): every table of the DuckDB
    warehouse with the contracts' descriptions as comments, and ``_publication`` saying when. Loaded into a
    staging schema and swapped in with one transaction: a query sees the old version or the new one, whole."""
    try:
        published = postgres.publish(Path(duckdb.database), descriptions(), context.log)
    except PublishError as exc:
        raise dg.Failure(description=str(exc)) from None
    record_whole(lakehouse, tables.POSTGRES_MARTS, [tables.WAREHOUSE], context.run_id)
    return dg.MaterializeResult(
        metadata={
            "server": postgres.where(),
            "schema": published.schema,
            "tables": len(published.rows),
            "seconds": published.seconds,
            "swap_wait_s": published.swap_wait_s,
            "published_at": published.published_at.isoformat(),
            **{f"rows_{name}": n for name, n in published.rows.items()},
        }
    )
