"""The gold marts published into a Postgres schema (``serving/postgres_marts``), for BI tools that speak Postgres
(Supabase, a team's own server).

Each publication loads every table of the DuckDB warehouse file into a staging schema (``<schema>__staging``:
DuckDB writes each table as CSV to a temporary file, Postgres reads it with ``COPY``, so memory follows
neither table), adds the contracts' descriptions as table and column comments and ``_publication`` (one row:
when, from which warehouse, rows per table), then swaps it in with one transaction: take ACCESS EXCLUSIVE
locks on every published table (with a short lock timeout, retried while readers hold them: ``_swap``),
rename the published schema away, the staging one in its place, drop the old one, commit.

What a reader sees: a statement that started before the swap finishes on the old tables (the swap waits for
it); one that starts during the swap waits for the commit and then reads the new tables, all of them (it
waits on the first table it touches, holding none); so each query sees one whole version, never a mix, never
an empty or half-loaded table. A ``REPEATABLE READ`` (or ``SERIALIZABLE``) transaction that began before a
swap and reads the schema only after it gets the new tables but its old snapshot, under which their rows
do not exist yet: it sees them **empty**. Such a reader should read inside ``READ COMMITTED`` (Postgres'
default) or start its transaction after ``_publication.published_at`` moved.

A session holding a published table (an open transaction that read it) blocks the swap; after
``swap_timeout_s`` the publication fails naming those sessions, the published schema unchanged.
"""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import dagster as dg
import duckdb

PUBLICATION = "_publication"
# A schema of the published name's own: no other writer's tables are touched.
STAGING_SUFFIX = "__staging"
RETIRED_SUFFIX = "__retired"


class PublishError(Exception):
    """The publication could not be made; the message says why, never with a secret."""


@dataclass(frozen=True)
class Published:
    schema: str
    rows: dict[str, int]
    seconds: float
    swap_wait_s: float
    published_at: datetime


