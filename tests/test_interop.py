"""mpref speaks CPython's wire protocol (issue 8; spec 16.6.2.4, 16.6.2.10, 16.6.2.11).

The running interpreter's own ``multiprocessing.connection`` -- a peer nobody
on this project wrote -- talks to mpref in both directions, over AF_INET on
127.0.0.1 and over AF_UNIX: objects, ``send_bytes``/``recv_bytes_into``, a
right key and a wrong key.  On Python <= 3.11 the stdlib speaks the legacy
HMAC-MD5 handshake; on 3.12+ the ``{sha256}`` one, and the tests below check
which dialect it used.  Scripted peers (raw sockets, HMACs computed by hand)
exercise both dialects whatever the interpreter.
"""

import array
import hmac
import multiprocessing
import multiprocessing.connection as std
import os
import pickle
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

import pytest

import mpref
from mpref import connection as mp
from mpref import util
from tests.test_listener import WAIT, InThread, Recorder, recv_frame, send_frame

KEY = b'shared secret'
STDLIB_MODERN = sys.version_info >= (3, 12)     # the stdlib negotiates {sha256}
IMPLEMENTATIONS = {'mpref': mp, 'stdlib': std}
ERRORS = {'mpref': mp.AuthenticationError, 'stdlib': multiprocessing.AuthenticationError}


@pytest.fixture(params=['AF_INET', 'AF_UNIX'])
def address(request):
    """A fresh address of each family (AF_UNIX in a short private directory)."""
    if request.param == 'AF_INET':
        yield ('127.0.0.1', 0)
        return
    directory = tempfile.mkdtemp(prefix='iop-')
    yield os.path.join(directory, 'sock')
    shutil.rmtree(directory, ignore_errors=True)


def serve_session(listener):
    """The server's half of a session: the spec's three messages out, two in."""
    with listener.accept() as conn:
        conn.send([2.25, None, 'junk', float])
        conn.send_bytes(b'hello')
        conn.send_bytes(array.array('i', [42, 1729]))
        assert conn.poll(WAIT)
        obj = conn.recv()
        buffer = array.array('d', [0.0] * 4)
        count = conn.recv_bytes_into(buffer, 8)
        return obj, count, buffer.tolist()


def client_session(conn):
    assert conn.poll(WAIT)
    got = conn.recv(), conn.recv_bytes()
    arr = array.array('i', [0, 0, 0, 0, 0])
    count = conn.recv_bytes_into(arr)
    conn.send({'from': 'client', 'values': (1, 2.5, 'three')})
    conn.send_bytes(array.array('d', [3.5, 7.25]))
    return got + (count, arr.tolist())


@pytest.mark.parametrize('server,client', [('mpref', 'stdlib'), ('stdlib', 'mpref')])
@pytest.mark.parametrize('authkey', [None, KEY], ids=['no-key', 'key'])
def test_session_between_implementations(server, client, authkey, address):
    listener = IMPLEMENTATIONS[server].Listener(address, authkey=authkey)
    try:
        served = InThread(serve_session, listener)
        with IMPLEMENTATIONS[client].Client(listener.address, authkey=authkey) as conn:
            received = client_session(conn)
        sent_back = served.result()
    finally:
        listener.close()
    assert received == ([2.25, None, 'junk', float], b'hello', 8, [42, 1729, 0, 0, 0])
    assert sent_back == ({'from': 'client', 'values': (1, 2.5, 'three')}, 16,
                         [0.0, 3.5, 7.25, 0.0])


@pytest.mark.parametrize('server,client', [('mpref', 'stdlib'), ('stdlib', 'mpref')])
def test_wrong_key_both_sides_raise_their_authentication_error(server, client, address):
    listener = IMPLEMENTATIONS[server].Listener(address, authkey=KEY)
    try:
        served = InThread(listener.accept)
        with pytest.raises(ERRORS[client]):
            IMPLEMENTATIONS[client].Client(listener.address, authkey=b'a wrong key')
        with pytest.raises(ERRORS[server]):
            served.result()
    finally:
        listener.close()


# --------------------------------------------------------------------------
# What the stdlib puts on the wire, seen by mpref (the dialect depends on
# the interpreter: this is where a 3.12+ stdlib exercises the negotiation)
# --------------------------------------------------------------------------

