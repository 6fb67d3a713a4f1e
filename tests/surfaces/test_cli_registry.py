"""The command line registers every command module, and stops loudly when one cannot be imported."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from chipplan import cli

runner = CliRunner()


def test_every_registered_command_is_listed():
    out = runner.invoke(cli.app, ["--help"]).stdout
    for _, _, _, name in cli._REGISTRY:
        assert name in out


def test_a_command_module_that_fails_to_import_is_an_error(monkeypatch):
    monkeypatch.setattr(cli, "_REGISTRY", [("chipplan.commands.no_such_topic", "x_command", "command", "x")])
    with pytest.raises(ImportError, match=r"command 'x' cannot be loaded: chipplan.commands.no_such_topic"):
        cli._register()
