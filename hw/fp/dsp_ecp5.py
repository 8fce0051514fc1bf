"""Lattice ECP5 ``MULT18X18D`` by instantiation, with the DSP's own registers.

Yosys' ECP5 flow maps ``a * b`` to a ``MULT18X18D`` without its input, pipeline and output
registers (it does not absorb the fabric flip-flops around it), so a multiplier-based unit
stops near 140 MHz. :func:`ecp5_mult` instantiates the cell with ``stages`` of its registers
clocked (1: inputs, 2: inputs and output, 3: inputs, pipeline and output) and returns the
product ``stages`` cycles later.

The instance simulates in Verilator and Icarus through :data:`MODEL`, a behavioural Verilog
model of the cell as used here, appended to the generated Verilog between
```ifndef SYNTHESIS`` and ```endif``: Yosys defines ``SYNTHESIS`` and keeps its own
``MULT18X18D`` cell (``cells_bb_ecp5.v``), the simulators read the model.
"""

from amaranth.hdl import ClockSignal, Const, Instance, Signal, Value

from ..generate import require_module

__all__ = ["ecp5_mult", "WIDTH", "MAX_STAGES", "MODEL"]

#: Operand width of one MULT18X18D (unsigned here: ``SIGNEDA = SIGNEDB = 0``).
WIDTH = 18
#: Register stages inside the cell: inputs, pipeline, output.
MAX_STAGES = 3
#: The cell's registers clocked for 0..3 stages.
_REGISTERS = {0: (), 1: ("INPUTA", "INPUTB"), 2: ("INPUTA", "INPUTB", "OUTPUT"),
              3: ("INPUTA", "INPUTB", "PIPELINE", "OUTPUT")}


def _model():
    bits = lambda p, n: ", ".join(f"{p}{k}" for k in reversed(range(n)))
    return f"""`ifndef SYNTHESIS
/* verilator lint_off DECLFILENAME */
// Behavioural model of the Lattice ECP5 MULT18X18D as hw/fp/dsp_ecp5.py instantiates it:
// A x B (SIGNEDA/SIGNEDB select two's complement), registers on CLK0 with CE0 and a
// synchronous RST0. Yosys defines SYNTHESIS and uses its own cell instead.
module MULT18X18D #(
  parameter REG_INPUTA_CLK = "NONE",
  parameter REG_INPUTB_CLK = "NONE",
  parameter REG_PIPELINE_CLK = "NONE",
  parameter REG_OUTPUT_CLK = "NONE"
) (
  input {bits("A", WIDTH)},
  input {bits("B", WIDTH)},
  input SIGNEDA, SIGNEDB, CLK0, CE0, RST0,
  output {bits("P", 2 * WIDTH)}
);
  wire [17:0] a = {{{bits("A", WIDTH)}}};
  wire [17:0] b = {{{bits("B", WIDTH)}}};
  reg [17:0] a_q = 18'd0;
  reg [17:0] b_q = 18'd0;
  reg sa_q = 1'b0;
  reg sb_q = 1'b0;
  reg [35:0] pipe_q = 36'd0;
  reg [35:0] out_q = 36'd0;
  wire [17:0] a_in = REG_INPUTA_CLK == "NONE" ? a : a_q;
  wire [17:0] b_in = REG_INPUTB_CLK == "NONE" ? b : b_q;
  wire sa = REG_INPUTA_CLK == "NONE" ? SIGNEDA : sa_q;
  wire sb = REG_INPUTB_CLK == "NONE" ? SIGNEDB : sb_q;
  wire signed [18:0] a_ext = {{sa & a_in[17], a_in}};
  wire signed [18:0] b_ext = {{sb & b_in[17], b_in}};
  wire signed [37:0] product = a_ext * b_ext;
  wire [35:0] piped = REG_PIPELINE_CLK == "NONE" ? product[35:0] : pipe_q;
  wire [35:0] p = REG_OUTPUT_CLK == "NONE" ? piped : out_q;
  always @(posedge CLK0) begin
    if (RST0) begin
      a_q <= 18'd0;
      b_q <= 18'd0;
      sa_q <= 1'b0;
      sb_q <= 1'b0;
      pipe_q <= 36'd0;
      out_q <= 36'd0;
    end else if (CE0) begin
      a_q <= a;
      b_q <= b;
      sa_q <= SIGNEDA;
      sb_q <= SIGNEDB;
      pipe_q <= product[35:0];
      out_q <= piped;
    end
  end
  assign {{{bits("P", 2 * WIDTH)}}} = p;
endmodule
`endif
"""


#: Verilog text of the behavioural model (see the module docstring).
MODEL = _model()


def ecp5_mult(m, a, b, stages, name, enable=None):
    """Unsigned ``a * b`` (each at most :data:`WIDTH` bits) in one ``MULT18X18D``, available
    ``stages`` (0..3) cycles later; ``enable`` (optional) is the registers' clock enable
    (``CE0``). Returns a Signal ``len(a) + len(b)`` bits wide."""
    a, b = Value.cast(a), Value.cast(b)
    for arg, value in (("a", a), ("b", b)):
        if len(value) > WIDTH:
            raise ValueError(f"{arg} is {len(value)} bits wide; one MULT18X18D takes at most "
                             f"{WIDTH}")
    if stages not in _REGISTERS:
        raise ValueError(f"stages must be 0..{MAX_STAGES}, not {stages!r}")
    a_pad = Signal(WIDTH, name=f"{name}_a")
    b_pad = Signal(WIDTH, name=f"{name}_b")
    p36 = Signal(2 * WIDTH, name=f"{name}_p36")
    product = Signal(len(a) + len(b), name=f"{name}_p")
    m.d.comb += [a_pad.eq(a), b_pad.eq(b), product.eq(p36[:len(product)])]
    used = _REGISTERS[stages]
    params = {f"p_REG_{reg}_CLK": "CLK0" if reg in used else "NONE"
              for reg in ("INPUTA", "INPUTB", "PIPELINE", "OUTPUT")}
    ports = {**{f"i_A{k}": a_pad[k] for k in range(WIDTH)},
             **{f"i_B{k}": b_pad[k] for k in range(WIDTH)},
             **{f"o_P{k}": p36[k] for k in range(2 * WIDTH)},
             "i_SIGNEDA": Const(0, 1), "i_SIGNEDB": Const(0, 1), "i_CLK0": ClockSignal(),
             "i_CE0": Const(1, 1) if enable is None else enable, "i_RST0": Const(0, 1)}
    m.submodules[name] = Instance("MULT18X18D", **params, **ports)
    require_module("MULT18X18D", MODEL)
    return product
