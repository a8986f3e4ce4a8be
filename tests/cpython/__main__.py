"""``python -m tests.cpython``: run CPython's multiprocessing tests over mpref.

From the repository root::

    .venv/bin/python -m tests.cpython                      # fork (mpref's default)
    .venv/bin/python -m tests.cpython --start-method spawn
    .venv/bin/python -m tests.cpython -- -k TestCondition  # pytest options after --

What it does, and why it is a separate process around pytest:

* pytest runs ``suite.py`` in a child process of its own session (so a
  terminal Ctrl-C reaches only this runner, and a SIGINT that a test sends
  is the only one pytest sees), with ``pytest.ini`` of this folder, the
  plugin, ``-v`` (a PASSED/FAILED line per test) and pytest-timeout's
  *signal* method: a test that overstays ``--timeout`` fails with the
  traceback of where it hung.  (The thread method arms faulthandler, and a
  forked child that exits through interpreter shutdown then hangs.)
* A watchdog bounds the whole run (``--overall-timeout``): past it, pytest is
  asked for every thread's traceback (SIGUSR2), printed, then killed.
* Nothing is left behind.  This runner makes itself the *subreaper* of what
  it starts (Linux), so a child that outlives its parent -- a pool worker, a
  manager's server -- is reparented here, not to init: when pytest has
  ended, every process still alive under the runner is reported and killed.
  The tests' temp dir (``TMPDIR``) is a fresh directory that is removed at
  the end (anything left in it is reported first), and POSIX semaphores or
  shared memory that this run made and left in /dev/shm are reported and
  removed.  A leftover makes the run fail, as a failed test does.
"""

import argparse
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from tests import leakcheck

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

PR_SET_CHILD_SUBREAPER = 36


def main(argv=None):
    args = _parse(argv)
    run_dir = tempfile.mkdtemp(prefix='harness-cpython-')
    tests_tmp = os.path.join(run_dir, 'tmp')
    os.mkdir(tests_tmp)
    dump_path = os.path.join(run_dir, 'hang-tracebacks.txt')
    env = dict(os.environ,
               MPREF_CPYTHON_START_METHOD=args.start_method,
               MPREF_CPYTHON_DUMP=dump_path,
               TMPDIR=tests_tmp)
    if args.results:
        env['MPREF_CPYTHON_RESULTS'] = os.path.abspath(args.results)
    command = [sys.executable, '-m', 'tests.cpython.run_pytest', '-c', os.path.join(HERE, 'pytest.ini'),
               '--rootdir', ROOT, '--noconftest', '-p', 'tests.cpython.plugin',
               '-v', '--timeout', str(args.timeout), *args.pytest_args,
               os.path.join(HERE, 'suite.py')]

    _become_subreaper()
    before = leakcheck.snapshot()
    started = time.monotonic()
    print('$ ' + ' '.join(command), flush=True)
    pytest = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        status = _wait(pytest, args.overall_timeout, dump_path)
    except KeyboardInterrupt:
        print('\nInterrupted: stopping pytest', flush=True)
        _stop(pytest)
        status = 130
    elapsed = time.monotonic() - started

    problems = _leftover_processes(pytest.pid)
    problems += _leftover_files(before, tests_tmp)
    shutil.rmtree(run_dir, ignore_errors=True)
    for line in problems:
        print('LEFT BEHIND: ' + line, flush=True)
    print('harness: pytest exit status %s, %.0f s, %s' % (
        status, elapsed, 'nothing left behind' if not problems else
        '%d kind(s) of leftovers' % len(problems)), flush=True)
    if not isinstance(status, int):
        return 1                        # killed by the watchdog
    return status if not problems else (status or 1)


