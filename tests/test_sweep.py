"""Design-space sweeps (hw/sweep, docs/sweep.md): the spec, keys, fronts and energy table on
their own; a tiny sweep (FP |x| units: Verilog, cycle model, Yosys xcup cell counts, energy) on
a LocalCluster with 2 workers, with a failing point and a resume; and the same against a
`dask scheduler` + `dask worker` started as separate processes."""

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hw.sweep.energy import SRAM_PJ_64B, estimate, op_pj, sram_pj
from hw.sweep.points import point_key
from hw.sweep.report import best, pareto
from hw.sweep.spec import parse_spec

ROOT = Path(__file__).resolve().parent.parent

TINY = {"name": "tiny", "design": "fp_abs", "measure": ["generate", "cycles", "xcup", "energy"],
        "grid": {"fmt": ["fp16", "bf16"]}, "points": [{"fmt": "nonsense"}],
        "workload": {"ops": 100}, "timeout_s": {"xcup": 300}}


def test_spec_grid_tables_base_and_dedupe():
    spec = parse_spec({"name": "s", "design": "sat_core", "base": {"preset": "paper"},
                       "grid": {"rows": [4, 8], "nm": [{"n": 1, "m": 4}, {"n": 2, "m": 8}]},
                       "points": [{"rows": 4, "n": 1, "m": 4}]})
    assert [(p["rows"], p["n"], p["m"]) for p in spec.points] == \
        [(4, 1, 4), (4, 2, 8), (8, 1, 4), (8, 2, 8)]        # the explicit point is a duplicate
    assert all(p["preset"] == "paper" for p in spec.points)
    assert spec.timeouts["xcup"] > 0 and spec.retries == 1


@pytest.mark.parametrize("bad, word", [({"colour": 1}, "colour"), ({"measure": ["x"]}, "measure"),
                                       ({"timeout_s": {"xcup": -1}}, "timeout_s.xcup"),
                                       ({"grid": {"fmt": []}}, "grid.fmt"),
                                       ({"name": "a b"}, "name"), ({"retries": -1}, "retries"),
                                       ({"synth": {"ecp5": "some"}}, "synth.ecp5"),
                                       ({"synth": {"untimed": "buf"}}, "synth.untimed")])
def test_spec_errors_name_the_key(bad, word):
    with pytest.raises(ValueError, match=word.replace(".", r"\.")):
        parse_spec({"name": "s", "design": "fp_add", **bad})


def test_keys_change_with_every_input():
    base = ("fp_add", {"fmt": "fp16"}, {"ops": 1}, ["cycles"], {"yosys": "1"})
    key = point_key(*base)
    assert key == point_key(*base)
    for i, other in enumerate([{"fmt": "bf16"}, {"ops": 2}, ["xcup"], {"yosys": "2"}], 1):
        changed = list(base)
        changed[i] = other
        assert point_key(*changed) != key


def test_ecp5_timing_only_totals_and_keys():
    """synth.ecp5 = "timing": the unplaced modules have no ECP5 run, so the row has the
    slowest placed leaf's Fmax and no ECP5 resource totals; the option changes the keys."""
    from hw.sweep.run import ECP5_COLS, _Point, _synth_columns
    from hw.sweep.step import clocked_leaf

    text = ("module top(clk);\n  input clk;\n  leaf u0(.clk(clk));\n  leaf u1(.clk(clk));\n"
            "endmodule\nmodule leaf(clk);\n  input clk;\nendmodule\n")
    assert clocked_leaf("module leaf(clk);\n  input clk;\n", {})
    assert not clocked_leaf("module top(clk);\n  input clk;\n", {"leaf": 2})
    point = _Point(0, {}, "k")
    point.modules[("ecp5", "leaf")] = {"summary": {"LUT4": 10}, "seconds": 5.0,
                                       "fmax_mhz": 90.0}
    row, counts = _synth_columns(point, "ecp5", {"text": text, "top": "top"}, ECP5_COLS)
    assert counts == {"top": 1, "leaf": 2} and row["ecp5_luts"] is None
    assert (row["ecp5_fmax_mhz"], row["ecp5_fmax_module"], row["ecp5_s"]) == (90.0, "leaf", 5.0)
    assert "timing only" in row["ecp5_scope"]
    point.modules[("ecp5", "top")] = {"summary": {"LUT4": 1}, "seconds": 1.0, "fmax_mhz": None}
    row, _ = _synth_columns(point, "ecp5", {"text": text, "top": "top"}, ECP5_COLS)
    assert row["ecp5_luts"] == 21 and "ecp5_scope" not in row
    base = ("sat_core", {"rows": 4}, {}, ["ecp5"], {})
    assert point_key(*base) == point_key(*base, None) != point_key(*base, {"ecp5": "timing"})


