"""Tests for ``mpref.queues``: ``Queue`` and ``JoinableQueue`` (spec 16.6.1.2, 16.6.2.2).

Where behaviour is observable (results, exception types and messages,
orderings) the same program also runs on the stdlib ``multiprocessing`` and
the two are compared.  Every get and join has a timeout.  Process targets are
module-level functions so that a spawned child can import them.
"""

import gc
import io
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time

import multiprocessing as stdlib_mp
import pytest

import mpref
from mpref import framing, queues, semlock
from tests import leakcheck

WAIT = 20           # generous bound for anything that should happen "soon"
BIG = 1_000_000     # bigger than any pipe buffer: the spec's deadlock size


# --------------------------------------------------------------------------
# Process targets (module level: importable by a spawned child)
# --------------------------------------------------------------------------

def put_spec_list(q):
    q.put([42, None, 'hello'])


def put_big(q, size=BIG):
    q.put('X' * size)


def put_big_then_cancel(q, size=BIG):
    q.put('X' * size)
    q.cancel_join_thread()


def put_big_pause_then_cancel(q):
    q.put('X' * BIG)
    q._reader.poll(WAIT)            # the feeder has begun to write ...
    time.sleep(0.2)                 # ... and fills the pipe, and waits
    q.cancel_join_thread()


def put_squares(q, sleep=0.0):
    for i in range(30):
        if sleep and i % 10 == 9:
            time.sleep(sleep)
        q.put(i * i)
    q.put('STOP')


def produce(q, ident, count):
    for i in range(count):
        q.put((ident, i))


def consume_until_stop(q, results):
    got = []
    for item in iter(lambda: q.get(timeout=WAIT), 'STOP'):
        got.append(item)
    results.put(got)


def get_and_report(q, out, count):
    out.put([q.get(timeout=WAIT) for _ in range(count)])


def report_fresh_state(q, out):
    """In a child: is the inherited queue's per-process state fresh?"""
    state = (q._thread is None, len(q._buffer), q._closed)
    q.put('from child')
    out.put(state)


def put_unpicklable_then_more(q, out):
    outcome = []
    q.put('first')
    try:
        q.put(lambda: None)
    except Exception as exc:        # pickle.PicklingError or AttributeError
        outcome.append(type(exc).__name__)
    q.put('second')
    out.put(outcome)


def mul(a, b):
    return a * b


def plus(a, b):
    return a + b


def task_worker(tasks, done):
    """The spec's examples-section worker: run tasks until 'STOP'."""
    for func, args in iter(tasks.get, 'STOP'):
        done.put('%s%s = %s' % (func.__name__, args, func(*args)))


def joinable_worker(q):
    for item in iter(lambda: q.get(timeout=WAIT), None):
        q.task_done()
    q.task_done()           # for the None


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def stdlib_ctx(start_method):
    return stdlib_mp.get_context(start_method)


def finish(*processes):
    for p in processes:
        p.join(WAIT)
        assert not p.is_alive(), '%r did not finish' % p
    return [p.exitcode for p in processes]


def closed_and_joined(*qs):
    for q in qs:
        q.close()
        q.join_thread()


def run_spec_example(ctx, q):
    p = ctx.Process(target=put_spec_list, args=(q,))
    p.start()
    item = q.get(timeout=WAIT)
    finish(p)
    return item, p.exitcode


# --------------------------------------------------------------------------
# The spec's examples
# --------------------------------------------------------------------------

def test_spec_example_42_none_hello(ctx, start_method):
    q = mpref.Queue()
    ours = run_spec_example(ctx, q)
    theirs = run_spec_example(stdlib_ctx(start_method), stdlib_ctx(start_method).Queue())
    assert ours == theirs == ([42, None, 'hello'], 0)
    q.close()


def test_queue_reaches_forked_child_by_inheritance():
    q = mpref.Queue()

    def child():            # a closure: only fork can run it
        q.put(('inherited', 1))

    p = mpref.get_context('fork').Process(target=child)
    p.start()
    assert q.get(timeout=WAIT) == ('inherited', 1)
    assert finish(p) == [0]
    q.close()


def test_spec_synchronize_queue_test_with_timeouts(ctx):
    """The spec's mp_synchronize queue test: get(timeout) until 'STOP'."""
    q = mpref.Queue()
    p = ctx.Process(target=put_squares, args=(q, 0.05))
    p.start()
    got, timeouts = [], 0
    deadline = time.monotonic() + WAIT
    item = None
    while item != 'STOP' and time.monotonic() < deadline:
        try:
            item = q.get(timeout=0.01)
            got.append(item)
        except queue.Empty:
            timeouts += 1
    assert got == [i * i for i in range(30)] + ['STOP']
    assert finish(p) == [0]
    q.close()


def _run_task_example(ctx, make_queue):
    tasks, done = make_queue(), make_queue()
    tasks1 = [(mul, (i, 7)) for i in range(20)]
    tasks2 = [(plus, (i, 8)) for i in range(10)]
    for task in tasks1:
        tasks.put(task)
    workers = [ctx.Process(target=task_worker, args=(tasks, done)) for _ in range(4)]
    for w in workers:
        w.start()
    results = [done.get(timeout=WAIT) for _ in tasks1]
    for task in tasks2:
        tasks.put(task)
    results += [done.get(timeout=WAIT) for _ in tasks2]
    for _ in workers:
        tasks.put('STOP')
    assert finish(*workers) == [0] * 4
    return sorted(results)


