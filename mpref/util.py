"""The ground floor: logging, finalizers, after-fork hooks (spec 16.6.2.12).

Chapter: ``notebooks/09_logging.ipynb`` (``notebooks/04_queues.ipynb`` shows a
``Finalize`` at work too).

Everything else in mpref stands on this module, and this module stands on
nothing but the standard library.  It holds four small ideas:

* **Logging.**  ``get_logger()`` returns the logger mpref writes to;
  ``log_to_stderr()`` adds a handler with the spec's format
  ``[LEVEL/ProcessName] message``.  Two extra levels, ``SUBDEBUG`` (5) and
  ``SUBWARNING`` (25), sit between the standard ones.  A forked child
  inherits the logger as it is; a spawned child is told the level and
  whether ``log_to_stderr()`` was called, and repeats both (``spawn.prepare``).
* **Finalizers.**  ``Finalize(obj, callback, ...)`` runs ``callback`` once:
  when ``obj`` is garbage collected, when called directly, or at process exit
  (if it was given an ``exitpriority``).  Queues, heaps, listeners and temp
  directories use them so that nothing is left behind -- but never during
  the interpreter's own shutdown (see ``Finalize.__call__``).
* **After-fork hooks.**  ``register_after_fork(obj, func)`` asks for
  ``func(obj)`` to run in every child created by ``fork``: a forked child
  inherits a copy of the parent's memory, including locks that some parent
  thread may have held, and those must be reset.
* **Process start-up plumbing** shared by both start methods: the lock that
  serialises process creation and the child's "sentinel" pipe end.
"""

import atexit
import itertools
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import weakref

__all__ = [
    'SUBDEBUG', 'SUBWARNING', 'get_logger', 'log_to_stderr',
    'sub_debug', 'debug', 'info', 'sub_warning',
    'Finalize', 'register_after_fork', 'get_temp_dir', 'check_timeout', 'wait_readable',
]

# --------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------

SUBDEBUG = 5
SUBWARNING = 25

LOGGER_NAME = 'mpref'
DEFAULT_LOGGING_FORMAT = '[%(levelname)s/%(processName)s] %(message)s'

_logger = None

#: True once ``log_to_stderr()`` has been called: a spawned child, which
#: starts with a fresh logger, calls it too (see ``spawn.prepare``).
_log_to_stderr = False

#: The handler ``log_to_stderr()`` added, so that a second call adds no other.
_stderr_handler = None


def sub_debug(msg, *args):
    if _logger:
        _logger.log(SUBDEBUG, msg, *args)


def debug(msg, *args):
    if _logger:
        _logger.log(logging.DEBUG, msg, *args)


def info(msg, *args):
    if _logger:
        _logger.log(logging.INFO, msg, *args)


def sub_warning(msg, *args):
    if _logger:
        _logger.log(SUBWARNING, msg, *args)


class _ProcessNameFilter(logging.Filter):
    """Stamp each record with mpref's idea of the current process name.

    ``logging`` fills ``%(processName)s`` by asking the *stdlib*
    multiprocessing (if imported) -- which knows nothing of mpref's processes.
    We look the name up in ``mpref.process`` instead; a dynamic lookup rather
    than an import because ``process`` stands on this module, not under it.
    """

    def filter(self, record):
        process_module = sys.modules.get('mpref.process')
        if process_module is not None:
            record.processName = process_module.current_process().name
        return True


def get_logger():
    """Return mpref's logger, creating it on first use.

    When created it has level ``NOTSET``, no handler, and does not propagate
    to the root logger -- exactly as the spec describes.
    """
    global _logger
    if _logger is None:
        logging.addLevelName(SUBDEBUG, 'SUBDEBUG')
        logging.addLevelName(SUBWARNING, 'SUBWARNING')
        _logger = logging.getLogger(LOGGER_NAME)
        _logger.propagate = False
        _logger.addFilter(_ProcessNameFilter())
    return _logger


def stderr_logging_settings():
    """What a spawned child needs to log as this process does: whether
    ``log_to_stderr()`` was called, and the logger's level (None: no logger yet)."""
    return _log_to_stderr, (_logger.getEffectiveLevel() if _logger else None)


