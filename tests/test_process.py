"""Tests for mpref/process.py and the start methods (spec 16.6.1.1, 16.6.2.1, 16.6.2.3).

Children report to the parent by writing a small file (``_record``): that
works the same under fork and spawn and needs nothing but the filesystem.
Targets are module-level functions so a spawned child can import them.
"""

import ast
import gc
import multiprocessing as stdlib_mp
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import pytest

import mpref
from mpref import process as mp_process

JOIN = 30          # generous bound for a child that should exit promptly


# --------------------------------------------------------------------------
# Targets (module level: a spawned child imports them by name)
# --------------------------------------------------------------------------

def _record(path, value):
    with open(path, 'w') as f:
        f.write(repr(value))


def _read(path):
    with open(path) as f:
        return ast.literal_eval(f.read())


def record_call(path, *args, **kwargs):
    _record(path, (args, kwargs))


def record_identity(path):
    me = mpref.current_process()
    _record(path, {'name': me.name, 'pid': os.getpid(), 'ppid': os.getppid(),
                   'mp_pid': me.pid, 'authkey': bytes(me.authkey).hex(),
                   'daemon': me.daemon})


def record_grandchild_name(path):
    grandchild = mpref.Process(target=record_identity, args=(path + '.g',))
    grandchild.start()
    grandchild.join(JOIN)
    _record(path, (mpref.current_process().name, grandchild.name, _read(path + '.g')['name']))


def record_stdin(path):
    _record(path, (sys.stdin.name, sys.stdin.read()))


def record_join_self(path):
    try:
        mpref.current_process().join()
    except AssertionError as exc:
        _record(path, ('AssertionError', str(exc)))
    else:
        _record(path, 'no error')


def record_daemon_child_error(path):
    try:
        mpref.Process(target=time.sleep, args=(0,)).start()
    except AssertionError as exc:
        _record(path, ('AssertionError', str(exc)))
    else:
        _record(path, 'no error')


def write_partial_line(text):
    # No newline and no flush: only the bootstrap's flush can save it.
    sys.stdout.write(text)
    sys.stderr.write(text)


def exit_with(code):
    sys.exit(code)


def raise_value_error():
    raise ValueError('boom from the child')


def start_daemon_sleeper_and_return(path):
    sleeper = mpref.Process(target=time.sleep, args=(60,), daemon=True)
    sleeper.start()
    _record(path, sleeper.pid)


def start_slow_writer_and_return(path):
    writer = mpref.Process(target=slow_write, args=(path,))
    writer.start()


def slow_write(path):
    time.sleep(0.5)
    _record(path, 'written by the grandchild')


MODULE_GLOBAL = 'as imported'


def record_module_global(path):
    _record(path, MODULE_GLOBAL)


class Subclassed(mpref.Process):
    """A subclass overriding __init__ and run(), as the spec allows."""

    def __init__(self, path, word):
        super().__init__()
        self.path = path
        self.word = word

    def run(self):
        _record(self.path, (type(self).__name__, self.word * 2))


def _run_script(tmp_path, source, timeout=60, env=None):
    script = tmp_path / 'prog.py'
    script.write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=timeout, cwd=str(tmp_path), env=env)


def _env_without(*names):
    """os.environ minus ``names``, with this repository importable (``tests.*``)."""
    env = {k: v for k, v in os.environ.items() if k not in names}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [root, env.get('PYTHONPATH')]))
    return env


def _joined(p, timeout=JOIN):
    p.join(timeout)
    assert p.exitcode is not None, '%r did not finish within %ss' % (p, timeout)
    return p.exitcode


# --------------------------------------------------------------------------
# Running a target
# --------------------------------------------------------------------------

def test_run_calls_target_with_args_and_kwargs(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=record_call, args=(path, 1, 'two'), kwargs={'three': [3]})
    p.start()
    assert _joined(p) == 0
    assert _read(path) == ((1, 'two'), {'three': [3]})


def test_no_target_does_nothing(ctx):
    p = ctx.Process()
    p.start()
    assert _joined(p) == 0


def test_subclass_overrides_init_and_run(start_method, tmp_path):
    path = str(tmp_path / 'out')
    mpref.set_start_method(start_method)
    try:
        p = Subclassed(path, 'ab')
        p.start()
        assert _joined(p) == 0
    finally:
        mpref.set_start_method('fork')
    assert _read(path) == ('Subclassed', 'abab')


def test_run_in_parent_calls_target_directly(tmp_path):
    path = str(tmp_path / 'out')
    mpref.Process(target=record_call, args=(path, 'here')).run()
    assert _read(path) == (('here',), {})


def test_group_must_be_none():
    with pytest.raises(ValueError, match='group'):
        mpref.Process(group='workers')


# --------------------------------------------------------------------------
# Names, pids, identity
# --------------------------------------------------------------------------

def test_default_names_count_up():
    first, second = mpref.Process(), mpref.Process()
    n = int(first.name.split('-')[1])
    assert first.name == 'Process-%d' % n
    assert second.name == 'Process-%d' % (n + 1)


def test_names_extend_by_generation(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=record_grandchild_name, args=(path,))
    p.start()
    assert _joined(p) == 0
    child_name, grandchild_name, grandchild_self_name = _read(path)
    assert child_name == p.name
    assert grandchild_name == p.name + ':1'
    assert grandchild_self_name == grandchild_name


def test_names_match_stdlib_pattern():
    # The stdlib numbers its children the same way: Process-N, Process-N+1.
    a, b = stdlib_mp.Process(), stdlib_mp.Process()
    assert a.name.startswith('Process-') and b.name.startswith('Process-')
    assert int(b.name.split('-')[1]) == int(a.name.split('-')[1]) + 1


def test_name_is_settable_and_must_be_str():
    p = mpref.Process(name='worker')
    assert p.name == 'worker'
    p.name = 'renamed'
    assert p.name == 'renamed'
    with pytest.raises(TypeError, match='name must be a string'):
        p.name = 42


def test_pid_none_before_start_then_the_childs_pid(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=record_identity, args=(path,))
    assert p.pid is None
    p.start()
    assert isinstance(p.pid, int)
    assert _joined(p) == 0
    info = _read(path)
    assert info['pid'] == p.pid == info['mp_pid']
    assert info['ppid'] == os.getpid()
    assert info['name'] == p.name


