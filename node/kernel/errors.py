"""The errors of bianmin's shared core, split by cause (STYLE §6).

Every error carries a short machine ``code`` (stable, used in JSON output and metrics) and a
message a clerk can act on: what was wrong, where, and what to do (STYLE §8).

::

    BianminError                     root: anything this package raises on purpose
    ├── UsageError                   the caller's input is wrong (CLI arguments, intake data)
    │   ├── CatalogError             an item, material or field the catalog does not allow
    │   └── NotFoundError            a case, node or file that does not exist here
    ├── StateError                   the action is not allowed in the case's current state
    ├── ConfigError                  the home folder is missing, half made, or inconsistent
    ├── StorageError                 the disk or a database cannot be used: damaged, full,
    │                                read-only (nothing was changed)
    ├── PeerError                    untrusted input from another node was refused
    │   └── VerificationError        signature, certificate, chain or body check failed
    │       └── ForkError            two different records claim the same log position
    └── TransportError               the upstream could not be reached or did not answer
"""

from __future__ import annotations

__all__ = [
    "BianminError",
    "CatalogError",
    "ConfigError",
    "ForkError",
    "NotFoundError",
    "PeerError",
    "StateError",
    "StorageError",
    "TransportError",
    "UsageError",
    "VerificationError",
]


class BianminError(Exception):
    """Root of bianmin's own errors. ``code`` is a stable identifier, ``str()`` the message."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class UsageError(BianminError):
    code = "invalid_input"


class CatalogError(UsageError):
    code = "catalog"


class NotFoundError(UsageError):
    code = "not_found"


class StateError(BianminError):
    code = "invalid_state"


class ConfigError(BianminError):
    code = "config"


class StorageError(BianminError):
    """Codes: ``damaged_database``, ``database_missing``, ``disk_full``, ``read_only``,
    ``no_permission``, ``disk_error``."""

    code = "storage"


class PeerError(BianminError):
    code = "refused"


class VerificationError(PeerError):
    code = "verification_failed"


class ForkError(VerificationError):
    code = "fork"


class TransportError(BianminError):
    code = "unreachable"
