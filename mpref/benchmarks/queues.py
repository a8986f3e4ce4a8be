"""Benchmark: objects/second through a ``Queue`` between two processes.

Run with ``python -m mpref.benchmarks queues [--size large]``.
Chapter: ``notebooks/04_queues.ipynb``.

The spec's ``test_queuespeed`` (16.6.4, benchmarks) re-created: a producer
puts 256-character strings, the consumer gets them until ``'STOP'``.  Measured
in the same run:

* ``mpref.Queue`` -- a forked producer process, the parent consumes;
* the stdlib's ``multiprocessing.Queue`` -- the same program;
* ``queue.Queue`` between two *threads* of one process (``threading``): no
  pipe, no pickling, no semaphores -- what a queue costs when nothing crosses
  a process boundary;
* the floor: the same strings pickled and framed through a bare ``os.pipe``
  to a forked reader (``floor.pipe_objects_rate``).

The producer first puts ``'START'``; the clock runs from its arrival to the
arrival of ``'STOP'``, so starting the process is not counted.  Each figure
is the median of five runs (with its spread, min-max), mpref's and
the stdlib's taken in turn so that a noisy machine disturbs both alike.
"""

import queue
import threading
import time

import mpref
from mpref.benchmarks import floor
from mpref.benchmarks.yardstick import Rate, stdlib_multiprocessing

#: size -> number of objects per run
SIZES = {'tiny': 1000, 'small': 20000, 'large': 200000}
OBJECT = '0' * 256
REPEAT = 5


def producer(q, count):
    """Put ``'START'``, ``count`` 256-character strings, then ``'STOP'``."""
    q.put('START')
    for _ in range(count):
        q.put(OBJECT)
    q.put('STOP')


def _consume(q):
    """Get until ``'STOP'``; return the seconds from ``'START'`` to ``'STOP'``."""
    assert q.get() == 'START'
    t0 = time.perf_counter()
    while q.get() != 'STOP':
        pass
    return time.perf_counter() - t0


def _one_run(context, q, count):
    p = context.Process(target=producer, args=(q, count))
    p.start()
    try:
        return count / _consume(q)
    finally:
        p.join(30)
        if p.is_alive():
            p.terminate()
            p.join(5)


def _between_processes(contexts, count):
    """Median rate for each context; their runs alternate, so noise hits both."""
    queues = [context.Queue() for context in contexts]
    rates = [[] for _ in contexts]
    for _ in range(REPEAT):
        for i, (context, q) in enumerate(zip(contexts, queues)):
            rates[i].append(_one_run(context, q, count))
    for q in queues:
        q.close()
        q.join_thread()
    return [Rate.of(each) for each in rates]


def _between_threads(count):
    rates = []
    q = queue.Queue()
    for _ in range(REPEAT):
        t = threading.Thread(target=producer, args=(q, count))
        t.start()
        seconds = _consume(q)
        t.join()
        rates.append(count / seconds)
    return Rate.of(rates)


def run(size='small'):
    """One row: objects/s for mpref's Queue, the stdlib's, queue.Queue
    between threads (``threading``) and the bare-pipe floor."""
    count = SIZES[size]
    ours, theirs = _between_processes(
        [mpref.get_context('fork'), stdlib_multiprocessing().get_context('fork')], count)
    threads = _between_threads(count)
    return [
        {'name': 'Queue put/get 256-byte str', 'mpref': ours, 'stdlib': theirs,
         'threading': threads, 'floor': floor.pipe_objects_rate(count, OBJECT),
         'unit': 'objects/s'},
    ]
