"""Benchmark: locks and conditions, mpref vs the stdlib vs ``threading``.

Run with ``python -m mpref.benchmarks synchronize [--size large]``.
Chapter: ``notebooks/03_synchronization.ipynb``.

Two measurements, each made for all three implementations in the same run:

* **uncontended acquire+release** of a ``Lock``, ``RLock`` and ``Semaphore``
  by one thread, and ``with lock:`` -- the pure cost of the calls, since
  nobody ever waits; once more for a ``Lock`` from a second thread, where
  no signal handler can run, so mpref's ``acquire`` takes its plain way (no
  note of the C call's outcome, no ``check_signals``): the difference
  between the two rows is what being safe from signals costs;
* **Condition round trips** between two parties (two processes for mpref
  and the stdlib, two threads for ``threading``): each waits for its turn,
  flips a shared turn flag and notifies the other.  The flag lives in a
  shared anonymous ``mmap`` that the forked child inherits, so the benchmark
  needs nothing but this module's subject.

Rows carry ``mpref``, ``stdlib`` and ``threading`` rates (operations per
second), the acquire+release rows also ``floor``: ``sem_wait`` + ``sem_post``
through bare ``ctypes`` calls (``floor.semaphore_pairs_rate``), measured in
the same thread as the row; ``benchmarks.format_rows`` prints the
mpref/stdlib and mpref/floor ratios.
"""

import mmap
import threading
import time

import mpref
from mpref.benchmarks import floor
from mpref.benchmarks.yardstick import median_rate, stdlib_multiprocessing

SIZES = {'tiny': {'calls': 2000, 'rounds': 50},
         'small': {'calls': 100000, 'rounds': 500},
         'large': {'calls': 500000, 'rounds': 5000}}


def acquire_release_rate(lock, calls):
    """Median rate (of 3, with its spread) of uncontended ``lock.acquire(); lock.release()`` pairs.

    Written as programs write it (the spec's examples too): the methods are
    looked up on each call, not bound to locals first.
    """
    def once():
        t0 = time.perf_counter()
        for _ in range(calls):
            lock.acquire()
            lock.release()
        return calls, time.perf_counter() - t0
    return median_rate(once)


def with_rate(lock, calls):
    """Median rate (of 3, with its spread) of uncontended ``with lock: pass``."""
    def once():
        t0 = time.perf_counter()
        for _ in range(calls):
            with lock:
                pass
        return calls, time.perf_counter() - t0
    return median_rate(once)


def in_a_thread(measure, *args):
    """Run ``measure(*args)`` in a second thread and return its result."""
    result = []
    thread = threading.Thread(target=lambda: result.append(measure(*args)))
    thread.start()
    thread.join()
    return result[0]


def play(cond, turn, me, rounds):
    """One party of the ping-pong: ``rounds`` times wait for turn ``me``, pass it on."""
    with cond:
        for _ in range(rounds):
            while turn[0] != me:
                if not cond.wait(10):
                    raise RuntimeError('condition round trip stalled')
            turn[0] = 1 - me
            cond.notify()


def condition_round_trip_rate(cond, start_other, rounds):
    """Round trips per second between this party (0) and another (1).

    ``start_other(target, args)`` starts the other party and returns an
    object with ``join(timeout)``.
    """
    def once():
        turn = mmap.mmap(-1, 1)          # shared with a forked child, zeroed
        try:
            other = start_other(play, (cond, turn, 1, rounds))
            t0 = time.perf_counter()
            play(cond, turn, 0, rounds)
            seconds = time.perf_counter() - t0
            other.join(30)
        finally:
            turn.close()
        return rounds, seconds
    return median_rate(once)


def _starter(context):
    def start(target, args):
        p = context.Process(target=target, args=args)
        p.start()
        return p
    return start


def _start_thread(target, args):
    t = threading.Thread(target=target, args=args)
    t.start()
    return t


def run(size='small'):
    """Rates for acquire+release, ``with lock:`` and Condition round trips."""
    calls, rounds = SIZES[size]['calls'], SIZES[size]['rounds']
    stdlib = stdlib_multiprocessing()
    rows = []
    # The floor of a lock made of ctypes calls, in the main thread and in a
    # second one: the rows' mpref/floor ratio is the fraction of it reached.
    floor_main = floor.semaphore_pairs_rate(calls)
    floor_thread = in_a_thread(floor.semaphore_pairs_rate, calls)
    for kind in ('Lock', 'RLock', 'Semaphore'):
        rows.append({
            'name': '%s acquire+release' % kind,
            'mpref': acquire_release_rate(getattr(mpref, kind)(), calls),
            'stdlib': acquire_release_rate(getattr(stdlib, kind)(), calls),
            'threading': acquire_release_rate(getattr(threading, kind)(), calls),
            'floor': floor_main,
            'unit': 'pairs/s',
        })
    rows.append({
        'name': 'Lock acquire+release, 2nd thread',
        'mpref': in_a_thread(acquire_release_rate, mpref.Lock(), calls),
        'stdlib': in_a_thread(acquire_release_rate, stdlib.Lock(), calls),
        'threading': in_a_thread(acquire_release_rate, threading.Lock(), calls),
        'floor': floor_thread,
        'unit': 'pairs/s',
    })
    rows.append({
        'name': 'with Lock',
        'mpref': with_rate(mpref.Lock(), calls),
        'stdlib': with_rate(stdlib.Lock(), calls),
        'threading': with_rate(threading.Lock(), calls),
        'unit': 'blocks/s',
    })
    stdlib_fork = stdlib.get_context('fork')
    rows.append({
        'name': 'Condition round trip',
        'mpref': condition_round_trip_rate(mpref.Condition(), _starter(mpref.get_context('fork')), rounds),
        'stdlib': condition_round_trip_rate(stdlib_fork.Condition(), _starter(stdlib_fork), rounds),
        'threading': condition_round_trip_rate(threading.Condition(), _start_thread, rounds),
        'unit': 'round trips/s',
    })
    return rows
