"""cocotb testbench of SparTANN's sparse-format units: ``spartann_encoder``
(:class:`hw.spartann.encoder.SparsifierEncoder`), ``spartann_decoder`` (``IndexDecoder``) and
``spartann_threshold`` (``ThresholdLanes``), against :mod:`sim.spartann.csc` bit for bit.

The configuration (``$SIM_CONFIG``) names the design, its parameters, a seed and a list of
phases; a phase sets ``theta`` (bit pattern), the data (``rows`` x ``cols`` with ``density``,
plus structured columns whose zero runs straddle the relative-index limit), ``gap_prob`` and
``stall_prob`` (threshold lanes also ``pad``: the ``pad_lanes`` input, 0 when absent). Every
phase clears the statistics first and checks them at its end (encoder, threshold lanes).
Phases without gaps or stalls also check the timing against the component's ``latency`` /
``cycles`` and record the measured numbers in ``measured``. One cocotb test per unit
(``encoder_matches_golden``, ``decoder_matches_golden``, ``threshold_matches_golden``); the
runner's ``testcase`` picks the one of the design built.
"""

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from hw.fp.format import parse_format
from hw.spartann import decoder, encoder, threshold
from sim.spartann import csc
from sim.layout import pack, unpack
from sim.tb.stream import StreamSink, StreamSource, TransferMonitor, start_clock_and_reset

__all__ = ["DESIGNS", "random_values", "random_matrix", "run_columns", "phase_matrix",
           "cocotb_testcase"]

DESIGNS = {**encoder.DESIGNS, **decoder.DESIGNS, **threshold.DESIGNS}


# -- data ----------------------------------------------------------------------------------------
def _specials(fmt):
    """+-0, +-min/max subnormal, +-min/max normal, +-1, +-inf, quiet/signalling NaNs."""
    s, man = fmt.sign_mask, fmt.man_bits
    mags = [0, 1, (1 << man) - 1, 1 << man, fmt.max_normal, fmt.bias << man, fmt.inf,
            fmt.canonical_nan, fmt.inf | 1, fmt.inf | ((1 << man) - 1)]
    return [v | sign for v in mags for sign in (0, s)]


def random_values(fmt, n, rng, theta=0):
    """``n`` non-zero-ish bit patterns: normals near 1.0 (where a typical ``theta`` lies),
    subnormals, special values, values at and one ulp around ``|theta|``, random patterns."""
    fmt = parse_format(fmt)
    man, width = fmt.man_bits, fmt.width
    sign = rng.integers(0, 2, n).astype(np.uint64) << np.uint64(width - 1)
    exp = rng.integers(max(1, fmt.bias - 4), min(fmt.exp_max_field, fmt.bias + 3), n)
    normal = (exp.astype(np.uint64) << np.uint64(man)) | rng.integers(0, 1 << man, n).astype(
        np.uint64)
    sub = rng.integers(1, 1 << man, n).astype(np.uint64)
    specials = np.array(_specials(fmt), np.uint64)[rng.integers(0, len(_specials(fmt)), n)]
    t = int(theta) & (fmt.sign_mask - 1)
    near = np.array([max(t - 1, 0), t, t + 1], np.uint64)[rng.integers(0, 3, n)] & np.uint64(
        fmt.sign_mask - 1)
    rand = rng.integers(0, 1 << width, n, dtype=np.uint64)
    kind = rng.choice(5, n, p=[0.55, 0.12, 0.08, 0.15, 0.10])
    bits = np.choose(kind, [normal, sub, specials, near, rand])
    signed = np.where(np.isin(kind, [0, 1, 3]), bits | sign, bits)       # random sign
    return signed.astype(np.uint64)


def random_matrix(fmt, rows, cols, density, rng, theta=0):
    """``(rows, cols)`` patterns: a value from :func:`random_values` with probability
    ``density``, else +0 or -0."""
    fmt = parse_format(fmt)
    values = random_values(fmt, rows * cols, rng, theta).reshape(rows, cols)
    zeros = rng.integers(0, 2, (rows, cols)).astype(np.uint64) << np.uint64(fmt.width - 1)
    return np.where(rng.random((rows, cols)) < density, values, zeros).astype(np.uint64)


