"""Running the RTL as a user: waveforms on demand (``WAVES``), the public entry points of
``sim/rtl.py`` (results bit-exact, cycles equal to the cycle models), the manifest payload
helpers (``sim/manifest_io.py``) and the write-your-own-testbench example of
docs/testbench.md (``docs/examples/``), all with outputs under temporary directories."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sim.runner as runner
from hw.designs import build, design_name
from hw.fp.format import FP16, FP32
from hw.generate import manifest
from sim import manifest_io
from sim.fp import golden as fp
from sim.layout import pack as layout_pack
from sim.spartann.driver import ConvLayer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"


# -- waveforms ------------------------------------------------------------------------------------
def test_waves_format():
    assert [runner.waves_format(v) for v in (None, False, True, "0", "", "1", "yes", "VCD",
                                             "fst")] == \
        [runner.waves_format(os.environ.get("WAVES", "")), None, "vcd", None, None, "vcd",
         "vcd", "vcd", "fst"]
    with pytest.raises(ValueError, match="WAVES"):
        runner.waves_format("lxt")


def _fp_add_run(sim, **kwargs):
    component, used = build("fp_add", fmt="fp16")
    config = {"design": "fp_add", "params": used, "n": 40, "n_gaps": 20, "gap_prob": 0.3,
              "seed": 1, "exhaustive": False}
    return runner.run(component, design_name("fp_add", used), "sim.fp.tb_unit", config,
                      sim=sim, quiet=True, **kwargs)


def test_waves_written_under_build_dir(sim, tmp_path, monkeypatch):
    """``WAVES=1`` traces a small FP unit into its own build directory under ``BUILD_DIR``;
    ``waves="fst"`` gives FST, or VCD where Verilator cannot write FST."""
    monkeypatch.setattr(runner, "BUILD", tmp_path / "build")
    monkeypatch.setenv("WAVES", "1")
    result = _fp_add_run(sim)
    assert result == (1, 0)
    assert result.waves.is_relative_to(tmp_path / "build") and result.waves.stat().st_size > 0
    assert result.waves.suffix == (".vcd" if sim == "verilator" else ".fst")
    assert result.waves.parent == result.test_dir
    assert "-waves-" in result.test_dir.parent.parent.name     # not the untraced build
    assert os.environ["WAVES"] == "1"                           # restored after the run
    if sim == "verilator":
        fst = _fp_add_run(sim, waves="fst")
        assert fst.waves.suffix == (".fst" if runner._fst_headers() else ".vcd")
        assert fst.waves.stat().st_size > 0


# -- sim/rtl.py -----------------------------------------------------------------------------------
def test_spartann_conv(sim):
    """BP and WU of a small layer on the default small core: GI/GW equal the core model
    running the same plans bit for bit; every command's cycles equal the cycle model."""
    from sim.rtl import spartann_conv
    layer = ConvLayer(batch=1, m=5, z=5, h=4, w=4, k=3, stride=1, pad=1)
    rng = np.random.default_rng(3)
    go = fp.from_float64(FP32, rng.normal(size=layer.go_shape)
                         * (rng.random(layer.go_shape) < 0.4))
    w = fp.from_float64(FP32, rng.normal(size=layer.w_shape))
    ia = fp.from_float64(FP32, rng.normal(size=layer.ia_shape))
    result = spartann_conv(layer, go, w, ia, sim=sim)
    assert np.array_equal(result.gi, result.plans["bp"].run())
    assert np.array_equal(result.gw, result.plans["wu"].run())
    assert result.gi.shape == layer.gi_shape and result.gw.shape == layer.gw_shape
    for phase in ("bp", "wu"):
        assert result.cycles[phase] == result.model_cycles[phase] > 0
        assert all(run["run_cycles"] > 0 for run in result.runs[phase])
    assert result.waves is None or os.environ.get("WAVES")


