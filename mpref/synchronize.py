"""Locks, semaphores, conditions and events between processes (spec 16.6.1.3, 16.6.2.5).

Chapter: ``notebooks/03_synchronization.ipynb``.

Every primitive here stands on one operating-system object, the **POSIX named
semaphore**: a counter that lives in the kernel's shared memory (on Linux a
small file ``/dev/shm/sem.NAME``, mapped into every process that opens it),
reached through the C library with ``ctypes``.  Three layers, read in order:

1. **The C functions** -- ``sem_open``, ``sem_wait``, ``sem_trywait``,
   ``sem_timedwait``, ``sem_post``, ``sem_getvalue``, ``sem_close``,
   ``sem_unlink``, declared once with their C signatures.
2. **SemLock** -- one named semaphore plus the per-process bookkeeping the
   kernel does not keep: which thread of *this* process acquired it last and
   how many times (for ``RLock`` and for the reprs).
3. **The primitives**, clones of ``threading``'s: ``Lock`` and ``RLock`` (a
   semaphore with maximum value 1), ``Semaphore``, ``BoundedSemaphore``,
   ``Condition`` (four semaphores, the same algorithm as CPython) and
   ``Event`` (a condition plus a flag semaphore).

How a primitive reaches another process (the spec's sharing rules, 16.6.3):

* under **fork** the child inherits the mapping: the same semaphore, nothing
  to do;
* under **spawn** the primitive is pickled with the ``Process`` arguments and
  the child re-opens the semaphore *by name* (``SemLock.__setstate__``);
* pickling it at any other time -- into a pipe or a queue -- raises
  ``RuntimeError`` ("better to inherit than pickle"): the receiver would get a
  name that may already be gone, and nothing else.

**Who removes the name from /dev/shm.**  A named semaphore outlives every
process unless someone calls ``sem_unlink``.  The process that *creates* a
semaphore keeps its name linked for as long as the ``SemLock`` object lives
(a spawned child may still need to open it by name) and unlinks it when the
object is garbage collected or, at the latest, when the creating process
exits -- after it has joined its children (``util.Finalize`` with a negative
exitpriority).  Children never unlink a name they did not create, so a
child killed while holding a semaphore leaves nothing behind.  And for a
creator that is itself killed (SIGKILL runs no exit handler -- this is how
Jupyter ends a kernel) a tiny *tracker* process, one per creating process,
watches a pipe from its creator and unlinks whatever names are left when
the pipe closes (``_Tracker``, ``_tracker_main``; CPython's
``resource_tracker`` plays the same part).  Under ``fork`` CPython unlinks
the name at once instead; mpref does not know at creation time whether a
spawned child will need the name, so it keeps one rule for both methods.

The Mac OS X notes of the spec are real code paths, chosen by two switches
detected at import time (and set by the tests to exercise them on Linux):
``HAVE_SEM_TIMEDWAIT`` (without it a timed ``acquire`` is a sleeping loop of
``sem_trywait``) and ``HAVE_SEM_GETVALUE`` (without it value queries raise
``NotImplementedError`` and a ``BoundedSemaphore`` cannot notice
over-release, exactly as the spec warns).
"""

import ctypes
import ctypes.util
import errno
import os
import secrets
import subprocess
import sys
import threading
import time

from . import heap, process, spawn, util

__all__ = ['Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Event',
           'SemLock', 'SEM_VALUE_MAX']

# --------------------------------------------------------------------------
# 1. The C library's POSIX semaphore functions
# --------------------------------------------------------------------------


def _find_libc():
    """The library holding ``sem_open``: libc (glibc >= 2.34, macOS's
    libSystem), or libpthread on older glibc; None: the running program."""
    for name in ('c', 'pthread'):
        path = ctypes.util.find_library(name)
        if hasattr(ctypes.CDLL(path), 'sem_open'):
            return path
    return None


# Two views of the same library.  Through ``_libc`` ctypes saves the C
# ``errno`` after each call for ``ctypes.get_errno()``; that costs about a
# tenth of an uncontended acquire+release, so the two hot calls also exist
# without it (``_fast_sem_wait``, ``_fast_sem_post``), and when one of those
# fails -- rare -- we repeat the call through ``_libc`` to learn why.
_LIBC_PATH = _find_libc()
_libc = ctypes.CDLL(_LIBC_PATH, use_errno=True)
_libc_fast = ctypes.CDLL(_LIBC_PATH, use_errno=False)


