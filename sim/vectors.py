"""Moved to :mod:`sim.fp.vectors`; this name is kept for one release (the same module object)."""
import sys

from sim.fp import vectors

sys.modules[__name__] = vectors
