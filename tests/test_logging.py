"""Logging (spec 16.6.2.12): ``get_logger``, ``log_to_stderr``, the extra levels,
and the lines the package writes -- in the main process, in forked and spawned
children, and in a manager's server.

A child writes its records to its own stderr, so these tests run real scripts
in a subprocess (``mpref.targets.logs.run``) and read what they wrote there.
Where the stdlib writes the same line, the same script is run on it too.
"""

import logging
import os
import re
import subprocess
import sys
import textwrap

import pytest

import mpref
from mpref import util
from mpref.targets import logs

#: What the spec's format makes of a record: ``[LEVEL/ProcessName] message``.
LINE = r'^\[(SUBDEBUG|DEBUG|INFO|SUBWARNING|WARNING|ERROR|CRITICAL)/[\w:-]+\] .*$'


def _run_script(tmp_path, source, *args):
    """Run ``source`` as a script; return (stdout, stderr lines)."""
    script = tmp_path / 'script.py'
    script.write_text(textwrap.dedent(source))
    env = dict(os.environ, PYTHON_COLORS='0')
    completed = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                               text=True, timeout=60, env=env, cwd=str(tmp_path))
    assert completed.returncode == 0, completed.stderr
    return completed.stdout, completed.stderr.splitlines()


def _in_order(lines, expected):
    """Assert that each of ``expected`` is a substring of some line, in this order."""
    position = 0
    for wanted in expected:
        for index in range(position, len(lines)):
            if wanted in lines[index]:
                position = index + 1
                break
        else:
            raise AssertionError('%r not found (in order) in:\n%s' % (wanted, '\n'.join(lines)))


# --------------------------------------------------------------------------
# The API
# --------------------------------------------------------------------------

def test_levels_match_the_spec_and_the_stdlib():
    import multiprocessing
    assert (mpref.SUBDEBUG, mpref.SUBWARNING) == (5, 25)
    assert (mpref.SUBDEBUG, mpref.SUBWARNING) == (multiprocessing.SUBDEBUG,
                                                  multiprocessing.SUBWARNING)
    mpref.get_logger()
    assert logging.getLevelName(5) == 'SUBDEBUG'
    assert logging.getLevelName(25) == 'SUBWARNING'


@pytest.mark.parametrize('package', ['mpref', 'multiprocessing'])
def test_a_new_logger_has_no_level_no_handler_and_does_not_propagate(tmp_path, package):
    out, _ = _run_script(tmp_path, '''
        import logging, %s as mp
        logger = mp.get_logger()
        print(logger.level == logging.NOTSET, logger.handlers, bool(logger.propagate),
              mp.get_logger() is logger)
        ''' % package)
    assert out.split() == ['True', '[]', 'False', 'True']


@pytest.mark.parametrize('package', ['mpref', 'multiprocessing'])
def test_log_to_stderr_uses_the_spec_format(tmp_path, package):
    out, err = _run_script(tmp_path, '''
        import logging, %s as mp
        logger = mp.log_to_stderr()
        print(logger is mp.get_logger())
        logger.warning('doomed')
        logger.info('not shown: the level is still NOTSET, which defers to WARNING')
        ''' % package)
    assert out.split() == ['True']
    assert err == ['[WARNING/MainProcess] doomed']


def test_log_to_stderr_level_argument_sets_the_level(tmp_path):
    _, err = _run_script(tmp_path, '''
        import mpref
        logger = mpref.log_to_stderr(mpref.SUBWARNING)
        print(logger.level)
        logger.log(mpref.SUBWARNING, 'sub %s', 'warning')
        logger.info('below the level')
        ''')
    assert err == ['[SUBWARNING/MainProcess] sub warning']


