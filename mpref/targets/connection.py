"""Process targets for ``notebooks/02_pipes_and_connections.ipynb``.

They live in an importable module because a spawned child imports its target
by name, and a notebook's ``__main__`` cannot be imported by a new interpreter.
Every child reports through a Connection; the notebook's parent prints.  The
spec's pipe example (``send_list``) is in ``mpref/targets/tasks.py``.
"""

import os
import time


def describe_end(conn, reply):
    """Tell the parent how the child sees ``conn``: its number and directions."""
    reply.send({'fd': conn.fileno(), 'readable': conn.readable, 'writable': conn.writable,
                'pid differs': os.getpid() != os.getppid()})
    reply.close()
    conn.close()


def send_after(conn, delay, obj):
    """Sleep ``delay`` seconds, then send ``obj`` (for poll and wait demos)."""
    time.sleep(delay)
    conn.send(obj)
    conn.close()


def send_numbered(conn, tag, count, size):
    """Send ``count`` messages of ``size`` bytes, each filled with ``tag``."""
    for _ in range(count):
        conn.send_bytes(tag * size)
    conn.close()


def send_numbered_locked(conn, lock, tag, count, size):
    """``send_numbered``, with ``lock`` held around each message: one writer on the end at a time."""
    for _ in range(count):
        with lock:
            conn.send_bytes(tag * size)
    conn.close()
