"""Countries: ISO 3166-1 reference rows (bronze/countries) and the shop-name lookup (silver/dim_country).

Offline by default: ISO codes and names come from ``pycountry``, the UN region (e.g. "Northern Europe") and
continent from the data file bundled with ``country_converter`` (both read by
``adapters/reference_bundles.py``); an opt-in REST-Countries-compatible API serves the same shape.

Shops do not write ISO names ("EIRE", "RSA", "USA", "Channel Islands"), so ``silver/dim_country`` is a
lookup keyed by a normalised name: every ISO name, official name, common name and code, plus an explicit
alias table (:data:`COUNTRY_ALIASES`) for the names shops use, including names that have no ISO code.
Join a transaction's country through :func:`normalise_country_key` to ``country_key``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from retail_pipeline.core.contracts import COUNTRIES, DIM_COUNTRY
from retail_pipeline.core.enrichment.payload import PayloadError

COUNTRY_SOURCE_BUNDLE = "bundle"
COUNTRY_SOURCE_API = "api"
# Tables written before the API clients existed called the bundle "iso_bundle".
LEGACY_SOURCES = {"iso_bundle": COUNTRY_SOURCE_BUNDLE}

# REST Countries' ``region`` is a continent; spell it as country_converter does, so the continent of a
# country does not change with the source.
API_CONTINENTS = {"Americas": "America", "Antarctic": "Antarctica"}
# The fields asked of REST Countries (its /all endpoint requires a list, at most 10).
RESTCOUNTRIES_FIELDS = "name,cca2,cca3,ccn3,region,subregion,currencies"


MATCH_ISO_NAME = "iso_name"
MATCH_ALIAS = "alias"
MATCH_NO_ISO = "no_iso"

# Names shops write that the ISO rows do not spell (or spell differently), mapped to ISO alpha-2.
# None means "a real value with no ISO code": its region/continent come from NO_ISO_REGIONS /
# NO_ISO_CONTINENTS. Keys are matched after normalise_country_key, so case and spacing do not matter.
# An alias wins over an ISO name that normalises to the same key: this table is the human decision.
COUNTRY_ALIASES: dict[str, str | None] = {
    # Names found in the UCI Online Retail (I and II) datasets.
    "EIRE": "IE",
    "RSA": "ZA",
    "USA": "US",
    "UK": "GB",
    "Great Britain": "GB",
    "Czech Republic": "CZ",  # ISO short name is "Czechia"
    "Korea": "KR",  # the shops mean South Korea; ISO says "Korea, Republic of"
    "Hong Kong": "HK",
    "Channel Islands": None,  # Jersey (JE) and Guernsey (GG) together: no single code
    "European Community": None,  # a bloc, not a country
    "Unspecified": None,
    "West Indies": None,  # several Caribbean states and territories
    # Other common shop spellings.
    "U.K.": "GB",
    "England": "GB",
    "Scotland": "GB",
    "Wales": "GB",
    "Northern Ireland": "GB",
    "U.S.A.": "US",
    "United States of America": "US",
    "Ireland (EIRE)": "IE",
    "Republic of Ireland": "IE",
    "South Africa (RSA)": "ZA",
    "Holland": "NL",
    "The Netherlands": "NL",
    "Russia": "RU",
    "Turkey": "TR",  # ISO short name is "Türkiye" since 2022
    "Czech Rep.": "CZ",
    "Republic of Korea": "KR",
    "Macau": "MO",
    "Ivory Coast": "CI",
    "Cote d'Ivoire": "CI",
    "Curacao": "CW",
    "Reunion": "RE",
    "UAE": "AE",
    "KSA": "SA",
}

# Region kept for the names without an ISO code (None: not known / not one region).
NO_ISO_REGIONS: dict[str, str | None] = {
    "Channel Islands": "Northern Europe",  # the UN M49 region of Jersey and Guernsey (coco agrees)
    "European Community": None,
    "Unspecified": None,
    "West Indies": "Caribbean",
}

# Continent for the names without an ISO code; "European Community" has no region but is in Europe.
# Continent names follow country_converter's ("America", not "North America").
NO_ISO_CONTINENTS: dict[str, str | None] = {
    "Channel Islands": "Europe",
    "European Community": "Europe",
    "Unspecified": None,
    "West Indies": "America",
}

# Which ISO field a key came from, most trusted first: when two ISO rows produce the same key, the one
# from the better field wins, then the smaller alpha-2 (deterministic; no such clash exists today).
_ISO_KEY_FIELDS: tuple[str, ...] = ("name", "common_name", "official_name", "alpha_3", "alpha_2")


def normalise_country_key(expr: pl.Expr) -> pl.Expr:
    """The lookup key of a country name: trimmed, internal whitespace collapsed to one space, lower-case."""
    return expr.str.strip_chars().str.replace_all(r"\s+", " ").str.to_lowercase()










def parse_restcountries(doc: Any) -> pl.DataFrame:
    """Validate a REST Countries ``/all`` document and return its countries in the bronze/countries columns
    that come from the payload (alpha_2 ... currencies). Raises :class:`PayloadError` on the first problem.

    Expected: a non-empty list of objects with ``cca2`` (2 letters), ``cca3`` (3 letters), ``name.common``,
    optional ``name.official``, ``ccn3`` (digits), ``region``, ``subregion``, ``currencies`` (object keyed
    by ISO 4217 code); codes unique.
    """
    if not isinstance(doc, list) or not doc:
        raise PayloadError("expected a non-empty JSON array of countries")

    def text(value: Any, what: str, i: int, required: bool = False) -> str | None:
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise PayloadError(f"country #{i}: {what} is {value!r}, expected text")
        return value.strip()

    # ~250 objects of a JSON document, not data rows.
    rows = []
    for i, item in enumerate(doc):
        if not isinstance(item, dict):
            raise PayloadError(f"country #{i} is not an object")
        name = item.get("name")
        if not isinstance(name, dict):
            raise PayloadError(f"country #{i}: name is {name!r}, expected an object")
        currencies = item.get("currencies") or {}
        if not isinstance(currencies, dict):
            raise PayloadError(f"country #{i}: currencies is not an object")
        continent = text(item.get("region"), "region", i)
        rows.append(
            {
                "alpha_2": text(item.get("cca2"), "cca2", i, required=True),
                "alpha_3": text(item.get("cca3"), "cca3", i, required=True),
                "numeric": text(item.get("ccn3"), "ccn3", i),
                "name": text(name.get("common"), "name.common", i, required=True),
                "official_name": text(name.get("official"), "name.official", i),
                "common_name": None,
                "un_region": text(item.get("subregion"), "subregion", i),
                "continent": API_CONTINENTS.get(continent, continent),
                "currencies": ",".join(sorted(currencies)) or None,
            }
        )
    frame = pl.DataFrame(rows, schema={c: COUNTRIES[c] for c in rows[0]})
    bad = frame.filter(
        ~pl.col("alpha_2").str.contains(r"^[A-Z]{2}$")
        | ~pl.col("alpha_3").str.contains(r"^[A-Z]{3}$")
        | ~pl.col("numeric").str.contains(r"^[0-9]{3}$").fill_null(True)
    )
    if bad.height:
        raise PayloadError(f"malformed codes: {bad.select('alpha_2', 'alpha_3', 'numeric').row(0)}")
    for code in ("alpha_2", "alpha_3"):
        repeated = frame.filter(pl.col(code).is_duplicated())[code].unique().sort().to_list()
        if repeated:
            raise PayloadError(f"{code} codes repeated: {repeated[:5]}")
    return frame.sort("alpha_2")


def restcountries_rows(
    countries: pl.DataFrame, *, source_name: str, payload_sha256: str, request_url: str, http_status: int,
    fetched_at: datetime,
) -> pl.DataFrame:
    """The bronze/countries rows of one validated API payload (plus ``_fetched_at``)."""
    return (
        countries.lazy()
        .with_columns(
            pl.lit(COUNTRY_SOURCE_API).alias("source"),
            pl.lit(source_name).alias("source_name"),
            pl.lit(payload_sha256).alias("payload_sha256"),
            pl.lit(request_url).alias("request_url"),
            pl.lit(http_status).alias("http_status"),
        )
        .select(pl.col(name).cast(dtype) for name, dtype in COUNTRIES.items())
        .with_columns(pl.lit(fetched_at).dt.cast_time_unit("us").dt.convert_time_zone("UTC").alias("_fetched_at"))
        .collect()
    )


def current_countries(countries: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """One row per alpha-2 code from bronze/countries, which keeps every payload ever fetched: an API row
    beats the bundle, and among API rows the latest fetch wins. A country the API has not served (or a whole
    API outage) keeps the bundle's row, so the dimension never shrinks because of a short answer."""
    lf = countries.lazy()
    names = lf.collect_schema().names()
    if "source" not in names:
        return lf
    fetched = [pl.col("_fetched_at")] if "_fetched_at" in names else []
    return (
        lf.with_columns(pl.col("source").replace(LEGACY_SOURCES))
        .with_columns((pl.col("source") != COUNTRY_SOURCE_API).alias("_not_api"))
        .sort([pl.col("alpha_2"), pl.col("_not_api"), *fetched], descending=[False, False, *[True] * len(fetched)])
        .unique(subset="alpha_2", keep="first", maintain_order=True)
        .drop("_not_api")
    )


