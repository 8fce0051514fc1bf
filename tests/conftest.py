"""Simulator parametrization and the two test tiers.

Every test taking a ``sim`` argument runs once per available simulator (``sim.runner
.simulators()``: Verilator, plus Icarus where ``iverilog`` is on PATH).

``make test`` is the *quick* tier (CI: about 25 minutes on 2 cores): Verilator runs every
case but those marked ``full`` (variants whose structure a quick case already covers, each a
long build: the 8x8 arrays' second case, the dsp core, the paper-size SparTANN core run), the
FP units with 20,000 + 4,000 vectors instead of 50,000 + 10,000; Icarus (4-state, so it also
catches X on valid outputs) runs the structural cases with reduced vector sets (the
``vectors`` fixture) and leaves out the cases marked ``icarus_full`` or ``full``.
``make test-full`` (``TEST_FULL=1``, and ``RUN_SLOW=1`` for the paper-size SAT runs) runs
everything on both with the full vector sets.
"""

import os

import pytest

from hw.checks import lint_verilog
from sim.runner import full_tier, simulators, tool_env

FULL = full_tier()


def pytest_configure(config):
    config.addinivalue_line("markers", "icarus_full: on Icarus only in the full tier "
                                       "(TEST_FULL=1, make test-full)")
    config.addinivalue_line("markers", "full: only in the full tier (TEST_FULL=1, make "
                                       "test-full), on every simulator")


def pytest_generate_tests(metafunc):
    """Tests taking a ``sim`` argument run once per available simulator."""
    if "sim" in metafunc.fixturenames:
        metafunc.parametrize("sim", simulators())


def pytest_collection_modifyitems(config, items):
    if FULL:
        return
    keep, drop = [], []
    for item in items:
        on_icarus = getattr(item, "callspec", None) and item.callspec.params.get("sim") == "icarus"
        quick = not item.get_closest_marker("full") and not (
            on_icarus and item.get_closest_marker("icarus_full"))
        (keep if quick else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config):
    tier = "full (TEST_FULL=1)" if FULL else "quick (make test-full runs every case on Icarus)"
    return f"simulators: {', '.join(simulators())}; tier: {tier}"


@pytest.fixture
def vectors(request):
    """``vectors(full, quick)``: the vector count for this run: ``quick`` on Icarus in the
    quick tier, else ``full``."""
    sim = request.getfixturevalue("sim") if "sim" in request.fixturenames else None
    return lambda full, quick: quick if (sim == "icarus" and not FULL) else full


@pytest.fixture
def lint(tmp_path):
    """``lint(verilog_text, top=None)``: Verilator ``--lint-only -Wall`` on the text (written
    to ``<top>.v``; ``top`` defaults to its first module) must print no warning or error.
    Returns the text."""
    env = {**os.environ, **tool_env()}
    calls = []

    def check(text, top=None):
        calls.append(top)
        problems = lint_verilog(text, tmp_path / f"lint{len(calls)}", env, top)
        assert not problems, "\n".join(problems)[-3000:]
        return text
    return check
