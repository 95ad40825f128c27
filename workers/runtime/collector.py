"""The cyclic garbage collector of a long-running worker.

Python's defaults (a young-generation pass every 700 net allocations of tracked
objects) suit short scripts.  A worker allocates thousands of short-lived model
objects a second (every decoded event, every rendered claim) while holding its
tables and caches; each full pass walks all of that.  Measured on the pipeline
benchmark (one process, 4,000 sessions) the collector took ~0.7 s of the timed
run's 10.6 s of CPU (~0.8 s over the process's life).  So, once the app is
built: collect, move what start-up left alive (modules, pydantic schemas,
faust's services) out of the collector's sight with
:func:`gc.freeze`, and run the young generation less often.  Reference counting
still frees everything not in a cycle at once; only cyclic garbage waits longer.
"""

from __future__ import annotations

import gc


def tune(first_generation_threshold: int) -> None:
    """Freeze what is alive now and set the young generation's threshold
    (``0``: leave Python's collector as it is)."""
    if first_generation_threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(first_generation_threshold, second, third)
