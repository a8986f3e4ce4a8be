"""The manager's server: a process that holds the referents and serves proxy calls on them
(spec 16.6.1.4, 16.6.2.7, 16.6.2.8.1).

Chapter: ``notebooks/06_managers_and_proxies.ipynb``.  This code runs in the
manager's (server) process; its creator uses only ``Server`` (to run it)
and ``RegistryEntry`` from here.  The handle the creator holds, which starts
this process, is ``managers.py``; the client side is ``proxies.py``;
``docs/managers.md`` follows one proxy call through the three.

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
of the server's public functions (``Server.PUBLIC``): ``create`` a referent,
``incref``/``decref`` it, ``shutdown`` the server, ... -- or
``accept_connection``, which turns the connection into a long-lived channel
serving every proxy call one thread of one client process makes.  The
replies and their kinds (``RETURN``, ``ERROR``, ``TRACEBACK``, ``PROXY``,
``UNSERIALIZABLE``) are drawn and named in ``proxies.py``, for both sides.
They are exactly CPython's, so a stdlib ``multiprocessing.managers`` client
can talk to an mpref server and the other way round (``docs/differences.md``
lists what cannot cross).
"""

import functools
import itertools
import os
import socket
import threading
import time
import traceback
from typing import NamedTuple

from . import util
from .connection import Client, Listener, check_authkey, run_handshake
from .exceptions import AuthenticationError
from .process import AuthenticationString
from .proxies import (ERROR, GETVALUE, PROXY, RETURN, TRACEBACK, UNSERIALIZABLE, Token,
                      set_local_server)
from .serializers import check_serializer, survives, wrap_connection

__all__ = ['Server', 'RegistryEntry', 'public_methods']

#: Seconds a new connection has to finish the authentication handshake.  A
#: client that connects and says nothing is then dropped; meanwhile it
#: occupies only its own thread, never the accepting one.
HANDSHAKE_TIMEOUT = 20.0

#: Seconds a pickled proxy keeps its referent alive while no one has
#: unpickled it (``Server.incref_in_transit``): the bound on what a pickle that
#: is never unpickled costs.
TRANSIT_TIMEOUT = 600.0


class RegistryEntry(NamedTuple):
    """What ``BaseManager.register`` records for one typeid (spec 16.6.2.7).

    A manager class's registry maps typeids to these; the server makes its
    referents from them.  The registry travels to a server process as an
    argument (pickled, under spawn), so an entry is a plain named tuple.
    """
    callable: object            # makes the referent; None: the client hands it over
    exposed: object             # method names proxies may call; None: public_methods
    method_to_typeid: object    # method name -> typeid of the shared object it returns
    proxytype: object           # the proxy type the manager makes for this typeid


def public_methods(obj):
    """The names a proxy may call by default: callable attributes not starting with '_'."""
    return [name for name in dir(obj)
            if not name.startswith('_') and callable(getattr(obj, name, None))]


def no_such_referent(ident):
    """The error for a request naming an id this server does not hold."""
    return KeyError('no shared object with id %r in this manager (it was freed, or the '
                    'proxy belongs to an earlier server at this address)' % (ident,))