def has_log_handlers():
    """True if mpref's logger exists and has a handler (no logger is created)."""
    return _logger is not None and bool(_logger.handlers)


class _StderrHandler(logging.StreamHandler):
    """The handler ``log_to_stderr()`` adds: a record it cannot write is lost,
    never raised.

    ``logging`` reports a failed write on stderr, and if stderr itself is
    closed or broken, that report raises -- out of whatever mpref call was
    logging: a pool's result thread would stop, ``Queue.close()`` would never
    tell the feeder to stop, a new lock would leave its semaphore behind.
    """

    def handleError(self, record):
        try:
            super().handleError(record)
        except Exception:
            pass


def log_to_stderr(level=None):
    """Return ``get_logger()`` after adding a handler that writes to stderr.

    The handler uses the spec's format ``[%(levelname)s/%(processName)s] ...``;
    ``level`` (optional) is set on the logger.  Children inherit both: a
    forked child has a copy of the logger, a spawned one repeats this call.
    A second call only sets the level: it adds no second handler (CPython's
    does, and every line would then be written twice).
    """
    global _log_to_stderr, _stderr_handler
    logger = get_logger()
    if _stderr_handler not in logger.handlers:
        _stderr_handler = _StderrHandler()
        _stderr_handler.setFormatter(logging.Formatter(DEFAULT_LOGGING_FORMAT))
        logger.addHandler(_stderr_handler)
    if level:
        logger.setLevel(level)
    _log_to_stderr = True
    return logger


# --------------------------------------------------------------------------
# Finalizers
# --------------------------------------------------------------------------

_finalizer_registry = {}            # (exitpriority, counter) -> Finalize
_finalizer_counter = itertools.count()


class Finalize:
    """Run ``callback(*args, **kwargs)`` exactly once, in the creating process.

    It runs when the finalizer is called directly, when ``obj`` (if given) is
    garbage collected, or -- if ``exitpriority`` is not None -- at process
    exit, higher priorities first and, within a priority, the most recently
    created first.  A forked child inherits a copy of the registry, so each
    finalizer remembers its creator's pid and does nothing anywhere else:
    a child must not unlink the semaphore or delete the directory its parent
    is still using.

    Whatever must happen before a process ends (unlinking a semaphore's
    name, removing a directory, stopping a pool or a manager) needs an
    ``exitpriority``: the exit function runs those while the interpreter is
    whole.  A finalizer without one only releases what the end of the
    process releases anyway (a descriptor, a semaphore handle, a block of an
    arena), so it does not run once the interpreter's shutdown has begun.
    """

    def __init__(self, obj, callback, args=(), kwargs=None, exitpriority=None):
        if obj is None and exitpriority is None:
            raise TypeError('Finalize needs an object to watch or an exitpriority')
        self._weakref = weakref.ref(obj, self) if obj is not None else None
        self._callback = callback
        self._args = args
        self._kwargs = kwargs or {}
        self._key = (exitpriority, next(_finalizer_counter))
        self._pid = os.getpid()
        _finalizer_registry[self._key] = self

    def __call__(self, wr=None, _shutting_down=sys.is_finalizing):
        """Run the callback if it has not run yet; return its result.

        Does nothing during interpreter shutdown, when objects still alive
        (held by a module, or by the current process's arguments) are collected
        while the modules are being emptied: a callback could not count on
        anything it uses -- ``process`` or ``_finalizer_registry`` may
        already be None -- and each run would print "Exception ignored in:
        <Finalize object ...>" to stderr.  (``_shutting_down`` is bound here
        for the same reason.)
        """
        if _shutting_down():
            return None
        try:
            del _finalizer_registry[self._key]
        except KeyError:
            sub_debug('finalizer no longer registered')
            return None
        if self._pid != os.getpid():
            sub_debug('finalizer ignored because created in another process')
            return None
        sub_debug('finalizer calling %s with args %s and kwargs %s',
                  self._callback, self._args, self._kwargs)
        result = self._callback(*self._args, **self._kwargs)
        self._weakref = self._callback = self._args = self._kwargs = self._key = None
        return result

    def cancel(self):
        """Forget the callback without running it."""
        try:
            del _finalizer_registry[self._key]
        except KeyError:
            pass
        else:
            self._weakref = self._callback = self._args = self._kwargs = self._key = None

    def still_active(self):
        """True if the callback has neither run nor been cancelled."""
        return self._key in _finalizer_registry

    def __repr__(self):
        if self._callback is None:
            return '<Finalize object, dead>'
        name = getattr(self._callback, '__name__', self._callback)
        text = '<Finalize object, callback=%s' % name
        if self._args:
            text += ', args=' + str(self._args)
        if self._key[0] is not None:
            text += ', exitpriority=' + str(self._key[0])
        return text + '>'


