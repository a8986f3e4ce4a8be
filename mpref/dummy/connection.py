"""``mpref.dummy.connection``: ``Pipe``, ``Listener`` and ``Client`` between threads
(spec 16.6.2.4, 16.6.2.10, 16.6.2.13).

Chapter: ``notebooks/10_dummy.ipynb``.

Threads share memory, so a connection needs no socket and no pickle: each
direction of a ``Pipe`` is a *channel*, a deque of messages guarded by a
condition variable, and ``send`` appends the object itself (not a copy)::

    a, b = Pipe()        a reads ch1, writes ch2;   b reads ch2, writes ch1
    a.send(x)  --> ch2 --> b.recv() is x       b.send(y) --> ch1 --> a.recv() is y

Only where a real pipe would show its bytes does pickle appear: a message
sent with ``send`` and read with ``recv_bytes`` is the pickle of the object,
and ``recv`` unpickles a message sent with ``send_bytes`` -- so a thread that
echoes ``recv_bytes()`` back with ``send_bytes()`` works as a process does.

Closing an end closes both channels: the other end's ``recv`` then
returns what is left and raises ``EOFError`` -- never waits for ever, as
``mpref.connection`` does at EOF -- and its ``send`` raises
``BrokenPipeError``.  As with processes, which each hold their own copy of a
pipe's descriptors, an end closes only when its *last copy* closes:
``dummy.Process`` gives the thread its own copy of each connection passed
in ``args``/``kwargs`` (``Connection.duplicate``) and closes those copies
when the thread ends, as a process's descriptors close when it exits.  So
the parent may close its copy of the child's end at once, and a peer thread
that has ended never leaves ``recv`` waiting.

``Listener``/``Client`` meet through a table of listeners by address;
``families`` is ``[None]`` (no address family: an address is any hashable
name, by default a fresh one).  ``authkey`` is accepted and not used: there
is no one outside the process to keep out.
"""

import collections
import itertools
import pickle
import threading

from .. import framing, util

__all__ = ['Client', 'Listener', 'Pipe', 'Connection', 'families']

#: The address families a dummy ``Listener`` knows: just one, with no name.
families = [None]


def Pipe(duplex=True):
    """Return ``(conn1, conn2)``, two ends of a pipe between threads.

    ``duplex=False``: ``conn1`` can only receive and ``conn2`` only send.
    """
    a_to_b, b_to_a = _Channel(), _Channel()
    if duplex:
        return Connection(_End(b_to_a, a_to_b)), Connection(_End(a_to_b, b_to_a))
    return Connection(_End(a_to_b, None)), Connection(_End(None, a_to_b))


class Connection:
    """A copy of one end of a dummy pipe: ``send``/``recv``, ``poll``, ``close`` (spec 16.6.2.4).

    Objects pass by reference: the receiver gets the very object sent.
    ``send_bytes``/``recv_bytes`` pass copies of bytes, as a real pipe would.
    """

    def __init__(self, end):
        self._end = end
        self._reads, self._writes = end.reads, end.writes
        self._closed = False

    def send(self, obj):
        """Send ``obj`` to the other end."""
        self._check_writable()
        self._writes.put((_OBJECT, obj))

    def recv(self):
        """Return the next object sent by the other end, waiting for one.

        ``EOFError`` once the other end is closed and nothing is left.
        """
        self._check_readable()
        kind, message = self._reads.get()
        # Bytes sent with send_bytes: a real pipe's recv() would unpickle them.
        return pickle.loads(message) if kind is _BYTES else message

    def send_bytes(self, buffer, offset=0, size=None):
        """Send ``size`` bytes of ``buffer`` from ``offset`` as one message."""
        self._check_writable()
        # The same bounds, and errors, as mpref.framing; then a copy of the bytes.
        self._writes.put((_BYTES, bytes(framing.message_view(buffer, offset, size))))

    def recv_bytes(self, maxlength=None):
        """Return the next message as bytes (an object sent with ``send``: its pickle,
        as a real pipe carries it)."""
        self._check_readable()
        kind, message = self._reads.get()
        if kind is _OBJECT:
            message = pickle.dumps(message)
        if maxlength is not None and len(message) > maxlength:
            raise OSError('message of %d bytes is longer than maxlength %d'
                          % (len(message), maxlength))
        return message

    def poll(self, timeout=0.0):
        """Return whether there is something to read, waiting up to ``timeout``
        seconds (None: no limit).  True at EOF too: ``recv`` will not block."""
        self._check_readable()
        return self._reads.wait_readable(util.check_timeout(timeout))

    def close(self):
        """Close this copy; once every copy of this end is closed, the other end's
        ``recv`` raises ``EOFError`` when drained, and its ``send`` ``BrokenPipeError``."""
        if not self._closed:
            self._closed = True
            self._end.close_copy()

    def duplicate(self):
        """Another copy of this end, as a child process holds its own descriptor:
        the end stays open until every copy is closed.  (``dummy.Process``
        makes one for each connection a thread is given.)"""
        self._check_open()
        return Connection(self._end.copied())

    @property
    def closed(self):
        """True after ``close()``."""
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def _check_open(self):
        if self._closed:
            raise OSError('connection is closed')

    def _check_readable(self):
        self._check_open()
        if self._reads is None:
            raise OSError('connection is write-only (the sending end of Pipe(duplex=False))')

    def _check_writable(self):
        self._check_open()
        if self._writes is None:
            raise OSError('connection is read-only (the receiving end of Pipe(duplex=False))')


