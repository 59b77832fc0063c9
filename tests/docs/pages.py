"""The documentation as the doc tests read it: README.md and every page under docs/, their code and commands.

A command is found in fenced code blocks (a line, with its backslash continuations), in inline code spans and in
indented lines that start with one; only those are commands: prose around them is not.
"""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
FENCE = re.compile(r"^\s*(```|~~~)\s*([\w-]*)")
COMMAND_LANGUAGES = ("sh", "bash", "shell", "console", "")
SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
COMMAND_START = re.compile(r"^\s*(?:[A-Z_]+=\S*\s+)*(?:\.venv/bin/python\s+|python3?\s+)?(?:manage\.py|make)\s")
SHELL_END = re.compile(r"\s(?:&&|\|\||;|\||>|2>|#)\s.*$|\s#.*$")


def doc_files():
    """README.md, then every Markdown page of the docs site, as paths."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def name(path):
    return path.relative_to(ROOT).as_posix()


def code_blocks(text):
    """[(language, [(line number, logical line)])] of the fenced blocks; continuation lines are joined."""
    blocks, current, language, pending = [], None, "", None
    for number, line in enumerate(text.splitlines(), start=1):
        fence = FENCE.match(line)
        if fence and current is None:
            current, language = [], fence.group(2)
            continue
        if fence and current is not None:
            blocks.append((language, current))
            current = None
            continue
        if current is None:
            continue
        if pending:
            start, joined = pending
            joined += " " + line.strip()
        else:
            start, joined = number, line.strip()
        if joined.endswith("\\"):
            pending = (start, joined[:-1].rstrip())
        else:
            pending = None
            current.append((start, joined))
    return blocks


def command_texts(text):
    """[(line number, text)] of every piece of code that may hold a command: fenced lines, inline spans, and
    indented lines starting with one."""
    found, inside = [], False
    for language, lines in code_blocks(text):
        if language in COMMAND_LANGUAGES:  # not ```text: a program's output or a usage synopsis
            found += lines
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            inside = not inside
            continue
        if inside:
            continue
        found += [(number, span) for span in SPAN.findall(line)]
        if line.startswith("    ") and COMMAND_START.match(line):
            found.append((number, line.strip()))
    return found


def manage_py_lines(path):
    """[(line number, command name, argv)] of every `manage.py COMMAND ...` in the file, and of every
    `saliency-study manage COMMAND ...` (manage.py on a server set up with `make server`, deploy/server.py); argv
    None where the line is not a shell line (an unclosed quote, a stray backslash)."""
    found = []
    for number, code in command_texts(path.read_text(encoding="utf-8")):
        for match in re.finditer(r"(?:manage\.py|saliency-study manage)\s+([a-z_]+)(.*)", code):
            rest = SHELL_END.sub("", " " + match.group(2)).strip()
            try:
                found.append((number, match.group(1), shlex.split(rest)))
            except ValueError:
                found.append((number, match.group(1), None))
    return found


def make_targets_used(path):
    """[(line number, target)] of every `make TARGET` run in the file's code."""
    found = []
    for number, code in command_texts(path.read_text(encoding="utf-8")):
        found += [(number, target) for target in re.findall(r"(?:^|[\s;&(])make\s+(?:-\S+\s+)*([a-z][\w-]*)(?![=\w])",
                                                              code)]
    return found
