"""Real servers for the client's tests: uvicorn and wsgiref on 127.0.0.1, in threads."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from monitoring_platform.config import ModelConfig, MonitoringConfig
from monitoring_platform.lib.ingest import IngestResult, ingest_partition
from monitoring_platform.lib.storage import ObjectStore
from monitoring_platform_tests.conftest import REPO, free_port


def example_service():
    """``examples/service.py`` as a module (the examples folder is not part of the package)."""
    if "examples.service" in sys.modules:
        return sys.modules["examples.service"]
    spec = importlib.util.spec_from_file_location("examples.service", REPO / "examples/service.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["examples.service"] = module
    spec.loader.exec_module(module)
    return module


class UvicornThread:
    """A uvicorn server with the lifespan on; ``stop()`` shuts it down gracefully."""

    def __init__(self, app, port: int | None = None):
        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)

    def __exit__(self, *exc_info) -> None:
        if self.thread.is_alive():
            self.stop()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


class WsgirefThread:
    """The standard library's WSGI server, one request at a time."""

    def __init__(self, app):
        self.httpd: WSGIServer = make_server(
            "127.0.0.1", free_port(), app, handler_class=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> WsgirefThread:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def model_config(config: MonitoringConfig, name: str) -> ModelConfig:
    return next(m for m in config.models if m.name == name)


def ingest_every_day(
    store: ObjectStore, model: ModelConfig, workdir: Path, ingest=ingest_partition
) -> dict[str, IngestResult]:
    """The platform's ingestion of each day folder found under the model (a test may cross
    midnight UTC)."""
    days = sorted({o.key.split("/")[1][3:] for o in store.list(model.name)})
    return {day: ingest(store, model, day, workdir / day) for day in days}