def check_stdlib_answer(answer, challenge_message):
    if STDLIB_MODERN:
        assert answer == b'{sha256}' + hmac.new(KEY, challenge_message, 'sha256').digest()
    else:
        # A 3.11 peer ignores the {sha256} it was sent and answers with MD5
        # over the whole message, which mpref accepts as the legacy dialect.
        assert answer == hmac.new(KEY, challenge_message, 'md5').digest()


def check_stdlib_challenge(challenge):
    assert challenge.startswith(b'#CHALLENGE#')
    message = challenge[len(b'#CHALLENGE#'):]
    if STDLIB_MODERN:
        assert message.startswith(b'{sha256}') and len(message) == 8 + 40
    else:
        assert len(message) == 20


def test_stdlib_client_handshake_bytes(address):
    with mp.Listener(address) as listener:           # no key: we run the handshake by hand
        stdlib_client = InThread(std.Client, listener.address, authkey=KEY)
        with listener.accept() as conn:
            wire = Recorder(conn)
            mp.deliver_challenge(wire, KEY)
            mp.answer_challenge(wire, KEY)
            with stdlib_client.result() as c:
                c.send('authenticated')
                assert conn.recv() == 'authenticated'
    our_challenge, _welcome, our_answer = wire.sent
    their_answer, their_challenge, _welcome_back = wire.received
    assert our_challenge.startswith(b'#CHALLENGE#{sha256}')
    check_stdlib_answer(their_answer, our_challenge[len(b'#CHALLENGE#'):])
    check_stdlib_challenge(their_challenge)
    if STDLIB_MODERN:
        assert our_answer.startswith(b'{sha256}') and len(our_answer) == 8 + 32
    else:
        assert len(our_answer) == 16                 # raw HMAC-MD5 for a legacy challenge


def test_stdlib_listener_handshake_bytes(address):
    with std.Listener(address, authkey=KEY) as listener:
        served = InThread(listener.accept)
        with mp.Client(listener.address) as conn:     # no key: by hand
            wire = Recorder(conn)
            mp.answer_challenge(wire, KEY)
            mp.deliver_challenge(wire, KEY)
            with served.result() as s:
                s.send('authenticated')
                assert conn.recv() == 'authenticated'
    their_challenge, _welcome, their_answer = wire.received
    our_answer, our_challenge, _ = wire.sent
    check_stdlib_challenge(their_challenge)
    check_stdlib_answer(their_answer, our_challenge[len(b'#CHALLENGE#'):])
    expected_digest = 'sha256' if STDLIB_MODERN else 'md5'
    mac = hmac.new(KEY, their_challenge[len(b'#CHALLENGE#'):], expected_digest).digest()
    assert our_answer == (b'{sha256}' + mac if STDLIB_MODERN else mac)


# --------------------------------------------------------------------------
# Scripted peers: both dialects, byte by byte, whatever the interpreter
# --------------------------------------------------------------------------

LEGACY = 'legacy'     # Python <= 3.11: 20 random bytes, raw 16-byte HMAC-MD5 answers
MODERN = 'modern'     # Python >= 3.12: {sha256} prefixes on challenge and answer


def scripted_answer(sock, dialect, key=KEY):
    """Answer mpref's challenge as a peer of ``dialect`` would; return the reply."""
    challenge = recv_frame(sock)
    assert challenge.startswith(b'#CHALLENGE#{sha256}')
    message = challenge[len(b'#CHALLENGE#'):]
    if dialect == LEGACY:
        send_frame(sock, hmac.new(key, message, 'md5').digest())
    else:
        send_frame(sock, b'{sha256}' + hmac.new(key, message, 'sha256').digest())
    return recv_frame(sock)


def scripted_challenge(sock, dialect):
    """Challenge mpref as a peer of ``dialect`` would; check and return its answer."""
    if dialect == LEGACY:
        message = os.urandom(20)
    else:
        message = b'{sha256}' + os.urandom(40)
    send_frame(sock, b'#CHALLENGE#' + message)
    answer = recv_frame(sock)
    if dialect == LEGACY:
        ok = answer == hmac.new(KEY, message, 'md5').digest()
    else:
        ok = answer == b'{sha256}' + hmac.new(KEY, message, 'sha256').digest()
    send_frame(sock, b'#WELCOME#' if ok else b'#FAILURE#')
    return answer, ok


