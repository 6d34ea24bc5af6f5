"""Errors as ``application/problem+json`` (RFC 9457): a status, a title, a detail a user can act on, and the
request id; never a stack trace (an unexpected error becomes a 500 in ``observability.AccessLog``)."""

from __future__ import annotations

import json
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

MEDIA_TYPE = "application/problem+json"


class JsonBytes(Response):
    """A JSON answer the route has already serialised (polars writes the rows): documented as JSON."""

    media_type = "application/json"


_PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "instance": {"type": "string"}, "request_id": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}


def documented(*statuses: int) -> dict:
    """OpenAPI ``responses`` for these error statuses, each an ``application/problem+json`` body."""
    return {
        status: {"description": HTTPStatus(status).phrase, "content": {MEDIA_TYPE: {"schema": _PROBLEM_SCHEMA}}}
        for status in statuses
    }


def json_object(description: str = "Successful Response") -> dict:
    """The OpenAPI ``200`` of a route answering a JSON object it serialised itself (``JsonBytes``)."""
    return {200: {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}}


# What every keyed route may answer besides its own errors.
KEYED = (401, 403, 422, 429, 503)


class Problem(Exception):
    """An answer other than success, raised from a route."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None, **extra):
        super().__init__(detail)
        self.status, self.detail, self.headers, self.extra = status, detail, headers or {}, extra


def problem_response(request: Request | None, status: int, detail: str, headers: dict | None = None, **extra) -> Response:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **({"instance": request.url.path} if request is not None and status != 404 else {}),
        **({"request_id": request.state.request_id} if request is not None and hasattr(request.state, "request_id") else {}),
        **extra,
    }
    return Response(json.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _validation_detail(exc: RequestValidationError) -> tuple[str, list]:
    errors = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("query", "path", "body"))
        errors.append({"parameter": where, "message": error.get("msg", "invalid")})
    text = "; ".join(f"{e['parameter']}: {e['message']}" for e in errors) or "invalid request"
    return text, errors


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(request, exc.status, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.url.path}: see /docs for the routes"
        return problem_response(request, exc.status_code, detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        detail, errors = _validation_detail(exc)
        return problem_response(request, 422, detail, errors=errors)
