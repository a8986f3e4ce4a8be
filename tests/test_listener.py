"""Listener, Client and the authentication handshake (spec 16.6.2.10, 16.6.2.11).

Chapter: ``notebooks/08_listeners_clients_auth.ipynb``.  The peer of every
blocking call runs in a thread (or an mpref child process) that is joined
with a timeout; hostile peers are raw sockets speaking the wire format by
hand.  Interoperation with the stdlib lives in ``test_interop.py``.
"""

import array
import gc
import hmac
import os
import shutil
import socket
import struct
import sys
import tempfile
import threading
import tracemalloc

import pytest

import mpref
from mpref import connection, exceptions, util
from mpref.connection import (AuthenticationError, Client, Listener, address_type,
                              answer_challenge, answerChallenge, deliver_challenge)

KEY = b'secret password'
WAIT = 10          # seconds: the bound on every wait in this file


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

class InThread:
    """Run ``fn(*args, **kwargs)`` in a daemon thread; ``result()`` joins with a timeout."""

    def __init__(self, fn, *args, **kwargs):
        self._outcome = {}
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs),
                                        daemon=True)
        self._thread.start()

    def _run(self, fn, args, kwargs):
        try:
            self._outcome['value'] = fn(*args, **kwargs)
        except BaseException as exc:          # handed to the test thread
            self._outcome['error'] = exc

    def result(self, timeout=WAIT):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), 'peer thread still blocked after %s s' % timeout
        if 'error' in self._outcome:
            raise self._outcome['error']
        return self._outcome['value']


def accept_when_ready(listener, timeout=WAIT):
    """``listener.accept()``, but fail instead of blocking if nobody connects."""
    assert util.wait_readable(listener._socket.fileno(), timeout), 'no client connected'
    return listener.accept()


def send_frame(sock, payload):
    sock.sendall(struct.pack('!i', len(payload)) + payload)


def recv_frame(sock):
    sock.settimeout(WAIT)
    header = _recv_exact(sock, 4)
    size, = struct.unpack('!i', header)
    return _recv_exact(sock, size)


def _recv_exact(sock, n):
    data = b''
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, 'peer closed the connection'
        data += chunk
    return data


@pytest.fixture
def short_dir():
    """A short private directory for AF_UNIX paths (they are limited to ~104 bytes)."""
    path = tempfile.mkdtemp(prefix='lst-')
    yield path
    shutil.rmtree(path, ignore_errors=True)


def echo_once(listener):
    with accept_when_ready(listener) as conn:
        conn.send(conn.recv())


def roundtrip(listener, **client_kwargs):
    server = InThread(echo_once, listener)
    with Client(listener.address, **client_kwargs) as conn:
        conn.send(['ping', 1.5])
        assert conn.poll(WAIT)
        assert conn.recv() == ['ping', 1.5]
    server.result()


# --------------------------------------------------------------------------
# Families and addresses (16.6.2.10.1)
# --------------------------------------------------------------------------

def test_af_inet_port_zero_gets_a_real_port():
    with Listener(('127.0.0.1', 0)) as listener:
        host, port = listener.address
        assert host == '127.0.0.1' and port > 0
        roundtrip(listener)


def test_af_inet_family_without_address_picks_localhost():
    with Listener(family='AF_INET') as listener:
        assert listener.address[0] == '127.0.0.1' and listener.address[1] > 0
        roundtrip(listener)


def test_af_unix_path_is_used_and_removed_on_close(short_dir):
    path = os.path.join(short_dir, 'sock')
    listener = Listener(path)
    assert listener.address == path and os.path.exists(path)
    roundtrip(listener)
    listener.close()
    assert not os.path.exists(path)
    listener.close()                    # idempotent


