"""Every code block in README.md and docs/**/*.md runs.

Which blocks run: fenced blocks whose info string starts with ``python``, ``sh`` or ``bash``
(``text``, ``json``, bare fences and the rest are output or data and are not run).

Per page, the python blocks run in order as ONE script (later blocks may use names from
earlier ones), and the sh/bash blocks as one ``bash -e`` script, each in a fresh temporary
directory that links the repository's top-level entries (``.venv``, ``hw/``, ``sim/``,
``tests/``, ``docs/``, ``pyproject.toml``, ...) except ``build/``, so ``.venv/bin/python -m
hw ...`` works as written and outputs such as ``-o build/out`` land in the temporary
directory, never in the source tree.

Marker convention (to skip a block): an HTML comment on the line right before the fence,

    <!-- no-test: why (e.g. "installs the project; minutes") -->
    ```sh
    make verilog
    ```

A reason is required (the marker stays visible in the Markdown source; renderers hide it).
Mark only blocks that are genuinely long (paper-size synthesis, benchmarks, the install
targets) or need tools a test run does not have; everything else must run, and quickly
(each page's blocks in well under a minute).
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
RUN_LANGS = {"python": "python", "py": "python", "sh": "sh", "bash": "sh", "shell": "sh"}
MARKER = re.compile(r"<!--\s*no-test\b:?\s*(.*?)\s*-->")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)(.*)$")
#: Top-level entries not linked into the temporary run directory.
NOT_LINKED = {"build", "sim_build", ".git", ".pytest_cache"}
PAGE_TIMEOUT_S = 300


def extract_blocks(text):
    """Fenced blocks of ``text``: dicts with ``lang`` (info string's first word, lower case),
    ``code`` (dedented by the fence's indentation), ``line`` (1-based line of the opening
    fence) and ``skip`` (the no-test reason, or None)."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, lang = match.group(1), match.group(2), match.group(3).lower()
        prev = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.search(prev)
        body, j = [], i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence[0] * len(fence))
                                      and lines[j].strip().strip(fence[0]) == ""):
            line = lines[j]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            j += 1
        blocks.append({"lang": lang, "code": "\n".join(body) + "\n", "line": i + 1,
                       "skip": marker.group(1) if marker else None})
        i = j + 1
    return blocks


def _page_scripts(page):
    """{"python" | "sh": [blocks to run]} for one page."""
    scripts = {}
    for block in extract_blocks(page.read_text()):
        kind = RUN_LANGS.get(block["lang"])
        if kind and block["skip"] is None:
            scripts.setdefault(kind, []).append(block)
    return scripts


CASES = [(page, kind) for page in PAGES for kind in sorted(_page_scripts(page))]


def _rel(page):
    return page.relative_to(ROOT).as_posix()


def _run_dir(tmp_path):
    """A temporary directory that looks like the repository (links) without build/."""
    run = tmp_path / "repo"
    run.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in NOT_LINKED:
            (run / entry.name).symlink_to(entry)
    return run


def _script(kind, blocks, page):
    parts = []
    for block in blocks:
        parts.append(f"# ---- {_rel(page)}:{block['line']}\n{block['code']}")
    header = "" if kind == "python" else "set -eo pipefail\n"
    return header + "\n".join(parts)


@pytest.mark.parametrize("page,kind", CASES, ids=[f"{_rel(p)}-{k}" for p, k in CASES])
def test_doc_blocks_run(page, kind, tmp_path):
    run = _run_dir(tmp_path)
    blocks = _page_scripts(page)[kind]
    script = run / ("_doc_blocks.py" if kind == "python" else "_doc_blocks.sh")
    script.write_text(_script(kind, blocks, page))
    env = {**os.environ, "PYTHONPATH": str(run), "PYTHONDONTWRITEBYTECODE": "1",
           "MPLBACKEND": "Agg"}
    command = [sys.executable, script.name] if kind == "python" else ["bash", script.name]
    start = time.monotonic()
    result = subprocess.run(command, cwd=run, env=env, capture_output=True, text=True,
                            timeout=PAGE_TIMEOUT_S)
    seconds = time.monotonic() - start
    lines = ", ".join(str(b["line"]) for b in blocks)
    assert result.returncode == 0, (
        f"{_rel(page)} {kind} blocks (lines {lines}) failed after {seconds:.1f} s:\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    print(f"{_rel(page)} {kind} blocks (lines {lines}): {seconds:.1f} s")


def test_markers_have_reasons_and_precede_blocks():
    for page in PAGES:
        lines = page.read_text().splitlines()
        for n, line in enumerate(lines):
            marker = MARKER.search(line)
            if not marker:
                continue
            assert marker.group(1), f"{_rel(page)}:{n + 1}: no-test marker without a reason"
            following = next((li for li in lines[n + 1:] if li.strip()), "")
            assert FENCE.match(following), (
                f"{_rel(page)}:{n + 1}: no-test marker not right before a code block")


def test_extractor():
    text = ("a\n```python\nx = 1\n```\n<!-- no-test: slow -->\n```sh\nmake x\n```\n"
            "1. item\n   ```bash\n   echo hi\n   ```\n```text\n$ out\n```\n")
    blocks = extract_blocks(text)
    assert [(b["lang"], b["code"], b["skip"]) for b in blocks] == [
        ("python", "x = 1\n", None), ("sh", "make x\n", "slow"), ("bash", "echo hi\n", None),
        ("text", "$ out\n", None)]
    assert CASES, "no runnable blocks found"
    assert (ROOT / "README.md", "python") in CASES
