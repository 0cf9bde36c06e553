"""The browser app (``scintiml app``): the whole study without a terminal, on the user's own machine.

FastAPI + Jinja2 templates + HTMX (vendored, no CDN), served by uvicorn; studies run in background worker
threads, each job a folder on disk (:mod:`.jobs`). Extra: ``pip install 'scintiml[app]'``.
"""

from .jobs import JobStore

__all__ = ["JobStore", "AppConfig", "create_app", "serve"]


def __getattr__(name):  # lazy: FastAPI is only needed once the web app itself is built
    if name in {"AppConfig", "create_app"}:
        from . import web

        return getattr(web, name)
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(f"module 'scintiml.app' has no attribute {name!r}")