def test_default_is_af_unix_in_private_dir_removed_on_close():
    assert connection.default_family == 'AF_UNIX'
    listener = Listener()
    path = listener.address
    directory = os.path.dirname(path)
    assert address_type(path) == 'AF_UNIX'
    assert os.path.basename(directory).startswith('mpref-listener-')
    assert os.stat(directory).st_mode & 0o777 == 0o700       # private
    roundtrip(listener)
    listener.close()
    assert not os.path.exists(path) and not os.path.exists(directory)


def test_af_unix_family_without_address_is_private_too():
    with Listener(family='AF_UNIX') as listener:
        directory = os.path.dirname(listener.address)
        roundtrip(listener)
    assert not os.path.exists(directory)


@pytest.mark.parametrize('address', [r'\\.\pipe\PipeName', r'\\ServerName\pipe\PipeName'])
def test_af_pipe_address_raises_clear_value_error(address):
    assert address_type(address) == 'AF_PIPE'
    for make in (Listener, Client):
        with pytest.raises(ValueError, match='only on Windows'):
            make(address)


def test_af_pipe_family_raises_clear_value_error():
    with pytest.raises(ValueError, match="'AF_PIPE'.*only on Windows"):
        Listener(family='AF_PIPE')
    assert 'AF_PIPE' not in connection.families


def test_address_type_inference():
    assert address_type(('localhost', 6000)) == 'AF_INET'
    assert address_type('/tmp/some.sock') == 'AF_UNIX'
    assert address_type('relative/path') == 'AF_UNIX'
    assert address_type('\\\\.\\pipe\\x') == 'AF_PIPE'
    assert address_type('\\single\\backslash') == 'AF_UNIX'
    with pytest.raises(ValueError, match='unrecognized'):
        address_type(6000)


def test_explicit_af_unix_accepts_a_backslash_path(short_dir, monkeypatch):
    # "assumed by default" to be AF_PIPE: an explicit family overrides that.
    monkeypatch.chdir(short_dir)
    with Listener('\\\\odd name', family='AF_UNIX') as listener:
        assert os.path.exists(os.path.join(short_dir, '\\\\odd name'))
        roundtrip(listener, family='AF_UNIX')
    assert os.listdir(short_dir) == []


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason="Linux's abstract namespace")
def test_linux_abstract_address_has_no_file_to_remove():
    address = '\0mpref-test-%d' % os.getpid()
    with Listener(address) as listener:
        assert address_type(listener.address) == 'AF_UNIX'
        roundtrip(listener)


def test_relative_path_removed_even_after_chdir(short_dir, monkeypatch):
    monkeypatch.chdir(short_dir)
    listener = Listener('relative.sock')
    monkeypatch.chdir(tempfile.gettempdir())
    listener.close()
    assert os.listdir(short_dir) == []


def test_address_and_family_must_agree():
    with pytest.raises(ValueError, match='not an AF_INET address'):
        Listener('/tmp/x', family='AF_INET')
    with pytest.raises(ValueError, match='not an AF_UNIX address'):
        Client(('127.0.0.1', 1), family='AF_UNIX')
    with pytest.raises(ValueError, match='not available'):
        Listener(family='AF_SMOKE_SIGNALS')


def test_client_to_nowhere_raises_oserror(short_dir):
    with pytest.raises(OSError):
        Client(os.path.join(short_dir, 'nobody-here'))


def test_backlog_is_accepted():
    with Listener(('127.0.0.1', 0), backlog=5) as listener:
        clients = [Client(listener.address) for _ in range(3)]
        for c in clients:
            accept_when_ready(listener).close()
            c.close()


# --------------------------------------------------------------------------
# The Listener object
# --------------------------------------------------------------------------

def test_last_accepted_inet():
    with Listener(('127.0.0.1', 0)) as listener:
        assert listener.last_accepted is None
        with socket.create_connection(listener.address, timeout=WAIT) as raw:
            accept_when_ready(listener).close()
            assert listener.last_accepted == raw.getsockname()


def test_last_accepted_unix_is_none_when_client_has_no_address():
    with Listener() as listener:
        with Client(listener.address):
            accept_when_ready(listener).close()
        assert listener.last_accepted is None


