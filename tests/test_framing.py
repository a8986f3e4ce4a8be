"""Tests for ``mpref.framing``: ``Connection``, ``Pipe`` and ``wait``.

Spec 16.6.1.2 (pipes), 16.6.2.2 (``Pipe``), 16.6.2.4 (Connection objects).
Where the behaviour is observable, the stdlib ``multiprocessing.connection``
is the reference: same exceptions, and the very same bytes on the wire.
(Listeners, clients and authentication have their own test module.)
"""

import array
import gc
import os
import pickle
import socket
import struct
import threading
import time

import multiprocessing.connection as std_connection
import pytest

import mpref
from mpref import connection, framing
from mpref.benchmarks.connection import receive_peak_memory
from mpref.framing import Connection, Pipe, wait
from mpref.exceptions import BufferTooShort

# ---------------------------------------------------------------------------
# Helpers and process targets (module level: spawned children import them)
# ---------------------------------------------------------------------------


def send_spec_list(conn):
    """The spec's example child (16.6.1.2)."""
    conn.send([42, None, 'hello'])
    conn.close()


def echo_until_none(conn):
    """Send back every object received, until None."""
    while True:
        obj = conn.recv()
        if obj is None:
            break
        conn.send(obj)
    conn.close()


def report_end(conn, reply):
    """Report what kind of end ``conn`` is, as the child sees it."""
    reply.send((conn.readable, conn.writable, os.get_inheritable(conn.fileno())))
    if conn.writable:
        conn.send_bytes(b'from the child')
    else:
        reply.send(conn.recv_bytes())
    conn.close()
    reply.close()


@pytest.fixture
def duplex():
    a, b = Pipe()
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def oneway():
    r, w = Pipe(duplex=False)
    yield r, w
    r.close()
    w.close()


def raw_pipe():
    """An os.pipe() whose ends the test closes itself."""
    return os.pipe()


def _join(p):
    p.join(30)
    assert p.exitcode == 0, p


# ---------------------------------------------------------------------------
# The spec's examples
# ---------------------------------------------------------------------------


def test_spec_session(duplex):
    a, b = duplex
    a.send([1, 'hello', None])
    assert b.recv() == [1, 'hello', None]
    b.send_bytes(b'thank you')
    assert a.recv_bytes() == b'thank you'
    arr1 = array.array('i', range(5))
    arr2 = array.array('i', [0] * 10)
    a.send_bytes(arr1)
    count = b.recv_bytes_into(arr2)
    assert count == len(arr1) * arr1.itemsize
    assert arr2 == array.array('i', [0, 1, 2, 3, 4, 0, 0, 0, 0, 0])


def test_child_sends_the_spec_list(ctx):
    parent_conn, child_conn = ctx.Pipe()
    p = ctx.Process(target=send_spec_list, args=(child_conn,))
    p.start()
    child_conn.close()
    assert parent_conn.poll(30)
    assert parent_conn.recv() == [42, None, 'hello']
    with pytest.raises(EOFError):
        parent_conn.recv()          # the child closed its end and exited
    _join(p)
    parent_conn.close()


def test_child_echoes_objects_both_ways(ctx):
    parent_conn, child_conn = ctx.Pipe()
    p = ctx.Process(target=echo_until_none, args=(child_conn,))
    p.start()
    child_conn.close()
    for obj in [1, 'two', [3.0], {'four': 4}, b'x' * 100000, ('big', 'y' * 300000)]:
        parent_conn.send(obj)
        assert parent_conn.poll(30)
        assert parent_conn.recv() == obj
    parent_conn.send(None)
    _join(p)
    parent_conn.close()


@pytest.mark.parametrize('which', ['receiving', 'sending'])
def test_oneway_end_travels_with_its_direction(ctx, which):
    r, w = ctx.Pipe(duplex=False)
    reply_r, reply_w = ctx.Pipe(duplex=False)
    end = r if which == 'receiving' else w
    p = ctx.Process(target=report_end, args=(end, reply_w))
    p.start()
    reply_w.close()
    assert reply_r.poll(30)
    readable, writable, inheritable = reply_r.recv()
    assert (readable, writable) == (end.readable, end.writable)
    # A spawned child gets the descriptor at start-up and makes it private
    # again; a forked child inherits it exactly as the parent had it.
    assert inheritable is False
    if which == 'receiving':
        w.send_bytes(b'to the child')
        assert reply_r.poll(30)
        assert reply_r.recv() == b'to the child'
    else:
        assert r.poll(30)
        assert r.recv_bytes() == b'from the child'
    _join(p)
    for c in (r, w, reply_r):
        c.close()


# ---------------------------------------------------------------------------
# Pickling a Connection
# ---------------------------------------------------------------------------


