"""The pages' HTTP server: uvicorn on a thread of the process that already serves the tier
(``node run``, ``township serve``, ``hub serve``), started and stopped with it (DESIGN §11).

The socket is bound here, before uvicorn sees it, so that the address is known at once (an
OS-chosen port for tests) and so that ``hub serve --processes N`` can share one port among
its processes with ``SO_REUSEPORT``, as it shares the gRPC ports. uvicorn installs no signal
handler off the main thread: the process's ``node.runner.Runner`` keeps that job.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from node.kernel.errors import ConfigError

__all__ = ["WebServer", "serving_web"]

_START_S = 15.0


class WebServer:
    def __init__(self, app: Any, listen: str, *, reuse_port: bool = False, tls_cert: str = "",
                 tls_key: str = "") -> None:
        host, _sep, port = listen.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            self.sock.bind((host, int(port)))
        except OSError as exc:
            self.sock.close()
            raise ConfigError(f"cannot serve the pages on {listen}: {exc.strerror}; choose "
                              "another [web] listen address", code="address_in_use") from exc
        self.sock.listen(128)
        self.sock.set_inheritable(True)
        bound = self.sock.getsockname()
        self.address = f"{host}:{bound[1]}" if family == socket.AF_INET else f"[{host}]:{bound[1]}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                server_header=False, date_header=False, proxy_headers=False,
                                timeout_keep_alive=5, limit_concurrency=200,
                                ssl_certfile=tls_cert or None, ssl_keyfile=tls_key or None)
        self.scheme = "https" if tls_cert else "http"
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="web", daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.address}"

    def start(self) -> WebServer:
        self.thread.start()
        deadline = time.monotonic() + _START_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigError(f"the pages' server on {self.address} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        self.sock.close()


@contextmanager
def serving_web(app: Any, listen: str, *, reuse_port: bool = False, tls_cert: str = "",
                tls_key: str = "") -> Iterator[WebServer]:
    """A started pages' server, stopped on the way out (STYLE §19)."""
    server = WebServer(app, listen, reuse_port=reuse_port, tls_cert=tls_cert,
                       tls_key=tls_key).start()
    try:
        yield server
    finally:
        server.stop()