def test_accept_returns_a_connection_and_client_too():
    with Listener() as listener:
        server = InThread(accept_when_ready, listener)
        with Client(listener.address) as c:
            s = server.result()
            assert isinstance(c, connection.Connection) and isinstance(s, connection.Connection)
            s.close()


def test_accept_after_close_raises():
    listener = Listener(('127.0.0.1', 0))
    listener.close()
    with pytest.raises(OSError, match='closed'):
        listener.accept()
    assert 'closed' in repr(listener)


def test_close_on_garbage_collection():
    listener = Listener()
    path, directory = listener.address, os.path.dirname(listener.address)
    inet = Listener(('127.0.0.1', 0))
    address = inet.address
    del listener, inet
    gc.collect()
    assert not os.path.exists(path) and not os.path.exists(directory)
    with pytest.raises(ConnectionRefusedError):
        Client(address)


def close_inherited_listener(listener):
    listener.close()


def test_forked_child_closing_its_copy_leaves_the_parents_socket_file():
    with Listener() as listener:
        p = mpref.get_context('fork').Process(target=close_inherited_listener, args=(listener,))
        p.start()
        p.join(WAIT)
        assert p.exitcode == 0
        assert os.path.exists(listener.address)
        roundtrip(listener)
    assert not os.path.exists(listener.address)


def test_af_inet_listener_sets_so_reuseaddr():
    with Listener(('127.0.0.1', 0)) as listener:
        assert listener._socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)


def test_context_manager_closes(short_dir):
    path = os.path.join(short_dir, 's')
    with Listener(path) as listener:
        assert 'listening' in repr(listener)
    assert not os.path.exists(path)


# --------------------------------------------------------------------------
# Authentication keys (16.6.2.11)
# --------------------------------------------------------------------------

def test_right_key():
    with Listener(('127.0.0.1', 0), authkey=KEY) as listener:
        roundtrip(listener, authkey=KEY)


def test_wrong_key_fails_at_both_ends():
    with Listener(('127.0.0.1', 0), authkey=KEY) as listener:
        server = InThread(listener.accept)
        with pytest.raises(AuthenticationError, match='digest sent was rejected'):
            Client(listener.address, authkey=b'not the password')
        with pytest.raises(AuthenticationError, match='digest received was wrong'):
            server.result()


def test_failed_handshake_leaves_listener_usable():
    with Listener(('127.0.0.1', 0), authkey=KEY) as listener:
        server = InThread(listener.accept)
        with pytest.raises(AuthenticationError):
            Client(listener.address, authkey=b'wrong')
        with pytest.raises(AuthenticationError):
            server.result()
        roundtrip(listener, authkey=KEY)


def test_authenticate_true_uses_current_process_authkey():
    with Listener(authenticate=True) as listener:
        roundtrip(listener, authenticate=True)
        roundtrip(listener, authkey=bytes(mpref.current_process().authkey))
        server = InThread(listener.accept)
        with pytest.raises(AuthenticationError):
            Client(listener.address, authkey=KEY)
        with pytest.raises(AuthenticationError):
            server.result()


def test_authkey_given_means_authenticate_even_if_authenticate_false():
    with Listener(authkey=KEY) as listener:
        server = InThread(listener.accept)
        # A client that does not authenticate reads the challenge as data.
        with Client(listener.address) as conn:
            assert conn.poll(WAIT)
            assert conn.recv_bytes().startswith(b'#CHALLENGE#')
        with pytest.raises(AuthenticationError):
            server.result()


def test_no_key_no_handshake():
    with Listener(authenticate=False) as listener:
        server = InThread(accept_when_ready, listener)
        with Client(listener.address) as conn:
            s = server.result()
            s.send_bytes(b'first message is data')
            assert conn.recv_bytes() == b'first message is data'
            s.close()


