"""Every repository path written in the README, the docs or a code comment names something that exists."""

import ast
import io
import re
import subprocess
import tokenize

import pytest

from tests.docs.pages import ROOT, doc_files, name

TOP = "config|saliency|studyapp|analysis|operations|tests|benchmarks|devtools|deploy|docs|fixtures"
PATH = re.compile(rf"(?<![\w./~$@-])((?:{TOP})/[\w./*<>{{}}@%+-]*)")
COMMENTED = {".sh", ".cfg", ".service", ".env", ".toml", ".yml", ".yaml", ".cff"}


def repo_files():
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    return [ROOT / line for line in listed if line and (ROOT / line).is_file()]


def python_comments(text):
    """The comments and docstrings of a Python file."""
    found = [token.string for token in tokenize.generate_tokens(io.StringIO(text).readline)
             if token.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            found.append(ast.get_docstring(node) or "")
    return "\n".join(found)


def hash_comments(text):
    return "\n".join(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)


def written_paths(text):
    """The repository paths in a text, without trailing punctuation."""
    return {match.rstrip(".,;:)'\"`") for match in PATH.findall(text)}


def exists(path):
    """A path exists as written; with a placeholder (<slug>, {name}, %s), its folder does; a glob matches."""
    cut = re.search(r"[<{%]", path)
    if cut:
        return (ROOT / path[:cut.start()].rsplit("/", 1)[0]).exists()
    if "*" in path:
        return any(ROOT.glob(path))
    if (ROOT / path).exists():
        return True
    # A template or static file named as Django names it (studyapp/consent.html is studyapp/templates/studyapp/...).
    return any((ROOT / app / kind / path).exists() for app in TOP.split("|") for kind in ("templates", "static"))


def ignored(paths):
    """Those of the paths that git ignores: made at run time (var/, build/, tests/artifacts/), not shipped."""
    if not paths:
        return set()
    result = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=ROOT, input="\n".join(paths),
                            capture_output=True, text=True)
    return set(result.stdout.split())


def missing(text):
    absent = sorted(path for path in written_paths(text) if not exists(path))
    return sorted(set(absent) - ignored(absent))


@pytest.mark.parametrize("path", doc_files(), ids=name)
def test_every_path_in_the_docs_exists(path):
    assert missing(path.read_text(encoding="utf-8")) == []


def test_every_path_in_a_code_comment_exists():
    problems = []
    for path in repo_files():
        if path.suffix == ".py":
            text = python_comments(path.read_text(encoding="utf-8"))
        elif path.name == "Makefile" or path.suffix in COMMENTED:
            text = hash_comments(path.read_text(encoding="utf-8"))
        else:
            continue
        problems += [f"{name(path)}: {absent}" for absent in missing(text)]
    assert problems == []


def test_the_check_finds_a_missing_path():
    assert missing("see deploy/README.md and `studyapp/schema.py`, fixtures/stimuli/*.png") == ["deploy/README.md"]
    assert missing("made at run time: var/secret_key, tests/artifacts/console-1366x768.png") == []