def test_spec_workers_and_task_queue(ctx, start_method):
    ours = _run_task_example(ctx, mpref.Queue)
    sctx = stdlib_ctx(start_method)
    theirs = _run_task_example(sctx, sctx.Queue)
    assert ours == theirs
    assert 'mul(3, 7) = 21' in ours and 'plus(9, 8) = 17' in ours and len(ours) == 30


# --------------------------------------------------------------------------
# put / get, Full / Empty, qsize / empty / full
# --------------------------------------------------------------------------

def test_fifo_within_one_process():
    q = mpref.Queue()
    items = [('item', i, 'x' * (i % 50)) for i in range(2000)]
    for item in items:
        q.put(item)
    assert [q.get(timeout=WAIT) for _ in items] == items
    q.close()


@pytest.mark.parametrize('flavour', ['mpref', 'stdlib'])
def test_get_on_empty_queue_raises_empty(flavour):
    q = mpref.Queue() if flavour == 'mpref' else stdlib_mp.Queue()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    with pytest.raises(queue.Empty):
        q.get(False)
    with pytest.raises(queue.Empty):
        q.get(block=False, timeout=5)       # timeout ignored when not blocking
    with pytest.raises(queue.Empty):
        q.get_nowait()
    if flavour == 'mpref':
        with pytest.raises(queue.Empty):
            q.get_no_wait()                 # the spec's spelling
    q.close()


def test_get_no_wait_is_get_nowait():
    assert mpref.Queue.get_no_wait is mpref.Queue.get_nowait


def _bounded_session(q):
    """A scripted session on a Queue(2); returns what happened, step by step."""
    log = []

    def attempt(name, func, *args, **kwargs):
        try:
            result = func(*args, **kwargs)
            log.append((name, 'ok', result))
        except (queue.Full, queue.Empty) as exc:
            log.append((name, type(exc).__name__))

    attempt('put a', q.put, 'a')
    attempt('put b', q.put, 'b', True, 1)
    log.append(('full', q.full()))
    log.append(('qsize', q.qsize()))
    attempt('put_nowait c', q.put_nowait, 'c')
    attempt('put c block=False', q.put, 'c', False)
    attempt('put c timeout', q.put, 'c', timeout=0.05)
    attempt('put c block=False timeout', q.put, 'c', False, 5)
    attempt('get', q.get, timeout=WAIT)
    log.append(('full', q.full()))
    attempt('put c', q.put, 'c', timeout=WAIT)
    attempt('get', q.get, timeout=WAIT)
    attempt('get', q.get, timeout=WAIT)
    attempt('get timeout', q.get, timeout=0.05)
    log.append(('qsize', q.qsize()))
    log.append(('full', q.full()))
    return log


def test_bounded_queue_full_and_empty_like_stdlib():
    q = mpref.Queue(2)
    ours = _bounded_session(q)
    theirs = _bounded_session(stdlib_mp.Queue(2))
    assert ours == theirs
    assert ('put_nowait c', 'Full') in ours and ('get timeout', 'Empty') in ours
    q.close()


def test_put_blocks_until_a_slot_is_freed():
    q = mpref.Queue(1)
    q.put('first')
    done = threading.Event()

    def putter():
        q.put('second')                 # blocks: the queue is full
        done.set()

    t = threading.Thread(target=putter)
    t.start()
    assert not done.wait(0.2)
    assert q.get(timeout=WAIT) == 'first'
    assert done.wait(WAIT)
    t.join(WAIT)
    assert q.get(timeout=WAIT) == 'second'
    q.close()


def test_qsize_and_empty():
    q = mpref.Queue()
    assert q.qsize() == 0 and q.empty() and not q.full()
    for i in range(3):
        q.put(i)
    assert q.qsize() == 3           # counted at put, even while still buffered
    deadline = time.monotonic() + WAIT
    while q.empty() and time.monotonic() < deadline:
        time.sleep(0.01)            # empty() looks at the pipe: wait for the feeder
    assert not q.empty()
    assert [q.get(timeout=WAIT) for _ in range(3)] == [0, 1, 2]
    assert q.qsize() == 0 and q.empty()
    q.close()


def test_unbounded_queue_uses_sem_value_max():
    q = mpref.Queue()
    assert q._maxsize == semlock.SEM_VALUE_MAX
    assert mpref.Queue(-1)._maxsize == semlock.SEM_VALUE_MAX
    q.close()


def test_qsize_raises_not_implemented_where_sem_getvalue_is_missing(monkeypatch):
    # semlock's macOS switch: without sem_getvalue nothing can be counted,
    # but full() and empty() still answer.
    q = mpref.Queue(1)
    monkeypatch.setattr(semlock, 'HAVE_SEM_GETVALUE', False)
    with pytest.raises(NotImplementedError):
        q.qsize()
    assert not q.full()
    q.put('x')
    assert q.full()
    assert q.get(timeout=WAIT) == 'x'
    assert not q.full() and q.empty()
    q.close()


# --------------------------------------------------------------------------
# Bad input: unpicklable objects, queues in queues
# --------------------------------------------------------------------------

