"""Proxies: the client side of a manager, and the messages it exchanges with the server
(spec 16.6.2.8, 16.6.2.8.1).

Chapter: ``notebooks/06_managers_and_proxies.ipynb``.  The server side is
``server.py``, and the managers that start it ``managers.py``;
``docs/managers.md`` follows one call through them.  ``BaseProxy`` is here;
the proxy types of ``SyncManager``'s objects are in ``proxytypes.py``.

A *proxy* stands for a *referent* living in a manager's server process.  It
holds a ``Token`` -- ``(typeid, address of the server, id of the referent)``
-- and turns each method call into one message to the server and one reply::

    proxy._callmethod('__getitem__', (4,))
        sends    (id, '__getitem__', (4,), {})
        receives ('#RETURN', 16)                      -> returns 16
             or  ('#ERROR', IndexError(...))          -> raises it
             or  ('#TRACEBACK', 'Traceback ...')      -> raises RemoteError
             or  ('#PROXY', (exposed, token))         -> returns a new proxy
             or  ('#UNSERIALIZABLE', 'Traceback ...') -> raises RemoteError

The protocol, named once for both sides: every message is a pickled tuple
on a ``Connection``.  A request is ``(id, methodname, args, kwds)``; its
``id`` is None on a fresh connection, for one of the server's public
functions (``server.Server.PUBLIC``: ``create``, ``incref``, ``decref``,
``accept_connection``, ...).  A reply is ``(kind, value)``, its kind one of
the constants ``RETURN``, ``ERROR``, ``TRACEBACK``, ``PROXY`` and
``UNSERIALIZABLE`` below, which ``server.py`` imports.  The strings are
CPython's, so a stdlib ``multiprocessing.managers`` client can talk to an
mpref server and the other way round.

Connections: every *thread* of a process gets its own connection to each
server (made on its first call, kept in a ``threading.local``), so proxies
can be used from several threads at once and a blocking call in one thread
(say ``queue.get()``) never holds up another's.  A connection is never used
again once it failed or was interrupted mid-call, nor once its server hung
up, nor after a manager ``connect()``ed or ``start()``ed anew at its address
(a server restarted there: ``new_session``).

Reference counting (16.6.2.8.1): the server counts, per referent, the
proxies that exist in all processes.  A proxy made by a manager takes over
the one reference the server counted when creating the referent; a proxy
inherited by a forked child adds one (``incref``).  When a proxy is garbage
collected, a ``util.Finalize`` weakref callback sends ``decref``; at zero the
server deletes the referent.  A proxy *pickled* for another process takes a
reference for the pickle (``BaseProxy._lend``), which the receiver adopts
when it unpickles it (``RebuildProxy``): so the referent survives the trip
even if the sender's own proxy is gone by then -- ``queue.put(manager.list())``.
"""

import os
import select
import sys
import threading

from . import util
from .connection import Client
from .process import AuthenticationString, current_process
from .serializers import MISMATCH_ERRORS, SERIALIZERS, cross_as_struct, wrap_connection
from .spawn import get_spawning_popen

__all__ = ['Token', 'dispatch', 'RemoteError', 'BaseProxy', 'RebuildProxy', 'AutoProxy',
           'MakeProxyType']

# The message kinds: the first item of every reply.
RETURN = '#RETURN'                  # (RETURN, value): the method returned value
ERROR = '#ERROR'                    # (ERROR, exception): the referent's method raised it
TRACEBACK = '#TRACEBACK'            # (TRACEBACK, text): anything else failed in the server
PROXY = '#PROXY'                    # (PROXY, (exposed, token)): the result is shared too
UNSERIALIZABLE = '#UNSERIALIZABLE'  # (UNSERIALIZABLE, text): the reply would not pickle
#: The method name a request for a copy of the referent uses (``BaseProxy._getvalue``).
GETVALUE = '#GETVALUE'