def test_main_process():
    me = mpref.current_process()
    assert me.name == 'MainProcess'
    assert me.pid == os.getpid()
    assert me.is_alive()
    assert repr(me) == '<_MainProcess(MainProcess, started)>'


# --------------------------------------------------------------------------
# Exit codes and signals
# --------------------------------------------------------------------------

@pytest.mark.parametrize('code, expected', [(None, 0), (0, 0), (3, 3), (255, 255)])
def test_sys_exit_codes_are_honoured(ctx, code, expected):
    p = ctx.Process(target=exit_with, args=(code,))
    p.start()
    assert _joined(p) == expected


def test_sys_exit_with_message_prints_it_and_exits_1(ctx, capfd):
    p = ctx.Process(target=exit_with, args=('a reason to stop',))
    p.start()
    assert _joined(p) == 1
    assert 'a reason to stop' in capfd.readouterr().err


def test_uncaught_exception_prints_traceback_and_exits_1(ctx, capfd):
    p = ctx.Process(target=raise_value_error)
    p.start()
    assert _joined(p) == 1
    err = capfd.readouterr().err
    assert 'Process %s:' % p.name in err
    assert 'Traceback (most recent call last)' in err
    assert 'ValueError: boom from the child' in err


@pytest.mark.parametrize('how, code', [('raise RuntimeError("boom")', 1),
                                       ('sys.exit("a reason to stop")', 1),
                                       ('sys.exit(2 ** 40)', 1), ('sys.exit(3)', 3)])
def test_a_child_with_its_stderr_closed_keeps_its_exit_code_and_its_output(tmp_path, start_method,
                                                                              how, code):
    # The child's report of how it ended goes to stderr; with stderr closed
    # the report fails, and that must change nothing: the exit code stays,
    # and the child's buffered stdout is still flushed (before, a forked child
    # left at once through os._exit and its output was lost).
    env = _env_without('PYTHONUNBUFFERED')       # stdout to a pipe: block-buffered
    result = _run_script(tmp_path, """
        import sys
        import mpref

        def child():
            print('output of the child')
            sys.stderr.close()
            %s

        if __name__ == '__main__':
            p = mpref.get_context(%r).Process(target=child)
            p.start()
            p.join(30)
            print('exitcode', p.exitcode)
    """ % (how, start_method), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['output of the child', 'exitcode %d' % code], result
    assert 'lost sys.stderr' not in result.stderr


def test_exit_codes_match_stdlib(start_method):
    # The same programs, run on mpref and on the reference implementation.
    targets = [(time.sleep, (0,)), (exit_with, (7,)), (exit_with, ('msg',)),
               (raise_value_error, ())]
    codes = {}
    for name, module in (('mpref', mpref), ('stdlib', stdlib_mp)):
        context = module.get_context(start_method)
        codes[name] = []
        for target, args in targets:
            p = context.Process(target=target, args=args)
            p.start()
            p.join(JOIN)
            codes[name].append(p.exitcode)
    assert codes['mpref'] == codes['stdlib'] == [0, 7, 1, 1]


def test_terminate_gives_minus_sigterm(ctx):
    p = ctx.Process(target=time.sleep, args=(60,))
    p.start()
    assert p.is_alive()
    p.terminate()
    assert _joined(p) == -signal.SIGTERM
    assert not p.is_alive()


def test_kill_gives_minus_sigkill(ctx):
    p = ctx.Process(target=time.sleep, args=(60,))
    p.start()
    p.kill()
    assert _joined(p) == -signal.SIGKILL


def test_terminate_before_start_is_an_error():
    with pytest.raises(ValueError, match='not been started'):
        mpref.Process().terminate()


def test_exitcode_none_while_running_and_before_start(ctx):
    p = ctx.Process(target=time.sleep, args=(60,))
    assert p.exitcode is None
    p.start()
    assert p.exitcode is None
    p.terminate()
    _joined(p)


# --------------------------------------------------------------------------
# repr, as in the spec's example session
# --------------------------------------------------------------------------

def test_repr_states():
    p = mpref.Process(target=time.sleep, args=(1000,))
    name = p.name
    assert (repr(p), p.is_alive()) == ('<Process(%s, initial)>' % name, False)
    p.start()
    assert (repr(p), p.is_alive()) == ('<Process(%s, started)>' % name, True)
    p.terminate()
    p.join(JOIN)
    assert (repr(p), p.is_alive()) == ('<Process(%s, stopped[SIGTERM])>' % name, False)
    assert p.exitcode == -signal.SIGTERM


def test_repr_of_exit_codes_and_daemon():
    ok = mpref.Process(target=time.sleep, args=(0,))
    ok.start()
    ok.join(JOIN)
    assert repr(ok) == '<Process(%s, stopped)>' % ok.name
    three = mpref.Process(target=exit_with, args=(3,), daemon=True)
    three.start()
    three.join(JOIN)
    assert repr(three) == '<Process(%s, stopped[3] daemon)>' % three.name


# --------------------------------------------------------------------------
# join, is_alive and their errors
# --------------------------------------------------------------------------

def test_join_with_timeout_returns_while_alive(ctx):
    p = ctx.Process(target=time.sleep, args=(60,))
    p.start()
    t0 = time.monotonic()
    assert p.join(0.2) is None
    assert time.monotonic() - t0 < JOIN
    assert p.is_alive() and p.exitcode is None
    p.terminate()
    _joined(p)


def test_join_many_times(ctx):
    p = ctx.Process(target=time.sleep, args=(0,))
    p.start()
    for _ in range(3):
        p.join(JOIN)
    assert p.exitcode == 0


def test_start_twice_is_an_error(ctx):
    p = ctx.Process(target=time.sleep, args=(0,))
    p.start()
    with pytest.raises(AssertionError, match='cannot start a process twice'):
        p.start()
    _joined(p)


def test_join_before_start_is_an_error():
    with pytest.raises(AssertionError, match='can only join a started process'):
        mpref.Process().join()


def test_join_self_is_an_error_in_main():
    with pytest.raises(AssertionError, match='cannot join itself'):
        mpref.current_process().join()


def test_join_self_is_an_error_in_child(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=record_join_self, args=(path,))
    p.start()
    assert _joined(p) == 0
    kind, message = _read(path)
    assert kind == 'AssertionError' and 'cannot join itself' in message


def test_daemon_set_after_start_is_an_error(ctx):
    p = ctx.Process(target=time.sleep, args=(0,))
    p.start()
    with pytest.raises(AssertionError, match='process has already started'):
        p.daemon = True
    _joined(p)


def test_daemonic_process_cannot_have_children(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=record_daemon_child_error, args=(path,), daemon=True)
    p.start()
    assert _joined(p) == 0
    assert _read(path) == ('AssertionError', 'daemonic processes are not allowed to have children')


def test_daemon_flag_is_inherited_and_settable(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=record_identity, args=(path,))
    assert p.daemon is False          # the main process is not daemonic
    p.daemon = True
    p.start()
    assert _joined(p) == 0
    assert _read(path)['daemon'] is True


def record_new_process_daemon(path):
    _record(path, mpref.Process(target=time.sleep, args=(0,)).daemon)


@pytest.mark.parametrize('daemonic', [True, False])
def test_new_process_inherits_the_daemon_flag_of_its_creator(ctx, tmp_path, daemonic):
    # A daemonic process may not *start* children, but the flag of a new,
    # unstarted Process object is its creator's ("inherited", spec 16.6.2.1).
    path = str(tmp_path / 'out')
    p = ctx.Process(target=record_new_process_daemon, args=(path,), daemon=daemonic)
    p.start()
    assert _joined(p) == 0
    assert _read(path) is daemonic


# --------------------------------------------------------------------------
# authkey
# --------------------------------------------------------------------------

def test_main_authkey_is_random_bytes():
    key = mpref.current_process().authkey
    assert isinstance(key, bytes) and len(key) == 32


def test_child_inherits_authkey(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=record_identity, args=(path,))
    assert p.authkey == mpref.current_process().authkey
    p.start()
    assert _joined(p) == 0
    assert _read(path)['authkey'] == bytes(mpref.current_process().authkey).hex()


def test_authkey_is_settable(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=record_identity, args=(path,))
    p.authkey = b'a new key'
    p.start()
    assert _joined(p) == 0
    assert _read(path)['authkey'] == b'a new key'.hex()


def test_authkey_must_be_bytes():
    with pytest.raises(TypeError, match='authkey must be bytes'):
        mpref.Process().authkey = 'a str key'


def test_authkey_refuses_to_be_pickled():
    with pytest.raises(TypeError, match='security'):
        pickle.dumps(mpref.current_process().authkey)


def test_process_object_refuses_to_be_pickled_outside_spawning():
    with pytest.raises(RuntimeError, match='inherit'):
        pickle.dumps(mpref.Process())


# --------------------------------------------------------------------------
# The child's bootstrap
# --------------------------------------------------------------------------

def test_child_stdin_is_devnull(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=record_stdin, args=(path,))
    p.start()
    assert _joined(p) == 0
    assert _read(path) == (os.devnull, '')


def test_child_flushes_std_streams_before_exit(start_method, tmp_path):
    # A script whose stdout and stderr are pipes, without PYTHONUNBUFFERED:
    # the child's partial line sits in its buffers until the bootstrap flushes
    # them (a forked child leaves with os._exit, which flushes nothing).
    result = _run_script(tmp_path, """
        import mpref
        from tests.test_process import write_partial_line
        if __name__ == '__main__':
            p = mpref.get_context(%r).Process(target=write_partial_line, args=('unflushed-text',))
            p.start(); p.join(30)
    """ % start_method, env=_env_without('PYTHONUNBUFFERED'))
    assert result.stdout == 'unflushed-text'
    assert result.stderr == 'unflushed-text'


def test_forked_child_does_not_rerun_parent_atexit(tmp_path):
    script = tmp_path / 'prog.py'
    script.write_text(textwrap.dedent('''
        import atexit, mpref
        atexit.register(print, 'atexit ran', flush=True)
        if __name__ == '__main__':
            p = mpref.Process(target=print, args=('child ran',))
            p.start(); p.join(30)
    '''))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60).stdout
    assert out.splitlines() == ['child ran', 'atexit ran']


