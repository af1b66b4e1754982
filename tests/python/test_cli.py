"""The CLI explains itself: a version, a description per command, help and default per option."""

from __future__ import annotations

import argparse
import re

import pytest

from kequn import __version__
from kequn.cli import _parser, main


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings
            and not isinstance(a, argparse._HelpAction | argparse._VersionAction)]


def problems_of(parser: argparse.ArgumentParser) -> list[str]:
    """Every option without help, or whose help states neither its default nor 'required'."""
    found = []
    commands = _subcommands(parser)
    listed = {a.dest: a.help for a in
              next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
              ._choices_actions} if commands else {}
    for name, sub in commands.items():
        if not listed.get(name):
            found.append(f"{name}: no one-line help in `kequn --help`")
        if not sub.description or len(sub.description) < 40:
            found.append(f"{name}: no description")
        for action in _options(sub):
            flag = f"{name} {action.option_strings[-1]}"
            text = (action.help or "").strip()
            if not text:
                found.append(f"{flag}: no help")
            elif action.required:
                if "required" not in text:
                    found.append(f"{flag}: required, and its help does not say so")
            elif not re.search(r"\(default\b[^)]*\)", text):
                found.append(f"{flag}: help does not state its default as '(default ...)'")
    return found


def test_every_command_and_option_explains_itself():
    parser = _parser()
    assert len(_subcommands(parser)) >= 5   # the walk below must see the real tree
    assert problems_of(parser) == []


def test_the_walk_catches_an_option_without_help_or_default():
    parser = _parser()
    sub = _subcommands(parser)["summary"]
    sub.add_argument("--undocumented", default=1)
    sub.add_argument("--no-default-stated", default=2, help="does something")
    found = problems_of(parser)
    assert "summary --undocumented: no help" in found
    assert any(p.startswith("summary --no-default-stated") for p in found)


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"kequn {__version__}"


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in _subcommands(_parser()):
        assert re.search(rf"^\s+{name}\s+\S", out, re.M), name


def test_summary_of_a_missing_warehouse_says_how_to_build_one(tmp_path, capsys):
    assert main(["summary", "--db", str(tmp_path / "none.duckdb")]) == 2
    err = capsys.readouterr().err
    assert "no warehouse at" in err and "kequn build --raw-dir" in err


def test_summary_of_a_database_that_is_no_warehouse_names_what_is_missing(tmp_path, capsys):
    import duckdb

    db = tmp_path / "other.duckdb"
    duckdb.connect(str(db)).close()
    assert main(["summary", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "is not a kequn warehouse" in err and "marts.client_segments" in err