def run_columns(fmt, rows, idx_bits, rng):
    """Columns whose zero runs sit around multiples of ``2**idx_bits`` (a leading run, runs of
    ``D``, ``D + 1``, ``2(D + 1) +- 1``, ...), one column with only its last row, one with only
    its first row and an all-zero column; kept values are normals near 1.0."""
    fmt = parse_format(fmt)
    period = 1 << idx_bits
    runs = [period, period - 1, 0, 2 * period, 2 * period - 1, 2 * period + 1, 1, 3 * period]
    stream = []
    for run in runs:
        stream += [0] * run + [(fmt.bias << fmt.man_bits) | (len(stream) + 1)]
    stream += [0] * (period + 1)                        # a trailing run is never encoded
    cols = -(-len(stream) // rows)
    matrix = np.zeros(rows * cols, np.uint64)
    matrix[:len(stream)] = stream
    matrix = matrix.reshape(cols, rows).T
    one = fmt.bias << fmt.man_bits
    last_only, first_only, empty = (np.zeros((rows, 1), np.uint64) for _ in range(3))
    last_only[-1], first_only[0] = one, one | fmt.sign_mask
    empty[rng.integers(0, rows)] = fmt.sign_mask      # -0 is a zero too
    return np.concatenate([matrix, last_only, empty, first_only, empty], axis=1)


def phase_matrix(fmt, phase, idx_bits, rng):
    """The dense matrix of an encoder/decoder phase."""
    theta = phase.get("theta", 0)
    parts = [random_matrix(fmt, phase["rows"], phase["cols"], phase["density"], rng, theta)]
    if phase.get("runs"):
        parts.append(run_columns(fmt, phase["rows"], idx_bits, rng))
    return np.concatenate(parts, axis=1)


# -- harness -------------------------------------------------------------------------------------


def _payload(component, name):
    return component.signature.members[name].signature.members["payload"].shape


def _mismatch(name, got, want, show):
    if got != want:
        bad = next((k for k, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got),
                                                                                    len(want)))
        raise AssertionError(
            f"{name}: {len(got)} words, expected {len(want)}; first difference at {bad}: "
            f"got {show(got[bad]) if bad < len(got) else None}, "
            f"expected {show(want[bad]) if bad < len(want) else None}")


async def _clear(dut):
    await FallingEdge(dut.clk)
    dut.clear.value = 1
    await FallingEdge(dut.clk)
    dut.clear.value = 0


async def _stats(dut, component, cycles=3):
    for _ in range(cycles):
        await FallingEdge(dut.clk)
    got = unpack(threshold.stats_layout(component.fmt), int(dut.stats.value))
    return csc.Stats(got["elements"], got["zeros"], got["max_abs"])


def _encoder_words(component, phase, rng):
    """Input words, expected output words and expected stats of an encoder phase."""
    fmt, idx_bits = component.fmt, component.idx_bits
    matrix = phase_matrix(fmt, phase, idx_bits, rng)
    rows = matrix.shape[0]
    layout_in, layout_out = _payload(component, "i"), _payload(component, "o")
    words = [pack(layout_in, {"value": int(matrix[r, c]), "last_in_column": int(r == rows - 1)})
             for c in range(matrix.shape[1]) for r in range(rows)]
    entries = csc.encode(matrix, idx_bits, phase["theta"], fmt)
    want = [pack(layout_out, e._asdict()) for e in entries]
    return words, want, entries, csc.stats(matrix, phase["theta"], fmt), rows


def _decoder_words(component, phase, rng):
    fmt = component.fmt
    matrix = phase_matrix(fmt, phase, component.idx_bits, rng)
    entries = csc.encode(matrix, component.idx_bits, phase["theta"], fmt)
    layout_in, layout_out = _payload(component, "i"), _payload(component, "o")
    words, want, prev = [], [], -1
    for e in entries:
        row = prev + e.delta + 1
        words.append(pack(layout_in, e._asdict()))
        want.append(pack(layout_out, {"value": e.value, "row": row, "filler": e.filler,
                                      "last": e.last}))
        prev = -1 if e.last else row
    assert np.array_equal(csc.decode(entries, matrix.shape[0]),
                          csc.sparsify(matrix, phase["theta"], fmt)[0])
    return words, want


def _threshold_words(component, phase, rng):
    fmt, lanes, theta = component.fmt, component.lanes, phase["theta"]
    counted = lanes - phase.get("pad", 0)             # the last ``pad`` lanes: no stats
    x = random_matrix(fmt, phase["vectors"], lanes, phase["density"], rng, theta)
    kept, drop = csc.sparsify(x, theta, fmt)
    layout_in, layout_out = _payload(component, "i"), _payload(component, "o")
    words = [pack(layout_in, [int(v) for v in row]) for row in x]
    want = [pack(layout_out, {"values": [int(v) for v in kept[k]],
                              "zeros": int(drop[k, :counted].sum()),
                              "max_abs": csc.stats(x[k, :counted], theta, fmt).max_abs})
            for k in range(len(x))]
    return words, want, csc.stats(x[:, :counted], theta, fmt)


