"""Exporting logs as flat files: the columns of CSV and Parquet, shared by server and client."""
