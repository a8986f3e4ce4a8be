"""Message framing: a ``Connection`` turns the byte stream of one file descriptor
into a stream of whole messages (spec 16.6.2.4; pipes in 16.6.2.2 and 16.6.1.2).

Chapter: ``notebooks/02_pipes_and_connections.ipynb``.

A ``Connection`` wraps one file descriptor -- an OS pipe end or a connected
stream socket -- and turns its stream of bytes into a stream of *messages*.
``Pipe()`` makes a connected pair of them; ``wait()`` waits for several at
once.  Queues, pools and managers all send their messages through
Connections.  ``connection.py``, built on this module, adds the
authentication handshake, ``Listener`` and ``Client`` (chapter 8), and
re-exports ``Connection``, ``Pipe`` and ``wait`` where the spec spells them
(``multiprocessing.connection.Pipe``).

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
pipe understand each other, objects and bytes alike (``tests/test_framing.py``
checks this byte for byte).  Small messages (up to 16 KiB) go out in a single
``write`` of header and payload together: one system call, and on a TCP socket
no small header waiting behind Nagle's algorithm.  Larger ones are written as
header, then payload, to avoid copying the payload just to glue 4 bytes to it.

A reader reads the 4-byte header, then exactly ``length`` more bytes, looping
because a pipe or socket may hand over a long message in pieces.  A long
payload is read straight into one buffer, which then becomes the returned
``bytes`` without a copy: receiving a 2 GiB message needs 2 GiB, not twice
that.  The buffer grows towards the announced size in steps, as bytes
arrive, so a corrupt header announcing gigabytes costs no such allocation.
Nothing is read ahead, so ``poll()`` (which asks the OS whether the
descriptor has data) stays truthful and two Connections could even take
turns on one descriptor.  The one exception is ``Connection.recv_in_turn``,
for connections whose two ends take strict turns (a manager's): it reads
ahead in one system call, which is safe only because no second message can
be on its way.

Only whole messages are ever written (``send()`` pickles to bytes *before*
writing), so a failed pickle leaves the stream intact.  A peer that dies in
the middle of writing a message leaves a truncated one; the reader notices the
end of file inside a message and raises ``OSError``, never returning garbage.
But while someone else still holds a write end, no end of file comes: a
reader that must give up in time (a queue's ``get(timeout=...)``) reads with
``Connection.recv_bytes_by(deadline)``, which stops at the deadline and keeps
the part it has read, so that the next read continues the same message.
"""

import bisect
import io
import os
import pickle
import selectors
import socket
import struct
import time

from . import spawn, util
from .exceptions import BufferTooShort

__all__ = ['Connection', 'Pipe', 'wait', 'message_view', 'make_blocking', 'SMALL_MESSAGE']


#: Payloads up to this size go out in one write together with their header
#: (and may be joined with others by ``send_bytes_many``).
SMALL_MESSAGE = 16384
#: The largest length the 4-byte header can hold; longer ones use the escape.
_MAX_SHORT_LENGTH = 0x7fffffff
#: A long payload's buffer starts at this size and doubles until it fits.
_FIRST_STEP = 64 * 1024 * 1024
#: How much ``recv_in_turn`` asks for in its one read: most messages fit.
_READ_AHEAD = 65536

