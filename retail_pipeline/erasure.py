"""The right to erasure: ``retail-pipeline forget-customer ID`` removes one customer from every table of the
lakehouse and from the warehouse, and deletes the old files that held them.

The landing zone is the source of truth (DESIGN.md "Landing"), so removing rows from the tables is not enough:
the next rebuild would land them again. The customer goes into an erasure register, ``bronze/erased_customers``
(``customer_id`` as silver normalises it, ``requested_at``), and bronze never lands a record of a registered
customer again, whatever file brings it (a re-landed or changed file, ``run --full``). Bronze counts what it
left out per business date and file version in ``bronze/erased_rows`` (no customer id there), so that the
records of the active files stay accounted for: a bronze partition is exactly the records of the active files
that contain its dates, minus the registered customers' records.

What the command cannot erase, and says so:

- the landing files themselves: the operator redacts or deletes them (the register keeps their records out of
  bronze meanwhile; a deleted file is marked ``missing`` and its rows leave bronze when its dates are rebuilt);
- Dagster's event log: each materialisation records a preview of the first 5 rows of the table it wrote, with
  the customer columns hidden (``retail_pipeline.preview``); runs made by releases before that may show the
  customer there (delete those runs in the UI, or wipe the instance's storage);
- the register itself holds the customer's id: it is what keeps them out.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl
from deltalake import CommitProperties

from retail_pipeline.contracts import ERASED_CUSTOMERS, ERASED_ROWS
from retail_pipeline.lakehouse import VERSION_KEY, Lakehouse
from retail_pipeline.parsing import normalise_customer_id
from retail_pipeline.schemas import conform

REGISTER = "bronze/erased_customers"
ERASED_ROWS_TABLE = "bronze/erased_rows"
# Where one landing record sits: what bronze/erased_rows counts by.
RECORD_KEYS = ["_partition_date", "_source_file", "_file_sha256"]
# Columns holding a customer's id, or something derived from it, in any table or in the warehouse.
ID_COLUMN = "customer_id"
KEY_COLUMN = "customer_key"  # the star's surrogate key: a hash of the id, still the customer's
RAW_COLUMN = "_raw_record"  # the text of a record whose field count was wrong: the id is one of its fields
DATE_COLUMNS = ("_partition_date", "invoice_date")
# Delta's default log retention, restored after the log was purged.
DEFAULT_LOG_RETENTION = "interval 30 days"


class ErasureError(RuntimeError):
    """The customer could not be verified gone; the message names the tables that still hold them."""


# --- pure functions ----------------------------------------------------------------------------------------


def normalise_id(text: str | None) -> str:
    """A customer id as silver writes it (``17850.0`` -> ``17850``); ``ValueError`` for an empty or spaced one."""
    raw = (text or "").strip()
    if not raw:
        raise ValueError("give a customer id, such as 17850 (it was empty)")
    if re.search(r"[\s,\"]", raw):
        raise ValueError(f"{text!r} is not a customer id: ids have no spaces, commas or quotes (such as 17850)")
    return pl.select(normalise_customer_id(pl.lit(raw))).item()


def _raw_holds(ids: list[str]) -> pl.Expr:
    """True for a record landed with its raw text (wrong field count) where any field is one of ``ids``: such
    a record's fields cannot be trusted to sit in their columns."""
    return (
        pl.col(RAW_COLUMN)
        .str.split(",")
        .list.eval(normalise_customer_id(pl.element().str.strip_chars(' "')).is_in(ids))
        .list.any()
        .fill_null(False)
    )


def is_erased(ids: pl.Series) -> pl.Expr:
    """True for a bronze-shaped row of one of ``ids``: its ``customer_id`` normalised as silver does (``17850``
    or ``17850.0``; both header variants land in ``customer_id``), or a field of its raw text."""
    if ids.len() == 0:
        return pl.lit(False)
    by_field = normalise_customer_id(pl.col(ID_COLUMN)).is_in(ids.implode()).fill_null(False)
    return by_field | _raw_holds(ids.to_list())


