"""What the children of chapter 11 run: the programming guidelines (spec 16.6.3).

Chapter: ``notebooks/11_programming_guidelines.ipynb``; its checks:
``tests/test_guidelines.py``.  Each guideline is shown twice, "what goes
wrong" and "the fix", so most functions here come in pairs.  Children never
print (a spawned child's output does not reach a notebook cell): they report
through a ``Connection`` or a shared object, and the parent prints.  The
spec's task functions the chapter also runs (``put_item``, ``put_big``) are in
``mpref/targets/tasks.py``.
"""

import ctypes
import os
import threading
import time

from mpref.framing import Pipe
from mpref.process import Process
from mpref.sharedctypes import Value
from mpref.synchronize import Event

#: How long a child waits for an event from its parent before giving up, so
#: that no child outlives a chapter that stopped half-way.
PATIENCE = 60


# -- avoid shared state (16.6.3.1) -------------------------------------------

def hold_lock(lock, held, release):
    """Acquire ``lock``, set the event ``held``, keep the lock until ``release`` is set."""
    with lock:
        held.set()
        release.wait(PATIENCE)


def sum_of(numbers, conn):
    """Send back the sum of ``numbers`` (a list that travelled to the child)."""
    conn.send(sum(numbers))


def sum_of_range(start, stop, conn):
    """Send back the sum of ``range(start, stop)`` (only two numbers travelled)."""
    conn.send(sum(range(start, stop)))


# -- avoid terminating processes (16.6.3.1) ----------------------------------

def hold_lock_and_sleep(lock, held):
    """Acquire ``lock``, set ``held`` and sleep with it: a victim for ``terminate()``."""
    lock.acquire()
    held.set()
    time.sleep(PATIENCE)


def put_then_sleep(queue, item):
    """Put ``item`` and sleep while the feeder thread writes it: a victim for ``terminate()``."""
    queue.put(item)
    time.sleep(PATIENCE)


def get_and_report(queue, conn, timeout):
    """Get one item (at most ``timeout`` seconds of waiting) and send back its length or 'Empty'."""
    try:
        item = queue.get(timeout=timeout)
    except Exception as exc:
        conn.send(type(exc).__name__)
    else:
        conn.send(len(item))


def count_until_stopped(lock, counter, queue, stop):
    """Work in steps under ``lock`` until ``stop`` is set; then put a last report and return.

    The cooperative alternative to ``terminate()``: the worker leaves between
    steps, holding nothing.
    """
    while not stop.is_set():
        with lock:
            counter.value += 1
        stop.wait(0.01)
    queue.put('stopped between two steps')


# -- joining processes that use queues (16.6.3.1) ----------------------------

def put_large_and_cancel(queue, size):
    """Put ``size`` characters, but do not wait for the feeder at exit (data may be lost)."""
    queue.cancel_join_thread()
    queue.put('X' * size)


# -- explicitly pass resources to child processes (16.6.3.1) -----------------

#: A resource the parent sets before starting a child: the "global resource"
#: the guideline advises against.
SHARED = None


def write_to_global(value, go, conn):
    """Wait for ``go``, then store ``value`` in the global ``SHARED``; report how it went."""
    go.wait(PATIENCE)
    try:
        SHARED.value = value
    except Exception as exc:
        conn.send('%s: the global is %r' % (type(exc).__name__, SHARED))
    else:
        conn.send('wrote %r' % value)


def write_to(shared, value, go, conn):
    """Wait for ``go``, then store ``value`` in ``shared`` (passed as an argument)."""
    go.wait(PATIENCE)
    shared.value = value
    conn.send('wrote %r' % value)


def add_to(shared, amount):
    """Add ``amount`` to a synchronized shared ``Value``."""
    with shared.get_lock():
        shared.value += amount