def test_pareto_front_and_best():
    rows = [{"x": 1, "y": 9}, {"x": 2, "y": 4}, {"x": 3, "y": 5}, {"x": 4, "y": 1},
            {"x": 5, "y": None}]
    assert [(r["x"], r["y"]) for r in pareto(rows, "x", "min", "y", "min")] == \
        [(1, 9), (2, 4), (4, 1)]
    assert [(r["x"], r["y"]) for r in pareto(rows, "x", "min", "y", "max")] == [(1, 9)]
    ranked = best(rows, "x", "y", ("product", "min"))
    assert [(m, r["x"]) for m, r in ranked] == [(4, 4), (8, 2), (9, 1), (15, 3)]


def test_energy_table():
    for size, pj in SRAM_PJ_64B:
        assert sram_pj(size, 64) == pytest.approx(pj)
    assert sram_pj(16 * 1024, 128) == pytest.approx(2 * 10 * 2 ** 0.5)   # log-log midpoint
    assert op_pj("mul", "bf16") == op_pj("mul", "fp16") == 1.1 and op_pj("add", "fp32") == 0.9
    e = estimate({"ops": {"mul:fp32": 10, "add:fp32": 10}, "sram": {"b": [5, 8192, 64]},
                  "dram_bytes": 2})
    assert e["compute_uj"] == pytest.approx(46e-6) and e["sram_uj"] == pytest.approx(50e-6)
    assert e["dram_uj"] == pytest.approx(320e-6)
    assert e["energy_uj"] == pytest.approx(416e-6)


def test_spartann_memoized_replay_equals_plain_replay():
    """The SparTANN workload replays each distinct job once; the cycles are the same."""
    import numpy as np

    from hw.spartann.config import SMALL
    from hw.sweep.workload import _memo_schedule
    from sim.spartann.cycles import command_cycles
    from sim.spartann.driver import ConvLayer, CoreConfig, plan_bp, plan_wu

    layer = ConvLayer(batch=1, m=8, z=10, h=5, w=5, k=3, pad=1)
    rng = np.random.default_rng(1)
    go = np.where(rng.random(layer.go_shape) < 0.4, 0x3F800000, 0).astype(np.uint64)
    cfg = CoreConfig(SMALL, contexts=True)
    for plan in (plan_bp(layer, go, np.zeros(layer.w_shape, np.uint64), cfg),
                 plan_wu(layer, go, np.zeros(layer.ia_shape, np.uint64), cfg)):
        plain = command_cycles(plan.program, SMALL)
        with _memo_schedule():
            assert command_cycles(plan.program, SMALL) == plain


def _check_tiny(result, out):
    rows = {r["fmt"]: r for r in result.rows}
    assert set(rows) == {"fp16", "bf16", "nonsense"}
    bad = rows.pop("nonsense")
    assert bad["status"] == "failed" and "nonsense" in bad["error"]
    for fmt, r in rows.items():
        assert r["status"] == "ok", r["error"]
        assert r["cycles"] == 100 + r["latency"]            # ops + latency
        assert r["xcup_luts"] > 0 and r["xcup_s"] > 0 and r["synth_scope"].startswith("flat")
        assert r["energy_uj"] == 0                          # |x| has no table operation
    with (out / "results.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 3 and {"key", "fmt", "cycles", "xcup_luts", "status"} <= set(table[0])
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["key"] for line in lines)
    assert (out / "report.md").exists()