def test_finalizers_log_calling_and_finalizer_calling_at_subdebug():
    logger = mpref.get_logger()
    records = []
    handler = logging.Handler()
    # Format at once, as a real handler does: the finalizer's repr changes once it has run.
    handler.emit = lambda r: records.append((r.levelname, r.getMessage(), r.processName))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(mpref.SUBDEBUG)
    try:
        finalizer = util.Finalize(None, len, args=('abc',), exitpriority=1000)
        util.run_finalizers(1000)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert not finalizer.still_active()
    assert records == [
        ('SUBDEBUG', "calling <Finalize object, callback=len, args=('abc',), exitpriority=1000>",
         'MainProcess'),
        ('SUBDEBUG', "finalizer calling <built-in function len> with args ('abc',) and kwargs {}",
         'MainProcess'),
    ]


# --------------------------------------------------------------------------
# Children: the lines they write, and that a spawned child writes them at all
# --------------------------------------------------------------------------

def test_a_child_logs_its_life_with_its_own_name(start_method):
    lines = logs.run('child', start_method, 'INFO')
    assert lines == [
        '[INFO/Process-1] child process calling self.run()',
        '[INFO/Process-1] hello from the child',
        '[INFO/Process-1] process shutting down',
        '[INFO/Process-1] process exiting with exitcode 0',
        '[INFO/MainProcess] process shutting down',
    ]


def test_a_child_inherits_the_level_not_just_the_handler(start_method):
    # At DEBUG the exit function's finalizer steps show, in the child as in the parent.
    lines = logs.run('child', start_method, 'DEBUG')
    _in_order(lines, [
        '[INFO/Process-1] hello from the child',
        '[DEBUG/Process-1] running all "atexit" finalizers with priority >= 0',
        '[DEBUG/Process-1] running the remaining "atexit" finalizers',
        '[INFO/Process-1] process exiting with exitcode 0',
        '[DEBUG/MainProcess] running the remaining "atexit" finalizers',
    ])


@pytest.mark.parametrize('package', ['mpref', 'multiprocessing'])
def test_child_lines_match_the_stdlib(tmp_path, start_method, package):
    # The same script on both packages: the child's lines, its exit code included.
    _, err = _run_script(tmp_path, '''
        import sys, logging, %s as mp
        def work():
            mp.get_logger().info('working')
            sys.exit(3)
        if __name__ == '__main__':
            mp.log_to_stderr(logging.INFO)
            p = mp.get_context(sys.argv[1]).Process(target=work)
            p.start()
            p.join()
            print(p.exitcode, file=sys.stderr)
        ''' % package, start_method)
    # The stdlib names a context's process ForkProcess-1 or SpawnProcess-1.
    err = [re.sub(r'/(Fork|Spawn)Process-', '/Process-', line) for line in err]
    expected = [
        '[INFO/Process-1] child process calling self.run()',
        '[INFO/Process-1] working',
        '[INFO/Process-1] process shutting down',
        '[INFO/Process-1] process exiting with exitcode 3',
    ]
    mine = [line for line in err if 'Process-1' in line]
    # The stdlib's order of the last two lines depends on its version (3.13
    # says "exiting" first when run() raised SystemExit); mpref keeps this order.
    assert sorted(mine) == sorted(expected)
    if package == 'mpref':
        assert mine == expected
    assert '3' in err


def test_without_log_to_stderr_a_spawned_child_writes_nothing(tmp_path):
    # Only the level was set: no handler in the parent, none in the child.
    _, err = _run_script(tmp_path, '''
        import logging, mpref
        from mpref.targets.logs import say
        if __name__ == '__main__':
            mpref.get_logger().setLevel(logging.INFO)
            p = mpref.get_context('spawn').Process(target=say, args=('unheard',))
            p.start()
            p.join()
        ''')
    assert err == []


def test_every_line_has_the_spec_format(start_method):
    lines = logs.run('mixed', start_method, 3, 4)
    assert lines and all(re.match(LINE, line) for line in lines), lines
    for n in (1, 2, 3):
        mine = [line for line in lines if '/Process-%d]' % n in line]
        assert ['record %d of 4' % k in mine[k] for k in range(1, 5)] == [True] * 4