_header = struct.Struct('!i')
_long_header = struct.Struct('!iQ')      # the escape: -1, then the real length
_pack_header = _header.pack
_unpack_header = _header.unpack
_unpack_header_from = _header.unpack_from
_unpack_long_length_from = struct.Struct('!Q').unpack_from
# CPython's ``ForkingPickler.dumps`` is a Pickler with the default protocol;
# for ordinary objects it writes exactly what ``pickle.dumps`` writes.
_dumps = pickle.dumps
_loads = pickle.loads
# Bound once: the hot paths find them as plain module globals.
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
    _partial = None      # the part of a message that ``recv_bytes_by`` has read
    _why_unreadable = 'this end can only send (like conn2 of Pipe(duplex=False))'

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
        self._send_message(message_view(buffer, offset, size))

    def send_bytes_many(self, payloads):
        """Send each of ``payloads`` as its own message, all in one write.

        Beyond the spec: for a queue's feeder thread, which often has many
        small messages waiting at once.  The reader sees exactly what a
        ``send_bytes`` per payload would have written, for one system call
        instead of one each.  A payload is any bytes-like object, counted in
        bytes, of at most ``SMALL_MESSAGE`` bytes (they are copied, with
        their headers, into one buffer; ``ValueError`` otherwise, before
        anything is written).

        If the write fails part-way, the messages are cut off wherever it
        stopped, and the exception carries ``messages_sent``: how many of
        the first payloads reached the pipe whole (their readers will get
        them; the rest never arrive whole).
        """
        if self._handle is None or not self._writable:
            self._check_writable()
        pieces = []
        ends = []                   # where each message ends in the joined bytes
        end = 0
        for payload in payloads:
            if type(payload) is not bytes:
                payload = message_view(payload)     # its length in bytes, as send_bytes
            n = len(payload)
            if n > SMALL_MESSAGE:
                raise ValueError('send_bytes_many() sends payloads of at most %d bytes, '
                                 'not %d' % (SMALL_MESSAGE, n))
            pieces += (_pack_header(n), payload)
            end += 4 + n
            ends.append(end)
        data = b''.join(pieces)
        written = 0
        try:
            written = _write(self._handle, data)
            while written < len(data):
                written += _write(self._handle, memoryview(data)[written:])
        except BaseException as exc:
            exc.messages_sent = bisect.bisect_right(ends, written)
            raise

    def _send_message(self, payload):
        n = len(payload)
        if n <= SMALL_MESSAGE:
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
        # Both views are released on the way out (also when BufferTooShort is
        # raised), so the caller may resize its buffer in an ``except`` block.
        with memoryview(buffer) as original, original.cast('B') as view:
            if view.readonly:
                raise TypeError('recv_bytes_into() needs a writable buffer')
            if offset < 0:
                raise ValueError('negative offset')
            if offset > view.nbytes:
                raise ValueError('offset too large')
            size = self._read_header()
            if offset + size > view.nbytes:
                raise BufferTooShort(self._read_payload(size))
            self._fill(view[offset:offset + size], 0, size)
            return size

    def poll(self, timeout=0.0):
        """Return whether there is data (or end of file) to read.

        No argument: answer at once.  A number: wait up to that many seconds
        (any size; negative counts as 0).  ``None`` or ``float('inf')``: wait
        as long as it takes.  Checked by ``util.check_timeout``: ``TypeError``
        for a non-number, ``ValueError`` for NaN.
        """
        if self._handle is None or not self._readable:
            self._check_readable()
        return util.wait_readable(self._handle, timeout)

    def recv_in_turn(self):
        """``recv()`` in one system call, for a connection whose ends take turns.

        Reads and returns one object sent with ``send()``, as ``recv()`` does,
        but asks the OS for up to 64 KiB at once instead of the 4-byte header
        and then the payload: a small message arrives whole in that one read.
        The price is that the read may take bytes *past* the message, so the
        contract is strict turn-taking: when a message is due it must be the
        only one on its way (each request answered by exactly one reply before
        the next is sent).  A message that did not arrive whole (a large one,
        or a writer that sent header and payload separately) is completed by
        the same reading as ``recv()``'s.

        Beyond the spec.  The managers use it on both ends of the hot path of
        every proxy call: ``proxies.BaseProxy._callmethod`` for the reply and
        the manager's ``Server.serve_client`` for the request.  Raises
        ``EOFError`` at end of file, and ``OSError`` for a truncated message
        or when more than one message arrived (the peer broke the turns).
        """
        if self._handle is None or not self._readable:
            self._check_readable()
        data = _read(self._handle, _READ_AHEAD)
        if len(data) > 4:
            size, = _unpack_header_from(data)
            if size == len(data) - 4:
                return _loads(memoryview(data)[4:])          # the usual case
        size, start = self._complete_header(data)
        arrived = data[start:]
        if len(arrived) > size:
            raise OSError('connection out of step: %d bytes arrived for a %d-byte '
                          'message (recv_in_turn needs the ends to take turns)'
                          % (len(arrived), size))
        return _loads(self._read_into_new_bytes(size, arrived))

    def recv_bytes_by(self, deadline, wait=None):
        """Receive one message, waiting at most until ``deadline`` *in all*.

        Beyond the spec: the reading under ``Queue.get(timeout=...)``.
        ``deadline`` is a ``time.monotonic()`` value (None: no limit).  The
        descriptor must be non-blocking (``os.set_blocking(fd, False)``, as a
        queue's reader is): every read takes what has arrived and never
        waits; the waiting is done by ``wait(fd, deadline)``, which returns
        False once the deadline has passed (default: ``_wait_until``).

        Returns the payload as ``bytes``, or ``None`` if the whole message
        did not arrive in time.  What did arrive is kept in this Connection
        (``in_message()`` is then True) and the next call continues the same
        message: a writer that is slow -- or dead half-way through a message
        -- costs the reader a timeout, never a hang, and the bytes that
        follow are not misread as a header.  If ``wait`` raises (a signal's
        exception), the part read is kept just the same.

        Raises ``EOFError`` at end of file between messages, and ``OSError``
        when the stream ends inside one: every writer has gone, the last one
        in the middle of a message, so it can never be completed.
        """
        if self._handle is None or not self._readable:
            self._check_readable()
        fd = self._handle
        message = self._partial
        try:
            if message is None:
                payload, message = _read_arrived(fd)    # the usual case: all there
                if message is None:
                    return payload
                self._partial = message
                if message.is_empty() and not (wait or _wait_until)(fd, deadline):
                    return None                         # nothing came in time
            while True:
                wanted = message.wanted()
                if not wanted:
                    self._partial = None
                    return message.payload()
                try:
                    got = message.read_from(fd, wanted)
                except BlockingIOError:             # nothing has arrived yet
                    if not (wait or _wait_until)(fd, deadline):
                        return None
                    continue
                if not got:
                    self._partial = None
                    if message.is_empty():
                        raise EOFError
                    raise OSError('got end of file during message: the writer died '
                                  'mid-message (%s)' % message.describe())
        except _CorruptHeader as exc:               # a header no writer writes
            self._partial = None
            self._bad_message_length('the header announces %d bytes' % exc.args[0])

    def in_message(self):
        """True while ``recv_bytes_by`` holds part of a message (beyond the spec)."""
        return self._partial is not None and not self._partial.is_empty()

    def _recv_message(self, maxlength):
        if self.in_message():
            # A timed read stopped half-way through a message: finish it first.
            return self.recv_bytes_by(None)
        size = self._read_header()
        if maxlength is not None and size > maxlength:
            self._bad_message_length()
        return self._read_payload(size)

    def _read_header(self):
        header = _read(self._handle, 4)
        if len(header) == 4:
            size, = _unpack_header(header)
            if size >= 0:
                return size
        return self._complete_header(header)[0]

    def _complete_header(self, data):
        """``(size, start)`` for a message whose first bytes read are ``data``.

        ``size`` is the payload length its header announces, ``start`` the
        offset in ``data`` where the payload begins (4, or 12 after the
        escape).  Header bytes that have not arrived yet are read here.
        Raises ``EOFError`` if ``data`` is empty (end of file between messages).
        """
        if len(data) < 4:
            if not data:
                raise EOFError
            data += self._read_exact(4 - len(data), 4)
        size, = _unpack_header_from(data)
        if size >= 0:
            return size, 4
        if size != -1:
            # Not a length CPython or mpref ever writes: the stream is corrupt.
            self._bad_message_length('the header announces %d bytes' % size)
        if len(data) < 12:
            data += self._read_exact(12 - len(data), 12)
        size, = _unpack_long_length_from(data, 4)
        return size, 12

    def _read_payload(self, size):
        # Small messages: one read almost always brings the whole payload.
        if size <= SMALL_MESSAGE:
            data = _read(self._handle, size)
            if len(data) == size:
                return data
            return self._read_into_new_bytes(size, data)
        return self._read_into_new_bytes(size)

    def _read_into_new_bytes(self, size, start=b''):
        """Read the rest of a ``size``-byte payload (``start`` has already
        arrived) into one buffer and return the payload as ``bytes``.

        Memory: one copy of the payload at peak.  Reading into a
        ``bytearray`` and then calling ``bytes()`` on it would hold two, and
        collecting chunks and joining them, two as well.  ``io.BytesIO``
        lets us do better: its buffer *is* a bytes object, filled in place
        through ``getbuffer()`` and handed over by ``getvalue()`` without a
        copy once nothing else views it.

        The buffer grows in doubling steps (from ``_FIRST_STEP``) up to
        ``size`` rather than to ``size`` at once, so a corrupt header
        announcing gigabytes costs memory only for bytes that really arrive.
        Growing a large buffer is a ``realloc``, which the C library does by
        remapping pages, not by copying them.
        """
        buffer = io.BytesIO()
        buffer.write(start)
        got = len(start)
        while got < size:
            step_end = min(size, max(2 * got, _FIRST_STEP))
            if size - step_end < step_end // 4:
                # Take a short last stretch with this step: a final growth by
                # less than an eighth would make BytesIO over-allocate.
                step_end = size
            buffer.seek(step_end - 1)
            buffer.write(b'\0')            # the buffer now holds `step_end` bytes
            with buffer.getbuffer() as view:
                self._fill(view, got, size)
            got = step_end
        return buffer.getvalue()

    def _read_exact(self, n, expected):
        data = b''
        while len(data) < n:
            chunk = _read(self._handle, n - len(data))
            if not chunk:
                self._truncated(expected, expected - n + len(data))
            data += chunk
        return data

    def _fill(self, view, got, expected):
        """Read into ``view[got:]`` until it is full.

        ``expected`` is the whole message's length, for the error raised
        if the stream ends first.
        """
        while got < len(view):
            n = os.readv(self._handle, [view[got:]])
            if n == 0:
                self._truncated(expected, got)
            got += n

    def _truncated(self, expected, got):
        raise OSError('got end of file during message: truncated message, '
                      'expected %d bytes, got %d' % (expected, got))

    def _bad_message_length(self, detail=None):
        # The payload is still in the pipe (or the stream is corrupt): reading
        # on would misread bytes as headers.  So the reading direction is dead
        # (CPython does the same for maxlength).
        why = detail or 'recv_bytes(maxlength) left a longer message unread in the pipe'
        if self._writable:
            self._readable = False
            self._why_unreadable = 'no longer readable, ' + why
        else:
            self.close()
        raise OSError('bad message length' + (': ' + detail if detail else ''))

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

    def __del__(self, _close=os.close):
        # _close is bound at definition: at interpreter shutdown module
        # globals may already be gone when the last Connection is collected.
        if self._handle is not None:
            try:
                _close(self._handle)
            except OSError:
                pass
            self._handle = None

    def _check_closed(self):
        if self._handle is None:
            raise OSError('handle is closed')

    def _check_readable(self):
        self._check_closed()
        if not self._readable:
            raise OSError('connection is write-only: ' + self._why_unreadable)

    def _check_writable(self):
        self._check_closed()
        if not self._writable:
            raise OSError('connection is read-only: this end can only receive '
                          '(like conn1 of Pipe(duplex=False))')

    # -- travelling to a child ------------------------------------------------

    def __reduce__(self):
        # A forked child simply inherits the descriptor.  A spawned child gets
        # it handed over at start-up (same number); any other pickling would
        # copy a number that means nothing in the receiving process.
        spawn.assert_spawning(self)
        fd = spawn.duplicate_for_child(self._handle)
        return _rebuild_connection, (fd, self._readable, self._writable)



