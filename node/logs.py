"""Structured logs for the serving processes (issue 7): one line per event, as text for a
person or as one JSON object per line for a log collector, carrying the node id, case id and
request id where they apply."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, TextIO

from node.kernel.clock import CST

__all__ = ["configure_logging", "event"]

_FIELDS = ("node_id", "case_id", "request_id", "log_id")


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "at": dt.datetime.fromtimestamp(record.created, CST).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        at = dt.datetime.fromtimestamp(record.created, CST).strftime("%Y-%m-%d %H:%M:%S")
        fields = getattr(record, "fields", {})
        tail = " ".join(f"{k}={v}" for k, v in fields.items() if k in _FIELDS)
        line = f"{at} {record.levelname.lower():<7} {record.getMessage()}"
        if tail:
            line += f"  [{tail}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(fmt: str, stream: TextIO | None = None, level: int = logging.INFO) -> None:
    """Route bianmin's loggers to ``stream`` (stderr) in ``fmt`` ("text" or "json")."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_Json() if fmt == "json" else _Text())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def event(logger: logging.Logger, msg: str, *, level: int = logging.INFO,
          **fields: object) -> None:
    """Log ``msg`` with structured ``fields`` (node_id, case_id, request_id, counts...)."""
    logger.log(level, msg, extra={"fields": fields})
