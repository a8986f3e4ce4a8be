"""Locks, semaphores, conditions and events between processes (spec 16.6.1.3, 16.6.2.5).

Chapter: ``notebooks/03_synchronization.ipynb``.

Every primitive here stands on one operating-system object, the **POSIX named
semaphore**: a counter that lives in the kernel's shared memory (on Linux a
small file ``/dev/shm/sem.NAME``, mapped into every process that opens it),
reached through the C library with ``ctypes``.  Four layers, read in order:

1. **The C functions** -- ``sem_open``, ``sem_wait``, ``sem_trywait``,
   ``sem_timedwait``, ``sem_post``, ``sem_getvalue``, ``sem_close``,
   ``sem_unlink`` (and ``pthread_sigmask``), declared once with their C
   signatures.
2. **Holding back signals** in the main thread while a primitive changes
   state (below: *asynchronous exceptions*).
3. **SemLock** -- one named semaphore plus the per-process bookkeeping the
   kernel does not keep: which thread of *this* process acquired it last and
   how many times (for ``RLock``, ``Condition`` and the reprs).
4. **The primitives**, clones of ``threading``'s: ``Lock`` and ``RLock`` (a
   semaphore with maximum value 1), ``Semaphore``, ``BoundedSemaphore``,
   ``Condition`` (four semaphores, CPython's algorithm, plus a table of
   waiting processes) and ``Event`` (a condition plus a flag semaphore).

How a primitive reaches another process (the spec's sharing rules, 16.6.3):

* under **fork** the child inherits the mapping: the same semaphore, nothing
  to do;
* under **spawn** the primitive is pickled with the ``Process`` arguments and
  the child re-opens the semaphore *by name* (``SemLock.__setstate__``);
* pickling it at any other time -- into a pipe or a queue -- raises
  ``RuntimeError`` ("better to inherit than pickle"): the receiver would get a
  name that may already be gone, and nothing else.

**Asynchronous exceptions.**  Python runs signal handlers in the main thread,
between bytecodes; SIGINT's raises ``KeyboardInterrupt``.  Landing between
``sem_wait`` and the bookkeeping after it, such an exception would leave a
semaphore taken that nobody owns (and ``with lock:`` would never release
it).  So in the main thread ``acquire`` (and the changes of ``Condition``
that take several steps) run with the signals *held back*
(``pthread_sigmask``; ``_defer_signals``, ``_allow_signals``; SIGTERM only
while it has a handler: at its default action it runs none, and ``terminate()``
must still end the process): they stay pending in the kernel, and their
handlers run when the mask is restored -- after the change, or, in
``acquire``, after it was undone.  ``release`` needs no holding back: its
checks change nothing, and its change (bookkeeping, then ``sem_post``) has no point in between where a handler
could run; a handler that raises during its checks does not stop it
releasing.  A blocking wait holds signals back too, but only for
``_SIGNAL_SLICE`` at a time: between slices it lets them in
(``_let_signals_in``), so Ctrl-C still interrupts a blocked ``acquire()``
at once, to the eye.  What remains: a handler that runs at the very first
instruction of ``__exit__`` leaves the lock held by its owner, as with any
context manager written in Python; and a signal that the kernel gives to
*another* thread while the main thread holds them back is still handled in
the main thread at its next bytecode.  Where mpref itself takes a lock on
the caller's behalf (``Event``, the queues, synchronized shared values),
the first residue would leave it held for good, so there the whole block is
held back (``signals_held_back``), and mpref's own threads (a queue's feeder)
block signals, so that the kernel never gives one to them.

**Who removes the name from /dev/shm.**  A named semaphore outlives every
process unless someone calls ``sem_unlink``.  The process that *creates* a
semaphore keeps its name linked for as long as the ``SemLock`` object lives
(a spawned child may still need to open it by name) and unlinks it when the
object is garbage collected or, at the latest, when the creating process
exits -- after it has joined its children (``util.Finalize`` with a negative
exitpriority).  Children never unlink a name they did not create, so a
child killed while holding a semaphore leaves nothing behind.  A creator
that is itself killed runs no exit handler: its ``semaphore_tracker``
process unlinks what is left.  Under ``fork`` CPython unlinks the name at
once instead; mpref does not know at creation time whether a spawned child
will need the name, so it keeps one rule for both methods.

The Mac OS X notes of the spec are real code paths, chosen by two switches
detected at import time (and set by the tests to exercise them on Linux):
``HAVE_SEM_TIMEDWAIT`` (without it a timed ``acquire`` is a sleeping loop of
``sem_trywait``) and ``HAVE_SEM_GETVALUE`` (without it value queries raise
``NotImplementedError`` and a ``BoundedSemaphore`` cannot notice
over-release, exactly as the spec warns).
"""

