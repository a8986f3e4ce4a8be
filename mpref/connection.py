"""Connections: message-oriented pipes between processes (spec 16.6.2.4, 16.6.2.2,
16.6.1.2; listeners, clients and authentication 16.6.2.10, 16.6.2.11).

Chapters: ``notebooks/02_pipes_and_connections.ipynb`` (``Connection``,
``Pipe``, ``wait``) and ``notebooks/08_listeners_clients_auth.ipynb``
(``Listener``, ``Client``, the authentication handshake).

The module reads top to bottom in three parts, each using only what is
above it:

1. ``Connection``, ``Pipe`` and ``wait``: messages over one descriptor.
2. The authentication handshake (``deliver_challenge``,
   ``answer_challenge``): HMAC challenge and answer over any Connection.
3. ``Listener`` and ``Client``: sockets that hand out Connections,
   authenticated with part 2.

Why one module and not three: the spec documents all of it as
``multiprocessing.connection``, and readers (and programs) reach every name
there, including the setting ``allow_legacy_md5``, which the handshake reads
at each call.  A lower module holding the handshake would own that setting,
and ``mpref.connection.allow_legacy_md5 = False`` on a re-exported copy would
silently change nothing; ``connection.py`` importing upward from a module
built on it is ruled out by the layering (``docs/README.md``).

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
because a pipe or socket may hand over a long message in pieces.  A long
payload is read straight into one buffer, which then becomes the returned
``bytes`` without a copy: receiving a 2 GiB message needs 2 GiB, not twice
that.  The buffer grows towards the announced size in steps, as bytes
arrive, so a corrupt header announcing gigabytes costs no such allocation.
Nothing is read ahead, so ``poll()`` (which asks the OS whether the
descriptor has data) stays truthful and two Connections could even take
turns on one descriptor.

Only whole messages are ever written (``send()`` pickles to bytes *before*
writing), so a failed pickle leaves the stream intact.  A peer that dies in
the middle of writing a message leaves a truncated one; the reader notices the
end of file inside a message and raises ``OSError``, never returning garbage.
"""

import hmac
import io
import os
import pickle
import selectors
import shutil
import socket
import struct
import tempfile
import threading
import time

from . import spawn, util
from .exceptions import AuthenticationError, BufferTooShort
from .process import current_process

__all__ = ['Connection', 'Pipe', 'wait', 'BufferTooShort', 'AuthenticationError',
           'deliver_challenge', 'answer_challenge', 'answerChallenge',
           'Listener', 'Client', 'families', 'default_family', 'address_type']


#: Payloads up to this size go out in one write together with their header.
_CONCATENATE_LIMIT = 16384
#: The largest length the 4-byte header can hold; longer ones use the escape.
_MAX_SHORT_LENGTH = 0x7fffffff
#: A long payload's buffer starts at this size and doubles until it fits.
_FIRST_STEP = 64 * 1024 * 1024

_header = struct.Struct('!i')
_long_header = struct.Struct('!iQ')      # the escape: -1, then the real length
_pack_header = _header.pack
_unpack_header = _header.unpack
# CPython's ``ForkingPickler.dumps`` is a Pickler with the default protocol;
# for ordinary objects it writes exactly what ``pickle.dumps`` writes.
_dumps = pickle.dumps
_loads = pickle.loads
# Bound once: the hot paths find them as plain module globals.
_read = os.read
_write = os.write

# ==========================================================================
# Part 1: Connection, Pipe and wait (spec 16.6.2.4, 16.6.2.2)
# ==========================================================================

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
        self._send_message(_message_view(buffer, offset, size))

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
        if size < 0:
            if size != -1:
                # Not a length CPython or mpref ever writes: the stream is corrupt.
                self._bad_message_length('the header announces %d bytes' % size)
            size, = struct.unpack('!Q', self._read_exact(8, 12))
        return size

    def _read_payload(self, size):
        # Small messages: one read almost always brings the whole payload.
        if size <= _CONCATENATE_LIMIT:
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