def test_pickling_outside_spawning_is_refused(duplex):
    a, b = duplex
    with pytest.raises(RuntimeError, match='inherit'):
        pickle.dumps(a)


def test_sending_a_connection_fails_before_writing(duplex, oneway):
    a, b = duplex
    r, w = oneway
    with pytest.raises(RuntimeError):
        a.send(r)
    assert not b.poll()
    a.send('still fine')
    assert b.recv() == 'still fine'


# ---------------------------------------------------------------------------
# Pipe(duplex) and the direction of each end
# ---------------------------------------------------------------------------


def test_duplex_pipe_is_a_socket_pair(duplex):
    a, b = duplex
    for end in (a, b):
        assert end.readable and end.writable
        assert socket.socket(fileno=os.dup(end.fileno())).close() is None
    b.send('ping')
    assert a.recv() == 'ping'


def test_oneway_pipe_directions(oneway):
    r, w = oneway
    assert (r.readable, r.writable) == (True, False)
    assert (w.readable, w.writable) == (False, True)
    w.send('one way')
    assert r.recv() == 'one way'


@pytest.mark.parametrize('impl', ['mpref', 'stdlib'])
def test_wrong_direction_raises_oserror(impl):
    pipe = Pipe if impl == 'mpref' else std_connection.Pipe
    r, w = pipe(duplex=False)
    try:
        with pytest.raises(OSError, match='^connection is read-only'):
            r.send(1)
        with pytest.raises(OSError, match='^connection is read-only'):
            r.send_bytes(b'1')
        with pytest.raises(OSError, match='^connection is write-only'):
            w.recv()
        with pytest.raises(OSError, match='^connection is write-only'):
            w.recv_bytes()
        with pytest.raises(OSError, match='^connection is write-only'):
            w.recv_bytes_into(bytearray(10))
        with pytest.raises(OSError, match='^connection is write-only'):
            w.poll()
    finally:
        r.close()
        w.close()


def test_constructor_checks():
    with pytest.raises(ValueError):
        Connection(-1)
    r, w = raw_pipe()
    try:
        with pytest.raises(ValueError):
            Connection(r, readable=False, writable=False)
    finally:
        os.close(r)
        os.close(w)


# ---------------------------------------------------------------------------
# Closing
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('impl', ['mpref', 'stdlib'])
def test_closed_connection_raises(impl):
    pipe = Pipe if impl == 'mpref' else std_connection.Pipe
    a, b = pipe()
    assert not a.closed
    a.close()
    assert a.closed
    a.close()                       # idempotent
    for call in (lambda: a.send(1), lambda: a.recv(), lambda: a.send_bytes(b'x'),
                 lambda: a.recv_bytes(), lambda: a.recv_bytes_into(bytearray(4)),
                 lambda: a.poll(), lambda: a.fileno()):
        with pytest.raises(OSError, match='handle is closed'):
            call()
    b.close()


def test_context_manager_closes(duplex):
    a, b = duplex
    with a as same:
        assert same is a
    assert a.closed
    with pytest.raises(EOFError):
        b.recv()


def test_garbage_collection_closes_the_descriptor():
    a, b = Pipe()
    fd = a.fileno()
    del a
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)
    with pytest.raises(EOFError):
        b.recv()
    b.close()


def test_eof_only_after_pending_messages(oneway):
    r, w = oneway
    w.send('first')
    w.send_bytes(b'second')
    w.close()
    assert r.recv() == 'first'
    assert r.recv_bytes() == b'second'
    assert r.poll()                 # end of file counts as "something to read"
    with pytest.raises(EOFError):
        r.recv()
    with pytest.raises(EOFError):
        r.recv_bytes()
    with pytest.raises(EOFError):
        r.recv_bytes_into(bytearray(10))


# ---------------------------------------------------------------------------
# poll and wait
# ---------------------------------------------------------------------------


def test_poll_without_argument_returns_at_once(duplex):
    a, b = duplex
    assert a.poll() is False
    b.send(None)
    assert a.poll() is True
    assert a.poll() is True         # poll does not consume
    assert a.recv() is None
    assert a.poll() is False


def test_poll_with_timeout_waits(duplex):
    a, b = duplex
    t0 = time.monotonic()
    assert a.poll(0.2) is False
    assert time.monotonic() - t0 >= 0.15
    timer = threading.Timer(0.1, b.send, args=('late',))
    timer.start()
    try:
        assert a.poll(30) is True
        assert a.recv() == 'late'
    finally:
        timer.join(5)


def test_poll_none_waits_for_ever_until_data(duplex):
    a, b = duplex
    timer = threading.Timer(0.2, b.send_bytes, args=(b'now',))
    timer.start()
    try:
        assert a.poll(None) is True
        assert a.recv_bytes() == b'now'
    finally:
        timer.join(5)


