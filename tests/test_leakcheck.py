"""The leak checker itself must be able to fail (``docs/rules.md``, "Tests")."""

import os
import subprocess
import sys
import tempfile
import threading

import pytest

import mpref
from tests import leakcheck


def test_compare_reports_new_shm_and_temp_entries():
    before = {'shm': {'old'}, 'tmp': set()}
    after = {'shm': {'old', 'sem.mpref-1'}, 'tmp': {'mpref-abc'}}
    problems = leakcheck.compare(before, after)
    assert any('sem.mpref-1' in p for p in problems)
    assert any('mpref-abc' in p for p in problems)
    assert leakcheck.compare(after, after) == []


def test_snapshot_sees_a_new_mpref_temp_dir():
    before = leakcheck.snapshot()
    path = tempfile.mkdtemp(prefix='mpref-')
    try:
        assert leakcheck.compare(before, leakcheck.snapshot())
    finally:
        os.rmdir(path)
    assert leakcheck.compare(before, leakcheck.snapshot()) == []


def test_live_children_sees_a_running_child_and_not_after_reaping():
    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])
    try:
        assert child.pid in leakcheck.live_children(os.getpid())
    finally:
        child.kill()
        child.wait(30)
    assert child.pid not in leakcheck.live_children(os.getpid())


def report_temp_dir(path):
    from mpref import util
    with open(path, 'w') as f:
        f.write(util.get_temp_dir())


def test_a_childs_private_temp_dir_is_removed_when_it_exits(tmp_path):
    out = tmp_path / 'out'
    p = mpref.Process(target=report_temp_dir, args=(str(out),))
    p.start()
    p.join(30)
    assert p.exitcode == 0
    child_dir = out.read_text()
    assert os.path.basename(child_dir).startswith('mpref-%d-' % p.pid)   # whose it is
    assert not os.path.exists(child_dir)


# --------------------------------------------------------------------------
# Only what this run made counts (another suite may run at the same time)
# --------------------------------------------------------------------------

def _sem(pid):
    return 'sem.mpref-%d-0123abcd' % pid


def _reported(name):
    problems = leakcheck.compare({'shm': set(), 'tmp': set()},
                                 {'shm': {name}, 'tmp': set()}, session_pid=os.getpid())
    return any(name in p for p in problems)


def test_entries_of_this_process_count():
    assert _reported(_sem(os.getpid()))
    assert leakcheck.made_by_this_run('mpref-%d-x1y2' % os.getpid(), os.getpid())   # a temp dir


def test_entries_of_live_unrelated_processes_do_not_count():
    # pid 1 and our own parent are alive and are not our descendants.
    assert not _reported(_sem(1))
    assert not _reported(_sem(os.getppid()))
    # Without a session pid, compare() counts everything, as before.
    assert leakcheck.compare({'shm': set(), 'tmp': set()}, {'shm': {_sem(1)}, 'tmp': set()})


def test_entries_of_descendants_count_even_grandchildren():
    child = subprocess.Popen(
        [sys.executable, '-c', 'import subprocess, sys; '
         'g = subprocess.Popen(["sleep", "30"]); print(g.pid, flush=True); g.wait()'],
        stdout=subprocess.PIPE, text=True)
    try:
        grandchild = int(child.stdout.readline())
        assert leakcheck.ancestry(grandchild)[:3] == [grandchild, child.pid, os.getpid()]
        assert _reported(_sem(child.pid))
        assert _reported(_sem(grandchild))
    finally:
        child.kill()
        child.wait(30)
        child.stdout.close()
        try:
            os.kill(grandchild, 9)
        except (ProcessLookupError, UnboundLocalError):
            pass


def test_entries_of_dead_processes_count():
    done = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                          capture_output=True, text=True, timeout=60)
    assert _reported(_sem(int(done.stdout)))


def test_entries_without_a_pid_always_count():
    for name in ('psm_5f3e2a', 'sem.mp-abc123', 'mpref-listener-abc', 'something-else'):
        assert _reported(name)


def test_snapshot_ignores_a_real_entry_of_an_unrelated_process():
    before = leakcheck.snapshot()
    path = '/dev/shm/' + _sem(1)
    open(path, 'w').close()
    try:
        assert path[len('/dev/shm/'):] in leakcheck.snapshot()['shm']
        assert leakcheck.compare(before, leakcheck.snapshot(), session_pid=os.getpid()) == []
        assert leakcheck.compare(before, leakcheck.snapshot())         # counted without the pid
    finally:
        os.unlink(path)


def test_tmp_path_is_under_this_runs_own_basetemp(request, tmp_path):
    from tests import conftest
    if any(arg.startswith('--basetemp') for arg in request.config.invocation_params.args):
        pytest.skip('--basetemp was given on the command line')
    run_dir, = conftest._run_dirs
    assert request.config.option.basetemp == os.path.join(run_dir, 'basetemp')
    assert str(tmp_path).startswith(request.config.option.basetemp + os.sep)


def test_this_run_has_a_temp_dir_of_its_own_that_children_inherit():
    from tests import conftest
    run_dir, = conftest._run_dirs
    assert tempfile.gettempdir() == os.path.join(run_dir, 'tmp')
    seen = subprocess.run([sys.executable, '-c', 'import tempfile; print(tempfile.gettempdir())'],
                          capture_output=True, text=True, timeout=60)
    assert seen.stdout.strip() == tempfile.gettempdir()


# --------------------------------------------------------------------------
# Only what stays counts (another run's entry vanishes as its owner finishes)
# --------------------------------------------------------------------------

def test_lasting_leaves_out_an_entry_that_vanishes():
    before = leakcheck.snapshot()
    path = tempfile.mkdtemp(prefix='pymp-')           # no pid in the name
    remover = threading.Timer(0.3, os.rmdir, args=(path,))
    remover.start()
    try:
        assert leakcheck.lasting(before, os.getpid(), seconds=10, interval=0.1) == []
    finally:
        remover.join(30)


def test_lasting_reports_an_entry_that_stays():
    before = leakcheck.snapshot()
    path = tempfile.mkdtemp(prefix='pymp-')
    try:
        problems = leakcheck.lasting(before, os.getpid(), seconds=0.5, interval=0.1)
    finally:
        os.rmdir(path)
    assert len(problems) == 1 and os.path.basename(path) in problems[0], problems
