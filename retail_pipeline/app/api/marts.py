"""The gold marts as the warehouse file holds them: monthly KPIs, daily sales, a month's top products, and
one customer's RFM segment and features (``pii``). Each answer reads one whole warehouse version."""

from __future__ import annotations

import json
from datetime import date

from fastapi import APIRouter, Depends, Path, Query, Request

from retail_pipeline.adapters.warehouse_reader import WarehouseMissing
from retail_pipeline.app.api.problems import KEYED, JsonBytes, Problem, documented, json_object
from retail_pipeline.app.api.security import require
from retail_pipeline.core.erasure import normalise_id
from retail_pipeline.core.paging import rows_json

router = APIRouter(tags=["marts"])

TOP_PRODUCTS_CAP = 1000


def _answer(frame, **extra) -> str:
    head = "".join(f"{json.dumps(k)}:{json.dumps(v)}," for k, v in extra.items())
    return f'{{{head}"columns":{json.dumps(frame.columns)},"rows":{rows_json(frame)}}}'


def _warehouse(request: Request):
    reader = request.app.state.warehouse
    try:
        reader.check()
    except WarehouseMissing as exc:
        raise Problem(503, "the warehouse is not built yet: run `retail-pipeline run`") from exc
    return reader


@router.get("/v1/kpis/monthly", summary="The rows of gold/monthly_kpis, by month", response_class=JsonBytes, responses={**json_object(), **documented(*KEYED, 400)})
async def kpis_monthly(request: Request, _=Depends(require("read"))):
    # Async: the answer is kept per warehouse file (a dashboard polls it), so a request costs a `stat`; only
    # the first after a refresh queries DuckDB (a few ms, on the event loop).
    reader = _warehouse(request)
    body = reader.cached("kpis_monthly", lambda r: _answer(r.query("SELECT * FROM monthly_kpis ORDER BY month")))
    return JsonBytes(body)


@router.get("/v1/sales/daily", summary="gold/daily_sales: per business date and country", response_class=JsonBytes, responses={**json_object(), **documented(*KEYED, 400)})
def sales_daily(
    request: Request,
    date_from: date | None = Query(None, alias="from", description="first business date"),
    date_to: date | None = Query(None, alias="to", description="last business date (inclusive)"),
    country: str | None = Query(None, max_length=200, description="a country as the shop wrote it, or its ISO alpha-2 code"),
    _=Depends(require("read")),
):
    if date_from and date_to and date_from > date_to:
        raise Problem(400, f"from ({date_from}) is after to ({date_to})")
    where, params = ["TRUE"], []
    if date_from:
        where.append("invoice_date >= ?")
        params.append(date_from)
    if date_to:
        where.append("invoice_date <= ?")
        params.append(date_to)
    if country:
        where.append("(lower(country) = lower(?) OR country_iso2 = upper(?))")
        params += [country, country]
    frame = _warehouse(request).query(
        f"SELECT * FROM daily_sales WHERE {' AND '.join(where)} ORDER BY invoice_date, country", params
    )
    return JsonBytes(_answer(frame))


@router.get("/v1/products/top", summary="A month's products by revenue (gold/product_performance)", response_class=JsonBytes, responses={**json_object(), **documented(*KEYED, 400)})
def products_top(
    request: Request,
    month: str | None = Query(None, pattern=r"^[1-9]\d{3}-(0[1-9]|1[0-2])$", description="YYYY-MM (default: the latest month)"),
    limit: int = Query(10, ge=1, description=f"products (above {TOP_PRODUCTS_CAP}: clamped)"),
    _=Depends(require("read")),
):
    reader = _warehouse(request)
    if month is None:
        latest = reader.query("SELECT max(month) AS m FROM product_performance")["m"][0]
        if latest is None:
            return JsonBytes(_answer(reader.query("SELECT * FROM product_performance LIMIT 0"), month=None))
        first = latest
    else:
        try:
            first = date.fromisoformat(f"{month}-01")
        except ValueError as exc:  # year 0000
            raise Problem(422, f"month={month!r} is not a month like 2011-06") from exc
    frame = reader.query(
        "SELECT * FROM product_performance WHERE month = ? ORDER BY revenue_rank, stock_code LIMIT ?",
        [first, min(limit, TOP_PRODUCTS_CAP)],
    )
    return JsonBytes(_answer(frame, month=first.isoformat()[:7]))


@router.get(
    "/v1/customers/{customer_id}",
    summary="One customer's RFM segment and features (needs pii)",
    response_class=JsonBytes,
    responses={**json_object(), **documented(*KEYED, 400, 404)},
)
def customer(
    request: Request,
    customer_id: str = Path(max_length=64, pattern=r"^[^\s,\"]+$", description="the customer id (17850 or 17850.0)"),
    _=Depends(require("read", "pii")),
):
    try:
        normalised = normalise_id(customer_id)
    except ValueError as exc:
        raise Problem(400, str(exc).replace(repr(customer_id), "the id")) from exc
    reader = _warehouse(request)
    frame = reader.query(
        "SELECT r.*, d.country, d.country_iso2, d.cohort_month FROM customer_rfm r "
        "LEFT JOIN dim_customer d USING (customer_key) WHERE r.customer_id = ?",
        [normalised],
    )
    if frame.height == 0:
        raise Problem(404, "no customer with this id has a purchase in the lakehouse")
    return JsonBytes(rows_json(frame)[1:-1])