# --------------------------------------------------------------------------
# Exit: daemons terminated, others joined; reaping
# --------------------------------------------------------------------------

def _dead_or_zombie(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ('Z', 'X')


def test_exiting_process_terminates_its_daemonic_children(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=start_daemon_sleeper_and_return, args=(path,))
    p.start()
    assert _joined(p) == 0
    sleeper_pid = _read(path)
    deadline = time.monotonic() + JOIN
    while not _dead_or_zombie(sleeper_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _dead_or_zombie(sleeper_pid)


def test_exiting_process_joins_its_non_daemonic_children(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=start_slow_writer_and_return, args=(path,))
    p.start()
    assert _joined(p) == 0
    # The child could only exit after joining the grandchild, which wrote this.
    assert _read(path) == 'written by the grandchild'


def test_active_children_lists_live_children_and_reaps_finished(ctx):
    sleeper = ctx.Process(target=time.sleep, args=(60,))
    quick = ctx.Process(target=time.sleep, args=(0,))
    sleeper.start()
    quick.start()
    os.waitid(os.P_PID, quick.pid, os.WEXITED | os.WNOWAIT)   # dead, not yet reaped
    assert _dead_or_zombie(quick.pid) and os.path.exists('/proc/%d' % quick.pid)
    assert mpref.active_children() == [sleeper]
    assert not os.path.exists('/proc/%d' % quick.pid)         # reaped: no zombie
    # A forked child starts with no children of its own, not a copy of ours
    # (its exit function would try to join the sleeper and fail).
    assert quick.exitcode == 0
    sleeper.terminate()
    _joined(sleeper)
    assert mpref.active_children() == []


def test_is_alive_reaps_a_finished_child(ctx):
    p = ctx.Process(target=time.sleep, args=(0,))
    p.start()
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
    assert os.path.exists('/proc/%d' % p.pid)                 # a zombie
    assert p.is_alive() is False
    assert not os.path.exists('/proc/%d' % p.pid)
    assert p not in mpref.active_children()


# --------------------------------------------------------------------------
# Miscellaneous functions
# --------------------------------------------------------------------------

def test_cpu_count():
    assert mpref.cpu_count() == os.cpu_count() == stdlib_mp.cpu_count()


def test_cpu_count_raises_when_unknown(monkeypatch):
    monkeypatch.setattr(os, 'cpu_count', lambda: None)
    with pytest.raises(NotImplementedError):
        mpref.cpu_count()


def test_freeze_support_is_a_no_op():
    assert mpref.freeze_support() is None


def record_executable(path):
    _record(path, sys.executable)


def test_set_executable_is_used_by_spawn(tmp_path):
    link = tmp_path / 'python-link'
    link.symlink_to(sys.executable)
    out = str(tmp_path / 'out')
    mpref.set_executable(link)
    try:
        p = mpref.get_context('spawn').Process(target=record_executable, args=(out,))
        p.start()
        assert _joined(p) == 0
    finally:
        mpref.set_executable(sys.executable)
    assert _read(out) == str(link)
    assert mpref.setExecutable is mpref.set_executable


def test_exceptions_hierarchy_and_locations():
    from mpref import exceptions
    for name in ('BufferTooShort', 'TimeoutError', 'AuthenticationError'):
        cls = getattr(exceptions, name)
        assert issubclass(cls, mpref.ProcessError)
        assert getattr(mpref, name) is cls
    assert mpref.TimeoutError is not TimeoutError     # the spec's own, not the builtin
    assert issubclass(mpref.ProcessError, Exception)
    err = mpref.BufferTooShort(b'the whole message')
    assert err.args[0] == b'the whole message'


# --------------------------------------------------------------------------
# Start methods
# --------------------------------------------------------------------------

def test_default_start_method_is_fork():
    assert mpref.get_start_method() == 'fork'
    assert mpref.get_context().get_start_method() == 'fork'
    assert mpref.get_context('spawn').Process is mp_process.SpawnProcess


def test_unknown_start_method_is_refused():
    with pytest.raises(ValueError, match='unknown start method'):
        mpref.set_start_method('forkserver')
    with pytest.raises(ValueError, match='unknown start method'):
        mpref.get_context('thread')


def record_start_method(path):
    _record(path, mpref.get_start_method())


def test_set_start_method_changes_how_children_start_and_is_inherited(tmp_path):
    # The child is spawned; its mpref is freshly imported (default 'fork'),
    # yet it must start its own children the way its parent was told to.
    path = str(tmp_path / 'out')
    mpref.set_start_method('spawn')
    try:
        p = mpref.Process(target=record_start_method, args=(path,))
        p.start()
        assert _joined(p) == 0
        assert p._popen.method == 'spawn'
    finally:
        mpref.set_start_method('fork')
    assert _read(path) == 'spawn'


def test_global_variables_fork_sees_parent_value_spawn_reimports(start_method, tmp_path, monkeypatch):
    # Spec 16.6.3.2 "Global variables": a spawned child re-imports the module.
    monkeypatch.setattr(sys.modules[__name__], 'MODULE_GLOBAL', 'changed by the parent')
    path = str(tmp_path / 'out')
    p = mpref.get_context(start_method).Process(target=record_module_global, args=(path,))
    p.start()
    assert _joined(p) == 0
    expected = 'changed by the parent' if start_method == 'fork' else 'as imported'
    assert _read(path) == expected


def test_spawn_refuses_a_lambda_target_with_an_explanation():
    p = mpref.get_context('spawn').Process(target=lambda: None)
    with pytest.raises(pickle.PicklingError) as info:
        p.start()
    message = str(info.value)
    assert "'spawn' start method" in message and 'picklable' in message and 'lambda' in message
    assert p.pid is None and mpref.active_children() == []


def test_fork_accepts_a_lambda_target():
    p = mpref.Process(target=lambda: sys.exit(5))
    p.start()
    assert _joined(p) == 5




def test_spawn_refuses_a_function_from_an_interactive_main():
    # `python -c` gives a __main__ without a file, as an interactive session does.
    code = textwrap.dedent("""
        import mpref, pickle
        def f():
            pass
        p = mpref.get_context('spawn').Process(target=f)
        try:
            p.start()
        except pickle.PicklingError as exc:
            print('refused:', exc)
    """)
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60)
    assert 'refused:' in result.stdout
    assert 'interactive __main__' in result.stdout
    assert result.returncode == 0


def test_spawn_imports_a_guarded_main_module_safely(tmp_path):
    result = _run_script(tmp_path, """
        import mpref
        print('imported as', __name__, flush=True)
        def greet(name):
            print('hello', name, flush=True)
        if __name__ == '__main__':
            p = mpref.get_context('spawn').Process(target=greet, args=('bob',))
            p.start(); p.join(30)
            print('exitcode', p.exitcode)
    """)
    assert result.stdout.splitlines() == [
        'imported as __main__', 'imported as __mp_main__', 'hello bob', 'exitcode 0']


def test_spawned_child_gets_the_parents_interpreter_options(tmp_path):
    # python -O: the parent's options reach a spawned interpreter, as they
    # are simply inherited by a forked one.
    script = tmp_path / 'prog.py'
    script.write_text(textwrap.dedent("""
        import sys
        import mpref
        def report(conn):
            conn.send((sys.flags.optimize, sys.flags.dev_mode))
        if __name__ == '__main__':
            for method in ('fork', 'spawn'):
                a, b = mpref.Pipe()
                p = mpref.get_context(method).Process(target=report, args=(b,))
                p.start()
                print(method, *a.recv() if a.poll(30) else ('no answer',))
                p.join(30)
    """))
    result = subprocess.run([sys.executable, '-O', '-X', 'dev', str(script)],
                            capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
                            env=_env_without())
    assert result.stdout.splitlines() == ['fork 1 True', 'spawn 1 True'], result.stderr


def test_spawn_refuses_to_start_while_importing_an_unguarded_main(tmp_path):
    result = _run_script(tmp_path, """
        import mpref
        def foo():
            print('hello')
        p = mpref.get_context('spawn').Process(target=foo)
        p.start()
        p.join(30)
        print('parent saw exitcode', p.exitcode, flush=True)
    """)
    assert 'parent saw exitcode 1' in result.stdout
    assert 'RuntimeError' in result.stderr
    assert "if __name__ == '__main__':" in result.stderr


def test_sentinel_becomes_readable_when_the_child_exits(ctx):
    from mpref import util
    p = ctx.Process(target=time.sleep, args=(0.2,))
    p.start()
    assert util.wait_readable(p.sentinel, JOIN)
    _joined(p)


def start_sleeper_and_hang(path):
    sleeper = mpref.Process(target=time.sleep, args=(60,))
    sleeper.start()
    _record(path, sleeper.pid)
    time.sleep(60)


def test_join_is_not_fooled_by_a_grandchild_outliving_the_child(ctx, tmp_path):
    # A grandchild inherits copies of its parent's descriptors.  If it kept the
    # child's sentinel open, join(timeout) would think the dead child alive.
    path = str(tmp_path / 'out')
    p = ctx.Process(target=start_sleeper_and_hang, args=(path,))
    p.start()
    deadline = time.monotonic() + JOIN
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)
    grandchild = _read(path)
    try:
        p.kill()                        # the child dies without joining its child
        p.join(JOIN)
        assert p.exitcode == -signal.SIGKILL
        assert not _dead_or_zombie(grandchild)
    finally:
        os.kill(grandchild, signal.SIGKILL)


