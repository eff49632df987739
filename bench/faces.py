"""The pages' benchmark (issue 11): the desk's intake (submit to receipt page), the console's
queue page with ten thousand open cases, and ``node run``'s memory while it serves the desk.

Server time is what the pages' server says it spent (its ``Server-Timing`` header): the time
from the request reaching the application to the answer's first byte, without the network
or the client. "Submit to receipt page" is the intake POST plus the receipt page it redirects
to. The clients are httpx on loopback, logged in as a person would be (the login page's CSRF
cookie and token, then the session's).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from bench.harness import County, median, percentile, rss_mb, scratch
from bianmin.backlog import make_backlog
from bianmin.demo import resident_id
from bianmin.procs import ServerProcess, run

__all__ = ["faces"]

WEB = {"BIANMIN_WEB__LISTEN": "127.0.0.1:0"}
PASSWORD = "bench-pass-2026"  # noqa: S105 -- a throwaway account of the benchmark
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
SCAN = b"\xff\xd8\xff\xe0" + b"bench scan of an identity card " * 2000 + b"\xff\xd9"  # ~60 KB


def _server_ms(response: Any) -> float:
    timing = response.headers.get("server-timing", "")
    found = re.search(r"dur=([0-9.]+)", timing)
    return float(found.group(1)) if found else float("nan")


def _login(client: Any, name: str) -> None:
    page = client.get("/login")
    token = _CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    done = client.post("/login", data={"csrf": token, "name": name, "password": PASSWORD,
                                       "next": "/"})
    if done.status_code != 303:
        raise RuntimeError(f"login of {name} failed: {done.status_code}")


def faces(cases: int = 10_000, samples: int = 30) -> dict[str, Any]:
    import httpx  # noqa: PLC0415

    with scratch("faces") as root:
        county = County(root=root)
        county.init()
        hub = county.serve(env=WEB)
        try:
            big, desk_home = county.enrol(2)
            made = time.perf_counter()
            make_backlog(big, cases=cases)
            run("node", "sync", "--home", str(big), timeout_s=1800)
            loaded_s = time.perf_counter() - made
            run("hub", "operator", "password", "刘芳", "--password", PASSWORD, "--home",
                str(county.home))
            run("node", "account", "add", "wang", "--password", PASSWORD, "--home",
                str(desk_home))
            result: dict[str, Any] = {"open_cases": cases, "load_s": loaded_s}
            result |= _queue(httpx, hub.info["console"], samples)
            with ServerProcess(["node", "run", "--home", str(desk_home), "--interval", "60",
                                "--log-format", "json"], log=root / "desk.log",
                               env=WEB) as desk:
                result["desk_rss_start_mib"] = rss_mb(desk.proc.pid, "VmRSS")
                result |= _intake(httpx, desk.info["desk"], root, samples)
                result["desk_rss_mib"] = rss_mb(desk.proc.pid, "VmRSS")
                result["desk_rss_peak_mib"] = rss_mb(desk.proc.pid, "VmHWM")
        finally:
            county.stop()
    return result


def _queue(httpx: Any, console: str, samples: int) -> dict[str, Any]:
    server, wall = [], []
    with httpx.Client(base_url=console, timeout=60) as client:
        _login(client, "刘芳")
        first = client.get("/queue")
        if first.status_code != 200 or "我的待办" not in first.text:
            raise RuntimeError(f"the queue page answered {first.status_code}")
        for n in range(samples):
            started = time.perf_counter()
            page = client.get(f"/queue?page={1 + n % 3}")
            wall.append((time.perf_counter() - started) * 1000)
            server.append(_server_ms(page))
    return {"queue_server_p50_ms": median(server), "queue_server_p90_ms":
            percentile(server, 90), "queue_wall_p50_ms": median(wall)}


def _intake(httpx: Any, desk: str, root: Path, samples: int) -> dict[str, Any]:
    server, posts, receipts, wall = [], [], [], []
    with httpx.Client(base_url=desk, timeout=60) as client:
        _login(client, "wang")
        for n in range(samples):
            form = client.get("/intake/MZ-001")
            token = _CSRF.search(form.text).group(1)  # type: ignore[union-attr]
            data = {"csrf": token, "do": "submit", "name": "王桂兰",
                    "id_number": resident_id(f"3601121940012{2300 + n:04d}"),
                    "phone": "13800000000", "field_household_size": "3",
                    "field_monthly_income_yuan": "1200", "paper_application": "1",
                    "paper_hukou": "1", "paper_income_proof": "1",
                    "paper_assets_statement": "1"}
            files = {"file_id_card": ("身份证.jpg", SCAN, "image/jpeg")}
            started = time.perf_counter()
            posted = client.post("/intake/MZ-001", data=data, files=files)
            if posted.status_code != 303:
                raise RuntimeError(f"intake answered {posted.status_code}: {posted.text[:300]}")
            receipt = client.get(posted.headers["location"])
            wall.append((time.perf_counter() - started) * 1000)
            if "受理回执" not in receipt.text:
                raise RuntimeError("the receipt page did not come")
            posts.append(_server_ms(posted))
            receipts.append(_server_ms(receipt))
            server.append(posts[-1] + receipts[-1])
        pdf = client.get(posted.headers["location"].split("?")[0] + ".pdf")
        if not pdf.content.startswith(b"%PDF"):
            raise RuntimeError("the receipt PDF did not come")
    return {"intake_server_p50_ms": median(server), "intake_server_p90_ms":
            percentile(server, 90), "intake_post_p50_ms": median(posts),
            "receipt_page_p50_ms": median(receipts), "intake_wall_p50_ms": median(wall),
            "samples": samples}