# The two kinds of message in a channel: (_OBJECT, obj) from send, (_BYTES, data) from send_bytes.
_OBJECT, _BYTES = 'object', 'bytes'


class _End:
    """One end of a pipe -- the channels it reads and writes -- and how many
    ``Connection`` copies of it are open."""

    def __init__(self, reads, writes):
        self.reads, self.writes = reads, writes
        self._copies = 1
        self._lock = threading.Lock()

    def copied(self):
        with self._lock:
            self._copies += 1
        return self

    def close_copy(self):
        with self._lock:
            self._copies -= 1
            last = self._copies == 0
        if last:
            # Both directions end: the other end reads EOF after what is
            # left, and its send raises BrokenPipeError, as with a real pipe.
            for channel in (self.reads, self.writes):
                if channel is not None:
                    channel.close()


class _Channel:
    """One direction of a pipe: messages in order, and whether an end has closed it."""

    def __init__(self):
        self._items = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._closed = False

    def put(self, obj):
        with self._cond:
            if self._closed:
                raise BrokenPipeError('the other end of the pipe is closed')
            self._items.append(obj)
            self._cond.notify()

    def get(self):
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._closed)
            if self._items:
                return self._items.popleft()
            raise EOFError('the other end of the pipe is closed')

    def wait_readable(self, timeout):
        with self._cond:
            return bool(self._cond.wait_for(lambda: self._items or self._closed, timeout))

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()


# --------------------------------------------------------------------------
# Listener and Client
# --------------------------------------------------------------------------

_listeners = {}                     # address -> Listener
_listeners_lock = threading.Lock()
_address_counter = itertools.count(1)


class Listener:
    """Accept connections from ``Client(address)`` in other threads (spec 16.6.2.10).

    ``address``: any hashable name (default: a fresh ``'dummy-listener-N'``);
    ``ValueError`` if another listener has it.  ``family`` must be None (the
    only member of ``families``).  ``backlog`` and ``authkey`` are accepted
    for the same signature as ``mpref.Listener``, and not used.
    """

    def __init__(self, address=None, family=None, backlog=1, authkey=None):
        if family is not None:
            raise ValueError('unknown address family %r: a dummy listener has only None' % (family,))
        if address is None:
            address = 'dummy-listener-%d' % next(_address_counter)
        self._address = address
        self._pending = _Channel()          # connections waiting for accept()
        self._last_accepted = None
        with _listeners_lock:
            if address in _listeners:
                raise ValueError('address %r is already in use by another listener' % (address,))
            _listeners[address] = self

    def accept(self):
        """Wait for a client; return the listener's end of the new connection.

        ``OSError`` once the listener is closed.
        """
        try:
            connection, client_name = self._pending.get()
        except EOFError:
            raise OSError('listener is closed') from None
        self._last_accepted = client_name
        return connection

    def close(self):
        """Stop listening: later ``Client`` calls to this address are refused."""
        with _listeners_lock:
            if _listeners.get(self._address) is self:
                del _listeners[self._address]
        self._pending.close()

    @property
    def address(self):
        """The address clients connect to."""
        return self._address

    @property
    def last_accepted(self):
        """The name of the thread whose connection was accepted last (or None)."""
        return self._last_accepted

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def Client(address, family=None, authkey=None):
    """Connect to the ``Listener`` at ``address``; return the client's end.

    ``ConnectionRefusedError`` if no listener has that address.
    """
    if family is not None:
        raise ValueError('unknown address family %r: a dummy client has only None' % (family,))
    with _listeners_lock:
        listener = _listeners.get(address)
    if listener is None:
        raise ConnectionRefusedError('no dummy listener at address %r' % (address,))
    mine, theirs = Pipe()
    try:
        listener._pending.put((theirs, threading.current_thread().name))
    except BrokenPipeError:
        raise ConnectionRefusedError('the dummy listener at %r is closed' % (address,)) from None
    return mine

