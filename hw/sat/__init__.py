"""Engines of the SAT sparse-training accelerator (CEST paper).

``config`` (:class:`~hw.sat.config.SatConfig`) and ``isa`` import no Amaranth; the registry
entries of the SAT designs (:data:`DESIGNS`, merged into :data:`hw.designs.DESIGNS`) are
built on first access, so importing ``hw.sat.config`` stays HDL-free.
"""

__all__ = ["DESIGNS"]


def __getattr__(name):
    if name == "DESIGNS":
        from . import core, osre, stce, wuve
        designs = {}
        for engine in (stce, osre, wuve, core):
            designs.update(engine.DESIGNS)
        globals()["DESIGNS"] = designs
        return designs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
