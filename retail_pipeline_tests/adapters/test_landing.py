"""Landing: reading shop exports and resolving the manifest (active, duplicate, missing, rejected)."""

import os
from datetime import date, datetime, timezone

import polars as pl
import pytest

from retail_pipeline.adapters.landing_zone import LandingZone, land
from retail_pipeline.core.contracts import LANDED_FILES, empty
from retail_pipeline.core.landing_files import LandingError, map_header, parse_csv, place_rows
from retail_pipeline_tests.conftest import write_csv

START, END = date(2010, 12, 1), date(2012, 1, 1)
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2026, 1, 2, tzinfo=timezone.utc)

DAY1 = ["536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom"]
DAY2 = ["536366,22633,HAND WARMER UNION JACK,6,12/2/2010 8:28,1.85,17850,United Kingdom"]


def by_path(manifest: pl.DataFrame) -> dict[str, dict]:
    return {row["path"]: row for row in manifest.iter_rows(named=True)}


def test_quoted_fields_cp1252_and_bom_are_read_as_found():
    body = (
        'InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n'
        '536365,85123A,"SET OF 3, ""SMALL"" £ TINS",6,12/1/2010 8:26,2.55,17850.0,EIRE\r\n'
    )
    cp1252 = parse_csv("a.csv", body.encode("cp1252"))
    bom = parse_csv("b.csv", b"\xef\xbb\xbf" + body.encode("utf-8"))
    for raw, encoding in ((cp1252, "cp1252"), (bom, "utf-8")):
        assert raw.format == f"csv/online_retail_i/{encoding}"
        row = raw.records.row(0, named=True)
        assert row["description"] == 'SET OF 3, "SMALL" £ TINS'
        assert row["customer_id"] == "17850.0"
        assert row["_source_row"] == 1


def test_variant_ii_header_is_mapped_and_extra_columns_are_kept_as_json():
    header = "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country,Channel"
    raw = parse_csv("ii.csv", f"{header}\n489434,85048,LED,12,2009-12-01 07:45:00,6.95,13085,France,web\n".encode())
    assert raw.format == "csv/online_retail_ii/utf-8"
    row = raw.records.row(0, named=True)
    assert (row["invoice_no"], row["unit_price"], row["customer_id"]) == ("489434", "6.95", "13085")
    assert row["_extra"] == '{"Channel":"web"}'


def test_unknown_header_names_the_missing_columns():
    with pytest.raises(LandingError, match=r"lacks columns \['UnitPrice'\]"):
        map_header(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "Cost", "CustomerID", "Country"])


def test_unplaceable_rows_go_to_the_earliest_placeable_date_of_their_file():
    records = pl.LazyFrame({"invoice_ts": ["12/3/2010 9:00", "not a date", "12/2/2010 9:00", "1/1/2031 9:00"]})
    placed = place_rows(records, START, END).collect()["_partition_date"].to_list()
    assert placed == [date(2010, 12, 3), date(2010, 12, 2), date(2010, 12, 2), date(2010, 12, 2)]


def test_manifest_resolves_active_duplicate_rejected_and_missing(landing):
    zone = LandingZone(root=str(landing))
    write_csv(landing / "day1.csv", DAY1)
    write_csv(landing / "copy_of_day1.csv", DAY1)  # byte-identical under another name
    write_csv(landing / "bad.csv", ["x,y"], header="foo,bar")
    write_csv(landing / "nodates.csv", ["1,2,3,4,someday,5,6,UK"])
    (landing / "upload.csv.part").write_text("still being written")
    (landing / ".hidden.csv").write_text("ignored")

    first = by_path(land(zone, empty(LANDED_FILES), START, END, T0))
    assert set(first) == {"day1.csv", "copy_of_day1.csv", "bad.csv", "nodates.csv"}
    # First seen at the same instant: the first path in order is the original.
    assert first["copy_of_day1.csv"]["status"] == "active"
    assert first["day1.csv"]["status"] == "duplicate"
    assert first["day1.csv"]["duplicate_of"] == "copy_of_day1.csv"
    assert first["bad.csv"]["status"] == "rejected"
    assert "bad.csv" in first["bad.csv"]["reason"] and "InvoiceNo" in first["bad.csv"]["reason"]
    assert first["nodates.csv"]["status"] == "rejected"
    assert "no row has a business date" in first["nodates.csv"]["reason"]
    assert first["copy_of_day1.csv"]["business_dates"] == [date(2010, 12, 1)]
    assert first["copy_of_day1.csv"]["rows"] == 1

    (landing / "copy_of_day1.csv").unlink()
    previous = pl.DataFrame(list(first.values()), schema=LANDED_FILES)
    second = by_path(land(zone, previous, START, END, T1))
    assert second["copy_of_day1.csv"]["status"] == "missing"
    assert second["day1.csv"]["status"] == "active"  # the surviving copy carries the content now
    assert second["day1.csv"]["first_seen"] == T0  # unchanged files keep what was learnt