def test_wait_returns_the_ready_objects(duplex, oneway):
    a, b = duplex
    r, w = oneway
    fd_r, fd_w = raw_pipe()
    try:
        assert wait([a, r, fd_r], timeout=0.05) == []
        b.send(1)
        os.write(fd_w, b'x')
        ready = wait([a, r, fd_r], timeout=5)
        assert sorted(map(id, ready)) == sorted(map(id, [a, fd_r]))
        w.send(2)
        assert set(map(id, wait([r], None))) == {id(r)}
    finally:
        os.close(fd_r)
        os.close(fd_w)


def test_wait_on_a_process_sentinel(ctx):
    parent_conn, child_conn = ctx.Pipe()
    p = ctx.Process(target=send_spec_list, args=(child_conn,))
    p.start()
    child_conn.close()
    ready = wait([p.sentinel], timeout=30)
    assert ready == [p.sentinel]
    assert parent_conn.recv() == [42, None, 'hello']
    _join(p)
    parent_conn.close()


# ---------------------------------------------------------------------------
# send_bytes bounds, recv_bytes maxlength, recv_bytes_into and BufferTooShort
# ---------------------------------------------------------------------------


def test_send_bytes_offset_and_size_count_bytes(duplex):
    a, b = duplex
    a.send_bytes(b'abcdefgh', 2)
    assert b.recv_bytes() == b'cdefgh'
    a.send_bytes(b'abcdefgh', 2, 3)
    assert b.recv_bytes() == b'cde'
    a.send_bytes(bytearray(b'abc'), 3)
    assert b.recv_bytes() == b''
    arr = array.array('i', [1, 2, 3])
    a.send_bytes(arr, arr.itemsize, arr.itemsize)
    assert b.recv_bytes() == array.array('i', [2]).tobytes()
    a.send_bytes(memoryview(b'xyz'))
    assert b.recv_bytes() == b'xyz'


@pytest.mark.parametrize('offset, size', [(-1, None), (9, None), (0, -1), (4, 5), (8, 1)])
def test_send_bytes_bounds_match_the_stdlib(duplex, offset, size):
    a, b = duplex
    with pytest.raises(ValueError) as ours:
        a.send_bytes(b'abcdefgh', offset, size)
    sa, sb = std_connection.Pipe()
    try:
        with pytest.raises(ValueError) as theirs:
            sa.send_bytes(b'abcdefgh', offset, size)
    finally:
        sa.close()
        sb.close()
    assert str(ours.value) == str(theirs.value)
    assert not b.poll()


@pytest.mark.parametrize('impl', ['mpref', 'stdlib'])
def test_recv_bytes_maxlength_too_small_kills_reading(impl):
    pipe = Pipe if impl == 'mpref' else std_connection.Pipe
    a, b = pipe()
    r, w = pipe(duplex=False)
    try:
        a.send_bytes(b'0123456789')
        a.send_bytes(b'fits')
        with pytest.raises(OSError, match='bad message length'):
            b.recv_bytes(5)
        assert not b.readable and not b.closed      # duplex: can still send
        b.send('still sending')
        assert a.recv() == 'still sending'
        with pytest.raises(OSError):
            b.recv_bytes()

        w.send_bytes(b'0123456789')
        with pytest.raises(OSError, match='bad message length'):
            r.recv_bytes(9)
        assert r.closed                             # receive-only: closed
    finally:
        for c in (a, b, r, w):
            c.close()


def test_recv_bytes_maxlength_exactly_enough(duplex):
    a, b = duplex
    a.send_bytes(b'12345')
    assert b.recv_bytes(5) == b'12345'
    with pytest.raises(ValueError, match='negative maxlength'):
        b.recv_bytes(-1)


def test_recv_bytes_into_offset(duplex):
    a, b = duplex
    buf = bytearray(b'..........')
    a.send_bytes(b'abc')
    assert b.recv_bytes_into(buf, 7) == 3
    assert buf == bytearray(b'.......abc')
    arr = array.array('h', [0] * 4)
    a.send_bytes(array.array('h', [7, 8]))
    assert b.recv_bytes_into(arr, 2) == 4           # offset in bytes
    assert arr == array.array('h', [0, 7, 8, 0])
    a.send_bytes(b'')
    assert b.recv_bytes_into(buf, len(buf)) == 0    # offset == length is allowed


