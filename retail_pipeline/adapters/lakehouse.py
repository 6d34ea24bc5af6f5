"""Delta tables of the lakehouse: where they live and how a day range of one is read or replaced.

Tables live at ``<root>/<layer>/<table>``. Daily tables are overwritten by predicate on their business-date
column, ``[start, end)``, so a range run replaces exactly its days and nothing else (the official polars
Delta IO manager reads only the first day of a range and rejects range writes: see DESIGN.md). Daily tables
are physically partitioned by month (``_month``): ~300 date directories would cost seconds and memory per
write, while a month bounds the files a one-day overwrite has to rewrite.
"""

import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Optional

import dagster as dg
import polars as pl
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from retail_pipeline.core.dates import Window
from retail_pipeline.settings import DEFAULT_LAKEHOUSE, Settings

MONTH_COLUMN = "_month"


# The version of the tables' schemas this code writes, recorded in every commit. A new minor version only
# adds columns (existing daily tables evolve in place); a new major version changes existing ones, and a
# daily table written by another major version is refused with instructions to rebuild it. A minor version
# also marks a change of how values are computed (1.4: money summed to ten places): a lakehouse of another
# one is rebuilt whole once, and month-grain marts never mix rows of two versions (adapters/history_refresh.py).
SCHEMA_VERSION = "1.4"

VERSION_KEY = "retail_pipeline.schema_version"
# The versions of the tables a whole-history output was built from (JSON: table -> version), in its commit:
# what a refresh compares to find the months of its inputs that changed since (``changed_months``).
READ_KEY = "retail_pipeline.read"

# Two runs can write one table at once (two backfills, a UI run beside `retail-pipeline run`; the writer lock
# of adapters/writer_lock.py serialises the pipeline's own runners, not every writer). Delta lets only one of
# them commit a given version: the other gets CommitFailedError (measured: two runs rebuilding the same day,
# or two days held by the same month's files) and has committed nothing. Every write here replaces a window
# or a whole table (or appends rows that were not committed), so doing it again against the newer snapshot is
# correct, provided what the frame was computed from has not moved meanwhile: a write given
# ``inputs_unchanged`` checks that first and raises ``StaleInputsError`` instead (the step recomputes), else
# retries a few times with a jittered backoff, then fails with a clear error.
COMMIT_ATTEMPTS = 8

COMMIT_BACKOFF_SECONDS = 0.1  # doubled per attempt, times a random factor in [0.5, 1.5), capped at 3 s


class IncompatibleTableError(RuntimeError):
    """A daily table was written by a schema version this code cannot update in place."""


class MissingTableError(RuntimeError):
    """A table was read before anything wrote it."""


class StaleInputsError(RuntimeError):
    """A commit conflict, and the tables the frame was computed from moved since: committing it again would
    write stale work."""


class ConcurrentWriteError(RuntimeError):
    """A write lost the commit to concurrent writers of the same table ``COMMIT_ATTEMPTS`` times in a row."""


@dataclass(frozen=True)
class WriteResult:
    uri: str
    version: int
    rows: int


# Object-store settings: the lakehouse field -> the standard variable it is read from (``from_settings``).
# The credentials are kept as ``dg.EnvVar``: Dagster shows and stores the variable's name, never its value.
STORAGE_ENV = {
    "endpoint_url": "AWS_ENDPOINT_URL",
    "region": "AWS_REGION",
    "allow_http": "AWS_ALLOW_HTTP",
    "access_key_id": "AWS_ACCESS_KEY_ID",
    "secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "session_token": "AWS_SESSION_TOKEN",
}

SECRET_FIELDS = ("access_key_id", "secret_access_key", "session_token")


