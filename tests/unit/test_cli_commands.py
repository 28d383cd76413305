"""The CLI's commands: its own, plus those installed distributions register (the dev tools)."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import connector.commands.run
from connector import cli

BUILT_IN = ["backfill", "check-config", "reconcile", "replay", "report", "run", "transform"]
DEV_TOOLS = [
    EntryPoint("demo", "capi_devtools.commands.demo", cli.COMMAND_GROUP),
    EntryPoint("sandbox", "capi_devtools.commands.sandbox", cli.COMMAND_GROUP),
]
NOT_INSTALLED = (
    "spotify-capi-connector demo: a developer tool, not installed here;"
    " in a checkout of the repository run `make setup`\n"
)


def names(commands: list[cli.Command]) -> list[str]:
    return [command.NAME for command in commands]


def test_registered_dev_tools_join_the_built_in_commands() -> None:
    assert names(cli.discover(DEV_TOOLS)) == sorted([*BUILT_IN, "demo", "sandbox"])
    assert cli.missing_dev_tool(["demo", "--events", "3"], cli.discover(DEV_TOOLS)) is None


def test_without_the_dev_tools_only_the_runtime_commands_exist() -> None:
    assert names(cli.discover([])) == BUILT_IN
    assert cli.missing_dev_tool(["sandbox"], cli.discover([])) == (
        "spotify-capi-connector sandbox: a developer tool, not installed here;"
        " in a checkout of the repository run `make setup`"
    )
    assert cli.missing_dev_tool(["run"], cli.discover([])) is None


def test_a_registered_command_never_replaces_a_built_in_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "impostor_command.py").write_text('NAME = "run"\nHELP = "not the connector"\n')
    monkeypatch.syspath_prepend(tmp_path)
    impostor = EntryPoint("run", "impostor_command", cli.COMMAND_GROUP)
    (run,) = [command for command in cli.discover([impostor]) if command.NAME == "run"]
    assert run is connector.commands.run


def test_demo_without_the_dev_tools_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "entry_points", lambda group: [])  # as in the image: none installed
    assert cli.main(["demo", "--events", "3"]) == 2
    assert capsys.readouterr().err == NOT_INSTALLED
