"""``mpref.dummy``: the API of ``mpref``, over threads (spec 16.6.2.13).

Chapter: ``notebooks/10_dummy.ipynb``.

The spec says it in one line: ``multiprocessing.dummy`` replicates the API of
``multiprocessing`` but is no more than a wrapper around ``threading``.  So a
program written against ``mpref`` runs on threads by changing one import --
the spec's pool and synchronization programs do exactly that in their
``threads`` mode::

    import mpref.dummy as mpref       # the rest of the program is unchanged

=======================  ===========================================================
``Process``              a ``threading.Thread`` with an ``exitcode`` (``dummy/process.py``)
``current_process``      ``threading.current_thread`` (the main one is ``MainThread``)
``Lock`` ... ``Event``   ``threading``'s primitives, with the spec's ``acquire(block, timeout)``
``Queue``                ``queue.Queue``, plus the spec's ``close``/``join_thread``
``Pipe``                 two in-process channels (``dummy/connection.py``)
``Value``, ``Array``     ctypes objects in ordinary memory, behind a thread lock
``Manager()``            an object whose methods make those same thread objects
``Pool``                 worker threads (``dummy/pool.py``)
=======================  ===========================================================

Nothing is pickled and nothing is copied: every thread sees the same
objects.  What threads cannot give is parallel *computing* in Python code --
the GIL runs one thread's bytecode at a time -- which is why
``multiprocessing`` exists; chapter 10 measures where each one wins.

Differences from CPython's ``multiprocessing.dummy`` (each in
``docs/differences.md``): ``exitcode`` is 1 when ``run()`` raised (CPython:
always 0); the locks take the spec's ``acquire(block=True, timeout=None)``;
``Queue`` has ``close()``, ``join_thread()`` and ``cancel_join_thread()``;
``Value``/``Array`` keep their ctypes type and have ``get_lock()``; a
``Pipe`` end's ``recv`` raises ``EOFError`` once the other end is closed;
``Manager()`` returns a manager object (CPython returns the module).
"""

import ctypes
import queue
import threading

from .. import sharedctypes
from ..exceptions import AuthenticationError, BufferTooShort, ProcessError, TimeoutError
from ..managers import Namespace
from ..process import cpu_count, freeze_support
from ..sharedctypes import to_ctype
from ..signals import signals_held_back
from .connection import Pipe
from .pool import Pool
from .process import Process, active_children, current_process, thread_timeout

__all__ = [
    'Process', 'current_process', 'active_children', 'cpu_count', 'freeze_support',
    'Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Event',
    'Queue', 'JoinableQueue', 'Pipe', 'Value', 'Array', 'RawValue', 'RawArray',
    'Manager', 'Namespace', 'Pool',
    'ProcessError', 'BufferTooShort', 'TimeoutError', 'AuthenticationError',
]

# --------------------------------------------------------------------------
# Synchronization: threading's primitives with the spec's signatures
# --------------------------------------------------------------------------

class Lock:
    """A ``threading.Lock`` with the spec's ``acquire(block=True, timeout=None)``."""

    def __init__(self):
        self._lock = self._make()

    @staticmethod
    def _make():
        return threading.Lock()

    def acquire(self, block=True, timeout=None):
        """Acquire; with ``block`` False do not wait.  Returns whether it was acquired."""
        if not block:
            return self._lock.acquire(False)
        timeout = thread_timeout(timeout)
        return self._lock.acquire(True, -1 if timeout is None else timeout)   # -1: no limit

    def release(self, *_exc_info):
        """Release (``RuntimeError`` if not held, as in ``threading``).

        Extra arguments are ignored: this is also ``__exit__``, as in ``mpref.Lock``.
        """
        self._lock.release()

    def __enter__(self):
        return self.acquire()

    __exit__ = release

    def __repr__(self):
        return '<%s.%s wrapping %r>' % (__name__, type(self).__name__, self._lock)


class RLock(Lock):
    """A ``threading.RLock`` with the spec's ``acquire(block=True, timeout=None)``."""

    @staticmethod
    def _make():
        return threading.RLock()

    # What threading.Condition asks of an RLock, so that wait() releases
    # every level of a lock held recursively (the spec's condition program does).
    def _is_owned(self):
        return self._lock._is_owned()

    def _release_save(self):
        return self._lock._release_save()

    def _acquire_restore(self, state):
        self._lock._acquire_restore(state)


class Semaphore(threading.Semaphore):
    """A ``threading.Semaphore`` with the spec's ``acquire(block=True, timeout=None)``."""

    def acquire(self, block=True, timeout=None):
        """Decrement, waiting (up to ``timeout`` seconds) while the value is 0."""
        return super().acquire(block, thread_timeout(timeout))

    __enter__ = acquire

    def get_value(self):
        """The current value (beyond the spec, as ``mpref.Semaphore.get_value``)."""
        return self._value


class BoundedSemaphore(threading.BoundedSemaphore, Semaphore):
    """A ``threading.BoundedSemaphore`` with the spec's ``acquire``: ``ValueError`` if
    released more often than acquired."""

    acquire = Semaphore.acquire
    __enter__ = Semaphore.acquire


class Condition(threading.Condition):
    """A ``threading.Condition``; its default lock is an ``RLock`` from this module.

    ``acquire``/``release`` are the lock's (so the spec's signature);
    ``wait(timeout)``, ``notify()``, ``notify_all()`` are threading's.
    """

    def __init__(self, lock=None):
        super().__init__(RLock() if lock is None else lock)

    def wait(self, timeout=None):
        """Release the lock, wait for a notify (or ``timeout`` seconds), re-acquire."""
        return super().wait(thread_timeout(timeout))


