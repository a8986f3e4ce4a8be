"""Connections: message-oriented pipes between processes (spec 16.6.2.4, 16.6.2.2,
16.6.1.2; listeners, clients and authentication 16.6.2.10, 16.6.2.11).

Chapters: ``notebooks/02_pipes_and_connections.ipynb`` (``Connection``,
``Pipe``, ``wait``) and ``notebooks/08_listeners_clients_auth.ipynb``
(``Listener``, ``Client``, the authentication handshake).

A ``Connection`` wraps one file descriptor -- an OS pipe end or a connected
stream socket -- and turns its stream of bytes into a stream of *messages*.
``Pipe()`` makes a connected pair of them.

The wire format (the same bytes as CPython's ``multiprocessing.connection``)
---------------------------------------------------------------------------
A byte stream has no message boundaries, so every message is framed::

    +------------------------+---------------------------+
    | length: 4 bytes, '!i'  |  payload: `length` bytes  |
    +------------------------+---------------------------+

The length is a *signed* 32-bit big-endian integer.  A payload longer than
``0x7fffffff`` bytes does not fit, so for those the sender writes the escape
value ``-1`` followed by the real length as an unsigned 64-bit big-endian
integer (``'!Q'``)::

    | ff ff ff ff | length: 8 bytes, '!Q' | payload |

``send_bytes()`` sends its buffer as the payload, untouched.  ``send(obj)``
sends ``pickle.dumps(obj)`` with the default protocol -- exactly what CPython
sends -- so an mpref Connection and a stdlib one on the two ends of the same
pipe understand each other, objects and bytes alike (``tests/test_connection.py``
checks this byte for byte).  Small messages (up to 16 KiB) go out in a single
``write`` of header and payload together: one system call, and on a TCP socket
no small header waiting behind Nagle's algorithm.  Larger ones are written as
header, then payload, to avoid copying the payload just to glue 4 bytes to it.

A reader reads the 4-byte header, then exactly ``length`` more bytes, looping
because a pipe or socket may hand over a long message in pieces.  Nothing is
read ahead, so ``poll()`` (which asks the OS whether the descriptor has data)
stays truthful and two Connections could even take turns on one descriptor.

Only whole messages are ever written (``send()`` pickles to bytes *before*
writing), so a failed pickle leaves the stream intact.  A peer that dies in
the middle of writing a message leaves a truncated one; the reader notices the
end of file inside a message and raises ``OSError``, never returning garbage.
"""

import os
import pickle
import selectors
import socket
import struct
import time

from . import spawn, util
from .exceptions import AuthenticationError, BufferTooShort

__all__ = ['Connection', 'Pipe', 'wait', 'BufferTooShort', 'AuthenticationError']

#: Payloads up to this size go out in one write together with their header.
_CONCATENATE_LIMIT = 16384
#: The largest length the 4-byte header can hold; longer ones use the escape.
_MAX_SHORT_LENGTH = 0x7fffffff

_header = struct.Struct('!i')
_long_header = struct.Struct('!iQ')      # the escape: -1, then the real length
_pack_header = _header.pack
_unpack_header = _header.unpack
_dumps = pickle.dumps
_loads = pickle.loads
_read = os.read
_write = os.write


