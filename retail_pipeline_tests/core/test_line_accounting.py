"""Line accounting (issue 15): every non-blank physical line of a landing file belongs to exactly one record,
whose span bronze keeps (``_first_line``, ``_last_line``, 1-based, the header being line 1); a quote that
never closes swallows no line; each line is decoded on its own (UTF-8, else cp1252, else quarantined)."""

from __future__ import annotations

import polars as pl
import pytest

from retail_pipeline.core.landing_files import parse_csv

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def good(n: int, description: str = "RECIPE BOX") -> str:
    return f"5366{n:02d},21777,{description},{n},12/1/2010 9:{n % 60:02d},7.95,13047,United Kingdom"


def spans(raw) -> list[tuple[int, int]]:
    return list(zip(raw.records["_first_line"].to_list(), raw.records["_last_line"].to_list(), strict=True))


def test_a_quote_that_never_closes_swallows_no_line():
    lines = [
        HEADER,
        good(1),
        good(2, '"SET OF 3, BLUE"'),
        '536303,22633,"12 PENCILS SMALL TUBE,3,12/1/2010 9:03,0.65,13047,EIRE',  # opened, never closed
        good(4),
        good(5, '"HAND WARMER, RED"'),  # its quotes would pair with the stray one
        *[good(n) for n in range(6, 40)],
    ]
    raw = parse_csv("stray.csv", ("\n".join(lines) + "\n").encode())
    records = raw.records
    assert records.height == len(lines) - 1
    assert spans(raw) == [(n, n) for n in range(2, len(lines) + 1)]
    assert records["_unbalanced_quote"].to_list() == [False, False, True] + [False] * (len(lines) - 4)
    broken = records.row(2, named=True)
    assert broken["_raw_record"] == lines[3]
    # Every other line is its own record, with its own values.
    assert records["invoice_no"].to_list()[3:] == [f"5366{n:02d}" for n in range(4, 40)]
    assert records["description"][4] == "HAND WARMER, RED"


def test_a_quoted_field_may_hold_a_line_break_and_blank_lines_are_not_records():
    body = "\r\n".join(
        [
            HEADER,
            good(1),
            "",  # line 3: blank
            '536302,21777,"RECIPE BOX',  # lines 4-5: one record (RFC 4180)
            'IN TWO LINES",2,12/1/2010 9:02,7.95,13047,United Kingdom',
            "   ",  # line 6: blank too
            good(3),
        ]
    ) + "\r\n"
    raw = parse_csv("multi.csv", body.encode())
    assert spans(raw) == [(2, 2), (4, 5), (7, 7)]
    assert raw.records["description"][1] == "RECIPE BOX\r\nIN TWO LINES" or raw.records["description"][1] == "RECIPE BOX\nIN TWO LINES"
    assert raw.records["_unbalanced_quote"].to_list() == [False, False, False]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_each_line_is_decoded_on_its_own(newline):
    lines = [HEADER.encode()] + [good(n).encode() for n in range(1, 6)]
    lines.insert(6, "536307,21777,CAFÉ AU LAIT BOWL,1,12/1/2010 9:07,2.95,13047,France".encode())  # line 7
    lines += [good(n).encode() for n in range(8, 11)]
    lines.insert(10, b"536311,22139,TEA SET \xa3 PRICE,1,12/1/2010 9:11,4.95,13047,United Kingdom")  # line 11: cp1252
    lines.append(b"536312,22139,BAD \x81 BYTE,1,12/1/2010 9:12,4.95,13047,United Kingdom")  # neither
    raw = parse_csv("mixed.csv", newline.encode().join(lines) + newline.encode())
    by_line = {first: row for first, row in zip(raw.records["_first_line"], raw.records.iter_rows(named=True), strict=True)}
    assert by_line[7]["description"] == "CAFÉ AU LAIT BOWL" and by_line[7]["_encoding"] == "utf-8"
    assert by_line[11]["description"] == "TEA SET £ PRICE" and by_line[11]["_encoding"] == "cp1252"
    assert by_line[12]["_encoding"] == "invalid"
    assert {row["_encoding"] for n, row in by_line.items() if n not in (11, 12)} == {"utf-8"}
    assert raw.format == "csv/online_retail_i/mixed-with-undecodable-bytes"


def test_classic_mac_line_ends_and_blank_lines_in_a_regular_file():
    raw = parse_csv("mac.csv", "\r".join([HEADER, good(1), "", good(3), good(4)]).encode() + b"\r")
    assert spans(raw) == [(2, 2), (4, 4), (5, 5)]
    assert raw.records["invoice_no"].to_list() == ["536601", "536603", "536604"]
    # A record whose fields are all empty is a line, not a blank: it is a record (silver quarantines it).
    everything_empty = parse_csv("empty.csv", "\n".join([HEADER, good(1), ",,,,,,,", good(3)]).encode())
    assert spans(everything_empty) == [(2, 2), (3, 3), (4, 4)]


