"""Deterministic synthetic "UCI Online Retail" landing files.

``generate_landing`` writes one CSV per business day in the Online Retail I layout
(``InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country``) with the dirt the
real export carries and the pipeline must handle: cancellations (``C`` invoices, negative quantities), stock
write-offs (price 0, no customer), bad-debt adjustments (``A`` invoices), postage and other fee lines,
missing customers, ``17850.0``-style customer ids on some days, descriptions holding commas, quotes and
stray spaces, and exact duplicate lines written right after their original.

Everything is drawn with numpy and assembled with polars, a day at a time for the random draws and a
chunk of days at a time for the string columns, so 10M rows take seconds and bounded memory. The same
``(rows, seed, start, end)`` always gives byte-identical files.

Structure of the draw:

1. a product catalogue, a customer pool (each customer with one country) and per-day volumes;
2. the invoice plan for the whole range (kind, size, time, number, customer, country, fee), small
   enough to hold at once (about one entry per 20 lines);
3. per day, the lines of those invoices (products, quantities, prices) plus injected duplicates,
   then strings, then one CSV per day.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

__all__ = [
    "DEFAULT_END",
    "DEFAULT_ROWS",
    "DEFAULT_START",
    "FILE_PREFIX",
    "HEADER",
    "GenerateSummary",
    "generate_landing",
]

DEFAULT_ROWS = 541_909  # size of the real UCI Online Retail I dataset
DEFAULT_START = date(2010, 12, 1)
DEFAULT_END = date(2011, 12, 9)  # inclusive
HEADER = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
FILE_PREFIX = "online_retail_"


@dataclass(frozen=True)
class GenerateSummary:
    """What ``generate_landing`` wrote: the files (sorted by date), data lines in total, days written, wall time."""

    files: list[Path]
    rows: int
    days: int
    seconds: float


# --- rates (shares of data lines unless said otherwise) -------------------------------------------------------

_DUPLICATE_RATE = 0.01
_CANCEL_RATE = 0.02
_WRITE_OFF_RATE = 0.003
# Share of cancellation lines that are one-line fee credit notes (AMAZON FEE, Manual, Discount, ...).
_CANCEL_FEE_SHARE = 0.05
# The real file has 3 bad-debt adjustments in 541,909 lines; below this size we write none.
_ADJUSTMENTS_PER_ROW = 3 / DEFAULT_ROWS
_MIN_ROWS_FOR_ADJUSTMENT = 1_000
_FLOAT_CUSTOMER_DAY_SHARE = 0.5
_SUNDAY_FACTOR = 0.65

_FIRST_INVOICE = 536_365
# Invoice numbers stay 6 digits: when a huge row count would need more invoices than that leaves, sale
# invoices get longer instead (up to _MAX_SALE_MEAN lines on average, beyond which numbers reach 7 digits).
_INVOICE_CAPACITY = 999_999 - _FIRST_INVOICE + 1
_SALE_MEAN = 25.0  # gives ~20 lines per invoice overall once the short C / write-off invoices are counted
_MAX_SALE_MEAN = 400.0
_SALE_SIGMA = 0.9
_MAX_SALE_LINES = 600
_CANCEL_MEAN = 2.4
_MAX_CANCEL_LINES = 40

# Lines of random draws per string-building chunk: bounds peak memory whatever the row count.
_CHUNK_ROWS = 1_000_000

# Invoice kinds (int8 codes in the invoice plan).
_SALE, _CANCEL, _WRITE_OFF, _ADJUST, _CANCEL_FEE = range(5)
_INVOICE_PREFIX = ["", "C", "", "A", "C"]

# Month-of-year volume factors: a mild version of the real curve (Feb lowest, November peak).
_MONTH_FACTOR = {1: 0.85, 2: 0.75, 3: 0.9, 4: 0.82, 5: 0.92, 6: 0.92, 7: 0.95, 8: 0.92, 9: 1.15, 10: 1.3,
                 11: 1.55, 12: 1.2}
_WEEKDAY_FACTOR = {0: 1.0, 1: 1.1, 2: 1.1, 3: 1.2, 4: 0.9, 6: _SUNDAY_FACTOR}  # Monday=0; no Saturday
# Invoices per hour of day, 07:00-20:00, from the real file.
_HOUR_WEIGHTS = np.array([383, 8909, 34332, 49037, 57674, 78709, 72259, 67471, 77519, 54516, 28509, 7974, 3705, 871],
                         dtype=float)
_FIRST_HOUR = 7

# --- countries --------------------------------------------------------------------------------------------------

# (name, lines in the real file, customers in the real file). UK's weight is derived from _UK_SHARE.
_COUNTRIES = [
    ("United Kingdom", 0, 3950), ("Germany", 9495, 95), ("France", 8557, 87), ("EIRE", 8196, 3),
    ("Spain", 2533, 31), ("Netherlands", 2371, 9), ("Belgium", 2069, 25), ("Switzerland", 2002, 21),
    ("Portugal", 1519, 19), ("Australia", 1259, 9), ("Norway", 1086, 10), ("Italy", 803, 15),
    ("Channel Islands", 758, 9), ("Finland", 695, 12), ("Cyprus", 622, 8), ("Sweden", 462, 8),
    ("Unspecified", 446, 4), ("Austria", 401, 11), ("Denmark", 389, 9), ("Japan", 358, 8), ("Poland", 341, 6),
    ("Israel", 297, 4), ("USA", 291, 4), ("Hong Kong", 288, 1), ("Singapore", 229, 1), ("Iceland", 182, 1),
    ("Canada", 151, 4), ("Greece", 146, 4), ("Malta", 127, 2), ("United Arab Emirates", 68, 2),
    ("European Community", 61, 1), ("RSA", 58, 1), ("Lebanon", 45, 1), ("Lithuania", 35, 1), ("Brazil", 32, 1),
    ("Czech Republic", 30, 1), ("Bahrain", 19, 2), ("Saudi Arabia", 10, 1),
]
_UK = 0
_UK_SHARE = 0.89
# Floor on a country's share of invoices. Countries are dealt to invoices by systematic sampling, which
# gives each at least floor(invoices * share) invoices: with this floor every country appears from about
# 7,000 invoices (~150k rows) on, instead of by luck.
_MIN_COUNTRY_SHARE = 1.5e-4
_FIRST_CUSTOMER, _LAST_CUSTOMER = 12346, 18287
# Share of sale invoices without a customer: mostly UK web-shop orders in the real data.
_MISSING_CUSTOMER_UK = 0.27
_MISSING_CUSTOMER_ABROAD = 0.05

# --- product catalogue -------------------------------------------------------------------------------------------

_N_PRODUCTS = 4_000
_POPULARITY_OFFSET = 50.0  # Zipf-like 1/(rank + offset): top product ~0.45% of lines, as in the real file
_COMMA_SHARE, _QUOTE_SHARE, _STRAY_SPACE_SHARE = 0.03, 0.01, 0.05  # of product lines

_COLOURS = ["RED", "PINK", "BLUE", "GREEN", "WHITE", "IVORY", "BLACK", "CREAM", "PURPLE", "ORANGE", "YELLOW",
            "SILVER", "GOLD", "LILAC", "TURQUOISE", "NATURAL", "CHOCOLATE", "SKY BLUE", "MINT", "GREY"]
_MOTIFS = ["RETROSPOT", "HANGING HEART", "SPOTTY", "REGENCY", "PAISLEY", "DOLLY GIRL", "SPACEBOY", "WOODLAND",
           "SKULL", "VINTAGE", "VICTORIAN", "ENGLISH ROSE", "PARTY", "CHRISTMAS", "LOVE BIRD", "FLOWER",
           "POLKADOT", "ZINC", "ENAMEL", "GLASS", "WOODEN", "PAPER", "KNITTED", "FELTCRAFT", "ALPHABET",
           "STRAWBERRY", "CHERRY", "BUTTERFLY", "OWL", "RABBIT", "BAROQUE", "GINGHAM", "SCANDINAVIAN",
           "PANTRY", "JAM MAKING", "FRENCH", "SWEETHEART", "BIRDHOUSE", "LOVE", "MOROCCAN", "ORIENTAL", "PIRATE"]
_ITEMS = ["T-LIGHT HOLDER", "CAKE STAND", "LUNCH BOX", "JUMBO BAG", "TEA SET", "MUG", "CUSHION COVER",
          "PHOTO FRAME", "DOORMAT", "PARASOL", "ALARM CLOCK", "NAPKINS", "PAPER CHAIN KIT", "WATER BOTTLE",
          "HOT WATER BOTTLE", "CHARLOTTE BAG", "BUNTING", "LANTERN", "CANDLE", "PLATE", "BOWL", "MIRROR",
          "HOOK", "METAL SIGN", "HEART DECORATION", "STAR DECORATION", "BAUBLE", "WREATH", "PURSE", "NOTEBOOK",
          "PENCILS", "STICKERS", "GIFT WRAP", "TISSUES", "CAKE CASES", "BAKING SET", "CAKE TINS", "STORAGE JAR",
          "ORNAMENT", "DOORSTOP", "COAT RACK", "CABINET", "DRAWER KNOB", "BASKET", "STORAGE BOX", "TRAY",
          "TEAPOT", "EGG CUP", "TOAST RACK", "CHOPPING BOARD", "APRON", "OVEN GLOVE", "SHOPPER", "BACKPACK",
          "UMBRELLA", "PICNIC HAMPER", "CHALKBOARD", "GARLAND", "MAGNET", "KEYRING", "HAND WARMER", "SNACK BOXES"]
_SIZES = ["SMALL", "LARGE", "JUMBO", "MINI"]
_COMMA_TAILS = ["PANTRY DESIGN", "ASSORTED COLOURS", "RED/WHITE", "SET OF 2", "LARGE", "SMALL", "IN GIFT BOX",
                "VINTAGE DESIGN", "ASSORTED"]
_QUOTED_WORDS = ['"SMALL"', '"LARGE"', '"HAPPY BIRTHDAY"', '"LOVE"', '"VINTAGE"', '"HOME SWEET HOME"']
# Furniture and similar: the few catalogue items priced 20-300.
_EXPENSIVE_SHARE = 0.015

# Units per product line: mostly 1-12, bulk dozens sometimes (weights close to the real file's).
_QTY_VALUES = np.array([1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 25, 36, 48, 50, 72, 96, 100, 144, 200, 288])
_QTY_WEIGHTS = np.array([24, 14, 6.5, 7, 2, 7.5, 2.5, 4, 11, 1.5, 1.2, 4.5, 0.6, 1, 1.5, 0.4, 0.5, 0.6, 0.4, 0.5,
                         0.2, 0.1])
# Nobody buys a gross of cabinets: above this unit price, a line is a few units.
_BULK_PRICE_LIMIT = 8.0
_FEW_UNITS = np.array([1, 1, 1, 2, 2, 3, 4, 6])

# --- write-offs and adjustments ----------------------------------------------------------------------------------

# (description, weight); None is an empty field, as in the real file's NaN descriptions.
_WRITE_OFF_DESCRIPTIONS = [
    (None, 35), ("damaged", 12), ("wet damaged", 6), ("?", 8), ("check", 10), ("lost", 5), ("thrown away", 6),
    ("smashed", 4), ("missing", 4), ("Damaged", 4), ("mouldy, thrown away.", 2), ("wet pallet-thrown away", 2),
    ("wrong code?", 2),
]
_WRITE_OFF_ZERO_QTY = 0.12
_ADJUST_CODE, _ADJUST_DESCRIPTION = "B", "Adjust bad debt"


# --- fees ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fee:
    """A non-product line: stock code, description, quantities and a price rule (choices or log-normal)."""

    code: str
    description: str
    quantities: tuple[int, ...] = (1,)
    prices: tuple[float, ...] = ()
    lognormal: tuple[float, float, float, float] | None = None  # median, sigma, low, high

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        qty = rng.choice(np.array(self.quantities), size=n)
        if self.lognormal is None:
            price = rng.choice(np.array(self.prices, dtype=float), size=n)
        else:
            median, sigma, low, high = self.lognormal
            price = np.round(np.clip(rng.lognormal(math.log(median), sigma, n), low, high), 2)
        return qty, price


_DCGS = [("DCGS0003", "BOXED GLASS ASHTRAY"), ("DCGS0069", "OOH LA LA DOGS COLLAR"),
         ("DCGS0070", "CAMOUFLAGE DOG COLLAR"), ("DCGS0076", "SUNJAR LED NIGHT NIGHT LIGHT"),
         ("DCGSSBOY", "BOYS PARTY BAG"), ("DCGSSGIRL", "GIRLS PARTY BAG")]
_FEES = [
    _Fee("POST", "POSTAGE", (1, 1, 1, 2, 3, 4, 5, 6), prices=(18, 18, 18, 18, 15, 28, 40, 36, 54, 25)),
    _Fee("DOT", "DOTCOM POSTAGE", lognormal=(120.0, 0.8, 10.0, 1600.0)),
    _Fee("M", "Manual", (1, 1, 1, 2, 4, 6, 12), lognormal=(3.0, 1.6, 0.19, 3000.0)),
    _Fee("C2", "CARRIAGE", prices=(50, 50, 50, 40, 25)),
    _Fee("BANK CHARGES", "Bank Charges", prices=(15,)),
    _Fee("PADS", "PADS TO MATCH ALL CUSHIONS", prices=(0.001,)),
    _Fee("CRUK", "CRUK Commission", lognormal=(40.0, 1.0, 1.6, 1100.0)),
    _Fee("D", "Discount", lognormal=(20.0, 1.0, 0.5, 300.0)),
    _Fee("AMAZONFEE", "AMAZON FEE", lognormal=(1500.0, 1.2, 1.0, 17000.0)),
    *(_Fee(code, desc, (1, 1, 2), lognormal=(6.0, 0.5, 1.5, 20.0)) for code, desc in _DCGS),
    *(_Fee(f"gift_0001_{v}", f"Dotcomgiftshop Gift Voucher £{v}.00", prices=(round(v / 1.2, 2),))
      for v in (10, 20, 30, 40, 50)),
]
_FEE_INDEX = {fee.code: i for i, fee in enumerate(_FEES)}


def _fee_policy(weights: dict[str, float], always: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(fee indices, cumulative probabilities) for ``_pick_fee``; what is left to 1 means "no fee".

    ``always``: the weights are relative and some fee is always picked (the last bound is made infinite,
    so float rounding in the cumulative sum can never leave a fee invoice without its fee).
    """
    idx = np.array([_FEE_INDEX[code] for code in weights], dtype=np.int16)
    cum = np.cumsum(list(weights.values()))
    if always:
        cum = cum / cum[-1]
        cum[-1] = np.inf
    return idx, cum