class Connection:
    """One end of a message pipe, over the file descriptor ``fd``.

    ``fd`` may be an OS pipe end or a connected stream socket (mpref uses
    ``os.read``/``os.write`` on both).  The Connection owns ``fd`` and closes
    it in ``close()``, on leaving a ``with`` block, or when garbage collected.
    ``readable``/``writable`` say which directions this end may be used in;
    using the other raises ``OSError``.

    A Connection is not locked: two threads or processes using the *same*
    end at the same time can interleave their messages (spec 16.6.1.2).
    """

    _handle = None       # so __del__ is safe even if __init__ failed

    def __init__(self, fd, readable=True, writable=True):
        fd = fd.__index__()
        if fd < 0:
            raise ValueError('invalid handle')
        if not readable and not writable:
            raise ValueError('at least one of `readable` and `writable` must be True')
        self._handle = fd
        self._readable = readable
        self._writable = writable

    # -- sending ------------------------------------------------------------

    def send(self, obj):
        """Send a picklable object; the other end reads it with ``recv()``.

        The object is pickled completely before anything is written, so an
        unpicklable object raises here and the connection stays usable.
        """
        if self._handle is None or not self._writable:
            self._check_writable()
        self._send_message(_dumps(obj))

    def send_bytes(self, buffer, offset=0, size=None):
        """Send ``size`` bytes of ``buffer`` starting at ``offset`` as one message.

        ``buffer`` is any object with the buffer interface (bytes, bytearray,
        array, memoryview, ...); ``offset`` and ``size`` count bytes, not items.
        By default the whole buffer (from ``offset``) is sent.
        """
        if self._handle is None or not self._writable:
            self._check_writable()
        view = memoryview(buffer)
        if view.itemsize != 1 or view.ndim != 1:
            view = view.cast('B')
        n = view.nbytes
        if offset < 0:
            raise ValueError('offset is negative')
        if n < offset:
            raise ValueError('buffer length < offset')
        if size is None:
            size = n - offset
        elif size < 0:
            raise ValueError('size is negative')
        elif offset + size > n:
            raise ValueError('buffer length < offset + size')
        if offset or size != n:
            view = view[offset:offset + size]
        self._send_message(view)

    def _send_message(self, payload):
        n = len(payload)
        if n <= _CONCATENATE_LIMIT:
            data = _pack_header(n) + payload
            written = _write(self._handle, data)
            if written != len(data):
                self._write_rest(data, written)
            return
        if n > _MAX_SHORT_LENGTH:
            header = _long_header.pack(-1, n)
        else:
            header = _pack_header(n)
        self._write_all(header)
        self._write_all(payload)

    def _write_all(self, data):
        written = _write(self._handle, data)
        if written != len(data):
            self._write_rest(data, written)

    def _write_rest(self, data, written):
        # Rare: a write may stop early (a signal arrived, a huge payload on a
        # pipe).  Carry on from where it stopped until the message is out.
        view = memoryview(data).cast('B')
        while written < len(view):
            written += _write(self._handle, view[written:])

    # -- receiving ----------------------------------------------------------

    def recv(self):
        """Receive and return one object sent with ``send()``.

        Raises ``EOFError`` if nothing is left and the other end is closed.
        Unpickling runs code chosen by the sender: trust it (spec 16.6.2.4).
        """
        if self._handle is None or not self._readable:
            self._check_readable()
        return _loads(self._recv_message(None))

    def recv_bytes(self, maxlength=None):
        """Receive one message and return its payload as ``bytes``.

        Raises ``EOFError`` if nothing is left and the other end is closed.
        If ``maxlength`` is given and the message is longer, raises
        ``OSError('bad message length')``; the unread payload is left in the
        pipe, so this end can no longer be read (it is closed if it could
        only read; a duplex end can still send).
        """
        if self._handle is None or not self._readable:
            self._check_readable()
        if maxlength is not None and maxlength < 0:
            raise ValueError('negative maxlength')
        return self._recv_message(maxlength)

    def recv_bytes_into(self, buffer, offset=0):
        """Receive one message into the writable ``buffer`` at byte ``offset``.

        Returns the number of bytes in the message.  If it does not fit,
        raises ``BufferTooShort`` with the whole message (bytes) as
        ``args[0]``; nothing is lost.  Raises ``EOFError`` at end of file.
        """
        if self._handle is None or not self._readable:
            self._check_readable()
        with memoryview(buffer) as view:
            if view.itemsize != 1 or view.ndim != 1:
                view = view.cast('B')
            if view.readonly:
                raise TypeError('recv_bytes_into() needs a writable buffer')
            if offset < 0:
                raise ValueError('negative offset')
            if offset > view.nbytes:
                raise ValueError('offset too large')
            size = self._read_header()
            if offset + size > view.nbytes:
                raise BufferTooShort(self._read_payload(size))
            self._read_into(view[offset:offset + size], size)
            return size

    def poll(self, timeout=0.0):
        """Return whether there is data (or end of file) to read.

        No argument: answer at once.  A number: wait up to that many seconds.
        ``None``: wait as long as it takes.
        """
        if self._handle is None or not self._readable:
            self._check_readable()
        return util.wait_readable(self._handle, timeout)

    def _recv_message(self, maxlength):
        size = self._read_header()
        if maxlength is not None and size > maxlength:
            self._bad_message_length()
        return self._read_payload(size)

    def _read_header(self):
        header = _read(self._handle, 4)
        if len(header) != 4:
            if not header:
                raise EOFError
            header += self._read_exact(4 - len(header), 4)
        size, = _unpack_header(header)
        if size == -1:
            size, = struct.unpack('!Q', self._read_exact(8, 12))
        return size

    def _read_payload(self, size):
        # Small messages: one read almost always brings the whole payload.
        # Large ones arrive in pieces: read them straight into one buffer.
        if size <= _CONCATENATE_LIMIT:
            data = _read(self._handle, size)
            if len(data) == size:
                return data
            buffer = bytearray(size)
            buffer[:len(data)] = data
            self._read_into(memoryview(buffer), size, len(data))
        else:
            buffer = bytearray(size)
            self._read_into(memoryview(buffer), size)
        return bytes(buffer)

    def _read_exact(self, n, expected):
        data = b''
        while len(data) < n:
            chunk = _read(self._handle, n - len(data))
            if not chunk:
                self._truncated(expected, expected - n + len(data))
            data += chunk
        return data

    def _read_into(self, view, size, got=0):
        while got < size:
            n = os.readv(self._handle, [view[got:]])
            if n == 0:
                self._truncated(size, got)
            got += n

    def _truncated(self, expected, got):
        raise OSError('got end of file during message: truncated message, '
                      'expected %d bytes, got %d' % (expected, got))

    def _bad_message_length(self):
        # The payload is still in the pipe: reading on would misread it as
        # headers.  So the reading direction is dead (CPython does the same).
        if self._writable:
            self._readable = False
        else:
            self.close()
        raise OSError('bad message length')

    # -- the descriptor ---------------------------------------------------------

    def fileno(self):
        """The file descriptor of this end."""
        self._check_closed()
        return self._handle

    def close(self):
        """Close this end (idempotent).  The peer then reads ``EOFError``."""
        if self._handle is not None:
            fd, self._handle = self._handle, None
            os.close(fd)

    @property
    def closed(self):
        """True once ``close()`` has run."""
        return self._handle is None

    @property
    def readable(self):
        """True if this end may receive."""
        return self._readable

    @property
    def writable(self):
        """True if this end may send."""
        return self._writable

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        if self._handle is not None:
            try:
                os.close(self._handle)
            except OSError:
                pass
            self._handle = None

    def _check_closed(self):
        if self._handle is None:
            raise OSError('handle is closed')

    def _check_readable(self):
        self._check_closed()
        if not self._readable:
            raise OSError('connection is write-only: this is the sending end '
                          '(conn2) of a one-way Pipe(duplex=False)')

    def _check_writable(self):
        self._check_closed()
        if not self._writable:
            raise OSError('connection is read-only: this is the receiving end '
                          '(conn1) of a one-way Pipe(duplex=False)')

    # -- travelling to a child ------------------------------------------------

    def __reduce__(self):
        # A forked child simply inherits the descriptor.  A spawned child gets
        # it handed over at start-up (same number); any other pickling would
        # copy a number that means nothing in the receiving process.
        spawn.assert_spawning(self)
        fd = spawn.duplicate_for_child(self._handle)
        return _rebuild_connection, (fd, self._readable, self._writable)