class Lakehouse(dg.ConfigurableResource):
    """The root of the Delta tables: a local path (default ``data/lakehouse``) or an object-store URI such as
    ``s3://bucket/prefix`` (S3 or an S3-compatible store like MinIO, reached at ``endpoint_url``)."""

    root: str = DEFAULT_LAKEHOUSE
    endpoint_url: Optional[str] = None
    region: Optional[str] = None
    allow_http: Optional[str] = None  # "true" for an endpoint without TLS (MinIO in docker-compose)
    access_key_id: Optional[str] = None
    secret_access_key: Optional[str] = None
    session_token: Optional[str] = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Lakehouse":
        """The lakehouse of ``settings``: its root, and for an object-store root the ``AWS_*`` variables that
        are set, the credentials as ``dg.EnvVar`` (Dagster shows and stores the variable's name only)."""
        fields: dict = {}
        for name, variable in STORAGE_ENV.items():
            if name in SECRET_FIELDS and variable in settings.storage_secrets:
                fields[name] = dg.EnvVar(variable)
            elif variable in settings.storage:
                fields[name] = settings.storage[variable]
        return cls(root=settings.lakehouse_uri, **fields)

    @property
    def remote(self) -> bool:
        return "://" in self.root

    def storage_options(self) -> Optional[dict[str, str]]:
        """What deltalake and polars need to reach an object-store root (None for a local one). Secret: never
        log or return it in metadata."""
        if not self.remote:
            return None
        options = {}
        for name, variable in STORAGE_ENV.items():
            value = getattr(self, name)
            # Outside a Dagster run (the CLI), an EnvVar field is still the variable's name: read it now.
            value = value.get_value() if isinstance(value, dg.EnvVar) else value
            if value:
                options[variable] = value
        return options

    def uri(self, table: str) -> str:
        if self.remote:
            return f"{self.root.rstrip('/')}/{table}"
        return str(Path(self.root).resolve() / table)

    def table(self, table: str) -> DeltaTable:
        """The Delta table ``table`` (``layer/name``) at its latest version."""
        return DeltaTable(self.uri(table), storage_options=self.storage_options())

    def exists(self, table: str) -> bool:
        return DeltaTable.is_deltatable(self.uri(table), storage_options=self.storage_options())

    def version(self, table: str) -> int:
        return self.table(table).version()

    def size(self, table: str, delta: DeltaTable | None = None) -> tuple[int, int]:
        """(rows, stored bytes) of ``table`` (at ``delta``'s version, default the latest), from its Delta log;
        files written without row statistics are counted from their Parquet footers."""
        delta = delta if delta is not None else self.table(table)
        actions = pl.DataFrame(delta.get_add_actions(flatten=True))
        if actions.is_empty():
            return 0, 0
        stored = int(actions["size_bytes"].sum())
        if "num_records" in actions.columns and actions["num_records"].null_count() == 0:
            return int(actions["num_records"].sum()), stored
        counted = pl.scan_delta(delta, storage_options=self.storage_options()).select(pl.len()).collect().item()
        return int(counted), stored

    def scan(self, table: str, date_column: str | None = None, window: Window | None = None) -> pl.LazyFrame:
        """A lazy scan of ``table``, restricted to ``window`` of ``date_column`` when given."""
        uri = self.uri(table)
        if not self.exists(table):
            raise MissingTableError(
                f"Delta table {table!r} does not exist yet (looked at {uri}): materialise it first."
            )
        frame = pl.scan_delta(uri, storage_options=self.storage_options())
        if MONTH_COLUMN in frame.collect_schema().names():
            if window is not None:
                # Filtering the partition column too lets the scan skip whole months.
                frame = frame.filter(
                    (pl.col(MONTH_COLUMN) >= _month(window.start)) & (pl.col(MONTH_COLUMN) <= _month(window.end))
                )
            frame = frame.drop(MONTH_COLUMN)
        if window is not None and date_column is not None:
            frame = frame.filter(window.expr(date_column))
        return frame

    def read(self, table: str, date_column: str | None = None, window: Window | None = None) -> pl.DataFrame:
        return self.scan(table, date_column, window).collect()

    def write(
        self,
        table: str,
        frame: pl.DataFrame,
        date_column: str | None = None,
        window: Window | None = None,
        inputs_unchanged=None,
        read: dict[str, int] | None = None,
    ) -> WriteResult:
        """Replace the whole table, or only the days of ``window`` when it is a daily table. On a commit
        conflict, ``inputs_unchanged()`` (when given) decides between a retry and ``StaleInputsError``.
        ``read``: the versions of the tables it was built from, recorded in the commit."""
        uri = self.uri(table)
        custom = {VERSION_KEY: SCHEMA_VERSION, **({READ_KEY: json.dumps(read, sort_keys=True)} if read else {})}
        stamp = CommitProperties(custom_metadata=custom)
        options = self.storage_options()
        if date_column is None:
            self._create(table, frame, partition_by=None, stamp=stamp)
            # Whole-table rewrites rebuild the table, so any older schema is simply replaced.
            _retry_commit(
                table,
                lambda: write_deltalake(
                    uri,
                    frame.to_arrow(),
                    mode="overwrite",
                    schema_mode="overwrite",
                    commit_properties=stamp,
                    storage_options=options,
                ),
                inputs_unchanged=inputs_unchanged,
            )
            return WriteResult(uri, self.version(table), frame.height)

        if window is not None:
            outside = frame.filter(~window.expr(date_column).fill_null(False)).height
            if outside:
                raise ValueError(
                    f"{outside} rows of {table!r} have {date_column} empty or outside the partitions being written "
                    f"[{window.start}, {window.end}); refusing to write them"
                )
        frame = frame.with_columns(pl.col(date_column).dt.truncate("1mo").alias(MONTH_COLUMN))
        self._create(table, frame, partition_by=[MONTH_COLUMN], stamp=stamp)

        def attempt() -> None:
            if window is None:
                # A deliberate full rewrite of a daily table.
                write_deltalake(
                    uri,
                    frame.to_arrow(),
                    mode="overwrite",
                    partition_by=[MONTH_COLUMN],
                    commit_properties=stamp,
                    storage_options=options,
                )
            else:
                self._check_version(table, uri)
                # "merge" lets a release that adds columns evolve an existing table in place (old rows read
                # the new columns as null); a changed type still fails, with deltalake's message.
                write_deltalake(
                    uri,
                    frame.to_arrow(),
                    mode="overwrite",
                    predicate=window.predicate(date_column),
                    partition_by=[MONTH_COLUMN],
                    schema_mode="merge",
                    commit_properties=stamp,
                    storage_options=options,
                )

        _retry_commit(table, attempt, inputs_unchanged=inputs_unchanged)
        return WriteResult(uri, self.version(table), frame.height)

    def _create(self, table: str, frame: pl.DataFrame, partition_by: list[str] | None, stamp: CommitProperties) -> None:
        """Create ``table`` empty, with ``frame``'s schema, if it does not exist. Two writers that both create
        a table with rows both succeed, the second one's rows appended (deltalake 1.6: 200,000 rows from two
        100,000-row creates, 4 times out of 4), so a write never creates a table with its rows: it creates
        it empty, then replaces its window or its content, which concurrent writers conflict on (and retry)."""
        if self.exists(table):
            return
        write_deltalake(
            self.uri(table),
            frame.head(0).to_arrow(),
            mode="overwrite",
            partition_by=partition_by,
            commit_properties=stamp,
            storage_options=self.storage_options(),
        )

    def append(self, table: str, frame: pl.DataFrame) -> WriteResult:
        """Add rows to an append-only table (a fetch log); creates it, with its schema, if it is missing.
        Appending no rows makes no commit, so a re-run that found nothing new leaves the table as it was."""
        uri = self.uri(table)
        stamp = CommitProperties(custom_metadata={VERSION_KEY: SCHEMA_VERSION})
        options = self.storage_options()

        def attempt() -> None:
            if not self.exists(table):
                write_deltalake(uri, frame.to_arrow(), mode="overwrite", commit_properties=stamp, storage_options=options)
            elif frame.height:
                write_deltalake(
                    uri,
                    frame.to_arrow(),
                    mode="append",
                    schema_mode="merge",
                    commit_properties=stamp,
                    storage_options=options,
                )

        _retry_commit(table, attempt)
        return WriteResult(uri, self.version(table), frame.height)

    def built_from(self, table: str) -> dict[str, int]:
        """The versions of the tables the last write of ``table`` was built from (empty: not recorded)."""
        for commit in self.table(table).history(50):
            if str(commit.get("operation", "")).startswith(("OPTIMIZE", "VACUUM")):
                continue
            return json.loads(commit[READ_KEY]) if READ_KEY in commit else {}
        return {}

    def month_files(self, table: str, version: int | None = None) -> dict[date | None, frozenset[str]]:
        """The data files of each month of a daily table (at ``version``, default the latest); a table not
        partitioned by month has them all under None."""
        dt = self.table(table)
        if version is not None:
            dt.load_as_version(version)
        actions = pl.DataFrame(dt.get_add_actions(flatten=True))
        if actions.is_empty():
            return {}
        column = f"partition.{MONTH_COLUMN}"
        month = pl.col(column).cast(pl.Date) if column in actions.columns else pl.lit(None, pl.Date)
        grouped = actions.group_by(month.alias("month")).agg(pl.col("path"))
        return {month: frozenset(paths) for month, paths in grouped.iter_rows()}

    def changed_months(self, table: str, since: int) -> set[date] | None:
        """The months of a daily table whose files differ between version ``since`` and now (a month gone
        or new included); None when ``since`` cannot be read any more (vacuumed, or its log purged)."""
        try:
            before = self.month_files(table, since)
        except Exception:  # deltalake raises its own errors for a version it no longer has
            return None
        now = self.month_files(table)
        return {month for month in before.keys() | now.keys() if before.get(month) != now.get(month)}

    def schema_version(self, table: str) -> str | None:
        """The schema version recorded by the last write of ``table``: None if that write recorded none (a
        release before versions were recorded, or another writer). Maintenance commits are not writes."""
        for commit in self.table(table).history(50):
            if str(commit.get("operation", "")).startswith(("OPTIMIZE", "VACUUM")):
                continue
            return str(commit[VERSION_KEY]) if VERSION_KEY in commit else None
        return None

    def _check_version(self, table: str, uri: str) -> None:
        recorded = self.schema_version(table)
        if recorded is not None and recorded.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
            raise IncompatibleTableError(
                f"{table} was written with schema version {recorded} and this release writes {SCHEMA_VERSION}, "
                f"which changes existing columns: it cannot be updated in place. Rebuild it: delete {uri} and "
                "the tables below it in the lakehouse, then run `retail-pipeline run` again (the landing zone "
                "holds everything needed)."
            )


