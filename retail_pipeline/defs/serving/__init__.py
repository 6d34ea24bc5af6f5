"""Serving assets: the DuckDB warehouse file and the KPI report."""
