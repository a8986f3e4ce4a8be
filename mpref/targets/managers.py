"""Referents and process targets for ``notebooks/06_managers_and_proxies.ipynb``.

A manager's server process creates its shared objects by calling the callable
registered for a typeid; under the spawn start method that callable reaches
the server pickled by name, so it must live in an importable module -- here.
The same goes for the functions that child processes run.  Children report
through a Connection or a queue; the notebook's parent prints.

The referents and the child functions do not depend on which implementation
(mpref or the stdlib) made the proxies a child receives: the tests run them
against both.  Run as a script (``python -m mpref.targets.managers``) this
module is the spec's custom-manager program of 16.6.4, re-created.
"""

import operator
import os
import queue
import threading

import mpref
from mpref.connection import Client
from mpref.managers import BaseManager, BaseProxy, SyncManager, dispatch


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


class PidManager(SyncManager):
    """A SyncManager that can say its server's pid (``getpid``)."""


PidManager.register('getpid', os.getpid)


def start_manager_and_wait(conn):
    """A creator: start a manager, report its server's pid and address, wait.

    The parent kills this process (SIGKILL) to show what happens to the server.
    """
    manager = PidManager()
    manager.start()
    conn.send((manager.getpid()._getvalue(), manager.address))
    conn.recv()


# --------------------------------------------------------------------------
# The spec's custom-manager program (16.6.4), in Python 3
# --------------------------------------------------------------------------

class GeneratorProxy(BaseProxy):
    """A proxy for a generator: iterating it calls ``__next__`` in the server."""

    _exposed_ = ('__next__',)

    def __iter__(self):
        return self

    def __next__(self):
        return self._callmethod('__next__')


class MyManager(BaseManager):
    """The program's manager: four registrations, four kinds of proxy."""


MyManager.register('Foo1', Foo)                            # public methods: f, g
MyManager.register('Foo2', Foo, exposed=('g', '_h'))       # an explicit list
MyManager.register('baz', baz, proxytype=GeneratorProxy)   # a hand-written proxy
MyManager.register('operator', get_operator_module)        # a module as referent


def custom_manager_program():
    """The spec's ``test()``.  Python 3 has no ``operator.getslice``/``repeat``:
    ``getitem`` with a slice and ``mul`` on a list do their work."""
    manager = MyManager()
    manager.start()
    print('-' * 20)
    f1 = manager.Foo1()
    f1.f()
    f1.g()
    assert not hasattr(f1, '_h')
    assert sorted(f1._exposed_) == sorted(['f', 'g'])
    print('-' * 20)
    f2 = manager.Foo2()
    f2.g()
    f2._h()
    assert not hasattr(f2, 'f')
    assert sorted(f2._exposed_) == sorted(['g', '_h'])
    print('-' * 20)
    print(' '.join('<%d>' % i for i in manager.baz()))
    print('-' * 20)
    op = manager.operator()
    print('op.add(23, 45) =', op.add(23, 45))
    print('op.pow(2, 94) =', op.pow(2, 94))
    print('op.getitem(list(range(10)), slice(2, 6)) =',
          op.getitem(list(range(10)), slice(2, 6)))
    print('op.mul(list(range(5)), 3) =', op.mul(list(range(5)), 3))
    print('some of op._exposed_ =',
          [name for name in op._exposed_ if name in ('add', 'getitem', 'mul', 'pow')])
    manager.shutdown()


if __name__ == '__main__':
    custom_manager_program()
