"""Timing: the one place that says which attributes of a component describe its timing and
its ports, and reads them (for the manifest, :func:`hw.generate.manifest`; cycle models and
tests read the same attributes).

A component states its timing by subclassing :class:`Timed` (before ``wiring.Component``)
and overriding what applies; everything has a neutral default, so the manifest of a
component that does not subclass it is the same as before. No Amaranth import here.
"""

import importlib
from types import MappingProxyType

__all__ = ["Timed", "Pipelined", "timing", "port_doc"]


class Timed:
    """Timing and port descriptions of a component (override as properties):

    * ``latency``: cycles from an accepted input to its result (``None``: not fixed);
    * ``throughput``: inputs accepted per cycle (``None``: not fixed);
    * ``interval``: cycles between accepted inputs, where that is the natural measure;
    * ``timing_properties``: further latencies the cycle model reads (``{name: int}``);
    * ``cycle_model``: the module whose ``CYCLE_MODEL`` gives a command core's cycle formulas;
    * ``port_doc``: ``{port name: meaning}`` for the manifest.
    """

    latency = None
    throughput = None
    interval = None
    timing_properties = MappingProxyType({})
    cycle_model = None
    port_doc = MappingProxyType({})


class Pipelined(Timed):
    """A fully pipelined component: one input accepted per cycle (``throughput`` 1) and its
    result ``latency`` cycles later, the latency being the ``_latency`` the constructor set."""

    @property
    def latency(self):
        """Cycles from an accepted input to its result (without stalls)."""
        return self._latency

    @property
    def throughput(self):
        """Inputs accepted per cycle in steady state."""
        return 1


def _integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def timing(component):
    """The manifest's ``timing``: latency/throughput/interval where they are integers, the
    timing properties, and the command cycle model (formulas read from the model module
    named by ``cycle_model``)."""
    result = {}
    for key in ("latency", "throughput", "interval"):
        value = getattr(component, key, None)
        if _integer(value):
            result[key] = value
    props = getattr(component, "timing_properties", None)
    if props:
        result["properties"] = dict(props)
    module = getattr(component, "cycle_model", None)
    if module:
        result["cycle_model"] = {"module": module,
                                 **importlib.import_module(module).CYCLE_MODEL}
    return result


def port_doc(component):
    """``{port name: meaning}`` of ``component`` (empty when it documents none)."""
    return dict(getattr(component, "port_doc", None) or {})
