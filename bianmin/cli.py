"""The ``bianmin`` entry point: mounts each tier's commands (DESIGN §10, layer 4)."""

from __future__ import annotations

import click

from bianmin.demo import demo
from county_hub.cli import hub
from node.cli import node

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bianmin")
def main() -> None:
    """bianmin (便民): government services from the village desk to the county and back."""


main.add_command(hub)
main.add_command(node)
main.add_command(demo)
