"""``bianmin hub health``: whether the hub serves, asked as a load balancer would.

Two probes of the standard gRPC health service: the enrolment port with server TLS and **no
client certificate** (what a load balancer or a monitoring box can do), and the sync port with
mutual TLS, presenting the hub's own TLS certificate (what a node does). Both verify the hub
against the county CA and its node id. The addresses come from the state file of the ``hub
serve`` running from this home, or from ``--address`` / ``--enrol-address``.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from county_hub.server import next_port
from node.health import NotServing, Probe, judge, probe, served_addresses
from node.kernel.errors import ConfigError
from node.kernel.identity import HUB_NODE_ID

__all__ = ["hub_health"]


def hub_health(home: Path, *, address: str | None = None, enrol_address: str | None = None,
               timeout_s: float = 5.0) -> list[Probe]:
    """Both probes, if both say SERVING; ``NotServing`` (one line) otherwise."""
    try:
        ca = (home / "ca" / "ca.pem").read_bytes()
        key = (home / "keys" / "tls.key").read_bytes()
        cert = (home / "certs" / "tls.pem").read_bytes()
    except OSError as exc:
        raise ConfigError(f"{home} is not a hub home ({exc.strerror}: {exc.filename})") from exc
    served = served_addresses(home, "serve-*.json") or {}
    sync_at = address or served.get("sync")
    if sync_at is None:
        raise NotServing(f"no 'bianmin hub serve' runs from {home} (no live serve-*.json state "
                         "file there); give --address HOST:PORT to ask a hub elsewhere")
    enrol_at = enrol_address or (served.get("enrol") if not address else next_port(sync_at))
    probes = [probe("enrolment", enrol_at or next_port(sync_at),
                    grpc.ssl_channel_credentials(ca), expected_node_id=HUB_NODE_ID,
                    client_certificate=False, timeout_s=timeout_s),
              probe("sync", sync_at,
                    grpc.ssl_channel_credentials(ca, private_key=key, certificate_chain=cert),
                    expected_node_id=HUB_NODE_ID, client_certificate=True,
                    timeout_s=timeout_s)]
    return judge(f"hub {HUB_NODE_ID}", probes)