def test_unpicklable_object_raises_in_put_and_queue_keeps_working():
    q = mpref.Queue(maxsize=3)
    q.put(1)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        q.put(lambda: None)
    with pytest.raises(TypeError):
        q.put(threading.Lock())
    q.put(2)
    q.put_nowait(3)                 # the failed puts took no slot
    assert [q.get(timeout=WAIT) for _ in range(3)] == [1, 2, 3]
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    q.close()


def test_unpicklable_object_in_a_child(ctx):
    q, out = mpref.Queue(), mpref.Queue()
    p = ctx.Process(target=put_unpicklable_then_more, args=(q, out))
    p.start()
    assert out.get(timeout=WAIT) in (['PicklingError'], ['AttributeError'])
    assert [q.get(timeout=WAIT) for _ in range(2)] == ['first', 'second']
    assert finish(p) == [0]
    closed_and_joined(q, out)


def test_queue_refuses_to_be_pickled_except_for_spawning():
    q = mpref.Queue()
    with pytest.raises(RuntimeError, match='inherit'):
        pickle.dumps(q)
    with pytest.raises(RuntimeError, match='inherit'):
        q.put(q)                    # raised in the caller, not in the feeder
    q.put('still fine')
    assert q.get(timeout=WAIT) == 'still fine'
    q.close()


def test_put_sends_the_object_as_it_was_at_put():
    # A difference from CPython, which pickles later, in the feeder thread.
    q = mpref.Queue()
    item = [1]
    q.put(item)
    item.append(2)
    assert q.get(timeout=WAIT) == [1]
    q.close()


# --------------------------------------------------------------------------
# Many producers and consumers
# --------------------------------------------------------------------------

def test_many_producer_and_consumer_processes(ctx):
    q, results = mpref.Queue(maxsize=50), mpref.Queue()
    count = 300
    producers = [ctx.Process(target=produce, args=(q, ident, count)) for ident in range(3)]
    consumers = [ctx.Process(target=consume_until_stop, args=(q, results)) for _ in range(2)]
    for p in consumers + producers:
        p.start()
    assert finish(*producers) == [0, 0, 0]
    for _ in consumers:
        q.put('STOP')
    got = [results.get(timeout=WAIT) for _ in consumers]
    assert finish(*consumers) == [0, 0]
    everything = sorted(item for part in got for item in part)
    assert everything == sorted((ident, i) for ident in range(3) for i in range(count))
    for part in got:                # each consumer sees each producer's items in order
        for ident in range(3):
            seq = [i for (who, i) in part if who == ident]
            assert seq == sorted(seq)
    closed_and_joined(q, results)


def test_many_producer_and_consumer_threads():
    q = mpref.Queue(maxsize=20)
    got = [[] for _ in range(3)]
    count = 500

    def consumer(bucket):
        for item in iter(lambda: q.get(timeout=WAIT), 'STOP'):
            bucket.append(item)

    producers = [threading.Thread(target=produce, args=(q, ident, count)) for ident in range(4)]
    consumers = [threading.Thread(target=consumer, args=(bucket,)) for bucket in got]
    for t in consumers + producers:
        t.start()
    for t in producers:
        t.join(WAIT)
    for _ in consumers:
        q.put('STOP')
    for t in consumers:
        t.join(WAIT)
        assert not t.is_alive()
    everything = sorted(item for bucket in got for item in bucket)
    assert everything == sorted((ident, i) for ident in range(4) for i in range(count))
    for bucket in got:
        for ident in range(4):
            seq = [i for (who, i) in bucket if who == ident]
            assert seq == sorted(seq)
    q.close()


# --------------------------------------------------------------------------
# close / join_thread / cancel_join_thread / garbage collection / fork
# --------------------------------------------------------------------------

@pytest.mark.parametrize('flavour', ['mpref', 'stdlib'])
def test_closed_queue_raises_value_error(flavour):
    q = mpref.Queue() if flavour == 'mpref' else stdlib_mp.Queue()
    q.put(1)
    q.close()
    with pytest.raises(ValueError, match='is closed'):
        q.put(2)
    with pytest.raises(ValueError, match='is closed'):
        q.get(timeout=0.05)
    q.join_thread()


@pytest.mark.parametrize('flavour', ['mpref', 'stdlib'])
def test_join_thread_only_after_close(flavour):
    q = mpref.Queue() if flavour == 'mpref' else stdlib_mp.Queue()
    q.put(1)
    with pytest.raises(AssertionError, match='not closed'):
        q.join_thread()
    assert q.get(timeout=WAIT) == 1
    q.close()
    q.join_thread()
    assert not q._thread.is_alive()


def test_close_flushes_the_buffer_to_a_reader(ctx):
    q, out = mpref.Queue(), mpref.Queue()
    count = 200
    p = ctx.Process(target=get_and_report, args=(q, out, count))
    p.start()
    for i in range(count):
        q.put(('item', i, 'y' * 1000))      # more than a pipeful in total
    q.close()
    q.join_thread()                         # returns once everything is in the pipe
    assert not q._thread.is_alive()
    assert out.get(timeout=WAIT) == [('item', i, 'y' * 1000) for i in range(count)]
    assert finish(p) == [0]
    closed_and_joined(out)


def test_close_without_a_feeder_closes_the_pipe_ends():
    q = mpref.Queue()
    reader, writer = q._reader, q._writer
    q.close()
    q.join_thread()                         # no thread: nothing to wait for
    assert reader.closed and writer.closed