GRANDCHILD_SLEEP = 10


def fork_grandchild_and_return(path):
    # A bare os.fork(), as a library might do: the grandchild inherits this
    # child's copy of the sentinel's write end and keeps it open for a while,
    # then leaves a mark (the test kills it before, if all goes well).
    pid = os.fork()
    if pid == 0:
        try:
            time.sleep(GRANDCHILD_SLEEP)
            _record(path + '.done', 'the grandchild finished')
        finally:
            os._exit(0)
    _record(path, pid)


def _kill_recorded_grandchild(path):
    if os.path.exists(path):
        try:
            os.kill(_read(path), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_join_returns_when_the_child_exits_despite_a_raw_forked_grandchild(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=fork_grandchild_and_return, args=(path,))
    p.start()
    try:
        p.join()                 # the sentinel stays open, but the child is gone
        assert p.exitcode == 0
        # join() did not wait for the grandchild (nor for the sentinel's EOF).
        assert not os.path.exists(path + '.done')
    finally:
        _kill_recorded_grandchild(path)


def test_wait_with_timeout_reports_a_dead_child_despite_a_raw_forked_grandchild(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=fork_grandchild_and_return, args=(path,))
    p.start()
    try:
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)   # the child is dead
        # The sentinel wait times out (the grandchild holds it); the child's
        # exit code must still be the answer, not None.
        assert p._popen.wait(0.1) == 0
        assert not os.path.exists(path + '.done')
    finally:
        p.join(JOIN)
        _kill_recorded_grandchild(path)


