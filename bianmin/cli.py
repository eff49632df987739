"""The ``bianmin`` entry point: mounts each tier's commands (DESIGN §10, layer 4).

Each tier's command group is imported only when it is used, so ``bianmin node intake`` at a
village desk does not pay for loading the hub's code.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

__all__ = ["main"]

_GROUPS = {
    "hub": ("county_hub.cli", "hub", "The county hub: CA, enrolment, catalog, approvals."),
    "node": ("node.cli", "node", "A village (or township) node: intake offline, sync."),
    "township": ("township_agent.cli", "township",
                 "A township service center: relay for villages, delegated decisions."),
    "demo": ("bianmin.demo", "demo", "Run a county, a township and villages on loopback."),
    "config": ("bianmin.config_cmd", "config", "Check a home folder's settings."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_GROUPS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _GROUPS:
            return None
        module, attr, _help = _GROUPS[cmd_name]
        command: Any = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_m, _a, help_) in sorted(_GROUPS.items())])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bianmin")
def main() -> None:
    """bianmin (便民): government services from the village desk to the county and back."""
