"""Build state: what each table was built from, so the planner can tell which layers are behind.

Every write of a lakehouse table appends rows to the build log (``_state/builds``):

- a **daily** table, one row per business date of the run's window, ``built_from`` = the token of the
  date's landing-file versions as bronze held them (``date_tokens``). Bronze computes it from the records it
  wrote; every table below takes it from the build state of the daily tables it read (``combine_dates``), so
  a table built from an upstream that was itself behind, or from two upstreams that disagree, never carries
  the current token;
- a **whole-history** output (the marts, the warehouse, the report), one row with no date, ``built_from`` =
  a digest of the tokens of the tables it read (``inputs``), and a reference table (exchange rates,
  countries) a digest of its content;
- a **blocking check that failed** appends ``failed:<check>`` for the table and dates it checked: they stay
  behind, and are named, until a run passes it;
- **bronze finding a landed file changed** (its bytes no longer match the manifest's sha256) appends
  ``failed:source_changed`` for the run's dates, with ``inputs`` = ``<sha256 read>:<path>`` of each such file:
  the next landing reads those files again (``changed_sources``) and the dates are rebuilt from them.

A table with blocking checks (silver and gold) is first recorded ``pending:<token>``: built, not yet vouched
for. Only a run that succeeded, so whose blocking checks all passed, confirms its pending records
(``confirmed``); a run killed between a table's commit and its checks leaves it pending, so behind, and the
next run checks it again. What a table below was built from is the token, pending or not.

The log is append-only (two runners never conflict on it; the last row of a key wins), and a row is written
only after the table's own commit, so a kill between the two leaves the table looking behind, never ahead.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime

import polars as pl

# The token of a date with nothing in bronze (and of a daily table with no row for the date).
EMPTY = "empty"
FAILED = "failed:"
PENDING = "pending:"


SOURCE_CHANGED = f"{FAILED}source_changed"


def changed_sources(
    state: pl.DataFrame, since: datetime | None = None, table: str = "bronze/transactions"
) -> dict[str, str]:
    """path -> sha256 of the landing files bronze found changed since they were landed (on dates whose
    latest record says so: a rebuild of those dates supersedes it) and that no landing has read again since:
    a report recorded before ``since`` (the manifest's last write) was answered by that landing."""
    marked = state.filter((pl.col("table") == table) & (pl.col("built_from") == SOURCE_CHANGED))
    if since is not None:
        marked = marked.filter(pl.col("built_at") > since)
    found = marked["inputs"].explode().drop_nulls().unique().sort().to_list()
    return {path: sha for sha, _, path in (entry.partition(":") for entry in found)}


def settled(token: str) -> str:
    """The token without its ``pending:`` mark: what a table was built from, checked or not."""
    return token[len(PENDING):] if token.startswith(PENDING) else token


def _settled(column: str = "built_from") -> pl.Expr:
    return pl.col(column).str.strip_prefix(PENDING)

SCHEMA = pl.Schema(
    {
        "table": pl.String,
        "business_date": pl.Date,
        "built_from": pl.String,
        "inputs": pl.List(pl.String),
        "run_id": pl.String,
        "built_at": pl.Datetime("us", "UTC"),
    }
)

# Row-level per-run columns: two builds of the same input differ in these by design.
PER_RUN = ("_ingested_at", "_run_id", "_fetched_at", "requested_at")


def digest(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def date_tokens(records: pl.LazyFrame | pl.DataFrame, date_column: str = "_partition_date") -> pl.DataFrame:
    """(business_date, token) of bronze records: per date, a digest of the (file, sha256, record count)
    versions it holds. The planner computes the same from bronze's file counts (``bronze_files``)."""
    counts = (
        records.lazy()
        .group_by(pl.col(date_column).alias("business_date"), "_source_file", "_file_sha256")
        .agg(pl.len().cast(pl.Int64).alias("rows"))
    )
    return tokens_from_counts(counts)


def tokens_from_counts(counts: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """(business_date, token) from (business_date, _source_file, _file_sha256, rows) with rows > 0."""
    per_date = (
        counts.lazy()
        .filter(pl.col("rows") > 0)
        .select("business_date", pl.format("{}:{}:{}", "_source_file", "_file_sha256", "rows").alias("part"))
        .sort("business_date", "part")
        .group_by("business_date", maintain_order=True)
        .agg(pl.col("part").str.join("\n"))
        .collect()
    )
    # One hash per business date (hundreds, not rows): sha256 keeps tokens stable across polars releases.
    return per_date.select(
        "business_date",
        pl.col("part").map_elements(lambda s: digest([s]), return_dtype=pl.String).alias("token"),
    )


def latest(log: pl.DataFrame) -> pl.DataFrame:
    """The build state: the last row of each (table, business_date) of the build log."""
    return (
        log.sort("built_at", maintain_order=True)
        .group_by("table", "business_date", maintain_order=True)
        .last()
        .sort("table", "business_date", nulls_last=False)
    )


def window_tokens(state: pl.DataFrame, table: str, dates: list[date]) -> dict[date, str]:
    """The ``built_from`` of ``table`` for each of ``dates`` (EMPTY where it has none)."""
    rows = state.filter((pl.col("table") == table) & pl.col("business_date").is_in(dates))
    found = dict(rows.select("business_date", _settled()).iter_rows())
    return {day: found.get(day, EMPTY) for day in dates}


def combine_dates(per_input: list[dict[date, str]], dates: list[date]) -> dict[date, str]:
    """What a daily table read from its daily inputs, per date: their common token, or (inputs disagree:
    one was behind) a token no date ever has, so the table stays behind."""
    out = {}
    for day in dates:
        seen = {tokens.get(day, EMPTY) for tokens in per_input}
        out[day] = seen.pop() if len(seen) == 1 else "mixed:" + digest(sorted(seen))
    return out


def table_token(state: pl.DataFrame, table: str) -> str:
    """What a table stands for as an input of a whole-history output: for a daily table, a digest of its
    dates' tokens (dates with nothing left out, so the windows runs happened to cover do not matter); for a
    whole table, its ``built_from``; "absent" if it has no build state."""
    rows = state.filter(pl.col("table") == table).with_columns(_settled()).filter(pl.col("built_from") != EMPTY)
    if rows.height == 0:
        return "absent"
    dated = rows.filter(pl.col("business_date").is_not_null())
    if dated.height:
        return digest([f"{d}={t}" for d, t in dated.select("business_date", "built_from").sort("business_date").iter_rows()])
    return rows["built_from"][-1]


def confirmed(state: pl.DataFrame, run_ids: set[str], at: datetime) -> pl.DataFrame:
    """Build-log rows confirming the pending records of ``run_ids`` (runs that succeeded)."""
    pending = state.filter(pl.col("built_from").str.starts_with(PENDING) & pl.col("run_id").is_in(list(run_ids)))
    return pending.with_columns(_settled(), pl.lit(at).cast(SCHEMA["built_at"]).alias("built_at")).select(SCHEMA.names())


def pending_runs(state: pl.DataFrame) -> set[str]:
    """The runs whose records are still pending (killed, failed, or not yet confirmed)."""
    return set(state.filter(pl.col("built_from").str.starts_with(PENDING))["run_id"].unique().to_list())


def inputs_token(state: pl.DataFrame, inputs: list[str]) -> str:
    """The ``built_from`` of a whole-history output that read ``inputs`` now."""
    return digest([f"{name}={table_token(state, name)}" for name in sorted(set(inputs))])


def content_token(frame: pl.DataFrame) -> str:
    """A digest of a (small, whole) table's content, per-run columns aside, whatever its row order."""
    body = frame.drop([c for c in PER_RUN if c in frame.columns])
    body = body.select(sorted(body.columns))
    hashes = body.hash_rows(seed=0).sort().to_list() if body.height else []
    return digest([str(body.schema), ",".join(map(str, hashes))])


def rows(
    table: str, tokens: dict[date, str] | None, built_from: str | None, inputs: list[str], run_id: str, at: datetime
) -> pl.DataFrame:
    """Build-log rows: one per date of ``tokens`` (a daily table) or one with no date (``built_from``)."""
    if tokens is not None:
        data = {
            "table": [table] * len(tokens),
            "business_date": list(tokens),
            "built_from": list(tokens.values()),
            "inputs": [inputs] * len(tokens),
            "run_id": [run_id] * len(tokens),
            "built_at": [at] * len(tokens),
        }
    else:
        data = {
            "table": [table],
            "business_date": [None],
            "built_from": [built_from],
            "inputs": [inputs],
            "run_id": [run_id],
            "built_at": [at],
        }
    return pl.DataFrame(data, schema=SCHEMA)
