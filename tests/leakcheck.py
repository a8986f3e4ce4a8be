"""What a test run may leave behind, and how to look for it.

Used by ``conftest.pytest_sessionfinish`` and by ``test_leakcheck.py``.
"""

import os
import tempfile


def snapshot():
    """The things that must not grow: /dev/shm entries and mpref temp dirs."""
    return {
        'shm': set(_listdir('/dev/shm')),
        'tmp': {name for name in _listdir(tempfile.gettempdir())
                if name.startswith(('mpref-', 'pymp-'))},
    }


def compare(before, after):
    """Describe each thing present ``after`` that was not there ``before``."""
    problems = []
    new_shm = sorted(after['shm'] - before['shm'])
    if new_shm:
        problems.append('left in /dev/shm: %s' % ', '.join(new_shm))
    new_tmp = sorted(after['tmp'] - before['tmp'])
    if new_tmp:
        problems.append('temp directories left in %s: %s'
                        % (tempfile.gettempdir(), ', '.join(new_tmp)))
    return problems


#: Helpers the *stdlib* multiprocessing (the yardstick in tests and
#: benchmarks) starts once and keeps until its parent exits: not mpref's.
STDLIB_HELPERS = ('multiprocessing.resource_tracker', 'multiprocessing.forkserver')


def live_children(pid):
    """Pids of the processes whose parent is ``pid`` (zombies included).

    Jupyter kernels started by nbval are children too, but nbval shuts
    them down itself; by the end of the session none should remain.  The
    stdlib's own helper processes are not counted (see ``STDLIB_HELPERS``).
    """
    children = []
    for entry in _listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces.
        fields = stat[stat.rfind(')') + 2:].split()
        if int(fields[1]) == pid and not _is_stdlib_helper(int(entry)):
            children.append(int(entry))
    return children


def _is_stdlib_helper(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            cmdline = f.read().decode(errors='replace')
    except OSError:
        return False
    return any(name in cmdline for name in STDLIB_HELPERS)


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def describe(pids):
    """'pid (state) command line' for each pid, for a readable leak report."""
    out = []
    for pid in pids:
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode(errors='replace').strip()
            with open('/proc/%d/stat' % pid) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except OSError:
            cmd, state = '?', 'gone'
        out.append('%d (%s) %s' % (pid, state, cmd[:120]))
    return '; '.join(out)
