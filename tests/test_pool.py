"""Tests for mpref/pool.py: ``Pool``, ``AsyncResult``, the imap iterators.

Spec sections 16.6.1.5, 16.6.2.9 and the introduction's note on ``Pool`` in
the interactive interpreter (16.6.1); chapter ``notebooks/07_pool.ipynb``.

Most tests run the same program on mpref and on the stdlib's
``multiprocessing.Pool`` (the ``impl`` fixtures) and expect the same results,
exceptions and orderings.  Where mpref deliberately goes beyond the stdlib --
a worker that dies mid-task, a task the worker cannot unpickle, a callback
that raises -- the test runs on mpref alone and is marked ``beyond_stdlib``
in its name; a companion ``test_stdlib_*`` shows (bounded by a timeout, never
suffered) that the stdlib would leave the caller waiting.

The tasks live in ``mpref.targets.pool`` and, for the spec's task functions,
``mpref.targets.tasks``, so that spawned workers (of either implementation) can
import them.  Every pool a test makes is terminated and
joined afterwards, and the module checks at the end that no worker remains.
"""

import gc
import itertools
import multiprocessing as stdlib_mp
import multiprocessing.pool
import os
import pickle
import re
import selectors
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pytest

import mpref
from mpref.targets import pool as targets, tasks
from tests import leakcheck

#: Python >= 3.12 warns at every fork of a process with threads (the stdlib's
#: pools have three): expected here, so not shown.
pytestmark = pytest.mark.filterwarnings(
    r'ignore:This process \(pid=\d+\) is multi-threaded:DeprecationWarning')

GET = 30            # generous bound on a result that should come promptly
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------
# The implementations under test
# --------------------------------------------------------------------------

class Impl:
    """One implementation (mpref or the stdlib) with one start method.

    ``impl.Pool(...)`` makes a pool and remembers it, so the fixture can
    terminate and join every pool the test made, whatever the test did.
    """

    def __init__(self, name, method):
        self.name = name
        self.method = method
        self.module = mpref if name == 'mpref' else stdlib_mp
        self.context = self.module.get_context(method)
        self.TimeoutError = self.module.TimeoutError
        self.pools = []

    def Pool(self, *args, **kwargs):
        pool = self.context.Pool(*args, **kwargs)
        self.pools.append(pool)
        return pool

    def close_all(self):
        for pool in self.pools:
            pool.terminate()
            pool.join()

    def __repr__(self):
        return '%s-%s' % (self.name, self.method)


def _impl_fixture(request):
    name, method = request.param.split('-')
    impl = Impl(name, method)
    yield impl
    impl.close_all()


#: mpref and the stdlib under fork: behaviour that does not depend on the method.
impl = pytest.fixture(params=['mpref-fork', 'stdlib-fork'])(_impl_fixture)

#: mpref and the stdlib under fork and spawn.
any_impl = pytest.fixture(params=['mpref-fork', 'mpref-spawn', 'stdlib-fork', 'stdlib-spawn'])(
    _impl_fixture)

#: mpref alone under fork and spawn: where mpref goes beyond the stdlib.
mp_impl = pytest.fixture(params=['mpref-fork', 'mpref-spawn'])(_impl_fixture)

#: the stdlib alone: to show, with a timeout, where it leaves the caller waiting.
stdlib_impl = pytest.fixture(params=['stdlib-fork'])(_impl_fixture)


@pytest.fixture(scope='module', autouse=True)
def no_worker_remains():
    """After the whole module: no child of this process is left running."""
    yield
    deadline = time.monotonic() + 10
    while leakcheck.live_children(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in leakcheck.live_children(os.getpid()) if not _is_tracker(pid)]
    assert not left, 'pool workers left behind: %s' % leakcheck.describe(left)


