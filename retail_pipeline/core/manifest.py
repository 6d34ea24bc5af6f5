"""The manifest of the landing zone (``bronze/landed_files``): from what is listed now, what was landed
before and fresh probes of the changed files, each file's status:

- ``active``: its rows belong in bronze;
- ``duplicate``: byte-identical to an earlier file (any name); it adds nothing;
- ``missing``: it was landed once and is gone; its rows leave bronze when one of its dates is rebuilt;
- ``rejected``: it cannot be read as an Online Retail export; ``reason`` says why, nothing of it lands.

The manifest never claims rows are in bronze: bronze's own ``_file_sha256`` column says that.
"""

from collections.abc import Mapping
from datetime import date, datetime

import polars as pl

from retail_pipeline.core.contracts import LANDED_FILES, conform
from retail_pipeline.core.dates import Window

# What a listing knows of a file without reading it. Size and mtime alone miss a file rewritten by a tool that
# restores the mtime (cp -p, rsync -t); the ctime no tool can set, and a file replaced by rename has a new inode.
FINGERPRINT = ("path", "size_bytes", "mtime", "inode", "ctime")


def files_to_probe(listing: pl.DataFrame, previous: pl.DataFrame, changed: Mapping[str, str] | None = None) -> list[str]:
    """Paths that are new, back after being missing, or whose fingerprint changed since the last landing, and
    those bronze found changed (``changed``: path -> the sha256 it read) while the manifest still holds
    another version of them."""
    known = previous.filter(pl.col("status") != "missing")
    paths = set(listing.join(known.select(FINGERPRINT), on=list(FINGERPRINT), how="anti")["path"].to_list())
    if changed:
        landed = dict(known.select("path", "sha256").iter_rows())
        listed = set(listing["path"].to_list())
        paths |= {path for path, sha in changed.items() if path in listed and landed.get(path) != sha}
    return sorted(paths)


def resolve_manifest(
    listing: pl.DataFrame, previous: pl.DataFrame, probes: pl.DataFrame, now: datetime, start: date, end: date
) -> pl.DataFrame:
    """The new manifest from the files listed now, the previous manifest and fresh probes of changed files.

    Unchanged files keep what was learnt about them (and their ``first_seen``). Statuses are decided anew each
    time, so a file whose dates only now fall inside ``[start, end)`` becomes active: a file is rejected when
    it cannot be read, or when none of its dates is placeable. Among byte-identical readable files the first
    seen (then the first path) is ``active`` and the others are its duplicates; files that were landed and are
    gone are ``missing``.
    """
    carried = (
        "sha256", "format", "extra_columns", "rows", "lines", "lines_outside_records", "business_dates", "reason",
        "first_seen",
    )
    present = previous.filter(pl.col("status") != "missing")
    unchanged = (
        listing.join(present.select(*FINGERPRINT, *carried), on=list(FINGERPRINT), how="inner")
        .join(probes.select("path"), on="path", how="anti")  # read again although its stats did not move
    ).with_columns(
        # Only a read error is a fact about the file; a date-range rejection is re-decided below.
        pl.when(pl.col("business_dates").is_null()).then(pl.col("reason")).alias("reason")
    )
    # A file read again with the same content (touched, or re-read after an upgrade) keeps its first_seen.
    seen = present.select("path", "sha256", pl.col("first_seen").alias("_seen"))
    fresh = (
        listing.join(probes, on="path", how="inner")
        .join(seen, on=["path", "sha256"], how="left")
        .with_columns(pl.coalesce("_seen", pl.lit(now).cast(LANDED_FILES["first_seen"])).alias("first_seen"))
        .drop("_seen")
    )
    placeable = pl.col("business_dates").list.eval((pl.element() >= start) & (pl.element() < end)).list.any()
    no_dates = pl.format(
        "{}: no row has a business date in [{}, {}) that can be parsed",
        pl.col("path"),
        pl.lit(start.isoformat()),
        pl.lit(end.isoformat()),
    )
    current = (
        pl.concat([unchanged, fresh.select(unchanged.columns)], how="vertical_relaxed")
        .lazy()
        .with_columns(
            pl.when(pl.col("reason").is_null() & (pl.col("rows") > 0) & ~placeable)
            .then(no_dates)
            .otherwise(pl.col("reason"))
            .alias("reason"),
            pl.col("business_dates").list.min().alias("min_date"),
            pl.col("business_dates").list.max().alias("max_date"),
        )
        # The first seen readable copy of a content is the original; later copies are its duplicates.
        .sort(pl.col("reason").is_not_null(), "first_seen", "path")
        .with_columns(pl.col("path").first().over("sha256").alias("_original"))
        .with_columns(
            pl.when(pl.col("reason").is_not_null())
            .then(pl.lit("rejected"))
            .when(pl.col("_original") != pl.col("path"))
            .then(pl.lit("duplicate"))
            .otherwise(pl.lit("active"))
            .alias("status"),
        )
        .with_columns(
            pl.when(pl.col("status") == "duplicate").then(pl.col("_original")).alias("duplicate_of"),
        )
    )
    gone = (
        previous.lazy()
        .join(listing.lazy().select("path"), on="path", how="anti")
        .with_columns(
            pl.lit("missing").alias("status"),
            pl.lit(None, pl.String).alias("duplicate_of"),
            pl.lit("no longer in the landing zone").alias("reason"),
        )
    )
    return pl.concat([conform(current, LANDED_FILES), conform(gone, LANDED_FILES)]).sort("path").collect()


def upgrade_manifest(previous: pl.DataFrame) -> pl.DataFrame:
    """A manifest written by an older release, in today's schema. When columns were added, every file is
    read again (its mtime is forgotten) so the new columns are filled from the files, not left empty."""
    missing = [name for name in LANDED_FILES.names() if name not in previous.columns]
    if not missing:
        return previous
    return conform(
        previous.lazy().with_columns(
            *[pl.lit(None).cast(LANDED_FILES[name]).alias(name) for name in missing],
            pl.lit(None).cast(LANDED_FILES["mtime"]).alias("mtime"),
        ),
        LANDED_FILES,
    ).collect()


def active_files(manifest: pl.LazyFrame, window: Window) -> pl.DataFrame:
    """The active files holding at least one business date of ``window``: their fingerprint (path, size,
    mtime, inode, ctime), sha256 and format."""
    return (
        manifest.filter(pl.col("status") == "active")
        .filter(pl.col("business_dates").list.eval(window.expr(pl.element())).list.any())
        .select(*FINGERPRINT, "sha256", "format")
        .sort("path")
        .collect()
    )
