"""Tests of retail_pipeline/defs."""
