"""The synchronization primitives of ``threading``, between processes: ``Lock``,
``RLock``, ``Semaphore``, ``BoundedSemaphore``, ``Condition`` and ``Event``
(spec 16.6.1.3, 16.6.2.5).

Chapter: ``notebooks/03_synchronization.ipynb``.

Every primitive here stands on ``semlock.SemLock``: one **POSIX named
semaphore** plus the per-process bookkeeping the kernel does not keep
(``semlock.py``, mpref's counterpart of CPython's C
``_multiprocessing.SemLock``).  The primitives, clones of ``threading``'s,
in the order a reader meets them:

* ``Semaphore`` and ``BoundedSemaphore`` -- a ``SemLock`` as it is, unbounded
  or bounded by its initial value;
* ``Lock`` and ``RLock`` -- a semaphore with maximum value 1, released by
  anyone or only by its owner;
* ``Condition`` -- four semaphores (CPython's algorithm) plus a table of
  waiting processes, so that a waiter that died does not hang ``notify``;
* ``Event`` -- a condition plus a flag semaphore.

They use ``SemLock``'s protected interface (``_take``, ``_post``,
``_is_mine``, ``_release_save``, ...; see ``semlock.SemLock``), as CPython's
``synchronize.py`` uses its C ``SemLock``'s underscore methods.

How a primitive reaches another process (the spec's sharing rules, 16.6.3):

* under **fork** the child inherits the mapping: the same semaphore, nothing
  to do;
* under **spawn** the primitive is pickled with the ``Process`` arguments and
  the child re-opens the semaphore *by name* (``SemLock.__setstate__``);
* pickling it at any other time -- into a pipe or a queue -- raises
  ``RuntimeError`` ("better to inherit than pickle"): the receiver would get a
  name that may already be gone, and nothing else.

A signal's exception (Ctrl-C) must never leave a primitive half changed: in
the main thread ``SemLock.acquire`` notes the outcome of its C call and
undoes what an exception cut short (``signals.py`` explains why and how),
``Condition.wait`` and ``notify`` hold signals back over their several
steps, and ``Event`` over the whole hold of its lock, which it takes on the
caller's behalf.
"""

import os
import sys
import threading
import time

from . import heap, spawn, util
from .semlock import RECURSIVE_MUTEX, SEM_VALUE_MAX, SEMAPHORE, SemLock
from .signals import signals_held_back

_get_ident = threading.get_ident

# SemLock and SEM_VALUE_MAX are defined in semlock.py; this module offers them
# too, where CPython's multiprocessing.synchronize does.
__all__ = ['Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Event',
           'SemLock', 'SEM_VALUE_MAX']


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
        if not (self._count and self._owner == _get_ident()):     # not self._is_mine()
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

    def _count_after_release(self):
        if not (self._count and self._owner == _get_ident()):     # not self._is_mine()
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
    # at whose start a signal's exception could slip in (``signals.py``).
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
        with signals_held_back:
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
        with signals_held_back:
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


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

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
