"""Benchmark: ``Pool.map``, ``imap`` and ``apply_async`` against the stdlib's pool.

Run with ``python -m mpref.benchmarks pool [--size large]``.
Chapter: ``notebooks/07_pool.ipynb``.

The timings of the spec's pool program (16.6.4) re-created, with a pool of 4
workers (as the program makes) started by fork, mpref's and the stdlib's
measured in the same run:

* ``map(pow3, range(N))`` and ``list(imap(pow3, range(N), chunksize=N//8))``;
* ``map(noop, [None] * M)`` and ``list(imap(noop, L, chunksize=M//8))``;
* ``apply_async(noop, (None,)).get()`` one after another: the round trip of
  one task through an idle pool (submit, dispatch, run, result, wake up).

Every figure is a rate (higher is better) and the median of ``REPEAT`` runs (with its spread),
mpref's and the stdlib's taken in turn so that a noisy machine disturbs both
alike.  The large size is the spec's (N = 100000, M = 1000000).
"""

import time

import mpref
from mpref.benchmarks.yardstick import Rate, stdlib_multiprocessing
from mpref.targets.tasks import noop, pow3

#: size -> (N for pow3, M for noop, apply_async round trips)
SIZES = {'tiny': (2000, 4000, 50), 'small': (100000, 200000, 500), 'large': (100000, 1000000, 5000)}
PROCESSES = 4
REPEAT = 5


def _cases(n, m, trips):
    """(row name, unit, function(pool) -> number of items done)."""
    numbers = range(n)
    nones = [None] * m

    def map_pow3(pool):
        pool.map(pow3, numbers)
        return n

    def imap_pow3(pool):
        list(pool.imap(pow3, numbers, chunksize=n // 8))
        return n

    def map_noop(pool):
        pool.map(noop, nones)
        return m

    def imap_noop(pool):
        list(pool.imap(noop, nones, chunksize=m // 8))
        return m

    def apply_async_round_trip(pool):
        for _ in range(trips):
            pool.apply_async(noop, (None,)).get()
        return trips

    return [
        ('map(pow3, range(%d))' % n, 'items/s', map_pow3),
        ('imap(pow3, range(%d), chunksize=%d)' % (n, n // 8), 'items/s', imap_pow3),
        ('map(noop, [None]*%d)' % m, 'items/s', map_noop),
        ('imap(noop, [None]*%d, chunksize=%d)' % (m, m // 8), 'items/s', imap_noop),
        ('apply_async(noop).get() round trip', 'round trips/s', apply_async_round_trip),
    ]


def _rate(pool, case):
    t0 = time.perf_counter()
    count = case(pool)
    return count / (time.perf_counter() - t0)


def run(size='small'):
    """One row per case: items (or round trips) per second, mpref vs the stdlib."""
    n, m, trips = SIZES[size]
    cases = _cases(n, m, trips)
    pools = [mpref.get_context('fork').Pool(PROCESSES),
             stdlib_multiprocessing().get_context('fork').Pool(PROCESSES)]
    rates = [[[], []] for _ in cases]
    try:
        for pool in pools:
            pool.map(noop, range(100), chunksize=1)        # every worker up and running
        for _ in range(REPEAT):
            for row, (_name, _unit, case) in enumerate(cases):
                for i, pool in enumerate(pools):
                    rates[row][i].append(_rate(pool, case))
    finally:
        for pool in pools:
            pool.terminate()
            pool.join()
    return [{'name': name, 'mpref': Rate.of(ours), 'stdlib': Rate.of(theirs), 'unit': unit}
            for (name, unit, _case), (ours, theirs) in zip(cases, rates)]