@pytest.mark.parametrize('dialect', [LEGACY, MODERN])
def test_scripted_client_against_mpref_listener(dialect):
    with mp.Listener(('127.0.0.1', 0), authkey=KEY) as listener:
        with socket.create_connection(listener.address, timeout=WAIT) as raw:
            served = InThread(listener.accept)
            assert scripted_answer(raw, dialect) == b'#WELCOME#'
            answer, ok = scripted_challenge(raw, dialect)
            assert ok, answer
            with served.result() as conn:
                conn.send(('after', 'handshake'))
                assert pickle.loads(recv_frame(raw)) == ('after', 'handshake')


@pytest.mark.parametrize('dialect', [LEGACY, MODERN])
def test_scripted_server_against_mpref_client(dialect):
    with socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        client = InThread(mp.Client, server.getsockname(), authkey=KEY)
        raw, _ = server.accept()
        with raw:
            answer, ok = scripted_challenge(raw, dialect)
            assert ok, answer
            assert scripted_answer(raw, dialect) == b'#WELCOME#'
            with client.result() as conn:
                send_frame(raw, pickle.dumps([1, 2, 3]))
                assert conn.recv() == [1, 2, 3]


@pytest.mark.parametrize('dialect', [LEGACY, MODERN])
def test_scripted_client_with_wrong_key_gets_failure(dialect):
    with mp.Listener(('127.0.0.1', 0), authkey=KEY) as listener:
        with socket.create_connection(listener.address, timeout=WAIT) as raw:
            served = InThread(listener.accept)
            assert scripted_answer(raw, dialect, key=b'guess') == b'#FAILURE#'
            with pytest.raises(mp.AuthenticationError, match='digest received was wrong'):
                served.result()


def test_md5_answer_in_prefixed_form_is_accepted():
    with mp.Listener(('127.0.0.1', 0), authkey=KEY) as listener:
        with socket.create_connection(listener.address, timeout=WAIT) as raw:
            served = InThread(listener.accept)
            message = recv_frame(raw)[len(b'#CHALLENGE#'):]
            send_frame(raw, b'{md5}' + hmac.new(KEY, message, 'md5').digest())
            assert recv_frame(raw) == b'#WELCOME#'
            scripted_challenge(raw, MODERN)
            served.result().close()


# --------------------------------------------------------------------------
# Refusing MD5
# --------------------------------------------------------------------------

@pytest.fixture
def no_md5(monkeypatch):
    monkeypatch.setattr(mp, 'allow_legacy_md5', False)


def test_refusing_md5_rejects_a_legacy_answer(no_md5):
    with mp.Listener(('127.0.0.1', 0), authkey=KEY) as listener:
        with socket.create_connection(listener.address, timeout=WAIT) as raw:
            served = InThread(listener.accept)
            assert scripted_answer(raw, LEGACY) == b'#FAILURE#'
            with pytest.raises(mp.AuthenticationError, match='HMAC-MD5.*refused'):
                served.result()
        # The modern dialect still works.
        with socket.create_connection(listener.address, timeout=WAIT) as raw:
            served = InThread(listener.accept)
            assert scripted_answer(raw, MODERN) == b'#WELCOME#'
            assert scripted_challenge(raw, MODERN)[1]
            served.result().close()


def test_refusing_md5_answers_a_legacy_challenge_with_sha256(no_md5):
    with socket.socket() as server:
        server.bind(('127.0.0.1', 0))
        server.listen(1)
        client = InThread(mp.Client, server.getsockname(), authkey=KEY)
        raw, _ = server.accept()
        with raw:
            answer, ok = scripted_challenge(raw, LEGACY)
            assert not ok and answer.startswith(b'{sha256}')
            with pytest.raises(mp.AuthenticationError, match='allow_legacy_md5=False'):
                client.result()


def test_allow_md5_argument_overrides_the_module_setting(no_md5):
    for allow_md5, expected in [(False, b'{sha256}' + hmac.new(KEY, bytes(20), 'sha256').digest()),
                                (True, hmac.new(KEY, bytes(20), 'md5').digest())]:
        a, b = mpref.Pipe()
        with a, b:
            answerer = InThread(mp.answer_challenge, b, KEY, allow_md5=allow_md5)
            a.send_bytes(b'#CHALLENGE#' + bytes(20))          # a legacy challenge
            assert a.poll(WAIT) and a.recv_bytes() == expected
            a.send_bytes(b'#WELCOME#')
            answerer.result()