class Server:
    """The server a manager controls: referents and the threads serving them.

    ``registry`` maps a typeid to its ``RegistryEntry`` (see
    ``BaseManager.register``).  The server listens on ``address`` (None: a
    Unix socket in this process's temporary directory) and accepts only
    clients that know ``authkey``.  ``serve_forever()`` runs it; ``address``
    is where it listens (spec 16.6.2.7).
    """

    #: The functions a client may ask for on a fresh connection.
    PUBLIC = ('shutdown', 'create', 'accept_connection', 'get_methods', 'debug_info',
              'number_of_objects', 'dummy', 'incref', 'decref',
              'incref_in_transit', 'adopt')          # mpref's own, for pickled proxies

    def __init__(self, registry, address, authkey, serializer='pickle', lifeline=None):
        check_serializer(serializer)
        self.registry = registry
        self.serializer = serializer
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
        # An id names one referent of one server, once: ``id(obj)`` alone is
        # reused -- by the next object at a freed address, and by a server
        # forked from the same parent at the same address -- and a stale proxy
        # would then call a stranger's referent.  The random name of this
        # serving and a serial number make every id new (see ``create``);
        # they are set in the serving process (``serve_forever``), so two
        # children forked from one Server object never share them.
        self.incarnation = None
        self._serials = None
        self.id_to_transit = {}                  # id -> times of its references in transit
        self.mutex = threading.Lock()            # guards the three tables above
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
        self.incarnation = os.urandom(4).hex()
        self._serials = itertools.count(1)
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

    def _handle_request(self, raw_conn):
        """Serve one connection: handshake, then one public function."""
        with self._clients_lock:
            self._clients.add(raw_conn)
        try:
            try:
                # The same bounded handshake Listener.accept() runs, but here
                # in this connection's thread.
                run_handshake(raw_conn, self.authkey, deliver_first=True,
                              timeout=HANDSHAKE_TIMEOUT)
            except AuthenticationError as exc:
                util.info('manager refused a connection: %s', exc)
                return
            conn = wrap_connection(raw_conn, self.serializer)
            try:
                request = conn.recv()
                _ignored, funcname, args, kwds = request
                if funcname not in self.PUBLIC:
                    raise ValueError('%r is not one of the manager functions %s'
                                     % (funcname, ', '.join(self.PUBLIC)))
            except (EOFError, OSError):
                return
            except Exception:
                conn.send((TRACEBACK, traceback.format_exc()))
                return
            if funcname == 'accept_connection':
                # The connection now belongs to one thread of one client.
                threading.current_thread().name = args[0]
                conn.send((RETURN, None))
                self.serve_client(conn)
                return
            if self.id_to_transit:
                self._release_expired_transits()
            try:
                reply = (RETURN, getattr(self, funcname)(conn, *args, **kwds))
            except Exception:
                reply = (TRACEBACK, traceback.format_exc())
            conn.send(reply)
            if funcname == 'shutdown':
                self.stop_event.set()
        except (OSError, EOFError) as exc:
            util.debug('connection to a manager client lost: %s', exc)
        finally:
            with self._clients_lock:
                self._clients.discard(raw_conn)
            raw_conn.close()

    def serve_client(self, conn):
        """Serve proxy calls ``(id, methodname, args, kwds)`` until the client hangs up.

        This is the hot loop of every proxy call (``docs/managers.md``).
        """
        util.debug('starting server thread to service %r', threading.current_thread().name)
        send = conn.send
        while True:
            try:
                request = conn.recv_in_turn()
            except (EOFError, OSError):
                util.debug('got EOF -- exiting thread serving %r',
                           threading.current_thread().name)
                return
            except Exception:
                # The whole request was read, but this process cannot load it
                # (say, a proxy of a referent gone): say why, and go on --
                # the connection is still in step.
                reply = (TRACEBACK, traceback.format_exc())
            else:
                reply = self._serve_request(conn, request)
            try:
                send(reply)
            except Exception:
                try:
                    send((UNSERIALIZABLE, traceback.format_exc()))
                except Exception:
                    util.info('exception in thread serving %r',
                              threading.current_thread().name)
                    return
            # Hold nothing of this call while waiting for the next: its
            # arguments may be proxies of other managers, and its result a
            # referent freed meanwhile; both go now, not at the next call.
            request = reply = None

    def _serve_request(self, conn, request):
        """The reply to one proxy call ``(id, methodname, args, kwds)``."""
        try:
            ident, methodname, args, kwds = request
            entry = self.id_to_obj.get(ident)    # inline: this runs for every call
            if entry is None:
                raise no_such_referent(ident)
            obj, exposed, method_to_typeid = entry
            if methodname in exposed:
                function = _find_method(obj, methodname)
            elif methodname in _FALLBACKS:
                function = functools.partial(_FALLBACKS[methodname], obj)
            else:
                raise AttributeError('method %r of %r object is not exposed (exposed=%r)'
                                     % (methodname, type(obj).__name__, sorted(exposed)))
        except Exception:
            return (TRACEBACK, traceback.format_exc())
        try:
            result = function(*args, **kwds)
        except Exception as exc:
            # The caller re-raises it with its type -- if it can be
            # rebuilt there; if not, send the traceback as text.
            if survives(exc, self.serializer):
                return (ERROR, exc)
            return (TRACEBACK, traceback.format_exc())
        typeid = method_to_typeid and method_to_typeid.get(methodname)
        if typeid:
            return self._share_result(conn, typeid, result)
        if result.__class__ in _VIEW_TYPES:
            return (RETURN, list(result))           # dict views do not pickle
        return (RETURN, result)

    def referent_entry(self, ident):
        """``(referent, exposed names, method_to_typeid)`` for ``ident``, or
        ``KeyError`` saying why there is none."""
        try:
            return self.id_to_obj[ident]
        except KeyError:
            raise no_such_referent(ident) from None

    def _share_result(self, conn, typeid, result):
        """The reply for a method in ``method_to_typeid``: a new referent's token."""
        try:
            ident, exposed = self.create(conn, typeid, result)
        except Exception:
            return (TRACEBACK, traceback.format_exc())
        return (PROXY, (exposed, Token(typeid, self.address, ident)))

    # -- the public functions (each gets the connection first) -----------------

    def create(self, conn, typeid, *args, **kwds):
        """Make a new referent of ``typeid``; return ``(id, exposed)``, refcount 1."""
        entry = self.registry[typeid]
        if entry.callable is None:
            if kwds or len(args) != 1:
                raise ValueError('typeid %r has no callable: give exactly one object '
                                 'to share' % typeid)
            obj = args[0]
        else:
            obj = entry.callable(*args, **kwds)
        exposed, method_to_typeid = entry.exposed, entry.method_to_typeid
        if exposed is None:
            exposed = public_methods(obj)
        if method_to_typeid is not None:
            exposed = list(exposed) + list(method_to_typeid)
        ident = '%x:%s:%d' % (id(obj), self.incarnation, next(self._serials))
        util.debug('%r callable returned object with id %r', typeid, ident)
        with self.mutex:
            self.id_to_obj[ident] = (obj, frozenset(exposed), method_to_typeid)
            self.id_to_refcount[ident] = 1
        return ident, tuple(exposed)

    def incref(self, conn, ident):
        with self.mutex:
            if ident not in self.id_to_refcount:
                raise no_such_referent(ident)
            self.id_to_refcount[ident] += 1

    def decref(self, conn, ident):
        """One proxy fewer; a referent nobody refers to is deleted (16.6.2.8.1)."""
        with self.mutex:
            count = self.id_to_refcount.get(ident, 0)
            if count <= 0:
                raise no_such_referent(ident)
            if count > 1:
                self.id_to_refcount[ident] = count - 1
                return
            del self.id_to_refcount[ident]
            entry = self.id_to_obj.pop(ident)
        util.debug('disposing of obj with id %r', ident)
        # The referent goes when ``entry`` does -- outside the mutex, because
        # its __del__ may run arbitrary code (say, drop a proxy of its own).
        del entry

    # -- references in transit: a proxy pickled on its way to another process

    def incref_in_transit(self, conn, ident):
        """One reference for a pickled proxy, until the receiver ``adopt``s it.

        Without it, a proxy whose sender drops its own proxy right after
        pickling it (``queue.put(manager.list())``) would lose its referent
        before the receiver's ``incref``.  A pickle that is never unpickled
        holds it for ``TRANSIT_TIMEOUT`` seconds at most.
        """
        with self.mutex:
            if ident not in self.id_to_refcount:
                raise no_such_referent(ident)
            self.id_to_refcount[ident] += 1
            self.id_to_transit.setdefault(ident, []).append(time.monotonic())

    def adopt(self, conn, ident):
        """A pickled proxy was unpickled: its reference in transit becomes the new
        proxy's.  (None left -- the same pickle unpickled twice, or too late -- a
        new reference, as ``incref``.)"""
        if self._take_transit(ident):
            return
        try:
            self.incref(conn, ident)
        except KeyError:
            raise KeyError('no shared object with id %r in this manager: the pickled proxy '
                           'was unpickled after its referent was freed (more than %s s after '
                           'pickling, when no other proxy was left), or it was pickled for an '
                           'earlier server at this address' % (ident, TRANSIT_TIMEOUT)) from None

    def drop_transit(self, ident):
        """A pickled proxy was unpickled here, to its referent: its reference
        in transit is given back (called by ``proxies.RebuildProxy``)."""
        if self._take_transit(ident):
            self.decref(None, ident)

    def _take_transit(self, ident):
        with self.mutex:
            times = self.id_to_transit.get(ident)
            if not times:
                return False
            times.pop(0)
            if not times:
                del self.id_to_transit[ident]
            return True

    def _release_expired_transits(self):
        """Give back the references in transit older than ``TRANSIT_TIMEOUT``
        (run before each public function: no thread of its own)."""
        too_old = time.monotonic() - TRANSIT_TIMEOUT
        expired = []
        with self.mutex:
            for ident, times in list(self.id_to_transit.items()):
                while times and times[0] < too_old:
                    times.pop(0)
                    expired.append(ident)
                if not times:
                    del self.id_to_transit[ident]
        for ident in expired:
            util.info('a pickled proxy for %r was not unpickled within %s s: its reference '
                      'is given back', ident, TRANSIT_TIMEOUT)
            self.decref(None, ident)

    def get_methods(self, conn, token):
        return tuple(self.referent_entry(token.id)[1])

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
    GETVALUE: lambda obj: obj,
}

_SLICE_METHODS = {
    '__getslice__': lambda obj, i, j: obj[i:j],
    '__setslice__': lambda obj, i, j, seq: obj.__setitem__(slice(i, j), seq),
    '__delslice__': lambda obj, i, j: obj.__delitem__(slice(i, j)),
}

_VIEW_TYPES = frozenset(type(getattr({}, name)()) for name in ('keys', 'values', 'items'))
