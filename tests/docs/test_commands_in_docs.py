"""Every `manage.py` line in the README and the docs (and every `saliency-study manage` line, manage.py on a server)
parses with the command's real parser, and every `make` target they run exists: a renamed or removed flag, command
or target fails here."""

import contextlib
import io
import re

import pytest
from django.core.management import CommandError, get_commands

from devtools import reference_docs
from tests.docs.pages import COMMAND_LANGUAGES, ROOT, code_blocks, doc_files, make_targets_used, manage_py_lines, name

# What a usage synopsis writes and a shell cannot run: [--optional], <placeholder>, {choice,choice}, an ellipsis.
SYNOPSIS = re.compile(r"\[-|\[[A-Z]|<[\w-]+>|\{[\w-]+,[\w,-]+\}|\.\.\.")


def makefile_targets():
    return set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.MULTILINE))


def parse_problem(command, argv):
    """None when `manage.py command argv` parses, else what is wrong."""
    if command not in get_commands():
        return f"there is no command {command!r}"
    if argv is None:
        return "not a line a shell can split (an unclosed quote or a stray backslash)"
    if not argv:
        return None  # a mention of the command by its name
    parser = reference_docs.command_parser(command)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv)
    except CommandError as error:
        return str(error)
    except SystemExit as leaving:  # --help
        return None if leaving.code == 0 else f"argparse exited {leaving.code}"
    return None


@pytest.mark.parametrize("path", doc_files(), ids=name)
def test_every_manage_py_line_parses_with_the_real_parser(path):
    problems = [f"{name(path)}:{number}: manage.py {command} {' '.join(argv or [])}: {problem}"
                for number, command, argv in manage_py_lines(path)
                for problem in [parse_problem(command, argv)] if problem]
    assert problems == []


def test_the_docs_run_commands_in_the_commands_reference():
    """Each command the docs run is on the generated commands page (Django's own ones too)."""
    listed = {command for _, command in reference_docs.commands()}
    used = {(name(path), command) for path in doc_files() for _, command, _ in manage_py_lines(path)}
    assert sorted(f"{page}: {command}" for page, command in used if command not in listed) == []


@pytest.mark.parametrize("path", doc_files(), ids=name)
def test_every_make_target_the_docs_run_exists(path):
    targets = makefile_targets()
    assert [f"{name(path)}:{number}: make {target}" for number, target in make_targets_used(path)
            if target not in targets] == []


def synopsis_problems(text):
    """The lines of a text's command blocks that are not commands as written: a block without its language (```sh
    for commands, ```text for output and synopses), or a synopsis line among commands."""
    problems = []
    for language, lines in code_blocks(text):
        if not language:
            problems.append(f"{lines[0][0] if lines else '?'}: a block without its language (sh or text)")
        elif language in COMMAND_LANGUAGES:
            problems += [f"{number}: {line}" for number, line in lines
                         if SYNOPSIS.search(line.split(" #")[0]) and not line.startswith("#")]
    return problems


@pytest.mark.parametrize("path", doc_files(), ids=name)
def test_every_command_block_can_be_pasted(path):
    assert synopsis_problems(path.read_text(encoding="utf-8")) == []


def test_the_paste_check_finds_a_synopsis_and_an_unmarked_block():
    assert synopsis_problems("```sh\nmanage.py analyze --out DIR [--study SLUG]\n```\n") == [
        "2: manage.py analyze --out DIR [--study SLUG]"]
    assert synopsis_problems("```sh\ngit clone https://example.org/<your-lab>/x.git\n```\n") != []
    assert synopsis_problems("```\nWrote 60 stimuli\n```\n") == ["2: a block without its language (sh or text)"]
    assert synopsis_problems("```sh\n.venv/bin/python manage.py check --deploy   # [--tag] in a comment\n```\n"
                             "```text\nmanage.py api_token {create,list,revoke} ...\n```\n") == []


def test_the_checks_find_a_bad_flag_and_a_missing_command():
    assert "unrecognized arguments: --no-such-flag" in parse_problem("analyze", ["--out", "r", "--no-such-flag"])
    assert "required" in parse_problem("analyze", ["--study", "demo"])
    assert parse_problem("export_data", ["--study", "demo"]) == "there is no command 'export_data'"
    assert parse_problem("analyze", ["--study", "demo", "--out", "report"]) is None
    assert parse_problem("analyze", ["--help"]) is None


def test_a_server_command_is_checked_as_manage_py(tmp_path):
    """`saliency-study manage COMMAND` on a `make server` VM is manage.py: its lines are parsed too."""
    page = tmp_path / "page.md"
    page.write_text("```sh\nsaliency-study manage members --study s --add ada --role owner   # add\n```\n"
                    "Run `saliency-study manage check --deploy`.\n")
    assert manage_py_lines(page) == [(2, "members", ["--study", "s", "--add", "ada", "--role", "owner"]),
                                     (4, "check", ["--deploy"])]
