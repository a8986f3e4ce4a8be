"""Managers: a server process that owns shared objects (spec 16.6.1.4, 16.6.2.7).

Chapter: ``notebooks/06_managers_and_proxies.ipynb``.  The proxies -- the
client side -- live in ``proxies.py``; ``docs/managers.md`` follows one proxy
call from the caller to the referent and back.

A *manager* controls a *server*: a process holding ordinary Python objects,
the *referents*, and serving method calls on them to other processes, which
hold *proxies*::

    client process                            manager (server) process
    --------------                            ------------------------
    proxy._callmethod('append', (4,))
        -- (id, 'append', (4,), {}) -------->  serve_client thread for this
                                               client: id_to_obj[id].append(4)
        <------------- ('#RETURN', None) ----
                                               id_to_obj: {id: (referent,
                                                  exposed names, method_to_typeid)}
                                               id_to_refcount: {id: number of
                                                  proxies in all processes}

The server listens on an authenticated ``Listener`` address.  Every incoming
connection gets its own thread, which first runs the authentication
handshake (bounded in time, so a silent client only ever costs one idle
thread) and then handles one request ``(None, funcname, args, kwds)`` for one
of the server's public functions (``PUBLIC``): ``create`` a referent,
``incref``/``decref`` it, ``shutdown`` the server, ... -- or
``accept_connection``, which turns the connection into a long-lived channel
serving every proxy call one thread of one client process makes.  Replies
are ``('#RETURN', result)``, ``('#ERROR', exception)`` (the referent raised),
``('#TRACEBACK', text)`` (anything else went wrong in the server),
``('#PROXY', (exposed, token))`` (the result is itself shared) or
``('#UNSERIALIZABLE', text)``.  These messages are exactly CPython's, so a
stdlib ``multiprocessing.managers`` client can talk to an mpref server and
the other way round (``docs/differences.md`` lists what cannot cross).

Lifetime: ``BaseManager.start()`` runs the server in a child process and
registers a finalizer that sends ``shutdown`` when the manager is garbage
collected or its creator exits.  The child also holds the read end of a
pipe (the *lifeline*) whose write end only the creator keeps: if the creator
dies without saying goodbye (SIGKILL), the pipe reaches end of file and the
server shuts itself down -- no orphaned server, socket file or temp dir.
"""

import array
import functools
import os
import pickle
import queue
import shutil
import signal
import socket
import threading
import traceback

from . import util
from .connection import Client, Listener, Pipe, check_authkey, run_handshake
from .exceptions import AuthenticationError, ProcessError
from .process import AuthenticationString, Process, current_process
from .proxies import (AcquirerProxy, ArrayProxy, AutoProxy, BaseProxy, ConditionProxy,
                      DictProxy, EventProxy, IteratorProxy, ListProxy, NamespaceProxy,
                      RemoteError, Token, ValueProxy, connect_to_server, dispatch,
                      forget_address, recv_in_turn, set_local_server)

__all__ = ['BaseManager', 'SyncManager', 'BaseProxy', 'Token', 'Server', 'RemoteError',
           'Manager', 'Namespace', 'Value', 'Array', 'dispatch', 'public_methods']

#: Seconds a new connection has to finish the authentication handshake.  A
#: client that connects and says nothing is then dropped; meanwhile it
#: occupies only its own thread, never the accepting one.
HANDSHAKE_TIMEOUT = 20.0

#: Seconds ``shutdown()`` waits for the server process after asking it to
#: stop, before it uses ``terminate()``.
SHUTDOWN_TIMEOUT = 2.0


def Manager(ctx=None):
    """Return a started ``SyncManager`` (spec 16.6.2.7).

    Its server process shuts down when the manager is garbage collected or
    the creating process exits (and, beyond the spec, when the creating
    process is killed).  ``ctx`` (beyond the spec): a ``get_context()``
    object choosing the server's start method.
    """
    manager = SyncManager(ctx=ctx)
    manager.start()
    return manager


def public_methods(obj):
    """The names a proxy may call by default: callable attributes not starting with '_'."""
    return [name for name in dir(obj)
            if not name.startswith('_') and callable(getattr(obj, name, None))]


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------