def test_cancel_join_thread_makes_join_thread_return_at_once():
    q = mpref.Queue()
    q.put('X' * BIG)                        # nobody reads: the feeder blocks
    feeder = q._thread
    drain = os.dup(q._reader.fileno())
    os.set_blocking(drain, True)            # a queue's reader never waits in read()
    q.close()
    q.cancel_join_thread()
    q.join_thread()                         # returns although the feeder is stuck
    assert feeder.is_alive()
    # Clean up: drain the pipe by hand so the feeder can finish; it then
    # closes the only write end, so the reading ends with end of file.
    total = 0
    while chunk := os.read(drain, 1 << 16):
        total += len(chunk)
    os.close(drain)
    assert total == 4 + len(pickle.dumps('X' * BIG, pickle.HIGHEST_PROTOCOL))
    feeder.join(WAIT)
    assert not feeder.is_alive()


def test_garbage_collected_queue_is_closed():
    q = mpref.Queue()
    q.put('bye')
    feeder, reader, writer = q._thread, q._reader, q._writer
    del q
    gc.collect()
    feeder.join(WAIT)
    assert not feeder.is_alive()
    assert reader.closed and writer.closed


def test_forked_child_gets_fresh_per_process_state():
    q, out = mpref.Queue(), mpref.Queue()
    q.put('from parent')                    # the parent's feeder thread exists
    assert q.get(timeout=WAIT) == 'from parent'
    p = mpref.get_context('fork').Process(target=report_fresh_state, args=(q, out))
    p.start()
    assert out.get(timeout=WAIT) == (True, 0, False)
    assert q.get(timeout=WAIT) == 'from child'
    assert finish(p) == [0]
    closed_and_joined(q, out)


# --------------------------------------------------------------------------
# The spec's deadlock ("Joining processes that use queues") and its fixes
# --------------------------------------------------------------------------

def test_joining_a_child_with_unflushed_data_deadlocks(ctx, start_method):
    q = mpref.Queue()
    p = ctx.Process(target=put_big, args=(q,))
    p.start()
    p.join(timeout=1)
    assert p.is_alive()                     # stuck joining its feeder thread
    assert p.exitcode is None
    assert q.get(timeout=WAIT) == 'X' * BIG  # drain it ...
    assert finish(p) == [0]                  # ... and the child can finish
    q.close()


def test_stdlib_deadlocks_the_same_way(start_method):
    sctx = stdlib_ctx(start_method)
    q = sctx.Queue()
    p = sctx.Process(target=put_big, args=(q,))
    p.start()
    p.join(timeout=1)
    assert p.is_alive()
    assert q.get(timeout=WAIT) == 'X' * BIG
    p.join(WAIT)
    assert p.exitcode == 0
    q.close()


def test_fix_one_get_before_join(ctx):
    q = mpref.Queue()
    p = ctx.Process(target=put_big, args=(q,))
    p.start()
    obj = q.get(timeout=WAIT)               # the two lines swapped round
    p.join(WAIT)
    assert not p.is_alive() and p.exitcode == 0
    assert obj == 'X' * BIG
    q.close()


def test_fix_two_cancel_join_thread_lets_the_child_exit(ctx):
    # The child gives up its buffered data: it exits although nobody read it.
    # What it put is lost (possibly cut off mid-message), so we do not read.
    q = mpref.Queue()
    p = ctx.Process(target=put_big_then_cancel, args=(q,))
    p.start()
    p.join(WAIT)
    assert not p.is_alive() and p.exitcode == 0
    q.close()


PARENT_SCRIPT = """
import sys
import mpref
from tests.test_queues import put_big

if __name__ == '__main__':
    mpref.set_start_method(sys.argv[1])
    q = mpref.Queue()
    p = mpref.Process(target=put_big, args=(q,))
    p.start()
    if sys.argv[2] == 'get':
        assert q.get(timeout=30) == 'X' * 1_000_000
    print('end of the main program', flush=True)
"""


@pytest.mark.parametrize('get_first', [False, True], ids=['no-get', 'get'])
def test_parent_hangs_at_exit_joining_a_non_daemonic_child(start_method, get_first, tmp_path):
    """The spec: "the parent process may hang on exit when it tries to join all
    its non-daemonic children" -- for real, in a separate interpreter."""
    script = tmp_path / 'parent.py'
    script.write_text(PARENT_SCRIPT)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, str(script), start_method,
                             'get' if get_first else 'no-get'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=root, env=dict(os.environ, PYTHONPATH=root))
    try:
        # Long enough for a loaded machine to finish the fixed program.
        out, err = proc.communicate(timeout=WAIT if get_first else 5)
        hung = False
    except subprocess.TimeoutExpired:
        hung = True
        # The parent is waiting for its child, which waits for its feeder
        # thread.  Kill the stuck child (not the parent, so the parent can
        # still clean up its semaphores); the parent then exits by itself.
        children = leakcheck.live_children(proc.pid)
        assert children, 'the parent should still have its child'
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=WAIT)
    assert 'end of the main program' in out, err
    assert hung is not get_first
    assert proc.returncode == 0, err


# --------------------------------------------------------------------------
# JoinableQueue
# --------------------------------------------------------------------------

