"""The county hub as one value: its config, keys, database and clock (DESIGN §1, §4).

``init_hub`` makes a new hub home; ``Hub.open`` loads one. The hub process keeps no state
outside the database (DESIGN §9) apart from caches of immutable things (parsed catalog
versions), so several hub processes can share one database.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from county_hub.ca import issue_certificate, make_ca
from county_hub.home import HubConfig, HubKeys, default_db_url
from county_hub.store import HubStore
from node.home import write_certificate, write_private_key
from node.kernel.clock import Clock
from node.kernel.errors import ConfigError, NotFoundError, UsageError
from node.kernel.identity import (
    CATALOG_LOG_ID,
    HUB_NODE_ID,
    NodeIdentity,
    Signer,
    new_records_key,
    new_tls_key,
)
from node.kernel.payloads import CatalogPublished
from node.kernel.records import parse_record
from node.store.db import Database
from node.store.seam import Reader

__all__ = ["Hub", "init_hub"]

MIGRATIONS = "county_hub:migrations"


HUB_RESTORE = ("Restore the county's database from its latest backup (docs/operations.md, "
               "'Backups and restore'); the nodes keep every record and resend what the "
               "restored hub lacks")


@dataclass
class Hub:
    home: Path
    config: HubConfig
    keys: HubKeys
    store: HubStore
    clock: Clock
    _catalogs: dict[int, CatalogPublished] = field(default_factory=dict)
    _catalog_hashes: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def open(cls, home: Path, clock: Clock, *, upgrade: bool = True,
             thorough: bool = False) -> Hub:
        """The hub at ``home``, its database checked (``thorough``: with SQLite's quick_check,
        as ``hub serve`` does at start) and upgraded to the newest schema."""
        config = HubConfig.load(home)
        keys = HubKeys.load(home)
        db = Database(config.db_url or default_db_url(home), migrations=MIGRATIONS,
                      restore=HUB_RESTORE)
        try:
            db.check(thorough=thorough)
            if upgrade:
                db.upgrade()
        except BaseException:
            db.close()
            raise
        return cls(home=home, config=config, keys=keys, store=HubStore(db, clock), clock=clock)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def node_id(self) -> str:
        return self.config.node_id

    def catalog_hash(self, reader: Reader, version: int) -> bytes | None:
        """The hash of a published catalog version (versions never change: cached)."""
        if version not in self._catalog_hashes:
            found = reader.hash_at(CATALOG_LOG_ID, version)
            if found is None:
                return None
            self._catalog_hashes[version] = found
        return self._catalog_hashes[version]

    def catalog_version(self, reader: Reader, version: int | None = None) -> CatalogPublished:
        """A published catalog version (the newest if ``version`` is None)."""
        if version is None:
            version = reader.head(CATALOG_LOG_ID).seq
        if version in self._catalogs:
            return self._catalogs[version]
        rows = reader.raw_after(CATALOG_LOG_ID, version - 1, 1)
        if not rows or rows[0][0] != version:
            raise NotFoundError("the hub has published no catalog yet: run 'bianmin hub "
                                "catalog publish FILE'" if version == 0 else
                                f"catalog version {version} is not at the hub")
        record = parse_record(rows[0][1], rows[0][2])
        assert isinstance(record.payload, CatalogPublished)
        self._catalogs[version] = record.payload
        return record.payload


def init_hub(home: Path, *, county_code: str, county_name: str, db_url: str | None,
             clock: Clock) -> HubConfig:
    """Create the county CA, the hub's keys and the database in a new home folder.

    Everything is made in a scratch folder beside ``home`` and moved into place at the end, so
    a failure leaves no half-made home behind.
    """
    if (home / "hub.toml").exists():
        raise UsageError(f"{home} already holds a hub; refusing to overwrite its CA",
                         code="already_initialized")
    if home.exists() and any(home.iterdir()):
        raise UsageError(f"{home} exists and is not empty; choose a new --home",
                         code="already_initialized")
    home.parent.mkdir(parents=True, exist_ok=True)
    now = clock.now()
    scratch = Path(tempfile.mkdtemp(prefix=f".{home.name}.init-", dir=home.parent))
    try:
        ca_key, ca_cert = make_ca(county_code, county_name, now)
        write_private_key(scratch / "ca" / "ca.key", ca_key)
        write_certificate(scratch / "ca" / "ca.pem", ca_cert)
        signers = {}
        for purpose, node_id in (("records", HUB_NODE_ID), ("catalog", CATALOG_LOG_ID)):
            key = new_records_key()
            identity = NodeIdentity(county_code=county_code, node_id=node_id, tier="county",
                                    parent="", purpose=purpose)
            cert = issue_certificate(ca_key=ca_key, ca_cert=ca_cert,
                                     public_key=key.public_key(), identity=identity, now=now)
            write_private_key(scratch / "keys" / f"{purpose}.key", key)
            write_certificate(scratch / "certs" / f"{purpose}.pem", cert)
            signers[purpose] = (Signer(key), cert)
        tls_key = new_tls_key()
        tls_cert = issue_certificate(
            ca_key=ca_key, ca_cert=ca_cert, public_key=tls_key.public_key(),
            identity=NodeIdentity(county_code=county_code, node_id=HUB_NODE_ID, tier="county",
                                  parent="", purpose="tls"),
            now=now)
        write_private_key(scratch / "keys" / "tls.key", tls_key)
        write_certificate(scratch / "certs" / "tls.pem", tls_cert)
        config = HubConfig.model_validate({"county_code": county_code,
                                           "county_name": county_name, "db_url": db_url or ""})
        db = Database(db_url or default_db_url(scratch), migrations=MIGRATIONS)
        try:
            db.upgrade()
            with HubStore(db, clock).transaction() as tx:
                if tx.head(HUB_NODE_ID).seq or tx.cases.count():
                    raise ConfigError(f"database {db.safe_url} already holds a hub's data; "
                                      "give an empty database")
                for _signer, cert in signers.values():
                    tx.add_certificate(cert)
        finally:
            db.close()
        config.save(scratch)
        if home.exists():
            home.rmdir()
        os.replace(scratch, home)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return config
