# The user-code image of the team deployment (docker-compose.yml): this package and its locked dependencies
# with the `deploy` extra (dagster-postgres, psycopg2), run as a non-root user. The user-code gRPC server,
# the webserver, the daemon and the API all run from it (dagster-webserver is a dependency of the package).
FROM python:3.11-slim

# The same uv as the Makefile's UV_VERSION (test_deployment checks they agree).
ARG UV_VERSION=0.13.9
# Bytecode is compiled once at build time (UV_COMPILE_BYTECODE): with PYTHONDONTWRITEBYTECODE every process
# would otherwise compile dagster from source at each start (see the Makefile).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    DAGSTER_HOME=/opt/dagster/home \
    DAGSTER_DISABLE_TELEMETRY=1 \
    PATH=/opt/venv/bin:$PATH

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && useradd --create-home --uid 1000 retail

WORKDIR /app
# Dependencies first, in their own layer: a code change does not reinstall them.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --extra deploy --no-install-project --no-cache
COPY retail_pipeline ./retail_pipeline
RUN uv sync --locked --no-dev --extra deploy --no-editable --no-cache

# The instance and workspace of the deployment. The mount points of the named volumes exist here, owned by
# the user, because a new named volume takes the owner of the directory it is mounted on.
COPY deploy/dagster.yaml deploy/workspace.yaml /opt/dagster/home/
RUN mkdir -p /opt/dagster/storage /data/landing /data/outputs/reports /data/api-state \
    && chown -R retail:retail /opt/dagster /data

USER retail
WORKDIR /opt/dagster/home
EXPOSE 3000 4000 8000
# The user-code gRPC server; docker-compose.yml gives the webserver, the daemon and the API their own commands.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "retail_pipeline.definitions", "--location-name", "retail_pipeline"]