@pytest.mark.parametrize('flavour', ['mpref', 'stdlib'])
def test_task_done_too_many_times(flavour):
    q = mpref.JoinableQueue() if flavour == 'mpref' else stdlib_mp.JoinableQueue()
    with pytest.raises(ValueError, match=r'task_done\(\) called too many times'):
        q.task_done()
    q.put('a')
    assert q.get(timeout=WAIT) == 'a'
    q.task_done()
    with pytest.raises(ValueError, match=r'task_done\(\) called too many times'):
        q.task_done()
    q.join()                                # nothing unfinished: returns at once
    q.close()
    q.join_thread()


def test_join_waits_for_task_done():
    q = mpref.JoinableQueue()
    for i in range(3):
        q.put(i)
    joined = threading.Event()
    t = threading.Thread(target=lambda: (q.join(), joined.set()))
    t.start()
    for i in range(3):
        assert q.get(timeout=WAIT) == i
    assert not joined.wait(0.2)             # got, but not yet done
    q.task_done()
    q.task_done()
    assert not joined.wait(0.2)
    q.task_done()
    assert joined.wait(WAIT)
    t.join(WAIT)
    q.close()


def test_joinable_queue_with_worker_process(ctx):
    q = mpref.JoinableQueue()
    p = ctx.Process(target=joinable_worker, args=(q,))
    p.start()
    for i in range(50):
        q.put(i)
    q.put(None)
    joined = threading.Event()
    t = threading.Thread(target=lambda: (q.join(), joined.set()), daemon=True)
    t.start()
    assert joined.wait(WAIT)
    assert finish(p) == [0]
    with pytest.raises(ValueError):
        q.task_done()
    q.close()


def test_joinable_queue_is_a_queue():
    assert issubclass(mpref.JoinableQueue, mpref.Queue)
    q = mpref.JoinableQueue(1)
    q.put(1)
    with pytest.raises(queue.Full):
        q.put(2, timeout=0.05)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        mpref.JoinableQueue().put(lambda: None)
    assert q.get(timeout=WAIT) == 1
    q.task_done()
    q.close()


def test_public_names():
    assert mpref.Queue is queues.Queue
    assert mpref.JoinableQueue is queues.JoinableQueue
    assert queues.Empty is queue.Empty and queues.Full is queue.Full
    # The spec's spelling Queue.Empty / Queue.Full, on the class itself.
    assert mpref.Queue.Empty is queue.Empty and mpref.Queue.Full is queue.Full
    assert mpref.JoinableQueue.Empty is queue.Empty


# ---------------------------------------------------------------------------
# Limits and objects that must not travel through a queue
# ---------------------------------------------------------------------------

def test_maxsize_beyond_sem_value_max_is_refused():
    # The free slots are a semaphore's count; a larger maxsize would be cut to
    # 32 bits by ctypes (2**32 + 2 would make a queue full after 2 items).
    for maxsize in (semlock.SEM_VALUE_MAX + 1, 2 ** 32 + 2):
        with pytest.raises(ValueError, match='SEM_VALUE_MAX'):
            mpref.Queue(maxsize)
        with pytest.raises(ValueError, match='SEM_VALUE_MAX'):
            mpref.JoinableQueue(maxsize)


def test_synchronization_primitives_are_refused_by_put():
    q = mpref.Queue()
    try:
        for obj in (mpref.Lock(), mpref.RLock(), mpref.Semaphore(), mpref.Event(),
                    mpref.Condition()):
            with pytest.raises(RuntimeError, match='better to inherit than pickle'):
                q.put(obj)
        q.put('still working')
        assert q.get(timeout=WAIT) == 'still working'
    finally:
        q.close()
        q.join_thread()


# --------------------------------------------------------------------------
# Timeouts: any non-negative number, however large; inf means no limit
# --------------------------------------------------------------------------

@pytest.mark.parametrize('cls', [mpref.Queue, mpref.JoinableQueue])
@pytest.mark.parametrize('timeout', [float('inf'), 1e7, 2.0 ** 31, 1e12])
def test_put_and_get_take_any_large_timeout(cls, timeout):
    q = cls()
    q.put('item', timeout=timeout)
    assert q.get(timeout=timeout) == 'item'
    q.put('again', True, timeout)
    assert q.get(True, timeout) == 'again'
    q.close()
    q.join_thread()


@pytest.mark.parametrize('timeout', [float('inf'), 1e7])
def test_get_with_a_large_timeout_waits_for_the_item(timeout):
    q = mpref.Queue()
    timer = threading.Timer(0.1, q.put, args=('late',))
    timer.start()
    try:
        assert q.get(timeout=timeout) == 'late'
    finally:
        timer.join(5)
    q.close()
    q.join_thread()


@pytest.mark.parametrize('cls', [mpref.Queue, mpref.JoinableQueue])
@pytest.mark.parametrize('timeout', [float('inf'), 1e7])
def test_put_on_a_full_queue_with_a_large_timeout_waits_for_a_slot(cls, timeout):
    q = cls(1)
    q.put('first')
    taker = threading.Timer(0.1, q.get)
    taker.start()
    try:
        q.put('second', timeout=timeout)          # blocks until the timer's get
    finally:
        taker.join(5)
    assert q.get(timeout=WAIT) == 'second'
    q.close()
    q.join_thread()