class _CorruptHeader(Exception):
    """Raised by ``_PartialMessage`` for a header announcing a length that
    no writer writes (``args[0]``); ``recv_bytes_by`` turns it into
    ``OSError('bad message length ...')``."""


class _PartialMessage:
    """One message as far as ``Connection.recv_bytes_by`` has read it.

    First the header (4 bytes, or 12 after the ``-1`` escape), then the
    payload.  ``wanted()`` says how many bytes to ask for next; each read
    asks for no more, so nothing past the message is ever taken.  The
    payload usually arrives in one read and is kept as it came; a long one
    goes into one buffer that grows in steps as bytes arrive, as in
    ``Connection._read_into_new_bytes``.
    """

    __slots__ = ('header', 'size', 'data', 'buffer', 'got')

    def __init__(self, header=b'', size=None, payload=b''):
        self.header = header    # the header bytes read so far
        self.size = size        # the payload's length, once the header is whole
        self.data = None        # a payload that came in one read
        self.buffer = None      # else: an io.BytesIO holding it so far
        self.got = len(payload) # payload bytes read so far
        if payload:
            self.buffer = io.BytesIO()
            self.buffer.write(payload)

    def wanted(self):
        """How many bytes to read next (at most); 0 when the message is whole."""
        if self.size is None:
            return (12 if self.header[:4] == b'\xff\xff\xff\xff' else 4) - len(self.header)
        return self.size - self.got

    def read_from(self, fd, wanted):
        """Read up to ``wanted`` bytes of the message from ``fd``; return how
        many came (0: end of file).  ``BlockingIOError``: none has arrived."""
        if self.size is None:
            chunk = _read(fd, wanted)
            self.header += chunk
            if len(self.header) >= 4:
                self.parse_header()
            return len(chunk)
        if self.got == 0 and self.size <= SMALL_MESSAGE:
            chunk = _read(fd, wanted)
            if len(chunk) == self.size:
                self.data = chunk           # the usual case: all of it at once
            elif chunk:
                self.buffer = io.BytesIO()
                self.buffer.write(chunk)
            self.got = len(chunk)
            return len(chunk)
        if self.buffer is None:
            self.buffer = io.BytesIO()
        step_end = min(self.size, max(2 * self.got, _FIRST_STEP))
        if self.buffer.seek(0, io.SEEK_END) < step_end:
            self.buffer.seek(step_end - 1)
            self.buffer.write(b'\0')        # the buffer now holds `step_end` bytes
        with self.buffer.getbuffer() as view:
            n = os.readv(fd, [view[self.got:step_end]])
        self.got += n
        return n

    def parse_header(self):
        size, = _unpack_header_from(self.header)
        if size >= 0:
            self.size = size
        elif size != -1:
            raise _CorruptHeader(size)      # not a length anyone writes
        elif len(self.header) == 12:
            self.size, = _unpack_long_length_from(self.header, 4)

    def payload(self):
        if self.data is not None:
            return self.data
        if self.buffer is None:
            return b''                      # an empty message
        return self.buffer.getvalue()

    def is_empty(self):
        return not self.header

    def describe(self):
        if self.size is None:
            return 'got %d bytes of its header' % len(self.header)
        return 'expected %d bytes, got %d' % (self.size, self.got)


