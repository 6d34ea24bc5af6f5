"""The one planner (``core/planning.py``) and the build state it reads (``core/build_state.py``), as pure
functions: which dates of which daily tables are behind, which whole-history outputs, what a failed
blocking check holds back, and when the sensor asks for failed work again."""

from datetime import date, datetime, timedelta, timezone

import polars as pl

from retail_pipeline.core import build_state
from retail_pipeline.core.build_state import EMPTY
from retail_pipeline.core.planning import MAX_BACKOFF_S, landing_needed, next_attempt, plan

START, END = date(2010, 12, 1), date(2012, 1, 1)
DAILY = ["bronze/transactions", "silver/transactions", "gold/fact_sales"]
HISTORY = ["gold/monthly_kpis", "gold/warehouse"]
D1, D2, D3 = date(2011, 1, 3), date(2011, 1, 4), date(2011, 1, 5)
AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def manifest(*files: tuple[str, str, list[date]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "path": [f[0] for f in files],
            "sha256": [f[1] for f in files],
            "status": ["active"] * len(files),
            "business_dates": [f[2] for f in files],
            "rows": [10 * len(f[2]) for f in files],
        },
        schema={
            "path": pl.String, "sha256": pl.String, "status": pl.String, "business_dates": pl.List(pl.Date), "rows": pl.Int64,
        },
    )


def bronze(*rows: tuple[str, str, date, int]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"_source_file": pl.String, "_file_sha256": pl.String, "_partition_date": pl.Date, "rows": pl.Int64},
        orient="row",
    )


def token(held: pl.DataFrame, day: date) -> str:
    counts = held.rename({"_partition_date": "business_date"})
    return dict(build_state.tokens_from_counts(counts).iter_rows())[day]


def state(*parts: pl.DataFrame) -> pl.DataFrame:
    log = pl.concat([pl.DataFrame(schema=build_state.SCHEMA), *parts])
    return build_state.latest(log)


def daily(table: str, tokens: dict, at: datetime = AT) -> pl.DataFrame:
    return build_state.rows(table, tokens, None, [], "run", at)


FILES = manifest(("a.csv", "a1", [D1]), ("b.csv", "b1", [D2]))
HELD = bronze(("a.csv", "a1", D1, 10), ("b.csv", "b1", D2, 5))


def built(**overrides) -> pl.DataFrame:
    """Every daily table built from what bronze holds on D1 and D2 (D3 an empty date of the range)."""
    tokens = {D1: token(HELD, D1), D2: token(HELD, D2), D3: EMPTY}
    return state(*(daily(t, overrides.get(t, tokens)) for t in DAILY))


def test_every_daily_table_built_from_what_bronze_holds_is_up_to_date():
    work = plan(FILES, HELD, built(), START, END, DAILY, [])
    assert work.dates == [] and work.up_to_date


def test_a_table_built_from_older_files_or_not_built_is_behind_on_exactly_those_dates():
    older = {D1: "a token of older files", D2: token(HELD, D2)}
    work = plan(FILES, HELD, built(**{"gold/fact_sales": older}), START, END, DAILY, [])
    assert work.behind["gold/fact_sales"] == [D1] and work.behind["silver/transactions"] == []
    assert work.dates == [D1]  # a range run rebuilds every daily layer of the date

    not_built = state(*(daily(t, {D1: token(HELD, D1)}) for t in DAILY))  # a kill before D2 was recorded
    assert plan(FILES, HELD, not_built, START, END, DAILY, []).dates == [D2]


def test_the_last_record_of_a_table_and_date_wins():
    stale = daily("silver/transactions", {D1: "old"}, AT)
    fresh = daily("silver/transactions", {D1: token(HELD, D1)}, AT.replace(hour=1))
    others = [daily(t, {D1: token(HELD, D1), D2: token(HELD, D2)}) for t in DAILY if t != "silver/transactions"]
    # D1's older record comes last in the log but was written first; silver has no record of D2 at all.
    assert plan(FILES, HELD, state(*others, fresh, stale), START, END, DAILY, []).behind["silver/transactions"] == [D2]


def test_changed_files_make_bronze_behind_even_with_matching_state():
    changed = manifest(("a.csv", "a2", [D1]), ("b.csv", "b1", [D2]))
    work = plan(changed, HELD, built(), START, END, DAILY, [])
    assert work.behind["bronze/transactions"] == [D1] and work.dates == [D1]