@pytest.mark.parametrize('bad, error', [('1', TypeError), (float('nan'), ValueError)])
def test_a_timeout_that_is_not_a_number_is_refused(bad, error):
    q = mpref.JoinableQueue()
    with pytest.raises(error, match='timeout'):
        q.put(1, timeout=bad)
    with pytest.raises(error, match='timeout'):
        q.get(timeout=bad)
    q.close()


def test_joinable_queue_counts_each_put_task_once():
    q = mpref.JoinableQueue(2)
    q.put('a')
    q.put('b', timeout=1e7)
    with pytest.raises(queue.Full):
        q.put('c', timeout=0.05)          # a refused put is not a task
    assert [q.get(timeout=WAIT), q.get(timeout=WAIT)] == ['a', 'b']
    q.task_done()
    q.task_done()
    with pytest.raises(ValueError, match='too many times'):
        q.task_done()
    q.join()                              # nothing unfinished: returns at once
    q.close()
    q.join_thread()


def test_terminate_ends_a_reader_stuck_in_a_message_whose_writer_died():
    # The reader holds signals back while it reads a message (so that Ctrl-C
    # cannot leave half of it in the pipe); SIGTERM left to its default action
    # runs no handler, so it must not be held back: terminate() has to work.
    from mpref.targets import guidelines as targets
    broken = mpref.Queue()
    writer = mpref.Process(target=targets.put_then_sleep, args=(broken, b'x' * 10_000_000))
    writer.start()
    assert broken._reader.poll(30)
    writer.terminate()
    writer.join(30)
    report, report_end = mpref.Pipe(duplex=False)
    reader = mpref.Process(target=targets.get_and_report, args=(broken, report_end, 5))
    reader.start()
    try:
        reader.join(1)
        assert reader.is_alive() and not report.poll(0)     # stuck in the message
        reader.terminate()
        reader.join(30)
        assert reader.exitcode == -signal.SIGTERM
    finally:
        if reader.is_alive():
            reader.kill()
            reader.join(30)
        for conn in (report, report_end):
            conn.close()
        broken.close()
        broken.join_thread()


# --------------------------------------------------------------------------
# A timed get is bounded as a whole: a message that arrives only in part
# --------------------------------------------------------------------------

def timed_get_fails_fast(q, timeout=0.5):
    """``q.get(timeout)`` raises ``queue.Empty`` within a few times its timeout."""
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=timeout)
    assert time.monotonic() - started < timeout + 5


def test_timed_get_of_a_message_whose_producer_was_killed_mid_write(ctx):
    # The child's feeder writes a 1 MB item; the pipe takes 64 KiB and the
    # feeder blocks.  Killed then, the child leaves the message half written,
    # and this process still holds a write end: no end of file will come.
    q = mpref.Queue()
    p = ctx.Process(target=put_big, args=(q,))
    p.start()
    assert q._reader.poll(WAIT)              # the message has started to arrive
    time.sleep(0.2)                          # the pipe fills, the feeder blocks
    p.kill()
    p.join(WAIT)
    timed_get_fails_fast(q)                  # reads what came, then gives up in time
    assert q._reader.in_message()            # ... keeping the half message
    timed_get_fails_fast(q, timeout=0.1)     # the next get continues it, also bounded
    with pytest.raises(queue.Empty):
        q.get(block=False)
    q.close()


def test_timed_get_after_a_producer_cancelled_and_exited_mid_write(ctx):
    # cancel_join_thread(): the child exits while its feeder is stuck in the
    # middle of a write; the item is cut off.
    q = mpref.Queue()
    p = ctx.Process(target=put_big_pause_then_cancel, args=(q,))
    p.start()
    p.join(WAIT)
    assert p.exitcode == 0
    timed_get_fails_fast(q)
    assert q._reader.in_message()
    q.close()


def test_a_timed_out_half_message_is_continued_by_the_next_get():
    # A slow writer, played by hand: half a message, a timeout, the rest.
    # The next get must return the whole object and leave the framing intact
    # for the message after it.
    q = mpref.Queue()
    message = pickle.dumps('Y' * 300_000, pickle.HIGHEST_PROTOCOL)
    framed = len(message).to_bytes(4, 'big') + message
    following = pickle.dumps('next', pickle.HIGHEST_PROTOCOL)
    writer = q._writer.fileno()
    os.write(writer, framed[:2])             # not even the whole header
    timed_get_fails_fast(q, timeout=0.1)
    assert q._reader.in_message()
    os.write(writer, framed[2:50_000])
    timed_get_fails_fast(q, timeout=0.1)
    # The read lock stays with this process meanwhile: no other reader can
    # take the rest of the message for a header.
    assert not q._rlock.acquire(False)
    rest = threading.Thread(target=os.write, args=(writer, framed[50_000:] +
                                                   len(following).to_bytes(4, 'big') + following))
    rest.start()
    # Two items were never put() through this queue, so give their slots back
    # as get() will take them.
    q._free_slots.acquire(False)
    q._free_slots.acquire(False)
    assert q.get(timeout=WAIT) == 'Y' * 300_000
    assert q.get(timeout=WAIT) == 'next'
    rest.join(WAIT)
    assert not q._reader.in_message()
    assert q._rlock.acquire(False)           # released once the message was whole
    q._rlock.release()
    closed_and_joined(q)


