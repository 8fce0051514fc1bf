"""Synthesis: the flow (:mod:`hw.synth.flow`: Yosys, nextpnr, report parsing), report writing
(:mod:`hw.synth.report`) and one experiment list per family, each a command:

* ``python -m hw.synth.fp [--quick] [-o build/reports]``: the floating-point units;
* ``python -m hw.synth.sat [-o build/reports]``: SAT's engines, scaled to the paper;
* ``python -m hw.synth.spartann [-o build/reports]``: the SparTANN core, per module.

The flow's functions are importable from here too (``from hw.synth import synth_ecp5``);
``latch_check`` lives in :mod:`hw.checks` and is re-exported here for one release.
"""

from ..checks import latch_check
from .flow import (ECP5_MAP_LUTS, NEXTPNR_ARGS, XILINX_MAP_LUTS, SynthError, count_cells,
                   critical_path, read_cells, run_tool, run_yosys, synth_ecp5, synth_ecp5_abc,
                   synth_xilinx, synth_xilinx_abc, timing_wrapper, tool, tool_version)

__all__ = ["SynthError", "tool", "tool_version", "run_tool", "run_yosys", "read_cells",
           "count_cells", "critical_path", "timing_wrapper", "synth_ecp5", "synth_xilinx",
           "synth_ecp5_abc", "synth_xilinx_abc", "NEXTPNR_ARGS", "ECP5_MAP_LUTS",
           "XILINX_MAP_LUTS", "latch_check"]