class Server:
    """The server a manager controls: referents and the threads serving them.

    ``registry`` maps a typeid to ``(callable, exposed, method_to_typeid,
    proxytype)`` (see ``BaseManager.register``).  The server listens on
    ``address`` (None: a Unix socket in this process's temporary directory)
    and accepts only clients that know ``authkey``.  ``serve_forever()``
    runs it; ``address`` is where it listens (spec 16.6.2.7).
    """

    #: The functions a client may ask for on a fresh connection.
    PUBLIC = ('shutdown', 'create', 'accept_connection', 'get_methods', 'debug_info',
              'number_of_objects', 'dummy', 'incref', 'decref')

    def __init__(self, registry, address, authkey, serializer='pickle', lifeline=None):
        _check_serializer(serializer)
        self.registry = registry
        self.authkey = AuthenticationString(check_authkey(authkey))
        if address is None:
            # In the spec's logging session the socket sits in the manager's
            # temporary directory ("created temp directory ..."), removed at exit.
            address = os.path.join(util.get_temp_dir(), 'listener-%s' % os.urandom(4).hex())
        # No authkey here: the handshake runs in each connection's own thread
        # (``_handle_request``), so a slow client never holds up ``accept()``.
        self.listener = Listener(address=address, backlog=16)
        self.address = self.listener.address
        self.id_to_obj = {}
        self.id_to_refcount = {}
        self.mutex = threading.Lock()            # guards the two tables above
        self.stop_event = threading.Event()
        self._lifeline = lifeline
        self._clients = set()                    # connections being served
        self._clients_lock = threading.Lock()

    def serve_forever(self):
        """Accept and serve clients until ``shutdown`` arrives (or Ctrl-C).

        Each connection is served by its own daemon thread.  If this server
        was given a lifeline (see ``BaseManager.start``), it also stops when
        the creating process is gone.  Returns after closing the listener.
        """
        set_local_server(self)
        threading.Thread(target=self._accepter, name='manager accepter', daemon=True).start()
        if self._lifeline is not None:
            threading.Thread(target=self._watch_lifeline, name='manager lifeline',
                             daemon=True).start()
        try:
            self.stop_event.wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop_event.set()
            self._wake_accepter()
            self.listener.close()
            self._hang_up_on_clients()
            set_local_server(None)
            util.info('manager exiting with exitcode 0')

    def _accepter(self):
        while True:
            try:
                conn = self.listener.accept()
            except OSError as exc:
                if self.stop_event.is_set():
                    return
                util.info('manager could not accept a connection: %s', exc)
                self.stop_event.wait(0.1)       # e.g. out of file descriptors: breathe
                continue
            if self.stop_event.is_set():
                conn.close()
                return
            threading.Thread(target=self._handle_request, args=(conn,), daemon=True).start()

    def _wake_accepter(self):
        # The accepter is blocked in accept(); one connection wakes it, and it
        # sees the stop event.
        try:
            Client(self.address).close()
        except OSError:
            pass

    def _hang_up_on_clients(self):
        # A server run in a process that lives on (not by start()) must not
        # keep serving: shutting the sockets down wakes every serving thread
        # blocked in a read (it sees end of file and ends).
        with self._clients_lock:
            clients = list(self._clients)
        for conn in clients:
            try:
                sock = socket.socket(fileno=conn.fileno())
            except OSError:
                continue                        # closed meanwhile
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            finally:
                sock.detach()                   # the Connection still owns the descriptor

    def _watch_lifeline(self):
        # Nobody ever writes to the lifeline: it becomes readable (end of
        # file) exactly when the creating process has closed it or died.
        self._lifeline.poll(None)
        if not self.stop_event.is_set():
            util.info('manager lost its creating process; shutting down')
            self.stop_event.set()

    # -- one connection -------------------------------------------------------

    def _handle_request(self, conn):
        """Serve one connection: handshake, then one public function."""
        with self._clients_lock:
            self._clients.add(conn)
        try:
            try:
                # The same bounded handshake Listener.accept() runs, but here
                # in this connection's thread.
                run_handshake(conn, self.authkey, deliver_first=True,
                              timeout=HANDSHAKE_TIMEOUT)
            except AuthenticationError as exc:
                util.info('manager refused a connection: %s', exc)
                return
            try:
                request = conn.recv()
                _ignored, funcname, args, kwds = request
                if funcname not in self.PUBLIC:
                    raise ValueError('%r is not one of the manager functions %s'
                                     % (funcname, ', '.join(self.PUBLIC)))
            except (EOFError, OSError):
                return
            except Exception:
                conn.send(('#TRACEBACK', traceback.format_exc()))
                return
            if funcname == 'accept_connection':
                # The connection now belongs to one thread of one client.
                threading.current_thread().name = args[0]
                conn.send(('#RETURN', None))
                self.serve_client(conn)
                return
            try:
                reply = ('#RETURN', getattr(self, funcname)(conn, *args, **kwds))
            except Exception:
                reply = ('#TRACEBACK', traceback.format_exc())
            conn.send(reply)
            if funcname == 'shutdown':
                self.stop_event.set()
        except (OSError, EOFError) as exc:
            util.debug('connection to a manager client lost: %s', exc)
        finally:
            with self._clients_lock:
                self._clients.discard(conn)
            conn.close()

    def serve_client(self, conn):
        """Serve proxy calls ``(id, methodname, args, kwds)`` until the client hangs up.

        This is the hot loop of every proxy call (``docs/managers.md``).
        """
        util.debug('starting server thread to service %r', threading.current_thread().name)
        send = conn.send
        id_to_obj = self.id_to_obj
        while True:
            try:
                request = recv_in_turn(conn)
            except (EOFError, OSError):
                util.debug('got EOF -- exiting thread serving %r',
                           threading.current_thread().name)
                return
            except Exception:
                # Not a pickle this process can load: say why, and hang up.
                send(('#TRACEBACK', traceback.format_exc()))
                return
            try:
                ident, methodname, args, kwds = request
                obj, exposed, method_to_typeid = id_to_obj[ident]
                if methodname in exposed:
                    function = _find_method(obj, methodname)
                elif methodname in _FALLBACKS:
                    function = functools.partial(_FALLBACKS[methodname], obj)
                else:
                    raise AttributeError('method %r of %r object is not exposed (exposed=%r)'
                                         % (methodname, type(obj).__name__, sorted(exposed)))
            except Exception:
                reply = ('#TRACEBACK', traceback.format_exc())
            else:
                try:
                    result = function(*args, **kwds)
                except Exception as exc:
                    # The caller re-raises it with its type -- if it can be
                    # rebuilt there; if not, send the traceback as text.
                    reply = ('#ERROR', exc) if _survives_pickling(exc) else (
                        '#TRACEBACK', traceback.format_exc())
                else:
                    typeid = method_to_typeid and method_to_typeid.get(methodname)
                    if typeid:
                        reply = self._share_result(conn, typeid, result)
                    elif result.__class__ in _VIEW_TYPES:
                        reply = ('#RETURN', list(result))   # dict views do not pickle
                    else:
                        reply = ('#RETURN', result)
            try:
                send(reply)
            except Exception:
                try:
                    send(('#UNSERIALIZABLE', traceback.format_exc()))
                except Exception:
                    util.info('exception in thread serving %r',
                              threading.current_thread().name)
                    return

    def _share_result(self, conn, typeid, result):
        """The reply for a method in ``method_to_typeid``: a new referent's token."""
        try:
            ident, exposed = self.create(conn, typeid, result)
        except Exception:
            return ('#TRACEBACK', traceback.format_exc())
        return ('#PROXY', (exposed, Token(typeid, self.address, ident)))

    # -- the public functions (each gets the connection first) -----------------

    def create(self, conn, typeid, *args, **kwds):
        """Make a new referent of ``typeid``; return ``(id, exposed)``, refcount 1."""
        callable_, exposed, method_to_typeid, _proxytype = self.registry[typeid]
        if callable_ is None:
            if kwds or len(args) != 1:
                raise ValueError('typeid %r has no callable: give exactly one object '
                                 'to share' % typeid)
            obj = args[0]
        else:
            obj = callable_(*args, **kwds)
        if exposed is None:
            exposed = public_methods(obj)
        if method_to_typeid is not None:
            exposed = list(exposed) + list(method_to_typeid)
        ident = '%x' % id(obj)
        util.debug('%r callable returned object with id %r', typeid, ident)
        with self.mutex:
            self.id_to_obj[ident] = (obj, frozenset(exposed), method_to_typeid)
            self.id_to_refcount[ident] = self.id_to_refcount.get(ident, 0) + 1
        return ident, tuple(exposed)

    def incref(self, conn, ident):
        with self.mutex:
            if ident not in self.id_to_refcount:
                raise KeyError('no shared object with id %r in this manager' % ident)
            self.id_to_refcount[ident] += 1

    def decref(self, conn, ident):
        """One proxy fewer; a referent nobody refers to is deleted (16.6.2.8.1)."""
        with self.mutex:
            count = self.id_to_refcount.get(ident, 0)
            if count <= 0:
                raise KeyError('no shared object with id %r in this manager' % ident)
            if count > 1:
                self.id_to_refcount[ident] = count - 1
                return
            del self.id_to_refcount[ident]
            entry = self.id_to_obj.pop(ident)
        util.debug('disposing of obj with id %r', ident)
        # The referent goes when ``entry`` does -- outside the mutex, because
        # its __del__ may run arbitrary code (say, drop a proxy of its own).
        del entry

    def get_methods(self, conn, token):
        return tuple(self.id_to_obj[token.id][1])

    def dummy(self, conn):
        """Do nothing: ``BaseManager.connect()`` uses it to test the connection."""

    def shutdown(self, conn):
        # The reply is sent and the server stopped by ``_handle_request``.
        util.debug('manager received shutdown message')

    def number_of_objects(self, conn):
        with self.mutex:
            return len(self.id_to_refcount)

    def debug_info(self, conn):
        with self.mutex:
            return '\n'.join('  %s:       refcount=%s\n    %s'
                             % (ident, count, str(self.id_to_obj[ident][0])[:75])
                             for ident, count in sorted(self.id_to_refcount.items()))


