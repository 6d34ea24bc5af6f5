"""Range-aware Delta IO on real tables in a temporary directory."""

from datetime import date

import polars as pl
import pytest

from retail_pipeline.adapters.lakehouse import Lakehouse, MissingTableError
from retail_pipeline.core.dates import Window


def _days(*days: str, tag: str = "a") -> pl.DataFrame:
    return pl.DataFrame(
        {"d": [date.fromisoformat(x) for x in days], "v": [tag] * len(days)}, schema={"d": pl.Date, "v": pl.String}
    )


def test_range_overwrite_replaces_exactly_its_days_across_a_month_boundary(lakehouse_root):
    house = Lakehouse(root=str(lakehouse_root))
    house.write("t/x", _days("2011-01-29", "2011-01-30", "2011-01-31", "2011-02-01", "2011-02-02"), "d")
    window = Window(date(2011, 1, 30), date(2011, 2, 2))
    house.write("t/x", _days("2011-01-30", "2011-02-01", tag="b"), "d", window)

    got = house.read("t/x").sort("d")
    assert got.to_dicts() == [
        {"d": date(2011, 1, 29), "v": "a"},
        {"d": date(2011, 1, 30), "v": "b"},
        {"d": date(2011, 2, 1), "v": "b"},
        {"d": date(2011, 2, 2), "v": "a"},
    ]
    # Reading a window returns that window, whole, and hides the physical month column.
    assert house.read("t/x", "d", window).sort("d")["d"].to_list() == [date(2011, 1, 30), date(2011, 2, 1)]
    assert "_month" not in house.read("t/x").columns


def test_empty_range_write_empties_those_days_and_keeps_the_schema(lakehouse_root):
    house = Lakehouse(root=str(lakehouse_root))
    house.write("t/x", _days("2011-01-01", "2011-01-02"), "d")
    house.write("t/x", _days().head(0), "d", Window(date(2011, 1, 1), date(2011, 1, 2)))
    assert house.read("t/x")["d"].to_list() == [date(2011, 1, 2)]

    house.write("t/empty", _days().head(0), "d", Window(date(2011, 1, 1), date(2011, 1, 2)))
    assert house.exists("t/empty")
    assert house.read("t/empty").schema == pl.Schema({"d": pl.Date, "v": pl.String})


def test_rows_outside_the_window_are_refused(lakehouse_root):
    house = Lakehouse(root=str(lakehouse_root))
    with pytest.raises(ValueError, match="outside the partitions being written"):
        house.write("t/x", _days("2011-01-05"), "d", Window(date(2011, 1, 1), date(2011, 1, 2)))
    assert not house.exists("t/x")


def test_reading_a_table_that_was_never_written_says_so(lakehouse_root):
    with pytest.raises(MissingTableError, match="materialise it first"):
        Lakehouse(root=str(lakehouse_root)).scan("silver/nothing")


def test_rows_without_a_business_date_are_refused_too(lakehouse_root):
    house = Lakehouse(root=str(lakehouse_root))
    frame = pl.DataFrame({"d": [date(2011, 1, 1), None], "v": ["a", "b"]}, schema={"d": pl.Date, "v": pl.String})
    with pytest.raises(ValueError, match="1 rows .* empty or outside"):
        house.write("t/x", frame, "d", Window(date(2011, 1, 1), date(2011, 1, 2)))


def test_a_release_that_adds_a_column_evolves_a_daily_table_in_place(lakehouse_root):
    house = Lakehouse(root=str(lakehouse_root))
    house.write("t/x", _days("2011-01-01", "2011-01-02"), "d")
    newer = _days("2011-01-02", tag="b").with_columns(pl.lit(7, pl.Int64).alias("added"))
    house.write("t/x", newer, "d", Window(date(2011, 1, 2), date(2011, 1, 3)))
    got = house.read("t/x").sort("d")
    assert got.columns == ["d", "v", "added"]
    assert got["added"].to_list() == [None, 7]


def test_every_write_records_the_schema_version(lakehouse_root):
    from retail_pipeline.adapters.lakehouse import SCHEMA_VERSION

    house = Lakehouse(root=str(lakehouse_root))
    house.write("t/daily", _days("2011-01-01"), "d")
    house.write("t/whole", _days("2011-01-01"))
    assert house.schema_version("t/daily") == house.schema_version("t/whole") == SCHEMA_VERSION


def test_a_daily_table_from_another_major_version_is_refused_with_how_to_rebuild(lakehouse_root):
    from deltalake import CommitProperties, write_deltalake

    from retail_pipeline.adapters.lakehouse import VERSION_KEY, IncompatibleTableError

    house = Lakehouse(root=str(lakehouse_root))
    old = _days("2011-01-01").with_columns(pl.col("d").dt.truncate("1mo").alias("_month"))
    write_deltalake(
        house.uri("t/x"), old.to_arrow(), partition_by=["_month"],
        commit_properties=CommitProperties(custom_metadata={VERSION_KEY: "0.9"}),
    )
    with pytest.raises(IncompatibleTableError, match=r"schema version 0\.9 .* Rebuild it: delete .*t/x"):
        house.write("t/x", _days("2011-01-01", tag="b"), "d", Window(date(2011, 1, 1), date(2011, 1, 2)))
    assert house.read("t/x")["v"].to_list() == ["a"]  # untouched

    # A table from before versions were recorded, or from an older minor version, is evolved in place.
    write_deltalake(house.uri("t/y"), old.to_arrow(), partition_by=["_month"])
    house.write("t/y", _days("2011-01-01", tag="b"), "d", Window(date(2011, 1, 1), date(2011, 1, 2)))
    assert house.read("t/y")["v"].to_list() == ["b"]
