"""Staged records: the raw records of each landed CSV version, parsed once by the landing and kept as Parquet,
so that bronze reads only the row groups of its dates instead of parsing the whole export again in every run.

A cache, not a table: bronze parses the landing file itself (streamed, chunk by chunk) when a version is not
staged, and nothing but the landing writes here. One directory per file version, named by its sha256, written
under a temporary name and renamed when complete, so a reader sees a whole version or none. Versions no active
file has are deleted at each landing; ``forget-customer`` deletes them all (they hold what the landing files
hold, customer ids included). Where: ``<lakehouse>/_staging/records`` for a local lakehouse, beside its
warehouse for an object-store one (a local cache of the run's machine).
"""

import os
import shutil
import uuid
from pathlib import Path

import polars as pl

from retail_pipeline.settings import lakehouse_outputs

COMPLETE = "_complete"


def staging_root(lakehouse_root: str) -> Path:
    if "://" in lakehouse_root:
        return Path(lakehouse_outputs(lakehouse_root)[0]).parent / "staging" / "records"
    return Path(lakehouse_root) / "_staging" / "records"


class StagedRecords:
    """The staged versions of one lakehouse's landing files."""

    def __init__(self, lakehouse_root: str):
        self.root = staging_root(lakehouse_root)

    def path(self, sha256: str) -> Path:
        return self.root / sha256

    def has(self, sha256: str) -> bool:
        return (self.path(sha256) / COMPLETE).exists()

    def scan(self, sha256: str) -> pl.LazyFrame:
        return pl.scan_parquet(self.path(sha256) / "part-*.parquet")

    def writer(self) -> "StageWriter":
        return StageWriter(self)

    def prune(self, keep: set[str]) -> int:
        """Delete the versions not in ``keep`` (and what a writer that died left); how many were deleted."""
        if not self.root.is_dir():
            return 0
        gone = 0
        for entry in self.root.iterdir():
            if entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)
                gone += 1
        return gone

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class StageWriter:
    """Writes one version's records part by part; ``commit`` makes them visible at once, under the sha256
    known once the whole file is read."""

    def __init__(self, staged: StagedRecords):
        self.staged = staged
        self.tmp = staged.root / f".{uuid.uuid4().hex}.tmp"
        self.parts = 0

    def write(self, records: pl.DataFrame) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        # Row groups of ~128k rows: an export in date order gives each a narrow date range to skip by.
        records.write_parquet(self.tmp / f"part-{self.parts:05d}.parquet", row_group_size=131_072, statistics=True)
        self.parts += 1

    def commit(self, sha256: str) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        (self.tmp / COMPLETE).write_text(f"{self.parts}\n")
        final = self.staged.path(sha256)
        if final.exists():  # the same bytes staged before: identical content
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        os.replace(self.tmp, final)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
