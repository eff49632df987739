"""What every bianmin command shares: ``--home``, ``--json``, output and error reporting.

Expected failures print one line on stderr (and, with ``--json``, exactly one
``{"error": {"code": ..., "message": ...}}`` object on stdout). Exit statuses (docs/operations.md):

* 0 -- done;
* 1 -- refused or failed: the line says what was wrong and what to do; nothing was changed;
* 2 -- the command line itself is wrong (click's usage errors, mutually exclusive options);
* 3 -- the upstream could not be reached: what was to be sent is queued here, nothing is lost;
* 4 -- the disk or a database cannot be used (damaged, full, read-only): nothing was changed;
* 130 -- interrupted (Ctrl-C); the line says what had been saved.

A failure of the disk or of SQLite anywhere in a command (a full disk half-way through a write,
a read-only home, a damaged page) is turned into its one line at this boundary
(``node.store.db.storage_error``). Only a bug shows a traceback.
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
from node.kernel.errors import (
    BianminError,
    ConfigError,
    StorageError,
    TransportError,
    UsageError,
)

if TYPE_CHECKING:
    from node.settings import ServeSettings

__all__ = ["EXIT_QUEUED", "EXIT_STORAGE", "RESTORE_ADVICE", "Interrupted", "Output",
           "bianmin_command", "clock", "jsonable", "one_of", "serve_settings"]

EXIT_QUEUED = 3  # the upstream could not be reached: queued here, nothing lost
EXIT_STORAGE = 4  # the disk or a database cannot be used


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
            except Interrupted as exc:
                out.error(exc)
                sys.exit(130)
            except BianminError as exc:
                out.error(exc)
                sys.exit(_exit_status(exc))
            except KeyboardInterrupt:
                click.echo("interrupted", err=True)
                sys.exit(130)
            except Exception as exc:
                found = _storage_error(exc, kwargs.get("home"))
                if found is None:
                    raise  # a bug: let it show
                out.error(found)
                sys.exit(EXIT_STORAGE)

        wrapped: Any = json_option(run)
        if home:
            wrapped = home_option(wrapped)
        return cast(F, group.command(name, **attrs)(wrapped))

    return decorate


def _exit_status(exc: BianminError) -> int:
    if isinstance(exc, TransportError):
        return EXIT_QUEUED
    if isinstance(exc, StorageError):
        return EXIT_STORAGE
    return 1


# How each tier restores a damaged database, by the file that marks its home; a tier's CLI
# adds its own (``county_hub.cli``: hub.toml), so that this layer knows none above it.
RESTORE_ADVICE: dict[str, Callable[[Path], str]] = {}


def _storage_error(exc: Exception, home: object) -> StorageError | None:
    """A failure of the disk or of SQLite, as the one line for the tier at ``home``."""
    from node.service import restore_advice  # noqa: PLC0415 -- only on a failure
    from node.store.db import quick_check, storage_error  # noqa: PLC0415

    where = home if isinstance(home, Path) else Path.cwd()
    advice = {"node.toml": restore_advice, **RESTORE_ADVICE}
    restore = next((how(where) for marker, how in advice.items()
                    if (where / marker).exists()), "")
    found = storage_error(exc, where=where, restore=restore)
    if found is None:  # a failure of no known kind: is a database here damaged?
        for db in (where / "node.db", where / "hub.db"):
            if db.is_file():
                try:
                    quick_check(db, restore=restore)
                except StorageError as damaged:
                    return damaged
    return found


def one_of(**flags: bool) -> str:
    """The one flag given of a group that exclude each other (``--approve``/``--reject``):
    none, or two, is a usage error (exit 2) and nothing is done."""
    given = [name for name, on in flags.items() if on]
    if len(given) == 1:
        return given[0]
    names = [f"--{name.replace('_', '-')}" for name in flags]
    if not given:
        raise click.UsageError(f"give one of {' or '.join(names)}")
    raise click.UsageError(f"{' and '.join(f'--{n}' for n in given).replace('_', '-')} "
                           "exclude each other: give only one")


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
