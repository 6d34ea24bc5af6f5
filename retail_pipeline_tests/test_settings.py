"""One settings module: every RETAIL_* variable parsed once, each bad value named with the variable, and
secrets kept as variable names (Dagster shows ``dg.EnvVar`` names, never values)."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.app.cli import main
from retail_pipeline.defs.resources import build_resources
from retail_pipeline.settings import Settings, SettingsError, partitions_start


def test_defaults_need_no_environment():
    settings = Settings.from_env({})
    assert settings == Settings()
    assert (settings.landing_dir, settings.lakehouse_uri) == ("data/landing", "data/lakehouse")
    assert settings.warehouse_path == "data/warehouse.duckdb" and settings.reports_dir == "data/reports"
    assert settings.schedule_cron == "0 2 * * *" and settings.executor == "in_process"
    assert not settings.fx_api.enabled and not settings.countries_api.enabled


def test_each_lakehouse_has_its_own_warehouse_and_reports(tmp_path, monkeypatch):
    """Two lakehouses never share an output: the default keeps data/warehouse.duckdb and data/reports, a
    local one at P/N uses P/N.duckdb and P/N.reports, an object-store one a directory under data/ named for
    its URI; the variables still override."""
    monkeypatch.chdir(tmp_path)

    def outputs(lakehouse: str, **env: str) -> tuple[str, str]:
        s = Settings.from_env(env, lakehouse_uri=lakehouse)
        return s.warehouse_path, s.reports_dir

    assert outputs("data/lakehouse") == ("data/warehouse.duckdb", "data/reports")
    assert outputs("parent/lake_a") == ("parent/lake_a.duckdb", "parent/lake_a.reports")
    assert outputs("parent/lake_b/") == ("parent/lake_b.duckdb", "parent/lake_b.reports")
    # A lakehouse named "lakehouse" is a default one wherever it is and whatever the working directory.
    assert outputs("elsewhere/lakehouse") == ("elsewhere/warehouse.duckdb", "elsewhere/reports")
    monkeypatch.chdir(tmp_path / "..")
    assert outputs(str(tmp_path / "data" / "lakehouse")) == (str(tmp_path / "data" / "warehouse.duckdb"), str(tmp_path / "data" / "reports"))
    # Names that would take another lakehouse's outputs are refused.
    for name in ("warehouse", "reports"):
        with pytest.raises(SettingsError, match="another lakehouse"):
            outputs(f"parent/{name}")
    s3_a, s3_b = outputs("s3://shop/retail"), outputs("s3://shop/retail-eu")
    for warehouse, reports in (s3_a, s3_b):
        assert warehouse.startswith("data/") and reports.startswith("data/") and "shop" in warehouse
        assert warehouse not in ("data/warehouse.duckdb",) and reports != "data/reports"
    assert len({*s3_a, *s3_b}) == 4
    assert outputs("s3://shop/retail") == s3_a  # the same lakehouse finds its outputs again
    assert outputs("parent/lake_a", RETAIL_WAREHOUSE_PATH="w.duckdb", RETAIL_REPORTS_DIR="r") == ("w.duckdb", "r")


def test_every_variable_is_read():
    env = {
        "RETAIL_LANDING_DIR": "in", "RETAIL_LAKEHOUSE_URI": "lake/house", "RETAIL_WAREHOUSE_PATH": "w.duckdb",
        "RETAIL_REPORTS_DIR": "r", "RETAIL_PARTITIONS_START": "2011-01-01", "RETAIL_EXECUTOR": " MultiProcess ",
        "RETAIL_MAX_PARTITIONS_PER_RUN": "31", "RETAIL_LANDING_SENSOR_INTERVAL_S": "5", "RETAIL_SCHEDULE_TIME": "7:05",
        "RETAIL_VACUUM_RETENTION_HOURS": "0", "RETAIL_MAX_UNKNOWN_COUNTRY_SHARE": "0.2", "RETAIL_FRESHNESS_DAYS": "9",
        "RETAIL_ALERT_WEBHOOK": "http://127.0.0.1:9/hook", "RETAIL_COUNTRIES_API_REFRESH_HOURS": "0",
    }
    s = Settings.from_env(env)
    assert (s.landing_dir, s.lakehouse_uri, s.warehouse_path, s.reports_dir) == ("in", "lake/house", "w.duckdb", "r")
    assert s.partitions_start == date(2011, 1, 1) and s.executor == "multiprocess"
    assert (s.max_partitions_per_run, s.landing_sensor_interval_s, s.schedule_cron) == (31, 5, "5 7 * * *")
    assert (s.vacuum_retention_hours, s.max_unknown_country_share, s.freshness_days) == (0, 0.2, 9)
    assert s.alert_webhook_set and dict(s.countries_api.values) == {"refresh_hours": 0.0}
    # Command-line options win over the environment.
    assert Settings.from_env(env, lakehouse_uri="other").lakehouse_uri == "other"
    assert partitions_start(env) == date(2011, 1, 1)


def test_every_bad_value_is_named_with_its_variable_at_once():
    env = {
        "RETAIL_PARTITIONS_START": "1st of December",
        "RETAIL_EXECUTOR": "threads",
        "RETAIL_MAX_PARTITIONS_PER_RUN": "0",
        "RETAIL_SCHEDULE_TIME": "25:00",
        "RETAIL_MAX_UNKNOWN_COUNTRY_SHARE": "5%",
        "RETAIL_FX_API_URL": "ftp://127.0.0.1/rates",
        "RETAIL_API_RETRIES": "-1",
    }
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    for variable, value in env.items():
        assert f"{variable}={value!r}: expected" in message
    assert message.count("expected") == len(env)


def test_secrets_stay_variable_names():
    env = {
        "RETAIL_LAKEHOUSE_URI": "s3://bucket/lake", "AWS_ACCESS_KEY_ID": "AKIA-secret-id",
        "AWS_SECRET_ACCESS_KEY": "secret-key", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "RETAIL_FX_API_URL": "http://127.0.0.1:9/fx", "RETAIL_FX_API_KEY": "fx-secret",
        "RETAIL_ALERT_WEBHOOK": "http://127.0.0.1:9/secret-hook",
    }
    settings = Settings.from_env(env)
    assert not any(value in repr(settings) for value in ("AKIA-secret-id", "secret-key", "fx-secret", "secret-hook"))
    resources = build_resources(settings=settings)
    house: Lakehouse = resources["lakehouse"]
    assert house.endpoint_url == "http://127.0.0.1:9000"
    assert isinstance(house.secret_access_key, dg.EnvVar) and house.secret_access_key == "AWS_SECRET_ACCESS_KEY"
    assert isinstance(resources["fx_api"].api_key, dg.EnvVar) and resources["fx_api"].api_key == "RETAIL_FX_API_KEY"
    assert isinstance(resources["alert_webhook"].url, dg.EnvVar)
    # A local lakehouse does not pick up object-store credentials.
    local = build_resources(settings=Settings.from_env({**env, "RETAIL_LAKEHOUSE_URI": "lake"}))["lakehouse"]
    assert local.secret_access_key is None and local.endpoint_url is None


def test_the_command_line_reports_a_bad_setting_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("RETAIL_MAX_PARTITIONS_PER_RUN", "many")
    (tmp_path / "landing").mkdir()
    assert main(["run", "--landing", str(tmp_path / "landing"), "--lakehouse", str(tmp_path / "lake")]) == 2
    err = capsys.readouterr().err
    assert err == "error: bad setting RETAIL_MAX_PARTITIONS_PER_RUN='many': expected a positive whole number\n"
    assert "Traceback" not in err and not (tmp_path / "lake").exists()


def test_importing_the_definitions_reads_no_setting(monkeypatch):
    """Only the partitions' first date is read at import; a bad value anywhere else surfaces when Dagster
    loads the definitions, as one clear error."""
    import importlib

    import retail_pipeline.definitions as entry

    monkeypatch.setenv("RETAIL_EXECUTOR", "threads")
    importlib.reload(entry)  # importing reads nothing
    with pytest.raises(SettingsError, match="RETAIL_EXECUTOR='threads'"):
        entry.defs()


def test_the_fx_age_default_is_the_transforms_own():
    from retail_pipeline.core.enrichment import fx
    from retail_pipeline.settings import DEFAULT_MAX_AGE_DAYS

    assert Settings().fx_max_age_days == DEFAULT_MAX_AGE_DAYS == fx.DEFAULT_MAX_AGE_DAYS
