"""Command line of the generator.

``python -m hw list [DESIGN]``: the designs (or one) with their parameters and defaults;
``python -m hw generate DESIGN [--param value | --param=value ...] [-o DIR] [--name NAME]``
writes ``DIR/NAME.v`` and ``DIR/NAME.json``; ``python -m hw generate DESIGN --help`` lists
that design's parameters; ``python -m hw generate-all [-o DIR]`` writes every design at its
defaults (a progress line per design on stderr); ``python -m hw sweep SPEC [--scheduler
tcp://HOST:PORT] [--workers N] [-o ROOT] [--retry-failed] [--no-plots] [--only P=V1,V2]``
runs a design-space sweep on Dask (docs/sweep.md) into ``ROOT/NAME/`` (default
``build/sweeps``); it exits with status 1 when a point failed (its row says why).

A bad parameter (unknown, not a value of its kind, out of range, or rejected by the design's
own checks) prints one line ``error: parameter NAME=VALUE is invalid: ...`` on stderr and
exits with status 2.
"""

import argparse
import os
import re
import sys

from .designs import DESIGNS, build
from .generate import write_design
from .progress import restart, step

__all__ = ["main", "generate", "design_help"]


class CliError(ValueError):
    """A one-line command-line error (printed as ``error: ...``, exit status 2)."""


def generate(design, out_dir, name=None, **params):
    """Build ``design`` with ``params`` and write ``out_dir/NAME.v`` and ``NAME.json``."""
    component, used = build(design, **params)
    name = name or design
    return write_design(component, name, used, out_dir, DESIGNS[design].description)


def _flag(key):
    return "--" + key.replace("_", "-")


def _check_design(design):
    if design not in DESIGNS:
        raise CliError(f"unknown design {design!r}; choose from {', '.join(DESIGNS)}")


def _list(designs):
    for key in designs:
        design = DESIGNS[key]
        print(f"{key}: {design.description}")
        for pname, param in design.params.items():
            print(f"    {_flag(pname)} (default: {param.default}): {param.help}")


def design_help(design):
    """The ``generate DESIGN --help`` text: usage, description and every parameter."""
    spec = DESIGNS[design]
    rows = [(f"{_flag(k)} VALUE",
             p.help if "(default:" in p.help else f"{p.help} (default: {p.default})")
            for k, p in spec.params.items()]
    options = [("-o, --output DIR", "output directory (default: build)"),
               ("--name NAME", f"top module / file name (default: {design})"),
               ("-h, --help", "show this help and exit")]
    width = max(len(left) for left, _ in rows + options) + 2
    lines = [f"usage: python -m hw generate {design} [-o DIR] [--name NAME] "
             f"[--PARAMETER VALUE | --PARAMETER=VALUE ...]", "", f"{design}: {spec.description}",
             "", "parameters:"]
    lines += [f"  {left:<{width}}{right}" for left, right in rows]
    lines += ["", "options:"] + [f"  {left:<{width}}{right}" for left, right in options]
    return "\n".join(lines)


def _parse_params(design, args):
    """``--key value`` / ``--key=value`` pairs -> ({key: value}, {key: the text given})."""
    params, texts, spec = {}, {}, DESIGNS[design].params
    i = 0
    while i < len(args):
        flag = args[i]
        if not flag.startswith("--"):
            raise CliError(f"expected --parameter, got {flag!r}")
        key, eq, text = flag[2:].partition("=")
        key = key.replace("-", "_")
        if key not in spec:
            raise CliError(f"design {design} has no parameter {key!r}; "
                           f"allowed: {', '.join(spec)} (see generate {design} --help)")
        if not eq:
            i += 1
            if i == len(args):
                raise CliError(f"parameter {key} needs a value ({_flag(key)} VALUE)")
            text = args[i]
        i += 1
        texts[key] = text
        try:
            params[key] = spec[key].kind(text)
        except (ValueError, TypeError) as error:
            message = str(error)
            if message.startswith("invalid literal for int()"):
                message = "not an integer"
            raise CliError(f"parameter {key}={text!r} is invalid: {message}") from None
    return params, texts


