"""The IO manager that stores every asset of the graph as a Delta table of the lakehouse.

An asset's table is its key joined by ``/`` (``silver/transactions``), described in the table registry
(``core/tables.py``). A daily table is written and read by its business-date column: a run over one day or a
range of days replaces exactly those days, and a downstream daily asset reads exactly its days, whatever the
length of the range. An append-only table (the fetch logs of reference data) gets only the new rows its asset
returns. Inputs arrive as ``pl.LazyFrame`` (collect once, in the transform). Every write reports what a user
asks of a table: rows, a preview, the schema with each column's description, the Delta version.

After each write of a registry table, the build log records what it was built from (``adapters/build_state.py``):
the tables a step read are noted as it loads them, so the record names exactly its inputs. The records are
committed together when the IO manager is torn down: at the end of a run (in process) or of a step.

An asset that is not in the registry (one of your own) may name its business-date column in its metadata
(``partition_column``) and ask for appends (``write_mode: append``).
"""

from contextlib import ExitStack, contextmanager

import dagster as dg
import polars as pl

from retail_pipeline.adapters import build_state
from retail_pipeline.adapters.lakehouse import Lakehouse, StaleInputsError
from retail_pipeline.adapters.partition_metadata import add_partition_metadata
from retail_pipeline.adapters.writer_lock import DEFAULT_LEASE_SECONDS, LakehouseUnreachable, writer_lock
from retail_pipeline.core import tables
from retail_pipeline.core.dates import Window
from retail_pipeline.core.invariants import contract_failures, describe_failures
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


# (run id, step key) -> the registry tables the step loaded, with the Delta version each was read at: what
# its outputs were built from. Steps of one process come and go (a CLI makes several runs): the oldest
# entries are dropped past a bound.
_READ: dict[tuple[str, str], dict[str, int]] = {}
_READ_BOUND = 256


def _step_identity(context: dg.InputContext | dg.OutputContext) -> tuple[str, str] | None:
    try:
        step = context.step_context
    except Exception:  # a context built by hand (build_input_context): no step, nothing to record
        return None
    return step.run_id, step.step.key


def _note_read(context: dg.InputContext, lakehouse: Lakehouse, table: str) -> None:
    identity = _step_identity(context)
    if identity is None or tables.BY_PATH.get(table) is None:
        return
    if identity not in _READ and len(_READ) >= _READ_BOUND:
        del _READ[next(iter(_READ))]
    _READ.setdefault(identity, {})[table] = lakehouse.version(table)


def _inputs_unchanged(lakehouse: Lakehouse, identity: tuple[str, str] | None):
    """A check that the tables the step read are still at the versions it read (None: nothing recorded)."""
    read = dict(_READ.get(identity, {})) if identity else {}
    if not read:
        return None
    return lambda: all(lakehouse.version(table) == version for table, version in read.items())


def _record(lakehouse: Lakehouse, context: dg.OutputContext, table: str, window: Window | None, frame: pl.DataFrame) -> None:
    """What ``table`` was just built from, in the build log (registry tables only)."""
    _record_step(lakehouse, _step_identity(context), table, window, frame)


def _record_step(
    lakehouse: Lakehouse, identity: tuple[str, str] | None, table: str, window: Window | None, frame: pl.DataFrame
) -> None:
    entry = tables.BY_PATH.get(table)
    if entry is None or identity is None:
        return
    read = set(_READ.get(identity, {}))
    run_id = identity[0]
    if entry.date_column is not None:
        if window is None:
            return  # a daily table rewritten whole (by hand): no window to vouch for
        daily_inputs = sorted(name for name in read if tables.BY_PATH[name].date_column is not None)
        build_state.record_daily(lakehouse, table, window, daily_inputs, run_id, pending=entry.checked)
    elif table in tables.HISTORY_OUTPUTS:
        build_state.record_whole(lakehouse, table, sorted(read), run_id, pending=entry.checked)
    else:
        build_state.record_content(lakehouse, table, frame, run_id, pending=entry.checked)


def write_side_table(context: dg.AssetExecutionContext, lakehouse: Lakehouse, table: tables.Table, frame: pl.DataFrame, window: Window) -> None:
    """Write the days of ``window`` of ``table``, a daily table that is a by-product of the running asset's step
    (``bronze/erased_rows``, ``silver/partition_stats``), as the IO manager writes an output: checked against
    its contract first (a failure fails the step, naming the rules), recorded in the build log with the
    tables the step read. It is not a Dagster asset: a range run would store one more materialisation event
    per day for it (363 in a year-long run), and what a user looks at is on its owner's events."""
    failures = contract_failures(table.contract, frame)
    if failures.height:
        rules = failures.group_by("column", "check", maintain_order=True).len()
        named = "; ".join(f"{column or 'the row'}: {check} ({n})" for column, check, n in rules.iter_rows())
        raise dg.Failure(
            f"{table.path}: {failures.height} contract failures, nothing written: {named} "
            f"({describe_failures(failures, frame, table.date_column)})"
        )
    step = context.get_step_execution_context()
    if not isinstance(getattr(context.resources, "io_manager", None), DeltaIOManager):
        # A run that keeps its outputs in memory (``dg.materialize_to_memory``: asset logic tested without
        # the lakehouse) keeps its side tables there too, for ``read_side_table`` in its later steps.
        if len(_IN_MEMORY) >= _READ_BOUND:
            del _IN_MEMORY[next(iter(_IN_MEMORY))]
        _IN_MEMORY[(step.run_id, table.path)] = frame
        return
    identity = (step.run_id, step.step.key)
    try:
        lakehouse.write(
            table.path, frame, date_column=table.date_column, window=window,
            inputs_unchanged=_inputs_unchanged(lakehouse, identity),
        )
    except StaleInputsError as exc:
        _READ.pop(identity, None)
        context.log.warning(str(exc))
        raise dg.RetryRequested(max_retries=3, seconds_to_wait=1) from exc
    _record_step(lakehouse, identity, table.path, window, frame)


