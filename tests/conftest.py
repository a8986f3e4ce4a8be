"""Shared fixtures and the after-suite leak check (``docs/rules.md``, "Tests").

* ``start_method`` -- parametrises a test over ``fork`` and ``spawn``.
* ``broken_stderr`` -- ``sys.stderr`` cannot be written to during the test
  (a closed or broken stream): a background thread's report must not kill it.
* ``no_leftover_children`` (autouse) -- after each test, no child of the test
  process may still be running: stragglers are killed and the test fails.
* ``pytest_sessionfinish`` -- after the whole suite (tests *and* notebooks), no
  POSIX semaphore or shared memory left in /dev/shm, no mpref (or stdlib
  ``pymp-``) temp directory left in the temp dir, no child process left,
  no test-host network namespace left (chapter 14):
  otherwise the run fails.  Entries that another, concurrent process tree
  made do not count (``leakcheck.made_by_this_run``), nor do entries that
  vanish within a few seconds (``leakcheck.lasting``).
* ``pytest_configure`` -- each run gets its own fresh directory (removed at the
  end) holding its ``--basetemp`` and its temp dir (``TMPDIR``, inherited by
  every child and notebook kernel), so two suites running at once never delete
  each other's ``tmp_path`` directories or see each other's temp files.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import mpref
from lab import netns, ray_cluster
from tests import leakcheck


@pytest.fixture(params=['fork', 'spawn'])
def start_method(request):
    """The name of a start method; tests using it run once for each."""
    return request.param


@pytest.fixture
def ctx(start_method):
    """An mpref context for ``start_method``."""
    return mpref.get_context(start_method)


class RaisingStream:
    """A stream whose every write and flush raises ``error`` (by default, as
    a closed file's)."""

    def __init__(self, error=None):
        self.error = error or ValueError('I/O operation on closed file.')

    def write(self, text):
        raise self.error

    def flush(self):
        raise self.error


@pytest.fixture
def broken_stderr(monkeypatch):
    """``sys.stderr`` is a stream that cannot be written to, for the whole test."""
    monkeypatch.setattr('sys.stderr', RaisingStream())


@pytest.fixture(autouse=True)
def no_leftover_children():
    yield
    stragglers = mpref.active_children()
    for p in stragglers:
        p.kill()
        p.join(5)
    assert not stragglers, 'test left child processes running: %r' % stragglers


_before = {}
_run_dirs = []

#: How long a leftover must stay to count (see ``leakcheck.lasting``).
SETTLE_SECONDS = 5


@pytest.hookimpl(tryfirst=True)       # before pytest's tmpdir plugin reads the option
def pytest_configure(config):
    run_dir = tempfile.mkdtemp(prefix='pytest-mpref-run-')
    _run_dirs.append(run_dir)
    if config.option.basetemp is None:
        config.option.basetemp = os.path.join(run_dir, 'basetemp')
    # This run's own temp dir, inherited by its children and kernels: the leak
    # check sees what this run made, not what other runs are using.
    os.environ['TMPDIR'] = os.path.join(run_dir, 'tmp')
    os.mkdir(os.environ['TMPDIR'])
    tempfile.tempdir = None             # forget the temp dir computed before


def pytest_unconfigure(config):
    for path in _run_dirs:
        shutil.rmtree(path, ignore_errors=True)


def pytest_sessionstart(session):
    netns.sweep_orphans()               # left by an earlier run that was killed
    ray_cluster.sweep_orphan_ray_dirs()     # the same, for chapter 14's Ray clusters
    _before.update(leakcheck.snapshot())
    _before['netns'] = set(netns.namespaces())


def pytest_sessionfinish(session, exitstatus):
    # Give children that are exiting a moment, then look for what is left.
    deadline = time.monotonic() + 5
    while leakcheck.live_children(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.05)
    problems = leakcheck.lasting(_before, os.getpid(), SETTLE_SECONDS)
    problems += _leftover_namespaces()
    children = leakcheck.live_children(os.getpid())
    if children:
        problems.append('child processes still running: %s' % leakcheck.describe(children))
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if problems:
        reporter = session.config.pluginmanager.get_plugin('terminalreporter')
        for line in problems:
            reporter.write_line('LEAK: ' + line, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _leftover_namespaces():
    """Network namespaces of the chapter 14 test hosts that this run made and left.

    Their names carry their maker's pid (``lab/netns.py``); each
    one found is reported and deleted.
    """
    left = [name for name, pid in netns.namespaces().items()
            if name not in _before['netns']
            and leakcheck.made_by_this_run('mpref-%d-' % pid, os.getpid())]
    for name in left:
        subprocess.run(['ip', 'netns', 'delete', name], capture_output=True)
    return ['network namespaces left: %s' % ', '.join(sorted(left))] if left else []
