"""`spotify-capi-connector sandbox`: run the local Spotify CAPI emulator until SIGTERM/SIGINT.

The first line on stdout is `sandbox listening on <events url> admin <admin url>`, flushed, so a
parent process can read where to send events.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from capi_devtools.sandbox.settings import SandboxSettings
from connector.errors import ConfigError

NAME = "sandbox"
HELP = "run a local emulator of the Spotify Conversions API (for the demo, tests, benchmarks)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="events port; 0 picks a free one")
    parser.add_argument("--admin-port", type=int, default=None, help="admin port; 0: free one")
    parser.add_argument(
        "--token", action="append", default=None, help="accepted bearer token (repeatable)"
    )
    parser.add_argument(
        "--connection-id",
        action="append",
        default=None,
        help="accepted capi_connection_id (repeatable)",
    )
    parser.add_argument("--validation", choices=("full", "light"), default=None)
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault sequence")
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML file of sandbox settings (see settings.py)"
    )


def run(args: argparse.Namespace) -> int:
    settings = build_settings(args)
    return asyncio.run(_serve(settings))


def build_settings(args: argparse.Namespace) -> SandboxSettings:
    values = _read_config(args.config) if args.config is not None else {}
    flags = {
        "host": args.host,
        "port": args.port,
        "admin_port": args.admin_port,
        "tokens": args.token,
        "connection_ids": args.connection_id,
        "validation": args.validation,
    }
    values.update({key: value for key, value in flags.items() if value is not None})
    if args.seed is not None:
        values["faults"] = {**values.get("faults", {}), "seed": args.seed}
    try:
        return SandboxSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigError(f"invalid sandbox settings: {problems}") from None


def _read_config(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("sandbox"), dict):
        loaded = loaded["sandbox"]  # the settings may sit under a `sandbox:` key
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} must hold a mapping of sandbox settings")
    return loaded


async def _serve(settings: SandboxSettings) -> int:
    from capi_devtools.sandbox.server import SandboxServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with SandboxServer(settings) as sandbox:
            print(f"sandbox listening on {sandbox.url} admin {sandbox.admin_url}", flush=True)
            await stop.wait()
    except OSError as exc:
        raise ConfigError(f"cannot listen: {exc.strerror}") from None
    return 0
