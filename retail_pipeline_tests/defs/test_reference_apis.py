"""Reference data from HTTP APIs: payload validation, what is fetched, and whole pipeline runs against the
test server on 127.0.0.1 (API served, API down, API key kept secret, `retail-pipeline run` with the server
stopped mid-run)."""

import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.adapters.reference_apis import FxApi
from retail_pipeline.adapters.reference_bundles import read_bundled_countries, read_bundled_ecb_rates
from retail_pipeline.app.runner import run_pipeline
from retail_pipeline.core.enrichment.countries import current_countries, parse_restcountries
from retail_pipeline.core.enrichment.fx import missing_ranges, needed_range, parse_frankfurter
from retail_pipeline.core.enrichment.payload import PayloadError
from retail_pipeline.settings import Settings, SettingsError
from retail_pipeline_tests.api_server import ApiServer, Fault, frankfurter_document, restcountries_document
from retail_pipeline_tests.app.test_pipeline import snapshot, write_days
from retail_pipeline_tests.conftest import write_csv

FAST = {  # small timeouts and waits, so fault runs take seconds
    "RETAIL_API_RETRIES": "1",
    "RETAIL_API_BACKOFF_BASE_S": "0.05",
    "RETAIL_API_READ_TIMEOUT_S": "2",
    "RETAIL_API_CONNECT_TIMEOUT_S": "1",
    "RETAIL_API_BREAKER_FAILURES": "2",
    "RETAIL_API_REQUESTS_PER_SECOND": "100",
    "RETAIL_COUNTRIES_API_REFRESH_HOURS": "24",
}


@pytest.fixture
def server():
    with ApiServer() as s:
        yield s


@pytest.fixture
def api_env(server, monkeypatch):
    """Point both APIs at the test server (as a user would, through the environment)."""
    for name, value in {**FAST, "RETAIL_FX_API_URL": server.url("fx"),
                        "RETAIL_COUNTRIES_API_URL": server.url("countries")}.items():
        monkeypatch.setenv(name, value)
    return server


def run(landing: Path, lake: Path, lines: list[str] | None = None, marts: bool = True):
    say = (lines.append if lines is not None else lambda _: None)
    return run_pipeline(str(landing), str(lake), dg.DagsterInstance.ephemeral(), say=say, marts=marts)


# --- payloads ------------------------------------------------------------------------------------------


def test_frankfurter_payload_starting_on_a_weekend_is_accepted():
    start, end = date(2011, 1, 1), date(2011, 1, 9)  # Saturday .. Sunday: the API starts on Friday 2010-12-31
    doc = frankfurter_document(start, end, ["GBP", "USD"])
    rates = parse_frankfurter(doc, start, end, ["GBP", "USD"])
    assert rates["rate_date"].min() == date(2010, 12, 31) and rates["rate_date"].max() == date(2011, 1, 7)
    bundle, _ = read_bundled_ecb_rates()
    expected = bundle.filter(pl.col("rate_date").is_between(date(2010, 12, 31), end), pl.col("currency").is_in(["GBP", "USD"]))
    assert rates.sort("rate_date", "currency").equals(expected.select(rates.columns).sort("rate_date", "currency"))


def test_frankfurter_payload_ending_days_before_a_past_end_is_incomplete():
    doc = frankfurter_document(date(2011, 1, 3), date(2011, 1, 14), ["GBP", "USD"])
    with pytest.raises(PayloadError, match="dates are missing"):
        parse_frankfurter(doc, date(2011, 1, 3), date(2011, 1, 31), ["GBP", "USD"])