@pytest.mark.parametrize('bad', ['secret password', 42, ['k']])
def test_non_bytes_authkey_is_type_error(bad, short_dir):
    path = os.path.join(short_dir, 's')
    with pytest.raises(TypeError, match='authkey must be bytes'):
        Listener(path, authkey=bad)
    assert not os.path.exists(path)              # no socket left behind
    with pytest.raises(TypeError, match='authkey must be bytes'):
        Client(path, authkey=bad)
    a, b = mpref.Pipe()
    with a, b:
        with pytest.raises(TypeError, match='authkey must be bytes'):
            deliver_challenge(a, bad)
        with pytest.raises(TypeError, match='authkey must be bytes'):
            answer_challenge(a, bad)


def test_str_authkey_error_suggests_bytes():
    with pytest.raises(TypeError, match="b'secret password'"):
        Listener(authkey='secret password')


def test_bytearray_authkey_is_accepted():
    with Listener(authkey=bytearray(KEY)) as listener:
        roundtrip(listener, authkey=KEY)


def test_answer_challenge_spec_alias():
    assert answerChallenge is answer_challenge


def test_authentication_error_is_the_one_from_exceptions():
    assert connection.AuthenticationError is exceptions.AuthenticationError
    assert mpref.AuthenticationError is exceptions.AuthenticationError
    assert issubclass(AuthenticationError, mpref.ProcessError)


class Recorder:
    """Wrap a Connection and keep every message sent and received."""

    def __init__(self, conn):
        self.conn, self.sent, self.received = conn, [], []

    def send_bytes(self, data):
        self.sent.append(bytes(data))
        self.conn.send_bytes(data)

    def recv_bytes(self, maxlength=None):
        data = self.conn.recv_bytes(maxlength)
        self.received.append(data)
        return data


def test_challenge_functions_over_a_pipe_and_the_bytes_on_the_wire():
    a, b = mpref.Pipe()
    with a, b:
        challenger = Recorder(a)
        peer = InThread(answer_challenge, b, KEY)
        deliver_challenge(challenger, KEY)
        peer.result()
        challenge, = challenger.sent[:1]
        assert challenge.startswith(b'#CHALLENGE#{sha256}')
        assert len(challenge) == len(b'#CHALLENGE#{sha256}') + connection.CHALLENGE_LENGTH
        answer, = challenger.received
        expected = hmac.new(KEY, challenge[len(b'#CHALLENGE#'):], 'sha256').digest()
        assert answer == b'{sha256}' + expected
        assert challenger.sent[1:] == [b'#WELCOME#']


@pytest.mark.parametrize('digest', ['sha256', 'sha384', 'sha3_256', 'sha3_384', 'md5'])
def test_challenge_names_its_digest_and_the_answer_follows(digest):
    a, b = mpref.Pipe()
    with a, b:
        answerer = Recorder(b)
        peer = InThread(answer_challenge, answerer, KEY)
        deliver_challenge(a, KEY, digest=digest)
        peer.result()
        assert answerer.received[0].startswith(b'#CHALLENGE#{%s}' % digest.encode())
        assert answerer.sent[0].startswith(b'{%s}' % digest.encode())


def test_unknown_digest_is_value_error():
    a, b = mpref.Pipe()
    with a, b, pytest.raises(ValueError, match='digest must be one of'):
        deliver_challenge(a, KEY, digest='crc32')


def test_answer_challenge_rejects_a_non_challenge():
    a, b = mpref.Pipe()
    with a, b:
        a.send_bytes(b'hello, I am not a challenge')
        with pytest.raises(AuthenticationError, match='expected'):
            answer_challenge(b, KEY)


# --------------------------------------------------------------------------
# Hostile peers before authentication
# --------------------------------------------------------------------------