def _pg_type(duck: str) -> tuple[str, bool]:
    """The Postgres type of a DuckDB column type, and whether the value goes as JSON (lists, structs, maps)."""
    duck = duck.upper()
    simple = {
        "VARCHAR": "text", "BIGINT": "bigint", "INTEGER": "integer", "SMALLINT": "smallint", "TINYINT": "smallint",
        "UTINYINT": "smallint", "USMALLINT": "integer", "UINTEGER": "bigint", "UBIGINT": "numeric(20)",
        "HUGEINT": "numeric(39)", "DOUBLE": "double precision", "FLOAT": "real", "BOOLEAN": "boolean",
        "DATE": "date", "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamptz", "TIME": "time",
        "UUID": "uuid", "BLOB": "bytea", "INTERVAL": "interval",
    }
    if duck in simple:
        return simple[duck], False
    if duck.startswith("DECIMAL"):
        return duck.replace("DECIMAL", "numeric"), False
    if duck.startswith("TIMESTAMP"):
        return "timestamp", False
    return "jsonb", True


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresMarts(dg.ConfigurableResource):
    """Where ``serving/postgres_marts`` publishes: ``url`` (``RETAIL_POSTGRES_URL``, a secret: it may hold the
    password) or the parts (``RETAIL_POSTGRES_HOST``, ``_PORT``, ``_USER``, ``_PASSWORD``, ``_DB``,
    ``_SSLMODE``), the schema (``RETAIL_POSTGRES_SCHEMA``) and a role granted read access
    (``RETAIL_POSTGRES_READER_ROLE``)."""

    url: Optional[str] = None
    host: Optional[str] = None
    port: Optional[str] = None
    user: Optional[str] = None
    password: Optional[str] = None
    dbname: Optional[str] = None
    sslmode: Optional[str] = None
    schema_name: str = "retail_gold"
    reader_role: Optional[str] = None
    swap_timeout_s: float = 60.0
    connect_timeout_s: int = 10

    def where(self) -> str:
        """Host, port and database, for messages (no user, no password)."""
        if self.url:
            from psycopg2.extensions import parse_dsn

            try:
                parts = parse_dsn(self.url)
            except Exception:
                return "the server of RETAIL_POSTGRES_URL (which does not parse as a Postgres URL)"
        else:
            parts = {"host": self.host, "port": self.port, "dbname": self.dbname}
        return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"

    def connect(self):
        try:
            import psycopg2
        except ImportError as exc:  # pragma: no cover - the deploy extra brings it
            raise PublishError("publishing to Postgres needs psycopg2: pip install 'retail-pipeline[deploy]'") from exc
        options = {"connect_timeout": self.connect_timeout_s, "application_name": "retail-pipeline publish"}
        if self.sslmode:
            options["sslmode"] = self.sslmode
        try:
            if self.url:
                return psycopg2.connect(self.url, **options)
            return psycopg2.connect(
                host=self.host, port=self.port or None, user=self.user, password=self.password, dbname=self.dbname,
                **options,
            )
        except psycopg2.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise PublishError(f"cannot connect to Postgres at {self.where()}: {first}") from None

    def publish(self, warehouse: Path, descriptions: dict[str, tuple[str, dict[str, str]]], log=None) -> Published:
        """Publish every table of the DuckDB file ``warehouse`` (``descriptions``: SQL name -> (table comment,
        column -> comment)) as one new version of the schema."""
        if not warehouse.is_file():
            raise PublishError(f"no warehouse file at {warehouse}: build gold/warehouse first")
        started = time.monotonic()
        schema = self.schema_name
        staging, retired = schema + STAGING_SUFFIX, schema + RETIRED_SUFFIX
        with closing(self.connect()) as conn, tempfile.TemporaryDirectory(prefix="retail-publish-") as scratch:
            with conn.cursor() as cur:
                # One publisher at a time per schema (two runs, or two deployments on one database).
                cur.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"retail_pipeline.publish.{schema}",))
                cur.execute(f"DROP SCHEMA IF EXISTS {_quoted(staging)} CASCADE")
                cur.execute(f"DROP SCHEMA IF EXISTS {_quoted(retired)} CASCADE")
                cur.execute(f"CREATE SCHEMA {_quoted(staging)}")
            conn.commit()
            rows = self._load(conn, warehouse, staging, descriptions, Path(scratch))
            published_at = datetime.now(timezone.utc)
            with conn.cursor() as cur:
                cur.execute(
                    f"CREATE TABLE {_quoted(staging)}.{PUBLICATION} (published_at timestamptz NOT NULL, "
                    "warehouse_file text NOT NULL, warehouse_modified_at timestamptz NOT NULL, rows jsonb NOT NULL)"
                )
                modified = datetime.fromtimestamp(warehouse.stat().st_mtime, tz=timezone.utc)
                cur.execute(
                    f"INSERT INTO {_quoted(staging)}.{PUBLICATION} VALUES (%s, %s, %s, %s)",
                    (published_at, warehouse.name, modified, json.dumps(rows)),
                )
                cur.execute(
                    f"COMMENT ON TABLE {_quoted(staging)}.{PUBLICATION} IS %s",
                    ("When this version of the marts was published, from which warehouse file, and its rows per table.",),
                )
                if self.reader_role:
                    cur.execute(f"GRANT USAGE ON SCHEMA {_quoted(staging)} TO {_quoted(self.reader_role)}")
                    cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {_quoted(staging)} TO {_quoted(self.reader_role)}")
            conn.commit()
            waited = self._swap(conn, schema, staging, retired, log)
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"retail_pipeline.publish.{schema}",))
            conn.commit()
        return Published(schema, rows, round(time.monotonic() - started, 3), round(waited, 3), published_at)

    def _load(self, conn, warehouse: Path, staging: str, descriptions, scratch: Path) -> dict[str, int]:
        rows: dict[str, int] = {}
        with duckdb.connect(str(warehouse), read_only=True) as duck:
            names = [r[0] for r in duck.sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY table_name"
            ).fetchall()]
            for name in names:
                columns = duck.sql(
                    "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'main' "
                    "AND table_name = ? ORDER BY ordinal_position", params=[name],
                ).fetchall()
                typed = [(column, *_pg_type(kind)) for column, kind in columns]
                select = ", ".join(f"to_json({_quoted(c)})" if as_json else _quoted(c) for c, _, as_json in typed)
                data = scratch / f"{name}.csv"
                duck.sql(f"COPY (SELECT {select} FROM main.{_quoted(name)}) TO '{data}' (FORMAT csv, HEADER false)")
                target = f"{_quoted(staging)}.{_quoted(name)}"
                with conn.cursor() as cur:
                    cur.execute(f"CREATE TABLE {target} ({', '.join(f'{_quoted(c)} {t}' for c, t, _ in typed)})")
                    with data.open("rb") as handle:
                        cur.copy_expert(f"COPY {target} FROM STDIN WITH (FORMAT csv)", handle, size=1 << 20)
                    rows[name] = cur.rowcount
                    comment, column_comments = descriptions.get(name, ("", {}))
                    if comment:
                        cur.execute(f"COMMENT ON TABLE {target} IS %s", (comment,))
                    for column, _, _ in typed:
                        if column_comments.get(column):
                            cur.execute(f"COMMENT ON COLUMN {target}.{_quoted(column)} IS %s", (column_comments[column],))
                    cur.execute(f"ANALYZE {target}")
                conn.commit()
                data.unlink()
        return rows

    def _swap(self, conn, schema: str, staging: str, retired: str, log) -> float:
        """Swap ``staging`` in for ``schema`` in one transaction; the seconds spent waiting for readers.

        The locks are asked for with a ``lock_timeout`` shorter than the server's ``deadlock_timeout``: while
        the request waits, new readers queue behind it (so a steady stream of short queries cannot starve it),
        and a reader that holds one table and waits for another that the swap holds never meets Postgres'
        deadlock detector: the swap gives every lock up first, and asks again after a pause."""
        import psycopg2
        from psycopg2 import errors

        with conn.cursor() as cur:
            cur.execute("SELECT setting::int FROM pg_settings WHERE name = 'deadlock_timeout'")
            deadlock_ms = cur.fetchone()[0]
        conn.rollback()
        wait_ms = max(1, min(100, deadlock_ms // 4))
        started, attempts = time.monotonic(), 0
        while True:
            attempts += 1
            try:
                with conn.cursor() as cur:
                    cur.execute(f"SET LOCAL lock_timeout = {wait_ms}")
                    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,))
                    held = [f"{_quoted(schema)}.{_quoted(name)}" for (name,) in cur.fetchall()]
                    if held:
                        cur.execute(f"LOCK TABLE {', '.join(held)} IN ACCESS EXCLUSIVE MODE")
                        cur.execute(f"ALTER SCHEMA {_quoted(schema)} RENAME TO {_quoted(retired)}")
                    else:
                        cur.execute(f"DROP SCHEMA IF EXISTS {_quoted(schema)} CASCADE")
                    cur.execute(f"ALTER SCHEMA {_quoted(staging)} RENAME TO {_quoted(schema)}")
                    cur.execute(f"DROP SCHEMA IF EXISTS {_quoted(retired)} CASCADE")
                conn.commit()
                return time.monotonic() - started
            except errors.LockNotAvailable:
                conn.rollback()
            except psycopg2.Error:
                conn.rollback()
                raise
            waited = time.monotonic() - started
            if waited > self.swap_timeout_s:
                raise PublishError(
                    f"readers held tables of {schema} for {waited:.0f} s (RETAIL_POSTGRES_SWAP_TIMEOUT_S): "
                    f"{self._holders(conn, schema)}; the published version is unchanged, the new one stays in "
                    f"{staging} until the next publication"
                )
            if log is not None and attempts % 20 == 0:
                log.info(f"waiting for readers of {schema} to finish a statement or transaction ({waited:.1f} s)")
            time.sleep(min(0.2, 0.01 * attempts))

    def customer_rows(self, customer_id: str, key: int) -> dict[str, int]:
        """Rows of one customer (``customer_id`` as silver normalises it, or its ``customer_key``) per table of the
        published and the staging schema: what an erasure verifies is 0."""
        found: dict[str, int] = {}
        with closing(self.connect()) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE table_schema "
                "IN (%s, %s) AND column_name IN ('customer_id', 'customer_key') ORDER BY 1, 2, 3",
                (self.schema_name, self.schema_name + STAGING_SUFFIX),
            )
            columns: dict[tuple[str, str], list[str]] = {}
            for schema, table, column in cur.fetchall():
                columns.setdefault((schema, table), []).append(column)
            for (schema, table), names in columns.items():
                tests = []
                if "customer_id" in names:
                    tests.append("regexp_replace(trim(customer_id::text), '\\.0+$', '') = %(id)s")
                if "customer_key" in names:
                    tests.append("customer_key::text = %(key)s")
                cur.execute(
                    f"SELECT count(*) FROM {_quoted(schema)}.{_quoted(table)} WHERE {' OR '.join(tests)}",
                    {"id": customer_id, "key": str(key)},
                )
                found[f"{schema}.{table}"] = cur.fetchone()[0]
        return found

    @staticmethod
    def _holders(conn, schema: str) -> str:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT DISTINCT a.pid, coalesce(a.application_name, ''), a.state FROM pg_locks l "
                "JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE n.nspname = %s AND a.pid <> pg_backend_pid()",
                (schema,),
            )
            sessions = [f"pid {pid} ({app or 'no application name'}, {state})" for pid, app, state in cur.fetchall()]
        conn.rollback()
        return "sessions " + ", ".join(sessions[:5]) if sessions else "sessions that have ended since"