def test_restcountries_payload_validation():
    good = parse_restcountries(restcountries_document())
    assert good.filter(pl.col("alpha_2") == "GB").row(0, named=True) | {"official_name": None} == {
        "alpha_2": "GB", "alpha_3": "GBR", "numeric": "826", "name": "United Kingdom", "official_name": None,
        "common_name": None, "un_region": "Northern Europe", "continent": "Europe", "currencies": "GBP",
    }
    assert good.filter(pl.col("alpha_2") == "US")["continent"].item() == "America"  # "Americas" as coco spells it
    bad = [
        ({"cca2": "GB"}, "non-empty JSON array"),
        ([], "non-empty JSON array"),
        ([{"cca2": "GB", "cca3": "GBR"}], "name is None"),
        ([{"cca2": "gbr", "cca3": "GBR", "name": {"common": "UK"}}], "malformed codes"),
        ([{"cca2": "GB", "cca3": "GBR", "name": {"common": "UK"}}] * 2, "codes repeated"),
        ([{"cca2": 44, "cca3": "GBR", "name": {"common": "UK"}}], "cca2 is 44"),
    ]
    for doc, message in bad:
        with pytest.raises(PayloadError, match=message):
            parse_restcountries(doc)


def test_current_countries_prefers_the_latest_api_row_and_keeps_the_bundle_for_the_rest():
    bundle = read_bundled_countries().with_columns(_fetched_at=pl.lit(datetime(2024, 1, 1, tzinfo=timezone.utc)))
    older = bundle.filter(pl.col("alpha_2") == "GB").with_columns(
        source=pl.lit("api"), name=pl.lit("Britain (old)"), _fetched_at=pl.lit(datetime(2024, 1, 2, tzinfo=timezone.utc))
    )
    newer = older.with_columns(name=pl.lit("Britain"), _fetched_at=pl.lit(datetime(2024, 1, 3, tzinfo=timezone.utc)))
    current = current_countries(pl.concat([older, bundle, newer])).collect()
    assert current.height == bundle.height
    assert current.filter(pl.col("alpha_2") == "GB")["name"].item() == "Britain"
    assert current.filter(pl.col("alpha_2") == "FR")["source"].item() == "bundle"


# --- what is fetched -----------------------------------------------------------------------------------


