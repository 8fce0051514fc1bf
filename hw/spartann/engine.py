"""SparTANN run engine: the job scheduler and the T ``alpha*x + y`` MAC lanes.

Pipeline of one update (docs/spartann/index.md, *Scheduling*), ``loop_latency = mac_latency + 2``
(cycles from the dense-buffer read of an update to the read that may see its write-back):

* **S0** (slot ``t``): the scheduler picks the entry to read and reads the Sparse Buf;
* **S1** (``t + 1``): the entry is decoded (``row = prev + delta + 1``) into a register;
* **S2** (``t + 2``): the decoded entry issues (BP: always; WU: through the issue window);
  the core reads the dense buffers (B[row] and Out[addr] in BP, B[row] and A[addr] in WU);
* **S3**: the read rows enter the lanes; the result leaves them ``mac_latency`` cycles later,
  ``loop_latency - 1`` cycles after the read (``t + loop_latency + 1`` in BP), and is written
  back in that cycle.

The decode register keeps the Sparse Buf's read data, the index adder and the window's row
compares out of one cycle with the dense-buffer read address (the core's critical path).

BP: ``loop_latency`` column contexts take turns, one slot each (a ring of context registers;
the context at its head owns the slot). An idle context takes the next column in job order:
its start is the previous column's end, its end and descriptor come from the column tables,
read one cycle ahead. A context's next update of its row ``Out[a_c]`` reads ``loop_latency``
cycles after the previous read, one after that one's write: no hazard by construction.

WU: one context, entries decoded in stream order, issued from an **issue window** of
``window`` decoded entries plus the one in S2. An entry may issue when no update of its row was
issued in the last ``loop_latency - 1`` cycles (its write-back happened before this read) and no
older entry of the window has the same row; the oldest such entry issues. Each row's updates
therefore keep stream order (results do not depend on the window), while entries of other rows
overtake a blocked one. When the S2 entry can neither issue nor enter the window, S0, S1 and
S2 hold (``stall``): a bubble per cycle. ``window = 0`` is in-order issue.

Skipped columns cost one slot (the one that takes them); fillers cost their slot, like any
entry. The cycle model :mod:`sim.spartann.cycles` replays both schedules.
"""

import hashlib

from amaranth.hdl import Cat, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..fp.muladd import FloatMulAdd
from ..hier import instantiate, part
from .isa import addr_bits, col_layout, entry_layout, row_bits

__all__ = ["Scheduler", "MacLanes", "issue_layout", "tag_layout", "embed", "module_name"]


def module_name(prefix, **params):
    """A Verilog module name for a sub-block: ``prefix`` and a digest of its parameters."""
    text = repr(sorted((k, str(v)) for k, v in params.items()))
    return f"{prefix}_{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def embed(m, name, component, verilog_name):
    """Instantiate ``component`` in ``m`` as Verilog module ``verilog_name`` (emitted once by
    :func:`hw.generate.to_verilog`, so sub-blocks keep their own module without a dotted
    name). Returns its interface: fresh signals with the component's members. Build
    ``component`` with :func:`hw.hier.part`."""
    return instantiate(m, name, component, verilog_name,
                       component.signature.create(path=(name,)))


def tag_layout(b_rows, a_rows, out_rows):
    """What travels with an update through the lanes: its B ``row`` and column ``addr``."""
    return data.StructLayout({"row": row_bits(b_rows), "addr": addr_bits(a_rows, out_rows)})


def issue_layout(fmt, b_rows, a_rows, out_rows):
    """A decoded entry in S1: ``valid`` (a non-filler entry), ``value``, ``row``, ``addr``."""
    return data.StructLayout({"valid": 1, "value": fmt.width, "row": row_bits(b_rows),
                              "addr": addr_bits(a_rows, out_rows)})


def _any(values):
    result = Value.cast(0)
    for value in values:
        result = result | value
    return result


