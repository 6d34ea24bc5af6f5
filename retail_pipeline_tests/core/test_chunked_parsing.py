"""Property: a landing file parsed in chunks (as big exports are, to bound memory) reads exactly as it reads
in one piece: the same records with the same numbers and line spans, the same line counts, format and sha256,
or the same rejection. The chunks are made tiny here so that hostile files are cut in many places."""

import random

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retail_pipeline.core import landing_files
from retail_pipeline.core.landing_files import CsvStream, LandingError, parse_csv, safe_cut
from retail_pipeline_tests.core.test_properties import CORRUPTIONS, HEADER, corrupted_file, good_line, shop_file


def whole_and_chunked(data: bytes, chunk_bytes: int, block: int):
    """(whole parse, chunked parse), each a RawFile or the LandingError's message; the chunked one reads the
    file in blocks of ``block`` bytes, as the landing zone streams a file from disk."""
    outcomes = []
    for size, blocks in ((10**9, [data]), (chunk_bytes, [data[i : i + block] for i in range(0, len(data), block)] or [b""])):
        try:
            outcomes.append(CsvStream("shop.csv", blocks, size).raw())
        except LandingError as exc:
            outcomes.append(str(exc))
    return outcomes


def assert_same(whole, chunked) -> None:
    if isinstance(whole, str) or isinstance(chunked, str):
        assert whole == chunked
        return
    assert chunked.records.equals(whole.records), (whole.records, chunked.records)
    assert (chunked.sha256, chunked.format, chunked.lines, chunked.lines_outside_records, chunked.extra_columns) == (
        whole.sha256, whole.format, whole.lines, whole.lines_outside_records, whole.extra_columns
    )


@pytest.fixture
def short_spans(monkeypatch):
    """Records may span at most 3 lines: a cut needs only 4 quote-free line ends, so small files get many."""
    monkeypatch.setattr(landing_files, "MAX_RECORD_LINES", 3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.one_of(shop_file(), corrupted_file().map(lambda case: case[0])), chunk=st.integers(1, 400), block=st.integers(1, 97))
def test_a_hostile_file_reads_the_same_in_chunks(short_spans, data, chunk, block):
    assert_same(*whole_and_chunked(data, chunk, block))


@st.composite
def long_file(draw) -> bytes:
    """Hundreds of lines, a few quoted or corrupted (stray and unclosed quotes), some cp1252, CRLF or not."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    lines = []
    for _ in range(draw(st.integers(100, 600))):
        line = draw(good_line)
        if rng.random() < 0.04:
            line = rng.choice(CORRUPTIONS)(line)
        lines.append(line)
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return (newline.join([HEADER, *lines]) + newline).encode(draw(st.sampled_from(["utf-8", "cp1252"])))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=long_file(), chunk=st.integers(200, 8_000))
def test_a_long_file_reads_the_same_in_chunks_with_the_real_span_limit(data, chunk):
    whole, chunked = whole_and_chunked(data, chunk, 4096)
    assert_same(whole, chunked)


def test_a_cut_needs_the_span_limit_of_quote_free_lines_before_it():
    limit = landing_files.MAX_RECORD_LINES
    body = b"h\n" + b'"open\n' + b"x\n" * (limit - 1) + b"y\n" * 5
    assert safe_cut(body, 3) is None or body[: safe_cut(body, 3)].count(b"\n") - 1 > limit
    quiet = b"h\n" + b"x\n" * 10
    assert safe_cut(quiet, 5) == 6  # no quote at all: the first line end at or after the target
    assert safe_cut(b"no line end", 3) is None


def test_a_file_of_many_chunks_counts_every_line_once_and_an_unclosed_quote_takes_one_line():
    """A real-sized case: 120,000 lines in ~30 chunks, a cp1252 line and an unclosed quote in the middle."""
    lines = [f"5{i:05d},85123A,HEART,{i % 7 + 1},12/1/2010 8:26,2.55,17850,United Kingdom" for i in range(120_000)]
    lines[50_000] = lines[50_000].replace("HEART", "HE\u00a3RT")
    lines[80_000] = lines[80_000].replace(",HEART", ',"HEART')
    data = (HEADER + "\n" + "\n".join(lines) + "\n").encode("utf-8")
    data = data.replace("HE\u00a3RT".encode(), "HE\u00a3RT".encode("cp1252"))
    whole = parse_csv("big.csv", data)
    stream = CsvStream("big.csv", [data[i : i + 65_536] for i in range(0, len(data), 65_536)], 250_000)
    parts = list(stream.chunks())
    assert len(parts) > 20
    chunked = pl.concat(parts)
    assert chunked.equals(whole.records)
    assert (stream.lines, stream.lines_outside_records, stream.format) == (whole.lines, whole.lines_outside_records, whole.format)
    assert (whole.lines, whole.lines_outside_records, whole.format) == (120_001, 1, "csv/online_retail_i/cp1252")
    # The unclosed quote 40,000 lines before the end is one record alone: not the rest of the file in one field
    # (which the csv module refuses past 128 KiB: the whole file used to be rejected).
    unbalanced = whole.records.filter(pl.col("_unbalanced_quote"))
    assert unbalanced["_first_line"].to_list() == [80_002] and whole.records.height == 120_000