@cross_as_struct                # it travels in replies and requests, whatever the serializer
class Token:
    """Identifies a shared object: its ``typeid``, its server's ``address``, its ``id``."""

    __slots__ = ('typeid', 'address', 'id')

    def __init__(self, typeid, address, id):  # noqa: A002 - CPython's field name
        self.typeid, self.address, self.id = typeid, address, id

    def __getstate__(self):
        return (self.typeid, self.address, self.id)

    def __setstate__(self, state):
        self.typeid, address, self.id = state
        # XML-RPC (serializers.py) turns a (host, port) tuple into a list.
        self.address = tuple(address) if isinstance(address, list) else address

    def __repr__(self):
        return '%s(typeid=%r, address=%r, id=%r)' % (type(self).__name__, self.typeid,
                                                     self.address, self.id)


class RemoteError(Exception):
    """Something other than the referent's own method failed in the server.

    ``args[0]`` is the server's traceback, as text; ``str()`` frames it.
    """

    def __str__(self):
        return '\n' + '-' * 75 + '\n' + str(self.args[0]) + '-' * 75


def connect_to_server(address, authkey, serializer='pickle'):
    """``Client(address, authkey=authkey)`` speaking ``serializer``, saying so when
    no manager is there.

    The socket error alone ("No such file or directory", "Connection
    refused") does not tell a user that the manager has shut down or died;
    the same exception type, with a message that does.
    """
    try:
        conn = Client(address, authkey=authkey)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise type(exc)(exc.errno, 'no manager is serving at %r (it has been shut down, or '
                                   'its process has died): %s' % (address, exc.strerror)) from None
    return wrap_connection(conn, serializer)


def connection_lost(exc, address):
    """``exc`` (an ``OSError`` or ``EOFError`` from a proxy's connection), saying what it means."""
    message = ('the connection to the manager at %r was lost (its server has shut down or '
               'died): %s' % (address, exc or type(exc).__name__))
    if isinstance(exc, OSError) and exc.errno is not None:
        return type(exc)(exc.errno, message)
    return type(exc)(message)


def dispatch(conn, ident, methodname, args=(), kwds={}):
    """Send one request on ``conn`` and return the result (or raise the error)."""
    conn.send((ident, methodname, args, kwds))
    try:
        kind, result = conn.recv()
    except MISMATCH_ERRORS as exc:
        raise type(exc)('the reply could not be read (%s): a manager and its clients must '
                        'use the same serializer, %s' % (exc, ' or '.join(SERIALIZERS))) from None
    if kind == RETURN:
        return result
    raise convert_to_error(kind, result)


def convert_to_error(kind, result):
    """The exception a reply other than ``RETURN`` stands for."""
    if kind == ERROR:
        return result
    if kind == TRACEBACK:
        return RemoteError(result)
    if kind == UNSERIALIZABLE:
        return RemoteError('Unserializable message: %s\n' % result)
    return ValueError('unrecognized reply from the manager: %r' % (kind,))


# --------------------------------------------------------------------------
# What this process keeps per server
# --------------------------------------------------------------------------

class _ThreadConnection(threading.local):
    """Each thread's own connection to one server (None until its first call),
    a ``select.poll`` object watching it, and the session of the link it was
    made in."""
    connection = None
    poller = None
    session = 0


class _ServerLink:
    """This process's link to one server address.

    ``ids``: the referents this process holds references to (when it drops
    the last, the calling thread's connection is closed).  ``local``: one
    connection per thread.  ``session``: counts the ``connect()``s and
    ``start()``s that reached a server at this address; a thread's connection
    made in an earlier session is not used again (``new_session``).
    ``gone``: the server was shut down by its manager, so there is no one
    left to ``decref``.  A forked child starts with neither ids nor
    connections: the parent's sockets are not its own.
    """

    def __init__(self):
        self.ids = set()
        self.local = _ThreadConnection()
        self.session = 0
        self.gone = False
        util.register_after_fork(self, _ServerLink._after_fork)

    def _after_fork(self):
        self.ids.clear()
        self.local.__dict__.clear()      # the forking thread's inherited connection


_links = {}                      # address -> _ServerLink
_links_lock = threading.Lock()


def _reset_links_lock():
    # Another thread may have held the lock at the moment of a fork; in the
    # child that thread does not exist, so the lock would stay held for ever.
    global _links_lock
    _links_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_links_lock)


def _link_for(address):
    with _links_lock:
        link = _links.get(address)
        if link is None:
            link = _links[address] = _ServerLink()
        return link