def test_a_queue_handler_leaves_the_writing_to_one_process(start_method):
    lines = logs.run('queue', start_method, 3, 4)
    # Only the records travelled, each still stamped with its child's name.
    assert sorted(lines) == sorted('[INFO/Process-%d] record %d of 4' % (n, k)
                                   for n in (1, 2, 3) for k in (1, 2, 3, 4))
    for n in (1, 2, 3):
        mine = [line for line in lines if '/Process-%d]' % n in line]
        assert mine == ['[INFO/Process-%d] record %d of 4' % (n, k) for k in (1, 2, 3, 4)]


def test_log_to_stderr_twice_writes_each_line_once(tmp_path):
    # A second call must not add a second handler: under fork the child would
    # copy both and write every line twice, under spawn once -- two answers.
    _, lines = _run_script(tmp_path, """
        import logging, mpref
        def work(tag):
            mpref.get_logger().info('hello from %s', tag)
        if __name__ == '__main__':
            assert mpref.log_to_stderr(logging.INFO) is mpref.log_to_stderr()
            assert mpref.get_logger().level == logging.INFO
            for method in ('fork', 'spawn'):
                child = mpref.get_context(method).Process(target=work, args=(method,))
                child.start()
                child.join()
            mpref.get_logger().info('parent line')
    """)
    for wanted in ('hello from fork', 'hello from spawn', '[INFO/MainProcess] parent line'):
        assert sum(wanted in line for line in lines) == 1, lines
    assert len(set(lines)) == len(lines), lines


# --------------------------------------------------------------------------
# The spec's two sessions
# --------------------------------------------------------------------------

def test_the_spec_session_at_info(start_method):
    lines = logs.run('session', 'INFO', start_method)
    # Each line once: a spawned server does not add a second stderr handler.
    assert len(set(lines)) == len(lines), lines
    _in_order(lines, [
        '[WARNING/MainProcess] doomed',
        '[INFO/SyncManager-1] child process calling self.run()',
        '[INFO/SyncManager-1] created temp directory /',
        "[INFO/SyncManager-1] manager serving at '/",
        '[INFO/MainProcess] sending shutdown message to manager',
        '[INFO/SyncManager-1] manager exiting with exitcode 0',
    ])
    assert not any(line.startswith(('[DEBUG', '[SUBDEBUG')) for line in lines)


def test_the_spec_session_at_subdebug():
    lines = logs.run('session', 'SUBDEBUG')
    _in_order(lines, [
        '[WARNING/MainProcess] doomed',
        '[INFO/SyncManager-1] child process calling self.run()',
        '[INFO/SyncManager-1] created temp directory /',
        "[INFO/SyncManager-1] manager serving at '/",
        '[SUBDEBUG/MainProcess] finalizer calling ',
        '[INFO/MainProcess] sending shutdown message to manager',
        '[DEBUG/SyncManager-1] manager received shutdown message',
        '[DEBUG/SyncManager-1] running all "atexit" finalizers with priority >= 0',
        '[SUBDEBUG/SyncManager-1] calling <Finalize object, callback=rmtree',
        '[SUBDEBUG/SyncManager-1] finalizer calling <function rmtree at 0x',
        '[INFO/SyncManager-1] process exiting with exitcode 0',
    ])
    assert all(line.startswith('[') for line in lines), lines


def test_tidy_hides_what_varies_and_cuts_long_lines():
    line = "[INFO/SyncManager-1] manager serving at '/tmp/mpref-12-ab/listener-cd'"
    assert logs.tidy(line) == "[INFO/SyncManager-1] manager serving at '/TMP/...'"
    assert logs.tidy('<function f at 0x7f00aa>') == '<function f at 0x...>'
    cut = logs.tidy('word ' * 40)
    assert cut.endswith(' ...') and len(cut) <= 104


