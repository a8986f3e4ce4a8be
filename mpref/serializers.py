"""The two serializers a manager's connections can speak: ``'pickle'`` and ``'xmlrpclib'``
(spec 16.6.2.7, ``BaseManager``).

Chapter: ``notebooks/06_managers_and_proxies.ipynb``.  ``proxies.py`` (the
client side) and ``server.py`` (the server) send every message of the manager
protocol with ``conn.send(obj)`` and read it with ``conn.recv()``.  With
``serializer='pickle'`` (the default) ``conn`` is a plain ``Connection``: its
messages are pickles.  With ``serializer='xmlrpclib'`` (beyond the spec's
page, as 2.6's own code offers it) the same connection is wrapped in an
``XmlConnection``, whose messages are XML-RPC documents (Python 3's
``xmlrpc.client``) in the same framing::

    conn.send(('#RETURN', [1, 'a']))
        pickle:     <4-byte length> pickle.dumps(('#RETURN', [1, 'a']))
        xmlrpclib:  <4-byte length> <params><param><value><array><data>
                                      <value><string>#RETURN</string></value> ...

The authentication handshake before the first message is the same for both.
XML-RPC is a small format, and its limits are the serializer's: it carries
None, bool, int (32 bits), float, str, bytes, datetime, list and dict (with str
keys) -- a tuple arrives as a list, and anything else cannot be sent at all.
``XmlConnection.send`` refuses such a message in the sender, with a
``TypeError`` saying what could not be sent and why, before a byte is written
(so the connection stays usable).  Two more kinds cross, each as a struct: an
exception of a built-in class (``KeyError``, ``StopIteration``, ...; so
iterating or indexing a proxy works), and ``proxies.Token``, by its fields
(``cross_as_struct``).  The server sends any other exception as its
traceback's text (``survives``).
"""

import builtins
import pickle
import xml.parsers.expat
import xmlrpc.client

__all__ = ['SERIALIZERS', 'MISMATCH_ERRORS', 'check_serializer', 'wrap_connection',
           'survives', 'XmlConnection', 'cross_as_struct']

#: The serializers a manager accepts (CPython's names).
SERIALIZERS = ('pickle', 'xmlrpclib')
#: What reading a message raises when its sender spoke the other serializer.
MISMATCH_ERRORS = (pickle.UnpicklingError, xml.parsers.expat.ExpatError)


def check_serializer(serializer):
    """Refuse a ``serializer`` that is not one of ``SERIALIZERS``."""
    if serializer not in SERIALIZERS:
        raise ValueError('serializer must be one of %s, not %r'
                         % (' or '.join(map(repr, SERIALIZERS)), serializer))


def wrap_connection(conn, serializer):
    """The connection that speaks ``serializer`` over ``conn`` (authenticated already)."""
    if serializer == 'xmlrpclib':
        return XmlConnection(conn)
    return conn


def survives(obj, serializer):
    """Whether ``obj`` can be sent with ``serializer`` *and* rebuilt by the receiver.

    An exception whose ``__init__`` wants other arguments than its ``args``
    pickles, but does not unpickle; XML-RPC carries only built-in exceptions.
    """
    if serializer == 'pickle':
        dumps, loads = (lambda x: pickle.dumps(x, pickle.HIGHEST_PROTOCOL)), pickle.loads
    else:
        dumps, loads = xml_dumps, xml_loads
    try:
        loads(dumps(obj))
    except Exception:
        return False
    return True


class XmlConnection:
    """A ``Connection`` whose ``send``/``recv`` carry XML-RPC documents, not pickles.

    The bytes-level methods (``send_bytes``, ``recv_bytes``, ``poll``,
    ``fileno``, ``close``) are the wrapped connection's own.
    """

    def __init__(self, conn):
        self._conn = conn
        self.send_bytes = conn.send_bytes
        self.recv_bytes = conn.recv_bytes
        self.poll = conn.poll
        self.fileno = conn.fileno
        self.close = conn.close

    @property
    def closed(self):
        return self._conn.closed

    def send(self, obj):
        self._conn.send_bytes(xml_dumps(obj))

    def recv(self):
        return xml_loads(self._conn.recv_bytes())

    # Strict turns gain nothing here: XML parsing dwarfs the one system call.
    recv_in_turn = recv


def xml_dumps(obj):
    """``obj`` as an XML-RPC ``<params>`` document, UTF-8 encoded (CPython's layout)."""
    try:
        return _XmlMarshaller('utf-8', allow_none=True).dumps((obj,)).encode('utf-8')
    except (TypeError, OverflowError) as exc:
        raise TypeError("cannot send %s with serializer 'xmlrpclib': %s (XML-RPC carries only "
                        "None, bool, int of 32 bits, float, str, bytes, datetime, and lists, "
                        "tuples and str-keyed dicts of these)" % (_describe(obj), exc)) from None


def xml_loads(data):
    """The object an ``xml_dumps`` document holds."""
    unmarshaller = _XmlUnmarshaller(use_builtin_types=True)
    parser = xmlrpc.client.ExpatParser(unmarshaller)
    parser.feed(data)
    parser.close()
    obj, = unmarshaller.close()
    return obj


def _describe(obj):
    text = repr(obj)
    return text if len(text) <= 80 else text[:77] + '...'


# --------------------------------------------------------------------------
# What XML-RPC cannot say by itself
# --------------------------------------------------------------------------

#: The struct member naming the class of an object sent by ``cross_as_struct``.
CLASS_MEMBER = '__mpref_class__'
_struct_classes = {}                 # class name -> class


class _XmlMarshaller(xmlrpc.client.Marshaller):
    dispatch = dict(xmlrpc.client.Marshaller.dispatch)

    def _dump_instance(self, value, write):
        if isinstance(value, BaseException) and _builtin_exception(type(value).__name__):
            self.dump_struct({CLASS_MEMBER: 'exception', 'name': type(value).__name__,
                              'args': list(value.args)}, write)
            return
        # xmlrpc.client would send any other object's __dict__ as a struct,
        # and the receiver would get a dict: refused, not silently changed.
        raise TypeError('%s objects cannot be marshalled' % type(value).__name__)

    dispatch['_arbitrary_instance'] = _dump_instance

    def _dump_state(self, value, write):
        self.dump_struct({CLASS_MEMBER: type(value).__name__, 'state': value.__getstate__()},
                         write)


class _XmlUnmarshaller(xmlrpc.client.Unmarshaller):
    dispatch = dict(xmlrpc.client.Unmarshaller.dispatch)

    def end_struct(self, data):
        super().end_struct(data)
        struct = self._stack[-1]
        kind = struct.get(CLASS_MEMBER)
        if kind == 'exception' and _builtin_exception(struct.get('name')):
            self._stack[-1] = getattr(builtins, struct['name'])(*struct['args'])
        elif kind in _struct_classes:
            obj = _struct_classes[kind].__new__(_struct_classes[kind])
            obj.__setstate__(struct['state'])
            self._stack[-1] = obj

    dispatch['struct'] = end_struct


def _builtin_exception(name):
    cls = getattr(builtins, name, None) if isinstance(name, str) else None
    return isinstance(cls, type) and issubclass(cls, BaseException)


def cross_as_struct(cls):
    """Class decorator: let ``cls`` cross XML-RPC as a struct of ``__getstate__()``.

    The receiver rebuilds it with ``__setstate__`` (whose state may then hold
    lists where tuples were sent).
    """
    _struct_classes[cls.__name__] = cls
    _XmlMarshaller.dispatch[cls] = _XmlMarshaller._dump_state
    return cls