class Event(threading.Event):
    """A ``threading.Event``; ``wait(timeout)`` returns the flag."""

    def wait(self, timeout=None):
        """Wait until the flag is set, or ``timeout`` seconds; return the flag."""
        return super().wait(thread_timeout(timeout))


# --------------------------------------------------------------------------
# Queues
# --------------------------------------------------------------------------

class Queue(queue.Queue):
    """A ``queue.Queue`` with the API of ``mpref.Queue`` (spec 16.6.2.2).

    ``put``/``get`` raise ``queue.Full``/``queue.Empty``, as the spec says.
    A thread's queue has no feeder thread and no pipe, so ``close()``,
    ``join_thread()`` and ``cancel_join_thread()`` have nothing to do.
    ``task_done()``/``join()`` are there too: ``JoinableQueue`` is this class.
    """

    def put(self, obj, block=True, timeout=None):
        """Put ``obj``, waiting up to ``timeout`` seconds for room (``queue.Full``)."""
        super().put(obj, block, thread_timeout(timeout))

    def get(self, block=True, timeout=None):
        """Remove and return an item, waiting up to ``timeout`` seconds (``queue.Empty``)."""
        return super().get(block, thread_timeout(timeout))

    get_no_wait = queue.Queue.get_nowait       # the spec's spelling

    def close(self):
        """Nothing to flush between threads."""

    def join_thread(self):
        """There is no feeder thread to join."""

    def cancel_join_thread(self):
        """There is no feeder thread to wait for."""


JoinableQueue = Queue


# --------------------------------------------------------------------------
# Shared values: ctypes objects that every thread sees anyway
# --------------------------------------------------------------------------

def RawValue(typecode_or_type, *args):
    """A ctypes object ``type(*args)`` (typecodes as in ``mpref.RawValue``)."""
    return to_ctype(typecode_or_type)(*args)


def RawArray(typecode_or_type, size_or_initializer):
    """A ctypes array: zeroed of that length, or holding the given items."""
    type_ = to_ctype(typecode_or_type)
    if isinstance(size_or_initializer, int):
        return (type_ * size_or_initializer)()
    items = list(size_or_initializer)
    return (type_ * len(items))(*items)


def Value(typecode_or_type, *args, lock=True):
    """``RawValue`` behind a lock (an ``RLock`` unless given one); ``lock=False``: raw."""
    obj = RawValue(typecode_or_type, *args)
    has_fields = isinstance(obj, (ctypes.Structure, ctypes.Union))
    return _wrap(obj, lock, SynchronizedStructure if has_fields else Synchronized)


def Array(typecode_or_type, size_or_initializer, *, lock=True):
    """``RawArray`` behind a lock, as ``Value``."""
    obj = RawArray(typecode_or_type, size_or_initializer)
    return _wrap(obj, lock, SynchronizedString if obj._type_ is ctypes.c_char
                 else SynchronizedArray)


class _ThreadLocked:
    """Makes ``mpref.sharedctypes``' wrappers take this module's (thread) locks."""

    _new_lock = RLock
    _lock_types = (Lock,)               # RLock is a Lock here

    def _locked(self, operation, *args):
        # A thread lock keeps no note of its owner to undo by: signals are
        # held back over the whole hold instead (``signals.signals_held_back``).
        with signals_held_back, self._lock:
            return operation(*args)


class Synchronized(_ThreadLocked, sharedctypes.Synchronized):
    """A ctypes value and its lock: ``value``, ``get_obj()``, ``get_lock()``, ``with``."""


class SynchronizedArray(_ThreadLocked, sharedctypes.SynchronizedArray):
    """An array and its lock: items, slices, ``len``."""


class SynchronizedString(_ThreadLocked, sharedctypes.SynchronizedString):
    """A ``c_char`` array and its lock: also ``value`` and ``raw``."""


class SynchronizedStructure(_ThreadLocked, sharedctypes.SynchronizedStructure):
    """A ``Structure`` or ``Union`` and its lock: each field is read and written under the lock."""


def _wrap(obj, lock, wrapper):
    if lock is False:
        return obj
    if lock is True or lock is None:
        lock = RLock()
    elif not isinstance(lock, Lock):
        raise TypeError('lock must be True, False, None, or a Lock or RLock from '
                        'mpref.dummy, not %r' % (lock,))
    return wrapper(obj, lock)


# --------------------------------------------------------------------------
# A manager, and the pool
# --------------------------------------------------------------------------

class SyncManager:
    """What ``Manager()`` returns: the spec's manager methods, making thread objects.

    There is no server: ``m.list()`` is a plain list, ``m.Lock()`` this
    module's ``Lock``, and so on, shared by every thread simply because
    threads share memory.  ``start()``, ``shutdown()`` and ``with`` exist so
    that manager code runs unchanged; they have nothing to do.
    """

    Namespace = Namespace
    Lock, RLock, Semaphore, BoundedSemaphore = Lock, RLock, Semaphore, BoundedSemaphore
    Condition, Event, Queue, JoinableQueue = Condition, Event, Queue, JoinableQueue
    Value = staticmethod(Value)
    Array = staticmethod(Array)
    Pool = Pool

    def dict(self, *args, **kwargs):
        """A new ``dict``."""
        return dict(*args, **kwargs)

    def list(self, sequence=()):
        """A new ``list``."""
        return list(sequence)

    def start(self):
        """Nothing to start."""

    def shutdown(self):
        """Nothing to stop."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.shutdown()


def Manager():
    """A ``SyncManager`` whose objects are ordinary thread objects."""
    return SyncManager()
