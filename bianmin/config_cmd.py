"""``bianmin config check --home D``: is this home folder ready to run? (issue 7)

Reads the tier's settings (file, then ``BIANMIN_*`` overrides), then checks what a start would
need: keys and certificates readable and matching, the CA valid, the database reachable and
its schema current, a catalog in hand. Prints the effective settings and every problem found;
exits 1 if there is any.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import make_url

from node.cli_support import Output, bianmin_command
from node.kernel.clock import SystemClock
from node.kernel.errors import BianminError, ConfigError

__all__ = ["config"]


@click.group()
def config() -> None:
    """Settings of a hub, township or village home folder."""


def _mask(url: str) -> str:
    if not url:
        return "(SQLite hub.db in the home folder)"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"


def _hub_checks(home: Path) -> tuple[dict[str, Any], list[tuple[str, Callable[[], str]]]]:
    from county_hub.home import HubConfig, HubKeys, default_db_url  # noqa: PLC0415
    from county_hub.hub import MIGRATIONS  # noqa: PLC0415
    from node.kernel.identity import CATALOG_LOG_ID, check_issued_by  # noqa: PLC0415
    from node.store.db import Database  # noqa: PLC0415

    cfg = HubConfig.load(home)
    shown = {"tier": "county hub", "county_code": cfg.county_code,
             "county_name": cfg.county_name, "db_url": _mask(cfg.db_url),
             "clock_skew_threshold_s": cfg.clock_skew_threshold_s,
             "serve": cfg.serve.model_dump()}

    def keys() -> str:
        k = HubKeys.load(home)
        now = SystemClock().now()
        for cert in (k.records_cert, k.catalog_cert, k.tls_cert):
            check_issued_by(cert, k.ca_cert, now)
        if k.tls_cert.public_key() != k.tls_key.public_key():
            raise ConfigError("certs/tls.pem does not certify keys/tls.key")
        left = (k.ca_cert.not_valid_after_utc - now).days
        return f"keys and certificates match; county CA valid for {left} more days"

    def database() -> str:
        db = Database(cfg.db_url or default_db_url(home), migrations=MIGRATIONS)
        try:
            at, head = db.revision(), db.expected_head()
            if at != head:
                raise ConfigError(f"schema at revision {at}, this release needs {head}: it "
                                  "will be upgraded when the hub starts; back up first")
            from county_hub.store import HubStore  # noqa: PLC0415

            with HubStore(db, SystemClock()).reading() as r:
                version = r.head(CATALOG_LOG_ID).seq
            if not version:
                raise ConfigError("no catalog published: bianmin hub catalog publish FILE")
            return f"database reachable, schema {at}, catalog version {version}"
        finally:
            db.close()

    return shown, [("keys", keys), ("database", database)]


def _node_checks(home: Path) -> tuple[dict[str, Any], list[tuple[str, Callable[[], str]]]]:
    from node.enrolment import NODE_MIGRATIONS  # noqa: PLC0415
    from node.home import NodeConfig, load_ec_key, load_ed25519_key, read_certificate  # noqa: PLC0415
    from node.kernel.identity import check_issued_by  # noqa: PLC0415
    from node.service import latest_catalog  # noqa: PLC0415
    from node.store.db import Database, sqlite_url  # noqa: PLC0415
    from node.store.sql import NodeStore  # noqa: PLC0415

    cfg = NodeConfig.load(home)
    shown = {"tier": cfg.tier, "node_id": cfg.node_id, "county_code": cfg.county_code,
             "upstream": f"{cfg.upstream_node_id} at {cfg.upstream}",
             "fallback": cfg.fallback or "(none)", "run": cfg.run.model_dump(),
             "limits": cfg.limits.model_dump()}
    if cfg.tier == "township":
        shown["serve"] = cfg.serve.model_dump()

    def keys() -> str:
        ca = read_certificate(home / "certs" / "ca.pem")
        now = SystemClock().now()
        pairs = (("records", load_ed25519_key(home / "keys" / "records.key").public_key()),
                 ("tls", load_ec_key(home / "keys" / "tls.key").public_key()))
        for name, public_key in pairs:
            cert = read_certificate(home / "certs" / f"{name}.pem")
            check_issued_by(cert, ca, now)
            if cert.public_key() != public_key:
                raise ConfigError(f"certs/{name}.pem does not certify keys/{name}.key")
        return "keys and certificates match, issued by the county CA"

    def database() -> str:
        db = Database(sqlite_url(home / "node.db"), migrations=NODE_MIGRATIONS)
        try:
            at = db.revision()
            with NodeStore(db, SystemClock()).reading() as r:
                _r, catalog = latest_catalog(r)
            expired = catalog.expires_at < SystemClock().now()
            return (f"database readable, schema {at}; catalog version {catalog.version}"
                    + (" (EXPIRED: sync to renew)" if expired else ""))
        finally:
            db.close()

    return shown, [("keys", keys), ("database", database)]


@bianmin_command(config, "check")
def check(home: Path, out: Output) -> None:
    """Validate the settings and what a start would need; exit 1 on any problem."""
    if (home / "hub.toml").exists():
        shown, checks = _hub_checks(home)
    elif (home / "node.toml").exists():
        shown, checks = _node_checks(home)
    else:
        raise ConfigError(f"{home} holds neither hub.toml nor node.toml: not a bianmin home")
    results = []
    for name, fn in checks:
        try:
            results.append({"check": name, "ok": True, "detail": fn()})
        except BianminError as exc:
            results.append({"check": name, "ok": False, "detail": str(exc)})
        except Exception as exc:
            results.append({"check": name, "ok": False, "detail": f"{type(exc).__name__}: {exc}"})
    ok = all(r["ok"] for r in results)
    lines = [f"{home}: {shown['tier']}", *(f"  {k} = {v}" for k, v in shown.items() if k != "tier")]
    lines += [f"  [{'ok' if r['ok'] else 'PROBLEM'}] {r['check']}: {r['detail']}" for r in results]
    out.result({"ok": ok, "settings": shown, "checks": results}, lines)
    if not ok:
        sys.exit(1)