def _parse(argv):
    parser = argparse.ArgumentParser(prog='python -m tests.cpython', description=(
        "Run the selected tests of this interpreter's Lib/test/_test_multiprocessing.py "
        "with mpref standing in for multiprocessing."))
    parser.add_argument('--start-method', choices=['fork', 'spawn'], default='fork')
    parser.add_argument('--timeout', type=float, default=60,
                        help='seconds a test may take (default 60)')
    parser.add_argument('--overall-timeout', type=float, default=1200,
                        help='seconds the whole run may take (default 1200)')
    parser.add_argument('--results', metavar='FILE',
                        help="write each test's outcome and failure report to FILE (JSON)")
    parser.add_argument('pytest_args', nargs='*', help='given to pytest (after --)')
    return parser.parse_args(argv)


def _become_subreaper():
    if not sys.platform.startswith('linux'):
        return                          # elsewhere, orphans go to init: fewer checks
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print('harness: could not become a subreaper (errno %d): orphaned children '
              'will not be found' % ctypes.get_errno(), flush=True)


def _wait(pytest, overall_timeout, dump_path):
    try:
        return pytest.wait(overall_timeout)
    except subprocess.TimeoutExpired:
        pass
    print('\nharness: the run passed its overall timeout (%.0f s): tracebacks of '
          'every thread of pytest follow, then it is killed' % overall_timeout, flush=True)
    try:
        os.kill(pytest.pid, signal.SIGUSR2)
        time.sleep(2)
        with open(dump_path) as f:
            print(f.read(), flush=True)
    except OSError as exc:
        print('harness: no tracebacks (%s)' % exc, flush=True)
    _stop(pytest)
    return 'killed'


def _stop(pytest):
    try:
        os.killpg(pytest.pid, signal.SIGTERM)
        pytest.wait(10)
    except (OSError, subprocess.TimeoutExpired):
        try:
            os.killpg(pytest.pid, signal.SIGKILL)
        except OSError:
            pass
        pytest.wait()


def _leftover_processes(pytest_pid, settle=5.0):
    """Processes still alive under this runner once pytest has ended: report, kill, reap."""
    deadline = time.monotonic() + settle
    found = {}
    while True:
        _reap_exited()
        alive = [pid for pid in leakcheck.live_children(os.getpid()) if _alive(pid)]
        if not alive:
            break
        if time.monotonic() < deadline:
            time.sleep(0.2)             # a child on its way out gets a moment
            continue
        for pid in alive:
            found.setdefault(pid, leakcheck.describe([pid]))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)                 # their own children come to us next
    _reap_exited()
    if not found:
        return []
    return ['%d process(es) outlived pytest (killed): %s'
            % (len(found), '; '.join(found.values()))]


def _alive(pid):
    fields = leakcheck._read_stat(pid)
    return fields is not None and fields[0] not in ('Z', 'X')


def _reap_exited():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _leftover_files(before, tests_tmp, settle=5.0):
    """What the run left in its temp dir and in /dev/shm: report; remove what is ours."""
    problems = []
    left = sorted(os.listdir(tests_tmp))
    if left:
        problems.append("left in the tests' temp dir: %s" % ', '.join(left))
    # Other runs on this machine make and remove /dev/shm entries too: count an
    # entry only if it stays for ``settle`` seconds and no live process outside
    # this run made it (``leakcheck.made_by_this_run``).  The outer temp dir is
    # not looked at: this run's tests had their own (TMPDIR).
    new = _new_shm(before)
    deadline = time.monotonic() + settle
    while new and time.monotonic() < deadline:
        time.sleep(0.5)
        new &= _new_shm(before)
    if new:
        problems.append('left in /dev/shm: %s' % ', '.join(sorted(new)))
    for name in new:
        if name.startswith(('sem.mpref-', 'mpref-')):   # mpref's own names: ours to remove
            try:
                os.unlink(os.path.join('/dev/shm', name))
            except OSError:
                pass
    return problems


def _new_shm(before):
    return {name for name in leakcheck.snapshot()['shm'] - before['shm']
            if leakcheck.made_by_this_run(name, os.getpid())}


if __name__ == '__main__':
    sys.exit(main())