def _survives_pickling(exc):
    """Whether ``exc`` can be pickled *and* unpickled (an exception whose
    ``__init__`` wants other arguments than its ``args`` cannot)."""
    try:
        pickle.loads(pickle.dumps(exc, pickle.HIGHEST_PROTOCOL))
    except Exception:
        return False
    return True


def _find_method(obj, methodname):
    try:
        return getattr(obj, methodname)
    except AttributeError:
        # The spec's Python 2 slice methods (``_callmethod('__getslice__',
        # (2, 7))``) live on as plain slicing.
        if methodname in _SLICE_METHODS:
            return functools.partial(_SLICE_METHODS[methodname], obj)
        raise


# What a proxy may ask of any referent, exposed or not (BaseProxy's
# __str__ and __repr__ and _getvalue()).
_FALLBACKS = {
    '__str__': lambda obj: str(obj),
    '__repr__': lambda obj: repr(obj),
    '#GETVALUE': lambda obj: obj,
}

_SLICE_METHODS = {
    '__getslice__': lambda obj, i, j: obj[i:j],
    '__setslice__': lambda obj, i, j, seq: obj.__setitem__(slice(i, j), seq),
    '__delslice__': lambda obj, i, j: obj.__delitem__(slice(i, j)),
}

_VIEW_TYPES = frozenset(type(getattr({}, name)()) for name in ('keys', 'values', 'items'))


