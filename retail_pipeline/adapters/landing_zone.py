"""The landing zone: the folder shops drop their exports into, and landing it (listing, reading the new or
changed files, resolving the manifest).

The landing zone is the source of truth (DESIGN.md "Landing"). Landing lists the files, reads only the ones
that are new or changed (by path, size, mtime, inode and ctime), and resolves each file's status (``core/manifest.py``).
"""

import os
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import polars as pl

from retail_pipeline.adapters.staging import StagedRecords
from retail_pipeline.core.contracts import LANDED_FILES
from retail_pipeline.core.landing_files import (
    BUSINESS_DATE,
    SUPPORTED_SUFFIXES,
    CsvStream,
    LandingError,
    RawFile,
    parse_xlsx,
    with_business_date,
)
from retail_pipeline.core.manifest import FINGERPRINT, files_to_probe, resolve_manifest
from retail_pipeline.settings import DEFAULT_LANDING

# Names that mean "still being written": the next listing will see the final name.
_IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload")


class LandingZone(dg.ConfigurableResource):
    """The folder shops drop their exports into (``RETAIL_LANDING_DIR``, default ``data/landing``)."""

    root: str = DEFAULT_LANDING

    def list_files(self) -> pl.DataFrame:
        """Every candidate file under the root: relative path, size, mtime, inode and ctime. Folder links
        are followed when they stay inside (not one back up to a folder above it); a folder link that leads
        elsewhere, a dangling link, a link loop and a folder that cannot be listed are each listed as one
        entry, which reading rejects with the reason."""
        rows = []
        for rel, file in _walk(Path(self.root)):
            try:
                stat = file.stat()
            except OSError:  # a dangling link or a link loop
                stat = file.lstat()
            rows.append(
                {
                    "path": rel.as_posix(),
                    "size_bytes": stat.st_size if _is_file(file) else 0,
                    "mtime": _utc(stat.st_mtime_ns),
                    "inode": stat.st_ino,
                    "ctime": _utc(stat.st_ctime_ns),
                }
            )
        return pl.DataFrame(rows, schema={n: LANDED_FILES[n] for n in FINGERPRINT}).sort("path")

    def fingerprint(self, path: str) -> dict | None:
        """``path``'s row of ``list_files`` now (None when it is gone): what the landing compares to tell a
        file changed without reading it."""
        file = Path(self.root) / path
        try:
            stat = file.stat()
        except OSError:
            return None
        return {
            "path": path, "size_bytes": stat.st_size, "mtime": _utc(stat.st_mtime_ns), "inode": stat.st_ino,
            "ctime": _utc(stat.st_ctime_ns),
        }

    def confined(self, path: str) -> Path:
        """``path`` under the root, refused if it resolves outside it (``..``, or a symlink to elsewhere): the
        landing zone is the one place the pipeline reads from."""
        root = Path(self.root).resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            raise LandingError(
                f"{path}: resolves outside the landing zone ({target}); refused. Copy the file into "
                f"{self.root} instead of linking to it"
            )
        return target

    def _readable(self, path: str) -> Path:
        """The file ``path`` names, checked: inside the root, a supported type, a readable file."""
        try:
            target = self.confined(path)  # first: a link elsewhere is refused as such, whatever its name
        except RuntimeError as exc:  # resolving a link loop (Python 3.11)
            raise LandingError(f"{path}: a symlink loop ({exc})") from exc
        if _is_dir(target):
            raise LandingError(f"{path}: a folder that cannot be listed (permissions?): its files cannot land")
        if not path.lower().endswith(SUPPORTED_SUFFIXES):
            raise LandingError(f"{path}: unsupported file type (expected {', '.join(SUPPORTED_SUFFIXES)})")
        if not _is_file(target):
            raise LandingError(f"{path}: not a readable file (a dangling link or a link loop?)")
        return target

    def open(self, path: str) -> "CsvStream | WholeFile":
        """One landing file's records, chunk by chunk (``chunks()``); once they are read, its sha256, format
        and line counts. A CSV is streamed from disk: memory follows a chunk, not the file. ``LandingError``
        (raised when opening or while reading) names the file and what is wrong."""
        target = self._readable(path)
        if path.lower().endswith(".xlsx"):
            try:
                return WholeFile(parse_xlsx(path, target.read_bytes()))
            except LandingError as exc:
                raise LandingError(f"{path}: {exc}") from exc
        return _Named(CsvStream(path, _blocks(target)), path)

    def read(self, path: str) -> RawFile:
        """The raw records of one landing file at once; ``LandingError`` names the file and what is wrong."""
        return self.open(path).raw()

    def probe(self, paths: list[str], staged: StagedRecords | None = None) -> pl.DataFrame:
        """What each file holds: sha256, format, rows and every business date it contains (whether or not
        inside the partitions' range), or why it cannot be read. Each file is read once, chunk by chunk; its
        records are staged in ``staged`` (when given) as they are read."""
        probes = []
        for path in paths:
            writer = None
            try:
                opened = self.open(path)
                dates, rows = set(), 0
                for chunk in opened.chunks():
                    chunk = with_business_date(chunk)
                    dates.update(chunk[BUSINESS_DATE].drop_nulls().unique().to_list())
                    rows += chunk.height
                    if staged is not None:
                        writer = writer or staged.writer()
                        writer.write(chunk)
            except (LandingError, OSError) as exc:
                if writer is not None:
                    writer.abort()
                probes.append({"path": path, "reason": str(exc)})
                continue
            if writer is not None:
                writer.commit(opened.sha256)
            probes.append(
                {
                    "path": path,
                    "sha256": opened.sha256,
                    "format": opened.format,
                    "extra_columns": list(opened.extra_columns),
                    "rows": rows,
                    "lines": opened.lines,
                    "lines_outside_records": opened.lines_outside_records,
                    "business_dates": sorted(dates),
                }
            )
        probed = (
            "path", "sha256", "format", "extra_columns", "rows", "lines", "lines_outside_records", "business_dates",
            "reason",
        )
        schema = {n: LANDED_FILES[n] for n in probed}
        return pl.DataFrame(probes, schema=schema)


