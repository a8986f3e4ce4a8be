"""``mpref.dummy`` (spec 16.6.2.13): every public name, and the spec's programs in
their ``threads`` mode.  The stdlib's ``multiprocessing.dummy`` is the reference
where behaviour is observable.
"""

import ctypes
import gc
import os
import pickle
import queue
import re
import subprocess
import sys
import threading
import time

import pytest

import mpref
import mpref.dummy as dummy
from mpref.dummy import connection as dummy_connection
from mpref.pool import WorkerLostError
from mpref.examples.pool import pool_program
from mpref.examples.synchronize import synchronization_program


def _sq(x):
    return x * x


def _boom(x):
    if x == 3:
        raise KeyError(x)
    return x


# --------------------------------------------------------------------------
# The namespace
# --------------------------------------------------------------------------

def test_every_name_of_the_stdlib_dummy_is_here_except_barrier():
    import multiprocessing.dummy as stdlib_dummy
    missing = set(stdlib_dummy.__all__) - set(dummy.__all__)
    assert missing == {'Barrier'}          # mpref has no Barrier (the spec has none)
    for name in dummy.__all__:
        assert hasattr(dummy, name), name


def test_the_names_of_mpref_that_threads_can_have_are_here():
    for name in ['Process', 'current_process', 'active_children', 'cpu_count', 'freeze_support',
                 'Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Event',
                 'Queue', 'JoinableQueue', 'Pipe', 'Value', 'Array', 'RawValue', 'RawArray',
                 'Manager', 'Pool', 'TimeoutError', 'ProcessError', 'BufferTooShort',
                 'AuthenticationError']:
        assert name in dummy.__all__ and hasattr(mpref, name), name
    assert dummy.TimeoutError is mpref.TimeoutError


def test_cpu_count_and_freeze_support():
    assert dummy.cpu_count() == mpref.cpu_count() == os.cpu_count()
    assert dummy.freeze_support() is None


# --------------------------------------------------------------------------
# Process
# --------------------------------------------------------------------------

def test_process_is_a_thread_with_an_exitcode():
    gate = threading.Event()
    p = dummy.Process(target=gate.wait, args=(10,))
    assert isinstance(p, threading.Thread)
    assert p.exitcode is None and not p.is_alive()
    p.start()
    assert p.is_alive() and p.exitcode is None
    assert p in dummy.active_children()
    gate.set()
    p.join(10)
    assert not p.is_alive() and p.exitcode == 0
    assert p not in dummy.active_children()


def test_join_timeout_returns_while_the_thread_runs():
    gate = threading.Event()
    p = dummy.Process(target=gate.wait, args=(10,))
    p.start()
    p.join(0.01)
    assert p.is_alive() and p.exitcode is None
    p.join(-1)                      # a negative timeout does not wait (util.check_timeout)
    gate.set()
    p.join()
    with pytest.raises(TypeError):
        p.join('soon')


@pytest.mark.parametrize('code, expected', [(None, 0), (3, 3), ('bye', 1)])
def test_sys_exit_sets_the_exitcode_as_for_a_process(code, expected):
    p = dummy.Process(target=sys.exit, args=(code,))
    p.start()
    p.join()
    assert p.exitcode == expected


def test_an_exception_gives_exitcode_1_and_is_reported(monkeypatch):
    seen = []
    monkeypatch.setattr(threading, 'excepthook', lambda args: seen.append(args.exc_type))
    p = dummy.Process(target=_boom, args=(3,))
    p.start()
    p.join()
    assert p.exitcode == 1
    assert seen == [KeyError]


def test_name_daemon_and_current_process():
    import multiprocessing.dummy as stdlib_dummy
    assert dummy.current_process() is threading.current_thread()
    assert dummy.current_process().name == stdlib_dummy.current_process().name == 'MainThread'
    names = []
    p = dummy.Process(target=lambda: names.append(dummy.current_process().name), name='worker-7',
                      daemon=True)
    assert p.daemon and p.name == 'worker-7'
    p.start()
    p.join()
    assert names == ['worker-7']


