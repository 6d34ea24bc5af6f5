"""The IO manager that stores every asset of the graph as a Delta table of the lakehouse.

An asset's table is its key joined by ``/`` (``silver/transactions``), described in the table registry
(``core/tables.py``). A daily table is written and read by its business-date column: a run over one day or a
range of days replaces exactly those days, and a downstream daily asset reads exactly its days, whatever the
length of the range. An append-only table (the fetch logs of reference data) gets only the new rows its asset
returns. Inputs arrive as ``pl.LazyFrame`` (collect once, in the transform). Every write reports what a user
asks of a table: rows, a preview, the schema with each column's description, the Delta version.

An asset that is not in the registry (one of your own) may name its business-date column in its metadata
(``partition_column``) and ask for appends (``write_mode: append``).
"""

import dagster as dg
import polars as pl

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.core import tables
from retail_pipeline.core.dates import Window
from retail_pipeline.core.preview import markdown_preview

PARTITION_COLUMN = "partition_column"
WRITE_MODE = "write_mode"
APPEND = "append"


def table_name(key: dg.AssetKey) -> str:
    return "/".join(key.path)


def column_schema(schema: pl.Schema, descriptions: dict[str, str]) -> dg.TableSchema:
    """A table's columns for Dagster's UI: name, polars type and the contract's description."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=name, type=str(dtype), description=descriptions.get(name))
            for name, dtype in schema.items()
        ]
    )


def table_metadata(frame: pl.DataFrame, uri: str, version: int, descriptions: dict[str, str]) -> dict[str, object]:
    """Row count, schema, preview (customer data hidden) and Delta version of a table just written."""
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": column_schema(frame.schema, descriptions),
        "dagster/uri": dg.MetadataValue.path(uri),
        "delta_version": version,
        "preview": dg.MetadataValue.md(markdown_preview(frame)),
    }


def _layout(key: dg.AssetKey, metadata: dict | None) -> tuple[str | None, bool, dict[str, str]]:
    """(business-date column, append-only, column descriptions) of an asset's table."""
    table = tables.by_key(key.path)
    if table is not None:
        return table.date_column, table.append_only, table.descriptions()
    metadata = metadata or {}
    return metadata.get(PARTITION_COLUMN), metadata.get(WRITE_MODE) == APPEND, {}


def _window(context: dg.OutputContext | dg.InputContext) -> Window:
    window = context.asset_partitions_time_window
    return Window(window.start.date(), window.end.date())


class DeltaIOManager(dg.ConfigurableIOManager):
    """Reads and writes assets as Delta tables, range-aware for daily partitions."""

    lakehouse: Lakehouse

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | pl.LazyFrame | None) -> None:
        if obj is None:
            return
        frame = obj.collect() if isinstance(obj, pl.LazyFrame) else obj
        table = table_name(context.asset_key)
        date_column, append_only, descriptions = _layout(context.asset_key, context.definition_metadata)
        window = _window(context) if context.has_asset_partitions else None
        if context.has_asset_partitions and date_column is None:
            raise dg.DagsterInvariantViolationError(
                f"daily asset {table} must name its business-date column in metadata[{PARTITION_COLUMN!r}]"
            )
        if append_only:
            result = self.lakehouse.append(table, frame)
            metadata = table_metadata(frame, result.uri, result.version, descriptions)
            metadata["rows_appended"] = frame.height
            metadata["dagster/row_count"] = self.lakehouse.scan(table).select(pl.len()).collect().item()
            context.add_output_metadata(metadata)
            return
        result = self.lakehouse.write(table, frame, date_column=date_column, window=window)
        metadata = table_metadata(frame, result.uri, result.version, descriptions)
        if window is not None:
            metadata["partition_window"] = f"{window.start} .. {window.end} (end exclusive)"
        context.add_output_metadata(metadata)

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        upstream = context.upstream_output
        table = table_name(context.asset_key)
        date_column, _, _ = _layout(context.asset_key, upstream.definition_metadata if upstream else None)
        if date_column is not None and context.has_asset_partitions:
            return self.lakehouse.scan(table, date_column, _window(context))
        return self.lakehouse.scan(table)