class _timespec(ctypes.Structure):
    """``struct timespec``: an absolute CLOCK_REALTIME deadline for sem_timedwait."""
    _fields_ = [('tv_sec', ctypes.c_long), ('tv_nsec', ctypes.c_long)]


def _declare(name, restype, *argtypes, lib=_libc):
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_handle_t = ctypes.c_void_p                    # sem_t *
# sem_open(name, oflag, ...) is variadic: declaring only the two fixed
# arguments and passing mode and value as ctypes objects lets ctypes use the
# variadic calling convention (it differs on Apple Silicon).
_sem_open = _declare('sem_open', _handle_t, ctypes.c_char_p, ctypes.c_int)
_sem_close = _declare('sem_close', ctypes.c_int, _handle_t)
_sem_unlink = _declare('sem_unlink', ctypes.c_int, ctypes.c_char_p)
_sem_wait = _declare('sem_wait', ctypes.c_int, _handle_t)
_sem_trywait = _declare('sem_trywait', ctypes.c_int, _handle_t)
_sem_post = _declare('sem_post', ctypes.c_int, _handle_t)
_fast_sem_wait = _declare('sem_wait', ctypes.c_int, _handle_t, lib=_libc_fast)
_fast_sem_post = _declare('sem_post', ctypes.c_int, _handle_t, lib=_libc_fast)

#: Mac OS X has no sem_timedwait: a timed acquire then becomes a sleeping loop.
HAVE_SEM_TIMEDWAIT = hasattr(_libc, 'sem_timedwait')
if HAVE_SEM_TIMEDWAIT:
    _sem_timedwait = _declare('sem_timedwait', ctypes.c_int, _handle_t, ctypes.POINTER(_timespec))

#: Mac OS X exports sem_getvalue but it always fails (ENOSYS): treat it as missing.
HAVE_SEM_GETVALUE = hasattr(_libc, 'sem_getvalue') and sys.platform != 'darwin'
if hasattr(_libc, 'sem_getvalue'):
    _sem_getvalue = _declare('sem_getvalue', ctypes.c_int, _handle_t, ctypes.POINTER(ctypes.c_int))

_SEM_FAILED = ctypes.c_void_p(-1).value       # sem_open's error result, (sem_t *)-1

try:
    SEM_VALUE_MAX = os.sysconf('SC_SEM_VALUE_MAX')
except (ValueError, OSError):
    SEM_VALUE_MAX = -1
if SEM_VALUE_MAX <= 0:
    SEM_VALUE_MAX = 32767                      # the POSIX minimum; macOS's value

# Runs pending Python signal handlers now; if one raises (SIGINT's raises
# KeyboardInterrupt) ctypes re-raises that exception from this call.
_check_signals = ctypes.pythonapi.PyErr_CheckSignals
_check_signals.restype = ctypes.c_int
_check_signals.argtypes = []

_get_ident = threading.get_ident
_FOREVER = float('inf')          # acquire(timeout=inf) waits as long as it takes, like None


def _raise_errno():
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))


def _open(name, create, value=0):
    """``sem_open`` the semaphore ``name`` (bytes), creating it if ``create``."""
    if create:
        handle = _sem_open(name, os.O_CREAT | os.O_EXCL, ctypes.c_uint(0o600), ctypes.c_uint(value))
    else:
        handle = _sem_open(name, 0)
    if handle is None or handle == _SEM_FAILED:
        err = ctypes.get_errno()
        if create:          # EEXIST: try another name; EINVAL: value out of range
            raise OSError(err, os.strerror(err))
        raise OSError(err, os.strerror(err), name.decode())
    return handle


def _close_and_unlink(handle, name):
    """The creator's finalizer: close our handle, then remove the name."""
    _sem_close(handle)
    if name is not None:
        if _sem_unlink(name.encode()) < 0 and ctypes.get_errno() != errno.ENOENT:
            util.sub_warning('sem_unlink(%r) failed: %s', name, os.strerror(ctypes.get_errno()))
        _tracker.tell('UNREGISTER', name)


