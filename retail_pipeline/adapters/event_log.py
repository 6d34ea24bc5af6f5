"""A faster local event log for Dagster: the consolidated SQLite store with one pooled engine per process
and ``synchronous=NORMAL`` on its WAL journal.

Why: a range run records one materialisation event per partition per asset (a year of daily partitions
is ~2,200 events), and the stock ``ConsolidatedSqliteEventLogStorage`` builds a new engine and connection for
every event and fsyncs every commit. Here one engine per process keeps a small pool of connections
(SQLAlchemy's ``QueuePool``, its default for SQLite files: a connection serves one thread at a time), and in
WAL mode ``synchronous=NORMAL`` syncs at checkpoints instead of at each commit: a power cut can lose the last
events, never corrupt the database (SQLite's documented guarantee), and the run's own data is in Delta.
Two more costs of the stock store that grow with a range run's partitions: ``has_table`` (asked before
storing each materialisation's tags) built a fresh engine and connection per call, 3.5 s of a 305-day run
under cProfile; here a table once found is remembered (tables are never dropped while a process runs). And a
planned check of a partitioned asset is stored as one row per partition, each with the same event serialised
again (24 checks x 340 days: 8,160 serialisations); here it is serialised once per check.

Batches: with ``DAGSTER_EVENT_BATCH_SIZE`` set (the CLI sets it for its runs), Dagster hands a range output's
materialisations to ``store_event_batch`` in batches; the stock SQLite store then stores them one by one
(three transactions each), while Dagster's Postgres store writes a batch in one statement. Here a batch of
materialisations (or observations) is written as the Postgres store writes it, in one transaction: one
multi-row insert, the tags of all, and the asset's row from the last event of each asset.
Configured in ``dagster.yaml``; a team deployment uses Postgres instead (issue 7).
"""

from contextlib import contextmanager
from datetime import datetime, timezone

import sqlalchemy as db
from dagster._core.events import DagsterEventType
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import serialize_value

# SQLite binds at most 32,766 values per statement: a check planned over every day since 2010 (8 values a
# row) would pass that in one.
PLANNED_ROWS_PER_STATEMENT = 1000


def _tune(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class FastSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """``ConsolidatedSqliteEventLogStorage`` with a pooled engine and ``synchronous=NORMAL`` (see module)."""

    _engine = None
    _tables: frozenset[str] = frozenset()

    def _pooled_engine(self):
        if self._engine is None:
            # Not SingletonThreadPool (a connection per thread): past pool_size threads it closes connections
            # other threads are using, and the webserver answers from a pool of dozens of threads.
            engine = db.create_engine(
                self._conn_string,
                pool_size=4,
                max_overflow=12,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
            )
            db.event.listen(engine, "connect", _tune)
            self._engine = engine
        return self._engine

    @contextmanager
    def _connect(self):
        with self._pooled_engine().connect() as conn:
            with conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        if table_name in self._tables:
            return True
        with self._pooled_engine().connect() as conn:
            found = bool(conn.dialect.has_table(conn, table_name))
        if found:
            self._tables = self._tables | {table_name}
        return found

    def _store_asset_check_evaluation_planned(self, event, event_id) -> None:
        planned = event.dagster_event.event_specific_data
        partitions = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        common = dict(
            asset_key=planned.asset_key.to_string(),
            check_name=planned.check_name,
            run_id=event.run_id,
            execution_status=AssetCheckExecutionRecordStatus.PLANNED.value,
            evaluation_event=serialize_value(event),
            evaluation_event_timestamp=datetime.fromtimestamp(event.timestamp, timezone.utc).replace(tzinfo=None),
            evaluation_event_storage_id=event_id,
        )
        rows = [{**common, "partition": p} for p in partitions]
        with self.index_connection() as conn:
            for start in range(0, len(rows), PLANNED_ROWS_PER_STATEMENT):
                conn.execute(AssetCheckExecutionsTable.insert().values(rows[start : start + PLANNED_ROWS_PER_STATEMENT]))

    def store_event_batch(self, events) -> None:
        kinds = {event.get_dagster_event().event_type for event in events if event.is_dagster_event}
        if len(events) < 2 or not all(e.is_dagster_event and e.get_dagster_event().asset_key for e in events) or kinds not in (
            {DagsterEventType.ASSET_MATERIALIZATION},
            {DagsterEventType.ASSET_OBSERVATION},
        ):
            super().store_event_batch(events)
            return
        with self._connect() as conn:
            returned = conn.execute(self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id))
            # One statement of one writer: ids increase in the order of the rows (RETURNING's own order is
            # not promised by SQLite).
            ids = sorted(int(row[0]) for row in returned.fetchall())
            self._store_asset_event_tags(conn, events, ids)
            last = {event.get_dagster_event().asset_key: (event, event_id) for event, event_id in zip(events, ids)}
            for event, event_id in last.values():
                self._store_asset_event(conn, event, event_id)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        super().dispose()
