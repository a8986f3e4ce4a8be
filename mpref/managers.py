"""Managers: the handle through which a process starts, reaches and stops a server
process of shared objects (spec 16.6.1.4, 16.6.2.7).

Chapter: ``notebooks/06_managers_and_proxies.ipynb``.  The server itself --
the process holding the referents -- is ``server.py``; the proxies, the
client side, are ``proxies.py``; ``docs/managers.md`` follows one proxy call
from the caller to the referent and back.

A manager class (``BaseManager``, and ``SyncManager``, the one ``Manager()``
returns) holds a *registry*: ``register(typeid, callable, ...)`` records how
the server makes one kind of shared object and which proxy type stands for
it, and gives the class a method ``typeid(...)`` that asks the server to
create such an object and returns a proxy for it.  A manager reaches its
server in one of three ways: ``start()`` a server process,
``get_server().serve_forever()`` in this process, or ``connect()`` to a
server running elsewhere.

Lifetime: ``BaseManager.start()`` runs the server in a child process and
registers a finalizer that sends ``shutdown`` when the manager is garbage
collected or its creator exits.  The child also holds the read end of a
pipe (the *lifeline*) whose write end only the creator keeps: if the creator
dies without saying goodbye (SIGKILL), the pipe reaches end of file and the
server shuts itself down -- no orphaned server, socket file or temp dir.
"""

import array
import os
import queue
import shutil
import signal
import threading

from . import util
from .connection import check_authkey
from .exceptions import ProcessError
from .framing import Pipe
from .process import AuthenticationString, Process, current_process
from .pool import Pool
from .proxies import (AutoProxy, BaseProxy, RemoteError, Token, connect_to_server, dispatch,
                      forget_address, new_session, sending_to)
from .proxytypes import (AcquirerProxy, ArrayProxy, AsyncResultProxy, BarrierProxy,
                         ConditionProxy, DictProxy, EventProxy, IteratorProxy, ListProxy,
                         NamespaceProxy, PoolProxy, ValueProxy)
from .serializers import check_serializer
from .server import RegistryEntry, Server, public_methods

# ``BaseProxy``, ``RemoteError``, ``Token``, ``dispatch``, ``Server`` and
# ``public_methods`` are also offered here, where CPython's programs import them.
__all__ = ['BaseManager', 'SyncManager', 'BaseProxy', 'Token', 'Server', 'RemoteError',
           'Manager', 'Namespace', 'Value', 'Array', 'dispatch', 'public_methods']

#: Seconds ``shutdown()`` waits for the server process after asking it to
#: stop, before it uses ``terminate()``: the default of ``BaseManager``'s
#: ``shutdown_timeout`` (CPython's is 1.0, short on a busy machine).
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
    spec): ``'pickle'`` or ``'xmlrpclib'``, what the messages between proxies
    and server are made of (``serializers.py``); ``ctx`` (beyond the spec) is a
    ``get_context()`` object whose ``Process`` runs the server;
    ``shutdown_timeout`` (beyond the spec, Python 3.11): the seconds
    ``shutdown()`` waits for the server process before terminating it, and
    again before killing it.
    """

    _registry = {}

    def __init__(self, address=None, authkey=None, serializer='pickle', ctx=None, *,
                 shutdown_timeout=SHUTDOWN_TIMEOUT):
        check_serializer(serializer)
        if authkey is None:
            authkey = current_process().authkey
        self._address = address
        self._authkey = AuthenticationString(check_authkey(authkey))
        self._serializer = serializer
        self._shutdown_timeout = _check_shutdown_timeout(shutdown_timeout)
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
        conn = connect_to_server(self._address, self._authkey, self._serializer)
        try:
            dispatch(conn, None, 'dummy')
        finally:
            conn.close()
        # Perhaps not the server this process reached at this address before.
        new_session(self._address)
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
        # ``_identity`` is CPython's name for a Process's numbering; the flag,
        # read by ``proxies.BaseProxy._after_fork``, is private to mpref, not
        # part of the Process's API.
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
        new_session(value)           # a fixed address may have served an earlier server
        self._process = process
        self._state.value = _State.STARTED
        self._shutdown = util.Finalize(
            self, _finalize_manager,
            args=(process, self._address, self._authkey, self._serializer, self._state,
                  lifeline_writer, server_dir, self._shutdown_timeout),
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
        conn = connect_to_server(self._address, self._authkey, self._serializer)
        try:
            with sending_to(self._address):
                ident, exposed = dispatch(conn, None, 'create', (typeid,) + args, kwds)
        finally:
            conn.close()
        return Token(typeid, self._address, ident), exposed

    def _make_proxy(self, typeid, *args, **kwds):
        """``create`` a referent and return a proxy owning its one reference."""
        token, exposed = self._create(typeid, *args, **kwds)
        proxytype = self._registry[typeid].proxytype
        proxy = proxytype(token, self._serializer, manager=self, authkey=self._authkey,
                          exposed=exposed, incref=False)
        # The server counted one reference when it created the referent; it
        # is this proxy's (CPython spends two more connections: incref, decref).
        # (A proxy's plumbing has underscores: its public names are its referent's.)
        proxy._own_reference()
        return proxy

    def _number_of_objects(self):
        """How many referents the server holds (for tests of 16.6.2.8.1)."""
        return self._call_server('number_of_objects')

    def _debug_info(self):
        """A text listing of the server's referents and their reference counts."""
        return self._call_server('debug_info')

    def _call_server(self, funcname, *args):
        conn = connect_to_server(self._address, self._authkey, self._serializer)
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
        cls._registry[typeid] = RegistryEntry(callable, exposed, method_to_typeid, proxytype)
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