def _read_arrived(fd):
    """The usual case of ``recv_bytes_by``, tried first on a new message: a
    small message that has arrived whole, read in two reads with no
    bookkeeping.  Returns ``(payload, None)``; otherwise ``(None, message)``,
    a ``_PartialMessage`` holding what did arrive (perhaps nothing), which
    the caller completes with ``wanted`` and ``read_from`` (an end of file
    shows there, at the next read)."""
    try:
        header = _read(fd, 4)
    except BlockingIOError:
        return None, _PartialMessage()
    if len(header) == 4:
        size, = _unpack_header_from(header)
        if 0 <= size <= SMALL_MESSAGE:
            try:
                payload = _read(fd, size)
            except BlockingIOError:
                payload = b''
            if len(payload) == size:
                return payload, None
            return None, _PartialMessage(header, size, payload)
    message = _PartialMessage(header)
    if len(header) == 4:
        message.parse_header()                      # the escape, or a corrupt header
    return None, message


def _wait_until(fd, deadline):
    """``recv_bytes_by``'s default wait: until ``fd`` is readable (True) or
    ``deadline`` has passed (False)."""
    timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
    return util.wait_readable(fd, timeout)


def Pipe(duplex=True):
    """Return ``(conn1, conn2)``, the two ends of a new pipe.

    ``duplex=True`` (default): both ends send and receive, over a Unix
    socket pair.  ``duplex=False``: an OS pipe; ``conn1`` can only receive
    and ``conn2`` can only send.
    """
    if duplex:
        s1, s2 = socket.socketpair()
        make_blocking(s1)
        make_blocking(s2)
        return Connection(s1.detach()), Connection(s2.detach())
    r, w = os.pipe()
    return Connection(r, writable=False), Connection(w, readable=False)


