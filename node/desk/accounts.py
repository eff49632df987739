"""The desk's accounts (village agents, township clerks) and their sessions, in the node's
own database (``node.web.accounts``), with the node's ``[web]`` login policy."""

from __future__ import annotations

from node.service import NodeService
from node.settings import WebSettings
from node.store.schema import NodeAccount, NodeWebSession, table_of
from node.web.accounts import AccountBook, LoginPolicy

__all__ = ["desk_book"]


def desk_book(service: NodeService, web: WebSettings | None = None) -> AccountBook:
    web = web or service.config.web
    return AccountBook(service.store.db, accounts=table_of(NodeAccount),
                       sessions=table_of(NodeWebSession), clock=service.clock,
                       policy=LoginPolicy(max_failures=web.max_failures,
                                          lock_minutes=web.lock_minutes,
                                          idle_minutes=web.idle_minutes,
                                          max_hours=web.max_hours))
