"""Turning request parameters into a validated ``SearchQuery``."""

from atende_logs.query.parse import COMMON_PARAMETERS, parse_search

__all__ = ["COMMON_PARAMETERS", "parse_search"]
