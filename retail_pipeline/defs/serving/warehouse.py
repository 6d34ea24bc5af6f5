"""gold/warehouse: the DuckDB warehouse file with every gold table."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from retail_pipeline.adapters.build_state import record_whole
from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.warehouse import rebuild_warehouse
from retail_pipeline.core import tables
from retail_pipeline.core.tables import WAREHOUSE_TABLES
from retail_pipeline.defs.policies import key_of


@dg.asset(
    key=["gold", "warehouse"],
    deps=[key_of(table) for table in WAREHOUSE_TABLES],
    group_name="serving",
    kinds={"duckdb"},
)
def warehouse(context: dg.AssetExecutionContext, lakehouse: Lakehouse, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """The DuckDB warehouse file (``data/warehouse.duckdb`` by default, ``RETAIL_WAREHOUSE_PATH``): every
    gold table under its own name (fact_sales, dim_*, monthly_kpis ...), for any SQL client or BI tool.
    Rebuilt whole into a new file that then replaces the old one: a reader never sees half a warehouse."""
    path = Path(duckdb.database)

    def connect(staging: Path):
        return DuckDBResource(database=str(staging), connection_config=duckdb.connection_config).get_connection()

    built = rebuild_warehouse(lakehouse, path, connect)
    record_whole(lakehouse, tables.WAREHOUSE, [table.path for table in WAREHOUSE_TABLES], context.run_id)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path.resolve())),
            "size_mib": round(built.size_bytes / 2**20, 1),
            "tables": len(built.rows),
            **{f"rows_{name}": n for name, n in built.rows.items()},
        }
    )