def _check_serializer(serializer):
    if serializer != 'pickle':
        raise ValueError("serializer must be 'pickle' (the only one mpref has), not %r"
                         % (serializer,))


# --------------------------------------------------------------------------
# Managers
# --------------------------------------------------------------------------

class _State:
    """A manager's state, shared with its finalizer (which must not hold the manager)."""
    __slots__ = ('value',)
    INITIAL, STARTED, SHUTDOWN = 'initial', 'started', 'shut down'

    def __init__(self):
        self.value = _State.INITIAL


class BaseManager:
    """A manager of a server process holding shared objects (spec 16.6.2.7).

    ``address``: where the server listens (None: an arbitrary Unix socket,
    chosen by the server); ``authkey``: the bytes a client must know (None:
    ``current_process().authkey``).  Then either ``start()`` a server
    process, or ``get_server().serve_forever()`` in this process, or
    ``connect()`` to a server running elsewhere.  ``serializer`` (beyond the
    spec) only accepts ``'pickle'``; ``ctx`` (beyond the spec) is a
    ``get_context()`` object whose ``Process`` runs the server.
    """

    _registry = {}

    def __init__(self, address=None, authkey=None, serializer='pickle', ctx=None):
        _check_serializer(serializer)
        if authkey is None:
            authkey = current_process().authkey
        self._address = address
        self._authkey = AuthenticationString(check_authkey(authkey))
        self._serializer = serializer
        self._Process = Process if ctx is None else ctx.Process
        self._state = _State()
        self._process = None
        self._shutdown = None

    @property
    def address(self):
        """The address of the server (read-only; known once started or connected)."""
        return self._address

    def get_server(self):
        """Return a ``Server`` for this manager, to run with ``serve_forever()``."""
        self._check_initial()
        return Server(self._registry, self._address, self._authkey, self._serializer)

    def connect(self):
        """Connect to a server already running at ``address`` (e.g. another host's).

        Raises ``AuthenticationError`` if the keys differ.
        """
        conn = connect_to_server(self._address, self._authkey)
        try:
            dispatch(conn, None, 'dummy')
        finally:
            conn.close()
        self._state.value = _State.STARTED

    def start(self, initializer=None, initargs=()):
        """Start the server in a child process named ``<ClassName>-N``.

        ``initializer(*initargs)``, if given, runs first in that process
        (beyond the spec, Python 3.3).  Returns once the server is listening.
        """
        self._check_initial()
        if initializer is not None and not callable(initializer):
            raise TypeError('initializer must be a callable')
        address_reader, address_writer = Pipe(duplex=False)
        lifeline_reader, lifeline_writer = Pipe(duplex=False)
        process = self._Process(
            target=type(self)._run_server,
            args=(self._registry, self._address, self._authkey, self._serializer,
                  address_writer, lifeline_reader, initializer, initargs,
                  util.has_log_handlers()))
        process.name = '%s-%s' % (type(self).__name__,
                                  ':'.join(str(i) for i in process._identity))
        process._is_manager_server = True
        # Other forked children must not keep the lifeline open (else the
        # server would not notice this process's death while they live).
        util.register_after_fork(lifeline_writer, _close_in_child)
        process.start()
        address_writer.close()
        lifeline_reader.close()
        try:
            outcome, value = address_reader.recv()
        except EOFError:
            process.join()
            lifeline_writer.close()
            raise ProcessError('the manager process exited (exit code %s) before it '
                               'was serving' % process.exitcode) from None
        finally:
            address_reader.close()
        if outcome == 'failed':
            process.join()
            lifeline_writer.close()
            raise value
        # An address the server chose lies in its own temporary directory,
        # which it removes as it exits -- unless it is killed; then we do.
        server_dir = os.path.dirname(value) if self._address is None else None
        self._address = value
        self._process = process
        self._state.value = _State.STARTED
        self._shutdown = util.Finalize(
            self, _finalize_manager,
            args=(process, self._address, self._authkey, self._state, lifeline_writer,
                  server_dir),
            exitpriority=0)

    @classmethod
    def _run_server(cls, registry, address, authkey, serializer, address_writer,
                    lifeline, initializer, initargs, log_to_stderr):
        # Ctrl-C in a terminal or notebook reaches the whole process group;
        # the server should stop because its manager says so, not by accident.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if log_to_stderr and not util.get_logger().handlers:
            # A spawned server inherits only the logger's level (spawn.py);
            # give it the stderr handler its creator had, so the spec's log
            # lines appear whatever the start method.
            util.log_to_stderr()
        try:
            if initializer is not None:
                initializer(*initargs)
            server = Server(registry, address, authkey, serializer, lifeline=lifeline)
        except Exception as exc:
            address_writer.send(('failed', exc))
            address_writer.close()
            return
        # Logged before the creator hears of the address, so the line comes
        # before anything the creator logs next.
        util.info('manager serving at %r', server.address)
        address_writer.send(('serving', server.address))
        address_writer.close()
        server.serve_forever()

    def shutdown(self):
        """Stop the server process started by ``start()``.

        Safe to call more than once, and after the server has died.
        """
        if self._shutdown is None:
            raise ProcessError('shutdown() is only for a manager whose server was started '
                               'with start(); this one is %s' % self._state.value)
        self._shutdown()

    def join(self, timeout=None):
        """Wait for the server process started by ``start()`` to end."""
        if self._process is not None:
            self._process.join(timeout)

    def _create(self, typeid, *args, **kwds):
        """Ask the server for a new referent; return ``(token, exposed)``."""
        if self._state.value != _State.STARTED:
            raise ProcessError('the manager is %s: start() or connect() it before '
                               'creating shared objects' % self._state.value)
        conn = connect_to_server(self._address, self._authkey)
        try:
            ident, exposed = dispatch(conn, None, 'create', (typeid,) + args, kwds)
        finally:
            conn.close()
        return Token(typeid, self._address, ident), exposed

    def _make_proxy(self, typeid, *args, **kwds):
        """``create`` a referent and return a proxy owning its one reference."""
        token, exposed = self._create(typeid, *args, **kwds)
        proxytype = self._registry[typeid][3]
        proxy = proxytype(token, self._serializer, manager=self, authkey=self._authkey,
                          exposed=exposed, incref=False)
        # The server counted one reference when it created the referent; it
        # is this proxy's (CPython spends two more connections: incref, decref).
        proxy._own_reference()
        return proxy

    def _number_of_objects(self):
        """How many referents the server holds (for tests of 16.6.2.8.1)."""
        return self._call_server('number_of_objects')

    def _debug_info(self):
        """A text listing of the server's referents and their reference counts."""
        return self._call_server('debug_info')

    def _call_server(self, funcname, *args):
        conn = connect_to_server(self._address, self._authkey)
        try:
            return dispatch(conn, None, funcname, args)
        finally:
            conn.close()

    def _check_initial(self):
        if self._state.value != _State.INITIAL:
            raise ProcessError('this manager is already %s' % self._state.value)

    def __enter__(self):
        """Start the server if needed (beyond the spec, Python 3.3)."""
        if self._state.value == _State.INITIAL:
            self.start()
        if self._state.value != _State.STARTED:
            raise ProcessError('this manager is %s' % self._state.value)
        return self

    def __exit__(self, *exc_info):
        if self._shutdown is not None:
            self._shutdown()

    def __repr__(self):
        return '<%s %s at %r>' % (type(self).__name__, self._state.value, self._address)

    @classmethod
    def register(cls, typeid, callable=None, proxytype=None, exposed=None,
                 method_to_typeid=None, create_method=True):
        """Register a type (or callable) with this manager class (spec 16.6.2.7).

        ``typeid``: a string naming the kind of shared object.
        ``callable``: makes the referent; may be None for a manager that only
        ``connect()``s to a server, or with ``create_method=False``.
        ``proxytype``: a ``BaseProxy`` subclass (None: one is made from the
        exposed names).  ``exposed``: the method names proxies may call (None:
        ``proxytype._exposed_`` if it exists, else every public method of the
        referent).  ``method_to_typeid``: maps method names to the typeid of
        the shared object they return (a proxy instead of a copy; None:
        ``proxytype._method_to_typeid_`` if it exists).  ``create_method``:
        give the manager a method named ``typeid`` creating such objects.
        """
        if not isinstance(typeid, str):
            raise TypeError('typeid must be a string, not %s' % type(typeid).__name__)
        if proxytype is None:
            proxytype = AutoProxy
        if exposed is None:
            exposed = getattr(proxytype, '_exposed_', None)
        if exposed is not None:
            exposed = tuple(exposed)
            if not all(isinstance(name, str) for name in exposed):
                raise TypeError('exposed must be a sequence of method names (strings), '
                                'not %r' % (exposed,))
        if method_to_typeid is None:
            method_to_typeid = getattr(proxytype, '_method_to_typeid_', None)
        if method_to_typeid is not None:
            if not isinstance(method_to_typeid, dict) or not all(
                    isinstance(k, str) and isinstance(v, str)
                    for k, v in method_to_typeid.items()):
                raise TypeError('method_to_typeid must map method names to typeids '
                                '(a dict of strings), not %r' % (method_to_typeid,))
            method_to_typeid = dict(method_to_typeid)
        # Each class gets its own registry, so registering with a subclass
        # leaves its base (and sibling classes) untouched.
        if '_registry' not in cls.__dict__:
            cls._registry = dict(cls._registry)
        cls._registry[typeid] = (callable, exposed, method_to_typeid, proxytype)
        if create_method:
            setattr(cls, typeid, _creation_method(typeid))