def drop_erased(rows: pl.LazyFrame, ids: pl.Series, run_id: str) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Bronze rows without the registered customers' records, and what was left out per business date and
    file version (``bronze/erased_rows``)."""
    flagged = rows.with_columns(is_erased(ids).alias("__erased"))
    kept = flagged.filter(~pl.col("__erased")).drop("__erased")
    erased = (
        flagged.filter(pl.col("__erased"))
        .group_by(RECORD_KEYS)
        .agg(pl.len().cast(pl.Int64).alias("rows_erased"))
        .with_columns(pl.lit(run_id, pl.String).alias("_run_id"))
        .sort(RECORD_KEYS)
    )
    return kept, conform(erased, ERASED_ROWS)


def customer_match(columns: list[str], customer_id: str, customer_key: int) -> pl.Expr | None:
    """True for a row of a table with ``columns`` that holds the customer; None if no column can hold one."""
    tests = []
    if ID_COLUMN in columns:
        tests.append((normalise_customer_id(pl.col(ID_COLUMN)) == customer_id).fill_null(False))
    if KEY_COLUMN in columns:
        tests.append((pl.col(KEY_COLUMN) == customer_key).fill_null(False))
    if RAW_COLUMN in columns:
        tests.append(_raw_holds([customer_id]))
    return pl.any_horizontal(tests) if tests else None


def customer_key(customer_id: str) -> int:
    """The star schema's surrogate key of the customer (``customer_key`` in fact_sales, dim_customer, RFM)."""
    from retail_pipeline.transforms.star import surrogate_key

    return pl.select(surrogate_key(pl.lit(customer_id, pl.String))).item()


# --- the lakehouse --------------------------------------------------------------------------------------------


def registered(lakehouse: Lakehouse) -> pl.Series:
    """The customer ids of the erasure register (empty when nobody asked)."""
    if not lakehouse.exists(REGISTER):
        return pl.Series(ID_COLUMN, [], dtype=pl.String)
    return lakehouse.scan(REGISTER).select(ID_COLUMN).unique().collect().to_series().drop_nulls()


def register(lakehouse: Lakehouse, customer_id: str, now: datetime) -> bool:
    """Add the customer to the register; False if they were there already (the first request is kept)."""
    if customer_id in registered(lakehouse).to_list():
        return False
    row = pl.DataFrame({ID_COLUMN: [customer_id], "requested_at": [now]})
    lakehouse.append(REGISTER, conform(row.lazy(), ERASED_CUSTOMERS).collect())
    return True


def catalogue() -> list[str]:
    """Every Delta table of the lakehouse (the ``sql`` command's catalogue, kept complete by a test)."""
    from retail_pipeline.warehouse import SQL_TABLES

    return sorted(set(SQL_TABLES.values()))


@dataclass(frozen=True)
class Found:
    """Where one customer appears: rows per table (tables with a customer column only) and business dates."""

    rows: dict[str, int]
    dates: list[date]
    warehouse: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values()) + sum(self.warehouse.values())

    def holding(self) -> list[str]:
        return [t for t, n in self.rows.items() if n] + [f"warehouse {t}" for t, n in self.warehouse.items() if n]


def find_customer(lakehouse: Lakehouse, customer_id: str, warehouse: Path | None) -> Found:
    """Rows of the customer in every table that can hold a customer id (the register aside), the business
    dates they sit in, and their rows in the DuckDB warehouse file."""
    key = customer_key(customer_id)
    rows: dict[str, int] = {}
    dates: set[date] = set()
    for table in catalogue():
        if table == REGISTER or not lakehouse.exists(table):
            continue
        frame = lakehouse.scan(table)
        columns = frame.collect_schema().names()
        match = customer_match(columns, customer_id, key)
        if match is None:
            continue
        day = next((c for c in DATE_COLUMNS if c in columns), None)
        hits = frame.filter(match).select(day or columns[0]).collect()
        rows[table] = hits.height
        if day:
            dates |= set(hits.to_series().drop_nulls().to_list())
    return Found(rows, sorted(dates), warehouse_rows(warehouse, customer_id, key))


