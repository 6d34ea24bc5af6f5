"""``/v1/tables`` (the catalogue) and ``/v1/tables/{layer}.{name}/rows`` (pages of any table, pinned to the
Delta version the first page read)."""

from __future__ import annotations

import json
from datetime import date

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as FastApiPath
from fastapi.responses import JSONResponse

from retail_pipeline.adapters.api_keys import ApiKey
from retail_pipeline.adapters.table_pages import PageRequest, VersionGone
from retail_pipeline.app.api.problems import KEYED, JsonBytes, Problem, documented, json_object
from retail_pipeline.app.api.security import require
from retail_pipeline.core import paging, tables
from retail_pipeline.core.preview import PERSONAL_COLUMNS

router = APIRouter(tags=["tables"])

BY_NAME = {f"{t.layer}.{t.name}": t for t in tables.TABLES}
PAGE_PARAMETERS = {"limit", "cursor", "columns", "from", "to"}


def _grain(table: tables.Table) -> str:
    doc = (table.contract.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split(":", 1)[-1].split())


def _table(name: str) -> tables.Table:
    table = BY_NAME.get(name)
    if table is None:
        raise Problem(404, f"no table {name!r}; tables: {', '.join(sorted(BY_NAME))}")
    return table


@router.get(
    "/v1/tables", summary="The catalogue: every table with its grain, columns, rows, version, last update",
    responses=documented(*KEYED),
)
def catalogue(request: Request, _: ApiKey = Depends(require("read"))):
    facts = {f.table.path: f for f in request.app.state.facts.all()}
    answer = []
    for name, table in BY_NAME.items():
        f = facts.get(table.path)
        descriptions = table.descriptions()
        answer.append(
            {
                "name": name,
                "grain": _grain(table),
                "written": f is not None,
                "rows": f.rows if f else 0,
                "version": f.version if f else None,
                "updated_at": f.updated_at.isoformat() if f else None,
                "page_key": list(paging.page_key(table)),
                "date_filter": paging.date_filter_column(table),
                "filters": list(paging.filter_columns(table)),
                "columns": [
                    {
                        "name": column,
                        "type": str(dtype),
                        "description": descriptions.get(column, ""),
                        "personal": column in PERSONAL_COLUMNS,
                    }
                    for column, dtype in table.schema.items()
                ],
            }
        )
    return JSONResponse({"tables": answer})


@router.get(
    "/v1/tables/{table}/rows",
    summary="A page of a table's rows in its key order; next_cursor resumes on the same Delta version",
    response_class=JsonBytes,
    responses={
        **json_object('{"table", "version", "limit", "rows": [...], "next_cursor": "..." or null}'),
        **documented(*KEYED, 400, 404, 410),
    },
)
def rows(
    request: Request,
    table: str = FastApiPath(
        description="layer.name, as /v1/tables lists them", json_schema_extra={"enum": sorted(BY_NAME)}
    ),
    limit: int = Query(1000, ge=1, description="rows per page; above RETAIL_API_PAGE_CAP (5,000) it is clamped"),
    cursor: str | None = Query(None, max_length=4096, description="next_cursor of the previous page"),
    columns: str | None = Query(None, max_length=4096, description="comma-separated columns (default: all)"),
    date_from: date | None = Query(None, alias="from", description="first date of the table's date column"),
    date_to: date | None = Query(None, alias="to", description="last date (inclusive)"),
    country: str | None = Query(None, description="equality filter, where the table has the column"),
    stock_code: str | None = Query(None, description="equality filter, where the table has the column"),
    invoice_no: str | None = Query(None, description="equality filter, where the table has the column"),
    customer_id: str | None = Query(None, description="equality filter (needs the pii scope)"),
    key: ApiKey = Depends(require("read")),
):
    state = request.app.state
    found = _table(table)
    personal = "pii" in key.scopes
    filters, seen = {}, set()
    for name, value in request.query_params.multi_items():
        if name in seen:
            raise Problem(400, f"give {name!r} once")
        seen.add(name)
        if name in PAGE_PARAMETERS:
            continue
        if name in PERSONAL_COLUMNS and not personal:
            raise Problem(403, f"filtering on {name} needs the pii scope")
        try:
            filters[name] = paging.typed_filter(found, name, value)
        except paging.RequestError as exc:
            raise Problem(400, str(exc)) from exc
    wanted = list(dict.fromkeys(c.strip() for c in columns.split(",") if c.strip())) if columns else None
    if (date_from or date_to) and paging.date_filter_column(found) is None:
        raise Problem(400, f"{table} has no date column to filter with from/to")
    if not state.facts.table(found):
        raise Problem(404, f"{table} has not been written yet: run `retail-pipeline run`")
    try:
        page = state.pages.page(
            PageRequest(found, min(limit, state.settings.api_page_cap), cursor, wanted, filters, date_from, date_to, personal)
        )
    except paging.RequestError as exc:
        raise Problem(400, str(exc)) from exc
    except VersionGone as exc:
        raise Problem(410, f"{exc}: page again from the start (without a cursor)") from exc
    body = (
        f'{{"table":{json.dumps(table)},"version":{page.version},"limit":{min(limit, state.settings.api_page_cap)},'
        f'"rows":{paging.rows_json(page.frame)},"next_cursor":{json.dumps(page.next_cursor)}}}'
    )
    return JsonBytes(body)