def test_whole_history_outputs_are_behind_when_what_they_read_moved_and_a_failed_check_names_its_dates():
    daily_state = built()
    assert plan(FILES, HELD, daily_state, START, END, DAILY, HISTORY).history == HISTORY  # never built
    # Nothing built at all: nothing to build the marts from yet.
    assert plan(manifest(), bronze(), state(), START, END, DAILY, HISTORY).up_to_date

    inputs = ["silver/transactions"]
    marts = build_state.rows("gold/monthly_kpis", None, build_state.inputs_token(daily_state, inputs), inputs, "r", AT)
    warehouse_in = ["gold/monthly_kpis", "gold/fact_sales"]
    with_marts = state(daily_state, marts)
    warehouse = build_state.rows(
        "gold/warehouse", None, build_state.inputs_token(with_marts, warehouse_in), warehouse_in, "r", AT
    )
    everything = state(daily_state, marts, warehouse)
    assert plan(FILES, HELD, everything, START, END, DAILY, HISTORY).up_to_date

    # silver rebuilt from a new file version of D2: the marts (and so the warehouse) read something else now.
    held = bronze(("a.csv", "a1", D1, 10), ("b.csv", "b2", D2, 6))
    moved = state(everything, *(daily(t, {D2: token(held, D2)}, AT.replace(hour=2)) for t in DAILY))
    new_files = manifest(("a.csv", "a1", [D1]), ("b.csv", "b2", [D2]))
    work = plan(new_files, held, moved, START, END, DAILY, HISTORY)
    assert work.dates == [] and work.history == HISTORY

    failed = build_state.rows("silver/transactions", {D2: "failed:every_line_has_an_fx_rate"}, None, [], "r", AT.replace(hour=3))
    work = plan(new_files, held, state(moved, failed), START, END, DAILY, HISTORY)
    assert work.dates == [D2] and work.blocked == {"silver/transactions: every_line_has_an_fx_rate": [D2]}


def test_dates_that_disagree_between_inputs_are_never_current():
    tokens = build_state.combine_dates([{D1: "x", D2: "y"}, {D1: "x", D2: "z"}], [D1, D2])
    assert tokens[D1] == "x" and tokens[D2].startswith("mixed:")


def test_failed_work_is_asked_again_only_after_its_run_finished_and_the_backoff_passed():
    assert next_attempt(None, None, 0, 300) == 0
    assert next_attempt([0, 1000], "STARTED", 5000, 300) is None  # still running
    assert next_attempt([0, 1000], "FAILURE", 1299, 300) is None
    assert next_attempt([0, 1000], "FAILURE", 1300, 300) == 1
    assert next_attempt([1, 1000], "FAILURE", 1599, 300) is None  # doubled
    assert next_attempt([1, 1000], "CANCELED", 1600, 300) == 2
    assert next_attempt([30, 0], "FAILURE", MAX_BACKOFF_S, 300) == 31  # capped


def test_landing_is_needed_for_new_changed_and_gone_files_only():
    landed = pl.DataFrame(
        {
            "path": ["a.csv", "b.csv", "gone.csv"],
            "size_bytes": [10, 20, 30],
            "mtime": [AT, AT, AT],
            "inode": [1, 2, 3],
            "ctime": [AT, AT, AT],
            "sha256": ["a" * 64, "b" * 64, "c" * 64],
            "status": ["active", "active", "missing"],
        }
    )
    listing = landed.filter(pl.col("status") == "active").select("path", "size_bytes", "mtime", "inode", "ctime")
    assert landing_needed(listing, landed) == []
    grown = listing.with_columns(pl.when(pl.col("path") == "b.csv").then(21).otherwise(pl.col("size_bytes")).alias("size_bytes"))
    assert landing_needed(grown, landed) == ["b.csv"]
    # Rewritten with its mtime restored (cp -p): the ctime moved.
    touched = listing.with_columns(pl.when(pl.col("path") == "a.csv").then(AT + timedelta(seconds=1)).otherwise(pl.col("ctime")).alias("ctime"))
    assert landing_needed(touched, landed) == ["a.csv"]
    assert landing_needed(listing.filter(pl.col("path") == "a.csv"), landed) == ["b.csv"]  # b.csv is gone
    new = pl.concat([listing, listing.head(1).with_columns(pl.lit("c.csv").alias("path"))])
    assert landing_needed(new, landed) == ["c.csv"]
    # Bronze found b.csv changed (another sha256 than the manifest's): landed again, stats or not.
    assert landing_needed(listing, landed, {"b.csv": "d" * 64}) == ["b.csv"]


def test_a_build_not_yet_vouched_for_by_its_checks_is_behind_until_its_run_is_confirmed():
    tokens = {D1: token(HELD, D1), D2: token(HELD, D2)}
    pending = {day: f"{build_state.PENDING}{t}" for day, t in tokens.items()}
    log = pl.concat([
        daily("bronze/transactions", tokens), daily("silver/transactions", tokens),
        build_state.rows("gold/fact_sales", pending, None, [], "run-7", AT),
    ])
    work = plan(FILES, HELD, state(log), START, END, DAILY, [])
    assert work.behind["gold/fact_sales"] == [D1, D2]  # killed before its checks ran, or they failed
    assert build_state.pending_runs(state(log)) == {"run-7"}
    # What it was built from is the token all the same: a table below reads it as such.
    assert build_state.window_tokens(state(log), "gold/fact_sales", [D1]) == {D1: tokens[D1]}
    confirmed = build_state.confirmed(state(log), {"run-7"}, AT.replace(hour=5))
    assert plan(FILES, HELD, state(log, confirmed), START, END, DAILY, []).up_to_date


