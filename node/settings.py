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

Any setting can be overridden by ``BIANMIN_<KEY>`` or ``BIANMIN_<TABLE>__<KEY>`` (e.g.
``BIANMIN_SERVE__LISTEN=0.0.0.0:50051``, ``BIANMIN_DB_URL=postgresql+psycopg://...``), and a
command-line option overrides both. Read once at the entry point, passed on as values
(STYLE §11).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from node.kernel.errors import ConfigError

__all__ = ["HubSettings", "LimitSettings", "NodeSettings", "RunSettings", "ServeSettings",
           "load_settings"]


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
    enrol_listen: str = ""  # default: the sync port + 1 (hub only)
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


class _Settings(BaseSettings):
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


class HubSettings(_Settings):
    county_code: str = Field(pattern=r"^[0-9]{6}$")
    county_name: str = Field(min_length=1)
    db_url: str = ""
    node_id: str = "HUB"
    clock_skew_threshold_s: int = Field(default=600, ge=0)
    serve: ServeSettings = ServeSettings()


class NodeSettings(_Settings):
    node_id: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,15}$")
    tier: Literal["village", "township"]
    county_code: str = Field(pattern=r"^[0-9]{6}$")
    name: str
    upstream: str
    upstream_node_id: str
    fallback: str = ""
    fallback_node_id: str = ""
    run: RunSettings = RunSettings()
    limits: LimitSettings = LimitSettings()
    serve: ServeSettings = ServeSettings(listen="127.0.0.1:50061")

    @field_validator("upstream")
    @classmethod
    def _upstream(cls, v: str) -> str:
        return _address(v)

    @field_validator("fallback")
    @classmethod
    def _fallback(cls, v: str) -> str:
        return _address(v, optional=True)


def load_settings(cls: type[HubSettings] | type[NodeSettings], path: Path) -> Any:
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