def _spread(codes: list[str], total: float) -> dict[str, float]:
    return {code: total / len(codes) for code in codes}


# Which fee a sale invoice carries depends on who bought: postage abroad, dotcom postage for web-shop
# (no customer) orders, odds and ends otherwise. Tuned to ~0.5% of lines (~0.6% with the credit notes).
_FEES_ABROAD = _fee_policy({"POST": 0.6})
_FEES_NO_CUSTOMER = _fee_policy({"DOT": 0.15, **_spread([c for c, _ in _DCGS], 0.02),
                                 **_spread([f.code for f in _FEES if f.code.startswith("gift_")], 0.012)})
_FEES_UK_CUSTOMER = _fee_policy({"POST": 0.01, "M": 0.006, "C2": 0.004, "BANK CHARGES": 0.003, "PADS": 0.003})
# Credit-note fees (whole C invoices of one line): every such invoice has one.
_FEES_CREDIT = _fee_policy({"M": 0.48, "POST": 0.18, "D": 0.17, "AMAZONFEE": 0.08, "CRUK": 0.05,
                            "BANK CHARGES": 0.04}, always=True)
# Credit-note fees that the real file books against a customer (the others have none).
_CREDIT_FEES_WITH_CUSTOMER = {_FEE_INDEX["D"], _FEE_INDEX["CRUK"]}


