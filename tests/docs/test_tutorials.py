"""The tutorials run as written, command by command, on a fresh SQLite database: the page and the test cannot drift.

Each ```sh block's lines run in order in a folder of their own (the repository's manage.py, .venv and Makefile
linked into it), and each `<!-- test: STEP ... -->` mark runs what the reader does in the browser there
(tests/docs/tutorial_steps.py). `make run` serves until stopped: its set-up, `make demo`, runs instead (with
`-o install -o system-packages`: `make test` has installed both). A command that fails fails the test with its
output. After the last step the test checks what the tutorial promised the reader."""

import json
import os
import re
import subprocess
import sys

from tests.docs.pages import DOCS, ROOT, code_blocks

MARK = re.compile(r"<!--\s*test:\s*(.+?)\s*-->")
LINKED = ("manage.py", ".venv", "Makefile", "pyproject.toml", "constraints.txt", "docs")


def steps(page):
    """[("sh", command) or ("step", arguments)] in the page's order."""
    text = page.read_text(encoding="utf-8")
    found = [(match.start(), ("step", match.group(1))) for match in MARK.finditer(text)]
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    for language, lines in code_blocks(text):
        if language == "sh":
            found += [(offsets[number - 1], ("sh", command)) for number, command in lines
                      if command and not command.startswith("#")]
    return [step for _, step in sorted(found, key=lambda item: item[0])]


def run_tutorial(page, folder, environment):
    for name in LINKED:
        (folder / name).symlink_to(ROOT / name)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder / 'tutorial.sqlite3'}",
           "ALLOWED_HOSTS": "localhost,127.0.0.1,testserver", "PYTHONPATH": str(ROOT), **environment}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    ran = []
    for kind, text in steps(page):
        if kind == "sh":
            command = "make -o install -o system-packages demo" if text.split()[:2] == ["make", "run"] else text
        else:
            command = f"{sys.executable} -m tests.docs.tutorial_steps {text}"
        done = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, f"{page.name}: {text}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        ran.append((text, done.stdout))
    return ran


def test_your_first_study(tmp_path):
    ran = run_tutorial(DOCS / "tutorials" / "first-study.md", tmp_path, {})
    commands = [text for text, _ in ran]
    assert commands[0] == "make run" and any(c.startswith("pilot-copy demo") for c in commands)
    report = tmp_path / "pilot-report"
    assert (report / "report.html").exists()
    flow = (report / "tables" / "participant_flow.csv").read_text(encoding="utf-8").splitlines()
    # The rehearsal's 12 participants, the preview left out; the one exclusion with the tutorial's reason.
    assert "Completed,12" in flow and "Analysed,11" in flow
    assert '"Excluded by the researcher: clicked at random, said so in the chat",1' in flow
    assert json.loads((report / "results.json").read_text(encoding="utf-8"))["mixed"]
    participants = (tmp_path / "pilot-export" / "participants.csv").read_text(encoding="utf-8").splitlines()
    assert len(participants) - 1 == 12
    assert (tmp_path / "pilot-report-from-files" / "report.html").exists()


def test_study_your_own_maps(tmp_path):
    ran = run_tutorial(DOCS / "tutorials" / "own-maps.md", tmp_path, {"STIMULI_ROOT": str(tmp_path / "stimuli")})
    assert any(text.startswith(".venv/bin/python manage.py import_stimuli") for text, _ in ran)
    report = (tmp_path / "maps-report" / "report.md").read_text(encoding="utf-8")
    assert "Model and method: two factors" in report
    assert list((tmp_path / "stimuli" / "stimuli").glob("*.png"))
