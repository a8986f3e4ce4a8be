"""Process targets (and the ``Point`` structure) for ``notebooks/05_shared_ctypes.ipynb``.

A spawned child finds its target, and the types of its arguments, by module
and name; a notebook's own cells live in an interactive ``__main__`` that a
new interpreter cannot import, so they live here.  The spec's first
shared-memory example (``negate``) is in ``mpref/targets/tasks.py``.
"""

import ctypes
from ctypes import Structure, c_double


class Point(Structure):
    """The spec's structure: two doubles."""
    _fields_ = [('x', c_double), ('y', c_double)]


def modify(n, x, s, A):
    """The spec's ``Point`` example: square numbers, upper-case a string."""
    n.value **= 2
    x.value **= 2
    s.value = s.value.upper()
    for a in A:
        a.x **= 2
        a.y **= 2


def add_one(counter, times, use_lock):
    """``counter.value += 1``, ``times`` times; around each, the lock if ``use_lock``."""
    for _ in range(times):
        if use_lock:
            with counter.get_lock():
                counter.value += 1
        else:
            counter.value += 1


def slow_increment(counter, read_done, go, use_lock):
    """One ``+= 1`` taken apart: read, tell the parent, wait for it, write.

    With ``use_lock`` the read and the write happen under ``counter``'s lock.
    """
    def increment():
        seen = counter.value
        read_done.set()
        go.wait(30)
        counter.value = seen + 1
    if use_lock:
        with counter.get_lock():
            increment()
    else:
        increment()


def report_addresses(shared, address, result, go, follow_address):
    """Record where ``shared`` lives in this process, and maybe what ``address`` leads to.

    ``address`` is a shared ``c_uint64`` holding the parent's address of a
    private ``c_int`` (mpref refuses real pointer types in shared memory, but
    an address stored as a number it cannot tell apart from any number).
    ``result`` is a shared array of two ``c_longlong``: the address of
    ``shared`` in this process, then the ``c_int`` found at ``address``.
    Follow the address only in a *forked* child, whose address space is a
    copy of the parent's, so it still leads somewhere; in a spawned child it
    means nothing and following it could crash the interpreter.
    """
    go.wait(30)
    result[0] = ctypes.addressof(shared)
    if follow_address:
        result[1] = ctypes.c_int.from_address(address.value).value
