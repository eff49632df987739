"""The hub's home folder: ``hub.toml``, the county CA, and the hub's keys (DESIGN §4).

::

    HOME/hub.toml                county code and name, database URL
    HOME/ca/ca.key, ca.pem       the county CA (the key is the county's most precious secret)
    HOME/keys/records.key        Ed25519: signs the hub's log (decisions, ...)
    HOME/keys/catalog.key        Ed25519: signs catalog versions (the CATALOG log)
    HOME/keys/tls.key            ECDSA P-256: the hub's TLS server and client key
    HOME/certs/*.pem             the certificates of those keys
    HOME/hub.db                  the database, when it is SQLite
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import Field

from node.home import load_ec_key, load_ed25519_key, read_certificate
from node.kernel.errors import ConfigError
from node.kernel.identity import HUB_NODE_ID, Signer, certificate_pem, private_key_pem
from node.settings import ServeSettings, Settings, WebSettings, load_settings, write_toml
from node.store.db import sqlite_url

__all__ = ["HubConfig", "HubKeys", "default_db_url"]


def default_db_url(home: Path) -> str:
    return sqlite_url((home / "hub.db").resolve())


class HubConfig(Settings):
    """``hub.toml``: which county this hub serves and where its database is (written by
    ``hub init``), and its operating settings. The hub's one settings model:
    ``HubConfig.load(home)`` reads the file and the environment."""

    county_code: str = Field(pattern=r"^[0-9]{6}$")
    county_name: str = Field(min_length=1)
    db_url: str = ""
    node_id: str = HUB_NODE_ID
    # a node whose clock is further off than this is flagged (never refused for it)
    clock_skew_threshold_s: int = Field(default=600, ge=0)
    serve: ServeSettings = ServeSettings()
    web: WebSettings = WebSettings(listen="127.0.0.1:8051")

    IDENTITY: ClassVar[tuple[str, ...]] = ("county_code", "county_name", "db_url", "node_id",
                                           "clock_skew_threshold_s")

    @classmethod
    def load(cls, home: Path) -> HubConfig:
        config: HubConfig = load_settings(cls, home / "hub.toml")
        return config

    def save(self, home: Path) -> None:
        write_toml(home / "hub.toml", {k: getattr(self, k) for k in self.IDENTITY})


@dataclass(frozen=True)
class HubKeys:
    """The CA and the hub's own keys, read from the home folder."""

    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate
    records: Signer
    records_cert: x509.Certificate
    catalog: Signer
    catalog_cert: x509.Certificate
    tls_key: ec.EllipticCurvePrivateKey
    tls_cert: x509.Certificate

    @classmethod
    def load(cls, home: Path) -> HubKeys:
        if not (home / "hub.toml").exists():
            raise ConfigError(f"{home} is not a hub home: run 'bianmin hub init --home {home}'")
        return cls(
            ca_key=load_ec_key(home / "ca" / "ca.key"),
            ca_cert=read_certificate(home / "ca" / "ca.pem"),
            records=Signer(load_ed25519_key(home / "keys" / "records.key")),
            records_cert=read_certificate(home / "certs" / "records.pem"),
            catalog=Signer(load_ed25519_key(home / "keys" / "catalog.key")),
            catalog_cert=read_certificate(home / "certs" / "catalog.pem"),
            tls_key=load_ec_key(home / "keys" / "tls.key"),
            tls_cert=read_certificate(home / "certs" / "tls.pem"),
        )

    @property
    def ca_pem(self) -> bytes:
        return certificate_pem(self.ca_cert)

    @property
    def tls_key_pem(self) -> bytes:
        return private_key_pem(self.tls_key)

    @property
    def tls_chain_pem(self) -> bytes:
        """Leaf then CA: a node reads the CA from this chain when it enrols (``sync.tls``)."""
        return certificate_pem(self.tls_cert) + certificate_pem(self.ca_cert)
