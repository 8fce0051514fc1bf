# amaranth: UnusedElaboratable=no
"""Hierarchy: a sub-block emitted once as its own Verilog module and instantiated by name.

A design that holds many copies of one block (1024 PEs, T MAC lanes) or a large engine it
wants kept as its own module does not elaborate the block inline: it instantiates the block's
Verilog module by name (:func:`instantiate`), and :func:`hw.generate.to_verilog` appends that
module's text once after the design's.

:func:`part` constructs such a block. A part may never be elaborated itself (its parent can
be built flat, or used only for its properties or datapath steps), so Amaranth's
"created but never used" warning is switched off for the objects built here, and only for
those, by the linter directive on this file's first line (Amaranth reads it from the file
that creates the elaboratable).
"""

from .generate import ports as _ports, require_module

__all__ = ["part", "instantiate"]


def part(cls, /, *args, **kwargs):
    """``cls(*args, **kwargs)``: a sub-block that is emitted as its own module (or whose
    description its parent uses inline), with no warning when it is never elaborated."""
    return cls(*args, **kwargs)


def instantiate(m, name, component, module_name, connect=None):
    """Add ``component`` to ``m`` as submodule ``name``: an instance of the Verilog module
    ``module_name``, whose text :func:`hw.generate.to_verilog` emits once after the design.

    ``clk`` and ``rst`` are connected to the domain's clock and reset. The other ports go to:

    * ``connect=None``: the component's own port signals (the parent drives and reads the
      component's members as if it were an ordinary submodule);
    * an interface with the component's signature, e.g.
      ``component.signature.create(path=(name,))`` (fresh signals named after the instance);
    * a dict ``{port name: value}`` (port names as in the manifest, ``i__payload``), in
      the order given; ports not named are left unconnected.

    Returns what the ports were connected to (the component, the interface or the dict).
    """
    from amaranth.hdl import ClockSignal, Instance, ResetSignal, Signal, Value
    from amaranth.lib import data, wiring

    kwargs = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
    if isinstance(connect, dict):
        directions = {port: direction for port, direction, *_ in _ports(component)}
        for port, value in connect.items():
            if port not in directions:
                raise ValueError(f"{module_name} has no port {port!r}; its ports: "
                                 f"{sorted(directions)}")
            prefix = "i_" if directions[port] == "input" else "o_"
            kwargs[prefix + port] = value.as_value() if isinstance(value, data.View) else value
    else:
        target = component if connect is None else connect
        for path, member, value in component.signature.flatten(target):
            if isinstance(value, data.View):
                value = Value.cast(value)
            if isinstance(value, Signal):
                prefix = "i_" if member.flow == wiring.In else "o_"
                kwargs[prefix + "__".join(map(str, path))] = value
    m.submodules[name] = Instance(module_name, **kwargs)
    require_module(module_name, component)
    return component if connect is None else connect