def test_local_cluster_sweep_resume_and_failure(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    from hw.sweep import run, run_sweep

    monkeypatch.setattr(run, "SCATTER_BYTES", 0)    # every Verilog text scattered, not inline
    spec = parse_spec(TINY)
    first = run_sweep(spec, out_root=tmp_path, workers=2, plots=False)
    assert first.ran == 3
    _check_tiny(first, tmp_path / "tiny")
    again = run_sweep(spec, out_root=tmp_path, workers=2, plots=False)
    assert again.ran == 0                                   # every point has its row
    assert [r["key"] for r in again.rows] == [r["key"] for r in first.rows]
    assert len((tmp_path / "tiny" / "results.jsonl").read_text().splitlines()) == 3


def test_external_scheduler_and_worker_processes(tmp_path):
    """As a user with a cluster: `dask scheduler` and `dask worker` as separate processes on
    localhost, the sweep given the scheduler's address."""
    pytest.importorskip("distributed")
    from hw.sweep import run_sweep

    dask = str(Path(sys.executable).parent / "dask")
    info = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(info)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(600):
            if info.exists() and info.read_text().strip():
                break
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        procs.append(subprocess.Popen([dask, "worker", address, "--nworkers", "1",
                                       "--nthreads", "1", "--no-dashboard"], cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        spec = parse_spec({**TINY, "grid": {"fmt": ["fp16"]}, "points": [{"fmt": "nonsense"}],
                           "name": "remote"})
        result = run_sweep(spec, out_root=tmp_path, scheduler=address, plots=False)
        status = {r["fmt"]: r["status"] for r in result.rows}
        assert status == {"fp16": "ok", "nonsense": "failed"}
        assert result.rows[0]["xcup_luts"] > 0
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)


def test_spartann_workload_true_macs_and_system_model():
    """A 1x1 layer: every GO nonzero is Z MACs in BP and in WU; the system model overlaps
    loads with runs, so it takes at most its plan's serial command cycles."""
    from hw.sweep.workload import spartann_cycles

    work = {"layers": [{"m": 16, "z": 12, "h": 6, "k": 1}], "densities": [0.3],
            "phases": ["bp", "wu"]}
    params = {"preset": "small"}
    serial = spartann_cycles(params, work)
    system = spartann_cycles(params, {**work, "bandwidth": 64})
    import numpy as np
    nnz = int((np.random.default_rng(0).random((1, 16, 6, 6)) < 0.3).sum())
    assert serial["macs"] == system["macs"] == 2 * nnz * 12
    assert serial["cycles"] == serial["serial_cycles"] >= serial["run_cycles"] > 0
    assert system["serial_cycles"] >= system["cycles"] > 0
    assert "system.py" in system["model_note"] and serial["events"]["dram_bytes"] > 0


def test_sat_workload_is_the_system_model_end_to_end():
    """The SAT workload is sim.bench.sat_system's measurement (planner + system model) of the
    point's core, with the bandwidth given; bytes per phase add up to the DRAM bytes."""
    from hw.sat.config import resolve
    from hw.sweep.workload import sat_cycles
    from sim.bench.sat_system import measure

    layers = [{"cin": 8, "cout": 16, "kernel": 3, "size": 8},
              {"cin": 16, "cout": 16, "kernel": 3, "stride": 2, "size": 8}]
    params = {"preset": "paper", "rows": 4, "cols": 4, "n": 2, "m": 8}
    work = {"batch": 2, "bandwidth": 16, "layers": layers}
    r = sat_cycles(params, work)
    cfg = resolve(**params)
    ref = measure(16, 2, cfg, [(f"layer{i}", d["cin"], d["cout"], d["kernel"],
                                d.get("stride", 1), d["size"]) for i, d in enumerate(layers)],
                  data_width=cfg.data_width)
    assert (r["cycles"], r["macs"], r["bytes_in"], r["bytes_out"]) == \
        (ref["cycles"], ref["macs"], ref["bytes_in"], ref["bytes_out"])
    assert r["events"]["dram_bytes"] == r["bytes_in"] + r["bytes_out"] == \
        pytest.approx(1e6 * sum(v for k, v in r.items() if k.startswith("mb_")))
    assert r["macs"] / 4 < r["macs_done"] < r["macs"]            # FW and dX at 2:8
    assert r["cycles"] >= max(r["busy_ld"], r["busy_ex"], r["busy_st"]) > 0
    assert "system.py" in r["model_note"] and "16 bytes/cycle" in r["scope"]
    with pytest.raises(ValueError, match="workload.bandwidth"):
        sat_cycles(params, {"batch": 2, "layers": layers})


def test_step_timeout_kills_and_parameter_errors_are_not_retried(tmp_path):
    from hw.sweep.step import StepError, run_step

    args = {"design": "fp_add", "params": {}, "latency": 2, "workload": {"ops": 8}}
    with pytest.raises(StepError, match="timed out after 0.05 s"):
        run_step("cycles", args, tmp_path / "a", 0.05, retries=3)
    assert run_step("cycles", args, tmp_path / "b", 120)["cycles"] == 10
    start = time.monotonic()
    with pytest.raises(StepError, match="ValueError"):
        run_step("cycles", {**args, "latency": None}, tmp_path / "c", 120, retries=5)
    assert len(list((tmp_path / "c").glob("cycles.result.json"))) == 1
    assert time.monotonic() - start < 60


def test_strip_zero_init_keeps_other_contents():
    from hw.sweep.step import strip_zero_init

    ram = "  initial begin\n    mem[0] = 8'h00;\n    mem[1] = 8'h00;\n  end\n"
    rom = "  initial begin\n    rom[0] = 8'h00;\n    rom[1] = 8'h05;\n  end\n"
    text = f"module m(clk);\n{ram}{rom}endmodule\n"
    assert strip_zero_init(text) == f"module m(clk);\n{rom}endmodule\n"


def test_module_key_ignores_module_names_not_text():
    from hw.sweep.points import module_key

    text = "module top_ab(x);\n  dts_ab u(.x(x));\nendmodule\nmodule dts_ab(x);\nendmodule\n"
    renamed = text.replace("_ab", "_cd")
    assert module_key(text, "xcup", {}, ["top_ab", "dts_ab"]) == \
        module_key(renamed, "xcup", {}, ["top_cd", "dts_cd"])
    assert module_key(text, "xcup", {}, ["top_ab"]) != module_key(text, "ecp5", {}, ["top_ab"])
    assert module_key(text, "xcup", {}, []) != module_key(text.replace("(x)", "(y)"), "xcup", {})