def _check_shutdown_timeout(seconds):
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError('shutdown_timeout must be a number of seconds, not %s'
                        % type(seconds).__name__)
    if not seconds >= 0:
        raise ValueError('shutdown_timeout must be at least 0 seconds, not %r' % (seconds,))
    return seconds


def _finalize_manager(process, address, authkey, serializer, state, lifeline, server_dir,
                      shutdown_timeout):
    """Stop a server started by ``start()``; its manager's finalizer."""
    if process.is_alive():
        util.info('sending shutdown message to manager')
        try:
            conn = connect_to_server(address, authkey, serializer)
            try:
                dispatch(conn, None, 'shutdown')
            finally:
                conn.close()
        except Exception as exc:
            util.debug('could not send shutdown message: %s', exc)
        process.join(shutdown_timeout)
        if process.is_alive():
            util.info('manager still alive after shutdown message; terminating it')
            process.terminate()
            process.join(shutdown_timeout)
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
    values, arrays, dicts and lists -- and, beyond the spec's page, a
    ``Pool`` and a ``Barrier`` -- and return proxies for them.  They are added by the
    ``register`` calls below this class.
    """


SyncManager.register('Queue', queue.Queue)
SyncManager.register('JoinableQueue', queue.Queue)
SyncManager.register('Event', threading.Event, EventProxy)
SyncManager.register('Lock', threading.Lock, AcquirerProxy)
SyncManager.register('RLock', threading.RLock, AcquirerProxy)
SyncManager.register('Semaphore', threading.Semaphore, AcquirerProxy)
SyncManager.register('BoundedSemaphore', threading.BoundedSemaphore, AcquirerProxy)
SyncManager.register('Condition', threading.Condition, ConditionProxy)
SyncManager.register('Barrier', threading.Barrier, BarrierProxy)     # beyond the spec: 3.2
SyncManager.register('Namespace', Namespace, NamespaceProxy)
SyncManager.register('Value', Value, ValueProxy)
SyncManager.register('Array', Array, ArrayProxy)
SyncManager.register('list', list, ListProxy)
SyncManager.register('dict', dict, DictProxy)
# Beyond the spec's page, as in 2.6's own code: a pool whose workers are the
# server's children, and its results, which stay in the server.
SyncManager.register('Pool', Pool, PoolProxy)
SyncManager.register('AsyncResult', proxytype=AsyncResultProxy, create_method=False)
# What a dict proxy's __iter__ and a pool proxy's imap return: a proxy for an
# iterator in the server.
SyncManager.register('Iterator', proxytype=IteratorProxy, create_method=False)