@pytest.mark.parametrize('impl', ['mpref', 'stdlib'])
def test_recv_bytes_into_offset_bounds(impl):
    pipe = Pipe if impl == 'mpref' else std_connection.Pipe
    a, b = pipe()
    try:
        with pytest.raises(ValueError, match='negative offset'):
            b.recv_bytes_into(bytearray(4), -1)
        with pytest.raises(ValueError, match='offset too large'):
            b.recv_bytes_into(bytearray(4), 5)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize('impl', ['mpref', 'stdlib'])
@pytest.mark.parametrize('offset', [0, 3])
def test_buffer_too_short_carries_the_whole_message(impl, offset):
    pipe = Pipe if impl == 'mpref' else std_connection.Pipe
    too_short = BufferTooShort if impl == 'mpref' else std_connection.BufferTooShort
    a, b = pipe()
    try:
        message = bytes(range(40)) * 1000           # 40000 bytes: a "large" message
        a.send_bytes(message)
        a.send_bytes(b'next')
        buf = bytearray(offset + len(message) - 1)
        with pytest.raises(too_short) as info:
            b.recv_bytes_into(buf, offset)
        assert info.value.args[0] == message
        assert buf == bytearray(len(buf))           # nothing was written into it
        assert b.recv_bytes() == b'next'            # and the stream is intact
    finally:
        a.close()
        b.close()


def test_buffer_can_grow_while_buffer_too_short_is_handled(duplex):
    # The views recv_bytes_into() took of the array are released before the
    # exception leaves, so the handler may resize the array (as with the stdlib).
    a, b = duplex
    a.send_bytes(bytes(32))
    arr = array.array('i', [0, 0])
    try:
        b.recv_bytes_into(arr)
    except BufferTooShort as exc:
        arr.extend([0] * 6)                  # BufferError if a view were still alive
        message = exc.args[0]
    assert len(message) == 32 and len(arr) == 8


def test_non_contiguous_buffer_is_refused_before_anything_is_written(duplex):
    # A strided view cannot be written in one piece; if the header went out
    # first, the reader would wait for ever for the payload it announced.
    a, b = duplex
    for size in (100, 40000):                # the one-write path and the header+payload path
        with pytest.raises(BufferError, match='contiguous'):
            a.send_bytes(memoryview(bytes(size))[::2])
        assert not b.poll()
    a.send_bytes(b'still fine')
    assert b.recv_bytes() == b'still fine'


@pytest.mark.parametrize('length', [-2, -5, -2 ** 31])
def test_negative_length_header_is_a_clear_error(length):
    # Only -1 (the escape for long messages) is a valid negative header.
    for method in ('recv_bytes', 'recv', 'recv_bytes_into'):
        r, w = raw_pipe()
        os.write(w, struct.pack('!i', length) + b'junk')
        os.close(w)
        conn = Connection(r, writable=False)
        args = (bytearray(10),) if method == 'recv_bytes_into' else ()
        with pytest.raises(OSError, match='bad message length: the header announces %d'
                           % length):
            getattr(conn, method)(*args)
        assert conn.closed                   # a receive-only end with a corrupt stream is closed


def test_recv_bytes_into_needs_a_writable_buffer(duplex):
    a, b = duplex
    a.send_bytes(b'abc')
    with pytest.raises(TypeError):
        b.recv_bytes_into(b'read-only')


# ---------------------------------------------------------------------------
# Bad input: unpicklable objects, truncated messages
# ---------------------------------------------------------------------------


def test_unpicklable_object_writes_nothing(duplex):
    a, b = duplex
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        a.send(lambda: None)
    with pytest.raises(TypeError):
        a.send(threading.Lock())
    assert not b.poll()
    a.send('after the failure')
    assert b.recv() == 'after the failure'


@pytest.mark.parametrize('raw, expected, got', [
    (struct.pack('!i', 1000) + b'0123456789', 1000, 10),   # payload cut short
    (b'\x00\x00', 4, 2),                                   # header cut short
    (struct.pack('!i', -1) + b'\x00\x00\x00', 12, 7),      # long header cut short
])
def test_truncated_message_is_an_error(raw, expected, got):
    r, w = raw_pipe()
    os.write(w, raw)
    os.close(w)                     # the "peer" dies mid-message
    conn = Connection(r, writable=False)
    with pytest.raises(OSError, match='truncated message, expected %d bytes, got %d'
                       % (expected, got)):
        conn.recv_bytes()
    conn.close()


def test_corrupt_header_claiming_a_huge_length():
    # b'BBBB' read as a length is over a gigabyte: the reader must not try to
    # allocate it, only report the truncation when the bytes run out.
    r, w = raw_pipe()
    os.write(w, b'BBBB' + b'0123456789')
    os.close(w)
    conn = Connection(r, writable=False)
    with pytest.raises(OSError, match='expected %d bytes, got 10' % 0x42424242):
        conn.recv_bytes()
    conn.close()


