"""The HTTP layer: the FastAPI app, its dependencies, routes and error mapping."""

from atende_logs.http.app import create_app

__all__ = ["create_app"]
