"""Every django-axme management command prints its help (``--help`` and ``manage.py help``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import ManagementUtility, get_commands, load_command_class

import django_axme

COMMANDS_DIR = Path(django_axme.__file__).parent / "management" / "commands"
COMMANDS = sorted(p.stem for p in COMMANDS_DIR.glob("*.py") if not p.stem.startswith("_"))


def test_the_documented_commands_are_found() -> None:
    assert COMMANDS == ["axme_agent", "axme_emulator", "axme_prune", "axme_sync", "axme_webhooks"]
    assert all(get_commands()[name] == "django_axme" for name in COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("argv", [["{name}", "--help"], ["help", "{name}"]], ids=["--help", "help"])
def test_help_prints_the_description_and_options(name, argv, capsys) -> None:
    utility = ManagementUtility(["manage.py", *(a.format(name=name) for a in argv)])
    try:
        utility.execute()  # ``help NAME`` returns; ``NAME --help`` exits through argparse
    except SystemExit as exc:
        assert exc.code in (0, None)
    out = capsys.readouterr().out
    command = load_command_class("django_axme", name)
    assert str(command.help).split()[0] in out
    assert f"usage: manage.py {name}" in out
    assert "--verbosity" in out


@pytest.mark.parametrize("name", COMMANDS)
def test_help_texts_are_plain_strings(name) -> None:
    """argparse formats help with ``re``; a lazy translation proxy makes it crash."""
    command = load_command_class("django_axme", name)
    assert type(command.help) is str
    parser = command.create_parser("manage.py", name)
    for action in parser._actions:
        assert action.help is None or type(action.help) is str, action.dest