@pytest.mark.parametrize('exit_arg', [2**40, -2**40])
def test_an_exit_code_beyond_a_c_int_exits_1(start_method, tmp_path, exit_arg):
    # os._exit() cannot take it; a forked child must not escape into the
    # parent's code (the script would then print twice).
    result = _run_script(tmp_path, """
        import os, sys, mpref
        if __name__ == '__main__':
            parent = os.getpid()
            p = mpref.get_context(%r).Process(target=sys.exit, args=(%d,))
            try:
                p.start()
            finally:
                print('after start() in', 'the parent' if os.getpid() == parent else 'the child')
            p.join(30)
            print('exitcode', p.exitcode)
    """ % (start_method, exit_arg))
    assert result.stdout.splitlines() == ['after start() in the parent', 'exitcode 1']
    assert 'out of range' in result.stderr


def test_failed_spawn_raises_and_leaks_no_descriptors():
    def open_fds():
        return len(os.listdir('/proc/self/fd'))
    mpref.set_executable('/nonexistent/python')
    try:
        before = open_fds()
        for _ in range(3):
            p = mpref.get_context('spawn').Process(target=time.sleep, args=(0,))
            with pytest.raises(FileNotFoundError, match='/nonexistent/python'):
                p.start()
            assert p.pid is None and not p.is_alive()
        assert open_fds() == before
    finally:
        mpref.set_executable(sys.executable)
    assert mpref.active_children() == []


class ForgotInit(mpref.Process):
    def __init__(self, word):
        self.word = word             # no super().__init__()


def test_a_subclass_that_skips_process_init_gets_a_clear_error():
    p = ForgotInit('hello')
    for action in (p.start, p.join, p.is_alive, lambda: p.name, lambda: repr(p)):
        with pytest.raises(RuntimeError, match=r'Process.__init__\(\) was not called'):
            action()


def _run_script_without_pipes(tmp_path, source):
    """Run a script with its output in a file; return (returncode, output).

    Not pipes: a child that outlives the script would hold their write ends
    and make subprocess.run() wait for the child too.
    """
    script = tmp_path / 'prog.py'
    script.write_text(textwrap.dedent(source))
    with open(tmp_path / 'log', 'w') as log:
        result = subprocess.run([sys.executable, str(script)], stdout=log, stderr=log,
                                timeout=60, env=_env_without())
    return result.returncode, (tmp_path / 'log').read_text()


def test_daemonic_script_children_are_terminated_at_exit(start_method, tmp_path):
    # The main process's exit function (atexit) terminates daemonic children.
    code, output = _run_script_without_pipes(tmp_path, """
        import time, mpref
        if __name__ == '__main__':
            p = mpref.get_context(%r).Process(target=time.sleep, args=(60,), daemon=True)
            p.start()
            print(p.pid)
    """ % start_method)
    assert code == 0, output
    sleeper = int(output)
    try:
        assert _dead_or_zombie(sleeper)
    finally:
        if not _dead_or_zombie(sleeper):
            os.kill(sleeper, signal.SIGKILL)