def wait(object_list, timeout=None):
    """Wait until some of ``object_list`` are ready to read; return those.

    Beyond the spec (Python 3.3).  The objects may be Connections, sockets,
    file descriptors (ints) or anything with ``fileno()`` -- e.g. a
    ``Process.sentinel``.  ``timeout=None`` waits for ever; on timeout the
    result is an empty list.  Any non-negative ``timeout`` works, however
    large, and ``float('inf')`` means no limit (``util.check_timeout``).
    The order of the result is unspecified.
    """
    timeout = util.check_timeout(timeout)
    with _WaitSelector() as selector:
        for obj in object_list:
            selector.register(obj, selectors.EVENT_READ)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is None:
                ready = selector.select(None)
            else:
                # In slices: the OS takes its timeout as a C int of milliseconds,
                # which a timeout like 1e7 seconds would overflow.
                remaining = deadline - time.monotonic()
                ready = selector.select(min(max(remaining, 0), util.MAX_WAIT_SLICE))
            if ready:
                return [key.fileobj for key, _events in ready]
            if deadline is not None and time.monotonic() >= deadline:
                return []


# poll() copes with descriptors above 1024, which select() cannot watch.
_WaitSelector = getattr(selectors, 'PollSelector', selectors.SelectSelector)


# -- helpers ------------------------------------------------------------------

