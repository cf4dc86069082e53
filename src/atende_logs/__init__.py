"""atende-logs: the customer logs API of the Atende Simples cloud call center."""

__version__ = "0.1.0"

__all__ = ["__version__"]
