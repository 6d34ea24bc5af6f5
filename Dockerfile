# The user-code image: this package and its locked dependencies, run as a non-root user.
# Minimal for now (the Dagster UI over the local instance); a later issue adds the full deployment.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9 && useradd --create-home --uid 1000 retail
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-install-project --no-dev
COPY retail_pipeline ./retail_pipeline
COPY workspace.yaml dagster.yaml ./
RUN uv sync --locked --no-dev && chown -R retail /app
ENV PATH=/opt/venv/bin:$PATH
USER retail
EXPOSE 3000