def through_a_global(conn):
    """A parent that gives its child a shared ``Value`` through a global, then lets go of it.

    Run in a process of its own (a fresh heap, so the outcome is the same
    every time).  Sends back whether the next ``Value`` took the old one's
    memory and what that new ``Value`` holds after the child wrote.
    """
    global SHARED
    go, (report, report_end) = Event(), Pipe(duplex=False)
    SHARED = Value('i', 0, lock=False)
    old_address = ctypes.addressof(SHARED)
    child = Process(target=write_to_global, args=(111, go, report_end))
    child.start()
    SHARED = None                               # the job is handed over ...
    other = Value('i', 0, lock=False)           # ... and the parent needs a Value for something else
    go.set()
    report.recv()
    child.join(PATIENCE)
    conn.send((ctypes.addressof(other) == old_address, other.value))


def as_an_argument(conn):
    """The same parent, passing the ``Value`` to its child as an argument; reports the same."""
    go, (report, report_end) = Event(), Pipe(duplex=False)
    shared = Value('i', 0, lock=False)
    old_address = ctypes.addressof(shared)
    child = Process(target=write_to, args=(shared, 111, go, report_end))
    child.start()
    shared = None                               # the parent lets go, as before
    other = Value('i', 0, lock=False)
    go.set()
    report.recv()
    child.join(PATIENCE)
    conn.send((ctypes.addressof(other) == old_address, other.value))


# -- beware replacing sys.stdin with a file-like object (16.6.3.1) -----------

class CachingWriter:
    """A file-like object that keeps what is written and writes it to ``path`` on ``flush``/``close``.

    Set as ``sys.stdin`` in a parent, it is copied into every forked child,
    cache and all; each child's start-up closes its stdin (spec 16.6.3.1), so
    each child flushes the parent's cached text to the file again.
    """

    def __init__(self, path):
        self.path = path
        self._cache = []

    @property
    def cache(self):
        return self._cache

    def write(self, text):
        self.cache.append(text)

    def read(self, size=-1):
        return ''

    def flush(self):
        if self.cache:
            with open(self.path, 'a') as f:
                f.write(''.join(self.cache))
            self.cache.clear()

    def close(self):
        self.flush()


class ForkSafeCachingWriter(CachingWriter):
    """The spec's fix: the cache belongs to the process that filled it.

    The cache remembers the pid that filled it; a process with another pid
    (a forked child) starts from an empty cache, so it cannot flush its
    parent's text.
    """

    def __init__(self, path):
        super().__init__(path)
        self._pid = os.getpid()

    @property
    def cache(self):
        pid = os.getpid()
        if pid != self._pid:
            self._pid = pid
            self._cache = []
        return self._cache


# -- the Windows guidelines, under spawn (16.6.3.2) --------------------------

class Greeter:
    """A picklable object: a bound method of it can be a spawned child's target."""

    def __init__(self, greeting):
        self.greeting = greeting

    def greet(self, name, conn):
        conn.send('%s %s' % (self.greeting, name))


class GuardedGreeter(Greeter):
    """An object that holds a ``threading.Lock``, which cannot be pickled."""

    def __init__(self, greeting):
        super().__init__(greeting)
        self.lock = threading.Lock()

    def greet(self, name, conn):
        with self.lock:
            super().greet(name, conn)


def greet(greeting, name, conn):
    """The fix for a bound method: a plain function given the data it needs."""
    conn.send('%s %s' % (greeting, name))


class LockingProcess(Process):
    """A ``Process`` subclass whose ``__init__`` makes a ``threading.Lock``: unpicklable."""

    def __init__(self, conn):
        super().__init__()
        self.conn = conn
        self.lock = threading.Lock()

    def run(self):
        with self.lock:
            self.conn.send('ran in %s' % type(self).__name__)


class LazyLockingProcess(Process):
    """The fix: the unpicklable part is made in ``run()``, in the child."""

    def __init__(self, conn):
        super().__init__()
        self.conn = conn

    def run(self):
        self.lock = threading.Lock()
        with self.lock:
            self.conn.send('ran in %s' % type(self).__name__)


#: A module-level variable the parent changes with ``set_setting``.
SETTING = 'as imported'

#: A module-level constant: the same in every process.
ANSWER = 42


def set_setting(value):
    """Change ``SETTING`` in the calling process."""
    global SETTING
    SETTING = value


def report_globals(conn):
    """Send back ``(SETTING, ANSWER)`` as this process sees them."""
    conn.send((SETTING, ANSWER))