def warehouse_rows(path: Path | None, customer_id: str, key: int) -> dict[str, int]:
    """Rows of the customer per table of the DuckDB warehouse file (empty if there is no file)."""
    import duckdb

    if path is None or not path.is_file():
        return {}
    out: dict[str, int] = {}
    with duckdb.connect(str(path), read_only=True) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE column_name IN (?, ?, ?)",
            [ID_COLUMN, KEY_COLUMN, RAW_COLUMN],
        ).fetchall()
        by_table: dict[str, list[str]] = {}
        for table, column in columns:
            by_table.setdefault(table, []).append(column)
        for table, names in sorted(by_table.items()):
            tests = []
            if ID_COLUMN in names:
                tests.append(f"regexp_replace(trim(\"{ID_COLUMN}\"), '\\.0+$', '') = $id")
            if KEY_COLUMN in names:
                tests.append(f'"{KEY_COLUMN}" = $key')
            if RAW_COLUMN in names:
                tests.append(f"list_contains(list_transform(string_split(\"{RAW_COLUMN}\", ','), lambda x: regexp_replace(trim(x, ' \"'), '\\.0+$', '')), $id)")
            sql = f'SELECT count(*) FROM "{table}" WHERE ' + " OR ".join(f"coalesce({t}, false)" for t in tests)
            params = {name: value for name, value in (("id", customer_id), ("key", key)) if f"${name}" in sql}
            count = conn.execute(sql, params).fetchall()[0][0]
            out[table] = int(count)
    return out


@dataclass(frozen=True)
class Vacuumed:
    table: str
    files_vacuumed: int
    files_left_unreferenced: int


def purge_log(lakehouse: Lakehouse, table: str) -> None:
    """Delete the Delta log of versions before the current one. The log keeps each old file's statistics (the
    smallest and largest ``customer_id`` of a file, for instance) after vacuum deleted the file itself; with
    the log goes time travel to those versions, which is the point. The log retention is set to zero for a
    checkpoint and its cleanup, then back to Delta's default, in commits stamped with the schema version the
    table's last write recorded (so no later run mistakes the table for one written by another release)."""
    recorded = lakehouse.schema_version(table)
    stamp = CommitProperties(custom_metadata={VERSION_KEY: recorded}) if recorded else None
    dt = lakehouse.table(table)
    dt.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"}, commit_properties=stamp)
    dt = lakehouse.table(table)
    dt.create_checkpoint()
    dt.cleanup_metadata()
    dt = lakehouse.table(table)
    dt.alter.set_table_properties({"delta.logRetentionDuration": DEFAULT_LOG_RETENTION}, commit_properties=stamp)


def vacuum_all(lakehouse: Lakehouse) -> list[Vacuumed]:
    """Compact, vacuum with no retention and purge the log of every table: no old file or log entry that
    held an erased row stays in storage. Readers still on an old version lose it (the price of erasure)."""
    from retail_pipeline.maintenance import maintain

    done = []
    for table in catalogue():
        if not lakehouse.exists(table):
            continue
        result = maintain(lakehouse, table, retention_hours=0)
        purge_log(lakehouse, table)
        done.append(Vacuumed(table, result.files_vacuumed, result.after.stored - result.after.active))
    return done


# --- the command ------------------------------------------------------------------------------------------------


CANNOT_ERASE = (
    "Not erased by this command: (1) the landing files that hold the customer: redact or delete them (the "
    "register keeps their records out of bronze meanwhile); (2) Dagster's event log of runs made by releases "
    "before previews hid customer columns: their asset metadata shows 5 rows of each table they wrote (delete "
    "those runs in the UI, or wipe the instance's storage); (3) the register bronze/erased_customers keeps "
    "the id: it is what keeps them out."
)


@dataclass
class ErasureReport:
    customer_id: str
    known: bool  # found anywhere, or registered before
    newly_registered: bool = False
    before: Found | None = None
    rewritten: list[str] = field(default_factory=list)
    vacuumed: list[Vacuumed] = field(default_factory=list)
    after: Found | None = None
    pipeline: object = None  # the runner's PipelineReport of the rebuild