import ctypes
import errno
import os
import secrets
import signal
import sys
import threading
import time

from . import heap, process, spawn, util
from .semaphore_tracker import LIBRARY_PATH, Tracker

__all__ = ['Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Event',
           'SemLock', 'SEM_VALUE_MAX']

# --------------------------------------------------------------------------
# 1. The C library's POSIX semaphore functions
# --------------------------------------------------------------------------

# Two views of the same library.  Through ``_libc`` ctypes saves the C
# ``errno`` after each call for ``ctypes.get_errno()``; that costs about a
# tenth of an uncontended acquire+release, so the hot calls also exist
# without it (``_fast_...``), and when one of those fails we repeat the call
# through ``_libc`` to learn why (or, for a failed try, simply wait).
_libc = ctypes.CDLL(LIBRARY_PATH, use_errno=True)
_libc_fast = ctypes.CDLL(LIBRARY_PATH, use_errno=False)


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
_fast_sem_trywait = _declare('sem_trywait', ctypes.c_int, _handle_t, lib=_libc_fast)
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


def _raise_errno():
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))


def _unless_interrupted():
    """A semaphore call failed: EINTR means "try again" (the Python handler of
    the signal runs in the main thread, see ``_let_signals_in``); any other
    error raises OSError."""
    if ctypes.get_errno() != errno.EINTR:
        _raise_errno()


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
    """The creator's finalizer: close our handle, then remove the name.

    At exit the handle is left open: a daemonic thread (a queue's feeder
    thread, say) may still be inside ``sem_wait`` or ``sem_post`` on it, and
    ``sem_close`` would unmap the memory under that thread -- a crash at
    shutdown.  The end of the process releases the handle anyway.
    """
    if not process.is_exiting():
        _sem_close(handle)
    if name is not None:
        if _sem_unlink(name.encode()) < 0 and ctypes.get_errno() != errno.ENOENT:
            util.sub_warning('sem_unlink(%r) failed: %s', name, os.strerror(ctypes.get_errno()))
        _tracker.tell('UNREGISTER', name)


def _make_name():
    # At most 31 characters with the slash: macOS's limit for semaphore names.
    return '/mpref-%d-%s' % (os.getpid(), secrets.token_hex(4))


#: This process's end of the pipe to its ``semaphore_tracker``.
_tracker = Tracker()

# --------------------------------------------------------------------------
# 2. Holding back signals in the main thread (module docstring)
# --------------------------------------------------------------------------

# Called through the running program (which has libc loaded) rather than
# signal.pthread_sigmask: that one runs the pending handlers as it returns,
# which is exactly what must not happen in the middle of a change.
_pthread_sigmask = _declare('pthread_sigmask', ctypes.c_int, ctypes.c_int, ctypes.c_void_p,
                            ctypes.c_void_p, lib=ctypes.CDLL(None))
_sigset_t = ctypes.c_ubyte * 256               # bigger than any sigset_t (glibc's: 128 bytes)


def _asynchronous_signals(left_out=()):
    """Every signal except those the kernel sends for a fault in the thread
    itself (blocking those would turn a crash report into a silent kill) and
    except ``left_out``."""
    sigset = _sigset_t()
    libc = ctypes.CDLL(None)
    libc.sigfillset(ctypes.byref(sigset))
    for name in ('SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGTRAP', 'SIGABRT'):
        libc.sigdelset(ctypes.byref(sigset), getattr(signal, name))
    for signum in left_out:
        libc.sigdelset(ctypes.byref(sigset), signum)
    return sigset


#: Signals whose default action ends the process.  While one of them has no
#: Python handler (its default action, or ignored), no Python code can run
#: for it, so holding it back protects nothing -- and would keep
#: ``Process.terminate()`` (SIGTERM) from ending a process stuck in a wait
#: that cannot be cut into slices (a reader waiting for the rest of a message
#: whose writer was killed).  Those are left out of the mask.
_ENDING_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
_masks = {}     # which of _ENDING_SIGNALS have a Python handler -> the set to block