def test_a_reference_table_held_back_by_its_check_is_not_up_to_date():
    failed = build_state.rows("silver/fx_daily", None, "failed:matches_contract", [], "r", AT.replace(hour=4))
    work = plan(FILES, HELD, state(built(), failed), START, END, DAILY, [])
    assert work.dates == [] and work.blocked == {"silver/fx_daily: matches_contract": []} and not work.up_to_date


def test_a_full_run_rebuilds_every_date_a_deleted_file_held_even_at_the_edge_of_the_range():
    """b.csv, the only file of D2 (the last date), is gone: a plain plan leaves D2 alone (a deletion rebuilds
    nothing by itself); ``full`` rebuilds D1 and D2, so D2's rows leave bronze."""
    gone = FILES.with_columns(pl.when(pl.col("path") == "b.csv").then(pl.lit("missing")).otherwise("status").alias("status"))
    assert plan(gone, HELD, built(), START, END, DAILY, []).dates == []
    assert plan(gone, HELD, built(), START, END, DAILY, [], full=True).dates == [D1, D2]


def test_a_file_whose_placeable_dates_grew_is_rebuilt_on_every_date():
    """A record dated tomorrow is stored in its file's earliest date (D1) while tomorrow is out of range; once
    D2 is in range it belongs there, so D1 must be rebuilt too or bronze holds it twice."""
    from retail_pipeline.core.planning import stale_dates

    files = manifest(("a.csv", "a1", [D1, D2]))
    held = bronze(("a.csv", "a1", D1, 2))  # both records, built when D2 was out of range
    assert stale_dates(files, held, START, D2) == []
    assert stale_dates(files, held, START, D3) == [D1, D2]


def test_a_changed_file_report_is_answered_by_the_first_landing_after_it():
    """Bronze's report that a file changed asks one landing to read it again: once a landing wrote the
    manifest after the report, it is answered, whatever version the file is at now (else the sensor would
    ask to land that file at every tick and never build anything)."""
    report = build_state.rows("bronze/transactions", {D1: build_state.SOURCE_CHANGED}, None, ["b" * 64 + ":a.csv"], "run", AT)
    found = state(report)
    assert build_state.changed_sources(found) == {"a.csv": "b" * 64}
    assert build_state.changed_sources(found, since=AT - timedelta(seconds=1)) == {"a.csv": "b" * 64}
    assert build_state.changed_sources(found, since=AT + timedelta(seconds=1)) == {}


def test_ranges_hold_at_most_the_rows_asked_for_whatever_the_files_look_like():
    """One huge file and many small ones cost the same memory: a run's rows are bounded, not its days."""
    from retail_pipeline.core.planning import group_ranges, rows_by_date

    days = [date(2011, 1, 1) + timedelta(days=i) for i in range(100)]
    one_file = pl.DataFrame(
        {"status": ["active"], "rows": [1_000_000], "business_dates": [days]},
        schema={"status": pl.String, "rows": pl.Int64, "business_dates": pl.List(pl.Date)},
    )
    day_files = pl.DataFrame(
        {"status": ["active"] * 100 + ["missing"], "rows": [10_000] * 100 + [5_000_000], "business_dates": [[d] for d in days] + [days]},
        schema={"status": pl.String, "rows": pl.Int64, "business_dates": pl.List(pl.Date)},
    )
    for manifest in (one_file, day_files):
        rows = rows_by_date(manifest)
        assert sum(rows.values()) == 1_000_000 and len(rows) == 100
        ranges = group_ranges(days, 7, 366, rows, 250_000)
        assert len(ranges) == 4 and ranges[0] == (days[0], days[24]) and ranges[-1][1] == days[-1]
        covered = [d for a, b in ranges for d in days if a <= d <= b]
        assert covered == days  # every date once
    # A single date above the bound is a run of its own, not dropped.
    assert group_ranges(days[:3], 7, 366, {days[1]: 900}, 100) == [(days[0], days[0]), (days[1], days[1]), (days[2], days[2])]
    assert group_ranges(days, 7, 366) == [(days[0], days[-1])]  # no bound: by days only


def test_a_range_split_for_its_rows_gets_parts_of_about_equal_rows():
    """Not full runs and a last one of a day: 10 days of 300 rows under a bound of 1,000 make 3 or 4 parts
    of about 750-1,000 rows, never one of a day."""
    from retail_pipeline.core.planning import group_ranges

    days = [date(2011, 1, 1) + timedelta(days=i) for i in range(10)]
    rows = {d: 300 for d in days}
    ranges = group_ranges(days, 7, 366, rows, 1_000)
    sizes = [sum(rows[d] for d in days if a <= d <= b) for a, b in ranges]
    assert sum(sizes) == 3_000 and max(sizes) <= 1_000 and min(sizes) >= 600, sizes
    assert [d for a, b in ranges for d in days if a <= d <= b] == days
