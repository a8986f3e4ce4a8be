"""Programs that run on processes *or* threads, for ``notebooks/10_dummy.ipynb``
and ``tests/test_dummy.py``.

The spec's pool and synchronization programs (16.6.4) take one argument,
``processes`` or ``threads``, and in ``threads`` mode simply use
``multiprocessing.dummy`` under the name ``multiprocessing``.  They live in
``mpref/examples/pool.py`` and ``mpref/examples/synchronize.py`` as functions
of a *namespace* -- ``mpref`` or ``mpref.dummy`` -- so the very same code runs
on both; they are imported here for the chapter.  Run one as a script::

    python -m mpref.examples.pool threads
    python -m mpref.examples.synchronize processes

The GIL measurements of the chapter use ``burn`` (pure-Python computing) and
``wait`` (sleeping, as I/O does).
"""

import time

from mpref.examples.pool import namespace_for, pool_program
from mpref.examples.synchronize import synchronization_program

__all__ = ['pool_program', 'synchronization_program', 'burn', 'wait', 'append_to',
           'namespace_for']


def append_to(items, value):
    """Append ``value`` to ``items``: a thread changes the caller's list, a
    process only its own copy."""
    items.append(value)


# --------------------------------------------------------------------------
# Work for the GIL measurements
# --------------------------------------------------------------------------

def burn(n):
    """Pure-Python computing: the sum of i*i for i < n.  Holds the GIL throughout."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def wait(seconds):
    """Sleep, as a thread waiting for I/O does: the GIL is released meanwhile."""
    time.sleep(seconds)
    return seconds