def _make_name():
    # At most 31 characters with the slash: macOS's limit for semaphore names.
    return '/mpref-%d-%s' % (os.getpid(), secrets.token_hex(4))


# --------------------------------------------------------------------------
# 1b. The tracker: unlinks the names of a creator that was killed
# --------------------------------------------------------------------------

class _Tracker:
    """The writing end of a pipe to a small process that outlives its creator.

    The creating process tells it each name it creates (``REGISTER``) and
    each name it unlinks itself (``UNREGISTER``).  When the pipe reaches end
    of file -- the creator is gone, *however* it died -- the tracker unlinks
    the names still registered and exits.  This matters because processes do
    get killed: Jupyter's kernel manager (and so ``pytest --nbval``) ends
    every kernel with SIGKILL.

    Each process that creates a semaphore starts its own tracker (the first
    time), so a killed child's names go at once, not when its parent dies;
    a forked child closes its copy of the parent's pipe end.  The tracker
    runs in a new session (a Ctrl-C at the terminal does not reach it) and is
    started through a short-lived intermediate process, so it is nobody's
    child and nobody has to reap it.
    """

    def __init__(self):
        self._fd = None
        self._pid = None
        self._lock = threading.Lock()
        util.register_after_fork(self, _Tracker._after_fork)

    def _after_fork(self):
        # Another thread may have held the lock when we forked.
        self._lock = threading.Lock()
        # The parent's end of its tracker's pipe: while we held it open, the
        # parent's tracker would not see end of file when the parent dies.
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def tell(self, command, name):
        if self._pid != os.getpid():
            if command != 'REGISTER':
                return              # not our tracker: the parent's business
            self._start()
        if self._fd is not None:
            try:
                os.write(self._fd, ('%s %s\n' % (command, name)).encode())
            except OSError:
                pass                # the tracker is gone: nothing more we can do

    def _start(self):
        with self._lock:
            if self._pid == os.getpid():
                return
            if self._fd is not None:
                os.close(self._fd)  # inherited from a parent by a bare os.fork()
                self._fd = None
            self._pid = os.getpid()
            r, w = os.pipe()
            package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            code = ('import os, sys; sys.path.insert(0, %r)\n'
                    'if os.fork(): os._exit(0)\n'          # the intermediate leaves at once
                    'from mpref.synchronize import _tracker_main; _tracker_main(%d)'
                    % (package_parent, r))
            try:
                subprocess.run([sys.executable, '-c', code], pass_fds=(r,),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True,
                               check=True, timeout=60)
            except (OSError, subprocess.SubprocessError) as exc:
                util.sub_warning('cannot start the semaphore tracker: %s', exc)
                os.close(w)
                return
            finally:
                os.close(r)
            self._fd = w


_tracker = _Tracker()