def test_active_children_are_those_of_the_calling_thread():
    gate = threading.Event()
    inner = []

    def parent():
        child = dummy.Process(target=gate.wait, args=(10,))
        child.start()
        inner.append((child, dummy.active_children()))

    p = dummy.Process(target=parent)
    p.start()
    p.join()
    child, seen_by_parent = inner[0]
    assert seen_by_parent == [child]
    assert child not in dummy.active_children()     # not the main thread's child
    gate.set()
    child.join()


# --------------------------------------------------------------------------
# Synchronization
# --------------------------------------------------------------------------

@pytest.mark.parametrize('kind', ['Lock', 'RLock'])
def test_locks_take_the_spec_acquire_signature(kind):
    lock = getattr(dummy, kind)()
    assert lock.acquire(True, None) is True        # threading.Lock refuses timeout=None
    holder_result = []
    t = threading.Thread(target=lambda: holder_result.append(
        (lock.acquire(block=False), lock.acquire(timeout=0.01))))
    t.start()
    t.join()
    assert holder_result == [(False, False)]
    lock.release()
    with lock:
        pass
    with pytest.raises(RuntimeError):
        lock.release()
    with pytest.raises(TypeError):
        lock.acquire(timeout='1')


def test_rlock_is_recursive_and_a_condition_wait_releases_every_level():
    cond = dummy.Condition()
    cond.acquire()
    cond.acquire()
    t = dummy.Process(target=lambda: cond.acquire() and (cond.notify(), cond.release()))
    t.start()
    assert cond.wait(10) is True        # the other thread could take the lock
    cond.release()
    cond.release()
    t.join()


def test_condition_wait_times_out_and_accepts_a_plain_lock():
    cond = dummy.Condition(dummy.Lock())
    with cond:
        assert cond.wait(0.01) is False
        assert cond.wait(-5) is False
    assert cond.acquire(False) is True
    cond.release()


def test_semaphores():
    sema = dummy.Semaphore(2)
    assert sema.acquire() and sema.acquire(block=True, timeout=None)
    assert sema.get_value() == 0
    assert sema.acquire(block=False) is False
    assert sema.acquire(timeout=0.01) is False
    sema.release()
    with sema:
        assert sema.get_value() == 0
    bounded = dummy.BoundedSemaphore(1)
    assert bounded.acquire(False) is True
    bounded.release()
    with pytest.raises(ValueError):
        bounded.release()


def test_any_timeout_however_large():
    # util.check_timeout's rule; threading alone raises OverflowError past TIMEOUT_MAX.
    lock, q, event = dummy.Lock(), dummy.Queue(), dummy.Event()
    lock.acquire()
    threading.Timer(0.01, lock.release).start()
    assert lock.acquire(timeout=1e300) is True
    threading.Timer(0.01, q.put, args=('x',)).start()
    assert q.get(timeout=1e300) == 'x'
    threading.Timer(0.01, event.set).start()
    assert event.wait(float('inf')) is True
    with pytest.raises(ValueError):
        dummy.Semaphore().acquire(timeout=float('nan'))


def test_event():
    event = dummy.Event()
    assert event.wait(0.01) is False and not event.is_set()
    threading.Timer(0.01, event.set).start()
    assert event.wait(10) is True
    with pytest.raises(TypeError):
        event.wait('never')


# --------------------------------------------------------------------------
# Queues
# --------------------------------------------------------------------------

def test_queue_put_get_and_the_spec_exceptions():
    import multiprocessing.dummy as stdlib_dummy
    q = dummy.Queue(maxsize=1)
    q.put('a')
    with pytest.raises(queue.Full):
        q.put('b', timeout=0.01)
    with pytest.raises(queue.Full):
        q.put_nowait('b')
    assert q.qsize() == 1 and q.full() and not q.empty()
    assert q.get() == 'a'
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    with pytest.raises(queue.Empty):
        q.get(timeout=-1)                   # negative: do not wait (queue.Queue raises ValueError)
    with pytest.raises(queue.Empty):
        q.get_no_wait()
    with pytest.raises(queue.Empty):
        stdlib_dummy.Queue().get_nowait()   # the same exception in the stdlib
    q.close()
    q.join_thread()
    q.cancel_join_thread()