def _is_tracker(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return b'_tracker_main' in f.read()
    except OSError:
        return False


def _eventually(condition, timeout=GET):
    """Poll ``condition`` until it is true or ``timeout`` seconds pass; return it."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def worker_name(_=None):
    """The running worker's name, in a worker of either implementation."""
    name = stdlib_mp.current_process().name
    return mpref.current_process().name if name == 'MainProcess' else name


def _alive_pids(pool):
    return {w.pid for w in pool._pool if w.is_alive()}


# --------------------------------------------------------------------------
# Pool([processes[, initializer[, initargs]]])
# --------------------------------------------------------------------------

def test_default_number_of_workers_is_cpu_count(impl):
    pool = impl.Pool()
    assert len(pool._pool) == impl.module.cpu_count()


@pytest.mark.parametrize('processes', [0, -1])
def test_processes_must_be_at_least_one(impl, processes):
    with pytest.raises(ValueError):
        impl.Pool(processes)


def test_pool_holds_its_workers_as_process_objects(impl):
    pool = impl.Pool(3)
    base = mpref.Process if impl.name == 'mpref' else stdlib_mp.process.BaseProcess
    assert len(pool._pool) == 3
    assert all(isinstance(w, base) for w in pool._pool)
    assert all(w.is_alive() for w in pool._pool)
    assert len({w.pid for w in pool._pool}) == 3


def test_tasks_see_the_name_of_the_worker_that_runs_them(any_impl):
    pool = any_impl.Pool(2)
    names = set(pool.map(worker_name, range(20), chunksize=1))
    assert names <= {w.name for w in pool._pool}
    pids = set(pool.map(targets.worker_pid, range(20), chunksize=1))
    assert pids <= {w.pid for w in pool._pool}
    if any_impl.name == 'mpref':     # the spec's names (the stdlib says ForkPoolWorker-N)
        assert all(re.fullmatch(r'PoolWorker-\d+', w.name) for w in pool._pool)


def test_initializer_runs_in_each_worker_with_initargs(any_impl):
    pool = any_impl.Pool(2, targets.remember, ('hello', 42))
    assert set(pool.map(targets.remembered, range(10), chunksize=1)) == {('hello', 42)}
    assert pool.apply(targets.remembered) == ('hello', 42)


def test_initializer_keyword_and_no_initargs(impl):
    pool = impl.Pool(processes=1, initializer=targets.remember)
    assert pool.apply(targets.remembered) == ()


def test_start_method_decides_what_workers_inherit(any_impl, monkeypatch):
    # A forked worker is a copy of the parent; a spawned one imports afresh.
    monkeypatch.setattr(targets, '_initialized_with', 'set in the parent')
    pool = any_impl.Pool(1)
    expected = 'set in the parent' if any_impl.method == 'fork' else None
    assert pool.apply(targets.remembered) == expected


# --------------------------------------------------------------------------
# apply, apply_async, AsyncResult
# --------------------------------------------------------------------------

def test_the_pool_exceptions_keep_the_spec_spelling():
    # Each is defined in the module that raises it, and offered where the
    # spec (and CPython) spell it: mpref.pool.X.
    assert mpref.pool.WorkerLostError is mpref.pool_core.WorkerLostError
    assert mpref.pool.MaybeEncodingError is mpref.pool_worker.MaybeEncodingError
    assert mpref.pool.RemoteTraceback is mpref.pool_worker.RemoteTraceback
    assert {'WorkerLostError', 'MaybeEncodingError', 'RemoteTraceback'} <= set(mpref.pool.__all__)


def test_apply_returns_the_result(impl):
    pool = impl.Pool(2)
    assert pool.apply(tasks.f, (10,)) == 100
    assert pool.apply(targets.sleep_and_return, (0,), {'value': 'kw'}) == 'kw'
    assert pool.apply(worker_name) in {w.name for w in pool._pool}


def test_apply_reraises_the_tasks_exception(impl):
    pool = impl.Pool(2)
    with pytest.raises(ZeroDivisionError):
        pool.apply(tasks.reciprocal, (5,))
    assert pool.apply(tasks.reciprocal, (6,)) == 1.0


def test_the_exception_carries_the_workers_traceback_as_its_cause(any_impl):
    pool = any_impl.Pool(1)
    with pytest.raises(ValueError, match='task failed on 3') as info:
        pool.apply(targets.fail_in_helper, (3,))
    cause = str(info.value.__cause__)
    assert 'Traceback' in cause
    assert 'fail_in_helper' in cause and '_helper_that_fails' in cause
    assert 'ValueError: task failed on 3' in cause


def test_the_cause_keeps_the_workers_traceback_as_tb(any_impl):
    # CPython's test_traceback: cause.tb, beyond the spec (Python 3.4).
    pool = any_impl.Pool(1)
    with pytest.raises(ValueError) as info:
        pool.apply(targets.fail_in_helper, (3,))
    cause = info.value.__cause__
    assert type(cause) is any_impl.module.pool.RemoteTraceback
    assert "raise ValueError('task failed on %s' % (x,))" in cause.tb
    assert cause.tb.strip() in str(cause)


def test_apply_async_get_with_timeout(impl):
    # The spec's first pool example (16.6.1.5).
    pool = impl.Pool(processes=4)
    result = pool.apply_async(tasks.f, [10])
    assert result.get(timeout=GET) == 100
    assert pool.map(tasks.f, range(10)) == [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]


def test_get_raises_TimeoutError_when_the_result_is_late(impl):
    # The spec's time.sleep example (16.6.2.9).
    pool = impl.Pool(1)
    result = pool.apply_async(time.sleep, (10,))
    with pytest.raises(impl.TimeoutError):
        result.get(timeout=0.2)
    assert not result.ready()
    if impl.name == 'mpref':
        assert impl.TimeoutError is mpref.TimeoutError
        assert issubclass(mpref.TimeoutError, mpref.ProcessError)


def test_wait_ready_and_successful(impl):
    pool = impl.Pool(2)
    pending = pool.apply_async(targets.sleep_and_return, (10,))
    assert pending.wait(0.1) is None
    assert not pending.ready()
    # The spec says AssertionError; the stdlib raises ValueError since 3.7.
    expected = AssertionError if impl.name == 'mpref' else ValueError
    with pytest.raises(expected):
        pending.successful()

    done = pool.apply_async(tasks.f, (3,))
    done.wait(GET)
    assert done.ready() and done.successful() and done.get(0) == 9

    failed = pool.apply_async(tasks.reciprocal, (5,))
    failed.wait(GET)
    assert failed.ready() and not failed.successful()
    with pytest.raises(ZeroDivisionError):
        failed.get(0)


def test_get_timeout_follows_the_timeout_rule():
    # mpref's one rule for timeouts: TypeError for a non-number, ValueError
    # for NaN, a negative timeout means "do not wait".
    impl = Impl('mpref', 'fork')
    try:
        pool = impl.Pool(1)
        pending = pool.apply_async(targets.sleep_and_return, (10,))
        with pytest.raises(TypeError):
            pending.get('1')
        with pytest.raises(ValueError):
            pending.get(float('nan'))
        with pytest.raises(mpref.TimeoutError):
            pending.get(-1)
        with pytest.raises(TypeError):
            pool.imap(targets.sleep_and_return, [10]).next('1')
    finally:
        impl.close_all()


def test_callback_runs_in_the_result_thread_only_on_success(impl):
    pool = impl.Pool(2)
    calls = []

    def callback(value):
        calls.append((value, threading.current_thread()))

    ok = pool.apply_async(tasks.f, (7,), callback=callback)
    ok.wait(GET)
    # The callback has run by the time the result is ready (the spec's pool
    # test relies on it), in the pool's result-handling thread.
    assert [value for value, _ in calls] == [49]
    assert calls[0][1] is not threading.current_thread()

    failed = pool.apply_async(tasks.reciprocal, (5,), callback=callback)
    failed.wait(GET)
    assert not failed.successful()
    assert len(calls) == 1


def test_error_callback_gets_the_exception_only_on_failure(impl):
    pool = impl.Pool(2)
    values, errors = [], []

    def on_error(exc):
        errors.append((exc, threading.current_thread()))

    failed = pool.apply_async(tasks.reciprocal, (5,), callback=values.append, error_callback=on_error)
    failed.wait(GET)
    assert values == []
    assert len(errors) == 1 and isinstance(errors[0][0], ZeroDivisionError)
    assert errors[0][1] is not threading.current_thread()

    ok = pool.apply_async(tasks.f, (2,), callback=values.append, error_callback=on_error)
    ok.wait(GET)
    assert values == [4] and len(errors) == 1

    failed_map = pool.map_async(tasks.reciprocal, range(10), error_callback=on_error)
    failed_map.wait(GET)
    assert len(errors) == 2 and isinstance(errors[1][0], ZeroDivisionError)


def test_callbacks_as_in_the_spec_pool_test(impl):
    pool = impl.Pool(4)
    collected = []
    r = pool.apply_async(targets.mul, (7, 8), callback=collected.append)
    r.wait()
    r = pool.map_async(tasks.pow3, range(10), callback=collected.extend)
    r.wait()
    assert collected == [56, 0, 1, 8, 27, 64, 125, 216, 343, 512, 729]


def test_beyond_stdlib_a_raising_callback_is_reported_and_the_pool_goes_on(mp_impl, capfd):
    pool = mp_impl.Pool(2)

    def bad_callback(value):
        raise RuntimeError('callback failed on %r' % (value,))

    result = pool.apply_async(tasks.f, (3,), callback=bad_callback)
    result.wait(GET)
    assert result.ready()
    assert pool.apply_async(tasks.f, (4,)).get(GET) == 16
    assert pool.map_async(tasks.f, range(5)).get(GET) == [0, 1, 4, 9, 16]
    err = capfd.readouterr().err
    assert 'callback failed on 9' in err


def test_beyond_stdlib_a_report_that_cannot_be_written_does_not_stop_the_pool(mp_impl,
                                                                                broken_stderr):
    # The result thread reports a raising callback on stderr; if stderr is
    # closed or broken the report fails, and the result must complete all the
    # same (the report's own error killed the result thread: this result and
    # every later one waited for ever).
    pool = mp_impl.Pool(1)

    def bad_callback(value):
        raise RuntimeError('callback failed on %r' % (value,))

    result = pool.apply_async(tasks.f, (3,), callback=bad_callback)
    result.wait(GET)
    assert result.ready() and result.get(0) == 9
    assert pool.apply_async(tasks.f, (4,)).get(GET) == 16


@pytest.mark.filterwarnings('ignore::pytest.PytestUnhandledThreadExceptionWarning')
def test_stdlib_a_raising_callback_leaves_later_results_waiting(stdlib_impl):
    pool = stdlib_impl.Pool(2)

    def bad_callback(value):
        raise RuntimeError('callback failed')

    pool.apply_async(tasks.f, (3,), callback=bad_callback)
    # The stdlib's result handler thread dies with the callback's exception...
    assert _eventually(lambda: not pool._result_handler.is_alive())
    # ... so no later result ever arrives,
    with pytest.raises(stdlib_mp.TimeoutError):
        pool.apply_async(tasks.f, (4,)).get(2)
    # and terminate() refuses to run: the workers must be killed by hand.
    with pytest.raises(AssertionError, match='not alive'):
        pool.terminate()
    for worker in pool._pool:
        worker.kill()
        worker.join(GET)


# --------------------------------------------------------------------------
# map, map_async, starmap, starmap_async
# --------------------------------------------------------------------------

@pytest.mark.parametrize('chunksize', [None, 1, 3, 100])
def test_map_returns_results_in_order(any_impl, chunksize):
    pool = any_impl.Pool(2)
    assert pool.map(tasks.f, range(50), chunksize) == [x * x for x in range(50)]
    assert pool.map_async(tasks.f, range(50), chunksize).get(GET) == [x * x for x in range(50)]


def test_map_takes_any_iterable(impl):
    pool = impl.Pool(2)
    assert pool.map(tasks.f, []) == []
    assert pool.map(tasks.f, (i for i in range(5))) == [0, 1, 4, 9, 16]
    assert pool.map(worker_name, 'ab', chunksize=1)[0] in {w.name for w in pool._pool}


@pytest.mark.parametrize('chunksize', [None, 1, 3])
@pytest.mark.parametrize('bad', [0, 5, 9])
def test_an_exception_in_any_chunk_surfaces_in_map(impl, chunksize, bad):
    pool = impl.Pool(2)
    with pytest.raises(ValueError, match='item %d is bad' % bad):
        pool.starmap(targets.fail_at, [(i, bad) for i in range(10)], chunksize)
    result = pool.starmap_async(targets.fail_at, [(i, bad) for i in range(10)], chunksize)
    result.wait(GET)
    assert result.ready() and not result.successful()
    with pytest.raises(ValueError, match='item %d is bad' % bad):
        result.get(0)


def test_map_raises_the_tasks_exception_as_in_the_spec_pool_test(impl):
    pool = impl.Pool(4)
    with pytest.raises(ZeroDivisionError):
        pool.map(tasks.reciprocal, range(10))


def test_starmap_unpacks_each_argument_tuple(impl):
    pool = impl.Pool(2)
    pairs = [(i, 7) for i in range(10)]
    assert pool.starmap(targets.mul, pairs) == [i * 7 for i in range(10)]
    assert pool.starmap_async(targets.plus, pairs, 3).get(GET) == [i + 7 for i in range(10)]


@pytest.mark.parametrize('chunksize', [0, -2])
def test_chunksize_must_be_positive(impl, chunksize):
    pool = impl.Pool(1)
    with pytest.raises(ValueError):
        list(pool.imap(tasks.f, range(5), chunksize))
    with pytest.raises(ValueError):
        list(pool.imap_unordered(tasks.f, range(5), chunksize))
    if impl.name == 'mpref':     # the stdlib's map loops forever on chunksize 0
        with pytest.raises(ValueError):
            pool.map(tasks.f, range(5), chunksize)


# --------------------------------------------------------------------------
# imap, imap_unordered
# --------------------------------------------------------------------------

@pytest.mark.parametrize('chunksize', [1, 4])
def test_imap_yields_results_in_order(any_impl, chunksize):
    pool = any_impl.Pool(2)
    assert list(pool.imap(tasks.f, range(30), chunksize)) == [x * x for x in range(30)]


def test_imap_next_as_in_the_spec(impl):
    pool = impl.Pool(processes=4)
    it = pool.imap(tasks.f, range(10))
    assert next(it) == 0
    assert it.next() == 1
    assert it.next(timeout=GET) == 4


def test_imap_next_with_timeout_raises_TimeoutError(impl):
    pool = impl.Pool(1)
    it = pool.imap(targets.sleep_and_return, [10, 0])
    with pytest.raises(impl.TimeoutError):
        it.next(timeout=0.2)
    with pytest.raises(impl.TimeoutError):
        it.next(0)


def test_imap_next_with_timeout_as_in_the_spec_pool_test(impl):
    # Poll with a short timeout until every result is in, counting timeouts.
    pool = impl.Pool(2)
    it = pool.imap(targets.sleep_and_return, [0.3, 0, 0.3])
    got = []
    deadline = time.monotonic() + GET
    while time.monotonic() < deadline:
        try:
            got.append(it.next(0.02))
        except StopIteration:
            break
        except impl.TimeoutError:
            pass
    assert got == [None, None, None]


def test_imap_raises_at_the_right_item_and_later_items_still_arrive(impl):
    # The spec's pool test: IMapIterator.next() raises ZeroDivisionError at
    # item 5 only, then goes on to the end.
    pool = impl.Pool(4)
    it = pool.imap(tasks.reciprocal, range(10))
    outcomes = []
    for i in range(11):
        try:
            outcomes.append(it.next(GET))
        except ZeroDivisionError:
            outcomes.append('ZeroDivisionError')
        except StopIteration:
            outcomes.append('StopIteration')
            break
    assert outcomes == [1.0 / (x - 5.0) if x != 5 else 'ZeroDivisionError'
                        for x in range(10)] + ['StopIteration']


def test_list_of_imap_raises_the_tasks_exception(impl):
    pool = impl.Pool(4)
    with pytest.raises(ZeroDivisionError):
        list(pool.imap(tasks.reciprocal, range(10)))


def test_imap_with_chunks_yields_the_good_items_before_the_bad_one(impl):
    # With chunksize 3 the bad item 5 is in the second chunk: the first
    # chunk's results come through, then the exception.
    pool = impl.Pool(2)
    it = pool.imap(tasks.reciprocal, range(10), 3)
    got = []
    with pytest.raises(ZeroDivisionError):
        for x in it:
            got.append(x)
    assert 3 <= len(got) <= 5
    assert got == [1.0 / (x - 5.0) for x in range(len(got))]


class InputBroke(Exception):
    """Raised by ``items_then_raise``: the input of a map or imap failed."""


def items_then_raise(count, when):
    """Yield 0, 1, ... and raise ``InputBroke`` instead of item ``when`` (CPython's test's generator)."""
    for i in range(count):
        if i == when:
            raise InputBroke('the input raised at item %d' % i)
        yield i


def read_all(iterator):
    """Every outcome of an imap iterator, in the order read: values, and the
    name of each exception raised; ends at StopIteration (or after 30 reads)."""
    outcomes = []
    for _ in range(30):
        try:
            outcomes.append(iterator.next(GET) if hasattr(iterator, 'next') else next(iterator))
        except StopIteration:
            break
        except Exception as exc:
            outcomes.append(type(exc).__name__)
    return outcomes


@pytest.mark.parametrize('count, when, chunksize', [(1, 0, 1), (10, 3, 1), (20, 7, 2), (20, 7, 4)])
def test_an_input_that_raises_raises_from_imap_next_after_the_full_chunks(impl, count, when, chunksize):
    # CPython's test_imap_handle_iterable_exception: the input's exception
    # takes the place of the chunk being read, so next() raises it right
    # after the results of the complete chunks before it, and the items of
    # the incomplete chunk never run.
    pool = impl.Pool(2)
    full = when - when % chunksize
    it = pool.imap(tasks.f, items_then_raise(count, when), chunksize)
    assert [next(it) for _ in range(full)] == [x * x for x in range(full)]
    with pytest.raises(InputBroke):
        next(it)
    it = pool.imap(tasks.f, items_then_raise(count, when), chunksize)
    if impl.name == 'mpref' or chunksize == 1:  # the stdlib's chunked iterator ends at an exception
        assert read_all(it) == [x * x for x in range(full)] + ['InputBroke']


@pytest.mark.parametrize('chunksize', [1, 2, 4])
def test_an_input_that_raises_fails_imap_unordered_without_the_incomplete_chunk(impl, chunksize):
    pool = impl.Pool(2)
    it = pool.imap_unordered(tasks.f, items_then_raise(20, 7), chunksize)
    with pytest.raises(InputBroke):
        for value in it:
            assert value in [x * x for x in range(7 - 7 % chunksize)]
    if impl.name == 'mpref':    # and mpref's iteration goes on after it, to the end
        it = pool.imap_unordered(tasks.f, items_then_raise(20, 7), chunksize)
        outcomes = read_all(it)
        assert outcomes.count('InputBroke') == 1
        outcomes.remove('InputBroke')
        assert sorted(outcomes) == [x * x for x in range(7 - 7 % chunksize)]


@pytest.mark.parametrize('call', ['map', 'map_async', 'starmap', 'starmap_async'])
def test_an_input_that_raises_fails_map_in_the_caller(impl, call):
    pool = impl.Pool(2)
    items = items_then_raise(20, 7)
    if call.startswith('starmap'):
        items = ((x,) for x in items)
    with pytest.raises(InputBroke):
        getattr(pool, call)(tasks.f, items, 2)
    assert pool.map(tasks.f, range(3)) == [0, 1, 4]


@pytest.mark.parametrize('chunksize', [1, 7])
def test_imap_unordered_yields_every_result(any_impl, chunksize):
    pool = any_impl.Pool(2)
    assert sorted(pool.imap_unordered(tasks.f, range(40), chunksize)) == [x * x for x in range(40)]


def test_imap_unordered_with_one_worker_keeps_the_order(impl):
    # "Only when there is only one worker process is the order guaranteed."
    pool = impl.Pool(1)
    assert list(pool.imap_unordered(tasks.f, range(20))) == [x * x for x in range(20)]


def test_imap_unordered_gives_results_as_they_finish(impl):
    pool = impl.Pool(2)
    # The slow first task finishes last: unordered yields the quick one first.
    it = pool.imap_unordered(targets.calculatestar, [(targets.sleep_and_return, (2.0, 'slow')),
                                                   (targets.sleep_and_return, (0, 'quick'))])
    first = it.next(GET)
    assert 'quick' in first
    assert 'slow' in it.next(GET)


def test_imap_unordered_raises_the_tasks_exception(impl):
    pool = impl.Pool(2)
    with pytest.raises(ZeroDivisionError):
        list(pool.imap_unordered(tasks.reciprocal, range(10)))


# --------------------------------------------------------------------------
# The spec's pool test: ordered and unordered results
# --------------------------------------------------------------------------

def test_ordered_and_unordered_results_as_in_the_spec_pool_test(any_impl):
    pool = any_impl.Pool(4)
    jobs = [(targets.mul, (i, 7)) for i in range(10)] + [(targets.plus, (i, 8)) for i in range(10)]
    expected = ['mul%s = %s' % ((i, 7), i * 7) for i in range(10)] + \
               ['plus%s = %s' % ((i, 8), i + 8) for i in range(10)]

    def strip_worker(line):
        name, says = line.split(' says that ')
        if any_impl.name == 'mpref':        # the task asks mpref for its worker's name
            assert name in {w.name for w in pool._pool}
        return says

    results = [pool.apply_async(targets.calculate, job) for job in jobs]
    imap_it = pool.imap(targets.calculatestar, jobs)
    imap_unordered_it = pool.imap_unordered(targets.calculatestar, jobs)
    assert [strip_worker(r.get(GET)) for r in results] == expected
    assert [strip_worker(x) for x in imap_it] == expected
    assert sorted(strip_worker(x) for x in imap_unordered_it) == sorted(expected)
    assert [strip_worker(x) for x in pool.map(targets.calculatestar, jobs)] == expected


# --------------------------------------------------------------------------
# maxtasksperchild
# --------------------------------------------------------------------------

def test_maxtasksperchild_replaces_each_worker_after_its_tasks(any_impl):
    pool = any_impl.Pool(1, maxtasksperchild=1)
    pids = [pool.apply(targets.worker_pid) for _ in range(4)]
    assert len(set(pids)) == 4
    assert _eventually(lambda: len(_alive_pids(pool)) == 1)


def test_maxtasksperchild_two_tasks_per_worker(impl):
    pool = impl.Pool(1, maxtasksperchild=2)
    pids = [pool.apply(targets.worker_pid) for _ in range(6)]
    assert len(set(pids)) == 3
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[4] == pids[5]


@pytest.mark.parametrize('bad', [0, -1, 0.5, 1.5, '12'])
def test_maxtasksperchild_must_be_a_positive_int(impl, bad):
    # CPython's test_pool_maxtasksperchild_invalid: ValueError, whatever is wrong.
    with pytest.raises(ValueError, match='maxtasksperchild'):
        impl.Pool(1, maxtasksperchild=bad)


def test_workers_retired_at_maxtasksperchild_are_replaced(impl):
    # CPython's test_pool_worker_lifetime, with the private _repopulate_pool()
    # it calls (mpref's result thread has already started the replacements).
    pool = impl.Pool(3, maxtasksperchild=10)
    first = sorted(w.pid for w in pool._pool)
    results = [pool.apply_async(tasks.f, (i,)) for i in range(100)]
    assert [r.get(GET) for r in results] == [i * i for i in range(100)]
    pool._repopulate_pool()
    assert _eventually(lambda: all(w.is_alive() for w in pool._pool), 5)
    assert None not in [w.pid for w in pool._pool]
    assert len(pool._pool) == 3 or impl.name == 'stdlib'    # (its _pool may briefly hold more)
    assert sorted(w.pid for w in pool._pool) != first


# --------------------------------------------------------------------------
# close, join, terminate, garbage collection, the context manager, _cache
# --------------------------------------------------------------------------

def test_join_before_close_raises_ValueError(impl):
    pool = impl.Pool(1)
    with pytest.raises(ValueError):
        pool.join()


@pytest.mark.parametrize('stop', ['close', 'terminate'])
def test_submitting_to_a_stopped_pool_raises_ValueError(impl, stop):
    pool = impl.Pool(1)
    getattr(pool, stop)()
    for submit in (lambda: pool.apply_async(tasks.f, (1,)),
                   lambda: pool.apply(tasks.f, (1,)),
                   lambda: pool.map(tasks.f, [1]),
                   lambda: pool.map_async(tasks.f, [1]),
                   lambda: pool.starmap(targets.mul, [(1, 2)]),
                   lambda: pool.imap(tasks.f, [1]),
                   lambda: pool.imap_unordered(tasks.f, [1])):
        with pytest.raises(ValueError):
            submit()
    pool.join()


def test_close_lets_the_outstanding_work_finish(any_impl):
    # The spec's pool test: close() then join() -- the queued task still runs.
    pool = any_impl.Pool(2)
    assert all(w.is_alive() for w in pool._pool)
    result = pool.apply_async(targets.sleep_and_return, (0.5, 'done'))
    pool.close()
    pool.join()
    assert result.get(0) == 'done'
    assert not any(w.is_alive() for w in pool._pool)
    assert [w.exitcode for w in pool._pool] == [0, 0]


def test_terminate_stops_the_workers_without_finishing(any_impl):
    # The spec's pool test: 100 queued sleeps are abandoned.
    pool = any_impl.Pool(2)
    assert pool.apply(tasks.pow3, [2]) == 8
    results = [pool.apply_async(time.sleep, [0.1]) for _ in range(100)]
    pool.terminate()
    pool.join()
    assert not any(w.is_alive() for w in pool._pool)
    assert not all(r.ready() and r.successful() for r in results)


def test_terminate_twice_and_close_after_terminate_are_harmless(impl):
    pool = impl.Pool(1)
    pool.terminate()
    pool.terminate()
    pool.close()
    pool.join()
    pool.join()


@pytest.mark.filterwarnings('ignore::ResourceWarning')
def test_garbage_collection_terminates_the_pool(any_impl):
    # The spec's pool test: drop every reference to the pool (and to the
    # results, which may refer to it); its workers go away.
    pool = any_impl.context.Pool(2)         # not remembered: the fixture must not keep it
    processes = list(pool._pool)
    assert pool.apply(tasks.pow3, [2]) == 8
    results = [pool.apply_async(time.sleep, [0.1]) for _ in range(100)]
    results = pool = None
    gc.collect()
    assert _eventually(lambda: not any(w.is_alive() for w in processes))
    del results


def test_a_pool_collected_while_running_is_a_ResourceWarning(any_impl):
    # Beyond the spec (CPython 3.8), and CPython's test_resource_warning,
    # which sets the private _state of a terminated pool back to RUN.
    pool = any_impl.context.Pool(1)
    with pytest.warns(ResourceWarning, match='unclosed running multiprocessing pool'):
        pool = None
        gc.collect()
    for stop in ('close', 'terminate'):
        pool = any_impl.context.Pool(1)
        getattr(pool, stop)()
        pool.join()
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            pool = None
            gc.collect()
    pool = any_impl.context.Pool(1)
    pool.terminate()
    pool.join()
    pool._state = any_impl.module.pool.RUN
    with pytest.warns(ResourceWarning, match='unclosed running multiprocessing pool'):
        pool = None
        gc.collect()


def start_unreferenced(context, call):
    """Start ``call`` on a new 2-worker pool that nothing else refers to;
    return its result and workers, and the results it should give."""
    pool = context.Pool(2)
    workers = list(pool._pool)
    naps = [0.05] * 8
    if call == 'apply_async':
        result, expected = pool.apply_async(tasks.nap, (0.2,)), 0.2
    elif call == 'map_async':
        result, expected = pool.map_async(tasks.nap, naps), naps
    else:
        result, expected = getattr(pool, call)(tasks.nap, naps), naps
    return result, workers, expected


@pytest.mark.filterwarnings('ignore::ResourceWarning')
@pytest.mark.parametrize('call', ['imap', 'imap_unordered', 'map_async', 'apply_async'])
def test_results_still_due_keep_their_pool_alive(any_impl, call):
    # list(Pool(2).imap(f, items)): the pool object is garbage at once, but
    # the results still due keep it alive (as CPython does since 3.8); once
    # they are read and dropped too, the pool ends.
    result, workers, expected = start_unreferenced(any_impl.context, call)
    gc.collect()
    got = result.get(GET) if call.endswith('async') else [result.next(GET) for _ in expected]
    assert got == expected
    del result
    gc.collect()
    assert _eventually(lambda: not any(w.is_alive() for w in workers))


@pytest.mark.filterwarnings('ignore::ResourceWarning')
def test_a_complete_result_does_not_keep_its_pool_alive(any_impl):
    # The spec's rule holds for a pool whose results are all complete: it is
    # terminated as soon as the last reference to it goes (no gc.collect()).
    pool = any_impl.context.Pool(2)
    workers = list(pool._pool)
    results = [pool.apply_async(tasks.f, (3,)), pool.map_async(tasks.f, range(4)),
               pool.imap(tasks.f, range(4)), pool.imap_unordered(tasks.f, range(4))]
    assert [results[0].get(GET), results[1].get(GET), list(results[2]), sorted(results[3])] == \
        [9, [0, 1, 4, 9], [0, 1, 4, 9], [0, 1, 4, 9]]
    gc.disable()        # refcounting alone
    try:
        del pool
        assert _eventually(lambda: not any(w.is_alive() for w in workers))
    finally:
        gc.enable()
    del results


def test_beyond_stdlib_a_pool_ended_by_its_last_result_starts_no_replacement(mp_impl):
    # The worker dies; failing its task completes the last result that held
    # the pool, which is terminated there and then -- so the dead worker
    # must not be replaced.
    pool = mp_impl.context.Pool(1)
    processes = pool._pool
    first = processes[0]
    result = pool.apply_async(targets.kill_self)
    del pool
    with pytest.raises(mpref.pool.WorkerLostError):
        result.get(GET)
    result._result_thread.join(GET)         # the pool's machinery has ended
    assert processes == [first] and not first.is_alive()


def test_the_context_manager_terminates_on_exit(any_impl):
    with any_impl.Pool(2) as pool:
        assert pool.map(tasks.f, range(4)) == [0, 1, 4, 9]
        workers = list(pool._pool)
        pending = pool.apply_async(time.sleep, [10])
    assert _eventually(lambda: not any(w.is_alive() for w in workers))
    assert not pending.ready() or not pending.successful()
    with pytest.raises(ValueError):
        pool.apply_async(tasks.f, (1,))
    pool.join()


def test_cache_holds_the_outstanding_results_until_collected(impl):
    pool = impl.Pool(2)
    slow = pool.apply_async(targets.sleep_and_return, (1.0, 'slow'))
    assert len(pool._cache) >= 1
    assert slow.get(GET) == 'slow'
    assert pool.map_async(tasks.f, range(10)).get(GET)[-1] == 81
    assert list(pool.imap(tasks.f, range(10), 2))[-1] == 81
    assert sorted(pool.imap_unordered(tasks.f, range(10)))[-1] == 81
    pool.apply_async(tasks.f, (2,), callback=lambda v: None).wait(GET)
    # The stdlib removes an entry just after the result is marked ready.
    assert _eventually(lambda: not pool._cache), pool._cache


def run_and_forget(pool, call):
    """Run ``call`` over ten ``targets.Counted`` objects, drop everything; return weakrefs to them."""
    import weakref
    objs = [targets.Counted() for _ in range(10)]
    refs = [weakref.ref(o) for o in objs]
    if call == 'map':
        pool.map(targets.identity, objs, 3)
    elif call == 'map_async':
        pool.map_async(targets.identity, objs).get(GET)
    elif call == 'starmap':
        pool.starmap(targets.identity, [(o,) for o in objs])
    elif call == 'apply_async':
        for o in objs:
            pool.apply_async(targets.identity, (o,)).get(GET)
    elif call == 'imap':
        list(pool.imap(targets.identity, objs, 2))
    elif call == 'imap_unordered':
        list(pool.imap_unordered(targets.identity, iter(objs)))
    return refs


@pytest.mark.parametrize('call', ['map', 'map_async', 'starmap', 'apply_async', 'imap',
                                  'imap_unordered'])
def test_arguments_and_results_are_released_once_the_task_is_done(any_impl, call):
    # CPython's test_release_task_refs: neither the tasks' arguments nor the
    # copies of them that came back stay alive in the parent (task objects,
    # chunks, the result thread's or a feeder's last task).
    pool = any_impl.Pool(2)
    refs = run_and_forget(pool, call)
    assert _eventually(lambda: all_released(refs), 5), targets.Counted.alive


def test_a_worker_keeps_nothing_of_its_last_task_while_it_waits_for_the_next(any_impl):
    pool = any_impl.Pool(1)
    assert isinstance(pool.apply(targets.identity, (targets.Counted(),)), targets.Counted)
    assert pool.map(targets.identity, [targets.Counted()] * 3)[0] is not None
    assert pool.apply(targets.counted_alive) == 0


def all_released(refs):
    gc.collect()
    return targets.Counted.alive == 0 and all(r() is None for r in refs)


# --------------------------------------------------------------------------
# Pickling: results, functions, arguments, tasks the worker cannot unpickle
# --------------------------------------------------------------------------

def test_an_unpicklable_result_fails_that_task_and_the_pool_goes_on(any_impl):
    pool = any_impl.Pool(2)
    result = pool.apply_async(targets.unpicklable_result)
    with pytest.raises(Exception) as info:
        result.get(GET)
    assert 'lock' in str(info.value)
    assert type(info.value) is any_impl.module.pool.MaybeEncodingError
    # Beyond the spec (CPython 3): the reprs of the error and of the value.
    assert "cannot pickle '_thread.lock' object" in info.value.exc
    assert '_thread.lock' in info.value.value
    errors = []
    pool.apply_async(targets.unpicklable_result, error_callback=errors.append).wait(GET)
    assert type(errors[0]) is any_impl.module.pool.MaybeEncodingError and errors[0].exc
    with pytest.raises(Exception, match='lock'):
        pool.map(targets.unpicklable_result, range(4))
    assert pool.apply(tasks.f, (3,)) == 9
    assert pool.map(tasks.f, range(20)) == [x * x for x in range(20)]
    assert len(_alive_pids(pool)) == 2


#: A module-level lambda: pickle cannot find it by its name '<lambda>'.
a_lambda = lambda x: x


def test_an_unpicklable_function_fails_at_the_caller(impl):
    pool = impl.Pool(2)
    with pytest.raises(pickle.PicklingError):
        pool.apply(a_lambda, (1,))
    with pytest.raises(pickle.PicklingError):
        pool.map(a_lambda, range(3))
    with pytest.raises(pickle.PicklingError):
        pool.apply_async(a_lambda, (1,)).get(GET)
    assert pool.apply(tasks.f, (3,)) == 9


def test_an_unpicklable_argument_fails_at_the_caller(impl):
    pool = impl.Pool(2)
    with pytest.raises(TypeError, match='pickle'):
        pool.apply(tasks.f, (threading.Lock(),))
    with pytest.raises(TypeError, match='pickle'):
        pool.map(tasks.f, [1, threading.Lock(), 3])
    assert pool.map(tasks.f, [1, 2, 3]) == [1, 4, 9]


def _define_late_function(monkeypatch):
    """A task function that exists in the parent only: the workers started
    before it was added to its module, so they cannot unpickle a reference
    to it -- the spec's interactive-interpreter note, inside one process."""
    def late(x):
        return x
    late.__module__ = tasks.__name__
    late.__name__ = late.__qualname__ = 'defined_after_the_pool_started'
    monkeypatch.setattr(tasks, 'defined_after_the_pool_started', late, raising=False)
    return late


def test_beyond_stdlib_a_task_the_worker_cannot_unpickle_raises_the_workers_error(mp_impl, monkeypatch):
    pool = mp_impl.Pool(2)
    pool.apply(tasks.f, (1,))                  # the workers are up
    late = _define_late_function(monkeypatch)
    with pytest.raises(AttributeError, match='defined_after_the_pool_started'):
        pool.apply(late, (1,))
    with pytest.raises(AttributeError, match='defined_after_the_pool_started'):
        pool.map(late, range(10))
    with pytest.raises(AttributeError, match='defined_after_the_pool_started'):
        list(pool.imap(late, range(3)))
    assert pool.map(tasks.f, range(10)) == [x * x for x in range(10)]
    assert _eventually(lambda: len(_alive_pids(pool)) == 2)


def test_stdlib_a_task_the_worker_cannot_unpickle_leaves_the_caller_waiting(stdlib_impl, monkeypatch):
    pool = stdlib_impl.Pool(2)
    pool.apply(tasks.f, (1,))
    late = _define_late_function(monkeypatch)
    with pytest.raises(stdlib_mp.TimeoutError):
        pool.map_async(late, [1, 2, 3]).get(3)


def _run_python(code, timeout=60):
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_beyond_stdlib_the_interactive_interpreter_note_under_fork():
    # The spec's note (16.6.1): a function defined after Pool(...) in an
    # interactive session.  `python -c` has an interactive-like __main__.
    result = _run_python("""
        import mpref
        p = mpref.get_context('fork').Pool(3)
        def f(x):
            return x*x
        try:
            print(p.map(f, [1, 2, 3]))
        except AttributeError as exc:
            print('AttributeError:', exc)
        print(p.map(abs, [-1, -2]))
        p.terminate(); p.join()
    """)
    lines = result.stdout.splitlines()
    assert lines[0].startswith('AttributeError:') and "'f'" in lines[0], result
    assert lines[1] == '[1, 2]', result
    assert result.returncode == 0, result.stderr


def test_beyond_stdlib_spawn_refuses_a_function_from_an_interactive_main():
    result = _run_python("""
        import pickle
        import mpref
        p = mpref.get_context('spawn').Pool(2)
        def f(x):
            return x*x
        try:
            print(p.map(f, [1, 2, 3]))
        except pickle.PicklingError as exc:
            print('PicklingError:', exc)
        print(p.map(abs, [-1, -2]))
        p.terminate(); p.join()
    """)
    lines = result.stdout.splitlines()
    assert lines[0].startswith('PicklingError:'), result
    assert 'interactive __main__' in result.stdout
    assert lines[-1] == '[1, 2]', result
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------
# Never hang: a worker that dies mid-task (beyond the stdlib)
# --------------------------------------------------------------------------

DEATHS = {
    'SIGKILL': ((targets.kill_self, (signal.SIGKILL,)), 'exit code -9', 'SIGKILL'),
    'SIGTERM': ((targets.kill_self, (signal.SIGTERM,)), 'exit code -15', 'SIGTERM'),
    'os._exit': ((targets.exit_mid_task, (3,)), 'exit code 3', None),
}


@pytest.mark.parametrize('death', sorted(DEATHS))
def test_beyond_stdlib_a_worker_dying_mid_task_fails_that_task_clearly(mp_impl, death):
    (func, args), code_words, signal_name = DEATHS[death]
    pool = mp_impl.Pool(2)
    before = _alive_pids(pool)
    other = pool.apply_async(targets.sleep_and_return, (0.5, 'other'))
    dying = pool.apply_async(func, args)
    with pytest.raises(Exception) as info:
        dying.get(GET)
    message = str(info.value)
    assert isinstance(info.value, mpref.pool.WorkerLostError)
    assert isinstance(info.value, mpref.ProcessError)
    assert re.search(r'worker PoolWorker-\d+ died with %s( \(SIG\w+\))? while running task' % code_words,
                     message), message
    if signal_name:
        assert signal_name in message
    assert dying.ready() and not dying.successful()
    assert other.get(GET) == 'other'
    # Later calls work, and the dead worker has been replaced.
    assert pool.map(tasks.f, range(20)) == [x * x for x in range(20)]
    assert _eventually(lambda: len(_alive_pids(pool)) == 2)
    assert len(before - _alive_pids(pool)) == 1


def test_beyond_stdlib_a_worker_dying_in_its_initializer_did_not_run_the_task(mp_impl):
    # The task was written to the worker's pipe, but the worker died in its
    # initializer before reading it: the message must not say "while running".
    pool = mp_impl.Pool(1, initializer=targets.exit_mid_task, initargs=(3,))
    with pytest.raises(mpref.pool.WorkerLostError) as info:
        pool.apply(tasks.f, (2,))
    message = str(info.value)
    assert re.search(r'worker PoolWorker-\d+ died with exit code 3 before taking task \d+', message), message
    assert 'in its initializer' in message and 'never ran' in message
    assert 'while running' not in message


def test_beyond_stdlib_a_worker_killed_from_outside_fails_its_task(mp_impl, tmp_path):
    # What the kernel's out-of-memory killer does: SIGKILL a busy process.
    pool = mp_impl.Pool(2)
    path = str(tmp_path / 'pid')
    busy = pool.apply_async(targets.write_pid_then_sleep, (path, 60))
    assert _eventually(lambda: os.path.exists(path))
    with open(path) as f:
        pid = int(f.read())
    name = next(w.name for w in pool._pool if w.pid == pid)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(Exception) as info:
        busy.get(GET)
    message = str(info.value)
    assert name in message and 'SIGKILL' in message and '-9' in message, message
    assert pool.apply(tasks.f, (5,)) == 25
    assert _eventually(lambda: len(_alive_pids(pool)) == 2 and pid not in _alive_pids(pool))


def test_beyond_stdlib_a_death_inside_map_fails_map_and_the_pool_goes_on(mp_impl):
    pool = mp_impl.Pool(2)
    with pytest.raises(Exception, match='exit code 7'):
        pool.starmap(targets.die_at, [(i, 13) for i in range(20)], 2)
    with pytest.raises(Exception, match='exit code 7'):
        pool.starmap_async(targets.die_at, [(i, 3) for i in range(10)]).get(GET)
    assert pool.starmap(targets.die_at, [(i, -1) for i in range(20)], 2) == list(range(20))


def test_beyond_stdlib_a_death_in_imap_fails_that_item_only(mp_impl):
    pool = mp_impl.Pool(2)
    it = pool.imap(targets.die_at_five, range(10))
    outcomes = []
    for _ in range(10):
        try:
            outcomes.append(it.next(GET))
        except mpref.TimeoutError:
            raise
        except Exception as exc:
            outcomes.append('died' if 'exit code 5' in str(exc) else repr(exc))
    assert outcomes == [0, 1, 2, 3, 4, 'died', 6, 7, 8, 9]
    with pytest.raises(StopIteration):
        it.next(GET)


def test_beyond_stdlib_many_deaths_in_a_row(mp_impl):
    pool = mp_impl.Pool(2)
    for _ in range(4):
        with pytest.raises(Exception, match='exit code 3'):
            pool.apply(targets.exit_mid_task, (3,))
    assert pool.map(tasks.f, range(10)) == [x * x for x in range(10)]
    assert _eventually(lambda: len(_alive_pids(pool)) == 2)
    pool.close()
    pool.join()


def test_beyond_stdlib_close_and_join_after_a_death(mp_impl):
    pool = mp_impl.Pool(2)
    dying = pool.apply_async(targets.exit_mid_task, (4,))
    fine = [pool.apply_async(tasks.f, (i,)) for i in range(5)]
    pool.close()
    pool.join()
    with pytest.raises(Exception, match='exit code 4'):
        dying.get(0)
    assert [r.get(0) for r in fine] == [0, 1, 4, 9, 16]


def test_beyond_stdlib_terminate_fails_the_outstanding_results(mp_impl):
    # The stdlib leaves them unready for ever; mpref says what happened.
    pool = mp_impl.Pool(1)
    running = pool.apply_async(targets.sleep_and_return, (60,))
    queued = pool.map_async(tasks.f, range(10))
    pool.terminate()
    pool.join()
    for result in (running, queued):
        with pytest.raises(mpref.pool.WorkerLostError, match='terminated'):
            result.get(GET)
    assert not pool._cache


def test_beyond_stdlib_imap_with_chunks_goes_on_after_the_bad_item(mp_impl):
    # Each item of a chunk has its own outcome: only item 5 fails.
    pool = mp_impl.Pool(2)
    it = pool.imap(tasks.reciprocal, range(10), 3)
    outcomes = []
    for _ in range(10):
        try:
            outcomes.append(it.next(GET))
        except ZeroDivisionError:
            outcomes.append('ZeroDivisionError')
    assert outcomes == [1.0 / (x - 5.0) if x != 5 else 'ZeroDivisionError' for x in range(10)]
    with pytest.raises(StopIteration):
        it.next(GET)


def test_beyond_stdlib_an_unpicklable_item_fails_at_that_imap_item(mp_impl):
    pool = mp_impl.Pool(2)
    it = pool.imap(tasks.f, [1, 2, threading.Lock(), 4])
    assert [it.next(GET), it.next(GET)] == [1, 4]
    with pytest.raises(TypeError, match='pickle'):
        it.next(GET)
    assert it.next(GET) == 16


def test_beyond_stdlib_a_failing_initializer_fails_the_tasks_not_the_pool(mp_impl):
    # The stdlib restarts such workers in an endless loop; mpref keeps them
    # and fails each task sent to them with the initializer's exception.
    pool = mp_impl.Pool(2, targets.failing_initializer)
    with pytest.raises(RuntimeError, match='the initializer failed'):
        pool.apply(tasks.f, (1,))
    with pytest.raises(RuntimeError, match='the initializer failed'):
        pool.map(tasks.f, range(4))


def test_beyond_stdlib_the_cause_names_the_worker(mp_impl):
    pool = mp_impl.Pool(1)
    with pytest.raises(ValueError) as info:
        pool.apply(targets.fail_in_helper, (1,))
    assert isinstance(info.value.__cause__, mpref.pool.RemoteTraceback)
    assert pool._pool[0].name in str(info.value.__cause__)


def test_stdlib_a_worker_dying_mid_task_leaves_the_caller_waiting(stdlib_impl):
    # The stdlib replaces the worker but forgets its task: shown with a timeout.
    pool = stdlib_impl.Pool(2)
    dying = pool.apply_async(targets.kill_self, (signal.SIGKILL,))
    with pytest.raises(stdlib_mp.TimeoutError):
        dying.get(3)
    assert pool.apply(tasks.f, (2,)) == 4        # the replacement works


def test_beyond_stdlib_an_idle_worker_killed_is_replaced(mp_impl):
    # Not comparable: an idle stdlib worker waits for a task holding the task
    # queue's read lock, so killing it blocks every other worker and, later,
    # terminate() itself -- forever.
    pool = mp_impl.Pool(2)
    victim = pool._pool[0].pid
    os.kill(victim, signal.SIGKILL)
    assert _eventually(lambda: len(_alive_pids(pool)) == 2 and victim not in _alive_pids(pool))
    assert pool.map(tasks.f, range(20), chunksize=1) == [x * x for x in range(20)]


def test_a_memory_error_in_a_task_is_the_tasks_exception(impl):
    pool = impl.Pool(1)
    with pytest.raises(MemoryError):
        pool.apply(targets.exhaust_memory)
    assert pool.apply(tasks.f, (4,)) == 16


# --------------------------------------------------------------------------
# Ctrl-C (SIGINT) in the parent, in a script so it cannot reach pytest
# --------------------------------------------------------------------------

SIGINT_SCRIPT = """
import os, signal, sys
# A background job may inherit SIGINT ignored or blocked: restore Ctrl-C.
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
import {module} as mp
from mpref.targets import pool as targets
from tests import leakcheck

def pool_children():
    return [pid for pid in leakcheck.live_children(os.getpid())
            if b'_tracker_main' not in open('/proc/%d/cmdline' % pid, 'rb').read()]

if __name__ == '__main__':
    pool = mp.get_context('fork').Pool(2)
    try:
        print('waiting', flush=True)
        if sys.argv[1] == 'map':
            pool.map(targets.sleep_and_return, [60] * 4, chunksize=1)
        elif sys.argv[1] == 'imap':
            next(pool.imap(targets.sleep_and_return, [60] * 4))
        else:
            pool.apply_async(targets.sleep_and_return, (60,)).get()
        print('not interrupted', flush=True)
    except KeyboardInterrupt:
        print('KeyboardInterrupt', flush=True)
    pool.terminate()
    pool.join()
    print('children after terminate:', pool_children(), flush=True)
"""


def _readline(proc, timeout):
    """One line of ``proc``'s stdout, or '' if none comes within ``timeout``."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ''
    return proc.stdout.readline()


@pytest.mark.parametrize('target', ['parent', 'process group'])
@pytest.mark.parametrize('during', ['map', 'imap', 'get'])
@pytest.mark.parametrize('which', ['mpref', 'stdlib'])
def test_sigint_during_map_imap_or_get_interrupts_promptly(tmp_path, which, during, target):
    script = tmp_path / 'sigint_pool.py'
    script.write_text(SIGINT_SCRIPT.format(module='mpref' if which == 'mpref' else 'multiprocessing'))
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, str(script), during], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                            start_new_session=True)
    try:
        assert _readline(proc, GET) == 'waiting\n'
        time.sleep(0.5)                      # let it reach map() / get()
        if target == 'parent':
            os.kill(proc.pid, signal.SIGINT)
        else:                               # what Ctrl-C in a terminal does
            os.killpg(proc.pid, signal.SIGINT)
        # Promptly: long before the 60 s tasks could finish.
        assert _readline(proc, GET) == 'KeyboardInterrupt\n'
        assert _readline(proc, GET) == 'children after terminate: []\n'
        assert proc.wait(GET) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


# --------------------------------------------------------------------------
# More edges: big messages, callbacks that submit, feeders, orphaned workers
# --------------------------------------------------------------------------

def test_big_arguments_and_results_travel_both_ways(impl):
    # Messages far larger than a pipe's buffer, many at once in both directions.
    pool = impl.Pool(2)
    blobs = [bytes([i]) * (1 << 20) for i in range(12)]
    assert pool.starmap(targets.sleep_and_return, [(0, b) for b in blobs], chunksize=1) == blobs
    assert pool.apply(targets.sleep_and_return, (0, b'x' * (16 << 20))) == b'x' * (16 << 20)


def test_a_callback_may_submit_more_work(impl):
    pool = impl.Pool(2)
    followers = []
    done = threading.Event()

    def callback(value):
        followers.append(pool.apply_async(tasks.f, (value,), callback=lambda v: done.set()))

    pool.apply_async(tasks.f, (3,), callback=callback)
    assert done.wait(GET)
    assert followers[0].get(GET) == 81


@pytest.mark.parametrize('bad', ['2', 2.0])
def test_processes_must_be_an_int(impl, bad):
    with pytest.raises(TypeError):
        impl.Pool(bad)


def test_a_pool_cannot_be_pickled(impl):
    pool = impl.Pool(1)
    with pytest.raises(NotImplementedError):
        pickle.dumps(pool)


def test_close_and_join_finish_an_unread_imap(any_impl):
    pool = any_impl.Pool(2)
    it = pool.imap(tasks.f, range(50), 3)
    unordered = pool.imap_unordered(tasks.f, range(50))
    pool.close()
    pool.join()
    assert list(it) == [x * x for x in range(50)]
    assert sorted(unordered) == [x * x for x in range(50)]


def test_beyond_stdlib_terminate_during_an_endless_imap(mp_impl):
    # The feeder thread is reading an endless generator when the pool ends.
    pool = mp_impl.Pool(2)
    it = pool.imap(tasks.f, itertools.count())
    assert [it.next(GET) for _ in range(5)] == [0, 1, 4, 9, 16]
    pool.terminate()
    pool.join()
    assert not any(w.is_alive() for w in pool._pool)
    with pytest.raises(Exception):          # not a hang: what was outstanding fails
        while True:
            it.next(GET)


def test_beyond_stdlib_an_exception_in_the_imap_input_surfaces_at_its_place(mp_impl):
    def items():
        yield 1
        yield 2
        raise KeyError('input broke')

    pool = mp_impl.Pool(2)
    it = pool.imap(tasks.f, items())
    assert [it.next(GET), it.next(GET)] == [1, 4]
    with pytest.raises(KeyError, match='input broke'):
        it.next(GET)
    with pytest.raises(StopIteration):
        it.next(GET)


def test_beyond_stdlib_a_raising_error_callback_is_reported_too(mp_impl, capfd):
    pool = mp_impl.Pool(1)

    def bad(exc):
        raise RuntimeError('error callback failed')

    r = pool.apply_async(tasks.reciprocal, (5,), error_callback=bad)
    r.wait(GET)
    with pytest.raises(ZeroDivisionError):
        r.get(0)
    assert pool.apply(tasks.f, (2,)) == 4
    assert 'error callback failed' in capfd.readouterr().err


def test_beyond_stdlib_results_of_a_terminated_imap_fail(mp_impl):
    pool = mp_impl.Pool(1)
    it = pool.imap(targets.sleep_and_return, [60, 60])
    pool.terminate()
    pool.join()
    with pytest.raises(mpref.pool.WorkerLostError):
        it.next(GET)


def test_beyond_stdlib_an_imap_terminated_before_its_input_came_fails():
    gate = threading.Event()

    def slow_input():
        gate.wait(10)
        yield 1                 # read by the feeder only after terminate()

    pool = mpref.Pool(1)
    it = pool.imap(tasks.noop, slow_input())
    pool.terminate()
    gate.set()
    pool.join()
    for thread in threading.enumerate():
        if thread.name == 'mpref-pool-feeder':
            thread.join(GET)    # it has seen the pool terminated
    with pytest.raises(mpref.pool.WorkerLostError):
        it.next(GET)

ORPHAN_SCRIPT = """
import sys, time
import mpref
from mpref.targets import pool as targets
if __name__ == '__main__':
    pool = mpref.get_context(sys.argv[1]).Pool(2)
    pool.apply_async(targets.sleep_and_return, (2,))
    print(' '.join(str(w.pid) for w in pool._pool), flush=True)
    time.sleep(60)
"""


def test_beyond_stdlib_workers_leave_when_their_parent_is_killed(tmp_path, start_method):
    script = tmp_path / 'orphans.py'
    script.write_text(ORPHAN_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), start_method], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=ROOT), start_new_session=True)
    pids = []
    try:
        line = _readline(proc, GET)
        pids = [int(pid) for pid in line.split()]
        assert len(pids) == 2, line
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(GET)
        # The idle worker sees end of file on its task pipe and leaves at
        # once; the busy one when its 2 s task is done and it cannot send
        # the result.  Neither stays behind as an orphan.
        assert _eventually(lambda: not any(leakcheck._is_alive(pid) for pid in pids))
    finally:
        for pid in pids:
            if leakcheck._is_alive(pid):
                os.kill(pid, signal.SIGKILL)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        proc.stdout.close()


def test_many_threads_submit_at_once(impl):
    pool = impl.Pool(2)
    answers = {}

    def client(k):
        answers[k] = [pool.apply(tasks.f, (k * 100 + i,)) for i in range(30)]

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(GET)
    assert answers == {k: [(k * 100 + i) ** 2 for i in range(30)] for k in range(4)}


def test_beyond_stdlib_imap_next_timeout_with_chunks(mp_impl):
    # The spec promises next(timeout) for chunksize 1; mpref keeps it for any
    # chunksize (the stdlib's imap then returns a plain generator).
    pool = mp_impl.Pool(1)
    it = pool.imap(targets.sleep_and_return, [10, 0], chunksize=2)
    with pytest.raises(mpref.TimeoutError):
        it.next(timeout=0.2)


def test_beyond_stdlib_sys_exit_in_a_task_fails_it_with_the_exit_code(mp_impl):
    pool = mp_impl.Pool(1)
    with pytest.raises(mpref.pool.WorkerLostError, match='exit code 7'):
        pool.apply(targets.exit_with, (7,))
    assert pool.apply(tasks.f, (3,)) == 9


def test_beyond_stdlib_a_callback_that_waits_for_the_pool_gets_RuntimeError(mp_impl):
    # It would wait for ever: its result could only come through the thread
    # that runs the callback.
    pool = mp_impl.Pool(2)
    seen = []
    done = threading.Event()

    def callback(value):
        try:
            pool.apply(tasks.f, (value,))
        except RuntimeError as exc:
            seen.append(str(exc))
        done.set()

    pool.apply_async(tasks.f, (2,), callback=callback)
    assert done.wait(GET)
    assert seen and 'callback' in seen[0] and 'result thread' in seen[0]
    assert pool.apply(tasks.f, (5,)) == 25


_inherited_pool = None


def use_inherited_pool(conn):
    """In a forked child: try the parent's pool, report what happened."""
    try:
        conn.send(('result', _inherited_pool.apply(tasks.f, (3,))))
    except Exception as exc:
        conn.send((type(exc).__name__, str(exc)))


def test_beyond_stdlib_a_forked_child_cannot_use_its_parents_pool(monkeypatch):
    impl = Impl('mpref', 'fork')
    try:
        pool = impl.Pool(2)
        monkeypatch.setattr(sys.modules[__name__], '_inherited_pool', pool)
        ours, theirs = mpref.Pipe()
        child = mpref.Process(target=use_inherited_pool, args=(theirs,))
        child.start()
        assert ours.poll(GET)
        kind, message = ours.recv()
        child.join(GET)
        assert kind == 'RuntimeError' and 'process that created it' in message
        assert pool.apply(tasks.f, (4,)) == 16      # the parent's pool is untouched
    finally:
        impl.close_all()


def test_beyond_stdlib_a_death_hidden_from_the_sentinel_is_still_noticed(mp_impl):
    # The task forks a bare grandchild that keeps the worker's sentinel open,
    # then the worker is killed: the pool notices by the worker's exit code.
    pool = mp_impl.Pool(1)
    with pytest.raises(mpref.pool.WorkerLostError, match='SIGKILL'):
        pool.apply_async(targets.fork_then_die, (3,)).get(GET)
    assert pool.apply(tasks.f, (6,)) == 36


class _InterruptedMidMessage:
    """A worker's task connection whose next send is cut short by Ctrl-C:
    the header and one byte of the task reach the worker, then
    ``KeyboardInterrupt`` -- what a SIGINT during a large send does."""

    def __init__(self, connection):
        self.connection = connection

    def send_bytes(self, payload):
        os.write(self.connection.fileno(), struct.pack('!i', len(payload)) + payload[:1])
        raise KeyboardInterrupt

    def __getattr__(self, name):
        return getattr(self.connection, name)


def test_beyond_stdlib_ctrl_c_in_the_middle_of_sending_a_task_does_not_wedge_a_worker(mp_impl):
    # The worker holds half a task it can never finish reading: the pool
    # must give up on it (fail that task, replace the worker), not wait for ever.
    pool = mp_impl.Pool(1)
    assert pool.apply(tasks.f, (2,)) == 4
    worker = pool._core.workers[0]
    worker.tasks = _InterruptedMidMessage(worker.tasks)
    with pytest.raises(KeyboardInterrupt):
        pool.apply_async(tasks.f, (3,))
    assert pool.apply_async(tasks.f, (4,)).get(GET) == 16
    assert _eventually(lambda: not pool._cache)


def test_beyond_stdlib_a_callback_that_terminates_the_pool_keeps_its_own_result(mp_impl):
    # The callback has seen the value: get() must return that value, not
    # report the result as lost by the terminate() the callback called.
    pool = mp_impl.Pool(1)
    seen = []

    def callback(value):
        seen.append(value)
        pool.terminate()

    result = pool.apply_async(tasks.f, (3,), callback=callback)
    assert result.get(GET) == 9
    assert result.successful() and seen == [9]


def test_beyond_stdlib_a_callback_raising_SystemExit_is_reported_and_the_pool_goes_on(mp_impl,
                                                                                        capfd):
    pool = mp_impl.Pool(1)

    def callback(value):
        raise SystemExit(4)

    assert pool.apply_async(tasks.f, (3,), callback=callback).get(GET) == 9
    assert pool.map(tasks.f, range(4)) == [0, 1, 4, 9]
    assert 'SystemExit' in capfd.readouterr().err


def test_beyond_stdlib_a_task_that_forks_a_copy_of_its_worker_does_not_confuse_the_pool(mp_impl,
                                                                                          capfd):
    # The forked copy returns from the task into the worker's loop: it must
    # neither answer (a second outcome for the task) nor take later tasks.
    pool = mp_impl.Pool(1)
    for x in range(3):
        assert pool.apply_async(targets.fork_and_return, (x,)).get(GET) == x
    assert pool.map_async(tasks.f, range(20), 1).get(GET) == [x * x for x in range(20)]
    assert 'mpref.pool' not in capfd.readouterr().err


def test_beyond_stdlib_a_forked_copy_of_a_worker_leaves_quietly_with_its_stdout_closed(mp_impl,
                                                                                           capfd):
    # The copy flushes its streams and leaves; a closed stdout made the flush
    # raise, and the copy then unwound through the worker's own exit (its
    # traceback on stderr, the worker's exit handlers run a second time).
    pool = mp_impl.Pool(1)
    assert pool.apply_async(targets.close_stdout_fork_and_return, (5,)).get(GET) == 5
    assert pool.map_async(tasks.f, range(6), 1).get(GET) == [x * x for x in range(6)]
    time.sleep(0.5)                         # time for the copy to leave (or to complain)
    err = capfd.readouterr().err
    assert 'Traceback' not in err and 'mpref.pool' not in err, err


def test_beyond_stdlib_terminate_again_finishes_an_interrupted_terminate(tmp_path, monkeypatch):
    # Ctrl-C while terminate() waits for a worker that ignores SIGTERM: a
    # second terminate() must still stop that worker (and join() then return).
    impl = Impl('mpref', 'fork')
    pool = impl.Pool(1)
    path = tmp_path / 'pid'
    pool.apply_async(targets.ignore_sigterm_then_sleep, (str(path), 60))
    assert _eventually(lambda: path.exists() and path.read_text())
    worker = pool._pool[0]
    real_join = worker.join

    def join_interrupted_once(timeout=None):
        monkeypatch.setattr(worker, 'join', real_join)
        raise KeyboardInterrupt
    monkeypatch.setattr(worker, 'join', join_interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        pool.terminate()
    pool.terminate()
    assert worker.exitcode == -signal.SIGKILL
    pool.join()


def test_beyond_stdlib_an_initializer_calling_sys_exit_fails_the_tasks_not_the_pool(mp_impl):
    # sys.exit() in the initializer is SystemExit, not Exception: without
    # care the worker exits, is replaced, exits... an endless restart loop.
    pool = mp_impl.Pool(1, targets.exit_with, (7,))
    workers = set()
    for _ in range(2):
        with pytest.raises(mpref.ProcessError, match=r'initializer.*SystemExit.*7'):
            pool.apply(tasks.f, (1,))
        workers.add(pool._pool[0].pid)
    assert len(workers) == 1                    # one worker, never replaced