def _tracker_main(fd):
    """The tracker process: collect names until end of file, then unlink the rest."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    names = set()
    with open(fd, 'rb') as pipe:
        for line in pipe:
            command, name = line.decode().split()
            if command == 'REGISTER':
                names.add(name)
            else:
                names.discard(name)
    for name in names:
        _sem_unlink(name.encode())


# --------------------------------------------------------------------------
# 2. SemLock: one named semaphore and this process's view of it
# --------------------------------------------------------------------------

SEMAPHORE, RECURSIVE_MUTEX = 0, 1              # the two kinds, as in CPython


class SemLock:
    """A process-shared semaphore with threading-style ``acquire``/``release``.

    ``kind`` is ``SEMAPHORE`` or ``RECURSIVE_MUTEX``; ``maxvalue`` bounds the
    value for ``release`` (``SEM_VALUE_MAX`` means unbounded).  Besides the
    kernel's counter, each process keeps ``_count`` (acquisitions made in this
    process and not yet released) and ``_owner`` (the thread ident that
    acquired last): together they answer "do I hold it?" (``_is_mine``), which
    the kernel cannot.  A forked child starts with ``_count = 0``: it holds
    nothing, whatever its parent held (``_after_fork``).
    """

    def __init__(self, kind, value, maxvalue):
        if value > SEM_VALUE_MAX:
            # ctypes would silently cut a bigger number to 32 bits.
            raise ValueError('semaphore value %d is too large: this system allows at most '
                             'SEM_VALUE_MAX = %d' % (value, SEM_VALUE_MAX))
        for _ in range(100):
            name = _make_name()
            try:
                handle = _open(name.encode(), True, value)
            except FileExistsError:
                continue
            break
        else:
            raise FileExistsError('cannot find an unused name for a semaphore')
        util.debug('created semlock %s', name)
        _tracker.tell('REGISTER', name)
        self._setup(handle, kind, maxvalue, name)
        # The name stays until this object is collected or this process exits
        # after joining its children (module docstring: who unlinks).
        self._finalizer = util.Finalize(self, _close_and_unlink, (handle, name), exitpriority=-10)

    def _setup(self, handle, kind, maxvalue, name):
        self._handle = handle
        self._kind = kind
        self._maxvalue = maxvalue
        self._name = name
        self._count = 0
        self._owner = None
        util.register_after_fork(self, SemLock._after_fork)

    def _after_fork(self):
        self._count = 0
        self._owner = None

    # -- acquire / release -----------------------------------------------------

    def acquire(self, block=True, timeout=None):
        """Decrement the semaphore, waiting while it is zero; return True.

        ``block=False``: do not wait, return False if it is zero.  A
        ``timeout`` (seconds) bounds the wait; on expiry return False.  A
        signal handler that raises (SIGINT's ``KeyboardInterrupt``) interrupts
        the wait at once.
        """
        if block and (timeout is None or timeout == _FOREVER):
            # The fast path: one C call (ctypes releases the GIL while it waits).
            if _fast_sem_wait(self._handle):
                self._wait_again()
        elif not self._acquire_slow(block, timeout):
            return False
        # Owner before count: a thread asking "is it mine?" reads the count
        # first, so it never pairs our new count with its own stale ident.
        self._owner = _get_ident()
        self._count += 1
        return True

    def release(self):
        """Increment the semaphore, waking one waiter.

        A bounded semaphore (``maxvalue`` below ``SEM_VALUE_MAX``, e.g. a
        ``Lock``) at its maximum raises ``ValueError`` instead.
        """
        if self._maxvalue < SEM_VALUE_MAX:
            self._check_not_full()
        # Bookkeeping first, then sem_post: the moment the semaphore rises,
        # a thread of ours waiting in sem_wait may wake and count its own
        # acquisition, which a late update here would overwrite.
        self._count -= 1
        if _fast_sem_post(self._handle):
            _post_again(self._handle)

    def _wait_again(self):
        # The fast sem_wait failed: almost surely EINTR, a signal arrived.
        # Run the signal handlers (SIGINT's raises KeyboardInterrupt), then
        # wait through the errno-saving function, which can tell EINTR apart.
        _check_signals()
        while _sem_wait(self._handle):
            _interrupted()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()

    def _acquire_slow(self, block, timeout):
        """Non-blocking or timed acquire; True if it succeeded."""
        if timeout != timeout:
            raise ValueError('timeout must be a number of seconds, not NaN')
        if not block or timeout <= 0:
            return self._try()
        if HAVE_SEM_TIMEDWAIT:
            deadline = time.time() + timeout
            when = _timespec(int(deadline), int((deadline % 1) * 1e9))
            while _sem_timedwait(self._handle, when):
                if ctypes.get_errno() == errno.ETIMEDOUT:
                    return False
                _interrupted()
            return True
        # The spec's Mac OS X path: try, sleep a little, try again.  The naps
        # grow to 20 ms, so a long wait costs little CPU and a short one
        # little delay; signal handlers get their turn between naps.
        deadline = time.monotonic() + timeout
        nap = 0.001
        while not self._try():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(nap, remaining))
            nap = min(nap * 2, 0.02)
            _check_signals()
        return True

    def _try(self):
        if _sem_trywait(self._handle) == 0:
            return True
        if ctypes.get_errno() != errno.EAGAIN:
            _raise_errno()
        return False

    def _check_not_full(self):
        if HAVE_SEM_GETVALUE:
            if self._get_value() >= self._maxvalue:
                raise ValueError('semaphore or lock released too many times')
        elif self._maxvalue == 1:
            # Without sem_getvalue a lock can still be checked: if we can take
            # it, it was not held -- put it back and complain.
            if self._try():
                _sem_post(self._handle)
                raise ValueError('semaphore or lock released too many times')
        # else: the spec's Mac OS X note -- a BoundedSemaphore cannot tell.

    # -- queries ---------------------------------------------------------------

    def _get_value(self):
        """The semaphore's current value (NotImplementedError without sem_getvalue)."""
        if not HAVE_SEM_GETVALUE:
            raise NotImplementedError('sem_getvalue() is not implemented on this platform')
        value = ctypes.c_int()
        if _sem_getvalue(self._handle, value):
            _raise_errno()
        # Linux may report waiters as a negative value; a count is never below 0.
        return max(value.value, 0)

    def _is_zero(self):
        """True if an acquire would block now (works without sem_getvalue too)."""
        if HAVE_SEM_GETVALUE:
            return self._get_value() == 0
        if self._try():
            _sem_post(self._handle)
            return False
        return True

    def _is_mine(self):
        """Does the calling thread of this process hold it?"""
        return self._count > 0 and self._owner == _get_ident()

    def _owner_name(self):
        """The owner as CPython's reprs show it."""
        if self._is_mine():
            name = process.current_process().name
            if threading.current_thread().name != 'MainThread':
                name += '|' + threading.current_thread().name
            return name
        if self._get_value() == 1:
            return 'None'
        if self._count > 0:
            return 'SomeOtherThread'
        return 'SomeOtherProcess'

    # -- travelling to a spawned child ------------------------------------------

    def __getstate__(self):
        spawn.assert_spawning(self)
        return (self._name, self._kind, self._maxvalue)

    def __setstate__(self, state):
        name, kind, maxvalue = state
        handle = _open(name.encode(), False)
        util.debug('re-opened semlock %s', name)
        self._setup(handle, kind, maxvalue, name)
        # Not the creator: close our handle when done, never unlink the name.
        self._finalizer = util.Finalize(self, _close_and_unlink, (handle, None))


def _post_again(handle):
    """The fast sem_post failed (EOVERFLOW or EINVAL, conditions that last):
    repeat it through the errno-saving function to raise the right OSError."""
    if _sem_post(handle):
        _raise_errno()


def _interrupted():
    """A semaphore call failed: run signal handlers on EINTR, else raise OSError."""
    if ctypes.get_errno() != errno.EINTR:
        _raise_errno()
    _check_signals()      # raises KeyboardInterrupt (or whatever a handler raises)


# --------------------------------------------------------------------------
# 3. The primitives: clones of threading's
# --------------------------------------------------------------------------

class Semaphore(SemLock):
    """A counting semaphore: a clone of ``threading.Semaphore`` across processes."""

    def __init__(self, value=1):
        SemLock.__init__(self, SEMAPHORE, value, SEM_VALUE_MAX)

    def get_value(self):
        """The current value (beyond the spec; NotImplementedError on macOS)."""
        return self._get_value()

    def __repr__(self):
        try:
            value = self._get_value()
        except Exception:
            value = 'unknown'
        return '<%s(value=%s)>' % (type(self).__name__, value)


class BoundedSemaphore(Semaphore):
    """A semaphore that refuses to be released above its initial value.

    Over-release raises ``ValueError``.  (Without ``sem_getvalue`` -- Mac OS X
    -- it cannot check, and behaves like ``Semaphore``, as the spec says.)
    """

    def __init__(self, value=1):
        SemLock.__init__(self, SEMAPHORE, value, value)

    def __repr__(self):
        try:
            value = self._get_value()
        except Exception:
            value = 'unknown'
        return '<%s(value=%s, maxvalue=%s)>' % (type(self).__name__, value, self._maxvalue)


class Lock(SemLock):
    """A non-recursive lock: a semaphore with value and maximum 1.

    Like ``threading.Lock``, any thread or process may release it; releasing
    it when unlocked raises ``ValueError`` (as CPython's multiprocessing does;
    ``threading`` raises ``RuntimeError``).

    The over-release check costs a C call (``sem_getvalue``), a third of
    ``with lock:``.  The usual release -- by the thread that acquired the
    lock -- can skip it, because this process *knows* it holds the lock...
    unless another process released it meanwhile (a hand-off: acquired
    here, released there), which this process cannot see.  So every Lock
    has one byte of shared memory, ``_handed_off``, set by the first release
    that does not come from the acquiring thread; from then on every release
    of that lock is checked.
    """

    def __init__(self):
        SemLock.__init__(self, SEMAPHORE, 1, 1)
        self._flag_block = heap.BufferWrapper(1)
        self._handed_off = self._flag_block.create_memoryview()

    def release(self):
        if self._count > 0 and self._owner == _get_ident():
            if self._handed_off[0]:
                self._check_not_full()
        else:
            self._check_not_full()
            self._handed_off[0] = 1      # released by someone else: check from now on
        self._count = 0          # a lock is held once or not at all; before the post (see SemLock.release)
        if _fast_sem_post(self._handle):
            _post_again(self._handle)

    def __getstate__(self):
        return SemLock.__getstate__(self), self._flag_block

    def __setstate__(self, state):
        semlock_state, self._flag_block = state
        SemLock.__setstate__(self, semlock_state)
        self._handed_off = self._flag_block.create_memoryview()

    def __repr__(self):
        try:
            owner = self._owner_name()
        except Exception:
            owner = 'unknown'
        return '<%s(owner=%s)>' % (type(self).__name__, owner)


class RLock(SemLock):
    """A recursive lock: its owner (a thread of one process) may acquire it again.

    Each ``acquire`` by the owner must be matched by a ``release``; only the
    last one releases the semaphore.  A release by anyone but the owner raises
    ``AssertionError``, as in CPython's multiprocessing.
    """

    def __init__(self):
        SemLock.__init__(self, RECURSIVE_MUTEX, 1, 1)

    def acquire(self, block=True, timeout=None):
        if self._count > 0 and self._owner == _get_ident():
            self._count += 1             # already ours: no semaphore call at all
            return True
        return SemLock.acquire(self, block, timeout)

    def release(self):
        if not (self._count > 0 and self._owner == _get_ident()):
            raise AssertionError('attempt to release recursive lock not owned by thread')
        if self._count > 1:
            self._count -= 1
            return
        # We hold it, so it is at 0: no over-release check needed.
        self._count = 0          # before the post (see SemLock.release)
        if _fast_sem_post(self._handle):
            _post_again(self._handle)

    def __repr__(self):
        try:
            if self._is_mine():
                owner, count = self._owner_name(), self._count
            elif self._get_value() == 1:
                owner, count = 'None', 0
            elif self._count > 0:
                owner, count = 'SomeOtherThread', 'nonzero'
            else:
                owner, count = 'SomeOtherProcess', 'nonzero'
        except Exception:
            owner, count = 'unknown', 'unknown'
        return '<%s(%s, %s)>' % (type(self).__name__, owner, count)


class Condition:
    """A condition variable: a clone of ``threading.Condition`` across processes.

    ``lock`` must be an mpref ``Lock`` or ``RLock`` (default: a new ``RLock``).
    Processes share no memory, so the waiters are counted in semaphores
    rather than kept in a list (CPython's algorithm):

    * ``_sleeping_count`` -- released once by each waiter going to sleep;
    * ``_wait_semaphore`` -- released by ``notify`` once per waiter to wake;
    * ``_woken_count`` -- released by each waiter as it wakes (notified or
      timed out), so ``notify`` can wait until its sleepers are really awake.
    """

    def __init__(self, lock=None):
        if lock is None:
            lock = RLock()
        elif not isinstance(lock, (Lock, RLock)):
            # A threading lock would fail only later, in wait(), and could
            # never be shared with another process anyway.
            raise TypeError('Condition(lock): lock must be an mpref Lock or RLock, not %s'
                            % type(lock).__name__)
        self._lock = lock
        self._sleeping_count = Semaphore(0)
        self._woken_count = Semaphore(0)
        self._wait_semaphore = Semaphore(0)
        self._make_methods()

    def _make_methods(self):
        self.acquire = self._lock.acquire
        self.release = self._lock.release

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *exc_info):
        return self._lock.__exit__(*exc_info)

    def wait(self, timeout=None):
        """Release the lock, sleep until notified or ``timeout``, re-acquire.

        Returns False if the timeout expired, True otherwise.  The caller must
        hold the lock; a recursive lock is released completely and then
        re-acquired as many times as it was held.
        """
        assert self._lock._is_mine(), 'must acquire() condition before using wait()'
        self._sleeping_count.release()          # "one more sleeper"
        count = self._lock._count
        for _ in range(count):
            self._lock.release()
        try:
            return self._wait_semaphore.acquire(True, timeout)
        finally:
            # Even when interrupted or timed out: tell notify() we are awake.
            self._woken_count.release()
            for _ in range(count):
                self._lock.acquire()

    def wait_for(self, predicate, timeout=None):
        """Wait until ``predicate()`` is true (or the timeout); return its last value.

        Beyond the spec (Python 3.2).
        """
        result = predicate()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not result:
            waittime = None
            if deadline is not None:
                waittime = deadline - time.monotonic()
                if waittime <= 0:
                    break
            self.wait(waittime)
            result = predicate()
        return result

    def notify(self, n=1):
        """Wake up to ``n`` waiting processes/threads; the caller must hold the lock."""
        assert self._lock._is_mine(), 'lock is not owned'
        assert not self._wait_semaphore.acquire(False), \
            'notify: should not have been able to acquire _wait_semaphore'
        # Waiters that timed out since the last notify are both "sleeping" and
        # "woken": cancel them out so we do not wake someone who left.
        while self._woken_count.acquire(False):
            res = self._sleeping_count.acquire(False)
            assert res, 'notify: bug in sleeping_count.acquire'
        sleepers = 0
        while sleepers < n and self._sleeping_count.acquire(False):
            self._wait_semaphore.release()
            sleepers += 1
        if sleepers:
            for _ in range(sleepers):
                self._woken_count.acquire()     # wait until that sleeper is up
            # A sleeper that timed out meanwhile left its wake-up unused: take it back.
            while self._wait_semaphore.acquire(False):
                pass

    def notify_all(self):
        """Wake every waiter; the caller must hold the lock."""
        self.notify(n=sys.maxsize)

    notifyAll = notify_all                      # the spec's (threading's) old name

    def __repr__(self):
        try:
            waiters = self._sleeping_count._get_value() - self._woken_count._get_value()
        except Exception:
            waiters = 'unknown'
        return '<%s(%s, %s)>' % (type(self).__name__, self._lock, waiters)

    def __getstate__(self):
        spawn.assert_spawning(self)
        return (self._lock, self._sleeping_count, self._woken_count, self._wait_semaphore)

    def __setstate__(self, state):
        self._lock, self._sleeping_count, self._woken_count, self._wait_semaphore = state
        self._make_methods()


