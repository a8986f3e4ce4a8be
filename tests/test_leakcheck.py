"""The leak checker itself must be able to fail (GUIDE section 4)."""

import os
import subprocess
import sys
import tempfile

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
    assert os.path.basename(child_dir).startswith('mpref-')
    assert not os.path.exists(child_dir)
