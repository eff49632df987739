"""A tier's home folder: config, keys and certificates on disk (DESIGN §4).

Private keys never leave the node; they are written with mode 0600 and read back only by the
process that signs. Config is a TOML file read once at the entry point and passed in as a
frozen value (STYLE §11).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from node.kernel.errors import ConfigError
from node.kernel.identity import (
    CATALOG_LOG_ID,
    HUB_NODE_ID,
    certificate_pem,
    load_certificate,
    private_key_pem,
)
from node.settings import LimitSettings, NodeSettings, RunSettings, ServeSettings, load_settings

__all__ = [
    "NodeConfig",
    "load_ec_key",
    "load_ed25519_key",
    "read_certificate",
    "write_certificate",
    "write_private_key",
    "write_toml",
]


def write_private_key(path: Path, key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
                      ) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_pem(key))


def _load_key(path: Path) -> object:
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise ConfigError(f"key file {path} is missing; is this the right --home?") from exc
    except ValueError as exc:
        raise ConfigError(f"key file {path} is not a readable private key") from exc


def load_ed25519_key(path: Path) -> ed25519.Ed25519PrivateKey:
    key = _load_key(path)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"key file {path} does not hold an Ed25519 key")
    return key


def load_ec_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = _load_key(path)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"key file {path} does not hold an ECDSA key")
    return key


def write_certificate(path: Path, cert: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(certificate_pem(cert))


def read_certificate(path: Path) -> x509.Certificate:
    try:
        return load_certificate(path.read_bytes())
    except FileNotFoundError as exc:
        raise ConfigError(f"certificate {path} is missing; is this the right --home?") from exc


def write_toml(path: Path, data: Mapping[str, Any]) -> None:
    """Write a config file whole (a crash leaves the old one), readable by its owner only: the
    hub's may carry the database password."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(tomli_w.dumps(dict(data)))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


@dataclass(frozen=True, kw_only=True)
class NodeConfig:
    """``node.toml``: who this node is and where its upstream is."""

    node_id: str
    tier: str
    county_code: str
    name: str
    upstream: str  # HOST:PORT of the upstream's sync service
    upstream_node_id: str
    # a village under a township may also reach the county directly when the township is away
    fallback: str = ""
    fallback_node_id: str = ""
    # operating settings (``node.settings``): not written by init, defaults unless configured
    run: RunSettings = field(default_factory=RunSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    serve: ServeSettings = field(default_factory=lambda: ServeSettings(listen="127.0.0.1:50061"))

    IDENTITY = ("node_id", "tier", "county_code", "name", "upstream", "upstream_node_id",
                "fallback", "fallback_node_id")

    @classmethod
    def load(cls, home: Path) -> NodeConfig:
        settings = load_settings(NodeSettings, home / "node.toml")
        return cls(**{k: getattr(settings, k) for k in cls.IDENTITY}, run=settings.run,
                   limits=settings.limits, serve=settings.serve)

    @property
    def followed_logs(self) -> tuple[str, ...]:
        """The upstream logs this node pulls: the catalog, the county's, and its township's."""
        logs = [CATALOG_LOG_ID, HUB_NODE_ID]
        if self.upstream_node_id not in logs:
            logs.append(self.upstream_node_id)
        return tuple(logs)

    def save(self, home: Path) -> None:
        """Write who this node is (init does this once; operating settings are added by the
        county IT team by hand, see deploy/config)."""
        write_toml(home / "node.toml", {k: getattr(self, k) for k in self.IDENTITY})