def test_sat_gemm(sim):
    """Dense and 2:4 GEMMs on the small SAT core: Y equals gemm_chain bit for bit; the
    GEMM's cycles are the STCE cycle model + 3."""
    from sim.rtl import sat_gemm
    from sim.sat.stce import gemm_chain
    from sim.sat.cycles import gemm_cycles
    rng = np.random.default_rng(4)
    x = fp.from_float64(FP16, rng.normal(size=(7, 16)))
    w = fp.from_float64(FP16, rng.normal(size=(16, 5)))
    for n in (None, 2):
        r = sat_gemm(x, w, n=n, sim=sim)
        assert r.n == (4 if n is None else n) and r.w_values.shape == (16 * r.n // 4, 5)
        assert np.array_equal(r.y, gemm_chain(x, r.w_values, r.w_indices, 4, FP16, FP32))
        if n is None:           # dense: the plain float product within rounding
            exact = fp.to_float64(FP16, x) @ fp.to_float64(FP16, w)
            assert np.allclose(fp.to_float64(FP32, r.y), exact, rtol=1e-5, atol=1e-5)
        p = r.params
        assert r.cycles == r.model_cycles == 3 + gemm_cycles(
            7, 16, 5, r.n, 4, p["rows"], p["cols"], p["mul_latency"], p["add_latency"])
        assert r.total_cycles == r.model_total_cycles > r.cycles


def test_sat_gemm_rejects_bad_shapes():
    from sim.rtl import sat_gemm
    with pytest.raises(ValueError, match="multiple of m"):
        sat_gemm(np.zeros((2, 6), np.uint64), np.zeros((6, 3), np.uint64))
    with pytest.raises(ValueError, match="n must be"):
        sat_gemm(np.zeros((2, 8), np.uint64), np.zeros((8, 3), np.uint64), n=5)


def test_bdwp_step():
    """One training step on the engines (Verilator): every intermediate equals the golden
    step, cycles equal the engines' cycle models, the returned state is the golden one."""
    from sim.rtl import bdwp_step
    r = bdwp_step()
    assert r.compared > 5000
    assert r.cycles == r.model_cycles and min(r.cycles.values()) > 0
    for k in ("fc1", "fc2"):
        assert np.array_equal(r.state.w32[k], r.golden_state.w32[k])
        assert np.array_equal(r.state.w16[k], r.golden_state.w16[k])
    assert np.array_equal(r.state.ops["fc2.bwd"].values, r.golden_state.ops["fc2.bwd"].values)


# -- sim/manifest_io.py ---------------------------------------------------------------------------
def test_manifest_io_matches_the_layouts():
    """pack/unpack from the manifest agree with the Amaranth layouts (struct and array)."""
    from hw.sat.osre import TopKLanes
    unit, used = build("fp_mac", ab_fmt="fp16", c_fmt="fp32", tag_width=3)
    info = manifest(unit, "mac", used)
    layout = manifest_io.port(info, "i__payload")
    values = {"a": 0x3C00, "b": 0xC000, "c": 0x3F800000, "tag": 5}
    word = manifest_io.pack(layout, values)
    assert word == layout_pack(unit.i.payload.shape(), values)
    assert manifest_io.unpack(layout, word) == values
    assert manifest_io.pack(layout, {"a": 1}) == 1                 # others 0
    with pytest.raises(ValueError, match="fit"):
        manifest_io.pack(layout, {"a": 1 << 16})
    with pytest.raises(KeyError, match="no field"):
        manifest_io.pack(layout, {"d": 1})
    with pytest.raises(KeyError, match="no port"):
        manifest_io.port(info, "x__payload")

    topk = TopKLanes(lanes=2, n=2, m=4, fmt="fp16")
    info = manifest(topk, "topk", {"lanes": 2, "n": 2, "m": 4, "fmt": "fp16"})
    out = manifest_io.port(info, "o__payload")
    lanes = [{"values": [0x3C00, 0x4000], "indices": [1, 3]},
             {"values": [0xBC00, 0], "indices": [0, 2]}]
    expected = layout_pack(topk.o.payload.shape(), lanes)
    assert manifest_io.pack(out, lanes) == expected
    assert manifest_io.unpack(out, expected) == lanes


def test_manifest_io_wrap_and_columns():
    """The forgiving mode sim.layout packs with, and the many-beats form the FP bench uses."""
    unit, used = build("fp_add", fmt="fp16")
    fields = manifest_io.port(manifest(unit, "add", used), "i__payload")
    layout = {"width": fields["width"], "fields": fields["fields"]}
    assert manifest_io.pack(layout, {"a": -1, "zz": 3}, wrap=True) == 0xFFFF
    words = manifest_io.pack_columns(fields["fields"], {"a": [1, 2], "b": [3, 0x1FFFF]}, 2)
    assert words == [manifest_io.pack(layout, {"a": 1, "b": 3}),
                     manifest_io.pack(layout, {"a": 2, "b": 0xFFFF})]
    back = manifest_io.unpack_columns(fields["fields"], words)
    assert back["a"].tolist() == [1, 2] and back["b"].tolist() == [3, 0xFFFF]


# -- docs/testbench.md example ----------------------------------------------------------------------
def test_testbench_example_runs(sim, tmp_path):
    """The page's two commands, outputs in a temporary directory: the CLI writes fp_add.v and
    its manifest, run_my_tb.py builds it with the plain cocotb runner and the test passes."""
    env = {**os.environ, "BUILD_DIR": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    before = sorted(p.name for p in EXAMPLES.iterdir())
    subprocess.run([sys.executable, "-m", "hw", "generate", "fp_add", "--fmt", "fp16", "-o",
                    str(tmp_path / "mytb")], check=True, cwd=tmp_path, env=env,
                   capture_output=True)
    result = subprocess.run([sys.executable, str(EXAMPLES / "run_my_tb.py"), "--sim", sim],
                            cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"{sim}: 1 of 1 tests passed" in result.stdout
    assert (tmp_path / "mytb" / f"run_{sim}" / "results.xml").exists()
    assert (tmp_path / "mytb" / f"sim_build_{sim}").is_dir()
    assert sorted(p.name for p in EXAMPLES.iterdir()) == before     # nothing written there


def test_testbench_page_quotes_the_example_files():
    """docs/testbench.md shows the example files as they are."""
    page = (ROOT / "docs" / "testbench.md").read_text()
    for name in ("test_my_fp_add.py", "run_my_tb.py"):
        assert "```python\n" + (EXAMPLES / name).read_text() + "```" in page, name
