"""Referents and process targets for ``notebooks/06_managers_and_proxies.ipynb``.

A manager's server process creates its shared objects by calling the callable
registered for a typeid; under the spawn start method that callable reaches
the server pickled by name, so it must live in an importable module -- here.
The same goes for the functions that child processes run.  Children report
through a Connection or a queue; the notebook's parent prints.

Nothing here depends on which implementation (mpref or the stdlib) made the
proxies a child receives: the tests run these same functions against both.
"""

import operator
import os
import queue


# --------------------------------------------------------------------------
# Referents: what registered callables create on the server (16.6.2.7.2)
# --------------------------------------------------------------------------

class MathsClass:
    """The spec's customized-manager example: two public methods."""

    def add(self, x, y):
        return x + y

    def mul(self, x, y):
        return x * y


class Foo:
    """The spec's custom-manager program: two public methods and a private one.

    Each method prints in the *server* process (and flushes, so that a script
    whose whole output is captured shows the lines in call order).
    """

    def f(self):
        print('you called Foo.f()', flush=True)

    def g(self):
        print('you called Foo.g()', flush=True)

    def _h(self):
        print('you called Foo._h()', flush=True)


def baz():
    """A simple generator: the squares of 0..9, served through a proxy."""
    for i in range(10):
        yield i * i


def get_operator_module():
    """Return the ``operator`` module: a referent that is a module."""
    return operator


class ReferentError(Exception):
    """Raised by ``Counter.fail``; the caller must get this very type back."""


class Counter:
    """A small referent with state, used to test ``register()``'s arguments."""

    def __init__(self, start=0):
        self.value = start

    def increment(self, by=1):
        self.value += by
        return self.value

    def get(self):
        return self.value

    def spawn_counter(self, start):
        """Return a *new* Counter: with ``method_to_typeid`` the caller gets a proxy."""
        return Counter(start)

    def fail(self, message):
        raise ReferentError(message)

    def unpicklable(self):
        """Return something pickle refuses (a generator): the reply cannot be sent."""
        return (i for i in range(3))

    def _private(self):
        return 'private'


_QUEUES = {}
_DICTS = {}


def shared_queue(name='default'):
    """The server process's one ``queue.Queue`` called ``name`` (made on first use).

    A registered callable for a queue that every client shares: each call
    returns the same object, as the spec's ``lambda: queue`` does, but by name
    so that a spawned server can import it.
    """
    return _QUEUES.setdefault(name, queue.Queue())


def shared_dict(name='default'):
    """The server process's one ``dict`` called ``name`` (made on first use)."""
    return _DICTS.setdefault(name, {})


# --------------------------------------------------------------------------
# Targets: what child processes run
# --------------------------------------------------------------------------

def fill(d, lst):
    """The introduction's child (16.6.1.4): write into a dict proxy, reverse a list proxy."""
    d[1] = '1'
    d['2'] = 2
    d[0.25] = None
    lst.reverse()


def report_pid(conn):
    conn.send(os.getpid())
    conn.close()


def append_items(lst, items, lock):
    """Append ``items`` to the list proxy ``lst``, one at a time, under a manager lock."""
    for item in items:
        with lock:
            lst.append(item)


def report_str(conn, proxy):
    """Send back ``str(proxy)`` -- the referent's representation, seen from a child."""
    conn.send(str(proxy))
    conn.close()


def get_and_report(q, conn, timeout):
    """Take one item from the queue proxy ``q`` and send it back."""
    conn.send(q.get(timeout=timeout))
    conn.close()


def put_item(q, item):
    q.put(item)


def hold_proxy(proxy, conn):
    """Keep ``proxy`` alive until the parent says 'go', then report its referent."""
    conn.send('holding')
    assert conn.recv() == 'go'
    conn.send(proxy._getvalue())
    conn.close()


def block_in_call(event, conn):
    """Say 'calling', then block in a remote ``wait()`` on an Event nobody sets."""
    conn.send('calling')
    conn.close()
    event.wait()


def wait_for_event(event, conn, timeout):
    """Wait on a manager Event and report whether it was set in time."""
    conn.send(event.wait(timeout))
    conn.close()


def notify_after_setting(cond, ns):
    """Set ``ns.ready`` under the condition's lock and notify the waiter."""
    with cond:
        ns.ready = True
        cond.notify_all()


def set_namespace(ns):
    """Write two attributes of a Namespace proxy, and one of the proxy itself."""
    ns.x = 10
    ns.y = 'hello'
    ns._z = 12.3