def test_md5_unavailable_behaves_as_refused(monkeypatch):
    """A FIPS build of OpenSSL disables MD5: hmac.new(..., 'md5') raises ValueError."""
    real_new = hmac.new

    def new_without_md5(key, msg=None, digestmod=''):
        if digestmod == 'md5':
            raise ValueError('unsupported hash type md5')
        return real_new(key, msg, digestmod)

    monkeypatch.setattr(hmac, 'new', new_without_md5)
    a, b = mpref.Pipe()
    with a, b:
        answerer = InThread(mp.answer_challenge, b, KEY)
        a.send_bytes(b'#CHALLENGE#' + bytes(20))
        assert a.poll(WAIT)
        assert a.recv_bytes() == b'{sha256}' + real_new(KEY, bytes(20), 'sha256').digest()
        a.send_bytes(b'#FAILURE#')
        with pytest.raises(mp.AuthenticationError, match='MD5 unavailable'):
            answerer.result()
        challenger = InThread(mp.deliver_challenge, a, KEY)
        assert b.poll(WAIT)
        message = b.recv_bytes()[len(b'#CHALLENGE#'):]
        b.send_bytes(real_new(KEY, message, 'md5').digest())
        assert b.poll(WAIT) and b.recv_bytes() == b'#FAILURE#'
        with pytest.raises(mp.AuthenticationError, match='not available'):
            challenger.result()


@pytest.mark.parametrize('md5_usable', [False, True])
def test_a_challenge_naming_md5_is_answered_by_one_rule(monkeypatch, md5_usable):
    # '{md5}' named by the challenger: answered with '{md5}' + HMAC-MD5 where
    # MD5 is allowed and available, else with '{sha256}' (the peer rejects it).
    monkeypatch.setattr(mp, '_md5_available', lambda: md5_usable)
    message = b'{md5}' + bytes(40)
    digest = 'md5' if md5_usable else 'sha256'
    a, b = mpref.Pipe()
    with a, b:
        answerer = InThread(mp.answer_challenge, b, KEY)
        a.send_bytes(b'#CHALLENGE#' + message)
        assert a.poll(WAIT)
        assert a.recv_bytes() == b'{%s}' % digest.encode() + hmac.new(KEY, message, digest).digest()
        a.send_bytes(b'#WELCOME#' if md5_usable else b'#FAILURE#')
        if md5_usable:
            answerer.result()
        else:
            with pytest.raises(mp.AuthenticationError, match='MD5 unavailable'):
                answerer.result()


@pytest.mark.skipif(not STDLIB_MODERN, reason='a <= 3.11 stdlib can only answer with MD5')
def test_refusing_md5_still_talks_to_a_modern_stdlib(no_md5, address):
    with mp.Listener(address, authkey=KEY) as listener:
        served = InThread(serve_session, listener)
        with std.Client(listener.address, authkey=KEY) as conn:
            client_session(conn)
        served.result()


@pytest.mark.skipif(STDLIB_MODERN, reason='a 3.12+ stdlib answers with SHA-256')
def test_refusing_md5_locks_out_a_legacy_stdlib(no_md5, address):
    with mp.Listener(address, authkey=KEY) as listener:
        served = InThread(listener.accept)
        with pytest.raises(multiprocessing.AuthenticationError):
            std.Client(listener.address, authkey=KEY)
        with pytest.raises(mp.AuthenticationError, match='refused'):
            served.result()


# --------------------------------------------------------------------------
# Pipe ends shared between the two implementations' processes (fork)
# --------------------------------------------------------------------------

def child_speaks_on(fd, impl):
    """Run in a child started by ``impl``: talk through ``impl``'s Connection on ``fd``."""
    conn = IMPLEMENTATIONS[impl].Connection(os.dup(fd))
    conn.send(('%s child' % impl, [1.5, None]))
    conn.send_bytes(array.array('i', [7, 8, 9]))
    conn.send(conn.recv() + 1)
    conn.close()