class Event:
    """A flag processes can wait for: a clone of ``threading.Event``.

    The flag is a semaphore holding 0 or 1, guarded by a condition whose
    lock makes "test the flag, then sleep" one step.
    """

    def __init__(self):
        self._cond = Condition(Lock())
        self._flag = Semaphore(0)

    def is_set(self):
        """True if the flag is set."""
        with self._cond:
            if self._flag.acquire(False):
                self._flag.release()
                return True
            return False

    isSet = is_set                              # the spec's (threading's) old name

    def set(self):
        """Set the flag and wake every waiter."""
        with self._cond:
            self._flag.acquire(False)
            self._flag.release()
            self._cond.notify_all()

    def clear(self):
        """Reset the flag."""
        with self._cond:
            self._flag.acquire(False)

    def wait(self, timeout=None):
        """Block until the flag is set or ``timeout`` expires; return the flag."""
        with self._cond:
            if self._flag.acquire(False):
                self._flag.release()
            else:
                self._cond.wait(timeout)
            if self._flag.acquire(False):
                self._flag.release()
                return True
            return False

    def __repr__(self):
        return '<%s at %#x %s>' % (type(self).__qualname__, id(self),
                                   'set' if self.is_set() else 'unset')

    def __getstate__(self):
        spawn.assert_spawning(self)
        return (self._cond, self._flag)

    def __setstate__(self, state):
        self._cond, self._flag = state
