"""The harness's pytest plugin (``-p tests.cpython.plugin``).

* Runs only ``selection.SELECTED`` (everything else ``suite.py`` builds is
  deselected), and reports a selected id this interpreter's test file lacks.
* Turns a ``KeyboardInterrupt`` that escapes a test into that test's failure:
  the runner starts pytest in a session of its own, so the only SIGINT that
  reaches it is one a test sent (``test_wait_result``'s child sends one to
  its parent); left alone, pytest would take it for Ctrl-C and end the run.
* Installs the stand-in (``stand_in.py``) at once, and opens the report with
  what it lent mpref.
* On ``SIGUSR2`` (the runner's watchdog) writes every thread's traceback to
  ``MPREF_CPYTHON_DUMP``, so a run that overstays its budget says where.
* Ends with one line: ``X of Y pass``, a test counting as passed only if its
  setup, call and teardown all passed; and, with ``MPREF_CPYTHON_RESULTS``
  set, writes each test's outcome and report to that file as JSON.
"""

import faulthandler
import json
import os
import signal

import pytest

from tests.cpython import stand_in
from tests.cpython.selection import SELECTED

_outcomes = {}          # test id -> 'passed' | 'failed' | 'error' | 'skipped'
_reports = {}           # test id -> the text of its failure reports
_missing = []
_dump_file = None


def test_id(item_or_report):
    """``WithProcessesTestQueue.test_get``: the class and test names, as in ``SELECTED``."""
    nodeid = item_or_report.nodeid
    return '.'.join(nodeid.split('::')[1:])


def pytest_configure(config):
    global _dump_file
    stand_in.install()
    path = os.environ.get('MPREF_CPYTHON_DUMP')
    if path:
        _dump_file = open(path, 'w')
        faulthandler.register(signal.SIGUSR2, file=_dump_file, all_threads=True)


def pytest_report_header(config):
    return stand_in.describe()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    wanted = set(SELECTED)
    keep, drop = [], []
    for item in items:
        (keep if test_id(item) in wanted else drop).append(item)
    found = {test_id(item) for item in keep}
    _missing.extend(t for t in SELECTED if t not in found)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    except KeyboardInterrupt as exc:
        raise AssertionError('KeyboardInterrupt (a SIGINT) escaped the test') from exc


def pytest_runtest_logreport(report):
    tid = test_id(report)
    before = _outcomes.get(tid)
    if report.failed:
        now = 'failed' if report.when == 'call' else 'error'
        _reports[tid] = _reports.get(tid, '') + '[%s]\n%s\n' % (report.when, report.longreprtext)
    elif report.skipped:
        now = 'skipped'
    else:
        now = 'passed'
    # The worst phase wins: error/failed > skipped > passed.
    rank = {None: -1, 'passed': 0, 'skipped': 1, 'failed': 2, 'error': 3}
    if rank[now] > rank[before]:
        _outcomes[tid] = now


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    counts = {kind: sum(1 for o in _outcomes.values() if o == kind)
              for kind in ('passed', 'failed', 'error', 'skipped')}
    ran = len(_outcomes)
    write = terminalreporter.write_line
    terminalreporter.section('CPython multiprocessing tests over mpref')
    for tid in _missing:
        write('NOT FOUND in this interpreter\'s test file: %s' % tid, yellow=True)
    start_method = os.environ.get('MPREF_CPYTHON_START_METHOD', 'fork')
    write('%d of %d pass (start method %s; %d failed, %d errors, %d skipped; %d of the %d '
          'selected ids not found)'
          % (counts['passed'], ran, start_method, counts['failed'], counts['error'],
             counts['skipped'], len(_missing), len(SELECTED)),
          bold=True, green=counts['passed'] == ran, red=counts['passed'] != ran)
    path = os.environ.get('MPREF_CPYTHON_RESULTS')
    if path:
        with open(path, 'w') as f:
            json.dump({'start_method': start_method, 'outcomes': _outcomes,
                       'reports': _reports, 'missing': _missing}, f, indent=1)
