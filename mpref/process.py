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

Beyond the spec, as in Python 3: ``Process.close()`` (3.7) releases a finished
child's descriptor, and ``parent_process()`` (3.8) gives a child a handle on
its parent.
"""

import atexit
import itertools
import os
import signal
import threading
import time

from . import popen_fork, popen_spawn, spawn, util

__all__ = ['Process', 'ForkProcess', 'SpawnProcess', 'current_process',
           'active_children', 'cpu_count', 'freeze_support',
           'set_start_method', 'get_start_method', 'parent_process']


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

    #: Set by ``close()``.
    _closed = False

    def __init__(self, group=None, target=None, name=None, args=(), kwargs={},
                 *, daemon=None):
        if group is not None:
            raise ValueError('group argument must be None (it exists only for '
                             'compatibility with threading.Thread)')
        parent = current_process()
        self._identity = parent._identity + (next(_process_counter),)
        self._config = dict(parent._config)      # authkey and daemon flag, inherited
        self._parent_pid = os.getpid()
        self._parent_name = parent.name
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
        """Start ``run()`` in a child process.  At most once per object.

        This object keeps ``target``, ``args`` and ``kwargs`` while the child
        runs -- an object passed as an argument is not garbage collected in
        the parent as long as the child is alive (spec 16.6.3.1, "explicitly
        pass resources to child processes") -- and lets go of them once the
        child is known to have ended (``_forget``), so they can be collected
        then.
        """
        self._check_open()
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
        util.sub_debug('starting %s with the %s start method', self._name, method)
        self._popen = popen_class(self)
        _children.add(self)

    def _forget(self):
        """The child has ended: stop tracking it and let go of its work.

        Dropping ``target``, ``args`` and ``kwargs`` lets them be collected
        once the caller drops them too, and breaks the cycle a target that
        refers back to this object would make (a bound method, say).
        """
        _children.discard(self)
        self._target, self._args, self._kwargs = None, (), {}

    def terminate(self):
        """Terminate the process with SIGTERM.

        No exit handlers or ``finally`` clauses run in the child, and its
        own children are orphaned, not terminated.
        """
        self._check_open()
        self._check_started('terminate')
        self._popen.terminate()

    def kill(self):
        """Like ``terminate()`` but with SIGKILL (beyond the spec: Python 3.7)."""
        self._check_open()
        self._check_started('kill')
        self._popen.kill()

    def join(self, timeout=None):
        """Wait until the process ends, or until ``timeout`` seconds pass.

        Returns None either way: check ``exitcode`` or ``is_alive()`` to know
        which.  A process may be joined many times; not before it is started,
        and never by itself (that would wait forever).  ``timeout`` follows
        ``util.check_timeout``: None or ``float('inf')`` waits with no limit,
        any other non-negative number of seconds works however large, a
        negative one does not wait; ``TypeError`` for a non-number,
        ``ValueError`` for NaN.
        """
        self._check_open()
        timeout = util.check_timeout(timeout, 'join() timeout')
        if self is _current_process:
            raise AssertionError('a process cannot join itself: that would deadlock')
        if self._parent_pid != os.getpid():
            raise AssertionError('can only join a child process')
        if self._popen is None:
            raise AssertionError('can only join a started process')
        if self._popen.wait(timeout) is not None:
            self._forget()

    def is_alive(self):
        """Return whether the process is alive (and reap it if it has ended)."""
        self._check_open()
        if self is _current_process:
            return True
        if self._parent_pid != os.getpid():
            raise AssertionError('can only test a child process')
        if self._popen is None:
            return False
        if self._popen.poll() is None:
            return True
        self._forget()
        return False

    def close(self):
        """Release the resources of a finished process (beyond the spec: 3.7).

        Closes the sentinel descriptor, which a ``Process`` object otherwise
        keeps until it is garbage collected, and forgets the child.  Raises
        ``ValueError`` if the child is still running (``join()`` or
        ``terminate()`` it first).  Afterwards every method and ``pid``,
        ``exitcode``, ``sentinel`` raise ``ValueError``; ``name``, ``daemon``
        and ``authkey`` stay readable; calling ``close()`` again does nothing.
        """
        self._check_init()
        if self._popen is not None:
            if self._popen.poll() is None:
                raise ValueError('cannot close process %s while it is still running: '
                                 'join() or terminate() it first' % self._name)
            self._popen.close()
            self._popen = None
            self._forget()
        self._closed = True

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
        self._check_open()
        return self._popen and self._popen.pid

    ident = pid

    @property
    def exitcode(self):
        """The exit code; None while running.  ``-N`` means killed by signal N."""
        self._check_open()
        if self._popen is None:
            return None
        return self._popen.poll()

    @property
    def sentinel(self):
        """A file descriptor that becomes readable when the process ends.

        Beyond the spec (Python 3.3); lets one ``poll``/``select`` wait for
        many processes at once.
        """
        self._check_open()
        self._check_started('get the sentinel of')
        return self._popen.sentinel

    def __repr__(self):
        self._check_init()
        if self is _current_process:
            status = 'started'
        elif self._closed:
            status = 'closed'
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
        """Run this process in the child started for it; return the exit code.

        Called in the child by both start methods (``after_fork`` is True
        under fork, where the after-fork hooks must run).  Three steps:
        become the current process, run to the end, and turn how that ended
        into an exit code.
        """
        try:
            self._become_current(after_fork)
            self._run_to_the_end()
            exitcode = 0
        except BaseException as exc:
            exitcode = self._exit_code(exc)
        util.info('process exiting with exitcode %d', exitcode)
        util.flush_std_streams()
        return exitcode

    def _become_current(self, after_fork):
        """Step 1: this object becomes the current process of a new process.

        The child starts with a copy (fork) or a fresh import (spawn) of the
        module's state; every part of it must now describe this process.
        """
        global _current_process, _parent_process, _process_counter, _children
        global _exiting, _default_start_method
        _current_process = self
        _parent_process = _ParentProcess(self._parent_name, self._parent_pid)
        _process_counter = itertools.count(1)       # our children: ...:1, ...:2
        _children = set()                           # none yet, not the parent's
        _exiting = False
        _default_start_method = self._inherited_start_method
        util.close_stdin()
        if after_fork:
            util.run_after_forkers()

    def _run_to_the_end(self):
        """Step 2: ``run()``, then end as any Python program ends.

        Python waits for a program's non-daemonic threads before it runs the
        exit handlers; a forked child never reaches interpreter shutdown (it
        leaves with ``os._exit``), so we do both here, whether ``run()``
        returned or raised: wait for the threads, then the exit function.
        """
        util.info('child process calling self.run()')
        try:
            self.run()
        finally:
            try:
                _join_non_daemonic_threads()
            finally:
                # Even if Ctrl-C cut the wait short, as the interpreter does.
                _exit_function()

    def _exit_code(self, exc):
        """Step 3: the exit code of a process whose ``run()`` raised ``exc``.

        ``SystemExit`` carries it: None is 0; an int that ``os._exit`` can
        take (a C int) is itself; a bigger int gives 1 with a note on stderr;
        anything else is printed to stderr and gives 1.  Any other exception
        prints ``Process <name>:`` and the traceback to stderr and gives 1.
        """
        # (These writes never raise: with stderr closed or broken, the child
        # still ends with its exit code, and its output is still flushed.)
        if not isinstance(exc, SystemExit):
            util.report_error('Process %s:\n' % self.name, exc)
            return 1
        if exc.code is None:
            return 0
        if isinstance(exc.code, int) and _C_INT_MIN <= exc.code <= _C_INT_MAX:
            return exc.code
        if isinstance(exc.code, int):
            util.write_to_stderr('Process %s: exit code %d is out of range; exiting with 1\n'
                                 % (self.name, exc.code))
        else:
            util.write_to_stderr(str(exc.code) + '\n')
        return 1

    def _check_init(self):
        # As threading.Thread does: a clear error instead of an AttributeError
        # about some private attribute the skipped __init__ would have set.
        if not self._initialized:
            raise RuntimeError('Process.__init__() was not called: %s.__init__() must call '
                               'super().__init__() before anything else' % type(self).__name__)

    def _check_open(self):
        self._check_init()
        if self._closed:
            raise ValueError('process object is closed: %s.close() released it' % self._name)

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
        self._parent_name = None
        self._popen = None
        self._target = None
        self._args = ()
        self._kwargs = {}
        # The spec says os.random(); it means os.urandom().
        self._config = {'authkey': AuthenticationString(os.urandom(32))}


class _ParentProcess:
    """A child's handle on its parent: what ``parent_process()`` returns.

    It knows the parent's name and pid, and whether the parent still lives.
    A child cannot ``waitpid`` for its parent; it relies instead on the rule
    that an orphan is adopted by another process, so the parent is alive
    exactly as long as ``os.getppid()`` still returns its pid.  (CPython
    gives the child one end of a pipe that the parent holds open; mpref
    needs no descriptor, and no sibling forked later can hold such a pipe
    open by inheriting it.)
    """

    def __init__(self, name, pid):
        self._name = name
        self._pid = pid

    @property
    def name(self):
        """The parent's name, as it was when it created this process."""
        return self._name

    @property
    def pid(self):
        """The parent's process id."""
        return self._pid

    ident = pid

    def is_alive(self):
        """Return whether the parent is still running."""
        return os.getppid() == self._pid

    def join(self, timeout=None):
        """Wait until the parent ends, or until ``timeout`` seconds pass.

        ``timeout`` as in ``Process.join``.  Returns None either way.
        """
        timeout = util.check_timeout(timeout, 'join() timeout')
        deadline = None if timeout is None else time.monotonic() + timeout
        # Nothing wakes a child when its parent dies: look again now and then.
        while self.is_alive():
            pause = _PARENT_POLL_INTERVAL
            if deadline is not None:
                pause = min(pause, deadline - time.monotonic())
                if pause <= 0:
                    return
            time.sleep(pause)

    def __repr__(self):
        status = 'started' if self.is_alive() else 'stopped'
        return '<%s(%s, %s)>' % (type(self).__name__, self._name, status)


# --------------------------------------------------------------------------
# Module-level state and functions
# --------------------------------------------------------------------------

# The state of this process's place in the process tree.  A new child
# starts with a copy (fork) or a fresh import (spawn) of it, and
# Process._become_current rewrites all of it for the child.
_current_process = _MainProcess()
_parent_process = None              # a _ParentProcess in a child
_process_counter = itertools.count(1)
_children = set()                   # started, not yet joined
_exiting = False                    # _exit_function has run
_default_start_method = 'fork'

_start_methods = ('fork', 'spawn')

#: How often ``_ParentProcess.join`` looks whether the parent still lives.
_PARENT_POLL_INTERVAL = 0.02

_exitcode_to_name = {-signum: signum.name for signum in signal.Signals}

# The exit codes os._exit() accepts (a C int); the OS keeps only the low 8 bits.
_C_INT_MIN, _C_INT_MAX = -2**31, 2**31 - 1


def current_process():
    """Return the ``Process`` object of the calling process."""
    return _current_process


def parent_process():
    """Return a handle on the parent of this process; None in the main process.

    Beyond the spec (Python 3.8).  The handle has ``name``, ``pid``
    (``ident``), ``is_alive()`` and ``join([timeout])``.
    """
    return _parent_process


def active_children():
    """Return the live children of this process, reaping any that finished."""
    _cleanup()
    return list(_children)


def _cleanup():
    # Reap finished children: waitpid removes their zombie entries.
    for p in list(_children):
        if p._popen.poll() is not None:
            p._forget()


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


def is_exiting():
    """True once this process has started its exit (``_exit_function`` ran)."""
    return _exiting


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
    util.debug('running all "atexit" finalizers with priority >= 0')
    util.run_finalizers(0)
    for p in active_children():
        if p.daemon:
            util.info('calling terminate() for daemon %s', p.name)
            p._popen.terminate()
    for p in active_children():
        util.info('calling join() for process %s', p.name)
        p.join()
    util.debug('running the remaining "atexit" finalizers')
    util.run_finalizers()


def _join_non_daemonic_threads():
    """Wait for every non-daemonic thread but this one, as Python does at exit.

    A thread may start another, so look again until none is left.
    """
    me = threading.current_thread()
    while True:
        others = [t for t in threading.enumerate() if t is not me and not t.daemon]
        if not others:
            return
        for thread in others:
            thread.join()


def _take_identity(name, authkey):
    """In a spawned child, before it imports its parent's main module.

    Code run at import time may ask ``current_process()`` who it is: answer
    with the child's name and authkey already (``_bootstrap`` then makes the
    child's own ``Process`` object current).
    """
    _current_process.name = name
    _current_process.authkey = authkey


spawn.set_identity_setter(_take_identity)
atexit.register(_exit_function)