def new_session(address):
    """A manager ``connect()``ed to, or ``start()``ed, a server at ``address``.

    The server there now may not be the one this process's cached
    connections lead to (it was restarted at the same address, or the old
    one's host vanished without a word): every thread's next call opens a
    new connection.
    """
    _link_for(address).session += 1


def forget_address(address):
    """Called when the manager of ``address`` has shut its server down."""
    with _links_lock:
        link = _links.pop(address, None)
    if link is not None:
        link.gone = True
        conn, link.local.connection = link.local.connection, None
        if conn is not None:
            conn.close()


#: The ``Server`` running in this process, if any (set by ``serve_forever``):
#: a proxy for one of its referents, unpickled here, becomes the referent.
_local_server = None


def set_local_server(server):
    global _local_server
    _local_server = server


# --------------------------------------------------------------------------
# BaseProxy
# --------------------------------------------------------------------------

class BaseProxy:
    """Base class of all proxies (spec 16.6.2.8).

    ``token`` names the referent; ``manager`` (optional) is the manager
    that made it, used to find the proxy type of returned shared objects;
    ``authkey`` defaults to the manager's or ``current_process().authkey``.
    ``incref=False`` means the caller already owns a reference for this proxy
    (or does not want one).  ``serializer``: the server's, ``'pickle'`` or
    ``'xmlrpclib'`` (``serializers.py``).  ``exposed`` is accepted for
    CPython's constructor signature (it is used by ``AutoProxy``).  Proxies
    do not compare by value (spec note): ``==`` is identity.
    """

    #: True for proxies made by ``AutoProxy`` (they pickle their exposed list).
    _isauto = False

    def __init__(self, token, serializer='pickle', manager=None, authkey=None,
                 exposed=None, incref=True):
        link = _link_for(token.address)
        self._token = token
        self._id = token.id
        self._manager = manager
        self._serializer = serializer
        self._link = link
        self._tls = link.local
        if authkey is not None:
            self._authkey = AuthenticationString(authkey)
        elif manager is not None:
            self._authkey = manager._authkey        # CPython's name for the manager's key
        else:
            self._authkey = current_process().authkey
        if incref:
            self._incref()
        util.register_after_fork(self, BaseProxy._after_fork)

    def _callmethod(self, methodname, args=(), kwds={}):
        """Call ``methodname(*args, **kwds)`` on the referent, in the server.

        Returns a copy of the result, or a new proxy if the method is in
        ``method_to_typeid``.  An exception the method raised is re-raised
        here with its type; any other failure in the server (including an
        unexposed ``methodname``) raises ``RemoteError`` with its traceback.
        """
        tls = self._tls
        conn = tls.connection
        # Between calls nothing is due on a connection whose ends take turns:
        # a readable one is at end of file -- its server is gone.
        if conn is None or tls.session != self._link.session or tls.poller.poll(0):
            conn = self._connect()
        try:
            if args or kwds:
                with sending_to(self._token.address):
                    conn.send((self._id, methodname, args, kwds))
            else:
                conn.send((self._id, methodname, args, kwds))
            kind, result = conn.recv_in_turn()
        except (OSError, EOFError) as exc:
            self._drop_connection()
            raise connection_lost(exc, self._token.address) from None
        except Exception:
            raise       # the request would not pickle, or the reply not unpickle: in step
        except BaseException:
            # Interrupted mid-exchange (Ctrl-C): the reply may still come,
            # and would answer the next request.  Never use it again.
            self._drop_connection()
            raise
        if kind == RETURN:
            return result
        if kind == PROXY:
            return self._proxy_for_result(*result)
        raise convert_to_error(kind, result)

    def _getvalue(self):
        """Return a copy of the referent (it must be picklable)."""
        return self._callmethod(GETVALUE)

    def __repr__(self):
        return '<%s object, typeid %r at %#x>' % (type(self).__name__, self._token.typeid,
                                                  id(self))

    def __str__(self):
        """The representation of the referent (spec 16.6.2.8)."""
        try:
            return self._callmethod('__repr__')
        except Exception:
            return repr(self)[:-1] + "; '__str__()' failed>"

    def __reduce__(self):
        kwds = {}
        if get_spawning_popen() is not None:
            # An authkey travels only to a child being spawned (as the
            # Process's own does); elsewhere the receiver uses its own.
            kwds['authkey'] = self._authkey
        if getattr(_destination, 'address', None) != self._token.address and self._lend():
            kwds['transit'] = True
        if self._isauto:
            kwds['exposed'] = self._exposed_
            return RebuildProxy, (AutoProxy, self._token, self._serializer, kwds)
        return RebuildProxy, (type(self), self._token, self._serializer, kwds)

    def __deepcopy__(self, memo):
        return self._getvalue()

    # -- plumbing -----------------------------------------------------------

    def _connect(self):
        """Open this thread's connection to the server and make it a serving one."""
        self._drop_connection()
        util.debug('making connection to manager')
        name = current_process().name
        thread = threading.current_thread()
        if thread is not threading.main_thread():
            name += '|' + thread.name
        conn = connect_to_server(self._token.address, self._authkey, self._serializer)
        try:
            dispatch(conn, None, 'accept_connection', (name,))
        except BaseException:
            conn.close()
            raise
        poller = select.poll()      # kept: a call pays one system call for this check
        poller.register(conn.fileno(), select.POLLIN)
        self._tls.connection, self._tls.poller = conn, poller
        self._tls.session = self._link.session
        return conn

    def _drop_connection(self):
        """Close this thread's connection (if any): the next call makes a new one."""
        conn, self._tls.connection = self._tls.connection, None
        if conn is not None:
            conn.close()

    def _proxy_for_result(self, exposed, token):
        # The server made a new referent (refcount 1) for a method in
        # method_to_typeid; the new proxy owns that reference.  The server
        # wrote its own address; we reach it by the one we already use.
        token.address = self._token.address
        # The manager's registry (``_registry``: CPython's name, which
        # subclasses may use) holds a ``server.RegistryEntry`` per typeid.
        registered = self._manager._registry.get(token.typeid) if self._manager else None
        if registered is not None:
            proxytype = registered.proxytype
        else:
            # Unpickled in another process (no manager to ask), or a typeid
            # only the server registered: built-in types are known here.
            proxytype = PROXYTYPE_WITHOUT_MANAGER.get(token.typeid, AutoProxy)
        proxy = proxytype(token, self._serializer, manager=self._manager,
                          authkey=self._authkey, exposed=exposed, incref=False)
        proxy._own_reference()
        return proxy

    def _incref(self):
        self._take_reference('incref')

    def _take_reference(self, funcname):
        """Ask the server for a reference (``incref``, or ``adopt`` one in
        transit) and take charge of it."""
        conn = connect_to_server(self._token.address, self._authkey, self._serializer)
        try:
            dispatch(conn, None, funcname, (self._id,))
        finally:
            conn.close()
        util.debug('INCREF %r', self._id)
        self._own_reference()

    def _lend(self):
        """Take a reference in transit for the pickle being made of this proxy.

        The receiver adopts it (``RebuildProxy``), so the referent lives while
        the pickle travels, even if this proxy is gone by then.  False if the
        server cannot (gone, or a stdlib server, which has no
        ``incref_in_transit``): the receiver then asks for its own reference
        on arrival, as CPython's proxies do.
        """
        if self._link.gone:
            return False
        try:
            conn = connect_to_server(self._token.address, self._authkey, self._serializer)
            try:
                dispatch(conn, None, 'incref_in_transit', (self._id,))
            finally:
                conn.close()
        except Exception as exc:
            util.debug('pickling %r with no reference in transit: %s', self, exc)
            return False
        return True

    def _own_reference(self):
        """Take charge of one reference: give it back when this proxy dies."""
        self._link.ids.add(self._id)
        util.Finalize(self, BaseProxy._decref,
                      args=(self._token, self._authkey, self._serializer, self._link),
                      exitpriority=10)

    @staticmethod
    def _decref(token, authkey, serializer, link):
        link.ids.discard(token.id)
        if not link.gone:
            try:
                util.debug('DECREF %r', token.id)
                conn = connect_to_server(token.address, authkey, serializer)
                try:
                    dispatch(conn, None, 'decref', (token.id,))
                finally:
                    conn.close()
            except Exception as exc:
                util.debug('... decref failed %s', exc)
        # No more references to this server: this thread needs no connection.
        if not link.ids and link.local.connection is not None:
            conn, link.local.connection = link.local.connection, None
            conn.close()

    def _after_fork(self):
        # A forked child holds its own copy of this proxy: it takes its own
        # reference, so the referent lives while the child needs it.  Not in
        # a manager's server process, which has no use for its creator's proxies.
        if self._link.gone or getattr(current_process(), '_is_manager_server', False):
            return
        try:
            self._incref()
        except Exception as exc:
            util.info('incref failed: %s', exc)     # e.g. the manager is gone


