"""Tests for mpref.synchronize, mpref.semlock and mpref.signals: the primitives
on POSIX named semaphores, and signals held back while they change.

Spec 16.6.1.3, 16.6.2.5 (with its notes on timeouts, Ctrl-C and Mac OS X).
Where behaviour is observable -- results, exception types and messages,
reprs -- the same program runs on mpref and on the stdlib ``multiprocessing``
and the answers are compared.  Children report through their exit codes or a
``Pipe``; every wait has a timeout.
"""

import gc
import os
import pathlib
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import multiprocessing
import pytest

import mpref
from mpref import semlock, synchronize

TIMEOUT = 30            # generous bound for anything that should be quick

# --------------------------------------------------------------------------
# Helpers and module-level targets (a spawned child imports them by name)
# --------------------------------------------------------------------------


def shm_names():
    """Our semaphores currently in /dev/shm (Linux keeps them as sem.NAME)."""
    try:
        return {n for n in os.listdir('/dev/shm') if n.startswith('sem.mpref-')}
    except FileNotFoundError:
        return set()


def names_of(pid):
    """The semaphores process ``pid`` created that are still in /dev/shm."""
    return {n for n in shm_names() if n.startswith('sem.mpref-%s-' % pid)}


def shm_name(semlock):
    return 'sem.' + semlock._name.lstrip('/')


def outcome(func):
    """(exception type name, message) raised by func(), or ('ok', result)."""
    try:
        return ('ok', func())
    except BaseException as exc:        # noqa: B036 -- we compare any outcome
        return (type(exc).__name__, str(exc))


def run_child(ctx, target, *args):
    """Start a child, join it (bounded) and return its exit code."""
    p = ctx.Process(target=target, args=args)
    p.start()
    p.join(TIMEOUT)
    assert not p.is_alive(), 'child did not finish in time'
    return p.exitcode


def try_acquire_exitcode(lock):
    """Exit 1 if the lock could be taken at once, 0 if it could not."""
    got = lock.acquire(False)
    if got:
        lock.release()
    sys.exit(1 if got else 0)


def acquire_with_timeout_exitcode(lock, timeout):
    """Exit 1 if acquired within ``timeout``, else 0."""
    got = lock.acquire(timeout=timeout)
    if got:
        lock.release()
    sys.exit(1 if got else 0)


def release_it(lock):
    lock.release()


def acquire_and_keep(lock):
    lock.acquire()


def release_expecting(lock, exception_name):
    """Exit 0 if ``lock.release()`` raises ``exception_name``, else 1."""
    try:
        lock.release()
    except BaseException as exc:
        sys.exit(0 if type(exc).__name__ == exception_name else 2)
    sys.exit(1)


def child_count_and_repr(rlock, conn):
    """Report this process's view of a (parent-held) RLock."""
    conn.send((rlock._count, repr(rlock), rlock.acquire(False)))
    conn.close()


def add_under_lock(lock, path, times):
    """Read-modify-write a number in a file, each step under the lock."""
    for _ in range(times):
        with lock:
            with open(path) as f:
                value = int(f.read())
            time.sleep(0.0005)           # widen the window a race would need
            with open(path, 'w') as f:
                f.write(str(value + 1))


def condition_notifier(cond, conn):
    """The spec's TEST_CONDITION child: take the lock, report the repr, notify."""
    with cond:
        conn.send(repr(cond))
        cond.notify()
    conn.close()


def condition_waiter(cond, started, conn):
    """Wait on the condition (bounded) and report whether we were notified."""
    with cond:
        started.release()
        conn.send(cond.wait(TIMEOUT))
    conn.close()


def event_waiter(event, started, conn):
    started.release()
    conn.send(event.wait(TIMEOUT))
    conn.close()


def semaphore_worker(sema, mutex, path):
    """TEST_SEMAPHORE: at most the semaphore's value of us run at a time."""
    with sema:
        with mutex:
            with open(path, 'a') as f:
                f.write('+\n')
        time.sleep(0.02)
        with mutex:
            with open(path, 'a') as f:
                f.write('-\n')


def sleep_holding(lock, started, seconds):
    with lock:
        started.release()
        time.sleep(seconds)


# A global that a forked child inherits (spec 16.6.3.1: explicitly pass
# resources, but inheritance of globals is how fork shares them too).
GLOBAL_LOCK = None


def use_global_lock():
    sys.exit(0 if GLOBAL_LOCK.acquire(False) is False else 1)


# --------------------------------------------------------------------------
# The primitives in one process, compared with the stdlib
# --------------------------------------------------------------------------

IMPLS = [mpref, multiprocessing]


@pytest.fixture
def scratch_dir():
    # Our own temporary directory rather than pytest's tmp_path, whose shared
    # base directory another pytest session on the machine may remove.
    with tempfile.TemporaryDirectory(prefix='test-synchronize-') as path:
        yield pathlib.Path(path)


@pytest.mark.parametrize('kind', ['Lock', 'RLock', 'Semaphore', 'BoundedSemaphore'])
def test_acquire_block_and_timeout_arguments(kind):
    answers = []
    for impl in IMPLS:
        lock = getattr(impl, kind)()
        answers.append([
            lock.acquire(),                            # True
            lock.acquire(False) if kind != 'RLock' else 'skip',
            lock.acquire(block=False, timeout=5) if kind != 'RLock' else 'skip',  # timeout ignored
            lock.acquire(True, 0.05) if kind != 'RLock' else 'skip',
            lock.acquire(timeout=-1) if kind != 'RLock' else 'skip',
        ])
    assert answers[0] == answers[1]
    if kind != 'RLock':
        assert answers[0] == [True, False, False, False, False]


def test_lock_is_a_context_manager_and_mutex():
    lock = mpref.Lock()
    with lock as entered:
        assert entered is True
        assert lock.acquire(False) is False
    assert lock.acquire(False) is True
    lock.release()


def test_rlock_is_recursive():
    rlock = mpref.RLock()
    with rlock:
        with rlock:
            assert rlock._count == 2
            assert repr(rlock) == '<RLock(MainProcess, 2)>'
        assert rlock._count == 1
    assert rlock._count == 0
    assert repr(rlock) == '<RLock(None, 0)>'


def test_semaphore_counts():
    sema = mpref.Semaphore(2)
    assert sema.acquire(False) and sema.acquire(False)
    assert sema.acquire(False) is False
    sema.release()
    sema.release()
    sema.release()                      # a plain Semaphore may go above its start
    assert sema.get_value() == 3


