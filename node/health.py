"""Whether a serving process serves (``bianmin hub health``, ``bianmin township health``).

A health command asks the standard gRPC health service of a running server (``sync.health``)
on each of its ports and exits non-zero, with one line saying what is wrong, unless every port
answers ``SERVING``. It finds the addresses in the state file the server's runner writes in
its home (``node.runner``), or is told them. The tiers say which ports to ask and with which
credentials (``county_hub.health``, ``township_agent.health``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from node.kernel.errors import BianminError, UsageError
from sync import CallRefused, Unreachable
from sync.health import check_health
from sync.tls import parse_address

__all__ = ["NotServing", "Probe", "judge", "local_address", "probe", "served_addresses"]

SERVING = "SERVING"


class NotServing(BianminError):
    code = "not_serving"


@dataclass(frozen=True, kw_only=True)
class Probe:
    port: str  # which port: "sync", "enrolment"
    address: str
    status: str  # SERVING, NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN, or UNREACHABLE
    client_certificate: bool  # whether the probe presented one (mutual TLS)
    detail: str = ""

    @property
    def serving(self) -> bool:
        return self.status == SERVING

    def __str__(self) -> str:
        how = "mutual TLS" if self.client_certificate else "no client certificate"
        return (f"{self.port} {self.address} {self.status} ({how})"
                + (f": {self.detail}" if self.detail else ""))


_WHY = {"NOT_SERVING": "draining before a shutdown, or not started",
        "SERVICE_UNKNOWN": "the server does not know this service"}


def probe(port: str, address: str, credentials: grpc.ChannelCredentials, *,
          expected_node_id: str, client_certificate: bool, timeout_s: float) -> Probe:
    """Ask the server at ``address``; an answer that is no answer is a status too."""
    try:
        parse_address(address)
    except ValueError as exc:
        raise UsageError(f"--address {address!r} is not HOST:PORT") from exc
    try:
        status = check_health(address, credentials, expected_node_id=expected_node_id,
                              timeout_s=timeout_s)
    except (Unreachable, CallRefused) as exc:
        return Probe(port=port, address=address, status="UNREACHABLE",
                     client_certificate=client_certificate, detail=str(exc))
    return Probe(port=port, address=address, status=status,
                 client_certificate=client_certificate, detail=_WHY.get(status, ""))


def judge(who: str, probes: Sequence[Probe]) -> list[Probe]:
    """The probes, if every one is SERVING; ``NotServing`` naming the first that is not."""
    bad = [p for p in probes if not p.serving]
    if bad:
        raise NotServing(f"{who} is not serving: {bad[0]}"
                         + "".join(f"; {p}" for p in probes if p is not bad[0]))
    return list(probes)


def served_addresses(home: Path, pattern: str) -> dict[str, str] | None:
    """The addresses in the newest state file of a live process matching ``pattern``
    (``serve-*.json``, ``serve.json``) in ``home``; None when no server runs from there."""
    found = []
    for path in home.glob(pattern):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(info, dict) and _alive(info.get("pid")):
            found.append((path.stat().st_mtime, info))
    if not found:
        return None
    info = max(found, key=lambda f: f[0])[1]
    return {k: local_address(str(v)) for k, v in info.items() if k in ("sync", "enrol") and v}


def local_address(address: str) -> str:
    """A listening address as a client on this machine reaches it (``0.0.0.0`` → loopback)."""
    host, _sep, port = address.rpartition(":")
    if host in ("0.0.0.0", ""):  # noqa: S104 -- reading a listen address, not binding
        return f"127.0.0.1:{port}"
    if host in ("::", "[::]"):
        return f"[::1]:{port}"
    return address


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