def test_unchanged_files_are_not_read_again_and_changed_ones_are(landing, monkeypatch):
    zone = LandingZone(root=str(landing))
    write_csv(landing / "day1.csv", DAY1)
    first = land(zone, empty(LANDED_FILES), START, END, T0)

    reads: list[str] = []
    original = LandingZone.open
    monkeypatch.setattr(LandingZone, "open", lambda self, path: reads.append(path) or original(self, path))
    assert land(zone, first, START, END, T1).equals(first)
    assert reads == []

    write_csv(landing / "day1.csv", DAY2)
    stat = (landing / "day1.csv").stat()
    os.utime(landing / "day1.csv", (stat.st_atime, stat.st_mtime + 5))
    changed = by_path(land(zone, first, START, END, T1))["day1.csv"]
    assert reads == ["day1.csv"]
    assert changed["business_dates"] == [date(2010, 12, 2)]
    assert changed["sha256"] != first["sha256"][0]
    assert changed["first_seen"] == T1


@pytest.mark.parametrize("how", ["rewritten in place", "replaced by a new file"])
def test_a_file_changed_under_the_same_size_and_mtime_is_read_again(landing, tmp_path, how):
    """`cp -p` (rewrites the file, then restores its mtime) and `rsync -t` (writes a new file, renames it
    over the old one, restores the mtime) keep size and mtime; they cannot keep the ctime (nor, for rsync,
    the inode)."""
    zone = LandingZone(root=str(landing))
    path = landing / "day1.csv"
    write_csv(path, DAY1)
    first = land(zone, empty(LANDED_FILES), START, END, T0)
    stat = path.stat()
    same_size = [DAY1[0].replace("WHITE", "BLACK")]
    if how == "rewritten in place":
        write_csv(path, same_size)
    else:
        write_csv(tmp_path / "incoming.csv", same_size)
        os.replace(tmp_path / "incoming.csv", path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    again = by_path(land(zone, first, START, END, T1))["day1.csv"]
    assert again["sha256"] != first["sha256"][0]


def test_a_file_bronze_found_changed_is_read_again_whatever_its_stats_say():
    """Bronze reports a file whose bytes no longer match the manifest's sha256 in its build state; the next
    landing reads it again even where the file system kept every stat (a mount without ctime)."""
    from retail_pipeline.core.manifest import files_to_probe

    listing = pl.DataFrame(
        {"path": ["a.csv", "b.csv"], "size_bytes": [10, 20], "mtime": [T0, T0], "inode": [1, 2], "ctime": [T0, T0]},
        schema={n: LANDED_FILES[n] for n in ("path", "size_bytes", "mtime", "inode", "ctime")},
    )
    previous = listing.with_columns(
        pl.lit("active").alias("status"), pl.Series("sha256", ["a" * 64, "b" * 64])
    )
    assert files_to_probe(listing, previous) == []
    assert files_to_probe(listing, previous, changed={"b.csv": "c" * 64}) == ["b.csv"]
    # Once the manifest holds the version bronze saw, the report is done with.
    assert files_to_probe(listing, previous, changed={"b.csv": "b" * 64}) == []


def test_link_loops_and_unreadable_folders_are_named_not_a_crash(landing, monkeypatch):
    write_csv(landing / "day1.csv", DAY1)
    (landing / "a.csv").symlink_to(landing / "b.csv")
    (landing / "b.csv").symlink_to(landing / "a.csv")
    (landing / "lost+found").mkdir()
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("lost+found"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    manifest = by_path(land(LandingZone(root=str(landing)), empty(LANDED_FILES), START, END, T0))
    assert manifest["day1.csv"]["status"] == "active"
    assert {manifest[p]["status"] for p in ("a.csv", "b.csv", "lost+found")} == {"rejected"}
    assert "cannot be listed" in manifest["lost+found"]["reason"]


def test_a_file_the_csv_reader_chokes_on_is_rejected_alone(landing):
    """A lone CR inside an unquoted field of a file read line by line (it has a short record): the csv module
    raises; that file is rejected with a reason naming it, the others land."""
    write_csv(landing / "day1.csv", DAY1)
    (landing / "bad.csv").write_bytes(
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        b"536370,22728,ALARM\rCLOCK,24,12/1/2010 8:45,3.75,,France\n1,2,3\n"
    )
    manifest = by_path(land(LandingZone(root=str(landing)), empty(LANDED_FILES), START, END, T0))
    assert manifest["day1.csv"]["status"] == "active"
    bad = manifest["bad.csv"]
    assert bad["status"] == "rejected" and bad["reason"].startswith("bad.csv: ")


def test_a_file_back_after_being_missing_is_active_again(landing, tmp_path):
    zone = LandingZone(root=str(landing))
    write_csv(landing / "day1.csv", DAY1)
    first = land(zone, empty(LANDED_FILES), START, END, T0)
    (landing / "day1.csv").rename(tmp_path / "day1.csv")  # mv keeps size and mtime
    gone = land(zone, first, START, END, T1)
    assert gone["status"].to_list() == ["missing"]
    (tmp_path / "day1.csv").rename(landing / "day1.csv")
    back = land(zone, gone, START, END, T1).row(0, named=True)
    assert (back["status"], back["reason"], back["business_dates"]) == ("active", None, [date(2010, 12, 1)])


def test_identical_rejected_files_are_each_rejected_then_original_and_duplicate_once_placeable(landing):
    zone = LandingZone(root=str(landing))
    write_csv(landing / "b_copy.csv", DAY1)
    write_csv(landing / "a.csv", DAY1)
    # Read while their date was not placeable: both rejected with a reason, neither a duplicate of the other.
    early = land(zone, empty(LANDED_FILES), date(2011, 1, 1), date(2012, 1, 1), T0)
    assert early.select("status", "duplicate_of").rows() == [("rejected", None), ("rejected", None)]
    later = by_path(land(zone, early, START, END, T1))
    assert (later["a.csv"]["status"], later["b_copy.csv"]["status"]) == ("active", "duplicate")
    assert later["b_copy.csv"]["duplicate_of"] == "a.csv"


def test_rejection_for_dates_is_decided_again_when_the_partitions_move(landing):
    zone = LandingZone(root=str(landing))
    write_csv(landing / "day1.csv", DAY1)
    before = land(zone, empty(LANDED_FILES), date(2011, 1, 1), END, T0)
    assert before["status"].to_list() == ["rejected"]
    assert "no row has a business date in [2011-01-01, 2012-01-01)" in before["reason"][0]
    after = land(zone, before, START, END, T1).row(0, named=True)
    assert (after["status"], after["reason"]) == ("active", None)


def test_records_with_the_wrong_field_count_or_stray_quotes_are_kept_with_their_raw_text():
    body = "\r\n".join(
        [
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
            "536365,85123A,HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom",
            "536366,85123A,HEART,6,12/1/2010 8:26,2.55,United Kingdom",  # a field missing
            "536367,85123A,HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom,extra",  # one too many
            "",  # a blank line is not a record
            '536368,22633,12 PENCILS "SMALL TUBE,1,12/1/2010 9:00,0.65,,EIRE',  # a stray quote
            '536369,22633,"HAND WARMER, RED",1,12/1/2010 9:00,2.1,,EIRE',
        ]
    )
    raw = parse_csv("messy.csv", body.encode())
    rows = raw.records.rows(named=True)
    assert [r["_source_row"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["_field_count"] for r in rows] == [None, 7, 9, None, None]
    assert rows[1]["_raw_record"] == "536366,85123A,HEART,6,12/1/2010 8:26,2.55,United Kingdom"
    assert rows[1]["country"] is None and rows[1]["customer_id"] == "United Kingdom"
    assert rows[2]["country"] == "United Kingdom" and rows[2]["_raw_record"].endswith(",extra")
    assert rows[3]["description"] == '12 PENCILS "SMALL TUBE' and rows[3]["customer_id"] is None
    assert rows[4]["description"] == "HAND WARMER, RED"
    assert rows[0]["_raw_record"] is None


def test_well_formed_files_read_the_same_by_both_readers():
    body = (
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        '536365,85123A,"SET OF 3, ""SMALL"" TINS",6,12/1/2010 8:26,2.55,,United Kingdom\n'
        '536366,22633,"MULTI\nLINE",1,12/1/2010 9:00,0.65,17850.0,EIRE\n'
    )
    fast = parse_csv("a.csv", body.encode()).records
    from retail_pipeline.core.landing_files import read_records

    slow = read_records(body).rename({"InvoiceNo": "invoice_no"})
    assert fast["_field_count"].null_count() == fast.height
    assert fast["invoice_no"].to_list() == slow["invoice_no"].to_list()
    assert fast["description"].to_list() == slow["Description"].to_list() == ['SET OF 3, "SMALL" TINS', "MULTI\nLINE"]
    assert fast["customer_id"].to_list() == slow["CustomerID"].to_list() == [None, "17850.0"]


def _workbook(sheets: dict[str, list[list]]) -> bytes:
    import io
    from datetime import datetime as dt

    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf)
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, dt):
                    sheet.write_datetime(r, c, value, when)
                elif value is not None:
                    sheet.write(r, c, value)
    book.close()
    return buf.getvalue()


II = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]