def run_finalizers(minpriority=None):
    """Run registered finalizers whose exitpriority is >= ``minpriority``.

    With ``minpriority=None`` run every finalizer that has an exitpriority.
    Highest priority first; ties broken newest first.
    """
    if minpriority is None:
        wanted = lambda priority: priority is not None   # noqa: E731
    else:
        wanted = lambda priority: priority is not None and priority >= minpriority  # noqa: E731
    keys = sorted((key for key in list(_finalizer_registry) if wanted(key[0])), reverse=True)
    for key in keys:
        finalizer = _finalizer_registry.get(key)
        if finalizer is None:
            continue
        sub_debug('calling %s', finalizer)
        try:
            finalizer()
        except Exception as exc:
            sub_warning('finalizer %s raised %r', finalizer, exc)
            report_error('mpref: finalizer %r raised:\n' % (finalizer,))


# --------------------------------------------------------------------------
# After-fork hooks
# --------------------------------------------------------------------------

_afterfork_registry = weakref.WeakValueDictionary()   # (counter, id, func) -> obj
_afterfork_counter = itertools.count()


def register_after_fork(obj, func):
    """In every child created by fork, call ``func(obj)`` (if obj still lives)."""
    _afterfork_registry[(next(_afterfork_counter), id(obj), func)] = obj


def run_after_forkers():
    """Run the hooks of ``register_after_fork`` in order (in a new forked child)."""
    for (_, _, func), obj in sorted(list(_afterfork_registry.items()), key=lambda kv: kv[0][0]):
        try:
            func(obj)
        except Exception as exc:
            info('after forker raised exception %s', exc)


# --------------------------------------------------------------------------
# A private temporary directory, removed at exit
# --------------------------------------------------------------------------

_temp_dir = None


def get_temp_dir():
    """Return this process's private temporary directory, creating it once.

    It is removed (with everything in it) when the process exits.
    """
    global _temp_dir
    if _temp_dir is None or _temp_dir[1] != os.getpid():
        # The pid in the name tells whose it is (the test suite's leak check
        # uses it when other processes make mpref temp dirs at the same time).
        path = tempfile.mkdtemp(prefix='mpref-%d-' % os.getpid())
        info('created temp directory %s', path)
        Finalize(None, shutil.rmtree, args=(path,), kwargs={'ignore_errors': True},
                 exitpriority=-100)
        _temp_dir = (path, os.getpid())
    return _temp_dir[0]


# --------------------------------------------------------------------------
# Plumbing shared by the start methods
# --------------------------------------------------------------------------

#: Held while a child is being created.  Creating a child makes a pipe whose
#: write end must reach *only* that child (see ``adopt_sentinel``); if another
#: thread forked at the same moment, its child would inherit the write end
#: too, and the first child's death would go unnoticed until the second died.
start_lock = threading.Lock()

_own_sentinel = None


