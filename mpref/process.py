"""The ``Process`` class and the process tree (spec 16.6.1.1, 16.6.2.1, 16.6.2.3).

Chapter: ``notebooks/01_process.ipynb``.

A ``Process`` object is the parent's handle on a child, with the API of
``threading.Thread``: create it with a ``target``, ``start()`` it, ``join()``
it.  Every process -- the main one included -- also has a ``Process`` object
for *itself*, returned by ``current_process()``; in a child that is the very
object the parent created (copied by fork, or unpickled under spawn).

How a child is started is not this module's business: ``start()`` hands the
object to a *Popen* class from ``popen_fork`` or ``popen_spawn``, which
returns a handle with ``pid``, ``poll()``, ``wait()`` and ``terminate()``.
Both start methods end up calling ``Process._bootstrap()`` in the child.

The bookkeeping the spec describes lives here too:

* names ``Process-N1:N2:...:Nk`` -- each process numbers its children 1, 2, 3...
  and a child's name extends its parent's;
* ``_children``, the set of started, not-yet-joined children, which
  ``active_children()`` prunes (joining finished children, so no zombies);
* the exit function: when a process ends it terminates its daemonic children
  and joins the others.
"""

import atexit
import itertools
import os
import signal
import sys
import traceback

from . import popen_fork, popen_spawn, spawn, util

__all__ = ['Process', 'ForkProcess', 'SpawnProcess', 'current_process',
           'active_children', 'cpu_count', 'freeze_support',
           'set_start_method', 'get_start_method']


