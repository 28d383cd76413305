"""The one CLI: `spotify-capi-connector <command>`; each command lives in connector/commands/.

Other installed distributions add commands through the `spotify_capi_connector.commands`
entry-point group: the dev tools (devtools/) add `demo` and `sandbox` that way, so the runtime
never imports them and the image, which does not install them, has no such commands.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Iterable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Protocol, cast

from connector import __version__, commands
from connector.errors import ConnectorError


class Command(Protocol):
    NAME: str
    HELP: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


COMMAND_GROUP = "spotify_capi_connector.commands"
DEV_TOOL_COMMANDS = ("demo", "sandbox")  # registered by spotify-capi-devtools (devtools/)


def discover(plugins: Iterable[EntryPoint] | None = None) -> list[Command]:
    """The built-in commands and those installed distributions register (default: all of them).
    A registered command never replaces a built-in one of the same name."""
    found: dict[str, Command] = {}
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "NAME"):
            found[module.NAME] = cast(Command, module)
    for plugin in entry_points(group=COMMAND_GROUP) if plugins is None else plugins:
        command = cast(Command, plugin.load())
        found.setdefault(command.NAME, command)
    return sorted(found.values(), key=lambda command: command.NAME)


def missing_dev_tool(argv: Sequence[str], available: Iterable[Command]) -> str | None:
    """One line for a dev tools' command asked for where they are not installed, else None."""
    if not argv or argv[0] not in DEV_TOOL_COMMANDS:
        return None
    if argv[0] in {command.NAME for command in available}:
        return None
    return (
        f"spotify-capi-connector {argv[0]}: a developer tool, not installed here;"
        " in a checkout of the repository run `make setup`"
    )


def build_parser(available: list[Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spotify-capi-connector",
        description="Deliver conversion events from Kafka to the Spotify Conversions API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in available:
        command_parser = sub.add_parser(command.NAME, help=command.HELP, description=command.HELP)
        command.configure(command_parser)
        command_parser.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    available = discover()
    arguments = sys.argv[1:] if argv is None else list(argv)
    missing = missing_dev_tool(arguments, available)
    if missing is not None:
        print(missing, file=sys.stderr)
        return 2
    args = build_parser(available).parse_args(arguments)
    try:
        return int(args.handler(args))
    except ConnectorError as exc:
        print(f"spotify-capi-connector {args.command}: {exc}", file=sys.stderr)
        if exc.hard_exit:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.exit_code)  # see PrepareProcessLost
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