def _pick_fee(policy: tuple[np.ndarray, np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    idx, cum = policy
    pick = np.searchsorted(cum, rng.random(n), side="right")
    return np.where(pick < len(idx), idx[np.minimum(pick, len(idx) - 1)], -1).astype(np.int16)


# --- public entry point ---------------------------------------------------------------------------------------------


def generate_landing(
    out_dir: Path | str,
    rows: int = DEFAULT_ROWS,
    seed: int = 42,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
) -> GenerateSummary:
    """Write ``rows`` synthetic Online Retail lines, one ``online_retail_YYYY-MM-DD.csv`` per business day.

    Business days are the calendar days of ``[start, end]`` except Saturdays. ``rows`` counts every data
    line written (injected duplicates included). When ``rows`` is smaller than the number of business days,
    days that draw no row get no file: a header-only file has no date the landing code could place.
    Existing files in ``out_dir`` are overwritten when their name is produced again and otherwise left alone.
    Each file is written under a hidden ``.part`` name and renamed, so a watcher never sees half a file.
    """
    started = time.perf_counter()
    if isinstance(rows, bool) or not isinstance(rows, int) or rows <= 0:
        raise ValueError(f"rows must be a positive integer, got {rows!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    days = _business_days(start, end)
    if not days:
        raise ValueError(f"no business day (every day but Saturday) between {start} and {end} inclusive")

    rng = np.random.default_rng([seed, 0])
    catalogue = _build_catalogue(rng)
    customers = _CustomerPool.build(rng)
    rows_per_day = _allocate(rows, _day_weights(days, rng))
    plan = _plan_invoices(days, rows_per_day, rng)
    plan.assign_parties(customers, rng)
    plan.assign_sale_fees(rng)
    float_customer_days = rng.random(len(days)) < _FLOAT_CUSTOMER_DAY_SHARE
    invoice_columns = _invoice_columns(plan, days, customers, float_customer_days)
    tables = _Tables.build(catalogue)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for chunk in _chunks(rows_per_day, _CHUNK_ROWS):
        files.extend(_write_chunk(out, chunk, days, plan, catalogue, tables, invoice_columns, seed))
    written = sum(int(n) for n in rows_per_day)
    assert written == rows, (written, rows)
    return GenerateSummary(files=files, rows=rows, days=len(files), seconds=time.perf_counter() - started)


# --- calendar and volumes -------------------------------------------------------------------------------------------


def _business_days(start: date, end: date) -> list[date]:
    # date.weekday(): Saturday is 5. The real shop never traded on Saturdays.
    n = (end - start).days + 1
    return [d for d in (start + timedelta(days=i) for i in range(max(n, 0))) if d.weekday() != 5]


def _day_weights(days: list[date], rng: np.random.Generator) -> np.ndarray:
    base = np.array([_MONTH_FACTOR[d.month] * _WEEKDAY_FACTOR[d.weekday()] for d in days])
    # Day-to-day noise so no two weeks look alike.
    return base * rng.lognormal(0.0, 0.2, len(days))


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder), at least 1 each
    when there are enough to go round."""
    n = len(weights)
    floor_each = 1 if total >= n else 0
    share = (total - floor_each * n) * weights / weights.sum()
    parts = np.floor(share).astype(np.int64)
    short = total - floor_each * n - int(parts.sum())
    # Ties broken by position (stable sort) so the split is deterministic.
    parts[np.argsort(-(share - parts), kind="stable")[:short]] += 1
    return parts + floor_each


def _chunks(rows_per_day: np.ndarray, target: int) -> list[range]:
    """Consecutive day ranges holding about ``target`` lines each (at least one day)."""
    chunks, first, acc = [], 0, 0
    for i, n in enumerate(rows_per_day):
        acc += int(n)
        if acc >= target:
            chunks.append(range(first, i + 1))
            first, acc = i + 1, 0
    if first < len(rows_per_day):
        chunks.append(range(first, len(rows_per_day)))
    return chunks


# --- catalogue and customers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalogue:
    codes: list[str]
    descriptions: list[str]
    prices: np.ndarray  # float64, 2 decimals
    cum_popularity: np.ndarray  # cumulative, for inverse-CDF draws

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        u = rng.random(n) * self.cum_popularity[-1]
        return np.minimum(np.searchsorted(self.cum_popularity, u, side="right"), len(self.codes) - 1).astype(
            np.int32
        )


def _build_catalogue(rng: np.random.Generator) -> _Catalogue:
    codes, descriptions = _product_names(rng)
    n = len(codes)
    popularity = 1.0 / (rng.permutation(n) + _POPULARITY_OFFSET)
    _add_description_dirt(descriptions, popularity, rng)
    return _Catalogue(codes, descriptions, _product_prices(n, rng), np.cumsum(popularity))


def _product_names(rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """~4,000 unique stock codes: 5-digit numbers, some sold in colours as ``85123A``, ``85123B``, ..."""
    bases = rng.choice(np.arange(10002, 90215), size=_N_PRODUCTS, replace=False)
    codes: list[str] = []
    descriptions: list[str] = []
    for base in bases:
        if len(codes) >= _N_PRODUCTS:
            break
        core = _core_description(rng)
        roll = rng.random()
        if roll < 0.08:  # a family of colour variants sharing the base number
            k = int(rng.integers(2, 5))
            for letter, colour in zip("ABCDE", rng.choice(_COLOURS, size=k, replace=False)):
                codes.append(f"{base}{letter}")
                descriptions.append(f"{colour} {core}")
        elif roll < 0.085:  # a few lower-case suffixes, as in the real file (``15056bl``)
            codes.append(f"{base}{rng.choice(['bl', 'n', 'p', 'gr', 'w'])}")
            descriptions.append(f"{rng.choice(_COLOURS)} {core}")
        else:
            codes.append(str(base))
            descriptions.append(core if rng.random() < 0.6 else f"{rng.choice(_COLOURS)} {core}")
    return codes[:_N_PRODUCTS], descriptions[:_N_PRODUCTS]


def _core_description(rng: np.random.Generator) -> str:
    item, motif = rng.choice(_ITEMS), rng.choice(_MOTIFS)
    roll = rng.random()
    if roll < 0.15:
        return f"SET OF {rng.choice([2, 3, 4, 6, 12])} {motif} {item}"
    if roll < 0.25:
        return f"{rng.choice(_SIZES)} {motif} {item}"
    return f"{motif} {item}"


def _add_description_dirt(descriptions: list[str], popularity: np.ndarray, rng: np.random.Generator) -> None:
    """Give commas, quotes and stray spaces to products chosen so that their share of *lines* hits the targets.

    Walking a random order of products and accumulating popularity makes the line shares right whatever the
    Zipf skew; the dirt stays a fixed property of each product, as descriptions are in the real catalogue.
    """
    order = rng.permutation(len(descriptions))
    cum = np.cumsum(popularity[order]) / popularity.sum()
    comma_end = _COMMA_SHARE
    quote_end = comma_end + _QUOTE_SHARE
    stray_end = quote_end + _STRAY_SPACE_SHARE
    for i, c in zip(order, cum):
        if c > stray_end:
            break
        text = descriptions[i]
        if c <= comma_end:
            descriptions[i] = f"{text}, {rng.choice(_COMMA_TAILS)}"
        elif c <= quote_end:
            first, _, rest = text.partition(" ")
            descriptions[i] = f"{first} {rng.choice(_QUOTED_WORDS)} {rest}".rstrip()
        else:
            kind = rng.integers(3)
            if kind == 0:
                descriptions[i] = " " + text
            elif kind == 1:
                descriptions[i] = text + " "
            else:
                descriptions[i] = text.replace(" ", "  ", 1) if " " in text else text + " "


def _product_prices(n: int, rng: np.random.Generator) -> np.ndarray:
    # Skewed: most items 0.29-15, a few furniture-like items 20-300.
    price = np.clip(rng.lognormal(math.log(2.0), 0.8, n), 0.19, 40.0)
    expensive = rng.random(n) < _EXPENSIVE_SHARE
    price[expensive] = np.exp(rng.uniform(math.log(20.0), math.log(300.0), int(expensive.sum())))
    cents = np.round(price * 100)
    # Shop prices end in 5 or 0 more often than not (2.55, 4.95, 12.75).
    snap = (cents >= 100) & (rng.random(n) < 0.7)
    cents[snap] = np.maximum(np.round(cents[snap] / 5) * 5, 5)
    return cents / 100


@dataclass(frozen=True)
class _CustomerPool:
    """Customer ids grouped by country, each with a fixed country and a Zipf-like order frequency."""

    ids: np.ndarray  # int32 customer ids, grouped by country
    cum: np.ndarray  # country index + within-country cumulative share, for vectorised draws
    country_share: np.ndarray  # invoice share of each country

    @staticmethod
    def build(rng: np.random.Generator) -> _CustomerPool:
        counts = np.array([c for _, _, c in _COUNTRIES])
        ids = rng.choice(np.arange(_FIRST_CUSTOMER, _LAST_CUSTOMER + 1), size=int(counts.sum()), replace=False)
        country = np.repeat(np.arange(len(_COUNTRIES)), counts)
        cum = np.empty(len(ids))
        start = 0
        for c, k in enumerate(counts):
            # A few wholesalers order far more often than the rest (as 14911 in EIRE or 17841 in the UK).
            w = 1.0 / (rng.permutation(k) + 2.0) ** 1.2
            part = np.cumsum(w) / w.sum()
            part[-1] = 1.0  # exact, so that c + u with u < 1 never falls into the next country
            cum[start : start + k] = c + part
            start += k
        assert (np.diff(country) >= 0).all()
        return _CustomerPool(ids.astype(np.int32), cum, _country_shares())

    def draw(self, country: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One customer (index into ``ids``) of each given country."""
        idx = np.searchsorted(self.cum, country + rng.random(len(country)), side="right")
        return np.minimum(idx, len(self.ids) - 1).astype(np.int32)


def _country_shares() -> np.ndarray:
    abroad = np.array([w for _, w, _ in _COUNTRIES[1:]], dtype=float)
    abroad = np.maximum(abroad / abroad.sum() * (1 - _UK_SHARE), _MIN_COUNTRY_SHARE)
    return np.concatenate([[1 - abroad.sum()], abroad])


def _systematic_labels(shares: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` category labels, each category getting floor or ceil of ``n * share``, in random order."""
    if n == 0:
        return np.zeros(0, dtype=np.int16)
    u = (np.arange(n) + rng.random()) / n
    labels = np.minimum(np.searchsorted(np.cumsum(shares), u, side="right"), len(shares) - 1)
    return rng.permutation(labels).astype(np.int16)


# --- invoice plan ---------------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """One entry per invoice, in invoice-number order (days in order, times non-decreasing within a day)."""

    day: np.ndarray  # int32 index into the business days
    kind: np.ndarray  # int8 _SALE ... _CANCEL_FEE
    size: np.ndarray  # int32 lines, duplicates excluded
    minute: np.ndarray  # int16 minute of the day
    fee: np.ndarray  # int16 index into _FEES or -1; a fee is the invoice's last line
    day_bounds: np.ndarray  # int64 [n_days + 1] first invoice of each day
    duplicates: np.ndarray  # int64 [n_days] duplicate lines to inject per day
    customer: np.ndarray | None = None  # int32 index into the customer pool or -1
    country: np.ndarray | None = None  # int16 index into _COUNTRIES

    def assign_parties(self, pool: _CustomerPool, rng: np.random.Generator) -> None:
        n = len(self.kind)
        country = np.full(n, _UK, dtype=np.int16)
        customer = np.full(n, -1, dtype=np.int32)
        # Sales and goods returns carry the country mix; write-offs, adjustments and fee credits are the
        # shop's own bookkeeping (UK, mostly no customer).
        trade = np.flatnonzero((self.kind == _SALE) | (self.kind == _CANCEL))
        country[trade] = _systematic_labels(pool.country_share, len(trade), rng)
        customer[trade] = pool.draw(country[trade], rng)
        missing_p = np.where(country == _UK, _MISSING_CUSTOMER_UK, _MISSING_CUSTOMER_ABROAD)
        customer[(self.kind == _SALE) & (rng.random(n) < missing_p)] = -1
        credited = np.flatnonzero((self.kind == _CANCEL_FEE) & np.isin(self.fee, list(_CREDIT_FEES_WITH_CUSTOMER)))
        customer[credited] = pool.draw(np.full(len(credited), _UK), rng)
        self.customer, self.country = customer, country

    def assign_sale_fees(self, rng: np.random.Generator) -> None:
        assert self.customer is not None and self.country is not None
        sale = self.kind == _SALE
        for mask, policy in (
            (sale & (self.customer >= 0) & (self.country != _UK), _FEES_ABROAD),
            (sale & (self.customer < 0), _FEES_NO_CUSTOMER),
            (sale & (self.customer >= 0) & (self.country == _UK), _FEES_UK_CUSTOMER),
        ):
            idx = np.flatnonzero(mask)
            self.fee[idx] = _pick_fee(policy, len(idx), rng)


def _sale_mean(rows: int, n_days: int) -> float:
    """Mean lines per sale invoice: ~25, more when needed to keep invoice numbers at 6 digits."""
    other = rows * (_CANCEL_RATE * ((1 - _CANCEL_FEE_SHARE) / _CANCEL_MEAN + _CANCEL_FEE_SHARE) + _WRITE_OFF_RATE)
    budget = 0.97 * _INVOICE_CAPACITY - other - 2 * n_days  # 2: the truncated last invoices of each day
    sale_lines = rows * (1 - _DUPLICATE_RATE - _WRITE_OFF_RATE - _CANCEL_RATE)
    if budget <= 0:
        return _MAX_SALE_MEAN
    return float(np.clip(sale_lines / budget, _SALE_MEAN, _MAX_SALE_MEAN))


def _split_lines(n: int, draw, mean: float) -> np.ndarray:
    """Invoice sizes drawn with ``draw(k)`` until they cover ``n`` lines; the last one is cut to fit."""
    if n <= 0:
        return np.zeros(0, dtype=np.int32)
    parts, total = [], 0
    while total < n:
        sizes = draw(int((n - total) / mean * 1.2) + 8)
        parts.append(sizes)
        total += int(sizes.sum())
    sizes = np.concatenate(parts).astype(np.int32)
    cum = np.cumsum(sizes)
    last = int(np.searchsorted(cum, n))
    sizes = sizes[: last + 1]
    sizes[last] -= int(cum[last]) - n
    return sizes


def _plan_invoices(days: list[date], rows_per_day: np.ndarray, rng: np.random.Generator) -> _Plan:
    rows = int(rows_per_day.sum())
    sale_mean = _sale_mean(rows, len(days))
    sale_mu = math.log(sale_mean - 0.5) - _SALE_SIGMA**2 / 2  # ceil() adds ~0.5 to a log-normal's mean

    def sale_sizes(k: int) -> np.ndarray:
        return np.minimum(np.ceil(rng.lognormal(sale_mu, _SALE_SIGMA, k)), _MAX_SALE_LINES)

    def cancel_sizes(k: int) -> np.ndarray:
        return np.minimum(rng.geometric(1 / _CANCEL_MEAN, k), _MAX_CANCEL_LINES)

    n_adjust = max(1, round(rows * _ADJUSTMENTS_PER_ROW)) if rows >= _MIN_ROWS_FOR_ADJUSTMENT else 0
    adjust_days = np.bincount(rng.choice(len(days), n_adjust, p=rows_per_day / rows), minlength=len(days))
    hour_p = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()

    kinds, sizes, minutes, fees, counts, duplicates = [], [], [], [], [], []
    for d, n_rows in enumerate(rows_per_day):
        n_rows = int(n_rows)
        dup = min(int(rng.binomial(n_rows, _DUPLICATE_RATE)), n_rows // 2)
        base = n_rows - dup
        adjust = min(int(adjust_days[d]), base)
        rest = base - adjust
        write_off = int(rng.binomial(rest, _WRITE_OFF_RATE))
        cancel = int(rng.binomial(rest - write_off, _CANCEL_RATE))
        credit_fee = int(rng.binomial(cancel, _CANCEL_FEE_SHARE))
        cancel -= credit_fee
        sale = rest - write_off - cancel - credit_fee
        day_sizes = [_split_lines(sale, sale_sizes, sale_mean), _split_lines(cancel, cancel_sizes, _CANCEL_MEAN),
                     np.ones(write_off + adjust + credit_fee, dtype=np.int32)]
        day_kinds = np.concatenate([
            np.full(len(day_sizes[0]), _SALE), np.full(len(day_sizes[1]), _CANCEL),
            np.full(write_off, _WRITE_OFF), np.full(adjust, _ADJUST), np.full(credit_fee, _CANCEL_FEE),
        ]).astype(np.int8)
        day_fees = np.full(len(day_kinds), -1, dtype=np.int16)
        day_fees[day_kinds == _CANCEL_FEE] = _pick_fee(_FEES_CREDIT, credit_fee, rng)
        k = len(day_kinds)
        day_minutes = (rng.choice(len(hour_p), k, p=hour_p) + _FIRST_HOUR) * 60 + rng.integers(0, 60, k)
        # Invoice numbers follow the clock: order the day's invoices by time before numbering.
        order = np.argsort(day_minutes, kind="stable")
        kinds.append(day_kinds[order])
        sizes.append(np.concatenate(day_sizes)[order])
        minutes.append(day_minutes[order].astype(np.int16))
        fees.append(day_fees[order])
        counts.append(k)
        duplicates.append(dup)

    return _Plan(
        day=np.repeat(np.arange(len(days), dtype=np.int32), counts),
        kind=np.concatenate(kinds),
        size=np.concatenate(sizes).astype(np.int32),
        minute=np.concatenate(minutes),
        fee=np.concatenate(fees),
        day_bounds=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        duplicates=np.array(duplicates, dtype=np.int64),
    )


def _invoice_columns(
    plan: _Plan, days: list[date], pool: _CustomerPool, float_customer_days: np.ndarray
) -> dict[str, pl.Series]:
    """The per-invoice string columns (InvoiceNo, InvoiceDate, CustomerID, Country), gathered per line later."""
    assert plan.customer is not None and plan.country is not None
    has_customer = plan.customer >= 0
    ids = np.where(has_customer, pool.ids[np.maximum(plan.customer, 0)], 0)
    frame = pl.DataFrame({
        "prefix": pl.Series(_INVOICE_PREFIX).gather(plan.kind.astype(np.int64)),
        "number": _FIRST_INVOICE + np.arange(len(plan.kind), dtype=np.int64),
        "day": pl.Series([f"{d.month}/{d.day}/{d.year} " for d in days]).gather(plan.day.astype(np.int64)),
        "hour": plan.minute // 60,
        "minute": plan.minute % 60,
        "customer": ids,
        "has_customer": has_customer,
        # Some exports wrote CustomerID through a float column: 17850.0.
        "float_id": float_customer_days[plan.day],
        "country": pl.Series([name for name, _, _ in _COUNTRIES]).gather(plan.country.astype(np.int64)),
    })
    cols = frame.select(
        pl.concat_str("prefix", pl.col("number").cast(pl.String)).alias("InvoiceNo"),
        pl.concat_str(
            "day", pl.col("hour").cast(pl.String), pl.lit(":"), pl.col("minute").cast(pl.String).str.zfill(2)
        ).alias("InvoiceDate"),
        pl.when("has_customer")
        .then(pl.col("customer").cast(pl.String) + pl.when("float_id").then(pl.lit(".0")).otherwise(pl.lit("")))
        .alias("CustomerID"),
        pl.col("country").alias("Country"),
    )
    return {name: cols[name] for name in cols.columns}


# --- lines ----------------------------------------------------------------------------------------------------------


@dataclass
class _Lines:
    invoice: np.ndarray  # int64 global invoice index
    code: np.ndarray  # int32 index into the stock-code table
    description: np.ndarray  # int32 index into the description table
    quantity: np.ndarray  # int64
    price: np.ndarray  # float64


@dataclass(frozen=True)
class _Tables:
    """Stock codes and descriptions of every line kind, so that a line only carries two small integers."""

    codes: pl.Series
    descriptions: pl.Series
    fee_offset: int
    write_off_offset: int
    adjust_code: int
    adjust_description: int

    @staticmethod
    def build(catalogue: _Catalogue) -> _Tables:
        n = len(catalogue.codes)
        write_off = [desc for desc, _ in _WRITE_OFF_DESCRIPTIONS]
        codes = [*catalogue.codes, *(f.code for f in _FEES), _ADJUST_CODE]
        descriptions = [*catalogue.descriptions, *(f.description for f in _FEES), *write_off, _ADJUST_DESCRIPTION]
        return _Tables(
            codes=pl.Series(codes, dtype=pl.String),
            descriptions=pl.Series(descriptions, dtype=pl.String),
            fee_offset=n,
            write_off_offset=n + len(_FEES),
            adjust_code=n + len(_FEES),
            adjust_description=n + len(_FEES) + len(write_off),
        )


def _day_lines(plan: _Plan, d: int, catalogue: _Catalogue, tables: _Tables, rng: np.random.Generator) -> _Lines:
    """The data lines of business day ``d``, in file order, duplicates included."""
    lo, hi = int(plan.day_bounds[d]), int(plan.day_bounds[d + 1])
    sizes, kinds, fees = plan.size[lo:hi], plan.kind[lo:hi], plan.fee[lo:hi]
    n = int(sizes.sum())
    inv = np.repeat(np.arange(hi - lo), sizes)
    pos = np.arange(n) - (np.cumsum(sizes) - sizes)[inv]
    kind, fee = kinds[inv], fees[inv]
    fee_line = (fee >= 0) & (pos == sizes[inv] - 1)
    product_line = ~fee_line & (kind <= _WRITE_OFF)

    # -1 marks "not yet assigned": every line kind below must fill both (checked before returning).
    code = np.full(n, -1, dtype=np.int32)
    desc = np.full(n, -1, dtype=np.int32)
    qty = np.empty(n, dtype=np.int64)
    price = np.empty(n, dtype=np.float64)

    idx = np.flatnonzero(product_line)
    product = _unique_products(inv[idx], catalogue, rng)
    code[idx] = desc[idx] = product
    price[idx] = catalogue.prices[product]
    qty[idx] = _quantities(price[idx], rng)
    qty[kind == _CANCEL] *= -1

    wo = np.flatnonzero(kind == _WRITE_OFF)
    weights = np.array([w for _, w in _WRITE_OFF_DESCRIPTIONS], dtype=float)
    desc[wo] = tables.write_off_offset + rng.choice(len(weights), len(wo), p=weights / weights.sum())
    price[wo] = 0.0
    lost = np.minimum(np.round(rng.lognormal(math.log(8.0), 1.1, len(wo))), 2000).astype(np.int64)
    qty[wo] = np.where(rng.random(len(wo)) < _WRITE_OFF_ZERO_QTY, 0, -np.maximum(lost, 1))

    for f in np.unique(fee[fee_line]).tolist():
        at = np.flatnonzero(fee_line & (fee == f))
        code[at] = desc[at] = tables.fee_offset + f
        qty[at], price[at] = _FEES[f].draw(len(at), rng)
        qty[at[kind[at] == _CANCEL_FEE]] *= -1

    adj = np.flatnonzero(kind == _ADJUST)
    code[adj], desc[adj], qty[adj] = tables.adjust_code, tables.adjust_description, 1
    price[adj] = np.round(np.clip(rng.lognormal(math.log(2000.0), 1.0, len(adj)), 50.0, 20000.0), 2)

    assert (code >= 0).all() and (desc >= 0).all(), "a line kind was left without stock code or description"

    # Scanner repeats: distinct lines written twice, the copy right after the original.
    repeat = np.ones(n, dtype=np.int64)
    repeat[rng.choice(n, int(plan.duplicates[d]), replace=False)] = 2
    order = np.repeat(np.arange(n), repeat)
    return _Lines(lo + inv[order], code[order], desc[order], qty[order], price[order])


def _unique_products(invoice: np.ndarray, catalogue: _Catalogue, rng: np.random.Generator) -> np.ndarray:
    """Popularity-weighted products, redrawn until no invoice holds the same product twice.

    Without this, two natural lines of one invoice could be identical, and injected duplicates would no
    longer be the only exact duplicates (which the pipeline's tests count).
    """
    product = catalogue.draw(len(invoice), rng)
    width = np.int64(len(catalogue.codes))
    while True:
        key = invoice.astype(np.int64) * width + product
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        clash = order[1:][sorted_key[1:] == sorted_key[:-1]]
        if clash.size == 0:
            return product
        product[clash] = catalogue.draw(clash.size, rng)


def _quantities(price: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    qty = rng.choice(_QTY_VALUES, size=len(price), p=_QTY_WEIGHTS / _QTY_WEIGHTS.sum())
    dear = price > _BULK_PRICE_LIMIT
    qty[dear] = rng.choice(_FEW_UNITS, size=int(dear.sum()))
    return qty.astype(np.int64)


# --- output ---------------------------------------------------------------------------------------------------------


def _write_chunk(
    out: Path,
    chunk: range,
    days: list[date],
    plan: _Plan,
    catalogue: _Catalogue,
    tables: _Tables,
    invoice_columns: dict[str, pl.Series],
    seed: int,
) -> list[Path]:
    # One random stream per day, keyed by its date: a day's lines do not depend on how days are chunked.
    parts = [_day_lines(plan, d, catalogue, tables, np.random.default_rng([seed, 1, days[d].toordinal()]))
             for d in chunk]
    lines = _Lines(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                     ("invoice", "code", "description", "quantity", "price")))
    frame = pl.DataFrame({
        "InvoiceNo": invoice_columns["InvoiceNo"].gather(lines.invoice),
        "StockCode": tables.codes.gather(lines.code),
        "Description": tables.descriptions.gather(lines.description),
        "Quantity": lines.quantity,
        "InvoiceDate": invoice_columns["InvoiceDate"].gather(lines.invoice),
        # Shortest round-trip float text minus a trailing ".0": 2.55, 0.85, 18, 0, 0.001.
        "UnitPrice": pl.Series(lines.price).cast(pl.String).str.strip_suffix(".0"),
        "CustomerID": invoice_columns["CustomerID"].gather(lines.invoice),
        "Country": invoice_columns["Country"].gather(lines.invoice),
    })
    assert frame.columns == HEADER

    files, offset = [], 0
    for d, part in zip(chunk, parts):
        n = len(part.invoice)
        if n == 0:
            continue
        path = out / f"{FILE_PREFIX}{days[d].isoformat()}.csv"
        tmp = out / f".{path.name}.part"  # hidden and .part: the landing scan ignores it until renamed
        frame.slice(offset, n).write_csv(tmp)
        os.replace(tmp, path)
        files.append(path)
        offset += n
    return files
