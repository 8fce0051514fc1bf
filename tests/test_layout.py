"""The layout's rules (docs/architecture.md): models, drivers, cycle models, configs and ISAs
import no Amaranth, so they run where no HDL toolchain is installed; each family keeps its
files in its own package, with the same block name on every side."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Every module that must not import Amaranth (listed by hand: a new model goes here).
HDL_FREE = [
    # FP library: golden model, vectors, test cases
    "sim.fp.golden", "sim.fp.vectors", "sim.fp.cases",
    # SAT: config, ISA, engine models, core model, cycle model, driver, BDWP training loop
    "hw.sat.config", "hw.sat.isa",
    "sim.sat.stce", "sim.sat.osre", "sim.sat.wuve", "sim.sat.model", "sim.sat.cycles",
    "sim.sat.driver", "sim.sat.bdwp", "sim.sat.system", "sim.sat.planner", "sim.sat.host",
    # SparTANN: config, ISA, format, conv, core model, DTS model, DTS's digits CNN, driver,
    # cycle model
    "hw.spartann.config", "hw.spartann.isa",
    "sim.spartann.csc", "sim.spartann.conv", "sim.spartann.model", "sim.spartann.dts",
    "sim.spartann.cnn",
    "sim.spartann.driver", "sim.spartann.cycles", "sim.spartann.system",
    # shared: parameters and checks, timing, formats, payload packing, synthesis flow
    "hw.params", "hw.checks", "hw.timing", "hw.fp.format", "sim.manifest_io",
    "hw.synth.flow", "hw.synth.report",
    # design-space sweeps: spec, keys, engine, steps, workloads, energy table, report
    "hw.sweep", "hw.sweep.spec", "hw.sweep.points", "hw.sweep.run", "hw.sweep.step",
    "hw.sweep.workload", "hw.sweep.energy", "hw.sweep.report",
    # benches that use only models
    "sim.bench.sat_resnet18", "sim.bench.scalesim", "sim.bench.spartann_layer",
    "sim.bench.spartann_system",
    "sim.bench.bdwp_digits",
]


@pytest.mark.parametrize("module", HDL_FREE)
def test_module_imports_no_amaranth(module):
    code = (f"import sys, {module}\n"
            "hdl = sorted(m for m in sys.modules if m.split('.')[0] == 'amaranth')\n"
            "assert not hdl, hdl[:5]\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_model_module_is_listed():
    """A model, driver or cycle model added to sim/<family>/ is listed above (tb_* are the
    cocotb testbenches, which drive the RTL and may import it)."""
    found = {f"sim.{path.parent.name}.{path.stem}"
             for family in ("fp", "sat", "spartann")
             for path in (ROOT / "sim" / family).glob("*.py")
             if path.stem != "__init__" and not path.stem.startswith("tb_")}
    assert found <= set(HDL_FREE), sorted(found - set(HDL_FREE))


def test_test_basenames_are_unique():
    """pytest's rootdir-relative import (no __init__.py in tests/) needs unique basenames."""
    names = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_no_old_rooms_left():
    """The rooms this layout replaced stay empty (their contents live per family now)."""
    for old in ("sim/streams.py", "sim/vectors.py", "sim/fp_cases.py", "hw/synth.py",
                "hw/synth_sat.py", "hw/synth_spartann.py"):
        assert not (ROOT / old).exists(), old
    assert not list((ROOT / "sim" / "golden").glob("*.py"))
    assert not list((ROOT / "sim").glob("bench_*.py"))


def test_architecture_page_maps_every_file():
    """docs/architecture.md names only files that exist, and every file of the per-family
    packages (and the benches)."""
    import re
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:hw|sim|tests)/[\w/]+\.py)`", text))
    assert named and all((ROOT / path).exists() for path in named), \
        sorted(p for p in named if not (ROOT / p).exists())
    for folder in ("hw/sat", "hw/spartann", "sim/fp", "sim/sat", "sim/spartann", "sim/bench",
                   "hw/synth", "tests/sat", "tests/spartann", "tests/fp"):
        for path in (ROOT / folder).glob("*.py"):
            rel = f"{folder}/{path.name}"
            if path.stem in ("__init__", "__main__"):
                continue
            assert rel in named or f"`{path.name}`" in text, rel
