"""The IO manager that stores every asset of the graph as a Delta table of the lakehouse.

An asset's table is its key joined by ``/`` (``silver/transactions``). A daily asset names its business-date
column in its metadata (``partition_column``); a run over one day or a range of days replaces exactly those
days and a downstream daily asset reads exactly its days, whatever the length of the range. An append-only
asset (metadata ``write_mode: append``: the fetch logs of reference data) returns only its new rows, which
are added to its table. Inputs arrive as ``pl.LazyFrame`` (collect once, in the transform). Every write
reports what a user asks of a table: rows, a preview, the schema, the Delta version.
"""


import dagster as dg
import polars as pl

from retail_pipeline.lakehouse import Lakehouse, Window
from retail_pipeline.partitions import window_dates
from retail_pipeline.preview import markdown_preview

PARTITION_COLUMN = "partition_column"
# An asset whose metadata sets WRITE_MODE to APPEND returns only its new rows; they are added to its table.
WRITE_MODE = "write_mode"
APPEND = "append"


def table_name(key: dg.AssetKey) -> str:
    return "/".join(key.path)


def table_metadata(frame: pl.DataFrame, uri: str, version: int) -> dict[str, object]:
    """Row count, schema, preview (customer data hidden) and Delta version of a table just written."""
    preview = markdown_preview(frame)
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in frame.schema.items()]
        ),
        "dagster/uri": dg.MetadataValue.path(uri),
        "delta_version": version,
        "preview": dg.MetadataValue.md(preview),
    }


class DeltaIOManager(dg.ConfigurableIOManager):
    """Reads and writes assets as Delta tables, range-aware for daily partitions."""

    lakehouse: Lakehouse

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | pl.LazyFrame | None) -> None:
        if obj is None:
            return
        frame = obj.collect() if isinstance(obj, pl.LazyFrame) else obj
        table = table_name(context.asset_key)
        date_column = (context.definition_metadata or {}).get(PARTITION_COLUMN)
        window = Window(*window_dates(context)) if context.has_asset_partitions else None
        if context.has_asset_partitions and date_column is None:
            raise dg.DagsterInvariantViolationError(
                f"daily asset {table} must name its business-date column in metadata[{PARTITION_COLUMN!r}]"
            )
        if (context.definition_metadata or {}).get(WRITE_MODE) == APPEND:
            result = self.lakehouse.append(table, frame)
            metadata = table_metadata(frame, result.uri, result.version)
            metadata["rows_appended"] = frame.height
            metadata["dagster/row_count"] = self.lakehouse.scan(table).select(pl.len()).collect().item()
            context.add_output_metadata(metadata)
            return
        result = self.lakehouse.write(table, frame, date_column=date_column, window=window)
        metadata = table_metadata(frame, result.uri, result.version)
        if window is not None:
            metadata["partition_window"] = f"{window.start} .. {window.end} (end exclusive)"
        context.add_output_metadata(metadata)

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        upstream = context.upstream_output
        table = table_name(context.asset_key)
        date_column = ((upstream.definition_metadata if upstream else None) or {}).get(PARTITION_COLUMN)
        if date_column is not None and context.has_asset_partitions:
            return self.lakehouse.scan(table, date_column, Window(*window_dates(context)))
        return self.lakehouse.scan(table)