def test_queue_passes_the_object_itself():
    q, item = dummy.Queue(), ['shared']
    q.put(item)
    assert q.get() is item


def test_joinable_queue():
    q = dummy.JoinableQueue()
    q.put(1)
    t = dummy.Process(target=lambda: (q.get(), q.task_done()))
    t.start()
    q.join()
    t.join()
    with pytest.raises(ValueError):
        q.task_done()


# --------------------------------------------------------------------------
# Pipe, Listener, Client
# --------------------------------------------------------------------------

def test_pipe_both_ways_by_reference():
    a, b = dummy.Pipe()
    item = {'k': 1}
    a.send(item)
    assert b.poll(1) and b.recv() is item
    b.send_bytes(b'xhello', 1)
    assert a.recv_bytes() == b'hello'
    b.send_bytes(bytearray(b'long message'))
    with pytest.raises(OSError):
        a.recv_bytes(maxlength=3)
    with pytest.raises(ValueError):
        a.send_bytes(b'abc', 2, 5)


@pytest.mark.parametrize('offset, size', [(-1, None), (9, None), (0, -1), (4, 5), (8, 1), (2, 3)])
def test_send_bytes_bounds_are_those_of_a_real_pipe(offset, size):
    # One rule for both: what a real mpref pipe accepts or refuses, with the same message.
    outcomes = []
    for a, b in (mpref.Pipe(), dummy.Pipe()):
        with a, b:
            try:
                a.send_bytes(b'abcdefgh', offset, size)
                outcomes.append(b.recv_bytes())
            except ValueError as exc:
                outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]

def test_one_way_pipe():
    reader, writer = dummy.Pipe(duplex=False)
    writer.send(1)
    assert reader.recv() == 1
    with pytest.raises(OSError):
        reader.send(1)
    with pytest.raises(OSError):
        writer.recv()


def test_poll_waits_and_recv_after_close_raises_eof():
    a, b = dummy.Pipe()
    assert b.poll() is False and b.poll(0.01) is False
    threading.Timer(0.01, a.send, args=('late',)).start()
    assert b.poll(None) is True
    a.send('left over')
    a.close()
    assert a.closed
    assert b.recv() == 'late' and b.recv() == 'left over'
    assert b.poll(None) is True                     # at EOF recv does not block ...
    with pytest.raises(EOFError):                   # ... it raises
        b.recv()
    with pytest.raises(BrokenPipeError):
        b.send('to nobody')
    with pytest.raises(OSError):
        a.send('closed')
    with dummy.Pipe()[0] as c:
        pass
    assert c.closed


SENTINEL = b'--stop--'


def echo(conn):
    """CPython's _TestConnection._echo: send back every message, as bytes, until SENTINEL."""
    for message in iter(conn.recv_bytes, SENTINEL):
        conn.send_bytes(message)
    conn.close()


@pytest.mark.parametrize('mp', [mpref, dummy], ids=['processes', 'threads'])
def test_an_echo_of_recv_bytes_works_on_threads_as_on_processes(mp):
    # CPython's test_connection: send() then recv() through a child that
    # echoes with recv_bytes()/send_bytes().  On a real pipe the child sees
    # the pickle; so does a dummy one, where a message is seen as bytes.
    conn, child_conn = mp.Pipe()
    p = mp.Process(target=echo, args=(child_conn,), daemon=True)
    p.start()
    seq = [1, 2.25, None]
    conn.send(seq)
    assert conn.poll(10) and conn.recv() == seq
    conn.send_bytes(b'hello world')
    assert conn.poll(10) and conn.recv_bytes() == b'hello world'
    big = b'X' * (16 * 1024 * 1024)
    conn.send_bytes(big)
    assert conn.poll(10) and conn.recv_bytes() == big
    conn.send_bytes(SENTINEL)
    child_conn.close()
    p.join(10)
    assert p.exitcode == 0
    assert conn.poll(10)                # end of file: both copies of the child's end are closed
    with pytest.raises(EOFError):
        conn.recv()
    with pytest.raises(EOFError):
        conn.recv_bytes()
    conn.close()


