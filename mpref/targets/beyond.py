"""What runs on the "hosts" and in the pool workers of ``notebooks/14_beyond_one_machine.ipynb``.

Two parts, run by ``tests/test_remote_hosts.py`` and ``tests/test_ray.py`` too:

* **A remote manager** (spec 16.6.2.7.3).  ``serve`` is the spec's server
  for one shared queue -- a ``BaseManager`` subclass, ``QueueManager``,
  registering ``get_queue`` -- listening on every address of its host.
  ``client`` is a small remote shell: it connects a ``QueueManager`` to a
  server, then reads one command a line from stdin (``["put", "hello"]``,
  ``["get", 5]``, ``["qsize"]``, ``["waiting"]``, ``["roundtrips", 200]``)
  and answers each with one JSON line on stdout (``["ok", value]`` or
  ``["error", "ExceptionName: message"]``).  The chapter starts both with
  ``python -m mpref.targets.beyond serve|client ...`` inside network
  namespaces and talks to a client through ``lab.remote_client.RemoteClient``
  (the lab equipment, ``lab/`` at the repository's root, is not installed
  with mpref), so nothing depends on a child's prints reaching the notebook.

* **The tasks of one Pool program for every Pool.**  ``lab.pool_program``
  runs a subset of the spec's pool program (16.6.4) on mpref's, the
  stdlib's and Ray's ``Pool``; its workers -- Ray's too -- import what they
  run by name, so its own tasks are here: ``describe`` (the spec's
  ``calculate`` without the worker's name), ``mul`` and ``plus`` with fixed
  sleeps, ``nbytes``.  The spec's task functions it shares are in
  ``mpref/targets/tasks.py``.
"""

import json
import queue
import sys
import threading
import time

from mpref.managers import BaseManager

#: The spec's port and key for its remote queue (16.6.2.7.3).
PORT = 50000
AUTHKEY = b'abracadabra'


# ---------------------------------------------------------------------------
# The remote manager (16.6.2.7.3)
# ---------------------------------------------------------------------------

class QueueManager(BaseManager):
    """The spec's manager class for one remote queue; ``serve``/``client`` register ``get_queue``.

    Not ``targets.managers.QueueManager``: ``register`` changes the class, and
    each program registers its own ``get_queue``.
    """


class WatchedQueue(queue.Queue):
    """A ``queue.Queue`` that can also say how many ``get()`` calls are waiting.

    Lets a client see, through its proxy, that another client's call is in
    progress on the server -- the moment to pull that client's plug.
    """

    def __init__(self):
        super().__init__()
        self._waiting = 0
        self._count_lock = threading.Lock()

    def get(self, block=True, timeout=None):
        with self._count_lock:
            self._waiting += 1
        try:
            return super().get(block, timeout)
        finally:
            with self._count_lock:
                self._waiting -= 1

    def waiting(self):
        """The number of ``get()`` calls now blocked or running."""
        return self._waiting


def serve(port=PORT, authkey=AUTHKEY):
    """Serve one shared queue on every address of this host, forever.

    Prints ``["serving", [host, port]]`` (flushed) once listening.  Stops
    on SIGINT (or when killed).
    """
    shared = WatchedQueue()
    QueueManager.register('get_queue', callable=lambda: shared)
    manager = QueueManager(address=('', port), authkey=authkey)
    server = manager.get_server()
    _say('serving', list(server.address))
    server.serve_forever()


def client(host, port=PORT, authkey=AUTHKEY):
    """Connect to the queue served at ``(host, port)``; obey stdin commands.

    The first line printed is ``["ok", "connected"]`` or the error that
    stopped the connection (e.g. ``["error", "AuthenticationError: ..."]``,
    then exit status 1).  Each command line gets one answer line.
    """
    QueueManager.register('get_queue')
    manager = QueueManager(address=(host, port), authkey=authkey)
    try:
        manager.connect()
        shared = manager.get_queue()
    except Exception as exc:
        _say('error', '%s: %s' % (type(exc).__name__, exc))
        sys.exit(1)
    _say('ok', 'connected')
    for line in sys.stdin:
        command, *args = json.loads(line)
        try:
            _say('ok', _obey(shared, command, args))
        except Exception as exc:
            _say('error', '%s: %s' % (type(exc).__name__, exc))


def _obey(shared, command, args):
    if command == 'put':
        return shared.put(*args)
    if command == 'get':
        return shared.get(True, *args)
    if command == 'qsize':
        return shared.qsize()
    if command == 'waiting':
        return shared.waiting()
    if command == 'roundtrips':
        return roundtrips(shared, *args)
    raise ValueError('unknown command %r (put, get, qsize, waiting, roundtrips)' % command)


def roundtrips(shared, calls, payload_bytes=0):
    """Mean seconds per round trip through the proxy ``shared``.

    With ``payload_bytes == 0``: ``calls`` calls of ``qsize()`` (one small
    request, one small reply).  Otherwise ``calls`` pairs ``put(data)`` +
    ``get()`` of that many bytes, i.e. the data crosses twice.
    """
    data = b'x' * payload_bytes
    start = time.perf_counter()
    for _ in range(calls):
        if payload_bytes:
            shared.put(data)
            shared.get()
        else:
            shared.qsize()
    return (time.perf_counter() - start) / calls


def _say(*message):
    print(json.dumps(message), flush=True)


# ---------------------------------------------------------------------------
# The tasks of one Pool program for every Pool (16.6.4, the pool program)
# ---------------------------------------------------------------------------

def describe(func, args):
    """``'mul(3, 7) = 21'``: the spec's ``calculate`` without the worker's name.

    (Which worker answered differs from run to run, and Ray's workers are
    not named ``PoolWorker-N``: the name is left out.)
    """
    return '%s%s = %s' % (func.__name__, args, func(*args))


def describestar(task):
    return describe(*task)


def mul(a, b):
    """A fixed sleep, not ``tasks.mul``'s random one: every run gives the same report."""
    time.sleep(0.01 * (a % 3))
    return a * b


def plus(a, b):
    """As ``mul``, for ``a + b``."""
    time.sleep(0.01 * (a % 3))
    return a + b


def nbytes(data):
    """A task whose argument is big: its length."""
    return len(data)


if __name__ == '__main__':
    role, *rest = sys.argv[1:] or ['']
    if role == 'serve' and len(rest) == 2:
        serve(int(rest[0]), rest[1].encode())
    elif role == 'serve':
        serve()
    elif role == 'client':
        client(rest[0], int(rest[1]), rest[2].encode())
    else:
        sys.exit('usage: python -m mpref.targets.beyond serve [PORT AUTHKEY]'
                 ' | client HOST PORT AUTHKEY')
