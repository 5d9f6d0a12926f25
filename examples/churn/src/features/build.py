"""Build data/features.parquet from the raw events (placeholder for the example)."""
