"""Benchmark: the cost of starting and joining a process, fork vs spawn.

Run with ``python -m mpref.benchmarks process``.
Chapter: ``notebooks/01_process.ipynb``.

Each row also has ``threading`` (starting and joining a ``threading.Thread``
instead) and the fork row a ``floor``: ``os.fork`` + ``os._exit`` +
``os.waitpid`` with nothing around them (``floor.fork_waitpid_rate``).
"""

import threading
import time

import mpref
from mpref.targets import process as targets
from mpref.benchmarks import floor
from mpref.benchmarks.yardstick import median_rate, stdlib_multiprocessing

SIZES = {'tiny': 4, 'small': 20, 'large': 200}


def _starts_per_second(context, count):
    def once():
        t0 = time.perf_counter()
        for _ in range(count):
            p = context.Process(target=targets.nothing)
            p.start()
            p.join()
        return count, time.perf_counter() - t0
    return median_rate(once)


def _threads_per_second(count):
    def once():
        t0 = time.perf_counter()
        for _ in range(count):
            t = threading.Thread(target=targets.nothing)
            t.start()
            t.join()
        return count, time.perf_counter() - t0
    return median_rate(once)


def run(size='small'):
    """Processes started and joined per second, for each start method."""
    count = SIZES[size]
    stdlib = stdlib_multiprocessing()
    rows = []
    for method in ('fork', 'spawn'):
        n = count if method == 'fork' else max(4, count // 4)
        rows.append({
            'name': 'start+join a process (%s)' % method,
            'mpref': _starts_per_second(mpref.get_context(method), n),
            'stdlib': _starts_per_second(stdlib.get_context(method), n),
            'threading': _threads_per_second(n),
            'unit': 'processes/s',
        })
        if method == 'fork':
            rows[-1]['floor'] = floor.fork_waitpid_rate(n)
    return rows