def test_every_sheet_of_a_workbook_is_a_source_numbered_like_a_csv(landing):
    data = _workbook(
        {
            "Year 2009-2010": [
                II,
                ["489434", "85048", 'LED, "X"', 12, datetime(2010, 12, 1, 7, 45), 6.95, 13085.0, "United Kingdom"],
                [None] * 8,  # an empty row is not a record, but keeps the numbering of the rows after it
                ["C489449", "22087", "PAPER", -12, datetime(2010, 12, 1, 10, 33), 2.55, None, "Australia"],
            ],
            "Notes": [],
            "Year 2010-2011": [II, ["536365", "85123A", "HEART", 6, datetime(2010, 12, 2, 8, 26), 2.55, 17850, "EIRE"]],
        }
    )
    (landing / "online_retail_II.xlsx").write_bytes(data)
    raw = LandingZone(root=str(landing)).read("online_retail_II.xlsx")
    assert raw.format == "xlsx/online_retail_ii"
    rows = raw.records.select("_source_sheet", "_source_row", "invoice_no", "invoice_ts", "customer_id").rows()
    assert rows == [
        ("Year 2009-2010", 1, "489434", "2010-12-01 07:45:00", "13085"),
        ("Year 2009-2010", 3, "C489449", "2010-12-01 10:33:00", None),
        ("Year 2010-2011", 1, "536365", "2010-12-02 08:26:00", "17850"),
    ]
    manifest = land(LandingZone(root=str(landing)), empty(LANDED_FILES), START, END, T0).row(0, named=True)
    assert (manifest["status"], manifest["business_dates"]) == ("active", [date(2010, 12, 1), date(2010, 12, 2)])