@pytest.mark.parametrize('mp', [mpref, dummy], ids=['processes', 'threads'])
def test_the_parent_may_close_its_copy_of_the_childs_end_at_once(mp):
    # CPython's test_spawn_close: the thread has its own copy of the end.
    conn, child_conn = mp.Pipe()
    p = mp.Process(target=echo, args=(child_conn,), daemon=True)
    p.start()
    child_conn.close()                  # before the child may have begun
    conn.send_bytes(b'hello')
    assert conn.poll(10) and conn.recv_bytes() == b'hello'
    conn.send_bytes(SENTINEL)
    p.join(10)
    assert p.exitcode == 0
    conn.close()


def _fail_with(conn):
    raise RuntimeError('the child thread failed before answering')


@pytest.mark.filterwarnings('ignore::pytest.PytestUnhandledThreadExceptionWarning')
def test_a_thread_that_ended_leaves_no_recv_waiting():
    # As when a child process dies: its copies of the pipe's ends close.
    conn, child_conn = dummy.Pipe()
    p = dummy.Process(target=_fail_with, args=(child_conn,))
    p.start()
    child_conn.close()
    p.join(10)
    assert p.exitcode == 1
    assert conn.poll(10)
    with pytest.raises(EOFError):
        conn.recv()
    with pytest.raises(BrokenPipeError):
        conn.send('to nobody')


def test_send_and_send_bytes_mix_as_on_a_real_pipe():
    outcomes = []
    for mp in (mpref, dummy):
        a, b = mp.Pipe()
        with a, b:
            a.send_bytes(pickle.dumps({'k': [1, 2]}))
            a.send(('x', 2.5))
            outcomes.append((b.recv(), b.recv_bytes()))
    assert outcomes[0] == outcomes[1] == ({'k': [1, 2]}, pickle.dumps(('x', 2.5)))


def test_an_end_stays_open_until_its_last_copy_closes():
    a, b = dummy.Pipe()
    copy = b.duplicate()
    b.close()
    a.send(1)
    assert copy.recv() == 1
    copy.close()
    with pytest.raises(EOFError):
        a.recv()
    with pytest.raises(OSError):
        b.duplicate()           # a closed copy cannot be copied


def test_families_match_the_stdlib():
    import multiprocessing.dummy.connection as stdlib_connection
    assert dummy_connection.families == stdlib_connection.families == [None]


def test_listener_and_client_between_threads():
    with dummy_connection.Listener() as listener:
        assert listener.address.startswith('dummy-listener-')
        answers = []

        def client():
            with dummy_connection.Client(listener.address) as conn:
                conn.send('ping')
                answers.append(conn.recv())

        t = dummy.Process(target=client, name='the-client')
        t.start()
        conn = listener.accept()
        assert conn.recv() == 'ping'
        conn.send('pong')
        t.join()
        assert answers == ['pong'] and listener.last_accepted == 'the-client'
        with pytest.raises(ValueError):
            dummy_connection.Listener(listener.address)
    with pytest.raises(ConnectionRefusedError):
        dummy_connection.Client(listener.address)
    with pytest.raises(OSError):
        listener.accept()                   # closed: never waits
    with pytest.raises(ValueError):
        dummy_connection.Listener(family='AF_INET')


def test_closing_a_listener_wakes_accept():
    listener = dummy_connection.Listener(('any', 'hashable'))
    errors = []
    t = dummy.Process(target=lambda: errors.append(pytest.raises(OSError, listener.accept)))
    t.start()
    time.sleep(0.01)
    listener.close()
    t.join(10)
    assert not t.is_alive() and errors


# --------------------------------------------------------------------------
# Value, Array, RawValue, RawArray
# --------------------------------------------------------------------------

