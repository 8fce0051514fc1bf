"""Benchmarks: numbers, not pass/fail, each a command writing ``<name>.{md,json}`` into a
report directory (``make bench`` runs them all into ``build/reports``):

* ``python -m sim.bench.spartann``: SparTANN job cycles on the RTL vs the cycle model;
* ``python -m sim.bench.spartann_layer``: a whole conv layer on the PAPER core (cycle model);
* ``python -m sim.bench.dts``: DTS threshold tracking vs Gaussian and static thresholds;
* ``python -m sim.bench.sat_resnet18``: ResNet-18 on SAT's STCE (cycle model);
* ``python -m sim.bench.scalesim``: the same layers in SCALE-Sim;
* ``python -m sim.bench.bdwp_digits``: BDWP training accuracy, dense vs N:M.
"""