def _signals_to_hold_back():
    """The set ``_defer_signals`` blocks: every asynchronous signal that may
    run a Python handler now (four ``getsignal`` calls, then a cached set)."""
    handled = tuple(callable(signal.getsignal(signum)) for signum in _ENDING_SIGNALS)
    mask = _masks.get(handled)
    if mask is None:
        mask = _masks[handled] = _asynchronous_signals(
            [signum for signum, has_handler in zip(_ENDING_SIGNALS, handled) if not has_handler])
    return mask


_held_mask = None                              # what the main thread blocks while holding back
_saved_mask = _sigset_t()                      # the main thread's mask before we held back
_deferring = 0                                 # how deeply the main thread holds them back
_main_thread = threading.main_thread().ident
#: A blocking wait in the main thread lets signals in this often (seconds).
_SIGNAL_SLICE = 0.05


def _after_fork_in_child():
    # The forking thread is the child's main thread, with its own mask.
    global _main_thread, _deferring
    _main_thread = _get_ident()
    _deferring = 0


os.register_at_fork(after_in_child=_after_fork_in_child)


def _defer_signals():
    """In the main thread, start holding signals back and return True; elsewhere
    (no handler ever runs there) do nothing and return False.  Nests."""
    global _deferring, _held_mask
    if _get_ident() != _main_thread:
        return False
    if _deferring == 0:             # before counting: a handler may still run here
        _held_mask = _signals_to_hold_back()
    _deferring += 1
    if _deferring == 1:
        try:
            _pthread_sigmask(signal.SIG_BLOCK, _held_mask, _saved_mask)
        except BaseException:       # a handler of an earlier signal ran just now
            _allow_signals()
            raise
    return True


def _allow_signals():
    """End ``_defer_signals``; the outermost end restores the mask, and the
    handlers of what arrived meanwhile run as this returns (and may raise)."""
    global _deferring
    _deferring -= 1
    if _deferring == 0:
        _pthread_sigmask(signal.SIG_SETMASK, _saved_mask, None)


def _holding_back():
    """True in the main thread while it holds signals back."""
    return _deferring > 0 and _get_ident() == _main_thread


class _SignalsHeldBack:
    """``with signals_held_back:`` -- ``_defer_signals`` to ``_allow_signals``
    as a block, for mpref's own code that takes a primitive and lets it go
    again on the caller's behalf (``Event``, the queues).  A ``with lock:``
    alone would leave the lock held for ever if a signal's exception landed
    at the first instruction of ``release``, and the caller, who wrote no
    ``with``, could never release it.  Inside the block no handler runs
    (blocking waits still let signals in between their slices); what
    arrived meanwhile is handled when the block ends, after the release."""

    def __enter__(self):
        _defer_signals()

    def __exit__(self, *exc_info):
        if _get_ident() == _main_thread:
            _allow_signals()


signals_held_back = _SignalsHeldBack()


def _let_signals_in():
    """Between two slices of a blocking wait in the main thread: run the
    handlers of pending signals (an exception propagates: the wait has taken
    nothing), then hold signals back again."""
    try:
        _pthread_sigmask(signal.SIG_SETMASK, _saved_mask, None)
        _check_signals()
    finally:
        _pthread_sigmask(signal.SIG_BLOCK, _held_mask, None)

