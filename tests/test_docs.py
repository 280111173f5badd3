"""The README's and the docs' Python examples: every block is marked, and the runnable ones run.

Convention: a fenced ```python block directly after a line ``<!-- runnable -->`` runs (the blocks of one
page in order, in one fresh interpreter, in an empty folder); one after ``<!-- long-running: WHY -->``
does not, and must be followed by its expected output in a ```text block.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def python_blocks(page: Path) -> list[tuple[str, str, str]]:
    """(marker line before the block, the code, the text after it) of each ```python block of ``page``."""
    text = page.read_text()
    blocks = []
    for match in BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        blocks.append((before, match.group(1), text[match.end() :]))
    return blocks


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_python_block_is_runnable_or_long_running_with_its_output(page):
    for marker, code, after in python_blocks(page):
        first_line = code.splitlines()[0] if code else ""
        assert marker == "<!-- runnable -->" or marker.startswith("<!-- long-running"), (
            f"{page.name}: the block starting {first_line!r} is not marked runnable or long-running"
        )
        if marker.startswith("<!-- long-running"):
            assert "```text" in after[:400], f"{page.name}: long-running block {first_line!r} shows no output"


RUNNABLE = [page for page in PAGES if any(m == "<!-- runnable -->" for m, _, _ in python_blocks(page))]


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: p.name)
def test_runnable_blocks_run(page, tmp_path):
    script = "\n\n".join(code for marker, code, _ in python_blocks(page) if marker == "<!-- runnable -->")
    (tmp_path / "page.py").write_text(script)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "page.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{page.name}:\n{done.stderr[-3000:]}"


def test_the_site_builds_in_strict_mode(tmp_path):
    """A broken link, reference or docstring in docs/ fails (mkdocs build --strict)."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
