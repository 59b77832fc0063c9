"""The FAQ quotes the messages people meet in the code's own words: every line of its ```text boxes is found in the
project's code (a string of a Python module, or the text of a template), `...` standing for what varies. A
message reworded in the code fails here until the FAQ quotes it again."""

import ast
import re

from tests.docs.pages import DOCS, ROOT, code_blocks

FAQ = DOCS / "faq.md"
SOURCES = ("saliency", "studyapp", "analysis", "operations", "config", "deploy")
GAP = "\0"  # where a message has a part filled in at run time: a quoted fragment cannot span it
PLACEHOLDER = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdrfg]")
TEMPLATE_PART = re.compile(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}|<[^>]+>", re.DOTALL)


def one_line(text):
    return " ".join(text.split())


def python_messages(text):
    """Every string of a module as it reads at run time: an f-string's or a %-format's fields become gaps."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.JoinedStr):
            found.append(GAP.join(part.value if isinstance(part, ast.Constant) else "" for part in node.values))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append(PLACEHOLDER.sub(GAP, node.value))
    return found


def template_messages(text):
    """A template's text between its tags, variables and HTML elements."""
    return [TEMPLATE_PART.sub(GAP, text)]


def code_messages():
    found = []
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*")):
            if "migrations" in path.parts or not path.is_file():
                continue
            if path.suffix == ".py":
                found += python_messages(path.read_text(encoding="utf-8"))
            elif path.suffix == ".html":
                found += template_messages(path.read_text(encoding="utf-8"))
    return [one_line(message) for message in found]


def quoted_lines(text):
    """[(line number, quoted message)] of the page's ```text boxes."""
    return [(number, line) for language, lines in code_blocks(text) if language == "text"
            for number, line in lines if line]


def unquoted(line, messages):
    """The fragments of a quoted line (split at `...`) that no message of the code holds."""
    fragments = [one_line(fragment) for fragment in line.split("...")]
    return [fragment for fragment in fragments if fragment and not any(fragment in message for message in messages)]


def test_every_message_the_faq_quotes_is_the_codes():
    messages = code_messages()
    lines = quoted_lines(FAQ.read_text(encoding="utf-8"))
    assert len(lines) >= 10  # the FAQ quotes its messages in ```text boxes
    assert [f"faq.md:{number}: {fragments}" for number, line in lines
            for fragments in [unquoted(line, messages)] if fragments] == []


def test_the_check_refuses_a_reworded_message():
    messages = code_messages()
    assert unquoted("No study with slug ... Known studies: ...", messages) == []
    assert unquoted("This page's images are missing on the server; the researchers have been told.", messages) == []
    assert unquoted("This page's images could not be found.", messages) == ["This page's images could not be found."]
    # A fragment cannot span the part the code fills in: the slug between "slug" and "Known".
    assert unquoted("No study with slug Known studies", messages) == ["No study with slug Known studies"]