def test_value_and_array_behave_as_mprefs():
    for code, init in [('i', 7), ('h', 70000), ('d', 1.25), ('c', b'x')]:
        assert dummy.Value(code, init).value == mpref.Value(code, init).value
    a, b = dummy.Array('i', range(5)), mpref.Array('i', range(5))
    a[1:3] = b[1:3] = [9, 9]
    assert a[:] == b[:] and len(a) == len(b) == 5
    s = dummy.Array('c', b'hello')
    assert s.value == b'hello' and s.raw == b'hello'
    s.raw = b'HELLO'
    assert s[:] == b'HELLO'


def test_value_lock_argument():
    v = dummy.Value('i', 0)
    assert isinstance(v.get_lock(), dummy.RLock)
    with v:
        v.value += 1
    assert v.get_obj().value == 1
    mine = dummy.Lock()
    assert dummy.Value('i', 0, lock=mine).get_lock() is mine
    raw = dummy.Value('i', 5, lock=False)
    assert type(raw).__name__ == 'c_int' and raw.value == 5
    with pytest.raises(TypeError):
        dummy.Value('i', 0, lock=threading.Lock())
    with pytest.raises(TypeError):
        dummy.Value('?', 0)


def test_value_of_a_structure_has_locked_fields_and_a_with_block():
    class Point(ctypes.Structure):
        _fields_ = [('x', ctypes.c_int), ('y', ctypes.c_int)]

    point = dummy.Value(Point, 1, 2)
    with point:                         # the wrapper's lock, as for mpref.Value
        point.x += 10
    assert (point.x, point.y) == (11, 2)
    assert point.get_lock().acquire(False)      # released by the with block
    point.get_lock().release()

def test_raw_value_and_raw_array():
    assert dummy.RawValue('d', 2.5).value == 2.5
    assert list(dummy.RawArray('i', 3)) == [0, 0, 0]
    assert list(dummy.RawArray('h', [1, 2])) == [1, 2]


