"""``POST /v1/landing`` (scope ``upload``): a CSV or XLSX export into the landing zone, as a shop would drop it
there (``adapters/landing_uploads.py``: streamed to a part file, header checked, linked to its final name).
The landing sensor or the next ``retail-pipeline run`` lands it like any other file."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse

from retail_pipeline.adapters.lakehouse_state import read_manifest
from retail_pipeline.adapters.landing_uploads import Incoming, Received, UploadError
from retail_pipeline.app.api.problems import KEYED, Problem, documented
from retail_pipeline.app.api.security import require

router = APIRouter(tags=["landing"])

FIELD = "file"
# Multipart framing and small fields around the file: a body this much over the limit is not read at all.
FRAMING_BYTES = 64 * 1024
HEADER_BYTES = 16 * 1024
# After a refusal mid-body, this much more is read and dropped, so that the client reads the answer instead
# of a connection reset; a longer body is cut off.
DRAIN_BYTES = 64 * 2**20

_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {FIELD: {"type": "string", "format": "binary", "description": "a .csv or .xlsx export"}},
                "required": [FIELD],
            }
        }
    },
}
_CREATED = {
    201: {
        "description": "Stored (or already there: `duplicate`)",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"}, "sha256": {"type": "string"}, "size_bytes": {"type": "integer"},
                        "duplicate": {"type": "boolean"}, "detail": {"type": "string"},
                    },
                }
            }
        },
    }
}


class _Form:
    """The multipart body as it streams: the first part named ``file`` that carries a file name goes to an
    ``Incoming``; other fields are read and dropped."""

    def __init__(self, boundary: bytes, start):
        self._start, self.incoming, self.error = start, None, None
        self._headers: dict[bytes, bytes] = {}
        self._field = self._value = b""
        self._target = None
        self._files = 0
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": lambda data, start, end: self._add("_field", data[start:end]),
                "on_header_value": lambda data, start, end: self._add("_value", data[start:end]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._data,
            },
        )

    def _add(self, attr: str, data: bytes) -> None:
        value = getattr(self, attr) + data
        if len(value) > HEADER_BYTES and self.error is None:
            self.error = UploadError(400, f"a multipart part header is longer than {HEADER_BYTES} bytes")
        setattr(self, attr, value[:HEADER_BYTES])

    def _part_begin(self) -> None:
        self._headers, self._target = {}, None

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_finished(self) -> None:
        if self.error:
            return
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name, filename = options.get(b"name"), options.get(b"filename")
        if name != FIELD.encode() or filename is None:
            return
        self._files += 1
        if self._files > 1:
            self.error = UploadError(422, "one file per request: the body has more than one `file` part")
            return
        try:
            self.incoming = self._target = self._start(filename.decode("utf-8", "replace"))
        except UploadError as exc:
            self.error = exc

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._target is None or self.error:
            return
        try:
            self._target.write(data[start:end])
        except UploadError as exc:
            self.error = exc


@router.post(
    "/v1/landing",
    status_code=201,
    summary="Upload a file into the landing zone",
    openapi_extra={"requestBody": _BODY},
    responses={**_CREATED, **documented(400, 409, 413, 415, *KEYED, 507)},
)
async def upload(request: Request, _key=Depends(require("upload"))) -> JSONResponse:
    """Stores the multipart field `file` (a .csv or .xlsx export) in the landing zone under its own name made
    safe (a taken name gets `-2`, `-3`...). The header is checked before the file becomes visible: an unknown
    one is a 422 naming the missing columns. Bytes equal to a file already in the landing zone are not stored
    again (`duplicate`: true, `name`: that file). Larger than `RETAIL_API_MAX_UPLOAD_MB`: 413, nothing kept."""
    settings = request.app.state.settings
    limit = settings.api_max_upload_bytes
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise Problem(415, "send the file as multipart/form-data, in the field `file` (curl -F file=@export.csv)")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + FRAMING_BYTES:
        raise Problem(413, f"the body ({int(declared):,} bytes) is larger than RETAIL_API_MAX_UPLOAD_MB "
                      f"({settings.api_max_upload_mb} MiB)", {"Connection": "close"})

    root = request.app.state.landing_root
    form = _Form(boundary, lambda filename: Incoming(root, filename, limit))
    received: Received | None = None
    try:
        dropped = read = 0
        async for chunk in request.stream():
            read += len(chunk)
            if form.error is None and read > limit + FRAMING_BYTES:
                # Parts other than the file (dropped as they come) count too: the body as a whole is bounded.
                form.error = UploadError(413, f"the body is larger than RETAIL_API_MAX_UPLOAD_MB ({settings.api_max_upload_mb} MiB)")
            if form.error is None:
                form.parser.write(chunk)
            else:
                dropped += len(chunk)
                if dropped > DRAIN_BYTES:
                    break
        if form.error is None:
            form.parser.finalize()
        if form.error is not None:
            raise form.error
        if form.incoming is None:
            raise UploadError(422, "no file in the body: send it in the multipart field `file` with a file name")
        incoming, manifest = form.incoming, request.app.state.manifest
        received = await run_in_threadpool(lambda: incoming.finish(manifest()))
    except UploadError as exc:
        raise Problem(exc.status, exc.detail, {"Connection": "close"} if exc.status == 413 else None, **exc.extra) from exc
    except ClientDisconnect:
        raise Problem(400, "the client closed the connection before the whole file arrived: nothing was stored") from None
    except ValueError as exc:  # python-multipart's errors for a malformed body
        raise Problem(400, f"not a readable multipart body ({type(exc).__name__}: {str(exc)[:200]})") from exc
    finally:
        if form.incoming is not None and received is None:
            form.incoming.abort()
    detail = (
        f"these bytes are already in the landing zone as {received.name}: nothing was stored"
        if received.duplicate else "stored: the landing sensor or the next `retail-pipeline run` lands it"
    )
    return JSONResponse(
        {"name": received.name, "sha256": received.sha256, "size_bytes": received.size_bytes,
         "duplicate": received.duplicate, "detail": detail},
        status_code=201,
    )


def manifest_reader(lakehouse):
    """The landed files, or None before the first landing (nothing to compare with)."""

    def read():
        try:
            return read_manifest(lakehouse)
        except Exception:  # no manifest yet, or one being rewritten: duplicates are then found by hashing
            return None

    return read