def test_a_workbook_sheet_with_an_unknown_header_names_the_sheet(landing):
    (landing / "bad.xlsx").write_bytes(_workbook({"Sales": [["Invoice", "Sku"], ["1", "2"]]}))
    (landing / "not_a_workbook.xlsx").write_bytes(b"PK but not really")
    manifest = by_path(land(LandingZone(root=str(landing)), empty(LANDED_FILES), START, END, T0))
    assert manifest["bad.xlsx"]["status"] == "rejected"
    assert manifest["bad.xlsx"]["reason"].startswith("bad.xlsx: sheet 'Sales': unknown header")
    assert manifest["not_a_workbook.xlsx"]["reason"].startswith("not_a_workbook.xlsx: not a readable .xlsx workbook")


def test_a_manifest_from_an_older_release_is_upgraded_and_its_files_read_again(landing):
    from retail_pipeline.core.manifest import upgrade_manifest

    zone = LandingZone(root=str(landing))
    write_csv(landing / "day1.csv", DAY1, header=HEADER_WITH_CHANNEL)
    current = land(zone, empty(LANDED_FILES), START, END, T0)
    older = current.drop("extra_columns")  # as written before the column existed
    upgraded = land(zone, upgrade_manifest(older), START, END, T1).row(0, named=True)
    assert upgraded["extra_columns"] == ["Channel"]
    assert upgraded["first_seen"] == T0  # same content: still first seen then
    assert upgraded["status"] == "active"