def _construction_error(design, given, error):
    """A design's own ValueError as one line naming the parameter it is about."""
    message = " ".join(str(error).split())
    spec = DESIGNS[design].params
    match = re.match(r"(\w+)(?::\s*|\s+(?=must\b))", message)
    if not match or match.group(1) not in spec:
        return CliError(f"design {design}: {message}")
    key = match.group(1)
    if key in given:
        shown = f"{key}={given[key]!r}"
    elif spec[key].default is None:
        shown = f"{key} (not given: the default)"
    else:
        shown = f"{key}={spec[key].default!r} (the default)"
    return CliError(f"parameter {shown} is invalid: {message[match.end():]}")


def _generate(args, rest):
    if args.design is None:
        raise CliError("generate needs a design; see python -m hw list")
    _check_design(args.design)
    if args.help:
        print(design_help(args.design))
        return
    params, given = _parse_params(args.design, rest)
    try:
        v_path, j_path = generate(args.design, args.output, args.name, **params)
    except ValueError as error:
        raise _construction_error(args.design, given, error) from None
    from .export import companion_names
    others = ", ".join(n for n in companion_names(v_path.stem).values()
                       if (v_path.parent / n).exists())
    print(f"wrote {v_path} and {j_path} (with {others})")


def _sweep(args):
    from .sweep import run_sweep

    only = {}
    for item in args.only:
        key, eq, values = item.partition("=")
        if not eq or not key or not values:
            raise CliError(f"--only takes PARAM=V1,V2,..., not {item!r}")
        only[key.replace("-", "_")] = values.split(",")
    try:
        result = run_sweep(args.spec, out_root=args.output, scheduler=args.scheduler,
                           workers=args.workers, retry_failed=args.retry_failed,
                           plots=not args.no_plots, only=only)
    except (OSError, ValueError) as error:
        raise CliError(f"sweep {args.spec}: {error}") from None
    failed = [r for r in result.rows if r["status"] != "ok"]
    print(f"{len(result.rows)} points ({result.ran} run now, {len(failed)} failed) in "
          f"{result.seconds} s: {result.files['csv']} and {result.files['report']}")
    return 1 if failed else 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hw", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     allow_abbrev=False)
    sub = parser.add_subparsers(dest="command", required=True)
    lst = sub.add_parser("list", help="list the designs (or one) with parameters and defaults")
    lst.add_argument("design", nargs="?", help="one design (default: all)")
    gen = sub.add_parser("generate", help="write DESIGN.v and DESIGN.json", allow_abbrev=False,
                         add_help=False)
    gen.add_argument("design", nargs="?", help="one of: " + ", ".join(DESIGNS))
    gen.add_argument("-o", "--output", default="build", help="output directory")
    gen.add_argument("--name", help="top module / file name (default: the design name)")
    gen.add_argument("-h", "--help", action="store_true",
                     help="show the design's parameters (or this help) and exit")
    every = sub.add_parser("generate-all", help="write every design at its defaults")
    every.add_argument("-o", "--output", default="build/verilog", help="output directory")
    swp = sub.add_parser("sweep", help="run a design-space sweep (TOML spec) on Dask")
    swp.add_argument("spec", help="sweep spec, e.g. sweeps/smoke.toml")
    swp.add_argument("--scheduler", help="Dask scheduler address tcp://HOST:PORT (default: "
                     "$DASK_SCHEDULER_ADDRESS, else a local cluster)")
    swp.add_argument("--workers", type=int, help="local cluster workers (default: CPUs)")
    swp.add_argument("-o", "--output", default="build/sweeps", help="results root directory")
    swp.add_argument("--retry-failed", action="store_true", help="run failed points again")
    swp.add_argument("--no-plots", action="store_true", help="write no Pareto plots")
    swp.add_argument("--only", action="append", default=[], metavar="PARAM=V1,V2",
                     help="run only the points with one of these values (repeatable)")
    args, rest = parser.parse_known_args(argv)
    try:
        if args.command != "generate" and rest:
            raise CliError(f"unrecognized arguments: {' '.join(rest)}")
        if args.command == "list":
            if args.design is not None:
                _check_design(args.design)
            _list([args.design] if args.design else DESIGNS)
        elif args.command == "generate-all":
            restart()
            with step(f"{len(DESIGNS)} designs into {args.output}"):
                for design in DESIGNS:
                    with step(design):
                        generate(design, args.output)
        elif args.command == "sweep":
            return _sweep(args)
        elif args.help and args.design is None:
            gen.print_help()
        else:
            _generate(args, rest)
    except CliError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:                     # e.g. `list` piped into `head`
        sys.stdout = open(os.devnull, "w")      # no second error when Python flushes at exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
