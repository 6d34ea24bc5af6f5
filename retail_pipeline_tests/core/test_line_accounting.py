"""Line accounting (issue 15): every non-blank physical line of a landing file belongs to exactly one record,
whose span bronze keeps (``_first_line``, ``_last_line``, 1-based, the header being line 1); a quote that
never closes swallows no line; each line is decoded on its own (UTF-8, else cp1252, else quarantined)."""

from __future__ import annotations

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