def message_view(buffer, offset=0, size=None):
    """The bytes ``send_bytes(buffer, offset, size)`` sends, as a flat memoryview.

    ``offset`` and ``size`` count bytes; ``ValueError`` (with CPython's
    messages) when they fall outside the buffer.  Also used by
    ``mpref.dummy.connection``, whose threads pass the same bytes.
    """
    view = memoryview(buffer)
    if not view.c_contiguous:
        # Checked before anything is written: a header already sent with
        # no payload behind it would leave the reader waiting for ever.
        raise BufferError('send_bytes() needs a contiguous buffer (a strided '
                          'view like m[::2] is not): send bytes(m) instead')
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
    return view


def make_blocking(sock):
    """Make ``sock`` blocking before its descriptor goes into a Connection
    (in ``Pipe``, and in ``connection.py``'s ``Listener`` and ``Client``)."""
    # Connections use plain os.read/os.write, which need a blocking
    # descriptor; a socket.setdefaulttimeout() elsewhere in the program would
    # otherwise create these sockets non-blocking (os.read: BlockingIOError).
    sock.setblocking(True)


def _rebuild_connection(fd, readable, writable):
    # The descriptor arrived inheritable (so exec would keep it); make it
    # private again so it does not leak into this child's own children.
    os.set_inheritable(fd, False)
    return Connection(fd, readable, writable)
