"""What every bianmin command shares: ``--home``, ``--json``, output and error reporting.

Expected failures print one line on stderr (and, with ``--json``, exactly one
``{"error": {"code": ..., "message": ...}}`` object on stdout) and exit 1; click's usage errors
exit 2. Only a bug shows a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from node.kernel.clock import Clock, OffsetClock, SystemClock
from node.kernel.errors import BianminError, ConfigError, UsageError

if TYPE_CHECKING:
    from node.settings import ServeSettings

__all__ = ["Interrupted", "Output", "bianmin_command", "clock", "jsonable", "serve_settings"]


class Interrupted(BianminError):
    """Ctrl-C, with what the command managed to do before it (exit status 130)."""

    code = "interrupted"

F = TypeVar("F", bound=Callable[..., Any])


UNSAFE_CLOCK_OFFSET = "BIANMIN_UNSAFE_CLOCK_OFFSET_S"


def clock() -> Clock:
    """The clock commands use: the system's, unless ``BIANMIN_UNSAFE_CLOCK_OFFSET_S`` shifts it
    (for tests and rehearsals of skewed village clocks; a warning says so)."""
    raw = os.environ.get(UNSAFE_CLOCK_OFFSET)
    if not raw:
        return SystemClock()
    try:
        seconds = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{UNSAFE_CLOCK_OFFSET}={raw!r} is not a number of seconds") from exc
    click.echo(f"warning: clock shifted by {seconds:+.0f} s ({UNSAFE_CLOCK_OFFSET})", err=True)
    return OffsetClock(dt.timedelta(seconds=seconds))


def jsonable(value: object) -> object:
    """Plain JSON values for dataclasses, enums, times, bytes and paths."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


class Output:
    """Text for people, or exactly one JSON object for scripts."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def result(self, data: dict[str, Any], text: str | Iterable[str]) -> None:
        if self.as_json:
            click.echo(json.dumps(jsonable(data), ensure_ascii=False))
        else:
            click.echo(text if isinstance(text, str) else "\n".join(text))

    def note(self, message: str) -> None:
        """Progress or a warning: stderr, so stdout stays one JSON object."""
        click.echo(message, err=True)

    def error(self, exc: BianminError) -> None:
        click.echo(f"error: {exc}", err=True)
        if self.as_json:
            click.echo(json.dumps({"error": {"code": exc.code, "message": str(exc)}},
                                  ensure_ascii=False))


def home_option(fn: F) -> F:
    return click.option(
        "--home", type=click.Path(path_type=Path, file_okay=False), envvar="BIANMIN_HOME",
        required=True, help="This tier's data folder (default: $BIANMIN_HOME).",
    )(fn)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print exactly one JSON object on stdout.")(fn)


def bianmin_command(group: click.Group, name: str, *, home: bool = True,
                    **attrs: Any) -> Callable[[F], F]:
    """Declare a command of ``group`` with ``--home`` and ``--json`` and our error handling.
    The decorated function receives ``out`` (an ``Output``) and, if ``home``, ``home``."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, as_json: bool, **kwargs: Any) -> None:
            out = Output(as_json)
            try:
                fn(*args, out=out, **kwargs)
            except BianminError as exc:
                out.error(exc)
                sys.exit(1)
            except Interrupted as exc:
                out.error(exc)
                sys.exit(130)
            except KeyboardInterrupt:
                click.echo("interrupted", err=True)
                sys.exit(130)

        wrapped: Any = json_option(run)
        if home:
            wrapped = home_option(wrapped)
        return cast(F, group.command(name, **attrs)(wrapped))

    return decorate


def serve_settings(configured: ServeSettings, **options: object) -> ServeSettings:
    """The ``[serve]`` settings of the config file with the command line's options on top
    (``None``: not given), checked the same way."""
    from pydantic import ValidationError  # noqa: PLC0415 -- only the serve commands need it

    from node.settings import ServeSettings  # noqa: PLC0415

    given = {k: v for k, v in options.items() if v is not None}
    try:
        return ServeSettings(**{**configured.model_dump(), **given})
    except ValidationError as exc:
        raise UsageError("; ".join(f"--{'-'.join(str(p) for p in e['loc'])}: {e['msg']}"
                                   for e in exc.errors())) from exc