# --------------------------------------------------------------------------
# 3. SemLock: one named semaphore and this process's view of it
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

    The public methods hold signals back (module docstring) around the
    private ones, which do the work: ``_acquire``/``_release`` (semaphore
    and bookkeeping), ``_take``/``_post`` (the semaphore alone).
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

        ``block=False``: do not wait (``timeout`` is then ignored), return
        False if it is zero.  ``timeout`` (seconds, ``util.check_timeout``:
        None or ``inf`` = no limit, negative = do not wait) bounds the wait;
        on expiry return False.  A signal handler that raises (SIGINT's
        ``KeyboardInterrupt``) interrupts the wait at once; whenever such an
        exception leaves ``acquire``, nothing was acquired.
        """
        if block and timeout is not None:
            timeout = util.check_timeout(timeout)
        if not _defer_signals():
            return self._acquire(block, timeout)
        try:
            acquired = self._acquire(block, timeout)
        except BaseException:
            _allow_signals()
            raise
        try:
            _allow_signals()             # handlers of signals that came meanwhile run here
        except BaseException:
            if acquired:
                self._unacquire()        # the exception says "not acquired": make it true
            raise
        return acquired

    # ``with`` calls acquire itself: no extra frame at whose start a
    # signal's exception could slip in after the lock was taken.
    __enter__ = acquire

    def release(self, *_exc_info):
        """Increment the semaphore, waking one waiter.

        A bounded semaphore (``maxvalue`` below ``SEM_VALUE_MAX``, e.g. a
        ``Lock``) at its maximum raises ``ValueError`` instead.  (It also
        serves as ``__exit__``, whose three arguments it ignores.)
        """
        # No need to hold signals back here (two system calls saved): the
        # checks change nothing, and the change -- bookkeeping, then
        # sem_post -- is written out below with nothing between the two
        # where Python could run a handler: no call, no jump taken
        # (Python 3.10 runs handlers at jumps too).
        try:
            count = self._count_after_release()   # misuse raises ValueError/AssertionError
            post = count == 0 or self._kind == SEMAPHORE
        except (ValueError, AssertionError):
            raise
        except BaseException:
            # A handler raised before anything changed.  We are inside
            # release(), so release even so (checking again), then let it go on.
            self._commit_release(self._count_after_release())
            raise
        self._count = count
        if post and _fast_sem_post(self._handle) and _sem_post(self._handle):
            _raise_errno()

    # ``with`` calls release itself: one frame fewer at whose start a
    # signal's exception would leave the lock held.
    __exit__ = release

    def _acquire(self, block, timeout, interruptible=True):
        """Take the semaphore and note it in the bookkeeping; True if taken."""
        # self._take(), written out: this is the hottest path of all.
        if _fast_sem_trywait(self._handle) and not (block and self._wait(timeout, interruptible)):
            return False
        # Owner before count: a thread asking "is it mine?" reads the count
        # first, so it never pairs our new count with its own stale ident.
        self._owner = _get_ident()
        self._count += 1
        return True

    def _count_after_release(self):
        """Check that a release is allowed (``ValueError`` if a bounded
        semaphore is at its maximum); return this process's count after it."""
        if self._maxvalue < SEM_VALUE_MAX:
            self._check_not_full()
        return self._count - 1

    def _commit_release(self, count):
        """The change of ``release``, as it writes it out itself."""
        # Bookkeeping first, then sem_post: the moment the semaphore rises,
        # a thread of ours waiting in sem_wait may wake and count its own
        # acquisition, which a late update here would overwrite.
        post = count == 0 or self._kind == SEMAPHORE
        self._count = count
        if post and _fast_sem_post(self._handle) and _sem_post(self._handle):
            _raise_errno()

    def _unacquire(self):
        """Undo the ``_acquire`` just made (its caller was interrupted)."""
        self._commit_release(self._count - 1)

    def _release_save(self):
        """For ``Condition.wait``: let go of the lock however many times this
        thread holds it; return that number."""
        count, self._count = self._count, 0
        self._post()
        return count

    def _acquire_restore(self, count):
        """For ``Condition.wait``: take the lock back, held ``count`` times.
        Not interruptible: ``wait`` must leave the lock as it found it."""
        self._take(True, None, interruptible=False)
        self._owner = _get_ident()
        self._count = count

    # -- the semaphore alone -----------------------------------------------------

    def _take(self, block=True, timeout=None, interruptible=True):
        """Decrement the semaphore if it is above zero, else wait (if
        ``block``) up to ``timeout``; True if decremented."""
        if _fast_sem_trywait(self._handle) == 0:
            return True            # the usual case: nobody holds it
        return block and self._wait(timeout, interruptible)

    def _post(self):
        """Increment the semaphore (if the errno-free call fails -- EOVERFLOW,
        a condition that lasts -- repeat it through ``_libc`` to say why)."""
        if _fast_sem_post(self._handle) and _sem_post(self._handle):
            _raise_errno()

    def _try(self):
        if _sem_trywait(self._handle) == 0:
            return True
        if ctypes.get_errno() != errno.EAGAIN:
            _raise_errno()
        return False

    def _wait(self, timeout, interruptible=True):
        """Wait until the semaphore can be decremented and do it; False on timeout.

        In the main thread, with signals held back, the wait goes in slices
        of ``_SIGNAL_SLICE`` and lets them in between (``interruptible``);
        elsewhere in slices of ``util.MAX_WAIT_SLICE`` (any finite timeout works).
        """
        held_back = _holding_back()
        if timeout is None and not (held_back and interruptible):
            while _sem_wait(self._handle):
                _unless_interrupted()
            return True
        step = _SIGNAL_SLICE if held_back and interruptible else util.MAX_WAIT_SLICE
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            seconds = step if deadline is None else min(deadline - time.monotonic(), step)
            if seconds <= 0:
                return False
            if self._timed_wait(seconds):
                return True
            if held_back and interruptible:
                _let_signals_in()

    def _timed_wait(self, seconds):
        if HAVE_SEM_TIMEDWAIT:
            deadline = time.time() + seconds       # sem_timedwait wants CLOCK_REALTIME
            when = _timespec(int(deadline), int((deadline % 1) * 1e9))
            while _sem_timedwait(self._handle, when):
                if ctypes.get_errno() == errno.ETIMEDOUT:
                    return False
                _unless_interrupted()
            return True
        # The spec's Mac OS X path: try, sleep a little, try again.  The naps
        # grow to 20 ms, so a long wait costs little CPU and a short one
        # little delay.
        deadline = time.monotonic() + seconds
        nap = 0.001
        while not self._try():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(nap, remaining))
            nap = min(nap * 2, 0.02)
        return True

    def _check_not_full(self):
        if HAVE_SEM_GETVALUE:
            if self._get_value() >= self._maxvalue:
                raise ValueError('semaphore or lock released too many times')
        elif self._maxvalue == 1:
            # Without sem_getvalue a lock can still be checked: if we can take
            # it, it was not held -- put it back and complain.
            if self._try():
                self._post()
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
        deferred = _defer_signals()       # a try-and-put-back must not lose the count
        try:
            if self._try():
                self._post()
                return False
            return True
        finally:
            if deferred:
                _allow_signals()

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


