"""Settings of every tier (issue 7): one TOML file per home, overridable from the environment,
validated once at start with messages that name the file, the setting and what to do.

``hub.toml`` (county) and ``node.toml`` (village or township) hold who the tier is -- written
by ``init`` -- and optional tables of operating settings::

    [serve]            # hub and township
    listen = "127.0.0.1:50051"
    metrics = "127.0.0.1:9464"
    log_format = "json"
    [run]              # village daemon
    interval_s = 60
    [limits]           # attachments at intake
    max_file_mb = 20
    [web]              # the pages: the desk, the township's desk, the county console
    listen = "127.0.0.1:8061"

Any setting can be overridden by ``BIANMIN_<KEY>`` or ``BIANMIN_<TABLE>__<KEY>`` (e.g.
``BIANMIN_SERVE__LISTEN=0.0.0.0:50051``, ``BIANMIN_DB_URL=postgresql+psycopg://...``), and a
command-line option overrides both. Read once at the entry point, passed on as values
(STYLE §11).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from node.kernel.errors import ConfigError
from node.kernel.identity import CATALOG_LOG_ID, HUB_NODE_ID

__all__ = ["LimitSettings", "NodeConfig", "RunSettings", "ServeSettings", "Settings",
           "WebSettings", "load_settings", "write_toml"]


def _address(value: str, *, optional: bool = False) -> str:
    if optional and not value:
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return value


class ServeSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: str = "127.0.0.1:50051"
    enrol_listen: str = ""  # default: the sync port + 1 (a township: the relay to the county's)
    metrics: str = ""  # HOST:PORT for Prometheus; empty: off
    log_format: Literal["text", "json"] = "text"
    workers: int = Field(default=32, ge=1, le=1000)
    processes: int = Field(default=1, ge=1, le=64)  # hub only: serving processes (SO_REUSEPORT)
    verify_threads: int = Field(default=2, ge=1, le=64)
    drain_s: float = Field(default=2.0, ge=0, le=120)  # NOT_SERVING this long before stopping

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        return _address(v)

    @field_validator("enrol_listen", "metrics")
    @classmethod
    def _optional(cls, v: str) -> str:
        return _address(v, optional=True)


class RunSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    interval_s: float = Field(default=60.0, ge=1, le=86_400)
    log_format: Literal["text", "json"] = "text"


class LimitSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_file_mb: int = Field(default=20, ge=1, le=1024)
    max_case_mb: int = Field(default=100, ge=1, le=10_240)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BIANMIN_", env_nested_delimiter="__",
                                      extra="forbid", frozen=True)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)  # the environment overrides the file


class WebSettings(BaseModel):
    """``[web]``: the tier's pages (DESIGN §11). A desk listens on loopback unless configured
    for the LAN; ``secure_cookies`` sends the login cookie over HTTPS only (always so with
    ``tls_cert``); a reverse proxy in front may serve HTTPS instead."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    listen: str = "127.0.0.1:8061"
    tls_cert: str = ""  # PEM files: serve HTTPS directly
    tls_key: str = ""
    secure_cookies: bool = False
    idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    max_hours: int = Field(default=12, ge=1, le=24 * 7)
    max_failures: int = Field(default=5, ge=1, le=100)
    lock_minutes: int = Field(default=15, ge=1, le=24 * 60)
    lookups_per_minute: int = Field(default=10, ge=1, le=10_000)  # county: 办件查询 per address
    scanner_folder: str = ""  # desk: where the scanner writes its files, offered at intake

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        return _address(v)


class NodeConfig(Settings):
    """``node.toml``: who this node is and where its upstream is (written by ``node init``),
    and its operating settings (defaults unless configured). The one settings model of a
    village or township: ``NodeConfig.load(home)`` reads the file and the environment."""

    node_id: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,15}$")
    tier: Literal["village", "township"]
    county_code: str = Field(pattern=r"^[0-9]{6}$")
    name: str
    upstream: str  # HOST:PORT of the upstream's sync service
    upstream_node_id: str
    # a village under a township may also reach the county directly when the township is away
    fallback: str = ""
    fallback_node_id: str = ""
    # where this node enrolled (a township passes its villages' enrolment through to it)
    enrol: str = ""
    run: RunSettings = RunSettings()
    limits: LimitSettings = LimitSettings()
    serve: ServeSettings = ServeSettings(listen="127.0.0.1:50061")
    web: WebSettings = WebSettings()

    IDENTITY: ClassVar[tuple[str, ...]] = (
        "node_id", "tier", "county_code", "name", "upstream", "upstream_node_id", "fallback",
        "fallback_node_id", "enrol")

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, v: str) -> str:
        return _address(v)

    @field_validator("fallback")
    @classmethod
    def _fallback(cls, v: str) -> str:
        return _address(v, optional=True)

    @classmethod
    def load(cls, home: Path) -> NodeConfig:
        config: NodeConfig = load_settings(cls, home / "node.toml")
        return config

    def save(self, home: Path) -> None:
        """Write who this node is (init does this once; operating settings are added by the
        county IT team by hand, see deploy/config)."""
        write_toml(home / "node.toml", {k: getattr(self, k) for k in self.IDENTITY})

    @property
    def followed_logs(self) -> tuple[str, ...]:
        """The upstream logs this node pulls: the catalog, the county's, and its township's."""
        logs = [CATALOG_LOG_ID, HUB_NODE_ID]
        if self.upstream_node_id not in logs:
            logs.append(self.upstream_node_id)
        return tuple(logs)


def load_settings(cls: type[Settings], path: Path) -> Any:
    """Read ``path``, apply ``BIANMIN_*`` overrides, validate; ``ConfigError`` naming each
    problem otherwise."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        tier = "hub" if path.stem == "hub" else "node"
        raise ConfigError(f"{path} does not exist: run 'bianmin {tier} init' first, or pass "
                          "the right --home (or set BIANMIN_HOME)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", code="bad_config") from exc
    try:
        return cls(**raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            env = "BIANMIN_" + "__".join(str(p) for p in err["loc"]).upper()
            source = f" (from ${env})" if env in os.environ else ""
            problems.append(f"{where}{source}: {err['msg']}")
        raise ConfigError(f"{path}: " + "; ".join(problems), code="bad_config") from exc


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
