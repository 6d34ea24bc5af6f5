"""Tests of retail_pipeline/core."""