# --------------------------------------------------------------------------
# 4. The primitives: clones of threading's
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
        bound = ', maxvalue=%s' % self._maxvalue if isinstance(self, BoundedSemaphore) else ''
        return '<%s(value=%s%s)>' % (type(self).__name__, value, bound)


class BoundedSemaphore(Semaphore):
    """A semaphore that refuses to be released above its initial value.

    Over-release raises ``ValueError``.  (Without ``sem_getvalue`` -- Mac OS X
    -- it cannot check, and behaves like ``Semaphore``, as the spec says.)
    """

    def __init__(self, value=1):
        SemLock.__init__(self, SEMAPHORE, value, value)


class Lock(SemLock):
    """A non-recursive lock: a semaphore with value and maximum 1.

    Like ``threading.Lock``, any thread or process may release it; releasing
    it when unlocked raises ``ValueError`` (as CPython's multiprocessing does;
    ``threading`` raises ``RuntimeError``).

    The over-release check costs a C call (``sem_getvalue``).  The usual
    release -- by the thread that acquired the lock -- can skip it, because
    this process *knows* it holds the lock... unless another process
    released it meanwhile (a hand-off: acquired here, released there), which
    this process cannot see.  So every Lock has one byte of shared memory,
    ``_handed_off``, set by the first release that does not come from the
    acquiring thread; from then on every release of that lock is checked.
    """

    def __init__(self):
        SemLock.__init__(self, SEMAPHORE, 1, 1)
        self._flag_block = heap.BufferWrapper(1)
        self._handed_off = self._flag_block.create_memoryview()

    def _count_after_release(self):
        if not self._is_mine():
            self._check_not_full()
            self._handed_off[0] = 1      # released by someone else: check from now on
        elif self._handed_off[0]:
            self._check_not_full()
        return 0                         # a lock is held once or not at all

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

    def _acquire(self, block, timeout, interruptible=True):
        if self._is_mine():
            self._count += 1             # already ours: no semaphore call at all
            return True
        return SemLock._acquire(self, block, timeout, interruptible)

    def _count_after_release(self):
        if not self._is_mine():
            raise AssertionError('attempt to release recursive lock not owned by thread')
        return self._count - 1           # we hold it, so it is at 0: no over-release check

    def __repr__(self):
        try:
            owner = self._owner_name()
            count = self._count if self._is_mine() else 0 if owner == 'None' else 'nonzero'
        except Exception:
            owner, count = 'unknown', 'unknown'
        return '<%s(%s, %s)>' % (type(self).__name__, owner, count)


