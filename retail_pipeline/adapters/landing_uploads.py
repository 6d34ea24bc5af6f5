"""Files received over HTTP into the landing zone (``POST /v1/landing``).

The bytes go to a name the landing never reads (``.upload-<id>.<suffix>.part``: hidden, and in progress),
the header is checked (a CSV's as soon as its first line has arrived, a workbook's once it is whole), then
the file is fsynced and hard-linked to its final name in one step, so a landing sensor tick sees either no
file or the whole one, never a part. The final name is the uploaded one made safe; a name already taken
gets ``-2``, ``-3``... (a link never replaces a file); bytes equal to a file already in the landing zone
are not stored twice: the answer names that file and says ``duplicate``.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import time
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from retail_pipeline.core.landing_files import (
    SUPPORTED_SUFFIXES,
    HeaderError,
    LandingError,
    csv_header_variant,
    xlsx_header_variants,
)

PART_PREFIX = ".upload-"
LOCK_NAME = ".uploads.lock"
# A CSV header line longer than this is not an export's header.
HEAD_BYTES = 1 << 20
# A part file older than this belongs to an upload whose server died: removed by the next upload.
STALE_PART_S = 24 * 3600
MAX_NAME_CHARS = 160


class UploadError(Exception):
    """An upload refused: ``status`` is the HTTP status to answer, ``extra`` fields of the problem."""

    def __init__(self, status: int, detail: str, **extra):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


@dataclass(frozen=True)
class Received:
    name: str  # the file's path in the landing zone
    sha256: str
    size_bytes: int
    duplicate: bool  # the bytes were already there, under ``name``: nothing was stored


def safe_name(filename: str) -> str:
    """The uploaded ``filename`` as a landing file name: its last path part, ASCII letters, digits, ``.``,
    ``-`` and ``_`` (anything else becomes ``_``), no leading dot (a hidden file never lands), a supported
    suffix in lower case. ``UploadError`` (415) for another type."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadError(
            415, f"{filename!r}: only {' and '.join(SUPPORTED_SUFFIXES)} files land (the name's suffix says which)"
        )
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-~$ ")[: MAX_NAME_CHARS] or "upload"
    return stem + suffix


def _candidates(name: str):
    stem, suffix = name[: -len(Path(name).suffix)], Path(name).suffix
    yield name
    for number in range(2, 10_000):
        yield f"{stem}-{number}{suffix}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class Incoming:
    """One upload being written into the landing zone at ``root``; ``write`` its bytes, then ``finish``
    (or ``abort``: nothing is left behind)."""

    def __init__(self, root: Path, filename: str, max_bytes: int):
        self.root, self.max_bytes = root, max_bytes
        self.name = safe_name(filename)
        self.csv = self.name.endswith(".csv")
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_parts(root)
        self.part = root / f"{PART_PREFIX}{uuid.uuid4().hex}{Path(self.name).suffix}.part"
        self._handle = self.part.open("xb")
        self._hasher = hashlib.sha256()
        self.size = 0
        self._head = b""
        self._checked = not self.csv

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise UploadError(413, f"the file is larger than RETAIL_API_MAX_UPLOAD_MB ({self.max_bytes // 2**20} MiB)")
        try:
            self._handle.write(data)
        except OSError as exc:
            raise UploadError(507 if exc.errno == errno.ENOSPC else 500, f"the landing zone cannot store the file ({exc.strerror})") from exc
        self._hasher.update(data)
        if not self._checked:
            self._head += data[: HEAD_BYTES - len(self._head)]
            if b"\n" in self._head.lstrip(b"\r\n \t") or len(self._head) >= HEAD_BYTES:
                self._check_csv()

    def _check_csv(self) -> None:
        self._checked = True
        try:
            csv_header_variant(self._head)
        except HeaderError as exc:
            raise UploadError(422, f"{self.name}: {exc}", missing_columns=exc.missing) from exc
        except LandingError as exc:
            raise UploadError(422, f"{self.name}: {exc}") from exc

    def abort(self) -> None:
        self._handle.close()
        self.part.unlink(missing_ok=True)

    def finish(self, manifest: pl.DataFrame | None = None) -> Received:
        """Check what is not yet checked, then make the file visible under its final name (or report the file
        already holding these bytes). ``manifest``: the landed files, whose sha256 spares hashing them again."""
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            if self.size == 0:
                raise UploadError(422, f"{self.name}: an empty file")
            if not self._checked:
                self._check_csv()
            if not self.csv:
                try:
                    xlsx_header_variants(self.part.read_bytes())
                except HeaderError as exc:
                    raise UploadError(422, f"{self.name}: {exc}", missing_columns=exc.missing) from exc
                except LandingError as exc:
                    raise UploadError(422, f"{self.name}: {exc}") from exc
            sha256 = self._hasher.hexdigest()
            with _locked(self.root):
                same = self._same_bytes(sha256, manifest)
                if same is not None:
                    return Received(same, sha256, self.size, duplicate=True)
                stored = self._publish()
            return Received(stored, sha256, self.size, duplicate=False)
        finally:
            self.part.unlink(missing_ok=True)

    def _same_bytes(self, sha256: str, manifest: pl.DataFrame | None) -> str | None:
        """The landing file that holds exactly these bytes, if one does: only files of the same size are
        looked at, and a landed one whose stats have not changed by its manifest sha256."""
        known: dict[str, tuple] = {}
        if manifest is not None and manifest.height:
            for path, size, inode, sha in manifest.select("path", "size_bytes", "inode", "sha256").iter_rows():
                known[path] = (size, inode, sha)
        for entry in sorted(self.root.rglob("*")):
            rel = entry.relative_to(self.root)
            if any(part.startswith(".") for part in rel.parts) or not entry.is_file() or entry.is_symlink():
                continue
            stat = entry.stat()
            if stat.st_size != self.size:
                continue
            landed = known.get(rel.as_posix())
            if landed and landed[0] == stat.st_size and landed[1] == stat.st_ino and landed[2]:
                if landed[2] == sha256:
                    return rel.as_posix()
            elif _sha256(entry) == sha256:
                return rel.as_posix()
        return None

    def _publish(self) -> str:
        for candidate in _candidates(self.name):
            target = self.root / candidate
            try:
                os.link(self.part, target)
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise
                # A file system without hard links: a rename under the uploads lock (which every upload takes;
                # a file copied in by hand under this very name at this very moment would be replaced).
                if target.exists():
                    continue
                os.rename(self.part, target)
            _fsync_folder(self.root)
            return candidate
        raise UploadError(409, f"{self.name}: every name up to {candidate} is taken in the landing zone")


class _locked:
    """The uploads' lock of a landing zone (a hidden file: never landed), held across the duplicate check
    and the link, so that two uploads of the same bytes store one file."""

    def __init__(self, root: Path):
        self.path = root / LOCK_NAME

    def __enter__(self):
        self.handle = self.path.open("a")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_parts(root: Path) -> None:
    cutoff = time.time() - STALE_PART_S
    for part in root.glob(f"{PART_PREFIX}*.part"):
        try:
            if part.stat().st_mtime < cutoff:
                part.unlink()
        except OSError:
            pass
