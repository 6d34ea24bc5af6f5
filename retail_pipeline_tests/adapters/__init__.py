"""Tests of retail_pipeline/adapters."""