def _creation_method(typeid):
    """The method ``manager.<typeid>(*args, **kwds)`` that ``register`` adds."""
    def create(self, *args, **kwds):
        return self._make_proxy(typeid, *args, **kwds)
    create.__name__ = create.__qualname__ = typeid
    create.__doc__ = 'Create a shared %r object and return a proxy for it.' % typeid
    return create


def _close_in_child(conn):
    conn.close()


def _finalize_manager(process, address, authkey, state, lifeline, server_dir):
    """Stop a server started by ``start()``; its manager's finalizer."""
    if process.is_alive():
        util.info('sending shutdown message to manager')
        try:
            conn = Client(address, authkey=authkey)
            try:
                dispatch(conn, None, 'shutdown')
            finally:
                conn.close()
        except Exception as exc:
            util.debug('could not send shutdown message: %s', exc)
        process.join(SHUTDOWN_TIMEOUT)
        if process.is_alive():
            util.info('manager still alive after shutdown message; terminating it')
            process.terminate()
            process.join(SHUTDOWN_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join()
    else:
        process.join()
    if server_dir is not None:
        shutil.rmtree(server_dir, ignore_errors=True)
    lifeline.close()
    state.value = _State.SHUTDOWN
    forget_address(address)


# --------------------------------------------------------------------------
# SyncManager: the types the spec lists
# --------------------------------------------------------------------------

class Namespace:
    """A shared namespace: no public methods, writable attributes (16.6.2.7.1).

    Its repr shows the attributes not starting with '_', sorted by name:
    ``Namespace(x=10, y='hello')``.
    """

    def __init__(self, **kwds):
        self.__dict__.update(kwds)

    def __repr__(self):
        items = sorted((name, value) for name, value in self.__dict__.items()
                       if not name.startswith('_'))
        return 'Namespace(%s)' % ', '.join('%s=%r' % item for item in items)


class Value:
    """What ``SyncManager.Value(typecode, value)`` shares: an object with a
    writable ``value``.  ``typecode`` is only recorded (there is no shared
    memory here); ``lock`` is accepted for the signature's sake.
    """

    def __init__(self, typecode, value, lock=True):
        self._typecode = typecode
        self._value = value

    def get(self):
        return self._value

    def set(self, value):
        self._value = value

    value = property(get, set)

    def __repr__(self):
        return '%s(%r, %r)' % (type(self).__name__, self._typecode, self._value)


def Array(typecode, sequence, lock=True):
    """What ``SyncManager.Array(typecode, sequence)`` shares: an ``array.array``."""
    return array.array(typecode, sequence)


class SyncManager(BaseManager):
    """The manager ``Manager()`` returns (spec 16.6.2.7).

    Its methods create shared ``threading`` primitives, queues, namespaces,
    values, arrays, dicts and lists, and return proxies for them.  They are
    added by the ``register`` calls below this class.
    """


SyncManager.register('Queue', queue.Queue)
SyncManager.register('JoinableQueue', queue.Queue)
SyncManager.register('Event', threading.Event, EventProxy)
SyncManager.register('Lock', threading.Lock, AcquirerProxy)
SyncManager.register('RLock', threading.RLock, AcquirerProxy)
SyncManager.register('Semaphore', threading.Semaphore, AcquirerProxy)
SyncManager.register('BoundedSemaphore', threading.BoundedSemaphore, AcquirerProxy)
SyncManager.register('Condition', threading.Condition, ConditionProxy)
SyncManager.register('Namespace', Namespace, NamespaceProxy)
SyncManager.register('Value', Value, ValueProxy)
SyncManager.register('Array', Array, ArrayProxy)
SyncManager.register('list', list, ListProxy)
SyncManager.register('dict', dict, DictProxy)
# What a dict proxy's __iter__ returns: a proxy for an iterator in the server.
SyncManager.register('Iterator', proxytype=IteratorProxy, create_method=False)
