"""Every ``hub serve`` process serves the console (issue 11): with ``--processes 2`` they
share one port, and a session made through one is good at the other (sessions live in the
database)."""

from __future__ import annotations

import re

import httpx
import pytest

from bianmin.procs import ServerProcess
from tests.e2e.faces import CONSOLE_PASSWORD, console_account

pytestmark = pytest.mark.e2e


def test_any_hub_process_serves_any_console_request(federation):
    console_account(federation.hub_home, "刘芳")
    federation.stop_hub()
    with ServerProcess(["hub", "serve", "--home", str(federation.hub_home), "--listen",
                        "127.0.0.1:0", "--enrol-listen", "127.0.0.1:0", "--processes", "2",
                        "--json"], log=federation.root / "hubs.log") as hubs:
        console = hubs.info["console"]
        assert len(hubs.info["processes"]) == 2
        # a new connection for every request: the kernel hands each to either process
        with httpx.Client(base_url=console, timeout=20,
                          limits=httpx.Limits(max_keepalive_connections=0)) as client:
            form = client.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
            done = client.post("/login", data={"csrf": token, "name": "刘芳",
                                               "password": CONSOLE_PASSWORD, "next": "/queue"})
            assert done.status_code == 303
            for _ in range(12):
                page = client.get("/queue")
                assert page.status_code == 200
                assert "我的待办" in page.text
