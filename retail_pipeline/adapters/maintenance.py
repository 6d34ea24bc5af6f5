"""Table maintenance: compact small files, write a checkpoint, vacuum files no version needs any more.

Every run of a daily range rewrites the month files it touches, so a table collects small files (one per
month per run) and unreferenced old files (each overwrite leaves the previous ones on disk for time travel).
``maintain`` bounds both, per table, and says what it found and left: data files referenced by the current
version ("active") and data files stored (active plus those only older versions need). ``vacuum_all`` and
``purge_log`` go further for an erasure: no retention, and no Delta log entry of an old version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
from deltalake import CommitProperties

from retail_pipeline.adapters.lakehouse import VERSION_KEY, Lakehouse
from retail_pipeline.core import tables
from retail_pipeline.settings import DEFAULT_RETENTION_HOURS

# Files younger than this stay on vacuum: a reader (or a time-travel query) that started within the
# retention can still open the version it began with. Delta's own minimum default is 7 days.


@dataclass(frozen=True)
class Files:
    active: int
    active_bytes: int
    stored: int  # data files in storage, referenced or not
    stored_bytes: int | None  # None where storage is not a local directory (only counts are known)


@dataclass(frozen=True)
class Maintained:
    table: str
    before: Files
    after: Files
    files_compacted: int  # small files rewritten into larger ones
    files_vacuumed: int
    version: int

    def metadata(self) -> dict[str, int]:
        figures = {
            "files_active_before": self.before.active,
            "files_active_after": self.after.active,
            "files_stored_before": self.before.stored,
            "files_stored_after": self.after.stored,
            "bytes_active_before": self.before.active_bytes,
            "bytes_active_after": self.after.active_bytes,
            "files_compacted": self.files_compacted,
            "files_vacuumed": self.files_vacuumed,
            "delta_version": self.version,
        }
        if self.before.stored_bytes is not None and self.after.stored_bytes is not None:
            figures |= {"bytes_stored_before": self.before.stored_bytes, "bytes_stored_after": self.after.stored_bytes}
        return figures


def files(lakehouse: Lakehouse, name: str) -> Files:
    """What table ``name`` holds now: its current version's data files, and every data file in storage."""
    table = lakehouse.table(name)
    actions = pl.DataFrame(table.get_add_actions(flatten=True)).select("path", "size_bytes")
    active, active_bytes = actions.height, int(actions["size_bytes"].sum())
    if not lakehouse.remote:
        stored = [p for p in Path(lakehouse.uri(name)).rglob("*.parquet") if "_delta_log" not in p.parts]
        return Files(active, active_bytes, len(stored), sum(p.stat().st_size for p in stored))
    # On an object store, the files no version references are what a vacuum with no retention would delete.
    unreferenced = table.vacuum(retention_hours=0, dry_run=True, enforce_retention_duration=False)
    return Files(active, active_bytes, active + len(unreferenced), None)


def maintain(lakehouse: Lakehouse, table: str, retention_hours: int = DEFAULT_RETENTION_HOURS) -> Maintained:
    """Compact ``table``'s small files (per physical partition), checkpoint its log, and vacuum the data files
    that no version younger than ``retention_hours`` needs. The table's rows do not change."""
    before = files(lakehouse, table)
    dt = lakehouse.table(table)
    compacted = dt.optimize.compact()
    dt = lakehouse.table(table)
    dt.create_checkpoint()
    compacted_files = files(lakehouse, table)
    # Below Delta's 7-day minimum only because the user asked for it (RETAIL_VACUUM_RETENTION_HOURS).
    dt.vacuum(
        retention_hours=retention_hours,
        dry_run=False,
        enforce_retention_duration=retention_hours >= DEFAULT_RETENTION_HOURS,
    )
    dt.cleanup_metadata()  # log files older than the retention that the checkpoint made redundant
    after = files(lakehouse, table)
    return Maintained(
        table=table,
        before=before,
        after=after,
        files_compacted=int(compacted.get("numFilesRemoved", 0)),
        # Counted in storage: vacuum's own list also names files an earlier vacuum already deleted.
        files_vacuumed=compacted_files.stored - after.stored,
        version=lakehouse.version(table),
    )


# Delta's default log retention, restored after the log was purged.
DEFAULT_LOG_RETENTION = "interval 30 days"


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
    done = []
    for table in tables.catalogue():
        if not lakehouse.exists(table):
            continue
        result = maintain(lakehouse, table, retention_hours=0)
        purge_log(lakehouse, table)
        done.append(Vacuumed(table, result.files_vacuumed, result.after.stored - result.after.active))
    return done
