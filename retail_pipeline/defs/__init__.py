"""Dagster objects only: resources, partitions, assets by layer with their checks, jobs, sensors, schedules."""