def test_a_half_message_survives_a_signal_that_interrupts_get():
    # Ctrl-C while a get waits for the rest of a message: the part read is
    # kept, and the get after it returns the object.
    q = mpref.Queue()
    message = pickle.dumps(list(range(20_000)), pickle.HIGHEST_PROTOCOL)
    framed = len(message).to_bytes(4, 'big') + message
    writer = q._writer.fileno()
    os.write(writer, framed[:1000])
    q._free_slots.acquire(False)
    def interrupt(*args):
        # Ctrl-C's like: an exception out of a handler -- once get() is
        # inside the message (earlier, try again a little later).
        if q._reader.in_message():
            raise ZeroDivisionError
        signal.setitimer(signal.ITIMER_REAL, 0.05)

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(ZeroDivisionError):
            q.get(timeout=WAIT)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert q._reader.in_message()
    os.write(writer, framed[1000:])
    assert q.get(timeout=WAIT) == list(range(20_000))
    closed_and_joined(q)


def test_a_message_cut_off_by_the_last_writer_is_a_clear_error(ctx):
    # When nobody else holds a write end, the end of file inside the message
    # says the writer died mid-message (not a hang, not garbage).
    q = mpref.Queue()
    p = ctx.Process(target=put_big, args=(q,))
    p.start()
    q._writer.close()                        # this process will only read
    assert q._reader.poll(WAIT)
    time.sleep(0.2)
    p.kill()
    p.join(WAIT)
    with pytest.raises(OSError, match='the writer died mid-message'):
        q.get(timeout=WAIT)
    assert not q._reader.in_message()
    assert q._rlock.acquire(False)           # the read lock is free again
    q._rlock.release()
    q.close()


# --------------------------------------------------------------------------
# The feeder writes what has piled up in groups (Connection.send_bytes_many)
# --------------------------------------------------------------------------

def pile_up(q, items):
    """Put 'first', then ``items`` while the feeder, holding 'first', waits
    for the write lock: they pile up in the buffer, to be written at once."""
    with q._wlock:
        q.put('first')
        deadline = time.monotonic() + WAIT
        while q._buffer and time.monotonic() < deadline:    # the feeder took it
            time.sleep(0.01)
        for item in items:
            q.put(item)


def stderr_once_it_says(capfd, text):
    """What was written to stderr, read until ``text`` is in it (or WAIT
    passes): the feeder thread writes its report after giving the slots
    back, so a test that reads stderr at once may come too early."""
    err = ''
    deadline = time.monotonic() + WAIT
    while True:
        err += capfd.readouterr().err
        if text in err or time.monotonic() > deadline:
            return err
        time.sleep(0.01)


def test_a_pile_of_small_and_large_objects_arrives_whole_and_in_order():
    # The feeder writes a pile as groups of small objects joined into one
    # write, and each large one alone.
    q = mpref.Queue()
    items = []
    for i in range(600):
        items.append(i)
        if i % 150 == 7:
            items.append('L' * (queues.SMALL_MESSAGE + i))      # too large to join
    pile_up(q, items)
    assert q.get(timeout=WAIT) == 'first'
    assert [q.get(timeout=WAIT) for _ in items] == items
    assert q.qsize() == 0
    closed_and_joined(q)


def refuse_a_pile_of_four(q):
    """Pile up 'first' and four more, the four refused as one group: wait
    until the feeder has given their slots back."""

    def refuse(payloads):
        raise OSError('the pipe refused a group of %d' % len(payloads))

    q._writer.send_bytes_many = refuse
    pile_up(q, range(4))
    deadline = time.monotonic() + WAIT
    while q.qsize() > 1 and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_group_the_feeder_cannot_write_gives_its_slots_back(capfd):
    q = mpref.Queue(10)
    refuse_a_pile_of_four(q)
    assert q.qsize() == 1                               # 'first' only: 4 slots given back
    err = stderr_once_it_says(capfd, 'the pipe refused a group of 4')
    assert 'the feeder thread could not write 4 object(s)' in err
    assert 'the pipe refused a group of 4' in err
    assert q.get(timeout=WAIT) == 'first'
    del q._writer.send_bytes_many
    q.put('still works')
    assert q.get(timeout=WAIT) == 'still works'
    closed_and_joined(q)


def test_a_group_cut_off_part_way_gives_back_only_the_slots_of_what_was_not_written(
        capfd, monkeypatch):
    # send_bytes_many's write fails part-way: the messages before that point
    # are in the pipe whole and will be got (each get gives its slot back);
    # the feeder must give back only the slots of the others, or the queue
    # counts more free slots than it has (qsize() below 0, a bounded queue
    # taking more than maxsize).
    q = mpref.Queue(10)
    frames = [4 + len(pickle.dumps(i, pickle.HIGHEST_PROTOCOL)) for i in range(4)]
    real_write = framing._write

    cut = []

    def write_two_then_fail(fd, data):
        if cut:                             # the rest of the group: the pipe breaks
            raise OSError('the pipe broke after 2 of 4')
        if len(data) != sum(frames):
            return real_write(fd, data)     # not the group of four
        cut.append(True)                    # a short write: two messages whole
        return real_write(fd, bytes(data[:frames[0] + frames[1]]))

    monkeypatch.setattr(framing, '_write', write_two_then_fail)
    pile_up(q, range(4))
    assert q.get(timeout=WAIT) == 'first'
    assert q.get(timeout=WAIT) == 0
    assert q.get(timeout=WAIT) == 1
    err = stderr_once_it_says(capfd, 'the pipe broke after 2 of 4')
    assert 'the feeder thread could not write 2 object(s)' in err
    assert 'the pipe broke after 2 of 4' in err
    assert q.qsize() == 0                   # was -2: two slots too many
    monkeypatch.undo()
    closed_and_joined(q)


