"""Progress lines for long work (generate-all, synthesis, benchmarks), on stderr.

Every line starts with the seconds since the run began, so minutes of work never look like a
hang and a log shows where the time went::

    [    0.4 s] fp_add (0.4 s)
    [   12.3 s] sat_core (11.9 s)

Use :func:`step` around one piece of work (a line when it ends, with its own duration),
:func:`collect` to wait for pool jobs (a line as each finishes), or :func:`note` for a line
at a point in time. ``PROGRESS=0`` in the environment silences them.
"""

import os
import sys
import time
from concurrent.futures import as_completed
from contextlib import contextmanager

__all__ = ["step", "note", "collect", "elapsed", "restart"]

_T0 = time.monotonic()


def restart():
    """Count the elapsed time from now (call at the start of a command)."""
    global _T0
    _T0 = time.monotonic()


def elapsed():
    """Seconds since the run began (module import or the last :func:`restart`)."""
    return time.monotonic() - _T0


def note(text, stream=None):
    """Print ``[  12.3 s] text`` on stderr (or ``stream``)."""
    if os.environ.get("PROGRESS", "1") == "0":
        return
    print(f"[{elapsed():7.1f} s] {text}", file=stream or sys.stderr, flush=True)


@contextmanager
def step(label, stream=None, start=False):
    """Time the ``with`` body and print ``[  12.3 s] label (4.1 s)`` when it ends (``label
    ... failed`` if it raises). ``start=True`` also prints ``label ...`` when it begins, for
    steps that take minutes."""
    begin = time.monotonic()
    if start:
        note(f"{label} ...", stream)
    try:
        yield
    except BaseException:
        note(f"{label} failed after {time.monotonic() - begin:.1f} s", stream)
        raise
    note(f"{label} ({time.monotonic() - begin:.1f} s)", stream)


def collect(futures, what="jobs", stream=None):
    """Wait for ``{label: future}`` (e.g. a process pool's synthesis jobs), printing
    ``[  12.3 s] label done (2/6 jobs, 11.9 s)`` as each one finishes; returns
    ``{label: result}`` in the given order (re-raising a job's exception at the end)."""
    begin, total = time.monotonic(), len(futures)
    note(f"{total} {what} running", stream)
    labels = {future: label for label, future in futures.items()}
    for done, future in enumerate(as_completed(labels), 1):
        state = "failed" if future.exception() is not None else "done"
        note(f"{labels[future]} {state} ({done}/{total} {what}, "
             f"{time.monotonic() - begin:.1f} s)", stream)
    return {label: future.result() for label, future in futures.items()}
