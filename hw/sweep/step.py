"""One measurement step of one sweep point, run as its own process so that a timeout can end it
(and the tools it started) and a crash cannot take the Dask worker down.

``python -m hw.sweep.step REQUEST.json RESULT.json``: REQUEST holds ``{"step": ..., "args":
{...}}``; RESULT gets ``{"result": ...}`` or ``{"error": "Type: message"}``. :func:`run_step`
starts it (from a Dask task, :mod:`hw.sweep.tasks`) and raises :class:`StepError` on an error
or a timeout. Amaranth is imported only by the ``generate`` step.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from ..synth.modules import strip_zero_init

__all__ = ["StepError", "run_step", "clocked_leaf", "strip_zero_init", "STEP_FUNCTIONS"]


class StepError(RuntimeError):
    """A step failed (its error message) or ran past its timeout."""


def _generate(design, params, workdir):
    from ..designs import DESIGNS, build
    from ..generate import to_verilog
    from ..synth.modules import instances

    start = time.monotonic()
    component, used = build(design, **params)
    top = design
    text = to_verilog(component, top)
    seconds = time.monotonic() - start
    Path(workdir).mkdir(parents=True, exist_ok=True)
    (Path(workdir) / f"{top}.v").write_text(text)
    latency = getattr(component, "latency", None)
    graph = instances(text)
    return {"top": top, "text": text, "graph": graph, "seconds": round(seconds, 2),
            "verilog_bytes": len(text), "modules": len(graph),
            "latency": latency if isinstance(latency, int) else None,
            "description": DESIGNS[design].description}


def _lint(text, top, workdir):
    from sim.runner import tool_env

    from ..checks import lint_verilog

    start = time.monotonic()
    problems = lint_verilog(text, Path(workdir).resolve(), {**os.environ, **tool_env()}, top)
    return {"problems": len(problems), "first": problems[:3],
            "seconds": round(time.monotonic() - start, 2)}


def _cycles(design, params, latency, workload):
    from .workload import cycles_for

    start = time.monotonic()
    result = cycles_for(design, params, latency, workload)
    result["seconds"] = round(time.monotonic() - start, 2)
    return result


def clocked_leaf(text, subs):
    """Whether a module (``text``: the sliced module, ``subs``: what it instantiates) is a
    leaf with a clock input: the modules nextpnr times."""
    return not subs and re.search(r"^\s*input\s+clk\s*;", text, re.M) is not None


def _synth(text, module, subs, family, workdir, timed=True):
    """Yosys (and for ECP5 leaf modules with a clock, nextpnr, unless ``timed`` is false) of
    one module, its submodules black boxes (``text``: :func:`hw.synth.modules.sliced`, the
    module and its submodules' stubs): the report's resource columns, raw cells, Fmax,
    seconds, mapper."""
    from ..synth.flow import SynthError, synth_ecp5, synth_ecp5_abc
    from ..synth.modules import summarize, yosys_cells

    start = time.monotonic()
    result = {"module": module, "family": family, "fmax_mhz": None}
    timed = timed and family == "ecp5" and clocked_leaf(text, subs)
    text = strip_zero_init(text)
    if timed:
        try:
            run = synth_ecp5(text, module, Path(workdir) / "abc9")
            result["mapper"] = "abc9"
        except SynthError:
            run = synth_ecp5_abc(text, module, Path(workdir) / "abc")
            result["mapper"] = "classic abc (abc9 failed)"
        cells = run["cells"]
        result["fmax_mhz"], result["critical_path"] = run["fmax_mhz"], run["critical_path"]
    else:
        run = yosys_cells(text, module, workdir, family)
        cells, result["mapper"] = run["cells"], run["mapper"]
        result["cpu_s"] = run["cpu_s"]
    result["summary"] = summarize({k.lstrip("\\"): v for k, v in cells.items()}, family)
    result["seconds"] = round(time.monotonic() - start, 1)
    return result


STEP_FUNCTIONS = {"generate": _generate, "lint": _lint, "cycles": _cycles, "synth": _synth}


#: Errors worth a retry (a tool that crashed or ran out of something); a parameter error
#: (ValueError, TypeError) or a timeout would only repeat.
RETRIED = ("SynthError", "OSError", "MemoryError", "RuntimeError", "no result")


def run_step(step, args, workdir, timeout, retries=0):
    """Run ``step`` with ``args`` in a child process in ``workdir``; its result, or
    :class:`StepError` (the step's error, or the timeout; the child's process group is killed
    on a timeout). A tool crash (:data:`RETRIED`) is retried up to ``retries`` times."""
    for attempt in range(retries + 1):
        try:
            return _run_once(step, args, Path(workdir), timeout)
        except StepError as error:
            if attempt == retries or not str(error).startswith(RETRIED):
                raise


def _run_once(step, args, workdir, timeout):
    workdir.mkdir(parents=True, exist_ok=True)
    request, result = workdir / f"{step}.request.json", workdir / f"{step}.result.json"
    request.write_text(json.dumps({"step": step, "args": args}))
    result.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "hw.sweep.step", str(request), str(result)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise StepError(f"{step} timed out after {timeout} s") from None
    if not result.exists():
        tail = " ".join(out.splitlines()[-10:])
        raise StepError(f"no result: {step} exited with {proc.returncode}: {tail}")
    data = json.loads(result.read_text())
    if "error" in data:
        raise StepError(data["error"])
    return data["result"]


def main(argv=None):
    request, result = (argv or sys.argv[1:])[:2]
    data = json.loads(Path(request).read_text())
    os.environ.setdefault("PROGRESS", "0")
    try:
        out = {"result": STEP_FUNCTIONS[data["step"]](**data["args"])}
    except Exception as error:                       # recorded in the row, not raised
        message = " ".join(str(error).split()) or "(no message)"
        out = {"error": f"{type(error).__name__}: {message}",
               "traceback": traceback.format_exc()[-4000:]}
    Path(result).write_text(json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