BLOCK_BYTES = 16 * 2**20


def _blocks(target: Path):
    with target.open("rb") as handle:
        while block := handle.read(BLOCK_BYTES):
            yield block


class WholeFile:
    """A file read at once (a workbook), with the interface of ``CsvStream``."""

    def __init__(self, raw: RawFile):
        self._raw = raw
        self.sha256, self.format, self.extra_columns = raw.sha256, raw.format, raw.extra_columns
        self.lines, self.lines_outside_records = raw.lines, raw.lines_outside_records

    def chunks(self):
        yield self._raw.records

    def raw(self) -> RawFile:
        return self._raw


class _Named:
    """A ``CsvStream`` whose errors name its file."""

    def __init__(self, stream: CsvStream, path: str):
        self._stream, self._path = stream, path

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def chunks(self):
        try:
            yield from self._stream.chunks()
        except LandingError as exc:
            raise LandingError(f"{self._path}: {exc}") from exc

    def raw(self) -> RawFile:
        try:
            return self._stream.raw()
        except LandingError as exc:
            raise LandingError(f"{self._path}: {exc}") from exc


def _walk(root: Path):
    """(relative path, path) of every entry the landing lists, in no particular order (see ``list_files``)."""
    if not root.is_dir():
        return
    real_root = root.resolve()
    # Each folder with the real paths of the folders above it: a link to one of them would walk forever.
    folders = [(root, frozenset({real_root}))]
    while folders:
        folder, above = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            yield folder.relative_to(root), folder  # rejected when read: it cannot be listed
            continue
        for entry in entries:
            path = Path(entry.path)
            rel = path.relative_to(root)
            if _ignored(rel):
                continue
            try:
                is_folder = entry.is_dir(follow_symlinks=True)
            except OSError:  # a link loop: listed, and rejected when read
                yield rel, path
                continue
            if is_folder:
                real = path.resolve()
                if entry.is_symlink() and not real.is_relative_to(real_root):
                    yield rel, path  # rejected when read: it resolves outside the landing zone
                elif real not in above:
                    folders.append((path, above | {real}))
            elif entry.is_file(follow_symlinks=True) or entry.is_symlink():
                yield rel, path


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


def _ignored(rel: Path) -> bool:
    name = rel.name
    return (
        any(part.startswith(".") for part in rel.parts)
        or name.startswith("~$")
        or name.lower().endswith(_IN_PROGRESS_SUFFIXES)
    )


def _utc(ns: int) -> datetime:
    # Microseconds, as the manifest stores them: a float of seconds would round differently on the way back.
    return datetime.fromtimestamp(ns // 10**9, tz=timezone.utc) + timedelta(microseconds=ns // 1000 % 10**6)


def land(
    zone: LandingZone,
    previous: pl.DataFrame,
    start: date,
    end: date,
    now: datetime,
    changed: Mapping[str, str] | None = None,
    staged: StagedRecords | None = None,
) -> pl.DataFrame:
    """List the landing zone, read what is new or changed (and what bronze found changed: ``changed``),
    staging their records in ``staged``, and return the new manifest."""
    listing = zone.list_files()
    probes = zone.probe(files_to_probe(listing, previous, changed), staged)
    return resolve_manifest(listing, previous, probes, now, start, end)