class Scheduler(wiring.Component):
    """Stages S0 and S1 of a job (see the module doc).

    Ports: ``start`` (pulse in the cycle before slot 0, at the earliest the cycle after
    ``busy`` fell: resets the job state; between jobs the tables read column 0), ``wu``
    (phase, held during the job), ``ncols`` (columns loaded); the column tables' read
    address ``col_addr`` (sync read: ``col_end``, ``col_desc`` hold the entry one cycle
    later), the Sparse Buf read port ``sparse_addr`` / ``sparse_en`` / ``sparse_data``;
    ``issue`` (the update read in this cycle: the S2 entry in BP, the picked entry in WU),
    ``stall`` (S0, S1 and S2 hold this cycle), ``action`` (S0 issued an entry or passed a
    skipped column) and ``busy`` (the job is not finished). ``contexts`` = ``loop_latency``.
    """

    def __init__(self, *, contexts, fmt, idx_bits, sparse_depth, max_cols, b_rows, a_rows,
                 out_rows, window=0):
        self.contexts, self.window = contexts, window
        self._issue_layout = issue_layout(fmt, b_rows, a_rows, out_rows)
        self._ptr = range(sparse_depth + 1)
        self._rows = row_bits(b_rows)
        self._ctx_layout = data.StructLayout({"active": 1, "ptr": self._ptr, "end": self._ptr,
                                              "addr": addr_bits(a_rows, out_rows)})
        super().__init__({
            "start": In(1), "wu": In(1), "ncols": In(range(max_cols + 1)),
            "col_addr": Out(range(max_cols)), "col_end": In(self._ptr),
            "col_desc": In(col_layout(a_rows, out_rows, sparse_depth)),
            "sparse_addr": Out(range(sparse_depth)), "sparse_en": Out(1),
            "sparse_data": In(entry_layout(fmt, idx_bits)),
            "stall": Out(1),
            "issue": Out(self._issue_layout),
            "action": Out(1), "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L = self.contexts
        ring = [Signal(self._ctx_layout, name=f"ctx{i}") for i in range(L)]
        prevs = [Signal(self._rows, name=f"prev{i}") for i in range(L)]
        head = ring[0]
        running = Signal()
        ncol = Signal.like(self.ncols, name="ncol")      # next column to take
        nstart = Signal(self._ptr)                      # its first entry
        advance = Signal()
        m.d.comb += advance.eq(~self.stall)
        decoded = Signal(self._issue_layout)            # the entry decoded in S1
        young = Signal(self._issue_layout)              # S2: the decoded entry, registered

        # -- S0: pick the slot's entry ------------------------------------------------------
        take, skip, issue = Signal(), Signal(), Signal()
        ptr, end = Signal(self._ptr), Signal(self._ptr)
        nxt = Signal(self._ctx_layout)
        m.d.comb += [
            take.eq(running & ~head.active & (ncol < self.ncols)),
            skip.eq(take & self.col_desc.skip),
            issue.eq(running & (head.active | (take & ~self.col_desc.skip))),
            ptr.eq(Mux(head.active, head.ptr, nstart)),
            end.eq(Mux(head.active, head.end, self.col_end)),
            nxt.ptr.eq(ptr + 1), nxt.end.eq(end),
            nxt.addr.eq(Mux(head.active, head.addr, self.col_desc.addr)),
            nxt.active.eq(issue & (ptr + 1 < end)),
            self.sparse_addr.eq(ptr), self.sparse_en.eq(advance),
            self.action.eq(advance & (issue | skip)),
            # between jobs the tables read column 0, so ``start`` does not reach the address
            self.col_addr.eq(Mux(running, Mux(advance & take, ncol + 1, ncol), 0)),
        ]
        s1_issue, s1_first = Signal(), Signal()
        s1_addr = Signal.like(nxt.addr, name="s1_addr")
        with m.If(advance):
            m.d.sync += [s1_issue.eq(issue), s1_first.eq(~head.active), s1_addr.eq(nxt.addr)]
            with m.If(take):
                m.d.sync += [ncol.eq(ncol + 1), nstart.eq(self.col_end)]
            with m.If(self.wu):
                m.d.sync += head.eq(nxt)
            with m.Else():
                m.d.sync += [ring[i].eq(ring[i + 1]) for i in range(L - 1)]
                m.d.sync += ring[L - 1].eq(nxt)

        # -- S1: decode the row ---------------------------------------------------------------
        entry = self.sparse_data
        row = Signal(self._rows)
        m.d.comb += [
            row.eq(Mux(s1_first, 0, prevs[0] + 1) + entry.delta),
            decoded.valid.eq(s1_issue & ~entry.filler), decoded.value.eq(entry.value),
            decoded.row.eq(row), decoded.addr.eq(s1_addr),
        ]
        waiting = self._issue_window(m, young, running)
        with m.If(advance):
            m.d.sync += young.eq(decoded)
            with m.If(self.wu):
                with m.If(s1_issue):
                    m.d.sync += prevs[0].eq(row)
            with m.Else():
                m.d.sync += [prevs[i].eq(prevs[i + 1]) for i in range(L - 1)]
                m.d.sync += prevs[L - 1].eq(row)

        # -- job state ------------------------------------------------------------------------
        pending = ((ncol < self.ncols) | _any(c.active for c in ring) | s1_issue
                   | young.valid | waiting)
        m.d.comb += self.busy.eq(running & pending)
        with m.If(running & ~pending):
            m.d.sync += running.eq(0)
        with m.If(self.start):
            m.d.sync += [running.eq(1), ncol.eq(0), nstart.eq(0), s1_issue.eq(0),
                         young.valid.eq(0)]
            m.d.sync += [c.active.eq(0) for c in ring]
        return m

    def _issue_window(self, m, young, running):
        """WU issue window (BP: ``issue`` is the S1 entry, never a stall). Drives ``issue``
        and ``stall``; returns "an entry is waiting in the window"."""
        W, wu = self.window, self.wu
        slots = [Signal(self._issue_layout, name=f"win{i}") for i in range(W)]
        recent = [Signal(self._issue_layout["row"].shape, name=f"recent{d}")
                  for d in range(1, self.contexts)]
        recent_v = [Signal(name=f"recent{d}_valid") for d in range(1, self.contexts)]
        cands = [*slots, young]                         # oldest first

        def blocked(i):
            row = cands[i].row
            older = (cands[j].valid & (cands[j].row == row) for j in range(i))
            recent_hit = (v & (r == row) for v, r in zip(recent_v, recent))
            return _any(older) | _any(recent_hit)

        ready = [Signal(name=f"ready{i}") for i in range(W + 1)]
        pick = [Signal(name=f"pick{i}") for i in range(W + 1)]
        m.d.comb += [ready[i].eq(cands[i].valid & ~blocked(i)) for i in range(W + 1)]
        m.d.comb += [pick[i].eq(ready[i] & ~_any(ready[:i])) for i in range(W + 1)]
        picked = Signal(self._issue_layout)
        for i in range(W + 1):
            with m.If(pick[i]):
                m.d.comb += picked.eq(cands[i])
        m.d.comb += picked.valid.eq(_any(pick))
        # The young entry enters the window when it does not issue and there is room.
        full = slots[W - 1].valid & ~_any(pick[:W]) if W else Value.cast(1)
        enter = young.valid & ~pick[W] & ~full
        m.d.comb += [
            self.issue.eq(Mux(wu, picked, young)),
            self.issue.valid.eq(running & Mux(wu, picked.valid, young.valid)),
            self.stall.eq(running & wu & young.valid & ~pick[W] & full),
        ]
        # Remove the picked slot (younger ones move down), then append the young entry in
        # the first free slot; recent picks shift along.
        nxt = [Signal(self._issue_layout, name=f"win{i}_next") for i in range(W)]
        for i in range(W):
            above = Value.cast(slots[i + 1]) if i + 1 < W else 0
            m.d.comb += nxt[i].eq(Mux(_any(pick[:i + 1]), above, Value.cast(slots[i])))
        for i in range(W):
            below = nxt[i - 1].valid if i else 1
            with m.If(wu & running):
                with m.If(enter & ~nxt[i].valid & below):
                    m.d.sync += slots[i].eq(young)
                with m.Else():
                    m.d.sync += slots[i].eq(nxt[i])
        if recent:
            m.d.sync += [recent[0].eq(picked.row), recent_v[0].eq(wu & running & picked.valid)]
            for d in range(1, len(recent)):
                m.d.sync += [recent[d].eq(recent[d - 1]), recent_v[d].eq(recent_v[d - 1])]
        with m.If(self.start):
            m.d.sync += [s.valid.eq(0) for s in slots] + [v.eq(0) for v in recent_v]
        return _any(s.valid for s in slots)


class MacLanes(wiring.Component):
    """T lanes of ``result = round(round(alpha * x) + y)`` (:class:`~hw.fp.muladd.FloatMulAdd`
    with one format), ``latency`` stages, one update per cycle, no stall.

    Ports: ``valid``, ``alpha`` (shared), ``x``, ``y`` (T words), ``tag`` (travels with the
    update); ``o_valid``, ``o_tag``, ``result``: the update ``latency`` cycles later.
    ``busy``: an update is in the lanes.
    The lane is emitted once as its own Verilog module and instantiated T times.
    """

    def __init__(self, *, T, fmt, latency, tag):
        self.T, self.fmt, self.latency = T, fmt, latency
        self.lane = part(FloatMulAdd, fmt, fmt, latency=latency)    # emitted once when used
        words = data.ArrayLayout(fmt.width, T)
        super().__init__({
            "valid": In(1), "alpha": In(fmt.width), "x": In(words), "y": In(words),
            "tag": In(tag), "o_valid": Out(1), "o_tag": Out(tag), "result": Out(words),
            "busy": Out(1),
        })

    @property
    def module_name(self):
        return f"spartann_axpy_{self.fmt.name}_l{self.latency}"

    def _lane(self, m, index, a, b, c):
        result = Signal(self.fmt.width, name=f"lane{index}_result")
        unused = Signal(name=f"lane{index}_valid")
        instantiate(m, f"lane{index}", self.lane, self.module_name,
                    {"i__valid": self.valid, "i__payload": Cat(a, b, c), "o__payload": result,
                     "o__valid": unused})
        return result

    def elaborate(self, platform):
        m = Module()
        for l in range(self.T):
            result = self._lane(m, l, self.alpha, self.x[l], self.y[l])
            m.d.comb += self.result[l].eq(result)
        stages = [(self.valid, self.tag)]
        for j in range(self.latency):
            valid = Signal(name=f"tag{j}_valid")
            tag = Signal(self.tag.shape(), name=f"tag{j}", reset_less=True)
            m.d.sync += [valid.eq(stages[-1][0]), tag.eq(stages[-1][1])]
            stages.append((valid, tag))
        m.d.comb += [
            self.o_valid.eq(stages[-1][0]), self.o_tag.eq(stages[-1][1]),
            self.busy.eq(_any(v for v, _ in stages)),
        ]
        return m