def test_garbage_instead_of_an_answer():
    with Listener(('127.0.0.1', 0), authkey=KEY) as listener:
        with socket.create_connection(listener.address, timeout=WAIT) as raw:
            send_frame(raw, b'this is not a digest at all')
            with pytest.raises(AuthenticationError, match='names no digest'):
                listener.accept()
            assert recv_frame(raw).startswith(b'#CHALLENGE#')
            assert recv_frame(raw) == b'#FAILURE#'
        roundtrip(listener, authkey=KEY)


def test_unframed_garbage():
    with Listener(('127.0.0.1', 0), authkey=KEY) as listener:
        with socket.create_connection(listener.address, timeout=WAIT) as raw:
            raw.sendall(b'GET / HTTP/1.0\r\n\r\n')      # the header reads as a huge length
            with pytest.raises(AuthenticationError, match='bad message length'):
                listener.accept()
        roundtrip(listener, authkey=KEY)


@pytest.mark.parametrize('header', [struct.pack('!i', 0x7fffffff),
                                    struct.pack('!iQ', -1, 2 ** 40)],
                         ids=['2GiB', 'escape-1TiB'])
def test_oversized_message_is_refused_without_allocating(header):
    with Listener(('127.0.0.1', 0), authkey=KEY) as listener:
        with socket.create_connection(listener.address, timeout=WAIT) as raw:
            raw.sendall(header + b'x' * 100)
            tracemalloc.start()
            try:
                with pytest.raises(AuthenticationError):
                    listener.accept()
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert peak < 1 << 20
        roundtrip(listener, authkey=KEY)


def test_oversized_challenge_is_refused_by_the_client():
    with socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        client = InThread(Client, server.getsockname(), authkey=KEY)
        raw, _ = server.accept()
        with raw:
            raw.sendall(struct.pack('!i', 10 ** 9))
            with pytest.raises(AuthenticationError, match='bad message length'):
                client.result()


def test_silent_peer_times_out_with_handshake_timeout():
    with Listener(('127.0.0.1', 0), authkey=KEY, handshake_timeout=0.3) as listener:
        with socket.create_connection(listener.address, timeout=WAIT):
            with pytest.raises(AuthenticationError, match='handshake_timeout'):
                listener.accept()
        roundtrip(listener, authkey=KEY)        # and the timeout does not hurt good clients


def test_peer_stopping_inside_a_message_times_out():
    with Listener(('127.0.0.1', 0), authkey=KEY, handshake_timeout=0.3) as listener:
        with socket.create_connection(listener.address, timeout=WAIT) as raw:
            raw.sendall(b'\x00\x00')              # half a header, then silence
            with pytest.raises(AuthenticationError, match='handshake_timeout'):
                listener.accept()


def test_handshake_timeout_bounds_the_whole_handshake_not_each_read():
    # A peer that trickles a (garbage) first message one byte at a time never
    # lets a single read wait long; the timeout still ends the handshake.
    with Listener(('127.0.0.1', 0), authkey=KEY, handshake_timeout=0.5) as listener:
        stop = threading.Event()
        sent = []

        def trickle():
            with socket.create_connection(listener.address, timeout=WAIT) as raw:
                raw.recv(1024)                           # the challenge
                for byte in struct.pack('!i', 200) + b'x' * 200:
                    if stop.wait(0.05):
                        return
                    try:
                        raw.sendall(bytes([byte]))
                    except OSError:
                        return                           # cut off by the listener
                    sent.append(byte)

        peer = InThread(trickle)
        with pytest.raises(AuthenticationError, match='handshake_timeout'):
            listener.accept()
        stop.set()
        peer.result()
        assert len(sent) < 204                           # cut off before the message was whole
        roundtrip(listener, authkey=KEY)


def test_handshake_timeout_is_lifted_after_authentication():
    with Listener(('127.0.0.1', 0), authkey=KEY, handshake_timeout=0.2) as listener:
        client = InThread(Client, listener.address, authkey=KEY)
        with listener.accept() as conn, client.result() as c:
            assert not conn.poll(0.5)          # quiet for longer than the timeout...
            c.send('late')
            assert conn.recv() == 'late'       # ...and the connection is still fine