def adopt_sentinel(fd):
    """Called first thing in a new child with the write end of its sentinel pipe.

    The parent holds the read end; it becomes readable (EOF) when every copy
    of the write end is closed, which is when the child has died -- so the
    parent can wait for "child exited" with ``select``/``poll`` and a timeout.
    The child never writes to it, only keeps it open.  A forked grandchild
    inherits the child's write end, so we close the inherited one here:
    otherwise the grandchild would keep its parent looking alive.
    """
    global _own_sentinel
    if _own_sentinel is not None and _own_sentinel != fd:
        try:
            os.close(_own_sentinel)
        except OSError:
            pass
    _own_sentinel = fd


#: The longest single wait handed to an OS call, in seconds.  ``poll`` and
#: ``epoll`` take milliseconds in a C int (about 24.8 days) and
#: ``sem_timedwait`` an absolute time; a longer timeout is waited in slices.
MAX_WAIT_SLICE = 7 * 86400.0


def check_timeout(timeout, name='timeout'):
    """Check a blocking call's ``timeout`` once, the same way in every call.

    Returns None for "no limit" (``None`` or ``float('inf')``) and otherwise
    the number of seconds as a float; a negative number counts as 0 (do not
    wait), as ``select`` treats it.  Raises ``TypeError`` for anything that
    is not a real number (``bool`` included) and ``ValueError`` for NaN.
    Callers wait in slices of at most ``MAX_WAIT_SLICE`` (see
    ``wait_readable``), so any finite value works, however large.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError('%s must be a number of seconds or None, not %s'
                        % (name, type(timeout).__name__))
    seconds = float(timeout)
    if seconds != seconds:
        raise ValueError('%s must be a number of seconds, not NaN' % name)
    if seconds == float('inf'):
        return None
    return max(seconds, 0.0)


def wait_readable(fd, timeout=None):
    """Wait until ``fd`` is readable (or at EOF); return False on timeout.

    ``timeout`` is checked by ``check_timeout``: None or inf waits with no
    limit.  ``select.poll`` rather than ``select.select`` because the latter
    cannot watch descriptors numbered 1024 or higher.
    """
    import select
    timeout = check_timeout(timeout)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    if timeout is None:
        return bool(poller.poll(None))
    deadline = time.monotonic() + timeout
    while True:
        # One slice at a time: poll's millisecond count is a C int.
        remaining = min(deadline - time.monotonic(), MAX_WAIT_SLICE)
        if poller.poll(max(0, int(remaining * 1000 + 0.999))):
            return True
        if deadline - time.monotonic() <= 0:
            return False


def report_error(heading, exc=None):
    """Write ``heading`` and then the traceback of ``exc`` (by default, of
    the exception being handled) to stderr; never raise.

    Whatever mpref must go on doing after an error reports it this way: the
    threads that work in the background (a queue's feeder thread, a pool's
    result thread), the finalizers at exit, a child that is ending.  If the
    report itself fails -- stderr closed, replaced by something broken, or
    None -- the work must still go on: a feeder thread that died here would
    leave every later ``put`` unsent and its readers waiting for ever.
    """
    import traceback
    if exc is None:
        exc = sys.exc_info()[1]
    try:
        sys.stderr.write(heading)
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    except BaseException:           # even a stream that raises SystemExit
        pass


def write_to_stderr(text):
    """Write ``text`` to stderr; never raise (as ``report_error``)."""
    try:
        sys.stderr.write(text)
    except BaseException:
        pass


def flush_std_streams():
    """Flush stdout and stderr, never raising (a stream that cannot be
    flushed keeps its text): before a fork, and in a child about to exit."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:       # closed, broken, or not a stream at all
            pass


def close_stdin():
    """Replace stdin with /dev/null in a new child (spec 16.6.3.1).

    A child must not compete with its parent for the terminal's input; the
    spec's guideline describes exactly this close-and-reopen.
    """
    if sys.stdin is None:
        return
    try:
        sys.stdin.close()
    except (OSError, ValueError):
        pass
    try:
        sys.stdin = open(os.devnull)
    except (OSError, ValueError):
        pass


@atexit.register
def _run_exit_finalizers():
    # process.py registers its own exit function (terminate daemons, join the
    # rest) which calls run_finalizers itself; this catches processes that
    # import util alone.  Both are idempotent.
    run_finalizers(0)
    run_finalizers()
