"""Shared fixtures and the after-suite leak check (``docs/rules.md``, "Tests").

* ``start_method`` -- parametrises a test over ``fork`` and ``spawn``.
* ``no_leftover_children`` (autouse) -- after each test, no child of the test
  process may still be running: stragglers are killed and the test fails.
* ``pytest_sessionfinish`` -- after the whole suite (tests *and* notebooks), no
  POSIX semaphore or shared memory left in /dev/shm, no mpref temp directory
  left in the temp dir, no child process left: otherwise the run fails.
  Entries that another, concurrent process tree made do not count
  (``leakcheck.made_by_this_run``).
* ``pytest_configure`` -- each run gets its own fresh ``--basetemp`` (removed
  at the end), so two suites running at once never delete each other's
  ``tmp_path`` directories.
"""

import os
import shutil
import signal
import tempfile
import time

import pytest

import mpref
from tests import leakcheck


@pytest.fixture(params=['fork', 'spawn'])
def start_method(request):
    """The name of a start method; tests using it run once for each."""
    return request.param


@pytest.fixture
def ctx(start_method):
    """An mpref context for ``start_method``."""
    return mpref.get_context(start_method)


@pytest.fixture(autouse=True)
def no_leftover_children():
    yield
    stragglers = mpref.active_children()
    for p in stragglers:
        p.kill()
        p.join(5)
    assert not stragglers, 'test left child processes running: %r' % stragglers


_before = {}
_own_basetemp = []


@pytest.hookimpl(tryfirst=True)       # before pytest's tmpdir plugin reads the option
def pytest_configure(config):
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix='pytest-mpref-run-')
        _own_basetemp.append(config.option.basetemp)


def pytest_unconfigure(config):
    for path in _own_basetemp:
        shutil.rmtree(path, ignore_errors=True)


def pytest_sessionstart(session):
    _before.update(leakcheck.snapshot())


def pytest_sessionfinish(session, exitstatus):
    # Give children that are exiting a moment, then look for what is left.
    deadline = time.monotonic() + 5
    while leakcheck.live_children(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.05)
    problems = leakcheck.compare(_before, leakcheck.snapshot(), session_pid=os.getpid())
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
