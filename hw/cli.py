"""Command line: ``python -m hw list`` and ``python -m hw generate DESIGN [--param v] -o DIR``."""

import argparse
import sys

from .designs import DESIGNS, build, design_name
from .generate import write_design

__all__ = ["main", "generate"]


def generate(design, out_dir, name=None, **params):
    """Build ``design`` with ``params`` and write ``out_dir/NAME.v`` and ``NAME.json``."""
    component, used = build(design, **params)
    name = name or design
    return write_design(component, name, used, out_dir, DESIGNS[design].description)


def _list():
    for key, design in DESIGNS.items():
        print(f"{key}: {design.description}")
        for pname, param in design.params.items():
            print(f"    --{pname.replace('_', '-')} (default: {param.default}): {param.help}")


def _parse_params(design, pairs):
    params, spec = {}, DESIGNS[design].params
    it = iter(pairs)
    for flag in it:
        if not flag.startswith("--"):
            raise ValueError(f"expected --parameter, got {flag!r}")
        key = flag[2:].replace("-", "_")
        if key not in spec:
            raise ValueError(f"design {design} has no parameter {key!r}; "
                             f"allowed: {', '.join(sorted(spec))}")
        text = next(it, None)
        if text is None:
            raise ValueError(f"parameter {key} needs a value")
        try:
            params[key] = spec[key].kind(text)
        except ValueError as error:
            raise ValueError(f"parameter {key}={text!r} is invalid: {error}") from None
    return params


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw", description=__doc__, allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list designs and their parameters")
    gen = sub.add_parser("generate", help="write DESIGN.v and DESIGN.json", allow_abbrev=False)
    gen.add_argument("design", help="one of: " + ", ".join(DESIGNS))
    gen.add_argument("-o", "--output", default="build", help="output directory")
    gen.add_argument("--name", help="top module / file name (default: the design name)")
    every = sub.add_parser("generate-all", help="write every design at its defaults")
    every.add_argument("-o", "--output", default="build/verilog", help="output directory")
    args, rest = parser.parse_known_args(argv)
    if args.command == "list":
        try:
            _list()
        except BrokenPipeError:                 # e.g. piped into `head`
            sys.stderr.close()
        return 0
    if args.command == "generate-all":
        for design in DESIGNS:
            v_path, _ = generate(design, args.output)
            print(f"wrote {v_path}")
        return 0
    try:
        if args.design not in DESIGNS:
            raise ValueError(f"unknown design {args.design!r}; choose from {', '.join(DESIGNS)}")
        params = _parse_params(args.design, rest)
        v_path, j_path = generate(args.design, args.output, args.name, **params)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {v_path} and {j_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