def RebuildProxy(func, token, serializer, kwds):
    """Unpickle a proxy: ``func(token, ...)`` -- or, in its own server, the referent.

    Inside the manager's process the referent itself is returned (spec
    16.6.2.8): a list proxy appended to another shared list puts the
    referent inside it.  A pickle made with a reference in transit
    (``BaseProxy._lend``) hands it to the new proxy (``adopt``), or gives it
    back in the server.
    """
    in_transit = kwds.pop('transit', False)
    server = _local_server
    if server is not None and server.address == token.address:
        referent = server.referent_entry(token.id)[0]
        if in_transit:
            server.drop_transit(token.id)
        return referent
    if not in_transit:
        return func(token, serializer, incref=kwds.pop('incref', True), **kwds)
    kwds.pop('incref', None)
    proxy = func(token, serializer, incref=False, **kwds)
    proxy._take_reference('adopt')
    return proxy


class sending_to:
    """``with sending_to(address):`` -- a message to that server is being pickled.

    A proxy of that same server pickles without a reference in transit: the
    server unpickles it to its referent (``RebuildProxy``) while the sender
    still holds the proxy (it is among the arguments of the call).
    """
    __slots__ = ('address', 'previous')

    def __init__(self, address):
        self.address = address

    def __enter__(self):
        self.previous = getattr(_destination, 'address', None)
        _destination.address = self.address

    def __exit__(self, *exc_info):
        _destination.address = self.previous