HEADER_WITH_CHANNEL = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country,Channel"


def test_undecodable_bytes_do_not_reject_the_file_and_their_records_are_quarantined():
    from retail_pipeline.core.transforms.silver import REPLACEMENT

    body = (
        b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        b"536365,85123A,HEART \xa3,6,12/1/2010 8:26,2.55,17850,EIRE\n"  # cp1252 pound sign
        b"536366,85123A,BAD \x81 BYTE,6,12/1/2010 8:26,2.55,17850,EIRE\n"  # 0x81 means nothing in cp1252
    )
    raw = parse_csv("mixed.csv", body)
    assert raw.format == "csv/online_retail_i/cp1252-with-undecodable-bytes"
    assert raw.records["description"].to_list() == ["HEART £", f"BAD {REPLACEMENT} BYTE"]


def test_paths_that_resolve_outside_the_landing_zone_are_refused(landing, tmp_path):
    zone = LandingZone(root=str(landing))
    outside = write_csv(tmp_path / "elsewhere" / "secret.csv", DAY1)
    write_csv(landing / "day1.csv", DAY1[:1] + ["536366,21777,RECIPE BOX,4,12/1/2010 9:02,7.95,,EIRE"])
    (landing / "linked.csv").symlink_to(outside)
    (landing / "linked_dir").symlink_to(outside.parent, target_is_directory=True)
    inside = landing / "sub"
    inside.mkdir()
    (inside / "inner_link.csv").symlink_to(landing / "day1.csv")  # a link that stays inside is fine

    (landing / "sub_alias").symlink_to(inside, target_is_directory=True)  # a folder link that stays inside
    (inside / "loop").symlink_to(landing, target_is_directory=True)  # a link back up: no endless walk
    (landing / "dangling.csv").symlink_to(tmp_path / "gone.csv")

    manifest = by_path(land(zone, empty(LANDED_FILES), START, END, T0))
    assert manifest["day1.csv"]["status"] == "active"
    assert manifest["linked.csv"]["status"] == "rejected"
    assert "resolves outside the landing zone" in manifest["linked.csv"]["reason"]
    # The folder linked from elsewhere is one rejected entry, as the README says; none of its files lands.
    assert manifest["linked_dir"]["status"] == "rejected"
    assert "resolves outside the landing zone" in manifest["linked_dir"]["reason"]
    assert not [p for p in manifest if p.startswith("linked_dir/")]
    assert manifest["sub/inner_link.csv"]["status"] == "duplicate"  # same bytes as day1.csv
    assert manifest["sub_alias/inner_link.csv"]["status"] == "duplicate"  # the folder link inside is followed
    assert not [p for p in manifest if "loop/" in p]
    assert manifest["dangling.csv"]["status"] == "rejected"  # a broken link is named, not skipped
    with pytest.raises(LandingError, match="resolves outside the landing zone"):
        zone.read("../elsewhere/secret.csv")