class Process:
    """Activity run in a separate process: the analogue of ``threading.Thread``.

    Call the constructor with keyword arguments.  ``group`` must be None
    (it exists for ``Thread`` compatibility); ``target`` is called by
    ``run()`` as ``target(*args, **kwargs)``; ``name`` defaults to
    ``Process-N1:...:Nk``; ``daemon`` (beyond the spec, as in Python 3)
    defaults to the creating process's flag.  A subclass that overrides
    ``__init__`` must call ``Process.__init__`` first.
    """

    #: None: use the default start method (``set_start_method``).
    _start_method = None

    #: Set on the instance by ``__init__``; a subclass that forgot to call
    #: ``Process.__init__`` finds this class value instead (``_check_init``).
    _initialized = False

    def __init__(self, group=None, target=None, name=None, args=(), kwargs={},
                 *, daemon=None):
        if group is not None:
            raise ValueError('group argument must be None (it exists only for '
                             'compatibility with threading.Thread)')
        parent = current_process()
        self._identity = parent._identity + (next(_process_counter),)
        self._config = dict(parent._config)      # authkey and daemon flag, inherited
        self._parent_pid = os.getpid()
        self._popen = None
        self._target = target
        self._args = tuple(args)
        self._kwargs = dict(kwargs)
        self._name = name or 'Process-' + ':'.join(str(i) for i in self._identity)
        self._initialized = True
        if daemon is not None:
            self.daemon = daemon

    def run(self):
        """The process's activity: call ``target(*args, **kwargs)``, if any.

        Override this in a subclass to give the process other work.
        """
        if self._target:
            self._target(*self._args, **self._kwargs)

    def start(self):
        """Start ``run()`` in a child process.  At most once per object."""
        self._check_init()
        if self._popen is not None:
            raise AssertionError('cannot start a process twice')
        if self._parent_pid != os.getpid():
            raise AssertionError('can only start a process object created by current process')
        if _current_process._config.get('daemon'):
            raise AssertionError('daemonic processes are not allowed to have children')
        if spawn.importing_main():
            raise RuntimeError(
                'a new process was started while this spawned child was still '
                "importing its parent's main module. The main module probably "
                'starts processes at import time; protect that code with\n'
                "    if __name__ == '__main__':\n"
                '(see "Safe importing of main module" in the programming guidelines).')
        _cleanup()
        method = self._start_method or _default_start_method
        # A spawned child starts with fresh module globals; this tells it
        # which start method its own children should use by default.
        self._inherited_start_method = _default_start_method
        popen_class = popen_fork.Popen if method == 'fork' else popen_spawn.Popen
        self._popen = popen_class(self)
        _children.add(self)

    def terminate(self):
        """Terminate the process with SIGTERM.

        No exit handlers or ``finally`` clauses run in the child, and its
        own children are orphaned, not terminated.
        """
        self._check_started('terminate')
        self._popen.terminate()

    def kill(self):
        """Like ``terminate()`` but with SIGKILL (beyond the spec: Python 3.7)."""
        self._check_started('kill')
        self._popen.kill()

    def join(self, timeout=None):
        """Wait until the process ends, or until ``timeout`` seconds pass.

        Returns None either way: check ``exitcode`` or ``is_alive()`` to know
        which.  A process may be joined many times; not before it is started,
        and never by itself (that would wait forever).
        """
        self._check_init()
        if self is _current_process:
            raise AssertionError('a process cannot join itself: that would deadlock')
        if self._parent_pid != os.getpid():
            raise AssertionError('can only join a child process')
        if self._popen is None:
            raise AssertionError('can only join a started process')
        if timeout is not None and not isinstance(timeout, (int, float)):
            raise TypeError('join() timeout must be a number of seconds or None, not %s'
                            % type(timeout).__name__)
        if self._popen.wait(timeout) is not None:
            _children.discard(self)

    def is_alive(self):
        """Return whether the process is alive (and reap it if it has ended)."""
        self._check_init()
        if self is _current_process:
            return True
        if self._parent_pid != os.getpid():
            raise AssertionError('can only test a child process')
        if self._popen is None:
            return False
        if self._popen.poll() is None:
            return True
        _children.discard(self)
        return False

    # -- attributes ---------------------------------------------------------

    @property
    def name(self):
        """The process's name: a label with no meaning to mpref."""
        self._check_init()
        return self._name

    @name.setter
    def name(self, name):
        if not isinstance(name, str):
            raise TypeError('name must be a string, not %s' % type(name).__name__)
        self._name = name

    @property
    def daemon(self):
        """The daemon flag.  Set it before ``start()``; inherited by default."""
        return self._config.get('daemon', False)

    @daemon.setter
    def daemon(self, daemonic):
        if self._popen is not None:
            raise AssertionError('process has already started')
        self._config['daemon'] = bool(daemonic)

    @property
    def authkey(self):
        """The authentication key (bytes), inherited from the parent."""
        return self._config['authkey']

    @authkey.setter
    def authkey(self, authkey):
        if not isinstance(authkey, (bytes, bytearray)):
            raise TypeError('authkey must be bytes, not %s' % type(authkey).__name__)
        self._config['authkey'] = AuthenticationString(authkey)

    @property
    def pid(self):
        """The process id; None before the process is started."""
        if self is _current_process:
            return os.getpid()
        return self._popen and self._popen.pid

    ident = pid

    @property
    def exitcode(self):
        """The exit code; None while running.  ``-N`` means killed by signal N."""
        if self._popen is None:
            return None
        return self._popen.poll()

    @property
    def sentinel(self):
        """A file descriptor that becomes readable when the process ends.

        Beyond the spec (Python 3.3); lets one ``poll``/``select`` wait for
        many processes at once.
        """
        self._check_started('get the sentinel of')
        return self._popen.sentinel

    def __repr__(self):
        self._check_init()
        if self is _current_process:
            status = 'started'
        elif self._parent_pid != os.getpid():
            status = 'unknown'
        elif self._popen is None:
            status = 'initial'
        else:
            exitcode = self._popen.poll()
            if exitcode is None:
                status = 'started'
            elif exitcode == 0:
                status = 'stopped'
            else:
                status = 'stopped[%s]' % _exitcode_to_name.get(exitcode, exitcode)
        daemon = ' daemon' if self.daemon else ''
        return '<%s(%s, %s%s)>' % (type(self).__name__, self._name, status, daemon)

    # -- inside the child ----------------------------------------------------

    def _bootstrap(self, after_fork=False):
        """Become this process, run it, and return the exit code.

        Called in the child by both start methods (``after_fork`` is True
        under fork, where the after-fork hooks must run).  Turns ``SystemExit`` into
        its exit code; any other exception prints a traceback to stderr and
        gives exit code 1.
        """
        global _current_process, _process_counter, _children, _exiting, _default_start_method
        try:
            _current_process = self
            _process_counter = itertools.count(1)
            _children = set()
            _exiting = False
            _default_start_method = self._inherited_start_method
            util._close_stdin()
            if after_fork:
                util._run_after_forkers()
            util.info('child process calling self.run()')
            try:
                self.run()
                exitcode = 0
            finally:
                _exit_function()
        except SystemExit as exc:
            if exc.code is None:
                exitcode = 0
            elif isinstance(exc.code, int) and _C_INT_MIN <= exc.code <= _C_INT_MAX:
                exitcode = exc.code
            elif isinstance(exc.code, int):
                # os._exit() takes a C int; beyond that it would raise.
                sys.stderr.write('Process %s: exit code %d is out of range; exiting with 1\n'
                                 % (self.name, exc.code))
                exitcode = 1
            else:
                sys.stderr.write(str(exc.code) + '\n')
                exitcode = 1
        except BaseException:
            exitcode = 1
            sys.stderr.write('Process %s:\n' % self.name)
            traceback.print_exc()
        finally:
            util.info('process exiting with exitcode %d', exitcode)
            util._flush_std_streams()
        return exitcode

    def _check_init(self):
        # As threading.Thread does: a clear error instead of an AttributeError
        # about some private attribute the skipped __init__ would have set.
        if not self._initialized:
            raise RuntimeError('Process.__init__() was not called: %s.__init__() must call '
                               'super().__init__() before anything else' % type(self).__name__)

    def _check_started(self, action):
        if self._popen is None:
            raise ValueError('cannot %s process %r: it has not been started' % (action, self._name))

    def __getstate__(self):
        # A Process object travels only to the child being spawned to run it.
        spawn.assert_spawning(self)
        state = dict(self.__dict__)
        state['_popen'] = None
        return state


