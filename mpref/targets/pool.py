"""Functions run by pool workers for ``notebooks/07_pool.ipynb`` and ``tests/test_pool.py``.

They live in an importable module because a spawned worker imports each task's
function by name, and a notebook's ``__main__`` cannot be imported by a new
interpreter.  The first group re-creates the functions of the spec's pool
program (16.6.4); the rest make workers fail in each way a pool must survive.
Workers never print: they return what they have to say.
"""

import os
import random
import signal
import threading
import time

import mpref

# -- the spec's examples (16.6.1.5, 16.6.2.9, 16.6.4) ---------------------------


def f(x):
    """The spec's first pool example: ``x*x``."""
    return x * x


def calculate(func, args):
    """Say which worker computed ``func(*args)`` and what it got."""
    result = func(*args)
    return '%s says that %s%s = %s' % (mpref.current_process().name, func.__name__, args, result)


def calculatestar(args):
    return calculate(*args)


def mul(a, b):
    time.sleep(0.5 * random.random())
    return a * b


def plus(a, b):
    time.sleep(0.5 * random.random())
    return a + b


def reciprocal_of_x_minus_5(x):
    """The spec's ``f`` of the error-handling test: ``ZeroDivisionError`` at 5."""
    return 1.0 / (x - 5.0)


def pow3(x):
    return x ** 3


def noop(x):
    pass


# -- which worker, when ---------------------------------------------------------


def worker_name(_=None):
    """The name of the worker running this task (``PoolWorker-N``)."""
    return mpref.current_process().name


def timed_task(x, seconds=0.05):
    """Sleep ``seconds``; return ``(x, worker name, start, end)`` (``time.time()``)."""
    start = time.time()
    time.sleep(seconds)
    return x, mpref.current_process().name, start, time.time()


def sleep_and_return(seconds, value=None):
    time.sleep(seconds)
    return value


# -- ways to fail ---------------------------------------------------------------


def fail_at(x, bad=5):
    """Return ``x``, but raise ``ValueError`` when ``x == bad``."""
    if x == bad:
        raise ValueError('item %r is bad' % (x,))
    return x


def die_by_signal(sig=signal.SIGKILL):
    """Kill the worker running this task with signal ``sig``."""
    os.kill(os.getpid(), sig)
    time.sleep(10)


def die_at(x, bad=5, code=3):
    """Return ``x``, but leave the worker with ``os._exit(code)`` when ``x == bad``."""
    if x == bad:
        os._exit(code)
    return x


def exit_with(code=7):
    """Raise ``SystemExit(code)`` in the worker (not caught as a task failure)."""
    raise SystemExit(code)


def allocate_until_killed(limit_bytes=64 * 1024 * 1024):
    """Lower this worker's address-space limit, then allocate beyond it.

    Models running out of memory without hurting the machine: the worker
    gets ``MemoryError``, which is an ordinary task failure; a real OOM kill
    is a SIGKILL (``die_by_signal``).
    """
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    return bytearray(limit_bytes * 2)


def unpicklable_result(_=None):
    """Return something pickle refuses (a lock)."""
    return threading.Lock()


class NeedsTwoArguments(Exception):
    """An exception that pickles but cannot be unpickled (``__init__`` wants two)."""

    def __init__(self, a, b):
        super().__init__('%s/%s' % (a, b))


def raise_unpicklable_exception(_=None):
    raise NeedsTwoArguments(1, 2)


def get_pid(_=None):
    return os.getpid()


# -- initializers ----------------------------------------------------------------

_initialized_with = None


def remember(value):
    """An initializer: remember ``value`` in this worker."""
    global _initialized_with
    _initialized_with = value


def remembered(_=None):
    """What ``remember`` stored in this worker."""
    return _initialized_with


def failing_initializer():
    raise RuntimeError('the initializer failed')
