"""Checks on generated Verilog: no latches (Yosys) and Verilator ``-Wall`` lint clean.

No Amaranth import here: the checks read Verilog text, whatever produced it. The tests use
them through the ``lint`` fixture (tests/conftest.py) and :func:`latch_check`; the synthesis
reports (:mod:`hw.synth`) run the latch check on every design they build.
"""

import re
import subprocess
import tempfile
from pathlib import Path

__all__ = ["LATCH_TYPES", "latch_check", "lint_command", "lint_problems", "lint_verilog",
           "top_module"]

#: Yosys cell types that are latches (after ``proc``).
LATCH_TYPES = "t:$dlatch t:$adlatch t:$dlatchsr t:$_DLATCH* t:$_DLATCHSR*"


def latch_check(verilog_text, top, workdir=None):
    """Names of the latch cells Yosys infers in ``verilog_text`` (an empty list: no latches)."""
    from .synth.flow import run_yosys     # the Yosys runner of the synthesis flow

    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="latch_") as tmp:
            return latch_check(verilog_text, top, tmp)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{top}.v").write_text(verilog_text)
    run_yosys(f"read_verilog {top}.v\nhierarchy -top {top}\nproc\nopt\n"
              f"select -write latches.txt {LATCH_TYPES}\n", workdir, "latch")
    return (workdir / "latches.txt").read_text().split()


def top_module(verilog_text):
    """Name of the first module declared in ``verilog_text`` (the top of a generated file)."""
    match = re.search(r"^\s*module\s+\\?([A-Za-z_][\w$]*)", verilog_text, re.MULTILINE)
    if match is None:
        raise ValueError("no module declaration in the Verilog text")
    return match.group(1)


def lint_command(path, verilator="verilator"):
    """The Verilator command that lints ``path`` with every warning on (``-Wall``); the file
    name must be its top module's (``<top>.v``), else Verilator reports DECLFILENAME."""
    return [verilator, "--lint-only", "-Wall", str(path)]


def lint_problems(returncode, output):
    """The lint's complaints: ``[]`` when Verilator exited 0 and printed no warning or error,
    else the lines that say what is wrong (the whole output tail when none does)."""
    lines = [line for line in output.splitlines() if "%Warning" in line or "%Error" in line]
    if returncode != 0 and not lines:
        lines = [f"verilator exited with {returncode}: {output[-3000:]}"]
    return lines


def lint_verilog(verilog_text, workdir, env=None, top=None):
    """Write ``verilog_text`` to ``workdir/<top>.v``, lint it (``env``: the environment with
    Verilator on PATH, e.g. :func:`sim.runner.tool_env` merged into ``os.environ``) and return
    :func:`lint_problems`."""
    top = top or top_module(verilog_text)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{top}.v"
    path.write_text(verilog_text)
    result = subprocess.run(lint_command(path), capture_output=True, text=True, env=env,
                            cwd=workdir)
    return lint_problems(result.returncode, result.stderr + result.stdout)
