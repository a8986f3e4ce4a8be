"""Asking the process table: is a pid alive, and which processes mention a text (Linux's ``/proc``).

Lab equipment (``lab/``): ``ray_cluster`` finds what is left of a Ray cluster
with it, and chapter 14 (``notebooks/14_beyond_one_machine.ipynb``) and
``tests/test_ray.py`` check that nothing is left.
"""

import os


def processes_mentioning(text):
    """``{pid: command line}`` of the live processes whose command line
    contains ``text``, and of all their descendants.

    Ray's raylet and GCS server carry the cluster's temp dir on their
    command lines; its workers (children of the raylet) rename themselves
    (``ray::PoolActor``) and are found as descendants.
    """
    table = {}                              # pid: (parent pid, command line)
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                command = f.read().replace(b'\0', b' ').decode(errors='replace').strip()
            with open('/proc/%s/stat' % entry) as f:
                state, parent = f.read().rsplit(')', 1)[1].split()[:2]
        except OSError:
            continue
        if state not in ('Z', 'X'):
            table[int(entry)] = (int(parent), command)
    found = {pid for pid, (_, command) in table.items() if text in command}
    grew = True
    while grew:
        children = {pid for pid, (parent, _) in table.items() if parent in found} - found
        found |= children
        grew = bool(children)
    return {pid: table[pid][1][:100] for pid in sorted(found)}


def is_alive(pid):
    """Whether process ``pid`` exists (one of another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
