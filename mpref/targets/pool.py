"""Functions run by pool workers for ``notebooks/07_pool.ipynb`` and ``tests/test_pool.py``.

They live in an importable module because a spawned worker imports each task's
function by name, and a notebook's ``__main__`` cannot be imported by a new
interpreter.  The first group re-creates the functions of the spec's pool
program (16.6.4) that are this chapter's own; the spec's task functions it
shares with other chapters (``f``, ``pow3``, ``noop``, ``reciprocal``) are in
``mpref/targets/tasks.py``.  The rest make workers fail in each way a pool must
survive.  Workers never print: they return what they have to say.
"""

import os
import random
import signal
import sys
import threading
import time

import mpref

# -- the spec's pool program (16.6.4) -------------------------------------------


def calculate(func, args):
    """Say which worker computed ``func(*args)`` and what it got."""
    result = func(*args)
    return '%s says that %s%s = %s' % (mpref.current_process().name, func.__name__, args, result)


def calculatestar(args):
    return calculate(*args)


def mul(a, b):
    """The spec's ``mul`` with the spec's own sleep (``tasks.mul`` sleeps a tenth of it)."""
    time.sleep(0.5 * random.random())
    return a * b


def plus(a, b):
    """As ``mul``, for ``a + b``."""
    time.sleep(0.5 * random.random())
    return a + b


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


def spin(steps):
    """CPU-bound work: a pure-Python loop of ``steps`` steps (it holds the GIL
    all along, so only processes can run two of them at once); returns a checksum."""
    total = 0
    for i in range(steps):
        total = (total + i * i) % 1000003
    return total


# -- ways to fail ---------------------------------------------------------------

def fail_at(x, bad=5):
    """Return ``x``, but raise ``ValueError`` when ``x == bad``."""
    if x == bad:
        raise ValueError('item %r is bad' % (x,))
    return x


def _helper_that_fails(x):
    raise ValueError('task failed on %s' % (x,))


def fail_in_helper(x):
    """Fail one call deeper than the task, so the worker's traceback shows both."""
    return _helper_that_fails(x)


def kill_self(sig=signal.SIGKILL):
    """Kill the worker running this task with signal ``sig``."""
    os.kill(os.getpid(), sig)
    time.sleep(10)


def exit_mid_task(code=3):
    """Leave the worker at once with ``os._exit(code)`` (no cleanup, no result)."""
    os._exit(code)


def die_at(x, bad=5, code=7):
    """Return ``x``, but leave the worker with ``os._exit(code)`` when ``x == bad``."""
    if x == bad:
        os._exit(code)
    return x


def die_at_five(x):
    """Return ``x``; at 5, leave the worker with exit code 5."""
    return die_at(x, 5, 5)


def write_pid_then_sleep(path, seconds):
    """Write this worker's pid to ``path`` (atomically), then sleep ``seconds``."""
    with open(path + '.tmp', 'w') as f:
        f.write(str(os.getpid()))
    os.replace(path + '.tmp', path)
    time.sleep(seconds)


def exit_with(code=7):
    """Raise ``SystemExit(code)`` in the worker (not caught as a task failure)."""
    raise SystemExit(code)


def exhaust_memory():
    """Ask for more memory than any machine has: ``MemoryError`` at once.

    An ordinary task failure; a real out-of-memory kill is a SIGKILL
    (``kill_self``), which the pool reports as a lost worker.
    """
    return bytearray(1 << 60)


def unpicklable_result(_=None):
    """Return something pickle refuses (a lock)."""
    return threading.Lock()


def worker_pid(_=None):
    return os.getpid()


def identity(x):
    return x


class Counted:
    """Counts its instances alive in this process, copies made by pickle
    included (CPython's ``CountedObject``): what a pool keeps alive shows."""

    alive = 0

    def __new__(cls):
        cls.alive += 1
        return super().__new__(cls)

    def __del__(self):
        type(self).alive -= 1


def counted_alive(_=None):
    """How many ``Counted`` objects are alive in this worker."""
    return Counted.alive


# -- initializers ----------------------------------------------------------------

_initialized_with = None


def remember(*args):
    """An initializer: remember its arguments (a tuple) in this worker."""
    global _initialized_with
    _initialized_with = args


def remembered(_=None):
    """What ``remember`` stored in this worker."""
    return _initialized_with


def failing_initializer():
    raise RuntimeError('the initializer failed')


def fork_then_die(seconds=30):
    """Fork a bare grandchild that sleeps ``seconds`` (holding copies of this
    worker's pipes and sentinel), then kill this worker with SIGKILL."""
    if os.fork() == 0:
        time.sleep(seconds)
        os._exit(0)
    os.kill(os.getpid(), signal.SIGKILL)


def fork_and_return(x):
    """Fork with a bare ``os.fork`` and return ``x`` in *both* processes: the
    copy returns into the worker's loop, as if it were the worker."""
    os.fork()
    return x


def close_stdout_fork_and_return(x):
    """``fork_and_return`` in a worker whose ``sys.stdout`` is closed: the
    copy's flush before it leaves fails, and it must leave all the same."""
    sys.stdout = open(os.devnull, 'w')
    sys.stdout.close()
    return fork_and_return(x)


def ignore_sigterm_then_sleep(path, seconds):
    """Ignore SIGTERM, write this worker's pid to ``path``, sleep ``seconds``:
    a task that ``terminate()`` cannot stop with SIGTERM."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(path, 'w') as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)