def _month(day: date) -> date:
    return day.replace(day=1)


def _retry_commit(table: str, attempt, attempts: int | None = None, inputs_unchanged=None) -> None:
    """Run ``attempt`` (one whole write of ``table``) until it commits; see ``COMMIT_ATTEMPTS``."""
    attempts = attempts or COMMIT_ATTEMPTS
    for number in range(1, attempts + 1):
        try:
            attempt()
            return
        except CommitFailedError as exc:
            if inputs_unchanged is not None and not inputs_unchanged():
                raise StaleInputsError(
                    f"{table}: another writer committed first, and the tables this write was computed from "
                    "have changed since they were read: not committing stale work (the step recomputes)"
                ) from exc
            if number == attempts:
                raise ConcurrentWriteError(
                    f"{table}: other runs writing the same table committed first {attempts} times in a row, so "
                    f"this write was not committed (the table is unchanged by it). Run it again once they are "
                    f"done; re-running a partition is safe. Last conflict: {exc}"
                ) from exc
            delay = min(3.0, COMMIT_BACKOFF_SECONDS * 2 ** (number - 1)) * random.uniform(0.5, 1.5)
            logging.getLogger(__name__).warning(
                "%s: another run committed first (%s); writing again in %.2f s (attempt %d of %d)",
                table, str(exc).splitlines()[0], delay, number + 1, attempts,
            )
            time.sleep(delay)
