"""What chapter 11 (the programming guidelines, spec 16.6.3) and chapter 0's note rely on.

Each guideline is demonstrated in ``notebooks/11_programming_guidelines.ipynb``
as "what goes wrong" and "the fix"; these tests check both halves, so that a
change in mpref that makes a demonstration lie (or hang) fails here first.
Where the behaviour is observable the same program runs on the stdlib too.
The children's functions are ``mpref/targets/guidelines.py`` and the spec's
task functions, ``mpref/targets/tasks.py``; scripts run through
``mpref/targets/introduction.py``.
"""

import multiprocessing
import os
import pickle
import queue
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import mpref
from mpref.targets import guidelines as targets, tasks
from mpref.targets.introduction import run_script

pytestmark = pytest.mark.filterwarnings(
    'ignore:This process .* is multi-threaded:DeprecationWarning')

spawn = mpref.get_context('spawn')


def ask(target, *args, ctx=mpref):
    """Run target(*args, conn) in a child; return (exitcode, what it sent or None)."""
    reader, writer = mpref.Pipe(duplex=False)
    with reader, writer:
        child = ctx.Process(target=target, args=args + (writer,))
        child.start()
        answer = reader.recv() if reader.poll(30) else None
        child.join(30)
    return child.exitcode, answer


def state(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0]
    except FileNotFoundError:
        return 'gone'


# -- 1. avoid shared state ------------------------------------------------------

@pytest.mark.parametrize('lib', [mpref, multiprocessing.get_context('fork')], ids=['mpref', 'stdlib'])
def test_a_threading_lock_excludes_nothing_across_fork_a_process_lock_does(lib):
    outcomes = {}
    for name, lock in [('threading', threading.Lock()), ('process', lib.Lock())]:
        held, release = lib.Event(), lib.Event()
        child = lib.Process(target=targets.hold_lock, args=(lock, held, release))
        child.start()
        try:
            assert held.wait(30)
            outcomes[name] = lock.acquire(timeout=0.5)
            if outcomes[name]:
                lock.release()
        finally:
            release.set()
            child.join(30)
        assert child.exitcode == 0
    assert outcomes == {'threading': True, 'process': False}


def test_sending_a_recipe_gives_the_same_answer_as_sending_the_data():
    numbers = list(range(100_000))
    assert ask(targets.sum_of, numbers, ctx=spawn) == (0, sum(numbers))
    assert ask(targets.sum_of_range, 0, 100_000, ctx=spawn) == (0, sum(numbers))
    assert len(pickle.dumps((0, 100_000))) < len(pickle.dumps(numbers)) / 1000


# -- 2, 3. proxies: picklable arguments; threads --------------------------------

@pytest.fixture
def manager():
    manager = mpref.Manager()
    yield manager
    manager.shutdown()


def test_an_unpicklable_proxy_argument_fails_in_the_caller_and_changes_nothing(manager):
    shared = manager.list()
    with pytest.raises((pickle.PicklingError, AttributeError)):    # a local function
        shared.append(lambda x: x)
    with pytest.raises(TypeError, match='pickle'):
        shared.append(threading.Lock())
    assert len(shared) == 0
    shared.append(targets.greet)
    assert shared[0] is targets.greet


def test_one_proxy_from_two_threads_while_one_is_blocked_in_the_server(manager):
    shared = manager.Queue()
    got = []
    waiter = threading.Thread(target=lambda: got.append(shared.get(timeout=30)))
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive()
    shared.put('hello')
    waiter.join(30)
    assert got == ['hello'] and not waiter.is_alive()