def test_non_daemonic_script_children_are_joined_at_exit(start_method, tmp_path):
    # The main process's exit function (atexit) waits for the other children:
    # the script ends only after its child (which sleeps first) wrote the marker.
    marker = str(tmp_path / 'marker')
    code, output = _run_script_without_pipes(tmp_path, """
        import mpref
        from tests.test_process import slow_write
        if __name__ == '__main__':
            mpref.get_context(%r).Process(target=slow_write, args=(%r,)).start()
    """ % (start_method, marker))
    assert code == 0, output
    assert os.path.exists(marker)
    assert _read(marker) == 'written by the grandchild'


def test_star_import_provides_every_spec_name():
    namespace = {}
    exec('from mpref import *', namespace)
    spec_names = [
        'Process', 'current_process', 'active_children', 'cpu_count', 'freeze_support',
        'set_executable', 'setExecutable', 'Pipe', 'Connection', 'Queue', 'JoinableQueue',
        'Lock', 'RLock', 'Semaphore', 'BoundedSemaphore', 'Condition', 'Event',
        'Value', 'Array', 'RawValue', 'RawArray',
        'ProcessError', 'BufferTooShort', 'TimeoutError', 'AuthenticationError',
        'get_logger', 'log_to_stderr', 'SUBDEBUG', 'SUBWARNING']
    assert [name for name in spec_names if name not in namespace] == []
    # And every public, non-module name of mpref (Manager, Pool, ... once they exist).
    public = [name for name in dir(mpref) if not name.startswith('_')
              and not isinstance(getattr(mpref, name), type(mpref))]
    assert [name for name in public if name not in namespace] == []


# --------------------------------------------------------------------------
# A child ends as a Python program ends: it waits for its non-daemonic threads
# --------------------------------------------------------------------------

def start_thread_and_return(event, daemonic, delay):
    # The thread outlives run(); only a daemonic one may be cut short.
    threading.Thread(target=_set_after, args=(event, delay), daemon=daemonic).start()


def _set_after(event, delay):
    time.sleep(delay)
    event.set()


def _event_set_after_child_ends(module, start_method, daemonic, delay):
    """Run start_thread_and_return in a child; after join(), is the event set?"""
    context = module.get_context(start_method)
    event = context.Event()
    p = context.Process(target=start_thread_and_return, args=(event, daemonic, delay))
    p.start()
    assert _joined(p) == 0
    was_set = event.is_set()
    # The stdlib's semaphores under spawn are unlinked when collected (a
    # cycle), not at once: collect now, before the suite's leak check.
    del event, p
    gc.collect()
    return was_set


@pytest.mark.parametrize('module', [mpref, stdlib_mp], ids=['mpref', 'stdlib'])
def test_child_waits_for_its_non_daemonic_threads(start_method, module):
    assert _event_set_after_child_ends(module, start_method, daemonic=False, delay=0.5), \
        "the child exited before its non-daemonic thread's work was done"


@pytest.mark.parametrize('module', [mpref, stdlib_mp], ids=['mpref', 'stdlib'])
def test_child_does_not_wait_for_its_daemonic_threads(start_method, module):
    assert not _event_set_after_child_ends(module, start_method, daemonic=True, delay=60)


def interrupt_the_wait_for_threads(path):
    # Under some job runners SIGINT arrives blocked or ignored: undo that here.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sleeper = mpref.Process(target=time.sleep, args=(60,), daemon=True)
    sleeper.start()
    _record(path, sleeper.pid)
    threading.Thread(target=_interrupt_main_thread_once_it_waits_for_threads).start()


def _interrupt_main_thread_once_it_waits_for_threads():
    # Ctrl-C exactly while the main thread waits for this thread: no guessing.
    main = threading.main_thread().ident
    deadline = time.monotonic() + JOIN
    while time.monotonic() < deadline:
        frame, names = sys._current_frames().get(main), set()
        while frame is not None:
            names.add(frame.f_code.co_name)
            frame = frame.f_back
        if '_join_non_daemonic_threads' in names:
            os.kill(os.getpid(), signal.SIGINT)
            break
        time.sleep(0.01)
    time.sleep(1)


def test_ctrl_c_while_waiting_for_threads_still_runs_the_exit_function(ctx, tmp_path):
    # Python runs its exit handlers even when Ctrl-C cuts short its wait for
    # threads; a child's exit function must likewise terminate its daemons.
    path = str(tmp_path / 'out')
    p = ctx.Process(target=interrupt_the_wait_for_threads, args=(path,))
    p.start()
    assert _joined(p) == 1                      # KeyboardInterrupt: traceback, code 1
    sleeper = _read(path)
    try:
        deadline = time.monotonic() + JOIN
        while not _dead_or_zombie(sleeper) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _dead_or_zombie(sleeper), 'the daemonic child outlived its parent'
    finally:
        if not _dead_or_zombie(sleeper):
            os.kill(sleeper, signal.SIGKILL)


# --------------------------------------------------------------------------
# start() lets go of target, args and kwargs
# --------------------------------------------------------------------------

class CallableTarget:
    """A target that can be weakly referenced (and pickled, for spawn)."""

    def __call__(self, *args, **kwargs):
        pass


class Payload:
    pass


@pytest.mark.parametrize('module', [mpref, stdlib_mp], ids=['mpref', 'stdlib'])
def test_start_drops_references_to_target_args_and_kwargs(start_method, module):
    target, arg, kwarg = CallableTarget(), Payload(), Payload()
    refs = {name: weakref.ref(obj) for name, obj in
            (('target', target), ('arg', arg), ('kwarg', kwarg))}
    p = module.get_context(start_method).Process(target=target, args=(arg,),
                                                 kwargs={'k': kwarg})
    del target, arg, kwarg
    p.start()
    assert _joined(p) == 0
    gc.collect()
    assert [name for name, ref in refs.items() if ref() is not None] == []