def test_threads_see_the_same_value():
    counter = dummy.Value('i', 0)

    def add():
        for _ in range(1000):
            with counter.get_lock():
                counter.value += 1

    threads = [dummy.Process(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.value == 4000


# --------------------------------------------------------------------------
# Manager and Namespace
# --------------------------------------------------------------------------

def test_manager_makes_plain_thread_objects():
    import multiprocessing.dummy as stdlib_dummy
    with dummy.Manager() as m:
        assert m.list([1, 2]) == [1, 2] and type(m.list()) is list
        assert m.dict(a=1) == {'a': 1}
        ns = m.Namespace(x=1, y='two', _hidden=3)
        assert repr(ns) == repr(stdlib_dummy.Namespace(x=1, y='two', _hidden=3)) \
            == "Namespace(x=1, y='two')"
        assert isinstance(m.Lock(), dummy.Lock) and isinstance(m.Queue(), dummy.Queue)
        assert m.Value('i', 3).value == 3 and m.Array('i', [1])[:] == [1]
        for name in ['RLock', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Event',
                     'JoinableQueue']:
            assert isinstance(getattr(m, name)(), getattr(dummy, name)), name
        pool = m.Pool(1)
        assert pool.apply(_sq, (3,)) == 9
        pool.terminate()
        pool.join()
    m.start()
    m.shutdown()
    assert dummy.Namespace is mpref.managers.Namespace


# --------------------------------------------------------------------------
# Pool
# --------------------------------------------------------------------------

@pytest.fixture
def pool():
    p = dummy.Pool(3)
    yield p
    p.terminate()
    p.join()


def test_pool_results_match_the_stdlib_thread_pool(pool):
    import multiprocessing.dummy as stdlib_dummy
    reference = stdlib_dummy.Pool(3)
    try:
        for method, args in [('map', (_sq, range(20))), ('map', (_sq, range(20), 7)),
                             ('starmap', (pow, [(2, 3), (3, 2)])), ('apply', (_sq, (4,)))]:
            assert getattr(pool, method)(*args) == getattr(reference, method)(*args), method
        assert list(pool.imap(_sq, range(10), 3)) == list(reference.imap(_sq, range(10), 3))
        assert sorted(pool.imap_unordered(_sq, range(10))) == \
            sorted(reference.imap_unordered(_sq, range(10)))
    finally:
        reference.terminate()
        reference.join()


def _seam():
    """The members a core must have: the list in mpref/pool.py's docstring."""
    section = mpref.pool.__doc__.split('The seam between')[1].split('In the other direction')[0]
    return re.findall(r'^``(\w+)(?:\(.*\))?``$', section, re.MULTILINE)


@pytest.mark.filterwarnings(r'ignore:This process \(pid=\d+\) is multi-threaded:DeprecationWarning')
def test_the_thread_core_keeps_the_promises_of_the_seam(pool):
    # mpref.dummy.Pool is mpref.pool.Pool with another core behind it: the
    # thread core has every member pool.py's docstring lists, as the process
    # core has (check_owner is asked only by the Pool.terminate dummy overrides).
    seam = _seam()
    assert 'make_task' in seam and 'start_feeder' in seam and len(seam) == 13
    process_pool = mpref.Pool(1)
    try:
        assert [name for name in seam if not hasattr(process_pool._core, name)] == []
        assert [name for name in seam if not hasattr(pool._core, name)] == ['check_owner']
    finally:
        process_pool.terminate()
        process_pool.join()


def test_pool_workers_are_named_threads(pool):
    names = set(pool.map(lambda _: dummy.current_process().name, range(30), 1))
    assert names <= {'PoolWorker-1', 'PoolWorker-2', 'PoolWorker-3'}
    assert all(isinstance(w, dummy.Process) and w.daemon for w in pool._pool)
    assert repr(pool) == '<mpref.dummy.pool.Pool state=RUN pool_size=3>'


def test_a_task_raises_its_own_exception(pool):
    with pytest.raises(KeyError):
        pool.apply(_boom, (3,))
    with pytest.raises(KeyError):
        pool.map(_boom, range(10), 2)
    it = pool.imap(_boom, range(6), 2)
    assert [next(it), next(it), next(it)] == [0, 1, 2]
    with pytest.raises(KeyError):
        next(it)
    assert list(it) == [4, 5]               # the iteration goes on after the failed item
    result = pool.apply_async(_boom, (3,))
    result.wait(10)
    assert result.ready() and not result.successful()


def _leave(kind):
    raise kind(3) if kind is SystemExit else kind()


@pytest.mark.parametrize('kind', [SystemExit, KeyboardInterrupt, GeneratorExit])
def test_a_task_that_raises_a_base_exception_fails_and_the_worker_stays(kind):
    # In a process pool such a task ends the worker and fails with
    # WorkerLostError; a worker thread that let it through would end silently,
    # the result would wait for ever and the pool would shrink to nothing.
    p = dummy.Pool(1)
    try:
        for _ in range(2):          # twice: the one worker survives the first
            result = p.apply_async(_leave, (kind,))
            with pytest.raises(WorkerLostError, match=kind.__name__):
                result.get(10)
        assert p.map(_sq, range(4)) == [0, 1, 4, 9]
        assert all(w.is_alive() for w in p._pool)
    finally:
        p.terminate()
        p.join()


def test_timeouts_and_successful_before_ready(pool):
    gate = threading.Event()
    result = pool.apply_async(gate.wait, (10,))
    with pytest.raises(mpref.TimeoutError):
        result.get(0.01)
    with pytest.raises(AssertionError):
        result.successful()
    it = pool.imap(gate.wait, [10])
    with pytest.raises(mpref.TimeoutError):
        it.next(0.01)
    gate.set()
    assert result.get(10) is True and it.next(10) is True
    with pytest.raises(StopIteration):
        it.next(10)


def test_callbacks_run_before_wait_returns(pool):
    got, errors = [], []
    pool.apply_async(_sq, (7,), callback=got.append).wait(10)
    pool.map_async(_sq, range(3), callback=got.append).wait(10)
    pool.apply_async(_boom, (3,), error_callback=errors.append).wait(10)
    assert got == [49, [0, 1, 4]] and [type(e) for e in errors] == [KeyError]
    assert pool.map([].append, []) == [] and not pool._cache


def test_imap_reads_a_generator_and_reports_its_failure(pool):
    def numbers():
        yield 1
        yield 2
        raise OSError('input broke')
    it = pool.imap(_sq, numbers())
    assert [next(it), next(it)] == [1, 4]
    with pytest.raises(OSError):
        next(it)


def _items_then_raise(count, when):
    for i in range(count):
        if i == when:
            raise OSError('input broke at %d' % i)
        yield i


@pytest.mark.parametrize('chunksize', [1, 2, 4])
def test_an_input_that_raises_raises_after_the_full_chunks_as_in_the_stdlib(pool, chunksize):
    # CPython's test_imap_handle_iterable_exception, threads variant.
    import multiprocessing.dummy as stdlib_dummy
    full = 7 - 7 % chunksize
    with stdlib_dummy.Pool(3) as reference:
        for p in (pool, reference):
            it = p.imap(_sq, _items_then_raise(20, 7), chunksize)
            assert [next(it) for _ in range(full)] == [x * x for x in range(full)]
            with pytest.raises(OSError):
                next(it)
            it = p.imap_unordered(_sq, _items_then_raise(20, 7), chunksize)
            with pytest.raises(OSError):
                for value in it:
                    assert value in [x * x for x in range(full)]
            with pytest.raises(OSError):
                p.map(_sq, _items_then_raise(20, 7), chunksize)


@pytest.mark.parametrize('call', ['map', 'map_async', 'starmap', 'apply_async', 'imap',
                                  'imap_unordered'])
def test_arguments_and_results_are_released_once_the_task_is_done(pool, call):
    # CPython's test_release_task_refs, threads variant: an idle worker
    # thread must not keep its last task's arguments (or values) alive.
    from tests.test_pool import all_released, run_and_forget
    refs = run_and_forget(pool, call)
    time.sleep(0.1)
    assert all_released(refs)


def test_close_then_join_finishes_the_work():
    pool = dummy.Pool(2)
    results = pool.imap(_sq, range(50))
    pool.close()
    with pytest.raises(ValueError):
        pool.apply(_sq, (1,))
    pool.join()
    assert list(results) == [x * x for x in range(50)]
    assert not any(w.is_alive() for w in pool._pool)


def test_join_before_close_is_an_error(pool):
    with pytest.raises(ValueError):
        pool.join()


def test_terminate_fails_what_is_outstanding_never_hangs():
    pool = dummy.Pool(1)
    gate = threading.Event()
    running = pool.apply_async(gate.wait, (10,))
    waiting = [pool.apply_async(_sq, (i,)) for i in range(5)]
    it = pool.imap(_sq, range(5))
    pool.terminate()
    for result in [running] + waiting:
        with pytest.raises(WorkerLostError):
            result.get(10)
    with pytest.raises(WorkerLostError):
        list(it)
    gate.set()                  # the task that was running ends by itself
    pool.join()
    assert not any(w.is_alive() for w in pool._pool)
    with pytest.raises(ValueError):
        pool.map(_sq, [1])


def test_a_task_that_ends_after_terminate_leaves_its_result_failed():
    # terminate() fails a running task's result at once; the thread runs on,
    # and its late outcome changes nothing (no second callback either).
    gate, started = threading.Event(), threading.Semaphore(0)

    def task(x):
        started.release()
        gate.wait(10)
        return x

    pool = dummy.Pool(3)
    calls = []
    single = pool.apply_async(task, (1,), callback=calls.append, error_callback=calls.append)
    mapped = pool.map_async(task, [2, 3], chunksize=1,
                            callback=calls.append, error_callback=calls.append)
    for _ in range(3):
        assert started.acquire(timeout=10)
    pool.terminate()
    gate.set()
    pool.join()                 # every task has now ended and delivered its outcome
    for result in (single, mapped):
        with pytest.raises(WorkerLostError):
            result.get(0)
    assert [type(call) for call in calls] == [WorkerLostError, WorkerLostError]

def test_an_imap_terminated_before_its_input_came_fails_not_ends():
    gate = threading.Event()

    def slow_input():
        gate.wait(10)
        yield 1                 # read by the feeder only after terminate()

    pool = dummy.Pool(1)
    it = pool.imap(_sq, slow_input())
    pool.terminate()
    gate.set()
    pool.join()                 # the feeder has seen the pool terminated
    with pytest.raises(WorkerLostError):
        it.next(10)

def test_dropping_the_pool_terminates_it():
    pool = dummy.Pool(2)
    workers = pool._pool
    result = pool.apply_async(time.sleep, (0.01,))
    del pool
    gc.collect()
    for worker in workers:
        worker.join(10)
    assert not any(w.is_alive() for w in workers)
    result.wait(10)
    assert result.ready()


@pytest.mark.parametrize('call', ['imap', 'imap_unordered', 'map_async', 'apply_async'])
def test_results_still_due_keep_their_pool_alive(call):
    from tests.test_pool import start_unreferenced
    result, workers, expected = start_unreferenced(dummy, call)
    gc.collect()
    got = result.get(10) if call.endswith('async') else [result.next(10) for _ in expected]
    assert got == expected
    del result
    gc.collect()
    for worker in workers:
        worker.join(10)
    assert not any(w.is_alive() for w in workers)


def test_with_block_terminates():
    with dummy.Pool(2) as pool:
        assert pool.apply(_sq, (5,)) == 25
    pool.join()
    assert not any(w.is_alive() for w in pool._pool)


def test_initializer_runs_in_each_worker_and_its_failure_fails_the_tasks():
    seen = []
    pool = dummy.Pool(2, seen.append, ('init',))
    pool.map(_sq, range(10))
    pool.close()
    pool.join()
    assert seen == ['init', 'init']
    pool = dummy.Pool(1, int, ('not a number',))
    with pytest.raises(ValueError, match='not a number'):
        pool.apply(_sq, (2,))
    pool.terminate()
    pool.join()


@pytest.mark.parametrize('args, error', [((0,), ValueError), (('2',), TypeError),
                                         ((1, 'not callable'), TypeError)])
def test_bad_pool_arguments(args, error):
    with pytest.raises(error):
        dummy.Pool(*args)


def test_bad_chunksize(pool):
    with pytest.raises(ValueError):
        pool.map(_sq, range(3), 0)
    with pytest.raises(TypeError):
        pool.imap(_sq, range(3), 1.5)


# --------------------------------------------------------------------------
# The spec's programs: the same code on processes and on threads
# --------------------------------------------------------------------------

def _report(program, mode):
    completed = subprocess.run([sys.executable, '-m', 'mpref.examples.' + program, mode],
                               capture_output=True, text=True, timeout=90,
                               env=dict(os.environ, PYTHON_COLORS='0'))
    assert completed.returncode == 0, completed.stderr
    # Which worker ran a task, and in what order unordered results came, vary.
    lines = completed.stdout.splitlines()[1:]
    return [line.split(' says that ')[-1] for line in lines if not line.startswith('pool = ')]


@pytest.mark.parametrize('program', ['pool', 'synchronize'])
def test_the_spec_programs_report_the_same_on_threads_and_processes(program):
    threads, processes = _report(program, 'threads'), _report(program, 'processes')
    assert sorted(threads) == sorted(processes)
    assert threads[-1] in ('\tgarbage collection succeeded', '\tTests passed')


def test_the_pool_program_in_this_process_on_threads():
    lines = []
    pool_program(dummy, lines.append)
    assert '\tcallbacks succeeded' in lines and '\tgarbage collection succeeded' in lines
    assert any(line.startswith('\tPoolWorker-') for line in lines)


def test_the_synchronization_program_in_this_process_on_threads():
    lines = []
    synchronization_program(dummy, lines.append)
    assert lines[-1] == '\tTests passed'
    assert '\t5 have woken up' in lines and '\tat most 3 ran at once: True' in lines
    assert '\tNo more running processes: running.value = 0' in lines
