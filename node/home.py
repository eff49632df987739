"""A tier's home folder: config, keys and certificates on disk (DESIGN §4).

Private keys never leave the node; they are written with mode 0600 and read back only by the
process that signs. Config is a TOML file read once at the entry point and passed in as a
frozen value (STYLE §11).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from node.kernel.errors import ConfigError
from node.kernel.identity import certificate_pem, load_certificate, private_key_pem
from node.settings import NodeConfig, write_toml

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