@pytest.mark.parametrize('size', [16385, 20000, 65536, 100000, 100001])
def test_a_long_message_grows_its_buffer_in_steps(monkeypatch, duplex, size):
    # With a tiny first step the buffer doubles several times (and the last
    # step stops at the message's end): every byte still lands in place.
    monkeypatch.setattr(framing, '_FIRST_STEP', 1000)
    a, b = duplex
    message = os.urandom(size)
    sender = threading.Thread(target=a.send_bytes, args=(message,))
    sender.start()
    assert b.recv_bytes() == message
    sender.join()


def test_receiving_a_long_message_holds_about_one_copy_of_it():
    # Measured in a fresh interpreter (a forked child sends): the receiver's
    # peak resident memory and tracemalloc peak grow by about the payload,
    # not twice it (read into one buffer that becomes the returned bytes).
    size = 256 << 20
    result = receive_peak_memory(size, 'mpref')
    assert result['intact']
    assert result['traced'] < 1.3 * size, result
    assert result['rss'] < 1.3 * size, result


def test_truncated_message_into_buffer():
    r, w = raw_pipe()
    os.write(w, struct.pack('!i', 100) + b'x' * 30)
    os.close(w)
    conn = Connection(r, writable=False)
    with pytest.raises(OSError, match='expected 100 bytes, got 30'):
        conn.recv_bytes_into(bytearray(200))
    conn.close()


def test_truncated_message_from_a_dying_child(ctx):
    # A real peer killed mid-message: the child announces a long message and
    # sends only part of it, then dies (it stands for a process killed
    # while writing).
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=write_half_a_message, args=(w,))
    p.start()
    w.close()
    assert r.poll(30)
    with pytest.raises(OSError, match='truncated message'):
        r.recv()
    _join(p)
    r.close()


def write_half_a_message(conn):
    payload = pickle.dumps('z' * 5000)
    os.write(conn.fileno(), struct.pack('!i', len(payload)) + payload[:100])
    os._exit(0)


# ---------------------------------------------------------------------------
# Large messages
# ---------------------------------------------------------------------------


@pytest.mark.parametrize('duplex_pipe', [True, False])
def test_messages_larger_than_the_kernel_buffer(duplex_pipe):
    r, w = Pipe(duplex_pipe)
    message = os.urandom(3 * 1024 * 1024)
    sender = threading.Thread(target=lambda: (w.send_bytes(message), w.send(message)))
    sender.start()
    try:
        assert r.recv_bytes() == message
        assert r.recv() == message
        buf = bytearray(len(message) + 10)
        sender.join(30)
        sender = threading.Thread(target=w.send_bytes, args=(message,))
        sender.start()
        assert r.recv_bytes_into(buf, 10) == len(message)
        assert buf[10:] == message
    finally:
        sender.join(30)
        r.close()
        w.close()


# ---------------------------------------------------------------------------
# The wire format: byte for byte the stdlib's
# ---------------------------------------------------------------------------

MESSAGES = [
    ('bytes', b''),
    ('bytes', b'thank you'),
    ('bytes', bytes(range(256)) * 64),        # 16 KiB: still one write
    ('bytes', bytes(range(256)) * 100),       # over 16 KiB: header, then payload
    ('obj', [42, None, 'hello']),
    ('obj', {'nested': [(1, 2.5), {3}, frozenset('ab')], 'text': 'é' * 1000}),
    ('obj', 'x' * 100000),
]


def _write_with(conn, kind, value):
    if kind == 'bytes':
        conn.send_bytes(value)
    else:
        conn.send(value)


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)


def _wire_bytes(conn_class, messages):
    r, w = raw_pipe()
    writer = conn_class(w, readable=False)
    sender = threading.Thread(target=lambda: ([_write_with(writer, k, v) for k, v in messages],
                                              writer.close()))
    sender.start()
    try:
        return _read_all(r)
    finally:
        sender.join(30)
        os.close(r)


def test_wire_bytes_equal_the_stdlib():
    ours = _wire_bytes(Connection, MESSAGES)
    theirs = _wire_bytes(std_connection.Connection, MESSAGES)
    assert ours == theirs
    assert ours.startswith(b'\x00\x00\x00\x00' + struct.pack('!i', 9) + b'thank you')


def _pair(kind, first, second):
    """(conn of class `first`, conn of class `second`) joined by a pipe or socket pair."""
    if kind == 'socketpair':
        s1, s2 = socket.socketpair()
        return first(s1.detach()), second(s2.detach())
    r, w = raw_pipe()
    return first(w, readable=False), second(r, writable=False)