@pytest.mark.filterwarnings('ignore::DeprecationWarning')    # 3.12+: fork with threads
@pytest.mark.parametrize('parent,child', [('mpref', 'stdlib'), ('stdlib', 'mpref')])
def test_pipe_end_spoken_by_the_other_implementation(parent, child):
    ours, theirs = IMPLEMENTATIONS[parent].Pipe()
    starter = mpref if child == 'mpref' else multiprocessing
    p = starter.get_context('fork').Process(target=child_speaks_on,
                                            args=(theirs.fileno(), child))
    p.start()
    try:
        theirs.close()
        assert ours.poll(WAIT)
        assert ours.recv() == ('%s child' % child, [1.5, None])
        arr = array.array('i', [0] * 4)
        assert ours.recv_bytes_into(arr) == 12 and arr.tolist() == [7, 8, 9, 0]
        ours.send(41)
        assert ours.poll(WAIT) and ours.recv() == 42
    finally:
        ours.close()
        p.join(WAIT)
    assert p.exitcode == 0


def test_framing_header_is_cpythons():
    a, b = mpref.Pipe()
    with a, b:
        a.send_bytes(b'abc')
        with socket.socket(fileno=os.dup(b.fileno())) as raw:
            raw.settimeout(WAIT)
            assert raw.recv(16) == struct.pack('!i', 3) + b'abc'


# --------------------------------------------------------------------------
# Another generation of CPython, for real (skipped unless one is found)
# --------------------------------------------------------------------------
#
# The stdlib of the interpreter running the suite speaks one dialect.  To see
# the other one from a real CPython, list interpreters in MPREF_INTEROP_PYTHONS
# (separated by os.pathsep), e.g. a 3.12 when the suite runs on 3.11; any
# python3.N on PATH that runs is tried too.

_PEER_CLIENT = '''
import sys, multiprocessing.connection as c
conn = c.Client((sys.argv[1], int(sys.argv[2])), authkey=sys.argv[3].encode())
conn.send(('hello from', tuple(sys.version_info[:2]), conn.recv()))
conn.close()
'''


def _other_pythons():
    candidates = [p for p in os.environ.get('MPREF_INTEROP_PYTHONS', '').split(os.pathsep) if p]
    candidates += [shutil.which('python3.%d' % minor) for minor in range(10, 16)]
    found = {}
    for path in filter(None, candidates):
        try:
            out = subprocess.run([path, '-c', 'import sys; print(sys.version_info[1])'],
                                 capture_output=True, text=True, timeout=WAIT)
        except (OSError, subprocess.SubprocessError):
            continue
        if out.returncode == 0 and int(out.stdout) != sys.version_info[1]:
            found.setdefault(int(out.stdout), path)
    return [found[minor] for minor in sorted(found)]


@pytest.mark.parametrize('python', _other_pythons() or [None])
def test_stdlib_client_of_another_python_version(python):
    if python is None:
        pytest.skip('no other CPython found (set MPREF_INTEROP_PYTHONS)')
    with mp.Listener(('127.0.0.1', 0)) as listener:
        host, port = listener.address
        peer = InThread(subprocess.run, [python, '-c', _PEER_CLIENT, host, str(port), KEY.decode()],
                        capture_output=True, text=True, timeout=3 * WAIT)
        assert util.wait_readable(listener._socket.fileno(), 3 * WAIT)
        with listener.accept() as conn:
            wire = Recorder(conn)
            mp.deliver_challenge(wire, KEY)
            mp.answer_challenge(wire, KEY)
            conn.send('from mpref')
            assert conn.poll(3 * WAIT)
            greeting, version, echoed = conn.recv()
        result = peer.result(3 * WAIT)
    assert result.returncode == 0, result.stderr
    assert (greeting, echoed) == ('hello from', 'from mpref')
    their_answer, their_challenge, _ = wire.received
    message = their_challenge[len(b'#CHALLENGE#'):]
    if version >= (3, 12):
        assert their_answer.startswith(b'{sha256}') and len(their_answer) == 40
        assert message.startswith(b'{sha256}')
        assert wire.sent[2] == b'{sha256}' + hmac.new(KEY, message, 'sha256').digest()
    else:
        assert len(their_answer) == 16 and len(message) == 20
        assert wire.sent[2] == hmac.new(KEY, message, 'md5').digest()
