"""Serving the desk from the node's own process (``node run``; ``township serve`` adds its
pages): ``with serving_desk(service) as url:`` -- "" when ``[web] enabled = false``. The web
modules are imported only then, so a node without pages pays nothing for them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from node.service import NodeService

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from node.web.pages import Site

__all__ = ["serving_desk"]


@contextmanager
def serving_desk(service: NodeService, *,
                 extra: Callable[[Site], list[BaseRoute]] | None = None,
                 nav: Sequence[tuple[str, str]] = (),
                 folders: Sequence[Path] = ()) -> Iterator[str]:
    web = service.config.web
    if not web.enabled:
        yield ""
        return
    from node.desk.pages import desk_app  # noqa: PLC0415
    from node.web.server import serving_web  # noqa: PLC0415

    app = desk_app(service, web, extra=extra, nav=nav, folders=folders)
    with serving_web(app, web.listen, tls_cert=web.tls_cert, tls_key=web.tls_key) as server:
        yield server.url
