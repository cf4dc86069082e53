"""Turning request parameters into a validated ``SearchQuery``."""

from atende_logs.query.output import OUTPUT_PARAMETERS
from atende_logs.query.parse import COMMON_PARAMETERS, parse_listing, parse_search

__all__ = ["COMMON_PARAMETERS", "OUTPUT_PARAMETERS", "parse_listing", "parse_search"]
