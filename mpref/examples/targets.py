"""Small module-level functions used as process targets by the chapters.

A spawned child imports its target by module and name, so the chapters keep
their targets here, in an importable module, rather than in a notebook cell
(whose ``__main__`` a new interpreter cannot import).
"""

import os
import sys
import time


def greet(name):
    """The spec's first example: print a greeting, flushed at once."""
    print('hello', name, flush=True)


def sleep(seconds):
    time.sleep(seconds)


def exit_with(code):
    """Leave through ``sys.exit(code)``."""
    sys.exit(code)


def fail(message):
    """Raise an uncaught exception (exit code 1, traceback on stderr)."""
    raise ValueError(message)


def report_info(conn_or_queue, title):
    """Send (title, module name, parent pid, pid) back to the parent."""
    conn_or_queue.send((title, __name__, os.getppid(), os.getpid()))


def nothing():
    """Do nothing at all: the cost of starting a process is all that remains."""
