"""The exercises of chapter 14, beyond one machine (``notebooks/14_beyond_one_machine.ipynb``).

* 14.1 ``remote`` -- what a remote manager answers (predict, then run; warm-up)
* 14.2 ``serve`` -- a server that answers one client at a time (break it, fix it; medium)
* 14.3 ``batched`` -- fewer round trips (extend mpref; medium)

None of them needs root, network namespaces or Ray: the server listens on this
machine's loopback address, ``127.0.0.1``, on a port the system chooses, and the
clients connect to it over TCP exactly as clients on other hosts would.

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.
"""

import functools
import math
import queue
import threading

from mpref.connection import Client, Listener
from mpref.managers import BaseManager

from . import Exercise, Wrong
from .tools import exception_name, in_background, within


def _outcome(value):
    """An exception class predicted for a step counts as its name: queue.Empty == 'Empty'."""
    if isinstance(value, type) and issubclass(value, BaseException):
        return value.__name__
    return value


# -- 14.1: what a remote manager answers ---------------------------------------------------

#: The six steps of ``remote_program`` and why each gives what it gives.
REMOTE_STEPS = [
    ("q.put('hello')", "put() on a proxy is a round trip to the server, which runs the queue's own put(); "
                       "that returns None, and so does the proxy"),
    ('q.qsize()', 'the one item is in the queue, which lives in the server process: every client sees it'),
    ('q.get(timeout=1)', 'the item comes back across the connection, unpickled in the client'),
    ('q.get(timeout=0.5)', 'the queue is empty, so get() raises queue.Empty in the server; the proxy raises '
                           'it again in the client'),
    ("connect() with b'open sesame'", 'the keys differ, so the handshake fails before anything is unpickled: '
                                      'connect() raises AuthenticationError'),
    ("q.put('still here'); q.get(timeout=1)", 'a refused client does not stop the server: it goes on serving '
                                              'the others'),
]


def _remote_trial(program):
    for number, ((call, _), result) in enumerate(zip(REMOTE_STEPS, program()), 1):
        print('step %d  %-38s -> %r' % (number, call, result))


def _remote_test(predict, program):
    predicted = predict()
    if not isinstance(predicted, (list, tuple)) or len(predicted) != len(REMOTE_STEPS):
        raise Wrong('predict_remote() should return a list of %d results, one per step; it returned %r.'
                    % (len(REMOTE_STEPS), predicted))
    actual = program()
    mistakes = []
    for number, ((call, why), guess, result) in enumerate(zip(REMOTE_STEPS, predicted, actual), 1):
        if _outcome(guess) != _outcome(result):
            mistakes.append('step %d (`%s`): you predicted %r, the run gave %r -- %s.'
                            % (number, call, _outcome(guess), result, why))
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(REMOTE_STEPS))
                    + '\n'.join(mistakes))
    return 'your prediction matches the run, step by step.'


remote = Exercise('14.1', 'What a remote manager answers', test=_remote_test, trial=_remote_trial,
                  timeout=60)


# -- 14.2: a server that answers one client at a time ---------------------------------------

KEY = b'exercise 14.2'


def _listeners():
    """``(label, listener)``: mpref's Listener and the stdlib's, on the loopback address."""
    import multiprocessing.connection     # the yardstick: the answer must work with both
    yield "mpref's Listener", Listener(('127.0.0.1', 0), authkey=KEY)
    yield "the stdlib's Listener", multiprocessing.connection.Listener(('127.0.0.1', 0), authkey=KEY)


def _client(listener, label, who, patience):
    if label.startswith('mpref'):
        connect = Client
    else:
        from multiprocessing.connection import Client as connect
    return within(patience, 'With %s, %s could not connect within %d seconds: the server never ran the '
                  'handshake with it, so it was not accepting connections -- it was still busy with '
                  'another client. Serve each connection in a thread of its own '
                  '(threading.Thread(target=..., args=(conn,), daemon=True)) and go straight back to '
                  'accept().' % (label, who, patience),
                  functools.partial(connect, listener.address, authkey=KEY))


def _square(conn, number, label, who, patience=5):
    def ask():
        conn.send(number)
        return conn.recv()
    answer = within(patience, 'With %s, %s sent %d and had no answer within %d seconds.'
                    % (label, who, number, patience), ask)
    if answer != number * number:
        raise Wrong('With %s, %s sent %d and got back %r, not %d.' % (label, who, number, answer, number * number))


def _serve_trial(serve):
    listener = Listener(('127.0.0.1', 0), authkey=KEY)
    in_background(serve, listener)
    first = Client(listener.address, authkey=KEY)
    first.send(3)
    print('client A connected; sent 3, got back', first.recv())
    print('client A stays connected and sends nothing more')
    try:
        second = within(3, '', functools.partial(Client, listener.address, authkey=KEY))
    except Wrong:
        print('client B: still not connected after 3 seconds -- the server is busy with client A')
    else:
        second.send(4)
        print('client B connected; sent 4, got back', second.recv())
        second.close()
    first.close()


