"""Benchmark: item reads per second from shared arrays, with and without the lock.

Run with ``python -m mpref.benchmarks sharedctypes [--size large]``.
Chapter: ``notebooks/05_shared_ctypes.ipynb``.

* ``Array('i', n, lock=False)`` is a bare ctypes array over shared memory, in
  mpref as in the stdlib: reading an item is ctypes' own C code, so the two
  should run at the same speed (the target: mpref >= 0.9x).
* ``Array('i', n)`` (``lock=True``) returns a synchronized wrapper, which takes
  and releases an ``RLock`` around every read -- the spec's "can be a lot
  slower".  mpref's wrapper is slower still than the stdlib's: the stdlib's
  lock is C code (``_multiprocessing.SemLock``), while mpref's ``RLock`` is
  Python that calls ``sem_wait``/``sem_post`` through ``ctypes``
  (``semlock.SemLock.acquire``) and keeps its owner/count bookkeeping in
  Python.
* Threads need no shared memory: their ``threading`` figure is a plain
  ``list`` read.
* A plain ``list`` (not shared at all) is the baseline, not a comparison:
  it is measured once, and its row has no stdlib figure (``stdlib`` is None).
"""

import time

import mpref
from mpref.benchmarks.yardstick import median_rate, stdlib_multiprocessing

#: How many items each pass reads: (unlocked, locked).  Locked reads cost
#: microseconds each, so they get fewer.
SIZES = {'tiny': (5_000, 1_000), 'small': (100_000, 10_000), 'large': (2_000_000, 200_000)}


def _reads_per_second(sequence, count):
    def once():
        t0 = time.perf_counter()
        for i in range(count):
            sequence[i]
        return count, time.perf_counter() - t0
    return median_rate(once)


def run(size='small'):
    """Item reads per second: mpref vs stdlib, unlocked and locked; then a
    plain list as the baseline (its row's ``stdlib`` is None)."""
    unlocked_n, locked_n = SIZES[size]
    stdlib = stdlib_multiprocessing()
    plain = list(range(unlocked_n))
    plain_rate = _reads_per_second(plain, unlocked_n)
    rows = [
        {'name': "Array('i', lock=False)[i]",
         'threading': plain_rate,
         'mpref': _reads_per_second(mpref.Array('i', unlocked_n, lock=False), unlocked_n),
         'stdlib': _reads_per_second(stdlib.Array('i', unlocked_n, lock=False), unlocked_n),
         'unit': 'reads/s'},
        {'name': "Array('i', lock=True)[i]",
         'threading': plain_rate,
         'mpref': _reads_per_second(mpref.Array('i', locked_n), locked_n),
         'stdlib': _reads_per_second(stdlib.Array('i', locked_n), locked_n),
         'unit': 'reads/s'},
    ]
    rows.append({'name': 'baseline: list[i] (not shared)',
                 'mpref': plain_rate,
                 'stdlib': None,
                 'unit': 'reads/s'})
    return rows
