"""Benchmark: proxy round trips per second through a manager's server process.

Run with ``python -m mpref.benchmarks managers [--size large]``.
Chapter: ``notebooks/06_managers_and_proxies.ipynb``.

Every proxy call is one message to the manager's server process and one
reply (``docs/managers.md``), so the figure that matters is round trips per
second.  Four rows, each measured on ``mpref.Manager()`` and on the stdlib's
``multiprocessing.Manager()`` in the same run (both servers started with
fork):

* ``list`` item reads -- ``l[0]``: one round trip each;
* ``dict`` set/get -- ``d[key] = i`` then ``d[key]``: two round trips per pair;
* ``Queue`` put/get between two processes -- a forked child puts, the parent
  gets: objects per second through the manager's ``queue.Queue``;
* ``Lock`` acquire/release -- two round trips per pair.

Each row's ``threading`` figure is the same program on the plain objects
two threads of one process would share (``list``, ``dict``, ``queue.Queue``
with a producer thread, ``threading.Lock``): what the round trips cost.

Each figure is the median of ``REPEAT`` runs (with its spread), mpref's and the stdlib's taken in
turn, so a noisy machine disturbs both alike.
"""

import queue
import threading
import time
import types

import mpref
from mpref.benchmarks.yardstick import Rate, stdlib_multiprocessing

#: size -> number of operations per run
SIZES = {'tiny': 300, 'small': 5000, 'large': 50000}
REPEAT = 5


def _list_reads(manager, count):
    shared = manager.list(range(10))
    t0 = time.perf_counter()
    for _ in range(count):
        shared[0]
    return count, time.perf_counter() - t0


def _dict_set_get(manager, count):
    shared = manager.dict()
    t0 = time.perf_counter()
    for i in range(count):
        shared['key'] = i
        shared['key']
    return count, time.perf_counter() - t0


def _lock_acquire_release(manager, count):
    lock = manager.Lock()
    t0 = time.perf_counter()
    for _ in range(count):
        lock.acquire()
        lock.release()
    return count, time.perf_counter() - t0


def producer(q, count):
    """Put ``'START'``, ``count`` small integers, then ``'STOP'`` (runs in a child)."""
    q.put('START')
    for i in range(count):
        q.put(i)
    q.put('STOP')


def _queue_between_processes(manager, count, context):
    q = manager.Queue()
    p = context.Process(target=producer, args=(q, count))
    p.start()
    try:
        assert q.get() == 'START'
        t0 = time.perf_counter()
        while q.get() != 'STOP':
            pass
        return count, time.perf_counter() - t0
    finally:
        p.join(60)


#: What threads share instead of a manager: the plain objects themselves.
PLAIN_OBJECTS = types.SimpleNamespace(list=list, dict=dict, Queue=queue.Queue,
                                      Lock=threading.Lock)
#: ... and a thread where a process would start.
THREADS = types.SimpleNamespace(Process=threading.Thread)


#: (row name, unit, function(manager, count, context) -> (count, seconds))
CASES = [
    ('manager.list item read', 'round trips/s',
     lambda manager, count, context: _list_reads(manager, count)),
    ('manager.dict set+get', 'pairs/s',
     lambda manager, count, context: _dict_set_get(manager, count)),
    ('manager.Queue put/get, 2 processes', 'objects/s', _queue_between_processes),
    ('manager.Lock acquire+release', 'pairs/s',
     lambda manager, count, context: _lock_acquire_release(manager, count)),
]


def run(size='small'):
    """One row per case: mpref's rate, the stdlib's and the plain objects'
    between threads (``threading``), measured alternately."""
    count = SIZES[size]
    contexts = [mpref.get_context('fork'), stdlib_multiprocessing().get_context('fork')]
    managers = [context.Manager() for context in contexts]
    try:
        rows = []
        for name, unit, case in CASES:
            rates = [[], [], []]
            for _ in range(REPEAT):
                for i, (manager, context) in enumerate(zip(managers + [PLAIN_OBJECTS],
                                                           contexts + [THREADS])):
                    done, seconds = case(manager, count, context)
                    rates[i].append(done / seconds)
            ours, theirs, threads = map(Rate.of, rates)
            rows.append({'name': name, 'mpref': ours, 'stdlib': theirs,
                         'threading': threads, 'unit': unit})
        return rows
    finally:
        for manager in managers:
            manager.shutdown()
