"""A local HTTP server for a reports folder, the site's index at ``/``."""

from __future__ import annotations

from typing import Any


def reports_server(root: str, port: int = 8000, host: str = "127.0.0.1"):
    """An HTTP server for the reports folder (the index at ``/``); call ``serve_forever()``."""
    import functools
    import http.server
    from pathlib import Path

    folder = Path(root)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no reports folder at {root}; run an evaluation (or the demo) first"
        )

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet by default
            pass

    handler = functools.partial(Handler, directory=str(folder))
    return http.server.ThreadingHTTPServer((host, port), handler)
