"""Ingestion: reading NDJSON, JSON arrays and CSV, and writing them in batches."""