# Blank means spaces and tabs only (and the line end): Python's str.strip() also strips the control
# characters 0x1C-0x1F, which are a line's content here.
BLANK = b" \t\r\n\f\v"


def physical_lines(body: bytes) -> list[bytes]:
    """The file's physical lines: ended by LF (a CR before it is part of the end), or by CR in a file without
    LF (classic Mac); a last line without an end counts, the end of the last line opens no new one."""
    end = b"\n" if b"\n" in body else b"\r"
    return body.split(end)[: -1 if body.endswith(end) else None]


def assert_lines_accounted(raw, body: bytes) -> None:
    """Every physical line is the header or a blank line (``lines_outside_records``) or in exactly one
    record's span, and every non-blank line after the header is in a span."""
    lines = physical_lines(body)
    assert raw.lines == len(lines)
    covered = [n for first, last in spans(raw) for n in range(first, last + 1)]
    assert len(covered) == len(set(covered)), "a line is in two records"
    assert len(covered) + raw.lines_outside_records == raw.lines
    header = next(n for n, line in enumerate(lines, 1) if line.strip(BLANK))
    outside = set(range(1, raw.lines + 1)) - set(covered)
    assert all(n <= header or not lines[n - 1].strip(BLANK) for n in outside), "a non-blank line is in no record"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(("\n".join([HEADER, good(1), good(2)]) + "\n").encode(), id="regular"),
        pytest.param("\n".join([HEADER, good(1), good(2)]).encode(), id="no-final-line-end"),
        pytest.param(("\r\n".join(["", "  ", HEADER, good(1), "", good(3), "", ""]) + "\r\n").encode(), id="blanks"),
        pytest.param(
            "\n".join([HEADER, good(1), '536302,21777,"RECIPE BOX', "", 'IN THREE LINES",2,12/1/2010 9:02,7.95,,EIRE', good(3)]).encode(),
            id="blank-line-inside-a-quoted-field",
        ),
        pytest.param(
            "\n".join([HEADER, good(1), '536303,22633,"12 PENCILS,3,12/1/2010 9:03,0.65,13047,EIRE', good(4), good(5, '"A, B"')]).encode(),
            id="stray-quote",
        ),
        pytest.param("\r".join([HEADER, good(1), "", good(3)]).encode() + b"\r", id="classic-mac"),
        pytest.param(
            b"\n".join([HEADER.encode(), good(1).encode(), b"536302,22139,TEA \xa3,1,12/1/2010 9:11,4.95,,EIRE", b"", b"1,2,3"]),
            id="cp1252-and-short",
        ),
    ],
)
def test_every_physical_line_is_the_header_a_blank_or_in_one_record(body):
    assert_lines_accounted(parse_csv("f.csv", body), body)


@pytest.mark.parametrize("odd", [b"\x1f", b"\x1c", b"  \x1e", b"\x1f536366,71053,LANTERN,6,12/1/2010 8:28,3.39,,EIRE"])
def test_a_line_of_control_characters_is_a_record_not_a_blank(odd):
    body = b"\n".join([HEADER.encode(), good(1).encode(), odd, good(3).encode()]) + b"\n"
    raw = parse_csv("odd.csv", body)
    assert_lines_accounted(raw, body)
    assert 3 in raw.records["_first_line"].to_list()


def test_a_workbook_counts_its_rows_as_lines():
    from retail_pipeline.core.landing_files import parse_xlsx
    from retail_pipeline_tests.adapters.test_landing import II, _workbook

    data = _workbook(
        {
            "A": [II, ["489434", "85048", "LED", 12, "12/1/2010 7:45", 6.95, 13085.0, "EIRE"], [None] * 8, ["1"] + [None] * 7],
            "Notes": [],
            "B": [II, ["536365", "85123A", "HEART", 6, "12/2/2010 8:26", 2.55, 17850, "EIRE"]],
        }
    )
    raw = parse_xlsx("book.xlsx", data)
    assert raw.lines == 4 + 2  # sheet A: header, two records, an empty row; sheet B: header, a record
    assert raw.lines_outside_records == 3
    assert raw.records.height + raw.lines_outside_records == raw.lines


def test_an_unclosed_quote_far_from_the_end_is_one_record_not_a_rejected_file():
    """The csv module took everything after a quote that never closes as one field and refused it past 128 KiB:
    one bad line in a real-sized export rejected the whole file."""
    lines = [f"5{i:05d},85123A,HEART,1,12/1/2010 8:26,2.55,17850,United Kingdom" for i in range(5_000)]
    lines[10] = lines[10].replace(",HEART", ',"HEART')
    body = (HEADER + "\n" + "\n".join(lines) + "\n").encode()
    raw = parse_csv("long.csv", body)
    assert raw.records.height == 5_000
    assert raw.records.filter(pl.col("_unbalanced_quote"))["_first_line"].to_list() == [12]
    assert_lines_accounted(raw, body)