def test_a_read_modify_write_through_a_proxy_needs_a_lock(manager):
    ns = manager.Namespace()
    ns.count = 0
    both_have_read = threading.Barrier(2, timeout=30)

    def unlucky_increment():
        value = ns.count
        both_have_read.wait()
        ns.count = value + 1

    threads = [threading.Thread(target=unlucky_increment) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert ns.count == 1

    ns.count = 0
    lock = threading.Lock()

    def careful_increments():
        for _ in range(20):
            with lock:
                ns.count += 1

    threads = [threading.Thread(target=careful_increments) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert ns.count == 60


# -- 4. joining zombie processes ------------------------------------------------

def _zombie(lib):
    child = lib.Process(target=time.sleep, args=(0,))
    child.start()
    deadline = time.monotonic() + 30
    while state(child.pid) != 'Z' and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state(child.pid) == 'Z'
    return child


@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='reads process states from /proc')
@pytest.mark.parametrize('lib', [mpref, multiprocessing.get_context('fork')], ids=['mpref', 'stdlib'])
@pytest.mark.parametrize('reaper', ['active_children', 'is_alive', 'start', 'join'])
def test_a_finished_child_stays_a_zombie_until_one_of_the_documented_calls(lib, reaper):
    child = _zombie(lib)
    if reaper == 'active_children':
        lib.active_children()
    elif reaper == 'is_alive':
        assert not child.is_alive()
    elif reaper == 'start':
        other = lib.Process(target=time.sleep, args=(0,))
        other.start()
        other.join(30)
    else:
        child.join(30)
    assert state(child.pid) == 'gone'
    child.join(30)


# -- 5. better to inherit than pickle -------------------------------------------

def test_shared_objects_are_refused_by_a_queue_and_a_pipe_and_inherited_as_arguments(ctx):
    total, lock = mpref.Value('i', 0), mpref.Lock()
    q = mpref.Queue()
    reader, writer = mpref.Pipe(duplex=False)
    with reader, writer:
        for obj in (total, lock):
            with pytest.raises(RuntimeError, match='through inheritance'):
                q.put(obj)
            with pytest.raises(RuntimeError, match='through inheritance'):
                writer.send(obj)
    child = ctx.Process(target=targets.add_to, args=(total, 10))
    child.start()
    child.join(30)
    assert child.exitcode == 0 and total.value == 10


# -- 6. avoid terminating processes ---------------------------------------------

def test_a_lock_held_by_a_terminated_process_stays_locked():
    lock, held = mpref.Lock(), mpref.Event()
    victim = mpref.Process(target=targets.hold_lock_and_sleep, args=(lock, held))
    victim.start()
    assert held.wait(30)
    victim.terminate()
    victim.join(30)
    assert victim.exitcode == -15
    assert not lock.acquire(timeout=0.5)


def test_a_writer_terminated_mid_message_breaks_the_queue_for_everyone():
    broken = mpref.Queue()
    writer = mpref.Process(target=targets.put_then_sleep, args=(broken, b'x' * 10_000_000))
    writer.start()
    assert broken._reader.poll(30)          # the feeder has begun the message
    writer.terminate()
    writer.join(30)
    another_writer = mpref.Process(target=tasks.put_item, args=(broken, b'hello'))
    report, report_end = mpref.Pipe(duplex=False)
    reader = mpref.Process(target=targets.get_and_report, args=(broken, report_end, 2))
    another_writer.start()
    reader.start()
    try:
        # The timeout holds, although the reader is inside the dead writer's message ...
        assert report.poll(30) and report.recv() == 'Empty'
        reader.join(30)
        assert reader.exitcode == 0
        # ... but the queue is broken: the write lock went with the victim, the
        # read lock with the reader (kept with the half-read message).
        another_writer.join(1)
        assert another_writer.is_alive()    # its feeder waits for the write lock
        with pytest.raises(queue.Empty):
            broken.get(timeout=1)           # nobody gets b'hello'
    finally:
        for stuck in (another_writer, reader):
            stuck.terminate()
            stuck.join(30)
        report.close()
        report_end.close()


def test_a_worker_asked_to_stop_leaves_the_lock_and_the_queue_usable():
    lock, stop = mpref.Lock(), mpref.Event()
    steps, results = mpref.Value('i', 0, lock=False), mpref.Queue()
    worker = mpref.Process(target=targets.count_until_stopped, args=(lock, steps, results, stop))
    worker.start()
    deadline = time.monotonic() + 30
    while steps.value < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    assert results.get(timeout=30) == 'stopped between two steps'
    worker.join(30)
    assert worker.exitcode == 0 and steps.value >= 3
    assert lock.acquire(timeout=1)
    lock.release()


# -- 7. joining processes that use queues ---------------------------------------

@pytest.mark.parametrize('lib', [mpref, multiprocessing.get_context('fork')], ids=['mpref', 'stdlib'])
def test_joining_a_child_before_getting_what_it_put_waits_until_the_get(lib):
    q = lib.Queue()
    p = lib.Process(target=tasks.put_big, args=(q, 1_000_000))
    p.start()
    p.join(1)
    assert p.is_alive()
    assert len(q.get(timeout=30)) == 1_000_000
    p.join(30)
    assert p.exitcode == 0


def test_a_child_that_cancels_the_join_thread_ends_without_a_reader():
    q = mpref.Queue()
    p = mpref.Process(target=targets.put_large_and_cancel, args=(q, 1_000_000))
    p.start()
    p.join(30)
    assert p.exitcode == 0


# -- 8. explicitly pass resources -----------------------------------------------

def test_a_spawned_child_has_no_global_resource_and_gets_an_argument():
    go = mpref.Event()
    go.set()
    targets.SHARED = mpref.Value('i', 0)
    try:
        assert ask(targets.write_to_global, 7, go, ctx=spawn) == (0, 'AttributeError: the global is None')
        assert ask(targets.write_to, targets.SHARED, 7, go, ctx=spawn) == (0, 'wrote 7')
        assert targets.SHARED.value == 7
    finally:
        targets.SHARED = None


def test_a_resource_the_parent_lets_go_of_is_reused_under_the_child():
    for _ in range(3):
        assert ask(targets.through_a_global) == (0, (True, 111))
        assert ask(targets.as_an_argument) == (0, (False, 0))


# -- 9. a replacement sys.stdin --------------------------------------------------

@pytest.mark.parametrize('cls, copies', [(targets.CachingWriter, 4), (targets.ForkSafeCachingWriter, 1)])
def test_each_forked_child_flushes_a_cached_stdin_unless_the_cache_knows_its_pid(tmp_path, cls, copies):
    path = tmp_path / 'out'
    cached = cls(str(path))
    cached.write('parent line\n')
    saved, sys.stdin = sys.stdin, cached
    try:
        children = [mpref.Process(target=time.sleep, args=(0,)) for _ in range(3)]
        for c in children:
            c.start()
        for c in children:
            c.join(30)
    finally:
        sys.stdin = saved
    cached.close()
    assert path.read_text().count('parent line') == copies


# -- 10, 11. more picklability; global variables (spawn) -----------------------

def test_a_bound_method_travels_when_its_object_pickles():
    assert ask(targets.Greeter('hello').greet, 'bob', ctx=spawn) == (0, 'hello bob')
    assert ask(targets.GuardedGreeter('hello').greet, 'bob') == (0, 'hello bob')      # fork
    with pytest.raises(pickle.PicklingError, match='_thread.lock'):
        ask(targets.GuardedGreeter('hello').greet, 'bob', ctx=spawn)
    assert mpref.active_children() == []
    assert ask(targets.greet, 'hello', 'bob', ctx=spawn) == (0, 'hello bob')


def test_a_process_subclass_must_pickle_under_spawn():
    reader, writer = mpref.Pipe(duplex=False)
    mpref.set_start_method('spawn')
    try:
        with reader, writer:
            with pytest.raises(pickle.PicklingError, match='_thread.lock'):
                targets.LockingProcess(writer).start()
            child = targets.LazyLockingProcess(writer)
            child.start()
            assert reader.recv() == 'ran in LazyLockingProcess'
            child.join(30)
    finally:
        mpref.set_start_method('fork')
    assert child.exitcode == 0


def test_a_spawned_child_sees_a_global_as_imported_and_constants_alike():
    targets.set_setting('changed')
    try:
        assert ask(targets.report_globals) == (0, ('changed', 42))
        assert ask(targets.report_globals, ctx=spawn) == (0, ('as imported', 42))
    finally:
        targets.set_setting('as imported')


# -- 12. safe importing of the main module (real scripts) -----------------------

START = {
    'process': ("p = {lib}.Process(target=square, args=(7,))\n"
                "p.start()\np.join()\nprint('exitcode', p.exitcode)"),
    'pool': "with {lib}.Pool(2) as pool:\n    print(pool.map(square, [1, 2, 3]))",
    'manager': "with {lib}.Manager() as manager:\n    print(manager.list([1, 2, 3]))",
}


def program(lib, start, guarded):
    start = START[start].format(lib=lib)
    if guarded:
        start = "if __name__ == '__main__':\n" + textwrap.indent(start, '    ')
    return ('import %s\n\ndef square(x):\n    return x * x\n\n%s.set_start_method(%r)\n%s\n'
            % (lib, lib, 'spawn', start))


@pytest.mark.parametrize('start', sorted(START))
def test_an_unguarded_main_module_fails_under_spawn_in_bounded_time(start):
    done = run_script(program('mpref', start, guarded=False), timeout=90)
    assert 'RuntimeError: a new process was started while this spawned child' in done.stderr
    if start == 'process':
        assert (done.returncode, done.stdout) == (0, 'exitcode 1\n')
    else:
        assert done.returncode == 1 and done.stdout == ''


@pytest.mark.parametrize('start', sorted(START))
def test_a_guarded_main_module_works_under_spawn(start):
    done = run_script(program('mpref', start, guarded=True), timeout=90)
    assert done.returncode == 0 and done.stderr == ''
    assert done.stdout == {'process': 'exitcode 0\n', 'pool': '[1, 4, 9]\n', 'manager': '[1, 2, 3]\n'}[start]


def test_the_stdlib_refuses_an_unguarded_main_module_too():
    done = run_script(program('multiprocessing', 'process', guarded=False), timeout=90)
    assert 'RuntimeError' in done.stderr
    assert done.stdout == 'exitcode 1\n'


# -- chapter 0: Pool and the interactive interpreter -----------------------------

def square_defined_late(x):
    return x * x


def test_a_pool_whose_forked_workers_lack_the_function_fails_the_call_and_lives_on(monkeypatch):
    # The spec's session: the pool is created, *then* f is defined.
    monkeypatch.delattr(sys.modules[__name__], 'square_defined_late')
    pool = mpref.Pool(2)
    monkeypatch.undo()
    try:
        with pytest.raises(AttributeError, match='square_defined_late'):
            pool.map(square_defined_late, [1, 2, 3])
        assert pool.map(abs, [-1, -2]) == [1, 2]
    finally:
        pool.terminate()
        pool.join()


def test_run_script_kills_a_program_that_overruns_and_everything_it_started(tmp_path):
    pid_file = tmp_path / 'pid'
    program = """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
        with open(sys.argv[1], 'w') as f:
            f.write(str(child.pid))
        time.sleep(60)
    """
    with pytest.raises(subprocess.TimeoutExpired):
        run_script(program, str(pid_file), timeout=5)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while state(pid) not in ('gone', 'Z') and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state(pid) in ('gone', 'Z')


def test_run_script_interactive_has_a_main_module_no_child_can_import():
    program = """
        import multiprocessing
        def f(x):
            return x
        p = multiprocessing.get_context('spawn').Process(target=f, args=(1,))
        p.start()
        p.join(30)
        print('exitcode', p.exitcode)
    """
    done = run_script(program, interactive=True, timeout=90)
    assert done.stdout == 'exitcode 1\n'
    assert "AttributeError: Can't get attribute 'f'" in done.stderr
    assert '\x1b[' not in done.stderr       # PYTHON_COLORS=0: plain text on 3.13 too