def _timing(name, component, monitor, first_in, first_out, elements, fillers, ends=None):
    """Cycle counts of a phase without gaps or stalls."""
    ins, outs = monitor.inputs[first_in:], monitor.outputs[first_out:]
    total = outs[-1] - ins[0] + 1
    entry = {"elements": elements, "fillers": fillers, "cycles": total,
             "input_stall_cycles": sum(1 for c in monitor.input_stalls if ins[0] <= c <= ins[-1])}
    if hasattr(component, "cycles"):
        expected = component.cycles(elements, fillers)
        assert entry["input_stall_cycles"] == fillers, f"{name}: {entry}"
        # Latency: a column's last element to its last entry.
        lat = sorted({outs[o] - ins[i] for i, o in ends})
    else:
        expected = elements + component.latency
        assert ins[-1] - ins[0] + 1 == elements, f"{name}: input bubble"
        lat = sorted(set((np.array(outs) - np.array(ins)).tolist()))
    assert lat == [component.latency], f"{name}: latency {lat} != {component.latency}"
    assert total == expected, f"{name}: {total} cycles, expected {expected}"
    entry["latency"] = lat[0]
    return entry


def cocotb_testcase(design):
    """The cocotb test of ``design`` (``spartann_encoder`` -> ``encoder_matches_golden``)."""
    return f"{design.removeprefix('spartann_')}_matches_golden"


@cocotb.test()
async def encoder_matches_golden(dut):
    await _matches_golden(dut, "spartann_encoder")


@cocotb.test()
async def decoder_matches_golden(dut):
    await _matches_golden(dut, "spartann_decoder")


@cocotb.test()
async def threshold_matches_golden(dut):
    await _matches_golden(dut, "spartann_threshold")


async def _matches_golden(dut, design):
    cfg = json.loads(Path(os.environ["SIM_CONFIG"]).read_text())
    assert cfg["design"] == design, f"the configuration is for {cfg['design']}, not {design}"
    component, _ = DESIGNS[design].build(**cfg["params"])
    has_theta = design != "spartann_decoder"
    if has_theta:
        dut.theta.value, dut.clear.value = 0, 0
    if design == "spartann_threshold":
        dut.pad_lanes.value = 0
    source = StreamSource(dut, "i", seed=cfg["seed"])
    sink = StreamSink(dut, "o", seed=cfg["seed"] + 1).start()
    monitor = TransferMonitor(dut).start()
    await start_clock_and_reset(dut)

    measured = {}
    for number, phase in enumerate(cfg["phases"]):
        rng = np.random.default_rng([cfg["seed"], number])
        name = f"phase {number} ({phase})"
        if has_theta:
            dut.theta.value = phase["theta"]
            if design == "spartann_threshold":
                dut.pad_lanes.value = phase.get("pad", 0)
            await _clear(dut)
        if design == "spartann_encoder":
            words, want, entries, stats, rows = _encoder_words(component, phase, rng)
        elif design == "spartann_decoder":
            words, want = _decoder_words(component, phase, rng)
        else:
            words, want, stats = _threshold_words(component, phase, rng)
        source.gap_prob, sink.stall_prob = phase["gap_prob"], phase["stall_prob"]
        first_in, first_out = len(monitor.inputs), len(sink.words)
        await source.send(words)
        got = (await sink.wait_for(first_out + len(want)))[first_out:]
        shape = _payload(component, "o")
        _mismatch(name, got, want, lambda w: unpack(shape, w))
        entry = {"words_in": len(words), "words_out": len(want)}
        if has_theta:
            got_stats = await _stats(dut, component)
            assert got_stats == stats, f"{name}: stats {got_stats}, expected {stats}"
        if phase["gap_prob"] == 0 and phase["stall_prob"] == 0:
            await FallingEdge(dut.clk)
            fillers, ends = 0, None
            if design == "spartann_encoder":
                fillers = sum(1 for e in entries if e.filler and not e.last)
                last_in = [k for k in range(len(words)) if k % rows == rows - 1]
                last_out = [k for k, e in enumerate(entries) if e.last]
                ends = list(zip(last_in, last_out))
            entry.update(_timing(name, component, monitor, first_in, first_out, len(words),
                                 fillers, ends))
        measured[f"phase {number}"] = {**phase, **entry}
        dut._log.info("%s: bit-exact %s", name, entry)
    Path(cfg["measured"]).write_text(json.dumps(measured, indent=1))