#: How many waiting threads a Condition can tell apart (``Condition._waiters``).
_WAITER_SLOTS = 256
#: While a notify waits for its sleepers, it looks for dead ones this often (seconds).
_DEAD_WAITER_CHECK = 0.1


class Condition:
    """A condition variable: a clone of ``threading.Condition`` across processes.

    ``lock`` must be an mpref ``Lock`` or ``RLock`` (default: a new ``RLock``).
    Processes share no memory, so the waiters are counted in semaphores
    rather than kept in a list (CPython's algorithm):

    * ``_sleeping_count`` -- released once by each waiter going to sleep;
    * ``_wait_semaphore`` -- released by ``notify`` once per waiter to wake;
    * ``_woken_count`` -- released by each waiter as it wakes (notified or
      timed out), so ``notify`` can wait until its sleepers are really awake.

    That last wait would last forever for a waiter that was killed while
    asleep.  So each waiter also writes its pid into a slot of ``_waiters``
    (shared memory, changed only under the lock) and clears it as it wakes;
    ``notify`` posts ``_woken_count`` itself for the pids that are gone,
    exactly as if they had timed out (``_post_for_dead_waiters``).
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
        self._waiters_block = heap.BufferWrapper(4 * _WAITER_SLOTS)
        self._make_methods()

    def _make_methods(self):
        self.acquire = self._lock.acquire
        self.release = self._lock.release
        self._waiters = self._waiters_block.create_memoryview().cast('i')

    # ``with cond:`` calls the lock's own methods, looked up (through these
    # properties) before the block starts: no extra frame of ours around them
    # at whose start a signal's exception could slip in (module docstring).
    __enter__ = property(lambda self: self._lock.acquire)
    __exit__ = property(lambda self: self._lock.release)

    def wait(self, timeout=None):
        """Release the lock, sleep until notified or ``timeout``, re-acquire.

        Returns False if the timeout (``util.check_timeout``) expired, True
        otherwise.  The caller must hold the lock (``RuntimeError`` if not);
        a recursive lock is released completely and then re-acquired as many
        times as it was held -- always, even when a signal's exception (say
        Ctrl-C) ends the wait.
        """
        timeout = util.check_timeout(timeout)
        if not self._lock._is_mine():
            raise RuntimeError('cannot wait on un-acquired lock')
        deferred = _defer_signals()
        try:
            slot = self._register()
            self._sleeping_count._post()            # "one more sleeper"
            count = self._lock._release_save()
            try:
                return self._wait_semaphore._take(True, timeout)
            finally:
                # Awake, however: say so (slot first: once woken is posted,
                # notify must not post for us again), take the lock back.
                if slot is not None:
                    self._waiters[slot] = 0
                self._woken_count._post()
                self._lock._acquire_restore(count)
        finally:
            if deferred:
                _allow_signals()

    def wait_for(self, predicate, timeout=None):
        """Wait until ``predicate()`` is true (or the timeout); return its last value.

        Beyond the spec (Python 3.2).
        """
        timeout = util.check_timeout(timeout)
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
        """Wake up to ``n`` waiting processes/threads; the caller must hold the
        lock (``RuntimeError`` if not).  Returns once they are awake; a
        waiter that died asleep is skipped."""
        if not self._lock._is_mine():
            raise RuntimeError('cannot notify on un-acquired lock')
        deferred = _defer_signals()
        try:
            self._post_for_dead_waiters()
            # Waiters that timed out since the last notify are both "sleeping"
            # and "woken": cancel them out so we do not wake someone who left.
            while self._woken_count._take(False):
                self._sleeping_count._take(False)
            sleepers = 0
            while sleepers < n and self._sleeping_count._take(False):
                self._wait_semaphore._post()
                sleepers += 1
            while sleepers:                     # until each sleeper is up
                if self._woken_count._take(True, _DEAD_WAITER_CHECK, interruptible=False):
                    sleepers -= 1
                else:
                    self._post_for_dead_waiters()
            # A sleeper that timed out meanwhile left its wake-up unused: take it back.
            while self._wait_semaphore._take(False):
                pass
        finally:
            if deferred:
                _allow_signals()

    def notify_all(self):
        """Wake every waiter; the caller must hold the lock."""
        self.notify(n=sys.maxsize)

    notifyAll = notify_all                      # the spec's (threading's) old name

    def _register(self):
        """Write this process's pid into a free waiter slot (we hold the
        lock); return the slot, or None if all are taken -- that waiter's
        death would then go unnoticed."""
        try:
            slot = self._waiters.tolist().index(0)
        except ValueError:
            return None
        self._waiters[slot] = os.getpid()
        return slot

    def _post_for_dead_waiters(self):
        """Clear the slots of waiters whose process is gone and post
        ``_woken_count`` for each, as a timed-out waiter would."""
        pids = self._waiters.tolist()
        if not any(pids):
            return                      # the usual case: nobody else is waiting
        me = os.getpid()
        for slot, pid in enumerate(pids):
            if pid and pid != me and not _is_alive(pid):
                self._waiters[slot] = 0
                self._woken_count._post()

    def __repr__(self):
        try:
            waiters = self._sleeping_count._get_value() - self._woken_count._get_value()
        except Exception:
            waiters = 'unknown'
        return '<%s(%s, %s)>' % (type(self).__name__, self._lock, waiters)

    def __getstate__(self):
        spawn.assert_spawning(self)
        return (self._lock, self._sleeping_count, self._woken_count, self._wait_semaphore,
                self._waiters_block)

    def __setstate__(self, state):
        (self._lock, self._sleeping_count, self._woken_count, self._wait_semaphore,
         self._waiters_block) = state
        self._make_methods()


def _is_alive(pid):
    """Is process ``pid`` still running?  A process that died and was not
    reaped yet by its parent is a zombie, which ``kill(pid, 0)`` still
    finds -- and its parent may be another process, busy elsewhere.  On
    Linux ``/proc/PID/stat`` tells (state ``Z``); elsewhere ``waitid``
    without reaping can tell for a child of ours."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid, 'rb') as stat_file:
            stat = stat_file.read()
    except OSError:
        pass                        # no /proc (macOS), or it has just gone
    else:
        # "pid (command) state ...": the command may itself hold ')'.
        return stat[stat.rindex(b')') + 2:stat.rindex(b')') + 3] not in (b'Z', b'X')
    if hasattr(os, 'waitid'):
        try:
            return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            pass                    # not our child: its parent will reap it
    return True