def _stored(ranges_fetched_on: list[tuple[date, date, datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        [("api", f"{i:064x}", a, b, at) for i, (a, b, at) in enumerate(ranges_fetched_on)],
        schema={"source": pl.String, "payload_sha256": pl.String, "request_start": pl.Date, "request_end": pl.Date,
                "_fetched_at": pl.Datetime("us", "UTC")},
        orient="row",
    )


def test_needed_range_looks_back_a_week_and_stops_today():
    dates = pl.DataFrame({"business_date": [date(2011, 1, 10), date(2011, 3, 1)]})
    assert needed_range(dates, today=date(2012, 1, 1)) == (date(2011, 1, 3), date(2011, 3, 1))
    assert needed_range(dates, today=date(2011, 2, 1)) == (date(2011, 1, 3), date(2011, 2, 1))
    assert needed_range(pl.DataFrame({"business_date": []}, schema={"business_date": pl.Date}), date(2011, 1, 1)) is None


def test_missing_ranges_fetch_only_what_no_payload_covers_in_chunks():
    needed = (date(2011, 1, 1), date(2011, 3, 31))
    assert missing_ranges(needed, _stored([]), max_days=40) == [
        (date(2011, 1, 1), date(2011, 2, 9)), (date(2011, 2, 10), date(2011, 3, 21)), (date(2011, 3, 22), date(2011, 3, 31)),
    ]
    later = datetime(2011, 6, 1, tzinfo=timezone.utc)
    stored = _stored([(date(2011, 1, 1), date(2011, 1, 31), later), (date(2011, 3, 1), date(2011, 3, 31), later)])
    assert missing_ranges(needed, stored, max_days=366) == [(date(2011, 2, 1), date(2011, 2, 28))]
    # A payload fetched on the day it ends may lack that day's fixing: that day is fetched again.
    same_day = _stored([(date(2011, 1, 1), date(2011, 3, 31), datetime(2011, 3, 31, 12, tzinfo=timezone.utc))])
    assert missing_ranges(needed, same_day, max_days=366) == [(date(2011, 3, 31), date(2011, 3, 31))]
    assert missing_ranges(None, stored, max_days=366) == []


def test_settings_come_from_the_environment_with_clear_errors():
    env = {"RETAIL_FX_API_URL": "http://127.0.0.1:9/fx", "RETAIL_API_RETRIES": "5", "RETAIL_FX_API_RETRIES": "2",
           "RETAIL_FX_API_KEY": "k", "RETAIL_FX_API_DAYS_PER_REQUEST": "30"}
    settings = Settings.from_env(env)
    fx = FxApi.from_settings(settings.fx_api)
    assert fx.retries == 2 and fx.days_per_request == 30 and fx.url == env["RETAIL_FX_API_URL"]
    assert isinstance(fx.api_key, dg.EnvVar)  # resolved at run time; its value is in no config
    assert dict(settings.countries_api.values) == {"retries": 5}
    assert not FxApi.from_settings(Settings.from_env({}).fx_api).enabled
    for env, message in [
        ({"RETAIL_API_RETRIES": "three"}, "RETAIL_API_RETRIES='three': expected an integer"),
        ({"RETAIL_API_READ_TIMEOUT_S": "0"}, "RETAIL_API_READ_TIMEOUT_S='0': expected a positive number"),
        ({"RETAIL_FX_API_URL": "api.frankfurter.dev"}, "expected an http"),
    ]:
        with pytest.raises(SettingsError, match=message):
            Settings.from_env(env)


# --- whole runs ----------------------------------------------------------------------------------------


def test_a_run_with_the_apis_stores_their_payloads_and_silver_uses_them(landing, tmp_path, api_env):
    server = api_env
    write_days(landing)
    lines: list[str] = []
    run(landing, tmp_path / "lake", lines)
    house = Lakehouse(root=str(tmp_path / "lake"))

    fx = house.read("bronze/fx_rates")
    api = fx.filter(pl.col("source") == "api")
    assert api.select("request_start", "request_end").unique().rows() == [(date(2010, 11, 24), date(2010, 12, 3))]
    assert api["http_status"].unique().to_list() == [200]
    assert api["request_url"].unique().to_list() == [f"{server.url('fx')}/2010-11-24..2010-12-03?base=EUR&symbols=GBP,USD"]
    assert fx.filter(pl.col("source") == "bundle").height > 100_000  # the floor is always there
    assert server.count("fx") == 1 and server.count("countries") == 1

    daily = house.read("silver/fx_daily").filter(pl.col("date").is_between(date(2010, 11, 24), date(2010, 12, 3)))
    assert daily["source"].unique().to_list() == ["api"]
    # The server speaks the bundle's ECB figures, so silver's rate is the bundle's fixing, crossed through EUR.
    bundle, _ = read_bundled_ecb_rates()
    ecb = dict(bundle.filter(pl.col("rate_date") == date(2010, 12, 1)).select("currency", "rate_per_eur").iter_rows())
    dec1 = daily.filter(pl.col("date") == date(2010, 12, 1)).row(0, named=True)
    assert dec1["fixing_date"] == date(2010, 12, 1)
    assert dec1["gbp_eur"] == pytest.approx(1 / ecb["GBP"]) and dec1["gbp_usd"] == pytest.approx(ecb["USD"] / ecb["GBP"])
    countries = house.read("bronze/countries").filter(pl.col("source") == "api")
    assert countries.filter(pl.col("alpha_2") == "GB")["currencies"].item() == "GBP"
    assert "      FX rates: API, 1 request(s) sent, 1 valid payload(s)" in lines
    # 2010-11-24 .. 12-03 from the API, and the weekend after it, which carries Friday 12-03's API fixing.
    assert "      silver/fx_daily days by source: api 12, bundle " in "\n".join(lines)

    # Same figures as the offline bundle gives: silver and gold do not change with the source.
    offline = tmp_path / "offline"
    for name in [n for n in os.environ if n.startswith("RETAIL_") and "API" in n]:
        del os.environ[name]
    run(landing, offline)
    assert_same = snapshot(house), snapshot(Lakehouse(root=str(offline)))
    for table in assert_same[0]:
        assert assert_same[0][table].equals(assert_same[1][table]), table


def test_a_rerun_fetches_nothing_new_and_appends_nothing_and_a_late_file_fetches_only_its_days(
    landing, tmp_path, api_env
):
    server = api_env
    write_days(landing)
    lake = tmp_path / "lake"
    run(landing, lake, marts=False)  # reference data is what this test is about
    house = Lakehouse(root=str(lake))
    versions = (house.version("bronze/fx_rates"), house.version("bronze/countries"))
    rows = house.read("bronze/fx_rates").height

    lines: list[str] = []
    run(landing, lake, lines, marts=False)
    assert server.count("fx") == 1 and server.count("countries") == 1  # nothing missing, countries still fresh
    assert (house.version("bronze/fx_rates"), house.version("bronze/countries")) == versions
    assert house.read("bronze/fx_rates").height == rows
    assert "      FX rates: API, 0 request(s) sent, 0 valid payload(s) (nothing missing)" in lines

    write_csv(landing / "later.csv", ["536001,21777,RECIPE BOX,1,12/20/2010 10:00,7.95,,France"])
    run(landing, lake, marts=False)
    fx_paths = [r.path for r in server.requests if r.route == "fx"]
    assert fx_paths == ["2010-11-24..2010-12-03", "2010-12-04..2010-12-20"]


def test_when_the_api_is_down_the_run_succeeds_on_the_bundle_and_says_so(landing, tmp_path, api_env):
    server = api_env
    server.script("fx", *[Fault.error(503)] * 50)
    server.script("countries", *[Fault.error(500)] * 50)
    write_days(landing)
    lines: list[str] = []
    instance = dg.DagsterInstance.ephemeral()
    run_pipeline(str(landing), str(tmp_path / "lake"), instance, say=lines.append, marts=False)
    house = Lakehouse(root=str(tmp_path / "lake"))

    # One retry, then the breaker (2 failures) opens: 2 requests each, not more.
    assert server.count("fx") == 2 and server.count("countries") == 2
    assert house.read("bronze/fx_rates")["source"].unique().to_list() == ["bundle"]
    assert house.read("silver/fx_daily")["source"].unique().to_list() == ["bundle"]
    assert house.read("silver/transactions")["gbp_eur"].null_count() == 0

    event = instance.get_latest_materialization_event(dg.AssetKey(["bronze", "fx_rates"]))
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert meta["fallback_to_bundle"] is True and meta["api_failures"] == 1 and meta["api_circuit_opened"] == 1
    assert "2010-11-24..2010-12-03: HTTP 503" in meta["fallback_reasons"]
    warnings = [
        e.message for e in instance.all_logs(event.run_id)
        if e.level >= 30 and "FX API could not serve" in (e.message or "")
    ]
    assert warnings and "the offline bundle stands in" in warnings[0]
    assert "      FX rates: API, 2 request(s) sent, 0 valid payload(s); 1 failed, the offline bundle stands in:" in lines


def test_the_api_key_is_sent_and_stored_nowhere(landing, tmp_path, api_env, monkeypatch):
    server = api_env
    secret = "key-4f1c9e-never-stored"
    monkeypatch.setenv("RETAIL_FX_API_KEY", secret)
    monkeypatch.setenv("RETAIL_FX_API_KEY_HEADER", "X-Api-Token")
    write_days(landing)
    instance = dg.DagsterInstance.ephemeral()
    run_pipeline(str(landing), str(tmp_path / "lake"), instance, say=lambda _: None)
    assert [r.headers.get("X-Api-Token") for r in server.requests if r.route == "fx"] == [secret]
    assert all("X-Api-Token" not in r.headers for r in server.requests if r.route == "countries")

    house = Lakehouse(root=str(tmp_path / "lake"))
    for table in ("bronze/fx_rates", "bronze/countries", "silver/fx_daily"):
        text = house.read(table).select(pl.all().cast(pl.String)).write_csv()
        assert secret not in text, table
    logged = [repr(entry) for run in instance.get_runs() for entry in instance.all_logs(run.run_id)]
    assert logged and not any(secret in line for line in logged)


def test_a_redirect_to_another_origin_keeps_the_key_home_and_the_run_falls_back_to_the_bundle(
    landing, tmp_path, api_env, monkeypatch
):
    """The FX API answers every request with a redirect to another server (another port of 127.0.0.1): that
    server receives nothing, the key stays with the API, and the run succeeds on the bundle and says why."""
    server = api_env
    secret = "key-93ab-for-the-fx-api-only"
    monkeypatch.setenv("RETAIL_FX_API_KEY", secret)
    monkeypatch.setenv("RETAIL_FX_API_KEY_HEADER", "X-Api-Token")
    with ApiServer() as elsewhere:
        server.script("fx", *[Fault(status=302, headers={"Location": f"{elsewhere.url('fx')}/stolen"}, body=b"")] * 50)
        write_days(landing)
        lines: list[str] = []
        instance = dg.DagsterInstance.ephemeral()
        run_pipeline(str(landing), str(tmp_path / "lake"), instance, say=lines.append, marts=False)
    assert elsewhere.requests == []
    assert server.count("fx") == 1  # refused, not retried
    carrying = [(r.route, name) for r in server.requests for name, value in r.headers.items() if secret in value]
    assert carrying == [("fx", "X-Api-Token")]

    house = Lakehouse(root=str(tmp_path / "lake"))
    assert house.read("bronze/fx_rates")["source"].unique().to_list() == ["bundle"]
    assert house.read("silver/transactions")["gbp_eur"].null_count() == 0
    event = instance.get_latest_materialization_event(dg.AssetKey(["bronze", "fx_rates"]))
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert meta["fallback_to_bundle"] is True
    origins = f"http://127.0.0.1:{server.port}", f"http://127.0.0.1:{elsewhere.port}"
    assert "HTTP 302 redirect" in meta["fallback_reasons"] and all(o in meta["fallback_reasons"] for o in origins)
    text = "\n".join(lines)
    assert "FX rates: API, 1 request(s) sent, 0 valid payload(s); 1 failed, the offline bundle stands in:" in text
    assert "not followed" in text and secret not in text


def test_cli_run_with_the_server_stopped_mid_run(tmp_path, monkeypatch):
    """`retail-pipeline run` against the test server, which goes down after its first answers."""
    home = tmp_path / "home"
    home.mkdir()
    # The repo's dagster.yaml: the run writes through its event log storage, this test reads it back.
    shutil.copy(Path(__file__).resolve().parents[2] / "dagster.yaml", home / "dagster.yaml")
    landing = tmp_path / "landing"
    for day in (date(2011, 1, 3) + timedelta(days=i) for i in range(0, 80, 7)):
        write_csv(landing / f"day_{day}.csv", [f"5400{day.day:02d},21777,RECIPE BOX,1,{day.month}/{day.day}/{day.year} 10:00,7.95,,France"])
    with ApiServer() as server:
        server.stop_after = 2  # the countries list and one FX range, then the server is gone
        env = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")}
        env |= FAST | {
            "DAGSTER_HOME": str(home), "DAGSTER_DATA_DIR": str(home),
            "RETAIL_FX_API_URL": server.url("fx"), "RETAIL_COUNTRIES_API_URL": server.url("countries"),
            "RETAIL_FX_API_DAYS_PER_REQUEST": "30", "RETAIL_API_MAX_CONCURRENCY": "1",
        }
        done = subprocess.run(
            [sys.executable, "-m", "retail_pipeline.app.cli", "run", "--landing", str(landing), "--lakehouse", str(tmp_path / "lake")],
            env=env, capture_output=True, text=True, timeout=300,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the offline bundle stands in" in done.stdout and "Traceback" not in done.stdout + done.stderr
    house = Lakehouse(root=str(tmp_path / "lake"))
    served = house.read("bronze/fx_rates").filter(pl.col("source") == "api")
    # Two answers before the server went: the countries and one FX range, or two FX ranges if FX ran first.
    countries_served = house.read("bronze/countries").filter(pl.col("source") == "api").height > 0
    assert served.select("request_start", "request_end").n_unique() == (1 if countries_served else 2)
    daily = house.read("silver/fx_daily").filter(pl.col("date").is_between(date(2010, 12, 27), date(2011, 3, 21)))
    by_source = dict(daily.group_by("source").len().iter_rows())
    assert by_source.get("api", 0) > 0 and by_source.get("bundle", 0) > 0
    assert daily.height == (date(2011, 3, 21) - date(2010, 12, 27)).days + 1

    monkeypatch.setenv("DAGSTER_DATA_DIR", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(["bronze", "fx_rates"]))
    assert event.asset_materialization.metadata["fallback_to_bundle"].value is True
