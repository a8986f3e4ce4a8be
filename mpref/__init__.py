"""mpref: a readable reference implementation of ``multiprocessing`` (spec 16.6).

Chapter: ``notebooks/00_introduction.ipynb``.

This is the public namespace the spec describes (16.6.1, 16.6.2.3).  Every
name here is imported directly from the module that defines it -- one hop from
``mpref.X`` to its source -- so a reader can jump straight there:

=====================  =================================================
``exceptions.py``      ``ProcessError`` and its subclasses
``util.py``            logging, finalizers, after-fork hooks
``signals.py``         holding signals back while a lock changes state
``spawn.py``           what a spawned child receives, ``set_executable``
``popen_fork.py``      how ``fork`` starts a child (the default)
``popen_spawn.py``     how ``spawn`` starts a child (a new interpreter)
``process.py``         ``Process``, ``current_process``, ``active_children``
``framing.py``         ``Pipe``, ``Connection`` (messages on a descriptor)
``connection.py``      ``Listener``, ``Client``, the authentication handshake
``heap.py``            shared memory, cut into blocks
``semlock.py``         ``SemLock``: one POSIX named semaphore through ``ctypes``
``synchronize.py``     ``Lock``, ``RLock``, ``Semaphore``, ``BoundedSemaphore``,
                       ``Condition``, ``Event``
``queues.py``          ``Queue``, ``JoinableQueue`` (a pipe, semaphores, a feeder thread)
``sharedctypes.py``    ``Value``, ``Array``, ``RawValue``, ``RawArray`` (over ``heap.py``)
``serializers.py``     a manager's messages as pickles or as XML-RPC
``proxies.py``         ``BaseProxy``, the client side of a manager
``proxytypes.py``      the proxy types of ``SyncManager``'s objects
``server.py``          ``Server``, what runs in a manager's server process
``pool_worker.py``     a pool worker's life
``pool_core.py``       the pool's machinery: workers, dispatch, the result thread
``pool.py``            ``Pool``, ``AsyncResult``, the imap iterators
``managers.py``        ``Manager``, ``BaseManager``, ``SyncManager``
``dummy/``             the same API over threads (``import mpref.dummy``)
=====================  =================================================

The table is in the order of the layers (``docs/README.md``): each module
imports only modules above it in this list.
"""

import sys as _sys

from .framing import Connection, Pipe
from .exceptions import AuthenticationError, BufferTooShort, ProcessError, TimeoutError
from .process import (Process, active_children, cpu_count, current_process,
                      freeze_support, get_start_method, parent_process, set_start_method)
from .process import ForkProcess as _ForkProcess, SpawnProcess as _SpawnProcess
from .managers import Manager
from .queues import JoinableQueue, Queue
from .sharedctypes import Array, RawArray, RawValue, Value
from .spawn import set_executable
from .synchronize import BoundedSemaphore, Condition, Event, Lock, RLock, Semaphore
from .pool import Pool
from .util import SUBDEBUG, SUBWARNING, get_logger, log_to_stderr

__version__ = '0.1.0'

__all__ = [
    'Process', 'current_process', 'Pipe', 'Connection', 'active_children', 'cpu_count',
    'freeze_support', 'set_executable', 'setExecutable', 'set_start_method',
    'get_start_method', 'get_context',
    'ProcessError', 'BufferTooShort', 'TimeoutError', 'AuthenticationError',
    'get_logger', 'log_to_stderr', 'SUBDEBUG', 'SUBWARNING',
    'Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Event',
    'Queue', 'JoinableQueue',
    'Value', 'Array', 'RawValue', 'RawArray',
    'parent_process',
    'Pool',
    'Manager',
]

#: The spec's Python 2 spelling of ``set_executable`` (16.6.2.3).
setExecutable = set_executable


def get_context(method=None):
    """Return the mpref namespace with ``Process`` bound to one start method.

    Beyond the spec (Python 3.4).  ``get_context('spawn').Process`` always
    spawns, whatever the default; every other name is the plain ``mpref``
    one.  ``method=None`` means the current default.
    """
    method = method or get_start_method()
    if method not in _CONTEXT_PROCESS:
        raise ValueError("unknown start method %r: choose 'fork' or 'spawn'" % (method,))
    return _Context(method)


_CONTEXT_PROCESS = {'fork': _ForkProcess, 'spawn': _SpawnProcess}


class _Context:
    """What ``get_context(method)`` returns: a view of mpref for one method."""

    def __init__(self, method):
        self._method = method
        self.Process = _CONTEXT_PROCESS[method]

    def get_start_method(self):
        return self._method

    def Pool(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None):
        """A ``Pool`` whose workers start with this context's method."""
        return Pool(processes, initializer, initargs, maxtasksperchild, context=self)

    def Manager(self):
        """A started ``SyncManager`` whose server process uses this start method."""
        return Manager(ctx=self)

    def __getattr__(self, name):
        return getattr(_sys.modules[__name__], name)

    def __repr__(self):
        return '<mpref context %r>' % self._method
