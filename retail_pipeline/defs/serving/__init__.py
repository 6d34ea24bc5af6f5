"""Serving assets: the DuckDB warehouse file, the KPI report, and the marts published to Postgres."""