def test_arguments_stay_alive_in_the_parent_while_the_child_runs(start_method):
    """Spec 16.6.3.1, "explicitly pass resources to child processes": an
    object passed as an argument is not garbage collected in the parent as
    long as the child is alive.  (CPython 3 drops them in ``start()``.)"""
    ctx = mpref.get_context(start_method)
    go = ctx.Event()
    arg = Payload()
    ref = weakref.ref(arg)
    p = ctx.Process(target=wait_then_ignore, args=(go, arg))
    del arg
    p.start()
    try:
        gc.collect()
        assert ref() is not None, 'the argument was collected while the child still runs'
    finally:
        go.set()
    assert _joined(p) == 0
    gc.collect()
    assert ref() is None, 'the argument outlived the ended child'


def wait_then_ignore(event, _payload):
    event.wait(60)


# --------------------------------------------------------------------------
# A forked child's threading module knows the child's own thread id
# --------------------------------------------------------------------------

def record_native_ids(path):
    _record(path, (threading.main_thread().native_id, threading.get_native_id(),
                   threading.current_thread() is threading.main_thread()))


# Python >= 3.12 warns about os.fork() in a process with several threads.
@pytest.mark.filterwarnings('ignore:This process .* is multi-threaded:DeprecationWarning')
@pytest.mark.parametrize('from_thread', [False, True], ids=['main thread', 'other thread'])
def test_child_main_thread_native_id_is_its_own(ctx, tmp_path, from_thread):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=record_native_ids, args=(path,))
    if from_thread:
        starter = threading.Thread(target=p.start)
        starter.start()
        starter.join(JOIN)
    else:
        p.start()
    assert _joined(p) == 0
    main_native_id, own_native_id, is_main = _read(path)
    assert main_native_id == own_native_id != threading.get_native_id()
    assert is_main


def test_stdlib_child_main_thread_native_id_is_its_own(start_method, tmp_path):
    # The reference agrees (its _bootstrap sets the native id too).
    path = str(tmp_path / 'out')
    p = stdlib_mp.get_context(start_method).Process(target=record_native_ids, args=(path,))
    p.start()
    assert _joined(p) == 0
    main_native_id, own_native_id, is_main = _read(path)
    assert main_native_id == own_native_id != threading.get_native_id()


# --------------------------------------------------------------------------
# A spawned child is itself while it imports its parent's main module
# --------------------------------------------------------------------------

IDENTITY_AT_IMPORT = """
    import sys
    import {module} as mp
    if __name__ != '__main__':
        # Module level, run while a spawned child imports this script.
        me = mp.current_process()
        with open(sys.argv[1], 'w') as f:
            f.write(repr((me.name, bytes(me.authkey))))
    def nothing():
        pass
    if __name__ == '__main__':
        p = mp.get_context('spawn').Process(target=nothing, name='the-child')
        p.authkey = b'the key of the child'
        p.start()
        p.join(30)
        print('exitcode', p.exitcode)
"""


def _run_identity_script(tmp_path, module):
    report = str(tmp_path / 'report')
    script = tmp_path / 'prog.py'
    script.write_text(textwrap.dedent(IDENTITY_AT_IMPORT.format(module=module)))
    result = subprocess.run([sys.executable, str(script), report], capture_output=True,
                            text=True, timeout=60, cwd=str(tmp_path), env=_env_without())
    assert result.stdout == 'exitcode 0\n', result.stderr
    return _read(report)


def test_spawned_child_is_itself_while_importing_the_main_module(tmp_path):
    assert _run_identity_script(tmp_path, 'mpref') == ('the-child', b'the key of the child')


def test_stdlib_spawned_child_has_its_name_while_importing_the_main_module(tmp_path):
    # The stdlib agrees on the name.  (Its preparation data carries the
    # *parent's* authkey, so a key set on the Process arrives only later.)
    name, _ = _run_identity_script(tmp_path, 'multiprocessing')
    assert name == 'the-child'


# --------------------------------------------------------------------------
# close() (beyond the spec, Python 3.7)
# --------------------------------------------------------------------------

def _open_fds():
    return len(os.listdir('/proc/self/fd'))


def test_close_releases_each_process_descriptor(ctx, start_method):
    # 30 under fork; fewer new interpreters under spawn, to keep the test short.
    count = 30 if start_method == 'fork' else 5
    before = _open_fds()
    processes = [ctx.Process(target=time.sleep, args=(0,)) for _ in range(count)]
    for p in processes:
        p.start()
    for p in processes:
        assert _joined(p) == 0
    assert _open_fds() == before + count       # one sentinel each, kept while we keep them
    for p in processes:
        p.close()
    assert _open_fds() == before


def test_stdlib_close_also_releases_its_descriptors(start_method):
    context = stdlib_mp.get_context(start_method)
    warm_up = context.Process(target=time.sleep, args=(0,))   # a resource tracker, once
    warm_up.start()
    warm_up.join(JOIN)
    before = _open_fds()
    processes = [context.Process(target=time.sleep, args=(0,)) for _ in range(5)]
    for p in processes:
        p.start()
        p.join(JOIN)
    assert _open_fds() > before
    for p in processes:
        p.close()
    assert _open_fds() == before


_USES_AFTER_CLOSE = {
    'start()': lambda p: p.start(), 'join()': lambda p: p.join(),
    'is_alive()': lambda p: p.is_alive(), 'terminate()': lambda p: p.terminate(),
    'kill()': lambda p: p.kill(), 'pid': lambda p: p.pid, 'ident': lambda p: p.ident,
    'exitcode': lambda p: p.exitcode, 'sentinel': lambda p: p.sentinel,
}


@pytest.mark.parametrize('module', [mpref, stdlib_mp], ids=['mpref', 'stdlib'])
def test_any_use_after_close_is_a_value_error(start_method, module):
    p = module.get_context(start_method).Process(target=time.sleep, args=(0,))
    p.start()
    p.join(JOIN)
    p.close()
    p.close()                                   # closing twice is harmless
    refused = []
    for label, use in _USES_AFTER_CLOSE.items():
        with pytest.raises(ValueError, match='process object is closed'):
            use(p)
        refused.append(label)
    assert refused == list(_USES_AFTER_CLOSE)
    assert p.name and p.daemon is False         # plain attributes stay readable
    assert 'closed' in repr(p)