class ForkProcess(Process):
    """A ``Process`` that always starts with ``fork`` (see ``get_context``)."""
    _start_method = 'fork'


class SpawnProcess(Process):
    """A ``Process`` that always starts with ``spawn`` (see ``get_context``)."""
    _start_method = 'spawn'


class AuthenticationString(bytes):
    """Bytes that refuse to be pickled, except to a child being spawned.

    An authkey is a password: sending it through a pipe or queue by accident
    would give it away.
    """

    def __reduce__(self):
        if spawn.get_spawning_popen() is None:
            raise TypeError('pickling an AuthenticationString object is '
                            'disallowed for security reasons')
        return AuthenticationString, (bytes(self),)


class _MainProcess(Process):
    """The ``Process`` object standing for the main process itself."""

    def __init__(self):
        self._identity = ()
        self._name = 'MainProcess'
        self._initialized = True
        self._parent_pid = None
        self._popen = None
        self._target = None
        self._args = ()
        self._kwargs = {}
        # The spec says os.random(); it means os.urandom().
        self._config = {'authkey': AuthenticationString(os.urandom(32))}


# --------------------------------------------------------------------------
# Module-level state and functions
# --------------------------------------------------------------------------

_current_process = _MainProcess()
_process_counter = itertools.count(1)
_children = set()
_default_start_method = 'fork'
_start_methods = ('fork', 'spawn')

_exitcode_to_name = {-signum: signum.name for signum in signal.Signals}

# The exit codes os._exit() accepts (a C int); the OS keeps only the low 8 bits.
_C_INT_MIN, _C_INT_MAX = -2**31, 2**31 - 1


def current_process():
    """Return the ``Process`` object of the calling process."""
    return _current_process


def active_children():
    """Return the live children of this process, reaping any that finished."""
    _cleanup()
    return list(_children)


def _cleanup():
    # Reap finished children: waitpid removes their zombie entries.
    for p in list(_children):
        if p._popen.poll() is not None:
            _children.discard(p)


def cpu_count():
    """Return the number of CPUs; raise ``NotImplementedError`` if unknown."""
    count = os.cpu_count()
    if count is None:
        raise NotImplementedError('cannot determine the number of CPUs')
    return count


def freeze_support():
    """Do nothing: frozen Windows executables are not a POSIX concern.

    On Windows, a program frozen with py2exe or PyInstaller must call this
    first thing under ``if __name__ == '__main__':`` so a frozen child can
    tell it is a child.  mpref is POSIX-only, so there is nothing to do; the
    function exists so that portable programs run unchanged.
    """


def set_start_method(method):
    """Choose how new processes start: ``'fork'`` (default) or ``'spawn'``.

    Beyond the spec (Python 3.4), which knows only fork on Unix.
    """
    global _default_start_method
    if method not in _start_methods:
        raise ValueError('unknown start method %r: choose one of %s'
                         % (method, ', '.join(_start_methods)))
    _default_start_method = method


def get_start_method():
    """Return the default start method (``'fork'`` unless changed)."""
    return _default_start_method


_exiting = False


def _exit_function():
    """At exit: terminate daemonic children, join the others, run finalizers.

    Runs at the end of every child's ``_bootstrap`` and, via ``atexit``, in
    the main process.  Non-daemonic children are *joined*, which is why a
    parent whose child never finishes never exits either (the spec's queue
    deadlock is this wait).
    """
    global _exiting
    if _exiting:
        return
    _exiting = True
    util.info('process shutting down')
    util._run_finalizers(0)
    for p in active_children():
        if p.daemon:
            util.info('calling terminate() for daemon %s', p.name)
            p._popen.terminate()
    for p in active_children():
        util.info('calling join() for process %s', p.name)
        p.join()
    util._run_finalizers()


atexit.register(_exit_function)