class Event:
    """A flag processes can wait for: a clone of ``threading.Event``.

    The flag is a semaphore holding 0 or 1, guarded by a condition whose
    lock makes "test the flag, then sleep" one step.  Only ``set`` notifies
    the condition, so a waiter the condition woke was woken by ``set`` --
    even if another process has cleared the flag again by the time the
    waiter holds the lock to look at it.
    """

    def __init__(self):
        self._cond = Condition(Lock())
        self._flag = Semaphore(0)

    def is_set(self):
        """True if the flag is set."""
        with signals_held_back, self._cond:
            return not self._flag._is_zero()

    isSet = is_set                              # the spec's (threading's) old name

    def set(self):
        """Set the flag and wake every waiter."""
        with signals_held_back, self._cond:
            if self._flag._is_zero():
                self._flag._post()
            self._cond.notify_all()

    def clear(self):
        """Reset the flag."""
        with signals_held_back, self._cond:
            self._flag._take(False)

    def wait(self, timeout=None):
        """Block until the flag is set or ``timeout`` (``util.check_timeout``)
        expires.  True if the flag was set or ``set()`` woke us; False only
        when the timeout expired with the flag unset."""
        timeout = util.check_timeout(timeout)
        with signals_held_back, self._cond:
            if not self._flag._is_zero():
                return True
            return self._cond.wait(timeout) or not self._flag._is_zero()

    def __repr__(self):
        return '<%s at %#x %s>' % (type(self).__qualname__, id(self),
                                   'set' if self.is_set() else 'unset')

    def __getstate__(self):
        spawn.assert_spawning(self)
        return (self._cond, self._flag)

    def __setstate__(self, state):
        self._cond, self._flag = state