def test_internal_steps_at_debug_and_subdebug(start_method):
    lines = logs.run('child', start_method, 'SUBDEBUG')
    expected = ['[SUBDEBUG/MainProcess] starting Process-1 with the %s start method' % start_method]
    if start_method == 'spawn':
        # The spawned child says which main module it imports before running anything.
        expected.append("[DEBUG/Process-1] importing the parent's main module "
                        'mpref.targets.logs as __mp_main__')
    _in_order(lines, expected + ['[INFO/Process-1] child process calling self.run()'])


def test_a_failing_finalizer_is_a_subwarning(capsys):
    logger = mpref.get_logger()
    records = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append((r.levelname, r.getMessage()))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(mpref.SUBWARNING)
    try:
        util.Finalize(None, int, args=('x',), exitpriority=1001)
        util.run_finalizers(1001)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert records == [('SUBWARNING', "finalizer <Finalize object, callback=int, args=('x',), "
                        "exitpriority=1001> raised ValueError(\"invalid literal for int() "
                        "with base 10: 'x'\")")]
    assert 'ValueError' in capsys.readouterr().err      # and the traceback, as before


# -- the spec's warning made to happen: records written in pieces (chapter 9) ----------

def test_records_written_in_pieces_get_mixed_without_a_shared_lock():
    # The race is made wide on purpose (8-byte pieces, a pause after each):
    # three runs without a single mixed line would mean it no longer shows.
    runs = [logs.run('piecemeal', 'fork', 3, 10, 'unlocked') for _ in range(3)]
    mixed = [any(not logs.RECORD_LINE.match(line) for line in lines) for lines in runs]
    assert any(mixed)


@pytest.mark.parametrize('start_method', ['fork', 'spawn'])
def test_a_shared_lock_keeps_records_written_in_pieces_whole(start_method):
    lines = logs.run('piecemeal', start_method, 3, 10, 'locked')
    assert len(lines) == 30
    assert all(logs.RECORD_LINE.match(line) for line in lines), lines
    for n in (1, 2, 3):
        mine = [line for line in lines if line.startswith('[INFO/Process-%d]' % n)]
        assert [line.split(':')[0] for line in mine] == ['[INFO/Process-%d] record %d of 10' % (n, k)
                                                          for k in range(1, 11)]


# --------------------------------------------------------------------------
# A stderr that cannot be written to
# --------------------------------------------------------------------------

def test_a_closed_stderr_loses_the_records_and_nothing_else(tmp_path):
    # log_to_stderr() and then stderr closed: each record mpref writes fails.
    # logging reports that on stderr, which raises too -- out of whatever was
    # logging.  Before, each of these failed: a new lock left its semaphore
    # in /dev/shm (its name was logged before it was registered), close()
    # never told the feeder to stop, the pool's result thread stopped (and
    # the pool with it) on logging a dead worker, and a child lost its exit
    # code and its finalizers.
    out, _ = _run_script(tmp_path, """
        import logging, os, sys
        import mpref
        from mpref import util
        from mpref.targets import pool as targets

        def leave_with_3(path):
            util.Finalize(None, open, (path, 'w'), exitpriority=1)
            sys.exit(3)

        if __name__ == '__main__':
            mpref.log_to_stderr(util.SUBDEBUG)
            sys.stderr.close()
            lock = mpref.Lock()
            print('lock', lock._name)
            q = mpref.Queue()
            q.put('x')
            print('queue', q.get(timeout=20))
            q.close()
            q.join_thread()
            with mpref.Pool(1) as pool:
                result = pool.apply_async(targets.exit_with, (7,))
                try:
                    result.get(20)
                except mpref.pool.WorkerLostError:
                    print('worker lost')
                print('pool', pool.apply(targets.mul, (4, 4)))
            p = mpref.Process(target=leave_with_3, args=('finalized',))
            p.start()
            p.join(20)
            print('child', p.exitcode, os.path.exists('finalized'))
    """)
    lines = out.splitlines()
    assert lines[1:] == ['queue x', 'worker lost', 'pool 16', 'child 3 True'], out
    name = lines[0].split()[1]
    assert not os.path.exists('/dev/shm/sem.' + name.lstrip('/'))
