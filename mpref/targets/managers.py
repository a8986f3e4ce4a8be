"""Referents and process targets for ``notebooks/06_managers_and_proxies.ipynb``.

A manager's server process creates its shared objects by calling the callable
registered for a typeid; under the spawn start method that callable reaches
the server pickled by name, so it must live in an importable module -- here.
The same goes for the functions that child processes run.  Children report
through a Connection or a queue; the notebook's parent prints.

The referents and the child functions do not depend on which implementation
(mpref or the stdlib) made the proxies a child receives: the tests run them
against both.  The spec's custom-manager program (16.6.4) and its referents
(``Foo``, ``baz``, ``get_operator_module``) live in ``mpref/examples/managers.py``;
the introduction's child that fills a dict and a list proxy (``fill``) and
``put_item`` are the spec's task functions, in ``mpref/targets/tasks.py``.
"""

import os
import queue
import threading

import mpref
from mpref.connection import Client
from mpref.managers import BaseManager, dispatch


# --------------------------------------------------------------------------
# Referents: what registered callables create on the server (16.6.2.7.2)
# --------------------------------------------------------------------------

class MathsClass:
    """The spec's customized-manager example: two public methods."""

    def add(self, x, y):
        return x + y

    def mul(self, x, y):
        return x * y


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

def append_items(lst, items, lock):
    """Append ``items`` to the list proxy ``lst``, one at a time, under a manager lock."""
    for item in items:
        with lock:
            lst.append(item)


def report_str(conn, proxy):
    """Send back ``str(proxy)`` -- the referent's representation, seen from a child."""
    conn.send(str(proxy))
    conn.close()


def hold_proxy(conn):
    """Receive a proxy, keep it until the parent says 'go', then report its referent."""
    proxy = conn.recv()
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


# --------------------------------------------------------------------------
# The chapter's servers and creators
# --------------------------------------------------------------------------

class Probe:
    """A referent that says where its methods run: which process, which thread."""

    def where(self):
        return os.getpid(), threading.current_thread().name


class QueueManager(BaseManager):
    """The spec's remote ``QueueManager`` (16.6.2.7.3), server side."""


def serve_queue_manager(conn, authkey, local_hello=False):
    """Serve one shared queue on 127.0.0.1 until a 'shutdown' request comes.

    Sends ``Server.address`` (the OS picks the port) through ``conn`` first.
    With ``local_hello`` the queue is an ``mpref.Queue`` that a local
    ``Worker`` process fills -- the last example of 16.6.2.7.3.
    """
    if local_hello:
        shared = mpref.Queue()
        worker = Worker(shared)
        worker.start()
        worker.join(30)
    else:
        shared = queue.Queue()
    QueueManager.register('get_queue', callable=lambda: shared)
    server = QueueManager(address=('127.0.0.1', 0), authkey=authkey).get_server()
    conn.send(server.address)
    conn.close()
    server.serve_forever()


class Worker(mpref.Process):
    """The spec's local ``Worker``: puts one greeting on the queue it is given."""

    def __init__(self, q):
        self.q = q
        super().__init__()

    def run(self):
        self.q.put('local hello')


def connect_queue_manager(address, authkey):
    """The spec's client: a QueueManager whose ``get_queue`` has no callable."""
    class ClientQueueManager(BaseManager):
        pass
    ClientQueueManager.register('get_queue')
    manager = ClientQueueManager(address=address, authkey=authkey)
    manager.connect()
    return manager


def second_client(address, authkey, conn):
    """The spec's second client, in its own process: report ``queue.get()``."""
    manager = connect_queue_manager(address, authkey)
    conn.send(manager.get_queue().get(timeout=30))
    conn.close()


def stop_server(address, authkey):
    """Send the 'shutdown' request a ``serve_forever()`` server obeys."""
    with Client(address, authkey=authkey) as conn:
        dispatch(conn, None, 'shutdown')


def start_manager_and_wait(conn, manager_class):
    """A creator: start a ``manager_class`` manager, report its address, wait.

    The class arrives pickled by name, so the same function serves mpref's
    managers and the stdlib's.  The parent finds the server (this process's
    only child) and kills this process with SIGKILL, to show what becomes
    of the server.
    """
    manager = manager_class()
    manager.start()
    conn.send(manager.address)
    conn.recv()
