"""A faster local event log for Dagster: the consolidated SQLite store with one pooled engine per process
and ``synchronous=NORMAL`` on its WAL journal.

Why: a range run records one materialisation event per partition per asset (a year of daily partitions
is ~2,200 events), and the stock ``ConsolidatedSqliteEventLogStorage`` builds a new engine and connection for
every event and fsyncs every commit. Here one engine per process keeps a small pool of connections
(SQLAlchemy's ``QueuePool``, its default for SQLite files: a connection serves one thread at a time), and in
WAL mode ``synchronous=NORMAL`` syncs at checkpoints instead of at each commit: a power cut can lose the last
events, never corrupt the database (SQLite's documented guarantee), and the run's own data is in Delta.
Configured in ``dagster.yaml``; a team deployment uses Postgres instead (issue 7).
"""

from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS


def _tune(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class FastSqliteEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """``ConsolidatedSqliteEventLogStorage`` with a pooled engine and ``synchronous=NORMAL`` (see module)."""

    _engine = None

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

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        super().dispose()