_destination = threading.local()        # .address: see sending_to


# --------------------------------------------------------------------------
# Making proxy types (SyncManager's own are in proxytypes.py)
# --------------------------------------------------------------------------

def forward(name):
    """A proxy method that calls the referent's method ``name``."""
    def method(self, *args, **kwds):
        return self._callmethod(name, args, kwds)
    method.__name__ = method.__qualname__ = name
    return method


_proxy_types = {}       # (name, exposed, module) -> class: AutoProxy makes each type once


def MakeProxyType(name, exposed):
    """Return a ``BaseProxy`` subclass with one forwarding method per exposed name.

    The class belongs to the caller's module (as a ``namedtuple`` does), so
    that a registry naming it pickles, e.g. to a spawned server.
    """
    exposed = tuple(exposed)
    module = sys._getframe(1).f_globals.get('__name__', __name__)
    key = (name, exposed, module)
    try:
        return _proxy_types[key]
    except KeyError:
        pass
    namespace = {method_name: forward(method_name) for method_name in exposed}
    namespace['_exposed_'] = exposed
    namespace['__module__'] = module
    proxy_type = type(name, (BaseProxy,), namespace)
    _proxy_types[key] = proxy_type
    return proxy_type


def AutoProxy(token, serializer='pickle', manager=None, authkey=None, exposed=None,
              incref=True):
    """A proxy whose methods are the referent's exposed ones (the default proxytype)."""
    if authkey is None and manager is not None:
        authkey = manager._authkey
    if authkey is None:
        authkey = current_process().authkey
    if exposed is None:
        conn = connect_to_server(token.address, authkey, serializer)
        try:
            exposed = dispatch(conn, None, 'get_methods', (token,))
        finally:
            conn.close()
    proxy_type = MakeProxyType('AutoProxy[%s]' % token.typeid, exposed)
    proxy = proxy_type(token, serializer, manager=manager, authkey=authkey, incref=incref)
    proxy._isauto = True
    return proxy


#: The proxy type for a typeid that a method returned, in a process whose
#: proxy has no manager to look it up in (it was unpickled there).  The
#: typeids SyncManager's own methods return are added by ``proxytypes.py``;
#: any other gets an ``AutoProxy``.
PROXYTYPE_WITHOUT_MANAGER = {}