@pytest.mark.parametrize('kind', ['pipe', 'socketpair'])
@pytest.mark.parametrize('direction', ['mpref->stdlib', 'stdlib->mpref'])
def test_exchange_with_a_stdlib_connection(kind, direction):
    classes = [Connection, std_connection.Connection]
    if direction == 'stdlib->mpref':
        classes.reverse()
    sender, receiver = _pair(kind, *classes)
    done = threading.Event()

    def send_all():
        for k, v in MESSAGES:
            _write_with(sender, k, v)
        sender.send_bytes(array.array('i', range(5)))
        done.set()

    thread = threading.Thread(target=send_all)
    thread.start()
    try:
        for k, v in MESSAGES:
            assert (receiver.recv_bytes() if k == 'bytes' else receiver.recv()) == v
        arr = array.array('i', [0] * 10)
        assert receiver.recv_bytes_into(arr) == 20
        assert arr == array.array('i', [0, 1, 2, 3, 4, 0, 0, 0, 0, 0])
        if kind == 'socketpair':            # and back the other way
            receiver.send(('reply', 1))
            assert sender.recv() == ('reply', 1)
    finally:
        thread.join(30)
        sender.close()
        receiver.close()
    assert done.is_set()


@pytest.mark.parametrize('receiver_class', [Connection, std_connection.Connection])
def test_long_message_escape_is_understood(receiver_class):
    # Messages over 0x7fffffff bytes carry the header -1 and an 8-byte length.
    # Too big to send in a test, but any length may use the escape.
    r, w = raw_pipe()
    os.write(w, struct.pack('!i', -1) + struct.pack('!Q', 5) + b'hello')
    os.close(w)
    conn = receiver_class(r, writable=False)
    assert conn.recv_bytes() == b'hello'
    conn.close()


def test_long_message_escape_is_written(monkeypatch):
    # Pretend the 4-byte limit is 10 bytes to see the sender use the escape.
    monkeypatch.setattr(framing, '_MAX_SHORT_LENGTH', 10)
    monkeypatch.setattr(framing, 'SMALL_MESSAGE', 0)
    payload = b'more than ten bytes'
    raw = _wire_bytes(Connection, [('bytes', payload)])
    assert raw == b'\xff\xff\xff\xff' + struct.pack('!Q', len(payload)) + payload
    r, w = raw_pipe()
    os.write(w, raw)
    os.close(w)
    conn = std_connection.Connection(r, writable=False)
    assert conn.recv_bytes() == payload
    conn.close()


@pytest.mark.parametrize('pipe_impl', ['mpref', 'stdlib'])
def test_pipe_end_inherited_by_the_other_implementations_child(pipe_impl):
    # An mpref Pipe end inherited by a stdlib-forked child (and the other way
    # round), talking to the parent's end: the bytes are the same, so nobody notices.
    import multiprocessing
    if pipe_impl == 'mpref':
        a, b = Pipe()
        context = multiprocessing.get_context('fork')
    else:
        a, b = std_connection.Pipe()
        context = mpref.get_context('fork')
    p = context.Process(target=echo_until_none, args=(b,))
    p.start()
    b.close()
    try:
        a.send([42, None, 'hello'])
        assert a.poll(30)
        assert a.recv() == [42, None, 'hello']
        a.send(None)
    finally:
        p.join(30)
        a.close()
    assert p.exitcode == 0


def test_pipe_and_connection_are_exported():
    # The spec documents the class as multiprocessing.Connection.
    assert mpref.Pipe is Pipe
    assert mpref.Connection is Connection
    assert mpref.get_context('spawn').Pipe is Pipe


def test_the_spec_spellings_in_connection_are_the_framing_names():
    # The spec documents them as multiprocessing.connection.X; they live here.
    for name in ('Connection', 'Pipe', 'wait'):
        assert getattr(connection, name) is getattr(framing, name)
        assert name in connection.__all__


@pytest.mark.parametrize('impl', ['mpref', 'stdlib'])
def test_sending_to_a_closed_peer_is_broken_pipe(impl):
    pipe = Pipe if impl == 'mpref' else std_connection.Pipe
    for duplex_pipe in (True, False):
        a, b = pipe(duplex_pipe)
        receiver, sender = (a, b)
        receiver.close()
        with pytest.raises(BrokenPipeError):
            sender.send('nobody listens')
        sender.close()


def test_negative_poll_timeout_does_not_wait(duplex):
    a, b = duplex
    assert a.poll(-1) is False
    assert wait([a], timeout=-1) == []


HUGE_TIMEOUTS = [float('inf'), 1e7, 2.0 ** 31, 1e12, 1e300]