def read_side_table(context: dg.AssetExecutionContext, lakehouse: Lakehouse, table: tables.Table, window: Window) -> pl.LazyFrame:
    """The days of ``window`` of a side table its upstream step wrote (in memory in a run that keeps its
    outputs there)."""
    held = _IN_MEMORY.get((context.run_id, table.path))
    if held is not None:
        return held.lazy().filter(window.expr(table.date_column))
    return lakehouse.scan(table.path, table.date_column, window)


# (run id, side table) -> its frame, for runs whose IO manager keeps outputs in memory.
_IN_MEMORY: dict[tuple[str, str], pl.DataFrame] = {}


def _per_partition(
    context: dg.OutputContext, frame: pl.DataFrame, date_column: str, window: Window, metadata: dict[str, object]
) -> bool:
    """Each day's row count on its own event, the rest of ``metadata`` on the range's last day
    (``adapters/partition_metadata.py``); False when there is no step to attach them to (a context built by
    hand)."""
    try:
        step = context.step_context
    except Exception:
        return False
    counts = frame.group_by(date_column).agg(pl.len().alias("dagster/row_count"))
    last = {
        **metadata,
        "rows_written": frame.height,
        "partition_window": f"{window.start} .. {window.end} (end exclusive)",
    }
    del last["dagster/row_count"]
    add_partition_metadata(
        step.add_asset_metadata, context.asset_key, context.asset_partition_keys, counts, date_column,
        last=last, default={"dagster/row_count": 0},
    )
    return True


def _window(context: dg.OutputContext | dg.InputContext) -> Window:
    window = context.asset_partitions_time_window
    return Window(window.start.date(), window.end.date())


class DeltaIOManager(dg.ConfigurableIOManager):
    """Reads and writes assets as Delta tables, range-aware for daily partitions. While it is in use (a whole
    in-process run, or one step of a multiprocess run) it holds the lakehouse's writer lock
    (``adapters/writer_lock.py``), so two runners never write the same tables at once."""

    lakehouse: Lakehouse
    lock_lease_s: int = DEFAULT_LEASE_SECONDS

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext):
        what = f"Dagster run {context.run_id}" if context.run_id else "a Dagster run"
        say = context.log.info if context.log is not None else None
        with ExitStack() as held:
            try:
                held.enter_context(writer_lock(self.lakehouse, what, say=say, lease_seconds=self.lock_lease_s))
            except LakehouseUnreachable as exc:
                if self.lakehouse.remote:
                    raise  # a store that cannot be reached now must not be written without the lease
                # A local lakehouse path that cannot be written at all: the step's own write fails and says
                # why, on the step, where a user (and the failure alert) looks for it.
                if context.log is not None:
                    context.log.warning(f"{exc}; the steps will fail at their writes")
            try:
                yield self
            finally:
                build_state.flush(self.lakehouse)  # the records of this run's (or step's) writes, one commit

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
            # A fetch log: what reads it is a reference table, whose content is recorded when it is written.
            result = self.lakehouse.append(table, frame)
            metadata = table_metadata(frame, result.uri, result.version, descriptions)
            metadata["rows_appended"] = frame.height
            metadata["dagster/row_count"] = self.lakehouse.scan(table).select(pl.len()).collect().item()
            context.add_output_metadata(metadata)
            return
        identity = _step_identity(context)
        try:
            result = self.lakehouse.write(
                table, frame, date_column=date_column, window=window,
                inputs_unchanged=_inputs_unchanged(self.lakehouse, identity),
                # What a whole-history output was built from: its next refresh reads only what moved since.
                read=dict(_READ.get(identity, {})) if identity and table in tables.HISTORY_OUTPUTS else None,
            )
        except StaleInputsError as exc:
            # Another writer moved this step's inputs and its table: compute again from what is there now.
            _READ.pop(identity, None)
            context.log.warning(str(exc))
            raise dg.RetryRequested(max_retries=3, seconds_to_wait=1) from exc
        metadata = table_metadata(frame, result.uri, result.version, descriptions)
        _record(self.lakehouse, context, table, window, frame)
        if window is None or not _per_partition(context, frame, date_column, window, metadata):
            context.add_output_metadata(metadata)

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        upstream = context.upstream_output
        table = table_name(context.asset_key)
        date_column, _, _ = _layout(context.asset_key, upstream.definition_metadata if upstream else None)
        if date_column is not None and context.has_asset_partitions:
            frame = self.lakehouse.scan(table, date_column, _window(context))
        else:
            frame = self.lakehouse.scan(table)
        _note_read(context, self.lakehouse, table)  # after the scan: a missing table is its clear error
        return frame
