"""``bianmin township health``: whether ``township serve`` serves its villages.

A probe of the standard gRPC health service on the township's sync port, with mutual TLS as a
village has it: the township's own TLS certificate, the township verified against the county
CA and its node id. The address comes from the state file of the ``township serve`` running
from this home, or from ``--address``.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from node.health import NotServing, Probe, judge, probe, served_addresses
from node.home import NodeConfig
from node.kernel.errors import ConfigError

__all__ = ["township_health"]


def township_health(home: Path, *, address: str | None = None,
                    timeout_s: float = 5.0) -> list[Probe]:
    """The probe, if it says SERVING; ``NotServing`` (one line) otherwise."""
    config = NodeConfig.load(home)
    if config.tier != "township":
        raise ConfigError(f"{home} is the home of a {config.tier}, not a township")
    try:
        ca = (home / "certs" / "ca.pem").read_bytes()
        key = (home / "keys" / "tls.key").read_bytes()
        cert = (home / "certs" / "tls.pem").read_bytes()
    except OSError as exc:
        raise ConfigError(f"{home} is not a node home ({exc.strerror}: {exc.filename})") from exc
    sync_at = address or (served_addresses(home, "serve.json") or {}).get("sync")
    if sync_at is None:
        raise NotServing(f"no 'bianmin township serve' runs from {home} (no live serve.json "
                         "state file there); give --address HOST:PORT to ask one elsewhere")
    credentials = grpc.ssl_channel_credentials(ca, private_key=key, certificate_chain=cert)
    return judge(f"township {config.node_id}",
                 [probe("sync", sync_at, credentials, expected_node_id=config.node_id,
                        client_certificate=True, timeout_s=timeout_s)])
