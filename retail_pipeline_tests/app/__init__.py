"""Tests of retail_pipeline/app."""