@pytest.mark.parametrize('timeout', HUGE_TIMEOUTS)
def test_poll_and_wait_take_any_large_timeout(duplex, timeout):
    # Today's stdlib raises OverflowError from wait() for all of these (and
    # from poll() for some); in mpref they mean "wait up to that long" and
    # inf means "no limit", like None.
    a, b = duplex
    b.send('ready')
    assert a.poll(timeout) is True
    assert wait([a], timeout) == [a]
    assert a.recv() == 'ready'


@pytest.mark.parametrize('timeout', HUGE_TIMEOUTS)
def test_a_large_timeout_still_waits_for_data_to_arrive(duplex, timeout):
    a, b = duplex
    timer = threading.Timer(0.1, b.send, args=('late',))
    timer.start()
    try:
        assert wait([a], timeout) == [a]
        assert a.poll(timeout) is True
        assert a.recv() == 'late'
    finally:
        timer.join(5)


@pytest.mark.parametrize('bad, error', [('1', TypeError), (True, TypeError),
                                        (float('nan'), ValueError)])
def test_poll_and_wait_refuse_a_timeout_that_is_not_a_number(duplex, bad, error):
    a, b = duplex
    with pytest.raises(error, match='timeout'):
        a.poll(bad)
    with pytest.raises(error, match='timeout'):
        wait([a], bad)


# ---------------------------------------------------------------------------
# recv_in_turn: one read for a message when the two ends take turns
# ---------------------------------------------------------------------------


def _count_reads(monkeypatch):
    reads = []

    def counting_read(fd, n):
        reads.append(n)
        return os.read(fd, n)
    monkeypatch.setattr(framing, '_read', counting_read)
    return reads


def test_recv_in_turn_takes_a_small_message_in_one_read(monkeypatch, duplex):
    a, b = duplex
    reads = _count_reads(monkeypatch)
    a.send(('#RETURN', [42, None, 'hello']))
    assert b.recv_in_turn() == ('#RETURN', [42, None, 'hello'])
    assert reads == [framing._READ_AHEAD]
    a.send('again')
    assert b.recv() == 'again'                  # recv: header, then payload
    assert len(reads) == 3


@pytest.mark.parametrize('size', [0, 100, 16385, 65536, 1 << 20])
def test_recv_in_turn_completes_a_message_that_did_not_arrive_whole(duplex, size):
    # A message over 16 KiB goes out as header, then payload; one over 64 KiB
    # cannot fit the first read.  A thread sends, so the reader may find any
    # part of it in the socket.
    a, b = duplex
    obj = b'x' * size
    sender = threading.Thread(target=a.send, args=(obj,))
    sender.start()
    try:
        assert b.recv_in_turn() == obj
    finally:
        sender.join(30)


def test_recv_in_turn_reads_a_stdlib_senders_split_message():
    a, b = std_connection.Pipe()
    ours = Connection(os.dup(b.fileno()))
    b.close()
    obj = list(range(20000))            # a pickle over 16 KiB: header and payload apart
    sender = threading.Thread(target=a.send, args=(obj,))
    sender.start()
    try:
        assert ours.recv_in_turn() == obj
    finally:
        sender.join(30)
        a.close()
        ours.close()


def test_recv_in_turn_reads_a_header_that_arrives_in_pieces():
    r, w = raw_pipe()
    payload = pickle.dumps('in pieces')
    raw = struct.pack('!i', len(payload)) + payload
    conn = Connection(r, writable=False)

    def trickle():
        os.write(w, raw[:2])
        time.sleep(0.1)
        os.write(w, raw[2:])
    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        assert conn.recv_in_turn() == 'in pieces'
    finally:
        sender.join(30)
        os.close(w)
        conn.close()


def test_recv_in_turn_understands_the_long_message_escape():
    r, w = raw_pipe()
    payload = pickle.dumps('escaped')
    os.write(w, struct.pack('!iQ', -1, len(payload)) + payload)
    os.close(w)
    conn = Connection(r, writable=False)
    assert conn.recv_in_turn() == 'escaped'
    with pytest.raises(EOFError):
        conn.recv_in_turn()
    conn.close()


def test_recv_in_turn_reports_a_truncated_message():
    r, w = raw_pipe()
    os.write(w, struct.pack('!i', 100) + b'x' * 30)
    os.close(w)
    conn = Connection(r, writable=False)
    with pytest.raises(OSError, match='expected 100 bytes, got 30'):
        conn.recv_in_turn()
    conn.close()


def test_recv_in_turn_refuses_two_messages_at_once(duplex):
    # The contract is broken: the read took the first message and part of the next.
    a, b = duplex
    a.send('one')
    a.send('two')
    with pytest.raises(OSError, match='out of step'):
        b.recv_in_turn()


