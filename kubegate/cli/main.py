"""The `kubegate` command. Subcommands are imported only when used, so
`kubegate run` does not pay for the store, importers or admin pages it skips."""

from __future__ import annotations

import importlib

import click

from kubegate import __version__

COMMANDS = {
    "run": ("kubegate.cli.run", "run", "Serve the APIs of a configuration."),
    "validate": ("kubegate.cli.run", "validate", "Check a configuration; print every problem."),
    "demo": ("kubegate.cli.demo", "demo", "Start two sample services and the gateway in front."),
    "openapi": ("kubegate.cli.openapi_cmd", "openapi", "Import or fix OpenAPI/Swagger documents."),
    "products": ("kubegate.cli.store_cmd", "products", "Manage products in the store."),
    "subscriptions": ("kubegate.cli.store_cmd", "subscriptions", "Manage subscriptions and keys."),
    "migrate": ("kubegate.cli.store_cmd", "migrate", "Create or upgrade the store's schema."),
    "policy": ("kubegate.cli.policy_cmd", "policy", "Check or run APIM policy documents offline."),
    "export": ("kubegate.cli.export_cmd", "export", "Write the effective configuration."),
    "k8s": ("kubegate.cli.k8s_cmd", "k8s", "Kubernetes helpers (node ports)."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][2]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kubegate")
def cli() -> None:
    """kubegate: API management gateway for REST services on Kubernetes."""


def main() -> None:
    cli(prog_name="kubegate")