@pytest.mark.parametrize('case', [
    'unlocked lock release', 'rlock release not owned', 'bounded over-release',
    'negative semaphore', 'negative bounded',
])
def test_errors_match_stdlib(case):
    def program(impl):
        if case == 'unlocked lock release':
            return impl.Lock().release()
        if case == 'rlock release not owned':
            return impl.RLock().release()
        if case == 'bounded over-release':
            sema = impl.BoundedSemaphore(2)
            sema.acquire()
            sema.release()
            return sema.release()
        if case == 'negative semaphore':
            return impl.Semaphore(-1)
        if case == 'negative bounded':
            return impl.BoundedSemaphore(-1)
    ours, theirs = outcome(lambda: program(mpref)), outcome(lambda: program(multiprocessing))
    assert ours[0] != 'ok'
    assert ours == theirs


def test_rlock_release_by_another_thread_is_refused():
    results = {}
    for impl in IMPLS:
        rlock = impl.RLock()
        rlock.acquire()
        t = threading.Thread(target=lambda: results.__setitem__(impl.__name__, outcome(rlock.release)))
        t.start()
        t.join(TIMEOUT)
        rlock.release()
    assert results['mpref'] == results['multiprocessing']
    assert results['mpref'][0] == 'AssertionError'


def test_lock_may_be_released_by_another_thread():
    # Like threading.Lock: a Lock has no owner that release() insists on.
    lock = mpref.Lock()
    lock.acquire()
    t = threading.Thread(target=lock.release)
    t.start()
    t.join(TIMEOUT)
    assert lock.acquire(False) is True
    lock.release()
    with pytest.raises(ValueError, match='released too many times'):
        lock.release()


def _repr_program(impl):
    """A sequence of reprs through the primitives' states."""
    out = []
    lock = impl.Lock()
    out.append(repr(lock))
    lock.acquire()
    out.append(repr(lock))
    holder_done = threading.Event()

    def hold_in_thread(lk):
        lk.acquire()
        out.append(repr(lk))                    # seen from the owning thread
        holder_done.set()
    other = impl.Lock()
    t = threading.Thread(target=hold_in_thread, args=(other,), name='Holder')
    t.start()
    t.join(TIMEOUT)
    out.append(repr(other))                     # seen from the main thread
    other.release()
    rlock = impl.RLock()
    out.append(repr(rlock))
    rlock.acquire()
    rlock.acquire()
    out.append(repr(rlock))
    out.append(repr(impl.Semaphore(2)))
    bounded = impl.BoundedSemaphore(2)
    bounded.acquire()
    out.append(repr(bounded))
    cond = impl.Condition()
    out.append(repr(cond))
    cond.acquire()
    out.append(repr(cond))
    out.append(repr(impl.Condition(impl.Lock())))
    return out


def test_reprs_match_stdlib():
    ours, theirs = _repr_program(mpref), _repr_program(multiprocessing)
    assert ours == theirs
    assert ours[:2] == ['<Lock(owner=None)>', '<Lock(owner=MainProcess)>']
    assert '<Lock(owner=MainProcess|Holder)>' in ours
    assert '<Lock(owner=SomeOtherThread)>' in ours


def test_event_repr_like_stdlib():
    import re
    # CPython's multiprocessing Event has this repr since 3.11.
    for impl in IMPLS if sys.version_info >= (3, 11) else [mpref]:
        event = impl.Event()
        assert re.fullmatch(r'<Event at 0x[0-9a-f]+ unset>', repr(event))
        event.set()
        assert re.fullmatch(r'<Event at 0x[0-9a-f]+ set>', repr(event))


def test_condition_repr_counts_waiters():
    cond = mpref.Condition()
    done = []

    def waiter():
        with cond:
            done.append(cond.wait(TIMEOUT))
    t = threading.Thread(target=waiter)
    t.start()
    deadline = time.monotonic() + TIMEOUT
    while repr(cond) != '<Condition(<RLock(None, 0)>, 1)>' and time.monotonic() < deadline:
        time.sleep(0.01)
    assert repr(cond) == '<Condition(<RLock(None, 0)>, 1)>'
    with cond:
        cond.notify()
    t.join(TIMEOUT)
    assert done == [True]
    assert repr(cond) == '<Condition(<RLock(None, 0)>, 0)>'


# --------------------------------------------------------------------------
# Condition and Event between threads (same algorithm as between processes)
# --------------------------------------------------------------------------

def test_condition_wait_timeout_returns_false():
    for lock in (None, mpref.Lock(), mpref.RLock()):
        cond = mpref.Condition(lock)
        with cond:
            assert cond.wait(0.05) is False
            assert cond._lock._is_mine()        # re-acquired after the timeout


def test_condition_wait_releases_a_recursive_lock_completely():
    cond = mpref.Condition()
    woke = []

    def notifier():
        with cond:                 # possible only if wait() released both levels
            cond.notify()
    with cond:
        with cond:
            t = threading.Thread(target=notifier)
            t.start()
            woke.append(cond.wait(TIMEOUT))
            assert cond._lock._count == 2
    t.join(TIMEOUT)
    assert woke == [True]