def test_recv_in_turn_on_a_closed_or_write_only_end(oneway):
    r, w = oneway
    with pytest.raises(OSError, match='^connection is write-only'):
        w.recv_in_turn()
    r.close()
    with pytest.raises(OSError, match='handle is closed'):
        r.recv_in_turn()


# ---------------------------------------------------------------------------
# send_bytes_many and recv_bytes_by (beyond the spec: a queue's two ends)
# ---------------------------------------------------------------------------


def _assert_send_bytes_many_writes_what_a_send_bytes_each_would(payloads):
    r1, w1 = raw_pipe()
    r2, w2 = raw_pipe()
    one_by_one, many = Connection(w1, readable=False), Connection(w2, readable=False)
    for payload in payloads:
        one_by_one.send_bytes(payload)
    many.send_bytes_many(payloads)
    one_by_one.close()
    many.close()
    try:
        assert _read_all(r2) == _read_all(r1)
    finally:
        os.close(r1)
        os.close(r2)


def test_send_bytes_many_writes_what_a_send_bytes_each_would():
    _assert_send_bytes_many_writes_what_a_send_bytes_each_would(
        [b'', b'one', b'x' * 300, bytearray(b'four'), memoryview(b'fifth')])


def test_send_bytes_many_frames_a_buffer_of_wider_items_by_its_bytes():
    # send_bytes frames any buffer by its size in bytes (message_view); a
    # payload of 4-byte items must get the same header from send_bytes_many,
    # not one counting len() -- items -- that announces 2 bytes for 8.
    _assert_send_bytes_many_writes_what_a_send_bytes_each_would(
        [array.array('i', [1, 2]), b'next'])


def test_send_bytes_many_refuses_a_large_payload_before_writing_anything(oneway):
    r, w = oneway
    with pytest.raises(ValueError, match='at most %d bytes' % framing.SMALL_MESSAGE):
        w.send_bytes_many([b'small', b'x' * (framing.SMALL_MESSAGE + 1)])
    assert not r.poll(0)                     # not even the small one went out
    w.send_bytes_many([b'after'])
    assert r.recv_bytes() == b'after'


def test_send_bytes_many_on_a_closed_or_reading_end(oneway):
    r, w = oneway
    with pytest.raises(OSError, match='only receive'):
        r.send_bytes_many([b'x'])
    w.close()
    with pytest.raises(OSError, match='closed'):
        w.send_bytes_many([b'x'])


def _nonblocking_reader():
    r, w = raw_pipe()
    os.set_blocking(r, False)
    return Connection(r, writable=False), w


def test_recv_bytes_by_a_small_message_that_arrives_in_pieces():
    # The usual case reads header and payload in two reads; when only part
    # has come, what came is kept and the next call goes on from there.
    reader, w = _nonblocking_reader()
    try:
        framed = struct.pack('!i', 5) + b'hello'
        following = struct.pack('!i', 0)                 # an empty message
        for cut in ([2, 4, 6], [4], [7]):
            start = 0
            for end in cut:
                os.write(w, framed[start:end])
                assert reader.recv_bytes_by(time.monotonic() + 0.05) is None
                assert reader.in_message()
                start = end
            os.write(w, framed[start:] + following)
            assert reader.recv_bytes_by(time.monotonic() + 5) == b'hello'
            assert not reader.in_message()
            assert reader.recv_bytes_by(time.monotonic() + 5) == b''
        assert reader.recv_bytes_by(time.monotonic() + 0.05) is None
        assert not reader.in_message()                   # nothing arrived, nothing held
    finally:
        reader.close()
        os.close(w)


def test_recv_bytes_by_the_long_message_escape_and_a_corrupt_header():
    reader, w = _nonblocking_reader()
    try:
        os.write(w, struct.pack('!iQ', -1, 3) + b'abc')
        assert reader.recv_bytes_by(None) == b'abc'
        os.write(w, struct.pack('!i', -7))
        with pytest.raises(OSError, match='bad message length.*-7'):
            reader.recv_bytes_by(None)
    finally:
        reader.close()
        os.close(w)


def test_recv_bytes_by_an_end_of_file_between_or_inside_messages():
    reader, w = _nonblocking_reader()
    os.write(w, struct.pack('!i', 2) + b'ok')
    os.close(w)
    try:
        assert reader.recv_bytes_by(None) == b'ok'
        with pytest.raises(EOFError):
            reader.recv_bytes_by(None)
    finally:
        reader.close()
    reader, w = _nonblocking_reader()
    os.write(w, struct.pack('!i', 10) + b'cut')
    os.close(w)
    try:
        with pytest.raises(OSError, match='writer died mid-message.*expected 10 bytes, got 3'):
            reader.recv_bytes_by(None)
        assert not reader.in_message()
    finally:
        reader.close()
