"""The `kubegate` command."""

from __future__ import annotations

import click

from kubegate import __version__
from kubegate.cli.demo import demo
from kubegate.cli.openapi_cmd import openapi
from kubegate.cli.run import run, validate
from kubegate.cli.store_cmd import migrate, products, subscriptions


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kubegate")
def cli() -> None:
    """kubegate: API management gateway for REST services on Kubernetes."""


cli.add_command(run)
cli.add_command(validate)
cli.add_command(demo)
cli.add_command(openapi)
cli.add_command(products)
cli.add_command(subscriptions)
cli.add_command(migrate)


def main() -> None:
    cli(prog_name="kubegate")