def _rebuild_connection(fd, readable, writable):
    # The descriptor arrived inheritable (so exec would keep it); make it
    # private again so it does not leak into this child's own children.
    os.set_inheritable(fd, False)
    return Connection(fd, readable, writable)


def Pipe(duplex=True):
    """Return ``(conn1, conn2)``, the two ends of a new pipe.

    ``duplex=True`` (default): both ends send and receive, over a Unix
    socket pair.  ``duplex=False``: an OS pipe; ``conn1`` can only receive
    and ``conn2`` can only send.
    """
    if duplex:
        s1, s2 = socket.socketpair()
        s1.setblocking(True)
        s2.setblocking(True)
        return Connection(s1.detach()), Connection(s2.detach())
    r, w = os.pipe()
    return Connection(r, writable=False), Connection(w, readable=False)


def wait(object_list, timeout=None):
    """Wait until some of ``object_list`` are ready to read; return those.

    Beyond the spec (Python 3.3).  The objects may be Connections, sockets,
    file descriptors (ints) or anything with ``fileno()`` -- e.g. a
    ``Process.sentinel``.  ``timeout=None`` waits for ever; on timeout the
    result is an empty list.  The order of the result is unspecified.
    """
    with _WaitSelector() as selector:
        for obj in object_list:
            selector.register(obj, selectors.EVENT_READ)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            ready = selector.select(timeout)
            if ready:
                return [key.fileobj for key, _events in ready]
            if deadline is not None:
                timeout = deadline - time.monotonic()
                if timeout < 0:
                    return []


# poll() copes with descriptors above 1024, which select() cannot watch.
_WaitSelector = getattr(selectors, 'PollSelector', selectors.SelectSelector)


# ---- Listeners and clients (spec 16.6.2.10, 16.6.2.11) ----
# Everything below this line belongs to the Listener/Client/authentication
# section (issues 7 and 8); everything above it to Connection and Pipe.