def _alias_frames() -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(aliases to an ISO code, names with no ISO code) as small frames from the tables above."""
    coded = {name: iso2 for name, iso2 in COUNTRY_ALIASES.items() if iso2 is not None}
    no_iso = [name for name, iso2 in COUNTRY_ALIASES.items() if iso2 is None]
    # Names listed only in NO_ISO_REGIONS are no-ISO names too.
    no_iso += [name for name in NO_ISO_REGIONS if name not in COUNTRY_ALIASES]
    aliases = pl.LazyFrame(
        {"alias_name": list(coded), "alias_iso2": list(coded.values())},
        schema={"alias_name": pl.String, "alias_iso2": pl.String},
    )
    no_iso_frame = pl.LazyFrame(
        {
            "country_name": no_iso,
            "region": [NO_ISO_REGIONS.get(name) for name in no_iso],
            "continent": [NO_ISO_CONTINENTS.get(name) for name in no_iso],
        },
        schema={"country_name": pl.String, "region": pl.String, "continent": pl.String},
    )
    return aliases, no_iso_frame


def build_dim_country(countries: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """silver/dim_country: one row per normalised shop country name (``country_key``).

    ``countries`` is the bronze/countries shape (at least alpha_2, alpha_3, name, official_name,
    common_name, un_region, continent); with several rows per country, :func:`current_countries` picks one. Rows come from three places, and when several give the same key
    the first wins: ``alias`` and ``no_iso`` (the explicit tables), then ``iso_name`` (the ISO row's
    name, common name, official name, alpha-3, alpha-2, in that order, then the smaller alpha-2).

    Columns: country_key, country_iso2 (nullable), country_iso3 (nullable), country_name (ISO short name,
    or the shop's spelling for no-ISO names), region (UN region, nullable), continent (nullable),
    match ("iso_name" | "alias" | "no_iso"). Sorted by country_key.

    Raises ValueError if an alias points to an alpha-2 code that is not in ``countries``.
    """
    iso = current_countries(countries).select(
        "alpha_2", "alpha_3", "name", "official_name", "common_name", "un_region", "continent"
    )

    def iso_columns() -> list[pl.Expr]:
        return [
            pl.col("alpha_2").alias("country_iso2"),
            pl.col("alpha_3").alias("country_iso3"),
            pl.col("name").alias("country_name"),
            pl.col("un_region").alias("region"),
            pl.col("continent"),
        ]

    # Priority 0 for the explicit tables, 1.. for ISO fields in _ISO_KEY_FIELDS order.
    iso_keys = [
        iso.select(
            normalise_country_key(pl.col(field)).alias("country_key"),
            *iso_columns(),
            pl.lit(MATCH_ISO_NAME).alias("match"),
            pl.lit(rank, pl.Int32).alias("_priority"),
        )
        for rank, field in enumerate(_ISO_KEY_FIELDS, start=1)
    ]

    aliases, no_iso = _alias_frames()
    alias_keys = aliases.join(iso, left_on="alias_iso2", right_on="alpha_2", how="left").select(
        normalise_country_key(pl.col("alias_name")).alias("country_key"),
        # alias_iso2, not alpha_2: a target missing from `countries` keeps its code so it can be reported.
        pl.col("alias_iso2").alias("country_iso2"),
        pl.col("alpha_3").alias("country_iso3"),
        pl.col("name").alias("country_name"),
        pl.col("un_region").alias("region"),
        pl.col("continent"),
        pl.lit(MATCH_ALIAS).alias("match"),
        pl.lit(0, pl.Int32).alias("_priority"),
    )
    no_iso_keys = no_iso.select(
        normalise_country_key(pl.col("country_name")).alias("country_key"),
        pl.lit(None, pl.String).alias("country_iso2"),
        pl.lit(None, pl.String).alias("country_iso3"),
        "country_name",
        "region",
        "continent",
        pl.lit(MATCH_NO_ISO).alias("match"),
        pl.lit(0, pl.Int32).alias("_priority"),
    )

    dim = (
        pl.concat([alias_keys, no_iso_keys, *iso_keys], how="vertical_relaxed")
        .filter(pl.col("country_key").is_not_null() & (pl.col("country_key") != ""))
        # Sorting on every output column makes the survivor deterministic even if `countries` holds
        # near-duplicate rows (e.g. the same code from two sources).
        .sort(
            "country_key", "_priority", "country_iso2", "country_iso3", "country_name", "region", "continent",
            nulls_last=True,
        )
        .unique(subset="country_key", keep="first", maintain_order=True)
        .select(pl.col(name).cast(dtype) for name, dtype in DIM_COUNTRY.items())
        .collect()
    )

    dangling = dim.filter((pl.col("match") == MATCH_ALIAS) & pl.col("country_iso3").is_null())
    if dangling.height:
        pairs = dangling.select(pl.format("{} -> {}", "country_key", "country_iso2")).to_series().to_list()
        raise ValueError(f"country aliases point to codes missing from the countries table: {pairs}")
    return dim