def _message_view(buffer, offset=0, size=None):
    """The bytes ``send_bytes(buffer, offset, size)`` sends, as a flat memoryview.

    ``offset`` and ``size`` count bytes; ``ValueError`` (with CPython's
    messages) when they fall outside the buffer.  Also used by
    ``mpref.dummy.connection``.
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
        _make_blocking(s1)
        _make_blocking(s2)
        return Connection(s1.detach()), Connection(s2.detach())
    r, w = os.pipe()
    return Connection(r, writable=False), Connection(w, readable=False)


def _make_blocking(sock):
    # Connections use plain os.read/os.write, which need a blocking
    # descriptor; a socket.setdefaulttimeout() elsewhere in the program would
    # otherwise create these sockets non-blocking (os.read: BlockingIOError).
    sock.setblocking(True)


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



# ==========================================================================
# Part 2: The authentication handshake (spec 16.6.2.10, 16.6.2.11)
# ==========================================================================
#
# Both ends know a key; neither sends it.  The challenger sends a random
# message, the answerer returns HMAC(key, message), the challenger computes
# the same HMAC and compares.  A listener and a client do this twice, once in
# each direction, so both prove they know the key.  On the wire (each line is
# one framed message, see the top of this module)::
#
#     challenger                                   answerer
#     #CHALLENGE#{sha256}<40 random bytes>   -->
#                                             <--  {sha256}<32-byte HMAC-SHA256>
#     #WELCOME#   (or #FAILURE#)             -->
#
# Two generations of CPython speak two dialects of this, and mpref speaks both:
#
# * Python <= 3.11 (and the spec's 2.6): the challenge is ``#CHALLENGE#``
#   followed by 20 random bytes, and the answer is the raw 16-byte HMAC-MD5
#   of those 20 bytes -- no prefix.
# * Python >= 3.12: the challenge names its digest, ``#CHALLENGE#{sha256}``
#   + 40 random bytes, and the answer repeats the name, ``{sha256}`` + the
#   HMAC of everything after ``#CHALLENGE#`` (prefix included, so a
#   man in the middle cannot rewrite it to ask for a weaker digest).
#
# mpref always challenges with ``{sha256}``.  An old peer does not know the
# prefix: it takes the whole ``{sha256}...`` text as its 20-odd random bytes
# and answers with a raw 16-byte HMAC-MD5 over it.  A 16-byte unprefixed
# answer is therefore recognised as the legacy dialect and, unless
# ``allow_legacy_md5`` is false, checked as HMAC-MD5 over the same message.
# (HMAC-MD5 is still sound as a MAC -- MD5's collisions do not let anyone
# forge an HMAC -- but it is old, and some environments ban MD5 outright;
# see docs/authentication.md.)

CHALLENGE = b'#CHALLENGE#'
WELCOME = b'#WELCOME#'
FAILURE = b'#FAILURE#'

#: Random bytes in a challenge mpref sends (as Python >= 3.12 does).
CHALLENGE_LENGTH = 40
#: The random part of a legacy challenge (Python <= 3.11): unprefixed.
LEGACY_CHALLENGE_LENGTH = 20
#: A legacy answer: a raw HMAC-MD5 digest, unprefixed.
LEGACY_ANSWER_LENGTH = 16
#: The digests a peer may name in ``{...}`` (the same set as CPython 3.12).
DIGESTS = ('sha256', 'sha384', 'sha3_256', 'sha3_384', 'md5')
#: Before authentication nothing longer than this is read: a stranger cannot
#: make us allocate memory by announcing a huge message.
HANDSHAKE_MAX_MESSAGE = 256

#: Accept (and give) HMAC-MD5 answers for peers that speak the legacy
#: dialect (Python <= 3.11).  Set to False to refuse them: a legacy peer's
#: MD5 answer is then rejected, and a legacy challenge is answered with
#: HMAC-SHA256, which the legacy peer rejects.  The functions below also take
#: ``allow_md5=`` to decide per call.
allow_legacy_md5 = True


def deliver_challenge(connection, authkey, *, digest='sha256', allow_md5=None):
    """Challenge the peer to prove it knows ``authkey`` (spec 16.6.2.10).

    Sends ``#CHALLENGE#{digest}`` and random bytes, reads the answer (at most
    ``HANDSHAKE_MAX_MESSAGE`` bytes) and checks it in constant time.  A right
    answer gets ``#WELCOME#``; a wrong one gets ``#FAILURE#`` and raises
    ``AuthenticationError``.  Accepted answers: ``{name}`` + HMAC for any
    name in ``DIGESTS``, or a raw 16-byte HMAC-MD5 from a legacy peer --
    MD5 in either form only if ``allow_md5`` (default: the module's
    ``allow_legacy_md5``) is true.
    """
    authkey = check_authkey(authkey)
    if digest not in DIGESTS:
        raise ValueError('digest must be one of %s, not %r' % (', '.join(DIGESTS), digest))
    message = b'{%s}' % digest.encode('ascii') + os.urandom(CHALLENGE_LENGTH)
    connection.send_bytes(CHALLENGE + message)
    answer = connection.recv_bytes(HANDSHAKE_MAX_MESSAGE)
    try:
        _verify_answer(authkey, message, answer, _md5_allowed(allow_md5))
    except AuthenticationError:
        connection.send_bytes(FAILURE)
        raise
    connection.send_bytes(WELCOME)


def answer_challenge(connection, authkey, *, allow_md5=None):
    """Prove to the peer that we know ``authkey`` (spec 16.6.2.10).

    Reads a challenge (at most ``HANDSHAKE_MAX_MESSAGE`` bytes) and answers
    in the dialect it asks for: ``{name}`` + HMAC for a challenge that
    names its digest, a raw HMAC-MD5 for a legacy one (or, if MD5 is not
    allowed, ``{sha256}`` + HMAC-SHA256, which a legacy peer will reject).
    Raises ``AuthenticationError`` if the message is not a challenge or the
    peer does not reply ``#WELCOME#``.
    """
    authkey = check_authkey(authkey)
    challenge = connection.recv_bytes(HANDSHAKE_MAX_MESSAGE)
    if not challenge.startswith(CHALLENGE):
        raise AuthenticationError('expected a %r message, got %d bytes starting %r'
                                  % (CHALLENGE, len(challenge), challenge[:16]))
    message = challenge[len(CHALLENGE):]
    asked, named = _asked_digest(message)
    digest = asked
    if asked == 'md5' and not (_md5_allowed(allow_md5) and _md5_available()):
        digest, named = 'sha256', True      # refused: a legacy peer will reject this
    mac = hmac.new(authkey, message, digest).digest()
    connection.send_bytes(b'{%s}' % digest.encode('ascii') + mac if named else mac)
    reply = connection.recv_bytes(HANDSHAKE_MAX_MESSAGE)
    if reply != WELCOME:
        why = 'digest sent was rejected'
        if digest != asked:
            why += (' (the peer asked for HMAC-MD5; this side does not use MD5 -- '
                    'allow_legacy_md5=False, or MD5 unavailable -- so it answered '
                    'with HMAC-SHA256)')
        raise AuthenticationError(why)


#: The spec's Python 2 spelling.
answerChallenge = answer_challenge


def check_authkey(authkey):
    """``authkey`` as ``bytes``; a ``TypeError`` saying what to write instead if it is not."""
    if isinstance(authkey, str):
        raise TypeError("authkey must be bytes, not str: in Python 3 write "
                        "b'secret password' (or encode the string)")
    if not isinstance(authkey, (bytes, bytearray)):
        raise TypeError('authkey must be bytes, not %s' % type(authkey).__name__)
    return bytes(authkey)


def _md5_allowed(allow_md5):
    return allow_legacy_md5 if allow_md5 is None else allow_md5


def _md5_available():
    """False where MD5 is disabled (a FIPS build of OpenSSL refuses it)."""
    try:
        hmac.new(b'key', b'', 'md5')
    except ValueError:
        return False
    return True


def _asked_digest(message):
    """``(digest, named)``: the digest a challenge ``message`` asks for.

    ``named`` is True for a ``{name}``-prefixed challenge (Python >= 3.12),
    answered ``{name}`` + HMAC; a legacy 20-byte challenge asks for a raw
    HMAC-MD5: ``('md5', False)``.  Anything else raises ``AuthenticationError``.
    """
    digest, _ = _split_digest_name(message, legacy_length=LEGACY_CHALLENGE_LENGTH)
    if digest is not None:
        return digest, True
    if len(message) != LEGACY_CHALLENGE_LENGTH:
        raise AuthenticationError('challenge names no digest and is not the %d-byte '
                                  'legacy kind' % LEGACY_CHALLENGE_LENGTH)
    return 'md5', False


def _split_digest_name(message, legacy_length):
    """``(name, rest)`` if ``message`` starts with ``{name}`` for a name in
    ``DIGESTS``; ``(None, message)`` if it is unprefixed.

    A message of exactly ``legacy_length`` bytes is always the legacy kind
    (as in CPython 3.12): its random bytes might happen to begin with ``{``,
    and no modern message has that length.
    """
    if len(message) != legacy_length and message.startswith(b'{'):
        end = message.find(b'}', 1, 2 + max(len(name) for name in DIGESTS))
        if end > 0:
            name = message[1:end].decode('ascii', 'replace')
            if name in DIGESTS:
                return name, message[end + 1:]
    return None, message


def _verify_answer(authkey, message, answer, md5_ok):
    """Raise ``AuthenticationError`` unless ``answer`` is HMAC(authkey, message)."""
    digest, mac = _split_digest_name(answer, legacy_length=LEGACY_ANSWER_LENGTH)
    if digest is None:
        if len(answer) != LEGACY_ANSWER_LENGTH:
            raise AuthenticationError('answer names no digest and is not a %d-byte '
                                      'legacy HMAC-MD5' % LEGACY_ANSWER_LENGTH)
        digest = 'md5'
    if digest == 'md5' and not md5_ok:
        raise AuthenticationError('the peer answered with HMAC-MD5, which is refused '
                                  '(allow_legacy_md5 is False)')
    try:
        expected = hmac.new(authkey, message, digest).digest()
    except ValueError:        # e.g. MD5 disabled in a FIPS build of OpenSSL
        raise AuthenticationError('digest %r is not available here' % digest) from None
    # compare_digest takes the same time wherever the first difference is,
    # so the timing of our reply does not reveal how much of a guess was right.
    if not hmac.compare_digest(expected, mac):
        raise AuthenticationError('digest received was wrong')



# ==========================================================================
# Part 3: Listeners and clients (spec 16.6.2.10)
# ==========================================================================
#
# A Listener is a bound, listening socket whose ``accept()`` returns a
# Connection; ``Client()`` connects to one.  Either end may first prove it
# knows a shared secret, the *authkey*, with the handshake of part 2.  The
# socket plumbing is the plain BSD one: socket, (setsockopt,) bind, listen,
# accept on one side; socket, connect on the other; then the connected
# socket's descriptor is detached into a Connection, so a socket end and a
# Pipe end are the same kind of object.

#: The families this platform can listen on.  ``'AF_PIPE'`` (Windows named
#: pipes) is never among them: mpref is POSIX-only.
families = ['AF_INET'] + (['AF_UNIX'] if hasattr(socket, 'AF_UNIX') else [])

#: The family used when neither an address nor a family is given: the
#: fastest available one.  A Unix domain socket never leaves the kernel --
#: no TCP/IP stack, no checksums -- so it wins wherever it exists.
default_family = 'AF_UNIX' if 'AF_UNIX' in families else 'AF_INET'

_NO_AF_PIPE = (
    "'AF_PIPE' (a Windows named pipe, address like r'\\\\.\\pipe\\Name') exists "
    "only on Windows, and mpref runs on POSIX systems.  Use 'AF_UNIX' (a "
    "filesystem path) or 'AF_INET' (a (host, port) tuple) instead.  (Any "
    "string starting with two backslashes is taken for an AF_PIPE address; "
    "pass family='AF_UNIX' if you really mean such a path.)")


class Listener:
    """A bound socket listening for connections (spec 16.6.2.10).

    ``address`` is where to listen: a ``(host, port)`` tuple for
    ``'AF_INET'`` (port 0 lets the OS pick a free port; read it back from
    ``address``) or a filesystem path for ``'AF_UNIX'``.  ``family`` may be
    omitted when it can be inferred from ``address`` (see
    ``address_type``); with neither, ``default_family`` is used and, for
    ``'AF_UNIX'``, a socket in a fresh private temporary directory, which
    ``close()`` removes along with the socket file.  ``backlog`` is passed
    to ``listen()``.

    Authentication: if ``authkey`` is given (bytes) or ``authenticate`` is
    true, every ``accept()`` runs the challenge/response handshake of
    ``deliver_challenge`` and ``answer_challenge`` with the client, using
    ``authkey`` or, if that is None, ``current_process().authkey``.  A client
    that fails it gets its connection closed, ``accept()`` raises
    ``AuthenticationError``, and the listener can accept the next client.

    ``handshake_timeout`` (keyword-only, beyond the spec): seconds the whole
    handshake with a client may take.  A client that connects and then says
    nothing (or trickles its answer) would otherwise hold ``accept()`` for
    ever; with a timeout it is dropped with ``AuthenticationError``.

    ``close()`` closes the socket (and removes an ``AF_UNIX`` socket file);
    it also happens when the Listener is garbage collected or at exit.  A
    Listener is a context manager (beyond the spec, Python 3.3).
    """

    def __init__(self, address=None, family=None, backlog=1, authenticate=False,
                 authkey=None, *, handshake_timeout=None):
        family = _choose_family(address, family)
        # Check the key before binding: a TypeError must not leave a socket behind.
        self._authkey = _resolve_authkey(authenticate, authkey)
        self._handshake_timeout = _check_timeout(handshake_timeout)
        self._last_accepted = None
        private_dir = None
        if address is None:
            address, private_dir = _arbitrary_address(family)
        sock = socket.socket(getattr(socket, family))
        try:
            _make_blocking(sock)
            if family == 'AF_INET':
                # Let a restarted server bind its port again at once, while
                # connections of the previous run are still in TIME_WAIT.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(backlog)
            self._address = sock.getsockname()
        except BaseException:
            sock.close()
            if private_dir is not None:
                shutil.rmtree(private_dir, ignore_errors=True)
            raise
        self._family = family
        self._socket = sock
        # A socket file outlives its socket: someone must unlink it (by its
        # absolute path: the working directory may change meanwhile).  Linux's
        # "abstract" addresses, starting with a NUL byte, have no file.
        path = None
        if family == 'AF_UNIX' and not _is_abstract(address):
            path = os.path.abspath(address)
        # The finalizer holds the socket, not the Listener, so it can run
        # when the Listener is collected.  It runs only in this process: a
        # forked child closing its copy must not delete the parent's file.
        self._cleanup = util.Finalize(self, _close_listening_socket,
                                      args=(sock, path, private_dir), exitpriority=0)
        util.sub_debug('listener bound to %r', self._address)

    def accept(self):
        """Wait for a client; return a ``Connection`` to it.

        If this Listener authenticates and the handshake fails, the
        client's connection is closed and ``AuthenticationError`` is raised.
        """
        if self._socket is None:
            raise OSError('listener is closed')
        sock, peer = self._socket.accept()
        _make_blocking(sock)
        # An AF_UNIX client normally has no address of its own ('').  The
        # spec says None when the address is unavailable; CPython gives ''.
        self._last_accepted = peer if peer not in ('', b'') else None
        conn = Connection(sock.detach())
        util.sub_debug('accepted a connection from %r', self._last_accepted)
        if self._authkey is not None:
            run_handshake(conn, self._authkey, deliver_first=True,
                          timeout=self._handshake_timeout)
        return conn

    def close(self):
        """Close the listening socket; remove the socket file of an ``AF_UNIX``
        listener (and its private directory, if mpref chose the address).

        Idempotent.  Also called when the Listener is garbage collected.
        """
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()           # in every process, the creator or a forked child
            self._cleanup()        # unlink the file: only in the creating process

    @property
    def address(self):
        """The address the Listener is bound to (with the real port for port 0)."""
        return self._address

    @property
    def last_accepted(self):
        """The address of the last accepted client, or None if unavailable."""
        return self._last_accepted

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = 'closed' if self._socket is None else 'listening'
        return '<%s.Listener %s %r %s>' % (__name__, self._family, self._address, state)


def Client(address, family=None, authenticate=False, authkey=None, *, handshake_timeout=None):
    """Connect to the Listener at ``address``; return a ``Connection``.

    ``family`` is usually inferred from ``address`` (see ``address_type``).
    If ``authkey`` is given (bytes) or ``authenticate`` is true, the client
    first answers the Listener's challenge and then challenges it back,
    with ``authkey`` or ``current_process().authkey``; a failure raises
    ``AuthenticationError``.  ``handshake_timeout`` as for ``Listener``
    (beyond the spec).
    """
    family = _choose_family(address, family)
    authkey = _resolve_authkey(authenticate, authkey)
    handshake_timeout = _check_timeout(handshake_timeout)
    with socket.socket(getattr(socket, family)) as sock:
        _make_blocking(sock)
        sock.connect(address)
        conn = Connection(sock.detach())
    if authkey is not None:
        run_handshake(conn, authkey, deliver_first=False, timeout=handshake_timeout)
    return conn


def address_type(address):
    """Return the family an address belongs to (spec 16.6.2.10.1).

    A tuple is ``'AF_INET'``; a string starting with two backslashes is
    ``'AF_PIPE'``; any other string (or bytes, for Linux's abstract
    namespace) is ``'AF_UNIX'``.
    """
    if isinstance(address, tuple):
        return 'AF_INET'
    if isinstance(address, str) and address.startswith('\\\\'):
        return 'AF_PIPE'
    if isinstance(address, (str, bytes)):
        return 'AF_UNIX'
    raise ValueError('address type of %r unrecognized: use a (host, port) tuple '
                     'for AF_INET or a filesystem path for AF_UNIX' % (address,))


def _choose_family(address, family):
    """The family to use for ``address``, checked against this platform."""
    if family is None:
        family = default_family if address is None else address_type(address)
    if family == 'AF_PIPE':
        raise ValueError(_NO_AF_PIPE)
    if family not in families:
        raise ValueError('family %r is not available here: choose one of %s'
                         % (family, ', '.join(repr(f) for f in families)))
    if address is not None:
        ok = (isinstance(address, tuple) if family == 'AF_INET'
              else isinstance(address, (str, bytes)))
        if not ok:
            raise ValueError('%r is not an %s address' % (address, family))
    return family


def _arbitrary_address(family):
    """An address for a Listener given none; and a directory to remove later."""
    if family == 'AF_INET':
        return ('localhost', 0), None      # port 0: the OS picks a free one
    # The spec asks for a private temporary directory: mode 0700, so no other
    # user can connect to (or replace) the socket inside it.
    private_dir = tempfile.mkdtemp(prefix='mpref-listener-')
    return os.path.join(private_dir, 'socket'), private_dir


def _is_abstract(address):
    return isinstance(address, (str, bytes)) and address[:1] in ('\0', b'\0')


def _close_listening_socket(sock, path, private_dir):
    sock.close()
    if path is not None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    if private_dir is not None:
        shutil.rmtree(private_dir, ignore_errors=True)


def _resolve_authkey(authenticate, authkey):
    """The key to authenticate with, or None for no authentication (spec rules)."""
    if authkey is None:
        return bytes(current_process().authkey) if authenticate else None
    return check_authkey(authkey)


def run_handshake(conn, authkey, deliver_first, timeout):
    """Run both challenges on a new connection; on failure close it and raise.

    The Listener challenges first, the Client second: each must prove it
    knows the key.  Any error on the way -- a wrong digest, a peer that hangs
    up, garbage, an oversized message, a handshake still unfinished after
    ``timeout`` seconds -- becomes ``AuthenticationError``, and the
    connection is closed.
    """
    watchdog = None if timeout is None else _HandshakeWatchdog(conn.fileno(), timeout)
    failure = None
    try:
        if deliver_first:
            deliver_challenge(conn, authkey)
            answer_challenge(conn, authkey)
        else:
            answer_challenge(conn, authkey)
            deliver_challenge(conn, authkey)
    except (AuthenticationError, OSError, EOFError) as exc:
        failure = exc
    finally:
        # Always stop the watchdog (also on Ctrl-C): once the connection is
        # closed its descriptor number may be reused by something else.
        timed_out = watchdog is not None and watchdog.stop()
    if failure is None and not timed_out:
        return
    conn.close()
    if timed_out:
        reason = 'not finished after %g seconds (handshake_timeout)' % timeout
    elif isinstance(failure, AuthenticationError):
        raise failure
    elif isinstance(failure, EOFError):
        reason = 'the peer closed the connection'
    else:
        reason = str(failure) or type(failure).__name__
    raise AuthenticationError('authentication handshake failed: ' + reason) from failure


def _check_timeout(timeout):
    """``handshake_timeout`` checked: None, or a finite number of seconds > 0."""
    if timeout is None:
        return None
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        raise TypeError('handshake_timeout must be a number of seconds or None, not %s'
                        % type(timeout).__name__) from None
    if not 0 < seconds < float('inf'):
        raise ValueError('handshake_timeout must be a positive, finite number of '
                         'seconds or None, not %r' % (timeout,))
    return seconds


class _HandshakeWatchdog:
    """Cut a socket off if its handshake takes longer than ``timeout`` seconds.

    The bound is on the *whole* handshake, not on each read: a peer that
    trickles one byte at a time cannot stretch it.  A timer thread waits for
    the deadline and then calls ``shutdown()`` on the socket, which wakes
    any read or write blocked on it (the read sees end of file), so the
    handshake fails wherever it was.  ``stop()`` disarms it and tells
    whether it fired.  (Connections use plain ``os.read``, so Python's
    ``socket.settimeout`` cannot help here.)
    """

    def __init__(self, fd, timeout):
        self._fd = fd
        self._fired = False
        self._lock = threading.Lock()        # stop() and the firing never overlap
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self):
        with self._lock:
            if self._fd is None:
                return                       # stopped just in time
            self._fired = True
            sock = socket.socket(fileno=self._fd)
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass                         # the peer is gone already
            finally:
                sock.detach()                # the Connection still owns the descriptor

    def stop(self):
        """Disarm; return True if the deadline had already passed."""
        with self._lock:
            self._fd = None
        self._timer.cancel()
        return self._fired
