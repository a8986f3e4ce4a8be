"""Small module-level functions used as process targets by the chapters.

A spawned child imports its target by module and name, so the chapters keep
their targets here, in an importable module, rather than in a notebook cell
(whose ``__main__`` a new interpreter cannot import).
"""

import os
import sys
import threading
import time

#: A module-level variable for the chapter's "global variables" lesson
#: (spec 16.6.3.2): the parent changes it with ``set_counter``; a forked
#: child sees the change, a spawned child re-imports this module and sees 0.
COUNTER = 0


def greet(name):
    """The spec's first example: print a greeting, flushed at once."""
    print('hello', name, flush=True)


def exit_with(code):
    """Leave through ``sys.exit(code)``."""
    sys.exit(code)


def fail(message):
    """Raise an uncaught exception (exit code 1, traceback on stderr)."""
    raise ValueError(message)


def nothing():
    """Do nothing at all: the cost of starting a process is all that remains."""


# --------------------------------------------------------------------------
# Children that report back through a file
#
# A chapter cannot rely on a child's prints reaching its cell (a spawned
# child writes straight to file descriptor 1), so these targets write what
# they saw, as ``repr(value)``, to ``path``; the parent reads it back with
# ``read_report(path)`` and prints.  A file works under both start methods.
# --------------------------------------------------------------------------

def save_report(path, value):
    """Write ``repr(value)`` to ``path`` (a literal, read back by ``read_report``)."""
    with open(path, 'w') as f:
        f.write(repr(value))


def read_report(path):
    """Read back what ``save_report`` wrote."""
    import ast
    with open(path) as f:
        return ast.literal_eval(f.read())


def set_counter(value):
    """Change ``COUNTER`` in the calling process (the parent, in the chapter)."""
    global COUNTER
    COUNTER = value


def report_counter(path):
    """Report the value of ``COUNTER`` as this process sees it."""
    save_report(path, COUNTER)


def report_self(path):
    """Report what a child knows about itself.

    Its ``current_process()`` name, pid, parent pid, daemon flag and authkey,
    what its ``sys.stdin`` now is, and under which name its ``__main__``
    module runs.
    """
    from mpref import current_process
    me = current_process()
    main = sys.modules.get('__main__')
    save_report(path, {
        'name': me.name,
        'pid': os.getpid(),
        'ppid': os.getppid(),
        'daemon': me.daemon,
        'authkey': bytes(me.authkey),
        'stdin': getattr(sys.stdin, 'name', None),
        'stdin_read': sys.stdin.read() if sys.stdin else None,
        'main_name': getattr(main, '__name__', None),
    })


def start_grandchild(path):
    """Start a child of this child; report both generations' names."""
    from mpref import Process, current_process
    grandchild = Process(target=nothing)
    grandchild.start()
    grandchild.join(30)
    save_report(path, {'child': current_process().name, 'grandchild': grandchild.name,
                       'grandchild exitcode': grandchild.exitcode})


def try_to_start_child(path):
    """Try to start a child; report the exception (a daemon may not have children)."""
    from mpref import Process
    try:
        child = Process(target=nothing)
        child.start()
        child.join(30)
    except Exception as exc:
        save_report(path, (type(exc).__name__, str(exc)))
    else:
        save_report(path, None)


def save_result(path, func, *args):
    """Call ``func(*args)`` and report the result: a one-task "pool"."""
    save_report(path, func(*args))


def start_worker_thread(path, daemonic, delay):
    """Start a thread that reports 'the thread finished' after ``delay`` s; return at once.

    A non-daemonic thread holds the child until it is done; a daemonic one
    dies with the child.
    """
    def work():
        time.sleep(delay)
        save_report(path, 'the thread finished')

    threading.Thread(target=work, daemon=daemonic).start()


def report_parent(path):
    """Report what ``parent_process()`` tells a child about its parent."""
    from mpref import parent_process
    parent = parent_process()
    save_report(path, {'name': parent.name, 'pid': parent.pid, 'alive': parent.is_alive(),
                       'repr': repr(parent)})


# --------------------------------------------------------------------------
# Fork in a multi-threaded process
#
# ``fork()`` copies the whole memory of the parent, every lock included, but
# only the thread that called it.  A lock that another thread of the parent
# held at that moment is locked in the child for ever: its owner does not
# exist there.  ``LIBRARY_LOCK`` stands for any lock a library keeps at module
# level (logging's, an I/O buffer's, an allocator's).
# --------------------------------------------------------------------------

#: A module-level lock, as a library would have one.
LIBRARY_LOCK = threading.Lock()


def hold_library_lock(taken, release):
    """In a thread of the parent: take ``LIBRARY_LOCK``, set ``taken``, keep it until ``release`` is set."""
    with LIBRARY_LOCK:
        taken.set()
        release.wait(60)


def use_library_lock(path):
    """In the child: take ``LIBRARY_LOCK``, as library code would, then report."""
    with LIBRARY_LOCK:
        save_report(path, 'took the lock')