def test_closed_process_repr():
    p = mpref.Process(target=time.sleep, args=(0,))
    p.start()
    p.join(JOIN)
    p.close()
    assert repr(p) == '<Process(%s, closed)>' % p.name


@pytest.mark.parametrize('module', [mpref, stdlib_mp], ids=['mpref', 'stdlib'])
def test_close_refuses_a_running_process(start_method, module):
    p = module.get_context(start_method).Process(target=time.sleep, args=(60,))
    p.start()
    try:
        with pytest.raises(ValueError, match='still running'):
            p.close()
        assert p.is_alive()
    finally:
        p.terminate()
        p.join(JOIN)
    p.close()


@pytest.mark.parametrize('module', [mpref, stdlib_mp], ids=['mpref', 'stdlib'])
def test_close_before_start_forbids_start(module):
    p = module.Process(target=time.sleep, args=(0,))
    p.close()
    with pytest.raises(ValueError, match='process object is closed'):
        p.start()


def test_close_forgets_a_finished_child(ctx):
    p = ctx.Process(target=time.sleep, args=(0,))
    p.start()
    pid = p.pid
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)       # dead, not yet reaped
    p.close()                                              # reaps it
    assert not os.path.exists('/proc/%d' % pid)
    assert mpref.active_children() == []


# --------------------------------------------------------------------------
# parent_process() (beyond the spec, Python 3.8)
# --------------------------------------------------------------------------

def record_parent(conn):
    parent = mpref.parent_process()
    parent.join(0.05)               # the parent lives: this times out
    conn.send((parent.name, parent.pid, parent.ident, parent.is_alive()))


def record_stdlib_parent(conn):
    parent = stdlib_mp.parent_process()
    parent.join(0.05)
    conn.send((parent.name, parent.pid, parent.ident, parent.is_alive()))


def test_parent_process_is_none_in_the_main_process():
    assert mpref.parent_process() is None
    assert stdlib_mp.parent_process() is None


@pytest.mark.parametrize('module, target', [(mpref, record_parent),
                                            (stdlib_mp, record_stdlib_parent)],
                         ids=['mpref', 'stdlib'])
def test_parent_process_in_a_child(start_method, module, target):
    reader, writer = module.Pipe(duplex=False)
    p = module.get_context(start_method).Process(target=target, args=(writer,))
    p.start()
    assert reader.poll(JOIN)
    assert reader.recv() == ('MainProcess', os.getpid(), os.getpid(), True)
    assert _joined(p) == 0


def record_grandchilds_parent(conn):
    grandchild = mpref.Process(target=record_parent, args=(conn,))
    grandchild.start()
    grandchild.join(JOIN)
    conn.send((mpref.current_process().name, os.getpid()))


def test_parent_process_of_a_grandchild_is_the_child(ctx):
    reader, writer = mpref.Pipe(duplex=False)
    p = ctx.Process(target=record_grandchilds_parent, args=(writer,))
    p.start()
    assert reader.poll(JOIN)
    name, pid, ident, alive = reader.recv()
    assert reader.poll(JOIN)
    assert (name, pid, ident, alive) == reader.recv() + (pid, True)
    assert name == p.name and pid == p.pid
    assert _joined(p) == 0


def wait_for_parent_to_die(path):
    parent = mpref.parent_process()
    _record(path + '.started', os.getpid())
    parent.join(JOIN)
    _record(path, (parent.is_alive(), repr(parent)))


def start_orphan_and_hang(path):
    mpref.Process(target=wait_for_parent_to_die, args=(path,)).start()
    time.sleep(60)


def _wait_for_file(path, timeout=JOIN):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)            # let the writer finish
    return os.path.exists(path)


def test_parent_process_join_returns_when_the_parent_dies(ctx, tmp_path):
    path = str(tmp_path / 'out')
    p = ctx.Process(target=start_orphan_and_hang, args=(path,))
    p.start()
    orphan = None
    try:
        assert _wait_for_file(path + '.started')
        orphan = _read(path + '.started')
        p.kill()
        p.join(JOIN)
        assert _wait_for_file(path), 'the orphan never saw its parent die'
        alive, text = _read(path)
        assert alive is False
        assert text == '<_ParentProcess(%s, stopped)>' % p.name
    finally:
        p.kill()
        p.join(JOIN)
        if orphan is not None and not _dead_or_zombie(orphan):
            os.kill(orphan, signal.SIGKILL)


# --------------------------------------------------------------------------
# join() takes any timeout (util.check_timeout)
# --------------------------------------------------------------------------

@pytest.mark.parametrize('timeout', [1e7, float('inf'), 2**64])
def test_join_accepts_huge_and_infinite_timeouts(ctx, timeout):
    p = ctx.Process(target=time.sleep, args=(0.1,))
    p.start()
    p.join(timeout)             # returns as soon as the child exits
    assert p.exitcode == 0


def test_join_with_a_negative_timeout_does_not_wait(ctx):
    p = ctx.Process(target=time.sleep, args=(60,))
    p.start()
    try:
        assert p.join(-1) is None
        assert p.exitcode is None and p.is_alive()
    finally:
        p.terminate()
        p.join(JOIN)


@pytest.mark.parametrize('timeout, error, message', [
    (float('nan'), ValueError, 'not NaN'), (True, TypeError, 'not bool'),
    ('1', TypeError, 'not str'), ([1], TypeError, 'not list')])
def test_join_refuses_a_timeout_that_is_not_a_number(ctx, timeout, error, message):
    p = ctx.Process(target=time.sleep, args=(0,))
    p.start()
    with pytest.raises(error, match=r'join\(\) timeout must be a number of seconds.*' + message):
        p.join(timeout)
    assert _joined(p) == 0


def test_join_inf_returns_when_the_child_exits_despite_a_raw_forked_grandchild(ctx, tmp_path):
    # inf means "no limit", exactly like None: a blocking waitpid, not a wait
    # for the sentinel (which the grandchild keeps open).
    path = str(tmp_path / 'out')
    p = ctx.Process(target=fork_grandchild_and_return, args=(path,))
    p.start()
    try:
        p.join(float('inf'))
        assert p.exitcode == 0
        assert not os.path.exists(path + '.done')
    finally:
        _kill_recorded_grandchild(path)
