"""The path a request names inside the app, whatever root path it is served under.

Served with ``--root-path /api``, uvicorn hands the app ``path`` "/api/customers/cdrs/logs"
and ``root_path`` "/api"; the router matches "/customers/cdrs/logs". Everything that picks
requests by path before routing (the rate limits, the probes the access log leaves out)
must compare that same path, or it silently stops applying under a root path.
"""

from __future__ import annotations

from starlette.types import Scope


def route_path(scope: Scope) -> str:
    """``scope``'s path without its root path, as Starlette's router strips it
    (``starlette._utils.get_route_path``, which is private; a test holds the two equal)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if not root or not path.startswith(root):
        return path
    if path == root:
        return ""
    return path[len(root) :] if path[len(root)] == "/" else path