def forget_customer(
    landing: str | None,
    lakehouse: str | None,
    customer: str,
    instance,
    say: Callable[[str], None] = print,
    now: datetime | None = None,
) -> ErasureReport:
    """Register the customer, rebuild the business dates they appear in and the whole-history marts (the
    warehouse and the report with them) through Dagster as ``retail-pipeline run`` does, vacuum every table
    with no retention, and verify that no row of the customer remains. An unknown customer (in no table, not
    registered) changes nothing. ``ErasureError`` if a row remains; ``RunFailed`` if a run fails (the
    customer is registered by then: run the command again to finish)."""
    from retail_pipeline.resources import build_resources
    from retail_pipeline.runner import RunFailed, run_pipeline

    customer_id = normalise_id(customer)
    resources = build_resources(landing, lakehouse)
    house: Lakehouse = resources["lakehouse"]
    warehouse = Path(resources["duckdb"].database)

    before = find_customer(house, customer_id, warehouse)
    already = customer_id in registered(house).to_list()
    report = ErasureReport(customer_id, known=before.total > 0 or already, before=before)
    if not report.known:
        return report

    if before.total:
        where = ", ".join(f"{t} ({n})" for t, n in {**before.rows, **{f"warehouse {k}": v for k, v in before.warehouse.items()}}.items() if n)
        say(f"customer {customer_id}: {before.total:,} rows in {where}")
    report.newly_registered = register(house, customer_id, now or datetime.now(timezone.utc))
    say(
        f"customer {customer_id}: "
        + ("added to" if report.newly_registered else "already in")
        + f" the erasure register {REGISTER}: no landing file brings their records back"
    )

    versions = {t: house.version(t) for t in catalogue() if house.exists(t)}
    try:
        report.pipeline = run_pipeline(landing, lakehouse, instance, say=say, also=before.dates, history=True)
    except RunFailed as exc:
        raise RunFailed(
            f"{exc}\nCustomer {customer_id} is in the erasure register, so no later run lands them again; run "
            f"`retail-pipeline forget-customer {customer_id}` again to finish removing them and vacuum."
        ) from exc
    report.rewritten = [t for t in catalogue() if house.exists(t) and house.version(t) != versions.get(t)]

    say("vacuuming every table with no retention, and purging the Delta logs of old versions ...")
    report.vacuumed = vacuum_all(house)
    report.after = find_customer(house, customer_id, warehouse)
    left = report.after.holding() + [
        f"{v.table} ({v.files_left_unreferenced} old files left in storage)" for v in report.vacuumed if v.files_left_unreferenced
    ]
    if left:
        raise ErasureError(f"customer {customer_id} is still in: {', '.join(left)}")
    return report


def erasure_summary(report: ErasureReport) -> str:
    """What was removed, rewritten and vacuumed, the verification, and what the command cannot erase."""
    if not report.known:
        return (
            f"customer {report.customer_id}: no row in any table of the lakehouse or in the warehouse, and not in "
            f"the erasure register: nothing changed. (Check the id; a customer only in landing files not landed "
            "yet is not known here.)"
        )
    before = report.before
    layers = {layer: 0 for layer in ("bronze", "silver", "gold")}
    for table, n in before.rows.items():
        layers[table.split("/")[0]] += n
    layers["warehouse"] = sum(before.warehouse.values())
    lines = [
        "Rows removed: " + ", ".join(f"{layer} {n:,}" for layer, n in layers.items()),
        f"Tables rewritten: {len(report.rewritten)} ({', '.join(report.rewritten) or 'none'})",
        f"Files vacuumed: {sum(v.files_vacuumed for v in report.vacuumed):,} old data files deleted from "
        f"{len(report.vacuumed)} tables (retention 0), and the Delta logs of old versions",
        f"Verified: 0 rows of customer {report.customer_id} remain in the {len(report.after.rows)} tables with a "
        "customer column and in the warehouse file.",
        CANNOT_ERASE,
    ]
    return "\n".join(lines)

