"""What a test run may leave behind, and how to look for it.

Used by ``conftest.pytest_sessionfinish`` and by ``test_leakcheck.py``.

Another test suite may run on the same machine at the same time, making and
removing its own semaphores and temp directories.  mpref puts the creating
pid in those names (``/dev/shm/sem.mpref-<pid>-<hex>``, ``mpref-<pid>-...``
temp dirs), so an entry that a *live, unrelated* process made is not
counted against this run (see ``made_by_this_run``).  Entries with no pid in
their name are counted if they stay (see ``lasting``).  The suite also gives
itself a temp dir of its own (``conftest.pytest_configure``), so other runs'
temp directories do not appear in it at all.
"""

import os
import re
import tempfile
import time


def snapshot():
    """The things that must not grow: /dev/shm entries and mpref temp dirs."""
    return {
        'shm': set(_listdir('/dev/shm')),
        'tmp': {name for name in _listdir(tempfile.gettempdir())
                if name.startswith(('mpref-', 'pymp-'))},
    }


def compare(before, after, session_pid=None):
    """Describe each thing present ``after`` that was not there ``before``.

    With ``session_pid``, leave out entries that process tree did not make.
    """
    return _describe(_new_entries(before, after, session_pid))


def lasting(before, session_pid, seconds, interval=0.5):
    """Describe, as ``compare`` does, the new entries that stay for ``seconds``.

    On a shared machine /dev/shm and the temp dir also hold other runs'
    entries, and some carry no pid to tell whose they are (the stdlib's
    ``pymp-`` directories, for one).  Those vanish as their owners finish,
    while a real leftover of this run stays: an entry counts only if it is
    there every time we look.
    """
    new = _new_entries(before, snapshot(), session_pid)
    deadline = time.monotonic() + seconds
    while any(new.values()) and time.monotonic() < deadline:
        time.sleep(interval)
        now = _new_entries(before, snapshot(), session_pid)
        new = {kind: new[kind] & now[kind] for kind in new}
    return _describe(new)


def _new_entries(before, after, session_pid):
    new = {kind: after[kind] - before[kind] for kind in after}
    if session_pid is not None:
        new = {kind: {name for name in names if made_by_this_run(name, session_pid)}
               for kind, names in new.items()}
    return new


def _describe(new):
    problems = []
    if new['shm']:
        problems.append('left in /dev/shm: %s' % ', '.join(sorted(new['shm'])))
    if new['tmp']:
        problems.append('temp directories left in %s: %s'
                        % (tempfile.gettempdir(), ', '.join(sorted(new['tmp']))))
    return problems


#: ``sem.mpref-<pid>-...`` (a semaphore) or ``mpref-<pid>-...`` (a temp dir).
_PID_IN_NAME = re.compile(r'^(?:sem\.)?mpref-(\d+)-')


def made_by_this_run(name, session_pid):
    """Could the process tree of ``session_pid`` have made entry ``name``?

    Yes if the name carries no pid, or the pid is ``session_pid`` or one of
    its descendants, or the pid is dead (we cannot tell whose it was, so we
    count it).  No if it belongs to a live process outside this tree.
    """
    match = _PID_IN_NAME.match(name)
    if match is None:
        return True
    pid = int(match.group(1))
    return session_pid in ancestry(pid) or not _is_alive(pid)


def ancestry(pid):
    """``pid``, its parent, grandparent... up to pid 1 (fewer if one exits)."""
    chain = []
    while pid > 0 and pid not in chain:
        chain.append(pid)
        stat = _read_stat(pid)
        if stat is None:
            break
        pid = int(stat[1])          # the ppid field
    return chain


def _is_alive(pid):
    stat = _read_stat(pid)
    return stat is not None and stat[0] not in ('Z', 'X')


def _read_stat(pid):
    """The fields of /proc/<pid>/stat after the command name, or None."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces.
    return stat[stat.rfind(')') + 2:].split()


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
        fields = _read_stat(int(entry))
        if fields is None:
            continue
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
