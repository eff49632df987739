"""Operators (窗口工作人员): who may act at the county, for which department (issue 6).

Registering, importing and disabling operators are actions like any other: each is written
with its line of the trail in one unit of work. The CLI commands only parse and print.
"""

from __future__ import annotations

from collections.abc import Sequence

from county_hub.hub import Hub
from county_hub.store import OperatorRow
from node.kernel.errors import NotFoundError, UsageError

__all__ = ["add_operator", "disable_operator", "import_operators", "list_operators"]


def add_operator(hub: Hub, *, name: str, department: str, role: str) -> None:
    with hub.store.transaction() as tx:
        if tx.operator(name) is not None:
            raise UsageError(f"operator {name} is already registered", code="already_registered")
        tx.add_operator(name=name, department=department, role=role)
        tx.add_trail(kind="OperatorAdded", operator=name, detail=f"{department}, {role}")


def import_operators(hub: Hub, listed: Sequence[tuple[str, str, str]]) -> list[str]:
    """Register the listed ``(name, department, role)``; those already registered are left as
    they are. The names added."""
    added = []
    with hub.store.transaction() as tx:
        for name, department, role in listed:
            if tx.operator(name) is None:
                tx.add_operator(name=name, department=department, role=role)
                tx.add_trail(kind="OperatorAdded", operator=name, detail=f"{department}, {role}")
                added.append(name)
    return added


def disable_operator(hub: Hub, name: str) -> None:
    with hub.store.transaction() as tx:
        if not tx.set_operator_active(name, False):
            raise NotFoundError(f"operator {name} is not registered")
        tx.add_trail(kind="OperatorDisabled", operator=name)


def list_operators(hub: Hub) -> list[OperatorRow]:
    with hub.store.reading() as r:
        return r.list_operators()