def test_the_feeder_goes_on_when_its_report_cannot_be_written(broken_stderr):
    # The feeder reports a group it could not write on stderr.  If stderr is
    # closed or broken, the report fails: the feeder must still go on (it
    # died, and every later put stayed in the buffer, its get waiting for ever).
    q = mpref.Queue(10)
    refuse_a_pile_of_four(q)
    assert q.get(timeout=WAIT) == 'first'
    del q._writer.send_bytes_many
    q.put('still works')
    assert q.get(timeout=WAIT) == 'still works'
    assert q.qsize() == 0
    closed_and_joined(q)


class SlowStream(io.StringIO):
    """A stderr that takes its time over each write."""

    def write(self, text):
        time.sleep(0.02)
        return super().write(text)


def test_the_feeder_reports_a_drop_before_it_gives_the_slots_back(monkeypatch):
    # A put waiting for the slot of a dropped object returns once the slot is
    # back: by then the report that explains the drop must be written whole
    # (it came after: half the time a reader of stderr found nothing yet).
    q = mpref.Queue(1)
    err = SlowStream()
    monkeypatch.setattr(sys, 'stderr', err)

    def refuse(payload):
        raise OSError('the pipe refused %d bytes' % len(payload))

    q._writer.send_bytes = refuse
    q.put('dropped')
    q.put('waits for the slot', timeout=WAIT)
    report = err.getvalue()
    assert 'the feeder thread could not write 1 object(s)' in report
    assert report.rstrip().endswith('OSError: the pipe refused %d bytes'
                                    % len(pickle.dumps('dropped', pickle.HIGHEST_PROTOCOL)))
    del q._writer.send_bytes
    monkeypatch.undo()
    closed_and_joined(q)


class StuckStream:
    """A stderr whose writes wait until the test lets them go."""

    def __init__(self):
        self.writing = threading.Event()
        self.go_on = threading.Event()

    def write(self, text):
        self.writing.set()
        self.go_on.wait(WAIT)

    def flush(self):
        pass


def test_the_feeder_reports_a_drop_without_holding_the_write_lock(monkeypatch):
    # The write lock is shared by every process that puts: a report stuck on
    # a slow stderr in one process must not hold up the others' writes (it
    # was written under the lock).
    q = mpref.Queue()
    err = StuckStream()
    monkeypatch.setattr(sys, 'stderr', err)

    def refuse(payload):
        raise OSError('the pipe refused it')

    q._writer.send_bytes = refuse
    q.put('dropped')
    try:
        assert err.writing.wait(WAIT)             # the report has begun, and is stuck
        assert q._wlock.acquire(timeout=5), 'the write lock is held while the feeder reports'
        q._wlock.release()
    finally:
        err.go_on.set()
    del q._writer.send_bytes
    monkeypatch.undo()
    q.put('next')
    assert q.get(timeout=WAIT) == 'next'
    closed_and_joined(q)


def test_a_joinable_queue_does_not_wait_for_the_tasks_of_dropped_objects(broken_stderr):
    # An object the feeder could not write is never got, so never marked
    # task_done(): its task is done when it is dropped (join() waited for
    # ever).
    q = mpref.JoinableQueue()
    q.put('a')
    assert q.get(timeout=WAIT) == 'a'
    q.task_done()

    def refuse(payload):
        raise OSError('the pipe refused it')

    q._writer.send_bytes = refuse
    q.put('dropped')
    deadline = time.monotonic() + WAIT
    while q._unfinished_tasks.get_value() and time.monotonic() < deadline:
        time.sleep(0.01)
    del q._writer.send_bytes
    q.put('b')
    assert q.get(timeout=WAIT) == 'b'
    q.task_done()
    joiner = threading.Thread(target=q.join, daemon=True)
    joiner.start()
    joiner.join(WAIT)
    assert not joiner.is_alive(), 'join() still waits for the dropped object'
    with pytest.raises(ValueError, match='task_done'):
        q.task_done()                       # no task left to finish
    closed_and_joined(q)


def _put_later_with_signals_blocked(q, item, delay):
    # Blocked here, the timer's signal goes to the main thread, as it would
    # in a program whose other threads are mpref's own (they block signals).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(delay)
    q.put(item)


def test_a_signal_during_a_waiting_get_leaves_the_next_object_in_the_queue():
    # Ctrl-C while get() waits for an object that arrives a moment later, in
    # the same slice of the wait: the handler's exception comes before the
    # object is read, so the object stays in the queue for the next get
    # (before, get read it and then raised: the object was lost).
    q = mpref.Queue()

    def interrupt(*args):
        raise ZeroDivisionError

    previous = signal.signal(signal.SIGALRM, interrupt)
    putter = threading.Thread(target=_put_later_with_signals_blocked, args=(q, 'kept', 0.08))
    try:
        putter.start()
        signal.setitimer(signal.ITIMER_REAL, 0.06)
        with pytest.raises(ZeroDivisionError):
            q.get(timeout=WAIT)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        putter.join(WAIT)
    assert q.get(timeout=WAIT) == 'kept'
    closed_and_joined(q)
