"""Design-space sweeps on Dask: ``python -m hw sweep SPEC`` or :func:`run_sweep`.

A spec (:mod:`hw.sweep.spec`, TOML) names a design, a grid of parameter values, a workload and
the measurements; every point's steps run as Dask tasks (:mod:`hw.sweep.run`, one process per
step: :mod:`hw.sweep.step`), timed on the family's cycle model (:mod:`hw.sweep.workload`) with
an energy estimate (:mod:`hw.sweep.energy`), and the rows, Pareto fronts and plots go to
``build/sweeps/NAME/`` (:mod:`hw.sweep.report`). Docs: docs/sweep.md.
"""

from .run import SweepResult, read_rows, run_sweep
from .spec import Spec, load_spec, parse_spec

__all__ = ["run_sweep", "read_rows", "SweepResult", "Spec", "load_spec", "parse_spec"]
