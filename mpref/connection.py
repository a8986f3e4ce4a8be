"""Listeners, clients and authentication: sockets that hand out Connections, and
the HMAC handshake by which both ends prove they know a shared key (spec
16.6.2.10, 16.6.2.11).

Chapter: ``notebooks/08_listeners_clients_auth.ipynb``.

The module reads top to bottom in two parts, the second using the first:

1. The authentication handshake (``deliver_challenge``,
   ``answer_challenge``): HMAC challenge and answer over any Connection.
2. ``Listener`` and ``Client``: sockets that hand out Connections,
   authenticated with part 1.

The messages themselves -- ``Connection``, ``Pipe``, ``wait`` and the wire
format -- live one step below, in ``framing.py`` (chapter 2).  The spec documents
all of it as one module, ``multiprocessing.connection``, so this one re-exports
them: every name the spec spells ``multiprocessing.connection.X`` is
``mpref.connection.X``.  The split runs between the framing and the handshake,
so the setting ``allow_legacy_md5`` lives here, in the module whose functions
read it at each call: ``mpref.connection.allow_legacy_md5 = False`` takes
effect (it is no re-exported copy).
"""

import hmac
import os
import shutil
import socket
import tempfile
import threading

from . import util
from .exceptions import AuthenticationError, BufferTooShort
from .framing import Connection, Pipe, make_blocking, wait
from .process import current_process

__all__ = ['Connection', 'Pipe', 'wait', 'BufferTooShort', 'AuthenticationError',
           'deliver_challenge', 'answer_challenge', 'answerChallenge',
           'Listener', 'Client', 'families', 'default_family', 'address_type']


# ==========================================================================
# Part 1: The authentication handshake (spec 16.6.2.10, 16.6.2.11)
# ==========================================================================
#
# Both ends know a key; neither sends it.  The challenger sends a random
# message, the answerer returns HMAC(key, message), the challenger computes
# the same HMAC and compares.  A listener and a client do this twice, once in
# each direction, so both prove they know the key.  On the wire (each line is
# one framed message, see ``framing.py``)::
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
# Part 2: Listeners and clients (spec 16.6.2.10)
# ==========================================================================
#
# A Listener is a bound, listening socket whose ``accept()`` returns a
# Connection; ``Client()`` connects to one.  Either end may first prove it
# knows a shared secret, the *authkey*, with the handshake of part 1.  The
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
            make_blocking(sock)
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
        make_blocking(sock)
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
        make_blocking(sock)
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
