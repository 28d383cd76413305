"""The one CLI: `spotify-capi-connector <command>`; each command lives in connector/commands/."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from typing import Protocol, cast

from connector import __version__, commands
from connector.errors import ConnectorError


class Command(Protocol):
    NAME: str
    HELP: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def discover() -> list[Command]:
    found = []
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if hasattr(module, "NAME"):
            found.append(cast(Command, module))
    return sorted(found, key=lambda command: command.NAME)


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
    parser = build_parser(discover())
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ConnectorError as exc:
        print(f"spotify-capi-connector {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
