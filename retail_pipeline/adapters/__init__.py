"""IO: the lakehouse (Delta), the landing zone, HTTP clients and APIs, the DuckDB warehouse, the report, maintenance, the event-log store."""