def test_notify_n_and_notify_all_and_alias():
    cond = mpref.Condition()
    results = []
    entered = mpref.Semaphore(0)

    def waiter():
        with cond:
            entered.release()
            results.append(cond.wait(TIMEOUT))
    threads = [threading.Thread(target=waiter) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in threads:
        assert entered.acquire(timeout=TIMEOUT)
    with cond:                  # every waiter is now inside wait(): we hold the lock
        cond.notify(2)
    deadline = time.monotonic() + TIMEOUT
    while len(results) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert len(results) == 2
    with cond:
        cond.notifyAll()
    for t in threads:
        t.join(TIMEOUT)
    assert results == [True] * 4
    assert cond.notify_all.__func__ is cond.notifyAll.__func__


def test_wait_for():
    cond = mpref.Condition()
    box = []

    def producer():
        time.sleep(0.05)
        with cond:
            box.append(1)
            cond.notify_all()
    t = threading.Thread(target=producer)
    t.start()
    with cond:
        assert cond.wait_for(lambda: box, TIMEOUT) == [1]
        assert cond.wait_for(lambda: len(box) > 5, 0.05) is False
    t.join(TIMEOUT)


def test_event_basics_match_stdlib():
    answers = []
    for impl in IMPLS:
        event = impl.Event()
        answers.append([event.is_set(), event.wait(0.01), event.set(), event.is_set(),
                        event.wait(), event.wait(0.01), event.clear(), event.is_set(),
                        event.wait(0)])
    assert answers[0] == answers[1] == [False, False, None, True, True, True, None, False, False]
    event = mpref.Event()
    assert event.isSet() is False           # the spec-era (threading 2.6) name
    event.set()
    assert event.isSet() is True


# --------------------------------------------------------------------------
# Across processes, both start methods
# --------------------------------------------------------------------------

def test_child_sees_a_held_lock(ctx):
    for kind in ('Lock', 'RLock', 'Semaphore', 'BoundedSemaphore'):
        lock = getattr(mpref, kind)(1) if 'Semaphore' in kind else getattr(mpref, kind)()
        lock.acquire()
        assert run_child(ctx, try_acquire_exitcode, lock) == 0, kind
        lock.release()
        assert run_child(ctx, try_acquire_exitcode, lock) == 1, kind


def test_timed_acquire_in_child(ctx):
    lock = mpref.Lock()
    lock.acquire()
    assert run_child(ctx, acquire_with_timeout_exitcode, lock, 0.1) == 0
    # Released by another thread while the child waits: the child gets it.
    threading.Timer(0.2, lock.release).start()
    assert run_child(ctx, acquire_with_timeout_exitcode, lock, TIMEOUT) == 1


def test_lock_released_by_child_process(ctx):
    lock = mpref.Lock()
    lock.acquire()
    assert run_child(ctx, release_it, lock) == 0
    assert lock.acquire(False) is True
    lock.release()
    # And a release of an unlocked lock in the child fails as in the parent.
    assert run_child(ctx, release_expecting, lock, 'ValueError') == 0


def test_lock_handed_off_to_a_child_is_still_checked_by_its_acquirer(ctx):
    # Acquired here, released in a child (a hand-off): a second release here
    # is an over-release and must raise -- not turn the lock into a
    # semaphore of value 2 that two holders could take at once.
    lock = mpref.Lock()
    lock.acquire()
    assert run_child(ctx, release_it, lock) == 0
    with pytest.raises(ValueError, match='released too many times'):
        lock.release()
    assert lock.acquire(False) is True
    assert lock.acquire(False) is False          # still a lock: one holder at most
    lock.release()
    with lock:                                   # and ordinary use goes on
        pass
    with pytest.raises(ValueError):
        lock.release()


def test_values_beyond_sem_value_max_are_refused():
    # ctypes would silently cut them to 32 bits (2**32 + 2 would become 2).
    too_big = semlock.SEM_VALUE_MAX + 1
    for make in (mpref.Semaphore, mpref.BoundedSemaphore):
        with pytest.raises(ValueError, match='SEM_VALUE_MAX'):
            make(too_big)
        with pytest.raises(ValueError, match='SEM_VALUE_MAX'):
            make(2 ** 32 + 2)
    assert mpref.Semaphore(semlock.SEM_VALUE_MAX).get_value() == semlock.SEM_VALUE_MAX


def test_infinite_timeout_waits_like_none_and_nan_is_refused():
    lock = mpref.Lock()
    assert lock.acquire(timeout=float('inf')) is True      # the stdlib agrees
    with pytest.raises(ValueError, match='NaN'):
        lock.acquire(timeout=float('nan'))
    lock.release()
    assert mpref.Event().wait(0.01) is False
    cond = mpref.Condition()
    with cond:
        with pytest.raises(ValueError, match='NaN'):
            cond.wait(float('nan'))


@pytest.mark.parametrize('lock', [threading.Lock, threading.RLock, mpref.Semaphore])
def test_condition_refuses_a_lock_it_cannot_share(lock):
    with pytest.raises(TypeError, match='mpref Lock or RLock'):
        mpref.Condition(lock())
    assert isinstance(mpref.Condition(mpref.Lock()), mpref.synchronize.Condition)


def report_tracker_fd(conn):
    conn.send(semlock._tracker._fd)
    conn.close()


def test_forked_child_lets_go_of_its_parents_tracker():
    # While a child held the parent's tracker pipe open, the tracker would
    # not notice the parent being killed until the child exited too.
    mpref.Lock()                                   # this process has a tracker now
    assert semlock._tracker._fd is not None
    parent_end, child_end = mpref.Pipe()
    p = mpref.get_context('fork').Process(target=report_tracker_fd, args=(child_end,))
    p.start()
    child_end.close()
    assert parent_end.poll(TIMEOUT)
    assert parent_end.recv() is None
    p.join(TIMEOUT)
    parent_end.close()


def test_bounded_semaphore_over_release_in_child(ctx):
    sema = mpref.BoundedSemaphore(2)
    assert run_child(ctx, release_expecting, sema, 'ValueError') == 0
    assert sema.get_value() == 2


def test_rlock_held_by_parent_seen_from_child(ctx):
    rlock = mpref.RLock()
    rlock.acquire()
    rlock.acquire()
    parent_end, child_end = mpref.Pipe()
    p = ctx.Process(target=child_count_and_repr, args=(rlock, child_end))
    p.start()
    child_end.close()
    assert parent_end.poll(TIMEOUT)
    count, text, got = parent_end.recv()
    p.join(TIMEOUT)
    parent_end.close()
    # The child holds nothing (a forked child's count is reset after fork),
    # and cannot take the lock its parent holds.
    assert (count, text, got) == (0, '<RLock(SomeOtherProcess, nonzero)>', False)
    assert run_child(ctx, release_expecting, rlock, 'AssertionError') == 0
    rlock.release()
    rlock.release()


def test_lock_held_by_child_seen_from_parent(ctx):
    lock = mpref.Lock()
    assert run_child(ctx, acquire_and_keep, lock) == 0    # the child exits holding it
    assert repr(lock) == '<Lock(owner=SomeOtherProcess)>'
    assert lock.acquire(False) is False
    lock.release()                 # any process may release a Lock
    assert repr(lock) == '<Lock(owner=None)>'


def test_mutual_exclusion_between_processes(ctx, scratch_dir):
    path = scratch_dir / 'counter'
    path.write_text('0')
    lock = mpref.Lock()
    procs = [ctx.Process(target=add_under_lock, args=(lock, str(path), 20)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(TIMEOUT)
    assert [p.exitcode for p in procs] == [0] * 4
    assert path.read_text() == '80'


def test_semaphore_limits_concurrency(ctx, scratch_dir):
    # The spec's TEST_SEMAPHORE: 3 slots, 6 workers; never more than 3 inside.
    path = scratch_dir / 'log'
    path.write_text('')
    sema, mutex = mpref.Semaphore(3), mpref.RLock()
    procs = [ctx.Process(target=semaphore_worker, args=(sema, mutex, str(path))) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(TIMEOUT)
    assert [p.exitcode for p in procs] == [0] * 6
    inside, most = 0, 0
    for line in path.read_text().split():
        inside += 1 if line == '+' else -1
        most = max(most, inside)
    assert inside == 0 and 1 <= most <= 3
    assert sema.get_value() == 3


def test_condition_notify_from_child(ctx):
    # The spec's TEST_CONDITION, bounded: the parent waits, the child notifies.
    cond = mpref.Condition()
    parent_end, child_end = mpref.Pipe()
    with cond:
        with cond:
            p = ctx.Process(target=condition_notifier, args=(cond, child_end))
            p.start()
            child_end.close()
            assert repr(cond) == '<Condition(<RLock(MainProcess, 2)>, 0)>'
            assert cond.wait(TIMEOUT) is True
            assert repr(cond) == '<Condition(<RLock(MainProcess, 2)>, 0)>'
    assert parent_end.poll(TIMEOUT)
    assert parent_end.recv() == '<Condition(<RLock(%s, 1)>, 1)>' % p.name
    p.join(TIMEOUT)
    parent_end.close()
    assert repr(cond) == '<Condition(<RLock(None, 0)>, 0)>'


def start_waiters(ctx, waiter, primitive, count=3):
    """Start ``count`` children running ``waiter(primitive, started, conn)``.

    Returns once every child has released ``started`` (so each is about to
    wait, or already waiting): their pipe ends and Process objects.
    """
    started = mpref.Semaphore(0)
    pipes, procs = [], []
    for _ in range(count):
        parent_end, child_end = mpref.Pipe()
        p = ctx.Process(target=waiter, args=(primitive, started, child_end))
        p.start()
        child_end.close()
        pipes.append(parent_end)
        procs.append(p)
    for _ in procs:
        assert started.acquire(timeout=TIMEOUT)
    return pipes, procs


def test_condition_notify_all_wakes_children(ctx):
    cond = mpref.Condition(mpref.Lock())
    pipes, procs = start_waiters(ctx, condition_waiter, cond)
    with cond:              # each child released `started` holding the lock, so it is waiting now
        cond.notify_all()
    for conn, p in zip(pipes, procs):
        assert conn.poll(TIMEOUT)
        assert conn.recv() is True
        conn.close()
        p.join(TIMEOUT)
        assert p.exitcode == 0


def test_event_wakes_children(ctx):
    # The spec's TEST_EVENT, bounded.
    event = mpref.Event()
    pipes, procs = start_waiters(ctx, event_waiter, event)
    assert not any(conn.poll(0.05) for conn in pipes)     # all still waiting
    event.set()
    for conn, p in zip(pipes, procs):
        assert conn.poll(TIMEOUT) and conn.recv() is True
        conn.close()
        p.join(TIMEOUT)


def test_forked_child_inherits_a_global_lock():
    global GLOBAL_LOCK
    GLOBAL_LOCK = mpref.Lock()
    try:
        GLOBAL_LOCK.acquire()
        assert run_child(mpref.get_context('fork'), use_global_lock) == 0
        GLOBAL_LOCK.release()
    finally:
        GLOBAL_LOCK = None


# --------------------------------------------------------------------------
# Sharing rules: inherit, don't pickle
# --------------------------------------------------------------------------

@pytest.mark.parametrize('kind', ['Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Event'])
def test_pickling_outside_spawning_raises(kind):
    obj = getattr(mpref, kind)()
    with pytest.raises(RuntimeError, match='better to inherit than pickle'):
        pickle.dumps(obj)
    # The stdlib refuses too, with the same exception type.
    with pytest.raises(RuntimeError):
        pickle.dumps(getattr(multiprocessing, kind)())


def test_sending_through_a_pipe_raises():
    a, b = mpref.Pipe()
    try:
        with pytest.raises(RuntimeError, match='better to inherit than pickle'):
            a.send(mpref.Lock())
        assert not b.poll(0)
    finally:
        a.close()
        b.close()


# --------------------------------------------------------------------------
# Timeouts, and the Mac OS X code paths forced on Linux
# --------------------------------------------------------------------------

@pytest.fixture
def no_timedwait(monkeypatch):
    monkeypatch.setattr(semlock, 'HAVE_SEM_TIMEDWAIT', False)


@pytest.fixture
def no_getvalue(monkeypatch):
    monkeypatch.setattr(semlock, 'HAVE_SEM_GETVALUE', False)


@pytest.mark.parametrize('timedwait', [True, False], ids=['sem_timedwait', 'sleeping-loop'])
def test_timed_acquire(timedwait, monkeypatch):
    monkeypatch.setattr(semlock, 'HAVE_SEM_TIMEDWAIT', timedwait and semlock.HAVE_SEM_TIMEDWAIT)
    lock = mpref.Lock()
    lock.acquire()
    t0 = time.monotonic()
    assert lock.acquire(timeout=0.1) is False
    assert time.monotonic() - t0 >= 0.09
    timer = threading.Timer(0.1, lock.release)
    timer.start()
    assert lock.acquire(timeout=TIMEOUT) is True
    timer.join(TIMEOUT)
    lock.release()


def test_sleeping_loop_used_without_timedwait(no_timedwait, monkeypatch):
    calls = []
    monkeypatch.setattr(semlock, '_sem_timedwait', lambda *a: calls.append(a), raising=False)
    sema = mpref.Semaphore(0)
    assert sema.acquire(timeout=0.05) is False
    assert calls == []


def test_condition_and_event_timeouts_without_timedwait(no_timedwait):
    cond = mpref.Condition()
    with cond:
        assert cond.wait(0.05) is False
    assert mpref.Event().wait(0.05) is False


def test_value_queries_without_getvalue(no_getvalue):
    sema = mpref.Semaphore(2)
    with pytest.raises(NotImplementedError):
        sema.get_value()
    with pytest.raises(NotImplementedError):
        sema._get_value()
    assert repr(sema) == '<Semaphore(value=unknown)>'
    assert repr(mpref.BoundedSemaphore(2)) == '<BoundedSemaphore(value=unknown, maxvalue=2)>'
    assert repr(mpref.Condition()).endswith(', unknown)>')
    # _is_zero still works (a try-and-put-back).
    assert sema._is_zero() is False
    sema.acquire()
    sema.acquire()
    assert sema._is_zero() is True


def test_lock_over_release_still_detected_without_getvalue(no_getvalue):
    lock = mpref.Lock()
    with pytest.raises(ValueError, match='released too many times'):
        lock.release()
    lock.acquire()
    lock.release()
    assert lock.acquire(False) is True
    lock.release()


def test_bounded_is_plain_semaphore_without_getvalue(no_getvalue):
    # The spec: on Mac OS X BoundedSemaphore is indistinguishable from Semaphore.
    # (A bound of 1 is still checked, as for a Lock.)
    sema = mpref.BoundedSemaphore(2)
    sema.release()
    assert sema.acquire(False) and sema.acquire(False) and sema.acquire(False)


# --------------------------------------------------------------------------
# Signals: Ctrl-C interrupts a blocked wait at once; other handlers do not
# --------------------------------------------------------------------------

SIGINT_SCRIPT = textwrap.dedent('''
    import os, signal, sys, mpref
    # Whatever the runner left us (SIGINT blocked or ignored): Ctrl-C as usual.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from mpref import semlock
    if sys.argv[2] == 'loop':
        semlock.HAVE_SEM_TIMEDWAIT = False
    what = sys.argv[1]
    lock = mpref.Lock()
    lock.acquire()
    cond = mpref.Condition()
    event = mpref.Event()
    print('ready', os.getpid(), flush=True)
    if what == 'acquire':
        lock.acquire()
    elif what == 'acquire-timeout':
        lock.acquire(timeout=60)
    elif what == 'condition':
        with cond:
            cond.wait()
    elif what == 'condition-timeout':
        with cond:
            cond.wait(60)
    elif what == 'event':
        event.wait()
    elif what == 'event-timeout':
        event.wait(60)
    elif what.startswith('queue-get'):
        mpref.Queue().get(timeout=60 if what.endswith('timeout') else None)
    elif what == 'queue-put':
        full = mpref.Queue(1)
        full.put(1)
        full.put(2)
    elif what == 'value':
        mpref.Value('i', 0, lock=lock).value
    print('not interrupted', flush=True)
''')


@pytest.mark.parametrize('what,path', [
    ('acquire', 'native'), ('acquire-timeout', 'native'), ('acquire-timeout', 'loop'),
    ('condition', 'native'), ('condition-timeout', 'native'), ('condition-timeout', 'loop'),
    ('event', 'native'), ('event-timeout', 'native'), ('event-timeout', 'loop'),
    ('queue-get', 'native'), ('queue-get-timeout', 'native'), ('queue-put', 'native'),
    ('value', 'native'),
])
def test_sigint_interrupts_a_blocked_wait(what, path):
    sigint_test(what, path, [sys.executable, '-c', SIGINT_SCRIPT, what, path])


# Starts a command with SIGINT blocked and ignored, as some job runners and
# background shells leave it (signal mask and ignored signals survive exec).
SIGINT_OFF = textwrap.dedent('''
    import os, signal, sys
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.execv(sys.argv[1], sys.argv[1:])
''')


@pytest.mark.parametrize('what', ['acquire', 'condition-timeout', 'event'])
def test_sigint_interrupts_even_if_the_runner_blocked_it(what):
    sigint_test(what, 'native',
                [sys.executable, '-c', SIGINT_OFF, sys.executable, '-c', SIGINT_SCRIPT, what, 'native'])


# CPython's test_wait_result, stressed: a child notifies, then sends its parent
# a SIGINT after a random delay, so that it lands at every point of the next
# wait (registering, sleeping, between two slices, waking); a thread that
# does not block signals runs meanwhile, so the kernel may hand the signal to
# it rather than to the main thread.  Every wait must end in KeyboardInterrupt.
WAIT_RESULT_STRESS = textwrap.dedent('''
    import os, random, signal, sys, threading, time
    import mpref
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def child(cond, pid, delay):
        with cond:
            cond.notify()
        time.sleep(delay)
        os.kill(pid, signal.SIGINT)

    def noise(stop):
        while not stop.wait(0.0005):
            pass

    if __name__ == '__main__':
        stop = threading.Event()
        threading.Thread(target=noise, args=(stop,), daemon=True).start()
        lost = 0
        for i in range(int(sys.argv[1])):
            cond = mpref.Condition()
            with cond:
                p = mpref.Process(target=child, args=(cond, os.getpid(), random.random() * 0.03))
                p.start()
                assert cond.wait(10), 'round %d: not notified' % i
                try:
                    cond.wait(20)
                    lost += 1
                except KeyboardInterrupt:
                    pass
                assert cond._lock._is_mine()        # wait() left the lock held
            p.join(10)
        stop.set()
        print('lost', lost)
''')


def test_condition_wait_never_loses_a_sigint_from_a_child():
    result = subprocess.run([sys.executable, '-c', WAIT_RESULT_STRESS, '40'],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['lost', '0']


def sigint_test(what, path, command):
    proc = subprocess.Popen(command,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, pid = proc.stdout.readline().split()
        assert ready == 'ready'
        time.sleep(0.2)                 # let it block
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert 'KeyboardInterrupt' in err
    assert 'not interrupted' not in out
    assert proc.returncode != 0
    assert elapsed < 10                 # "at once": not after the 60 s timeout
    assert not names_of(pid)            # the interrupted script cleaned up at exit


def test_non_raising_signal_handler_does_not_break_a_wait():
    # EINTR from a harmless handler: the handler runs, the wait goes on.
    seen = []
    old = signal.signal(signal.SIGUSR1, lambda signum, frame: seen.append(signum))
    try:
        lock = mpref.Lock()
        lock.acquire()
        main = threading.get_ident()

        def poke_then_release():
            time.sleep(0.1)
            signal.pthread_kill(main, signal.SIGUSR1)
            time.sleep(0.1)
            lock.release()
        t = threading.Thread(target=poke_then_release)
        t.start()
        assert lock.acquire(timeout=TIMEOUT) is True
        t.join(TIMEOUT)
        lock.release()
        t = threading.Thread(target=poke_then_release)
        lock.acquire()
        t.start()
        assert lock.acquire() is True      # the untimed path too
        t.join(TIMEOUT)
        assert seen == [signal.SIGUSR1, signal.SIGUSR1]
    finally:
        signal.signal(signal.SIGUSR1, old)


# --------------------------------------------------------------------------
# Cleanup: nothing left in /dev/shm
# --------------------------------------------------------------------------

needs_dev_shm = pytest.mark.skipif(not os.path.isdir('/dev/shm'), reason='needs Linux /dev/shm')


@needs_dev_shm
def test_name_unlinked_when_collected():
    lock = mpref.Lock()
    name = shm_name(lock)
    assert name in shm_names()
    del lock
    gc.collect()
    assert name not in shm_names()


@needs_dev_shm
def test_names_unlinked_at_exit_even_with_a_spawned_child_using_them():
    script = textwrap.dedent('''
        import mpref
        from tests.test_synchronize import sleep_holding
        if __name__ == '__main__':
            lock, started = mpref.Lock(), mpref.Semaphore(0)
            cond, event = mpref.Condition(), mpref.Event()
            p = mpref.get_context('spawn').Process(target=sleep_holding, args=(lock, started, 0.2))
            p.start()
            assert started.acquire(timeout=30)
            print(lock._name, flush=True)
            # no join: the exit handler joins the child, then unlinks
    ''')
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=TIMEOUT, cwd=root)
    assert result.returncode == 0, result.stderr
    assert not names_of(result.stdout.split('-')[1])


@needs_dev_shm
def test_child_killed_while_holding_leaves_nothing(ctx):
    lock, started = mpref.Lock(), mpref.Semaphore(0)
    names = {shm_name(lock), shm_name(started)}
    p = ctx.Process(target=sleep_holding, args=(lock, started, 60))
    p.start()
    assert started.acquire(timeout=TIMEOUT)
    p.kill()
    p.join(TIMEOUT)
    assert p.exitcode == -signal.SIGKILL
    assert lock.acquire(False) is False           # the dead child still "holds" it
    del lock, started, p                          # p holds them too, in its args
    gc.collect()
    assert not names & shm_names()


def test_after_fork_hook_resets_ownership():
    rlock = mpref.RLock()
    rlock.acquire()
    pid = os.fork()
    if pid == 0:
        synchronize.util.run_after_forkers()
        os._exit(0 if rlock._count == 0 and rlock._owner is None else 1)
    _, status = os.waitpid(pid, 0)
    rlock.release()
    assert os.waitstatus_to_exitcode(status) == 0


def create_then_report(conn):
    """Create primitives in this (child) process, report their names, then hang."""
    lock, cond = mpref.Lock(), mpref.Condition()
    conn.send([shm_name(lock), shm_name(cond._wait_semaphore)])
    conn.close()
    time.sleep(60)


def _wait_until_gone(names, seconds=TIMEOUT):
    deadline = time.monotonic() + seconds
    while names & shm_names() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not names & shm_names()


@needs_dev_shm
def test_tracker_unlinks_names_of_a_killed_creator():
    # As when nbval ends a Jupyter kernel with SIGKILL: no exit handler runs.
    script = textwrap.dedent('''
        import os, signal, mpref
        locks = [mpref.Lock(), mpref.Condition(), mpref.Event()]
        print(os.getpid(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    ''')
    result = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode == -signal.SIGKILL
    pid = result.stdout.strip()
    deadline = time.monotonic() + TIMEOUT
    while names_of(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not names_of(pid)


@needs_dev_shm
def test_tracker_unlinks_names_of_a_killed_child_creator(ctx):
    parent_end, child_end = mpref.Pipe()
    p = ctx.Process(target=create_then_report, args=(child_end,))
    p.start()
    child_end.close()
    assert parent_end.poll(TIMEOUT)
    names = set(parent_end.recv())
    parent_end.close()
    assert names <= shm_names()
    p.kill()
    p.join(TIMEOUT)
    assert _wait_until_gone(names)


# --------------------------------------------------------------------------
# Hardening: inputs that broke the primitives (each failed before its fix)
# --------------------------------------------------------------------------

@pytest.mark.parametrize('call', ['wait', 'notify', 'notify_all'])
def test_condition_without_the_lock_raises_runtime_error_even_under_O(call):
    # threading's exception type; CPython's multiprocessing uses `assert`,
    # which `python -O` removes -- the call then corrupts the condition.
    script = textwrap.dedent('''
        import sys, mpref
        cond = mpref.Condition()
        try:
            getattr(cond, sys.argv[1])(*([0.01] if sys.argv[1] == 'wait' else []))
        except RuntimeError as exc:
            print('RuntimeError:', exc)
    ''')
    for flags in ([], ['-O']):
        result = subprocess.run([sys.executable, *flags, '-c', script, call],
                                capture_output=True, text=True, timeout=TIMEOUT)
        assert result.stdout.startswith('RuntimeError: cannot '), (flags, result)
        assert 'un-acquired lock' in result.stdout


def set_and_clear_forever(event, stop):
    while not stop.is_set():
        event.set()
        event.clear()


def clear_forever(event, stop):
    while not stop.is_set():
        event.clear()


def test_event_wait_returns_true_when_set_woke_it_even_if_cleared_at_once():
    # One child sets and clears, another clears: a waiter that set() woke
    # must say True, even when the flag is down again by the time it looks.
    event, stop = mpref.Event(), mpref.Event()
    fork = mpref.get_context('fork')
    children = [fork.Process(target=set_and_clear_forever, args=(event, stop)),
                fork.Process(target=clear_forever, args=(event, stop))]
    for p in children:
        p.start()
    try:
        results = [event.wait(3.0) for _ in range(20000)]
    finally:
        stop.set()
        for p in children:
            p.join(TIMEOUT)
    assert results.count(False) == 0


def wait_on_condition(cond, started, conn):
    with cond:
        started.release()
        conn.send(cond.wait(TIMEOUT))
    conn.close()


def test_notify_all_skips_a_waiter_that_was_killed(ctx):
    cond = mpref.Condition()
    pipes, procs = start_waiters(ctx, wait_on_condition, cond, count=3)
    with cond:              # each child released `started` holding the lock: all asleep now
        pass
    procs[0].kill()         # dies asleep; not joined (a zombie) on purpose
    done = threading.Event()

    def notify_all():
        with cond:
            cond.notify_all()
        done.set()
    t = threading.Thread(target=notify_all, daemon=True)
    t.start()
    assert done.wait(TIMEOUT), 'notify_all() blocked on a dead waiter'
    for conn in pipes[1:]:                           # the live waiters woke
        assert conn.poll(TIMEOUT) and conn.recv() is True
    for conn, p in zip(pipes, procs):
        conn.close()
        p.join(TIMEOUT)
    assert procs[0].exitcode == -signal.SIGKILL
    # And the condition goes on working, with a clean count of waiters.
    assert repr(cond) == '<Condition(<RLock(None, 0)>, 0)>'
    with cond:
        cond.notify()                                # nobody waits: returns at once
        assert cond.wait(0.01) is False


def test_notify_skips_a_waiter_killed_while_another_sleeps(ctx):
    cond = mpref.Condition(mpref.Lock())
    pipes, procs = start_waiters(ctx, wait_on_condition, cond, count=2)
    with cond:
        pass
    procs[1].kill()
    procs[1].join(TIMEOUT)                           # joined this time: not even a zombie
    with cond:
        cond.notify()           # may pick the dead one's count: the live one must wake all the same
        cond.notify()
    assert pipes[0].poll(TIMEOUT) and pipes[0].recv() is True
    for conn, p in zip(pipes, procs):
        conn.close()
        p.join(TIMEOUT)


def start_a_waiter_and_stay(cond, started, pid_pipe, go_on):
    """A middle process: start a grandchild waiting on ``cond``, send its pid,
    and do not join it until ``go_on`` is set (so once killed it stays a
    zombie that only this process could reap)."""
    parent_end, child_end = mpref.Pipe()
    grandchild = mpref.Process(target=wait_on_condition, args=(cond, started, child_end))
    grandchild.start()
    pid_pipe.send(grandchild.pid)
    go_on.wait(TIMEOUT)
    grandchild.join(TIMEOUT)


def test_notify_skips_a_dead_waiter_that_another_process_has_not_reaped(ctx):
    # kill(pid, 0) still finds a zombie; its parent (not us) reaps it when it
    # likes.  notify_all must not wait for that.
    cond = mpref.Condition()
    started, go_on = mpref.Semaphore(0), mpref.Event()
    pid_end, pid_child_end = mpref.Pipe()
    middle = ctx.Process(target=start_a_waiter_and_stay, args=(cond, started, pid_child_end, go_on))
    middle.start()
    try:
        assert pid_end.poll(TIMEOUT)
        grandchild = pid_end.recv()
        assert started.acquire(timeout=TIMEOUT)
        with cond:                  # the grandchild released `started` holding the lock: asleep now
            pass
        os.kill(grandchild, signal.SIGKILL)
        deadline = time.monotonic() + TIMEOUT
        while open('/proc/%d/stat' % grandchild).read().rsplit(')', 1)[1].split()[0] != 'Z':
            assert time.monotonic() < deadline
            time.sleep(0.01)        # until it is dead, unreaped
        done = threading.Event()

        def notify_all():
            with cond:
                cond.notify_all()
            done.set()

        threading.Thread(target=notify_all, daemon=True).start()
        assert done.wait(TIMEOUT / 3)
    finally:
        go_on.set()
        middle.join(TIMEOUT)
    assert middle.exitcode == 0


INTERRUPT_SCRIPT = textwrap.dedent('''
    import signal, sys, threading
    import mpref
    from mpref import semlock
    kind, loops = sys.argv[1], int(sys.argv[2])
    value = 2 if 'Semaphore' in kind else None
    primitive = getattr(mpref, kind)(*([value] if value else []))
    lock = primitive._lock if kind == 'Condition' else primitive
    free_value = value or 1

    class Tick(Exception):
        pass

    armed = False
    def handler(signum, frame):
        global armed
        if armed:
            armed = False
            raise Tick

    def at_release_entry(exc):
        """Did the handler run at the first instruction of release()
        (``__exit__``), before it could do anything?"""
        tb = exc.__traceback__
        while tb.tb_next and tb.tb_next.tb_frame.f_code.co_name != 'handler':
            tb = tb.tb_next
        return tb.tb_frame.f_code is semlock.SemLock.release.__code__ and tb.tb_lasti <= 2

    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    interrupted = free = held_at_entry = broken = 0
    for _ in range(loops):
        try:
            armed = True
            with primitive:
                pass
            armed = False
        except Tick as exc:
            armed = False
            interrupted += 1
            value_now = lock._get_value()
            if value_now == free_value and lock._count == 0:
                free += 1
            elif (value_now == free_value - 1 and lock._count == 1
                  and lock._owner == threading.get_ident() and at_release_entry(exc)):
                held_at_entry += 1          # acquired and owned: consistent
                lock.release()
            else:
                broken += 1
                print('broken:', value_now, lock._count, file=sys.stderr)
                break
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    print(interrupted, free, held_at_entry, broken)
''')


@pytest.mark.parametrize('kind', ['Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition'])
def test_signal_exceptions_never_break_a_primitive(kind):
    # A timer signal whose handler raises about every millisecond while the
    # main thread loops `with primitive: pass`.  After each interruption the
    # primitive is free -- or, when the handler ran at the very first
    # instruction of __exit__ (release), still held by its owner, as with
    # any context manager written in Python: never held by nobody, never a
    # count lost.  (Its own process: no other thread may take the signal.)
    result = subprocess.run([sys.executable, '-c', INTERRUPT_SCRIPT, kind, '20000'],
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    interrupted, free, held_at_entry, broken = map(int, result.stdout.split())
    assert broken == 0, result.stderr
    assert interrupted > 0 and free + held_at_entry == interrupted
    assert free > held_at_entry


@pytest.mark.parametrize('make,call', [
    ('Lock', lambda lock, timeout: lock.acquire(timeout=timeout)),
    ('Condition', lambda cond, timeout: cond.wait(timeout)),
    ('Event', lambda event, timeout: event.wait(timeout)),
])
def test_any_non_negative_timeout(make, call):
    # util.check_timeout's rule: huge values and inf wait (here: until a
    # thread lets go), negative ones do not wait, non-numbers are refused.
    for timeout in (1e7, float('inf'), 2 ** 40):
        obj = getattr(mpref, make)()
        if make == 'Lock':
            obj.acquire()
            wake = obj.release
        elif make == 'Condition':
            obj.acquire()

            def wake(cond=obj):
                with cond:
                    cond.notify()
        else:
            wake = obj.set
        timer = threading.Timer(0.1, wake)
        timer.start()
        assert call(obj, timeout) is True, timeout
        timer.join(TIMEOUT)
        if make == 'Condition':
            obj.release()
    obj = getattr(mpref, make)()
    if make == 'Lock':
        obj.acquire()
    elif make == 'Condition':
        obj.acquire()
    assert call(obj, -1) is False
    with pytest.raises(TypeError, match='number of seconds'):
        call(obj, '1')


def test_long_timed_waits_go_in_slices(monkeypatch):
    # sem_timedwait takes an absolute time: a wait longer than one slice
    # (util.MAX_WAIT_SLICE) is several waits.  Shrink the slice to see it.
    monkeypatch.setattr(synchronize.util, 'MAX_WAIT_SLICE', 0.02)
    lock = mpref.Lock()
    lock.acquire()
    outcome_of = {}
    t = threading.Thread(target=lambda: outcome_of.setdefault('timed out', lock.acquire(timeout=0.2)))
    t.start()
    t.join(TIMEOUT)
    assert outcome_of == {'timed out': False}
    t = threading.Thread(target=lambda: outcome_of.setdefault('got it', lock.acquire(timeout=TIMEOUT)))
    t.start()
    time.sleep(0.1)
    lock.release()
    t.join(TIMEOUT)
    assert outcome_of['got it'] is True


def test_semaphore_tracker_is_its_own_module():
    from mpref import semaphore_tracker
    assert isinstance(semlock._tracker, semaphore_tracker.Tracker)
    assert semlock.LIBRARY_PATH == semaphore_tracker.LIBRARY_PATH


def test_synchronize_still_offers_semlock_and_sem_value_max():
    # They moved to semlock.py; the spellings of CPython's
    # multiprocessing.synchronize keep working.
    assert synchronize.SemLock is semlock.SemLock
    assert synchronize.SEM_VALUE_MAX == semlock.SEM_VALUE_MAX
    assert issubclass(synchronize.Lock, semlock.SemLock)


# -- exit with a daemonic thread still using a primitive ---------------------

DAEMON_SPINS_AT_EXIT = '''
import threading, time
import mpref
{name} = mpref.{kind}()
def spin():
    while True:
        {name}.acquire()
        {name}.release()
threading.Thread(target=spin, daemon=True).start()
time.sleep(0.05)
'''


@pytest.mark.parametrize('kind', ['Lock', 'RLock', 'Semaphore'])
def test_exit_while_a_daemonic_thread_uses_the_primitive_does_not_crash(kind):
    """The creator's exit finalizer unlinks the name but leaves the handle open.

    Closing it (``sem_close``) under a daemonic thread that is inside
    ``sem_wait``/``sem_post`` unmapped the memory that thread was using: the
    interpreter died with SIGSEGV at shutdown in most runs (a queue's feeder
    thread did the same thing, more rarely).
    """
    program = DAEMON_SPINS_AT_EXIT.format(name='prim', kind=kind)
    for _ in range(8):
        result = subprocess.run([sys.executable, '-c', program], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
BUILT_ON_LOCKS_SCRIPT = textwrap.dedent('''
    import queue, signal, sys
    import mpref
    kind, loops = sys.argv[1], int(sys.argv[2])

    class Tick(Exception):
        pass

    armed = False
    def handler(signum, frame):
        global armed
        if armed:
            armed = False
            raise Tick

    counter = iter(range(10 ** 9))
    if kind == 'Value':
        obj = mpref.Value('i', 0)
        locks = [obj.get_lock()]
        def body():
            obj.value += 1
    elif kind == 'Array':
        obj = mpref.Array('i', 8, lock=mpref.Lock())
        locks = [obj.get_lock()]
        def body():
            obj[0] = obj[0] + 1
            obj[:] = obj[:]
    elif kind == 'Event':
        obj = mpref.Event()
        locks = [obj._cond._lock]
        def body():
            obj.set(); obj.is_set(); obj.wait(0); obj.clear(); obj.wait(0)
    else:                                   # Queue, JoinableQueue
        obj = getattr(mpref, kind)(8)
        locks = [obj._rlock] + ([obj._cond._lock] if kind == 'JoinableQueue' else [])
        def body():
            obj.put(next(counter))
            obj.get()
            if kind == 'JoinableQueue':
                obj.task_done()

    def consistent():
        for lock in locks:
            if lock._count or lock._get_value() != 1:
                return 'a lock is held: %r' % lock
        if 'Queue' in kind:
            # Every taken slot holds an object: get exactly that many, in order.
            last = -1
            for _ in range(obj.qsize()):
                try:
                    item = obj.get(timeout=10)
                except queue.Empty:
                    return 'a slot was lost'
                if not item > last:
                    return 'out of order: %r after %r' % (item, last)
                last = item
            if kind == 'JoinableQueue':
                while obj._unfinished_tasks.acquire(False):
                    pass                    # tasks the interruptions left undone
        return None

    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    interrupted = 0
    for _ in range(loops):
        try:
            armed = True
            body()
            armed = False
        except Tick:
            armed = False
            interrupted += 1
            problem = consistent()
            if problem:
                print(problem, file=sys.stderr)
                break
    else:
        problem = None
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    print(interrupted, 'broken' if problem else 'ok')
''')


@pytest.mark.parametrize('kind,loops', [('Value', 20000), ('Array', 10000), ('Event', 5000),
                                        ('Queue', 3000), ('JoinableQueue', 3000)])
def test_signal_exceptions_never_break_what_is_built_on_locks(kind, loops):
    # As above, but the caller wrote no `with`: a lock taken on its behalf
    # (a synchronized value, an Event, a queue's read lock) must be free
    # after every interruption, whatever instruction it hit, and a queue
    # must lose no slot and never read half a message.
    result = subprocess.run([sys.executable, '-c', BUILT_ON_LOCKS_SCRIPT, kind, str(loops)],
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    interrupted, outcome = result.stdout.split()
    assert outcome == 'ok', result.stderr
    assert int(interrupted) > 0


# -- signals held back never keep terminate() from ending a stuck process -----

def test_terminate_ends_a_process_stuck_reading_half_a_message(ctx):
    """A reader waiting for the rest of a message whose writer died holds
    signals back (the queue would break if Ctrl-C landed mid-message), but
    SIGTERM without a Python handler runs no Python code, so it is not held
    back: ``terminate()`` still ends the process."""
    from mpref.targets.synchronize import get_from_queue
    q = ctx.Queue()
    # Half a message, as a writer killed mid-write leaves it: a header
    # announcing 1000 bytes, then 10 of them.
    os.write(q._writer.fileno(), struct.pack('!i', 1000) + b'x' * 10)
    started = ctx.Event()
    p = ctx.Process(target=get_from_queue, args=(q, started))
    p.start()
    assert started.wait(30)
    time.sleep(0.3)                 # into the read of the missing 990 bytes
    p.terminate()
    p.join(10)
    try:
        assert p.exitcode == -signal.SIGTERM, 'terminate() did not end the stuck reader'
    finally:
        if p.exitcode is None:
            p.kill()
            p.join(10)
        q.close()


# --------------------------------------------------------------------------
# A Condition made over reused shared memory.  The spec's benchmark program
# frees an Array just before its Condition test: the condition's waiter table
# was laid over the freed block and read the array's numbers as waiting pids,
# and notify() lost wake-ups (the ping-pong below never ended).  A fresh
# interpreter per case, so the heap reuses the freed block for certain.
# --------------------------------------------------------------------------

PING_PONG_AFTER_FREE = textwrap.dedent('''
    import gc, sys
    import mpref

    def child(cond, rounds):
        for i in range(rounds):
            with cond:
                cond.notify()
                if not cond.wait(10):
                    sys.exit('child: lost the wake-up of round %d' % i)

    if __name__ == '__main__':
        ctx = mpref.get_context(sys.argv[1])
        junk = {'RawArray': lambda: ctx.RawArray('i', range(1, 65)),
                'Array': lambda: ctx.Array('i', range(1, 65), lock=False),
                'RawValue': lambda: [ctx.RawValue('i', n) for n in range(1, 65)],
                'Value': lambda: [ctx.Value('i', n, lock=False) for n in range(1, 65)]}[sys.argv[2]]()
        del junk
        gc.collect()
        cond = ctx.Condition()
        with cond:
            p = ctx.Process(target=child, args=(cond, 50))
            p.start()
            for i in range(50):
                if not cond.wait(10):
                    p.terminate()
                    sys.exit('parent: lost the wake-up of round %d' % i)
                cond.notify()
        p.join(10)
        print('ok', p.exitcode)
''')


@pytest.mark.parametrize('freed', ['RawArray', 'Array', 'RawValue', 'Value'])
def test_condition_made_after_freed_shared_memory_keeps_its_wakeups(start_method, freed, tmp_path):
    script = tmp_path / 'ping_pong.py'
    script.write_text(PING_PONG_AFTER_FREE)
    done = subprocess.run([sys.executable, str(script), start_method, freed],
                          capture_output=True, text=True, timeout=90)
    assert (done.returncode, done.stdout, done.stderr) == (0, 'ok 0\n', '')
