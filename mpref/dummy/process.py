"""``mpref.dummy.Process``: a thread with the API of a process (spec 16.6.2.1, 16.6.2.13).

Chapter: ``notebooks/10_dummy.ipynb``.  ``mpref.dummy`` offers these names; its
pool (``dummy/pool.py``) runs its workers as such threads.
"""

import threading
import weakref

from .. import util
from .connection import Connection

__all__ = ['Process', 'current_process', 'active_children', 'thread_timeout']


#: Started ``Process`` threads; a thread that has ended and been dropped leaves by itself.
_children = weakref.WeakSet()


class Process(threading.Thread):
    """A thread with the API of ``mpref.Process`` (spec 16.6.2.1).

    ``start``, ``run``, ``join([timeout])``, ``is_alive``, ``name``,
    ``daemon`` (inherited from the creating thread by default) and
    ``exitcode``: None until the thread has ended, then 0 -- or, as for a
    process, the ``sys.exit`` code, or 1 if ``run()`` raised (the traceback
    is printed, by ``threading.excepthook``).  A thread cannot be stopped from
    outside, so there is no ``terminate()``; and it has no ``pid`` of its own.

    Like a child process, which holds its own copies of the pipe descriptors
    it inherits, the thread gets its own copy of each ``dummy.connection``
    ``Connection`` in ``args`` and ``kwargs``; they are closed when it ends.
    """

    def __init__(self, group=None, target=None, name=None, args=(), kwargs={}, *, daemon=None):
        super().__init__(group, target, name, args, kwargs, daemon=daemon)
        self._parent = threading.current_thread()
        self._exitcode = None
        self._own_connections = []

    def start(self):
        """Start ``run()`` in a new thread.  At most once per object."""
        if self.ident is not None:
            super().start()             # raises: a thread starts at most once
        # threading.Thread keeps the arguments in _args and _kwargs.  The
        # thread gets copies of the connections, so that the parent closing
        # its copy of the child's end (as a program for processes must) does
        # not close the thread's.
        self._args = tuple(self._own_copy(arg) for arg in self._args)
        self._kwargs = {key: self._own_copy(arg) for key, arg in self._kwargs.items()}
        try:
            super().start()
        except BaseException:
            self._close_own_connections()
            raise
        _children.add(self)

    def _own_copy(self, arg):
        if not isinstance(arg, Connection) or arg.closed:
            return arg
        copy = arg.duplicate()
        self._own_connections.append(copy)
        return copy

    def _close_own_connections(self):
        # As a process's descriptors close when it exits: the other end reads
        # EOF once no copy of this end is left open anywhere.
        for connection in self._own_connections:
            connection.close()

    def run(self):
        # Record how run() ended, as a process's exit code would.
        try:
            super().run()
        except SystemExit as exc:
            self._exitcode = _exit_code(exc.code)
        except BaseException:
            self._exitcode = 1
            raise
        else:
            self._exitcode = 0
        finally:
            self._close_own_connections()

    def join(self, timeout=None):
        """Wait until the thread ends, or ``timeout`` seconds (``util.check_timeout``)."""
        super().join(thread_timeout(timeout, 'join() timeout'))

    @property
    def exitcode(self):
        """None while the thread has not ended (or not started); then its exit code."""
        if self.ident is None or self.is_alive():
            return None
        return self._exitcode


def _exit_code(code):
    # SystemExit's code as a process would turn it into an exit status.
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def current_process():
    """The calling thread (``MainThread`` in the main one)."""
    return threading.current_thread()


def active_children():
    """The ``Process`` threads started by the calling thread and still running."""
    me = threading.current_thread()
    return [p for p in list(_children) if p._parent is me and p.is_alive()]


def thread_timeout(timeout, name='timeout'):
    """``timeout`` checked by the one timeout rule (``util.check_timeout``),
    then capped at ``threading.TIMEOUT_MAX`` (about 292 years), the longest
    wait ``threading`` accepts."""
    timeout = util.check_timeout(timeout, name)
    return None if timeout is None else min(timeout, threading.TIMEOUT_MAX)