def test_client_handshake_timeout_with_a_silent_server():
    with socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        with pytest.raises(AuthenticationError, match='handshake_timeout'):
            Client(server.getsockname(), authkey=KEY, handshake_timeout=0.3)


@pytest.mark.parametrize('bad', [0, -1, float('inf'), float('nan')])
def test_handshake_timeout_must_be_positive_and_finite(bad):
    with pytest.raises(ValueError, match='handshake_timeout'):
        Listener(authkey=KEY, handshake_timeout=bad)
    with pytest.raises(ValueError, match='handshake_timeout'):
        Client(('127.0.0.1', 1), authkey=KEY, handshake_timeout=bad)


def test_handshake_timeout_must_be_a_number():
    with pytest.raises(TypeError, match='handshake_timeout must be a number'):
        Listener(authkey=KEY, handshake_timeout='soon')


@pytest.mark.parametrize('authkey', [None, KEY])
def test_connections_block_whatever_the_default_socket_timeout(authkey):
    # socket.setdefaulttimeout() makes new sockets non-blocking; Connections
    # use os.read and must not inherit that (the stdlib resets it too).
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(0.5)
    try:
        with Listener(('127.0.0.1', 0), authkey=authkey) as listener:
            client = InThread(Client, listener.address, authkey=authkey)
            with accept_when_ready(listener) as server_end, client.result() as client_end:
                late = InThread(lambda: (threading.Event().wait(1.0), client_end.send('late')))
                assert server_end.recv() == 'late'       # blocks past the 0.5 s default
                late.result()
                assert os.get_blocking(server_end.fileno())
                assert os.get_blocking(client_end.fileno())
    finally:
        socket.setdefaulttimeout(previous)


def test_peer_hanging_up_mid_handshake():
    with Listener(('127.0.0.1', 0), authkey=KEY) as listener:
        with socket.create_connection(listener.address, timeout=WAIT):
            pass
        with pytest.raises(AuthenticationError, match='closed the connection'):
            listener.accept()
        roundtrip(listener, authkey=KEY)


# --------------------------------------------------------------------------
# The spec's example, with the client in a child process (fork and spawn)
# --------------------------------------------------------------------------

def spec_client(address, authkey):
    """The spec's client: receive an object, bytes, and bytes into an array;
    report what arrived back over the same connection."""
    conn = Client(address, authkey=authkey)
    obj = conn.recv()
    data = conn.recv_bytes()
    arr = array.array('i', [0, 0, 0, 0, 0])
    count = conn.recv_bytes_into(arr)
    conn.send((obj, data, count, arr.tolist()))
    conn.close()


def authenticate_true_client(address):
    with Client(address, authenticate=True) as conn:
        conn.send(conn.recv() * 2)


def test_spec_server_client_example(ctx):
    with Listener(('127.0.0.1', 0), authkey=KEY) as listener:
        p = ctx.Process(target=spec_client, args=(listener.address, KEY))
        p.start()
        try:
            conn = accept_when_ready(listener)
            assert listener.last_accepted[0] == '127.0.0.1'
            with conn:
                conn.send([2.25, None, 'junk', float])
                conn.send_bytes(b'hello')
                conn.send_bytes(array.array('i', [42, 1729]))
                assert conn.poll(WAIT)
                report = conn.recv()
        finally:
            p.join(WAIT)
    assert report == ([2.25, None, 'junk', float], b'hello', 8, [42, 1729, 0, 0, 0])
    assert p.exitcode == 0


def test_child_inherits_authkey_for_authenticate_true(ctx):
    with Listener(authenticate=True) as listener:
        p = ctx.Process(target=authenticate_true_client, args=(listener.address,))
        p.start()
        try:
            with accept_when_ready(listener) as conn:
                conn.send(21)
                assert conn.poll(WAIT)
                assert conn.recv() == 42
        finally:
            p.join(WAIT)
    assert p.exitcode == 0
