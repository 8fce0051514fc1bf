"""Moved to :mod:`sim.fp.golden`; this name is kept for one release (the same module object)."""
import sys

from sim.fp import golden

sys.modules[__name__] = golden
