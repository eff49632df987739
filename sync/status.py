"""Refusal reason codes on the wire (docs/protocol.md, "Errors").

A refused call carries, besides its gRPC status code and message, the short reason code the
server's error has (``batch_too_large``, ``token_used``, ``held``): the same code the CLI prints
with ``--json`` and the metrics count. It travels twice in the trailing metadata, both set here
and read here, so the two can never disagree:

* ``bianmin-reason``: the code as plain ASCII, readable by any gRPC client (and by grpcurl);
* ``grpc-status-details-bin``: a ``google.rpc.Status`` (the standard rich error model) with one
  ``google.rpc.ErrorInfo`` whose ``reason`` is the code and ``domain`` is ``bianmin.v1``.
  Our codes are lower_snake_case, as everywhere else in bianmin, not the UPPER_SNAKE_CASE
  that Google's API guidelines suggest for ``reason``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import google.rpc.error_details_pb2
import google.rpc.status_pb2
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError

# (imported by full name: mypy finds these .pyi files only so, beside types-protobuf's stubs)
error_details_pb2 = google.rpc.error_details_pb2
status_pb2 = google.rpc.status_pb2

__all__ = ["DETAILS_KEY", "ERROR_DOMAIN", "REASON_KEY", "reason_in", "refusal_trailers"]

REASON_KEY = "bianmin-reason"
DETAILS_KEY = "grpc-status-details-bin"
ERROR_DOMAIN = "bianmin.v1"
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def refusal_trailers(code: str, *, status: int, message: str) -> tuple[tuple[str, str | bytes],
                                                                        ...]:
    """The trailing metadata of a call refused with ``code`` (``status``: the gRPC status
    code's number, which the rich status must repeat)."""
    if not _CODE.match(code):
        raise ValueError(f"reason code {code!r} is not lower_snake_case of at most 63 chars")
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=code, domain=ERROR_DOMAIN))
    rich = status_pb2.Status(code=status, message=message, details=[detail])
    return ((REASON_KEY, code), (DETAILS_KEY, rich.SerializeToString()))


def reason_in(trailers: Iterable[Sequence[object]] | None) -> str:
    """The reason code in a refused call's trailing metadata ("" when it carries none): the
    ``ErrorInfo`` of the rich status if there is one, else the ``bianmin-reason`` entry."""
    plain = ""
    for entry in trailers or ():
        key, value = entry[0], entry[1]
        if key == REASON_KEY and isinstance(value, str) and _CODE.match(value):
            plain = value
        elif key == DETAILS_KEY and isinstance(value, bytes):
            found = _error_info_reason(value)
            if found:
                return found
    return plain


def _error_info_reason(data: bytes) -> str:
    rich = status_pb2.Status()
    try:
        rich.ParseFromString(data)
    except DecodeError:  # a peer's bytes: unreadable means absent
        return ""
    for detail in rich.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == ERROR_DOMAIN and _CODE.match(info.reason):
            return str(info.reason)
    return ""
