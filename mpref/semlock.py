"""One POSIX named semaphore, reached through ``ctypes``, plus the bookkeeping
the kernel does not keep: ``SemLock``, on which every primitive of
``synchronize`` stands (spec 16.6.1.3, 16.6.2.5 and its Mac OS X notes).

Chapter: ``notebooks/03_synchronization.ipynb``.

This module is mpref's counterpart of CPython's C type
``_multiprocessing.SemLock``; the line between it and ``synchronize.py`` is
the one CPython draws between its C code and ``synchronize.py``.

A **POSIX named semaphore** is a counter that lives in the kernel's shared
memory (on Linux a small file ``/dev/shm/sem.NAME``, mapped into every process
that opens it), reached through the C library.  Two parts, read in order,
then the helpers that open, close and unlink a semaphore by name:

1. **The C functions** -- ``sem_open``, ``sem_wait``, ``sem_trywait``,
   ``sem_timedwait``, ``sem_post``, ``sem_getvalue``, ``sem_close``,
   ``sem_unlink``, declared once with their C signatures.
2. **SemLock** -- one named semaphore plus the per-process bookkeeping the
   kernel does not keep: which thread of *this* process acquired it last and
   how many times (for ``RLock``, ``Condition`` and the reprs).  Its changes
   are written so that a signal's exception cannot cut them unnoticed
   (``signals``, "Asynchronous exceptions"), so that Ctrl-C never leaves it
   taken by nobody.

A ``SemLock`` travels to a spawned child by name: pickled with the
``Process`` arguments, it is re-opened there (``SemLock.__setstate__``);
pickled at any other time it raises ``RuntimeError`` (``synchronize``'s
docstring tells the sharing rules).

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
import sys
import threading
import time

from . import process, signals, spawn, util
from .semaphore_tracker import LIBRARY_PATH, Tracker
from .signals import SIGNAL_SLICE, check_signals, holding_back, let_signals_in, signals_held_back

__all__ = ['SemLock', 'SEMAPHORE', 'RECURSIVE_MUTEX', 'SEM_VALUE_MAX']

# --------------------------------------------------------------------------
# 1. The C library's POSIX semaphore functions
# --------------------------------------------------------------------------

# Three views of the same library.  Through ``_libc`` ctypes saves the C
# ``errno`` after each call for ``ctypes.get_errno()``, and lets other
# threads run during the call (it releases the GIL): the calls that may
# block go through it.  The calls that never block -- the hot ``sem_trywait``
# and ``sem_post``, and ``sem_getvalue`` -- keep the GIL (``PyDLL``):
# releasing it would hand it to any other busy thread (a queue's feeder) and
# wait to get it back, on every call.  The hot ones also skip ``errno``
# (``_fast_...``; saving it costs about a tenth of an uncontended
# acquire+release), and when one of those fails we repeat the call through
# ``_libc`` to learn why (or, for a failed try, simply wait).
_libc = ctypes.CDLL(LIBRARY_PATH, use_errno=True)
_libc_fast = ctypes.PyDLL(LIBRARY_PATH, use_errno=False)
_libc_held = ctypes.PyDLL(LIBRARY_PATH, use_errno=True)


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
    _sem_getvalue = _declare('sem_getvalue', ctypes.c_int, _handle_t, ctypes.POINTER(ctypes.c_int),
                             lib=_libc_held)

_SEM_FAILED = ctypes.c_void_p(-1).value       # sem_open's error result, (sem_t *)-1

try:
    SEM_VALUE_MAX = os.sysconf('SC_SEM_VALUE_MAX')
except (ValueError, OSError):
    SEM_VALUE_MAX = -1
if SEM_VALUE_MAX <= 0:
    SEM_VALUE_MAX = 32767                      # the POSIX minimum; macOS's value


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

    ``acquire`` and ``release`` are the spec's methods; ``acquire`` notes the
    outcome of its C call and undoes what a signal's exception cut short,
    and ``release`` writes its change out itself (see each, and ``signals``).

    The underscore names are SemLock's protected interface: for its
    subclasses (the primitives in ``synchronize``) and mpref's own modules (a
    queue asks ``_get_value`` and ``_is_zero``), not the spec's API -- as
    CPython's ``synchronize.py`` calls its C ``SemLock``'s ``_is_mine``,
    ``_count``, ``_get_value`` and ``_is_zero``.  They keep the underscore
    so that a primitive's public face stays ``threading``'s:

    * ``_unacquire`` -- undo an acquisition that ``acquire`` counted;
    * ``_count_after_release`` -- the check of ``release`` (``Lock`` and
      ``RLock`` override it; ``_check_not_full`` is the over-release check);
      ``_commit_release`` -- the change of ``release``;
    * ``_release_save``, ``_acquire_restore`` -- for ``Condition.wait``;
    * ``_take``, ``_post`` -- the semaphore alone, no bookkeeping;
    * ``_get_value``, ``_is_zero``, ``_is_mine``, ``_owner_name`` -- queries;
    * ``_count``, ``_owner``, ``_maxvalue`` -- the bookkeeping itself.
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
        _tracker.tell('REGISTER', name)
        self._setup(handle, kind, maxvalue, name)
        # The name stays until this object is collected or this process exits
        # after joining its children (module docstring: who unlinks).
        self._finalizer = util.Finalize(self, _close_and_unlink, (handle, name), exitpriority=-10)
        util.debug('created semlock %s', name)      # last: nothing may come between open and register

    def _setup(self, handle, kind, maxvalue, name):
        self._handle = handle
        self._handle_arg = (handle,)     # for map(): see acquire
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
        ident = _get_ident()
        if ident != signals.main_thread_ident:
            # Python runs signal handlers only in the main thread: here no
            # exception can come between the steps, and they need no note.
            if self._kind == RECURSIVE_MUTEX and self._count and self._owner == ident:
                self._count += 1
                return True
            if _fast_sem_trywait(self._handle) and not (block and self._wait(timeout, [-1])):
                return False
            self._owner = ident
            self._count += 1
            return True
        # In the main thread, no signals held back: the steps are written so that a handler's
        # exception, wherever it lands, finds them either not done or done
        # and noted, and the ``except`` below undoes what was done
        # (``signals``: "Asynchronous exceptions").  ``outcome`` is the
        # note: the C call's result, written into it by the C code itself
        # (``outcome[:] = map(...)``: no instruction between the call and
        # the note at which Python runs a handler); None once counted.
        outcome = [-1]
        try:
            if self._kind == RECURSIVE_MUTEX and self._count and self._owner == ident:
                self._count += 1             # already ours: no semaphore call at all
                outcome = None
            else:
                outcome[:] = map(_fast_sem_trywait, self._handle_arg)
                if outcome[0] and not (block and self._wait(timeout, outcome)):
                    return False
                # Owner before count: a thread asking "is it mine?" reads the
                # count first, so it never pairs our new count with a stale ident.
                self._owner = ident
                self._count += 1
                outcome = None
            # Handlers of signals that arrived meanwhile run here, while an
            # exception from one can still be answered by undoing.
            check_signals()
            return True
        except BaseException:
            if outcome is None:
                self._unacquire()            # counted: the exception says "not acquired"
            elif outcome[0] == 0:
                self._post()                 # taken, not counted yet
            raise

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

    def _take(self, block=True, timeout=None, interruptible=True, outcome=None):
        """Decrement the semaphore if it is above zero, else wait (if
        ``block``) up to ``timeout``; True if decremented.

        A caller that holds no signals back passes a note, ``outcome`` (a
        list), into which each C call writes its result: ``outcome[0] == 0``
        from the moment the semaphore is decremented, so that a handler's
        exception reaching the caller tells it whether to undo (``acquire``).
        """
        if outcome is None:
            if _fast_sem_trywait(self._handle) == 0:
                return True            # the usual case: nobody holds it
            outcome = [-1]
        else:
            outcome[:] = map(_fast_sem_trywait, self._handle_arg)
            if outcome[0] == 0:
                return True
        return block and self._wait(timeout, outcome, interruptible)

    def _post(self):
        """Increment the semaphore (if the errno-free call fails -- EOVERFLOW,
        a condition that lasts -- repeat it through ``_libc`` to say why)."""
        if _fast_sem_post(self._handle) and _sem_post(self._handle):
            _raise_errno()

    def _try(self, outcome=None):
        """``sem_trywait``: True if decremented (and ``outcome[0]`` is then 0)."""
        if outcome is None:
            outcome = [-1]
        outcome[:] = map(_sem_trywait, self._handle_arg)
        if outcome[0] == 0:
            return True
        if ctypes.get_errno() != errno.EAGAIN:
            _raise_errno()
        return False

    def _wait(self, timeout, outcome, interruptible=True):
        """Wait until the semaphore can be decremented and do it; False on timeout.

        Each C call writes its result into ``outcome`` (``outcome[0] == 0``:
        decremented), so that a caller whom a handler's exception reaches
        knows whether to undo (``acquire``).  In the main thread, with
        signals held back, the wait goes in slices of ``signals.SIGNAL_SLICE``
        and lets them in between (``interruptible``); elsewhere in slices of
        ``util.MAX_WAIT_SLICE`` (any finite timeout works).  Not held back, a
        signal ends ``sem_wait`` with EINTR and its handler runs at once.
        """
        held_back = holding_back()
        if timeout is None and not (held_back and interruptible):
            outcome[:] = map(_sem_wait, self._handle_arg)
            while outcome[0]:
                _unless_interrupted()
                outcome[:] = map(_sem_wait, self._handle_arg)
            return True
        step = SIGNAL_SLICE if held_back and interruptible else util.MAX_WAIT_SLICE
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            seconds = step if deadline is None else min(deadline - time.monotonic(), step)
            if seconds <= 0:
                return False
            if self._timed_wait(seconds, outcome):
                return True
            if held_back and interruptible:
                let_signals_in()

    def _timed_wait(self, seconds, outcome):
        if HAVE_SEM_TIMEDWAIT:
            deadline = time.time() + seconds       # sem_timedwait wants CLOCK_REALTIME
            when = (_timespec(int(deadline), int((deadline % 1) * 1e9)),)
            outcome[:] = map(_sem_timedwait, self._handle_arg, when)
            while outcome[0]:
                if ctypes.get_errno() == errno.ETIMEDOUT:
                    return False
                _unless_interrupted()
                outcome[:] = map(_sem_timedwait, self._handle_arg, when)
            return True
        # The spec's Mac OS X path: try, sleep a little, try again.  The naps
        # grow to 20 ms, so a long wait costs little CPU and a short one
        # little delay.
        deadline = time.monotonic() + seconds
        nap = 0.001
        while not self._try(outcome):
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
        with signals_held_back:           # a try-and-put-back must not lose the count
            if self._try():
                self._post()
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


# --------------------------------------------------------------------------
# 3. Helpers: errors, opening and unlinking by name, the tracker
# --------------------------------------------------------------------------

_get_ident = threading.get_ident


def _raise_errno():
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))


def _unless_interrupted():
    """A semaphore call failed: EINTR means "try again" (the Python handler
    of the signal runs in the main thread, see ``signals.let_signals_in``);
    any other error raises OSError."""
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