def _serve_test(serve):
    for label, listener in _listeners():
        in_background(serve, listener)
        a = _client(listener, label, 'a first client', 5)
        _square(a, 3, label, 'the first client')
        b = _client(listener, label, 'a second client (the first still connected)', 3)
        _square(b, 4, label, 'the second client')
        _square(a, 5, label, 'the first client, after the second had connected')
        a.close()
        c = _client(listener, label, 'a third client (after the first had hung up)', 3)
        _square(c, 6, label, 'the third client, after the first had hung up (does your server survive a '
                            'client that closes its connection? recv() then raises EOFError)')
        _square(b, 7, label, 'the second client, after the first had hung up')
        many = [_client(listener, label, 'one of five more clients', 5) for _ in range(5)]
        for number in range(20):
            for conn in many:
                _square(conn, number, label, 'one of five clients taking turns')
        for conn in many + [b, c]:
            conn.close()
        listener.close()
    return ('serve() answered a second client while the first stayed connected, survived a client '
            'hanging up, and served five clients taking turns -- with mpref\'s Listener and the stdlib\'s.')


serve = Exercise('14.2', 'A server that answers one client at a time', test=_serve_test, trial=_serve_trial,
                 timeout=90, on_timeout='Does serve() wait for something that never comes?')


# -- 14.3: fewer round trips --------------------------------------------------------------

_the_queue = queue.Queue()


def _get_queue():
    return _the_queue


class _QueueManager(BaseManager):
    pass


_QueueManager.register('get_queue', callable=_get_queue)


class _Counted:
    """A proxy's stand-in that counts the calls made through it (each one a round trip)."""

    def __init__(self, proxy, size):
        self._proxy = proxy
        self._size = size
        self.calls = 0
        self.oversized = None

    def put(self, obj, *args, **kwds):
        self.calls += 1
        if isinstance(obj, (list, tuple)) and len(obj) > self._size:
            self.oversized = len(obj)
        return self._proxy.put(obj, *args, **kwds)

    def __getattr__(self, name):
        method = getattr(self._proxy, name)

        def counted(*args, **kwds):
            self.calls += 1
            return method(*args, **kwds)
        return counted


def _batched_test(put_batched, get_batched):
    server = _QueueManager(address=('127.0.0.1', 0), authkey=b'exercise 14.3')
    server.start()
    try:
        client = _QueueManager(address=server.address, authkey=b'exercise 14.3')
        client.connect()
        proxy = client.get_queue()
        for count, size in ((1000, 64), (10, 1), (5, 100), (0, 8)):
            items = ['item %d' % i for i in range(count)]
            most = math.ceil(count / size) + 1
            sender = _Counted(proxy, size)
            within(20, 'put_batched(q, %d items, %d) was still running after 20 seconds.' % (count, size),
                   put_batched, sender, items, size)
            if sender.oversized:
                raise Wrong('put_batched(q, %d items, %d) put a list of %d items: a batch holds at most '
                            '`size` items.' % (count, size, sender.oversized))
            if sender.calls > most:
                raise Wrong('put_batched(q, %d items, %d) made %d calls on the proxy, each a round trip '
                            'to the server; batches of %d need at most %d. Put lists of items, not items.'
                            % (count, size, sender.calls, size, most))
            receiver = _Counted(proxy, size)
            got = within(10, 'get_batched(q, %d) was still waiting after 10 seconds (after put_batched(q, '
                             '%d items, %d)): does it stop as soon as it has `count` items?'
                         % (count, count, size), get_batched, receiver, count)
            if list(got or []) != items:
                raise Wrong('After put_batched(q, %d items, %d), get_batched(q, %d) returned %s; it should '
                            'return the %d items, in the order they were put, as one flat list.'
                            % (count, size, count, _show(got), count))
            if receiver.calls > most:
                raise Wrong('get_batched(q, %d) made %d calls on the proxy; after batches of %d it needs at '
                            'most %d.' % (count, receiver.calls, size, most))
        left = proxy.qsize()
        if left:
            raise Wrong('%d batches were left in the queue after all the items had been read.' % left)
        del proxy
    finally:
        server.shutdown()
    return ('1000 items crossed in batches of 64 with at most 17 round trips each way, in order; '
            'batches of 1, a batch larger than the items and no items at all worked too.')


def _show(value):
    text = repr(value)
    return text if len(text) < 80 else text[:77] + '...'


batched = Exercise('14.3', 'Fewer round trips', test=_batched_test, timeout=90,
                   on_timeout='Does get_batched() stop once it has all the items?')
