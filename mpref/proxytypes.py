"""The proxy types of ``SyncManager``'s shared objects (spec 16.6.2.7, 16.6.2.8).

Chapter: ``notebooks/06_managers_and_proxies.ipynb``.  A proxy type is a
``BaseProxy`` subclass (``proxies.py``) whose methods each forward one call
to the referent (``proxies.forward``) -- sometimes with a little work on the
caller's side: an ``AcquirerProxy`` is a context manager, a
``NamespaceProxy`` keeps the attributes starting with ``'_'`` for itself,
``ConditionProxy.wait_for`` loops here over ``wait()``.  ``managers.py``
registers each with its typeid; a method listed in a type's
``_method_to_typeid_`` returns a proxy of that typeid instead of a copy
(``DictProxy.__iter__``, ``PoolProxy.apply_async`` and ``imap``).
"""

from .proxies import PROXYTYPE_WITHOUT_MANAGER, BaseProxy, MakeProxyType, forward
from .synchronize import Condition

__all__ = ['IteratorProxy', 'AcquirerProxy', 'ConditionProxy', 'EventProxy', 'NamespaceProxy',
           'ValueProxy', 'ListProxy', 'DictProxy', 'ArrayProxy', 'PoolProxy', 'AsyncResultProxy',
           'BarrierProxy']


class IteratorProxy(BaseProxy):
    """A proxy for an iterator in the server (what a dict proxy's iter() returns)."""
    _exposed_ = ('__next__', 'send', 'throw', 'close')

    def __iter__(self):
        return self

    __next__ = forward('__next__')
    send = forward('send')
    throw = forward('throw')
    close = forward('close')


class AcquirerProxy(BaseProxy):
    """A proxy for a ``Lock``, ``RLock``, ``Semaphore`` or ``BoundedSemaphore``.

    The server thread serving this thread's connection does the acquiring,
    so an ``RLock`` is owned by (and must be released from) the same thread.
    """
    _exposed_ = ('acquire', 'release')

    def acquire(self, blocking=True, timeout=None):
        args = (blocking,) if timeout is None else (blocking, timeout)
        return self._callmethod('acquire', args)

    def release(self):
        return self._callmethod('release')

    def __enter__(self):
        return self._callmethod('acquire')

    def __exit__(self, *exc_info):
        return self._callmethod('release')


class ConditionProxy(AcquirerProxy):
    """A proxy for a ``threading.Condition`` in the server."""
    _exposed_ = ('acquire', 'release', 'wait', 'notify', 'notify_all')

    def wait(self, timeout=None):
        return self._callmethod('wait', (timeout,))

    def notify(self, n=1):
        return self._callmethod('notify', (n,))

    def notify_all(self):
        return self._callmethod('notify_all')

    notifyAll = notify_all          # the spec's Python 2 spelling

    # Beyond the spec (Python 3.2): the loop runs here, in the caller, over
    # this proxy's wait() -- the predicate is the caller's, not the server's.
    wait_for = Condition.wait_for


class EventProxy(BaseProxy):
    """A proxy for a ``threading.Event`` in the server."""
    _exposed_ = ('is_set', 'set', 'clear', 'wait')

    def is_set(self):
        return self._callmethod('is_set')

    isSet = is_set                  # the spec's Python 2 spelling

    def set(self):
        return self._callmethod('set')

    def clear(self):
        return self._callmethod('clear')

    def wait(self, timeout=None):
        return self._callmethod('wait', (timeout,))


class BarrierProxy(BaseProxy):
    """A proxy for a ``threading.Barrier`` in the server.

    Beyond the spec (``Barrier`` is Python 3.2's), as CPython's
    ``SyncManager.Barrier``: ``wait``, ``abort``, ``reset`` and the
    read-only ``parties``, ``n_waiting``, ``broken``, each one call.
    """
    _exposed_ = ('__getattribute__', 'wait', 'abort', 'reset')

    def wait(self, timeout=None):
        return self._callmethod('wait', (timeout,))

    def abort(self):
        return self._callmethod('abort')

    def reset(self):
        return self._callmethod('reset')

    @property
    def parties(self):
        return self._callmethod('__getattribute__', ('parties',))

    @property
    def n_waiting(self):
        return self._callmethod('__getattribute__', ('n_waiting',))

    @property
    def broken(self):
        return self._callmethod('__getattribute__', ('broken',))


class NamespaceProxy(BaseProxy):
    """A proxy for a ``Namespace`` (spec 16.6.2.7.1).

    Attributes whose names start with ``'_'`` belong to the proxy itself;
    all others are read, set and deleted on the referent.
    """
    _exposed_ = ('__getattribute__', '__setattr__', '__delattr__')

    def __getattr__(self, key):
        if key[0] == '_':
            return object.__getattribute__(self, key)
        return self._callmethod('__getattribute__', (key,))

    def __setattr__(self, key, value):
        if key[0] == '_':
            return object.__setattr__(self, key, value)
        return self._callmethod('__setattr__', (key, value))

    def __delattr__(self, key):
        if key[0] == '_':
            return object.__delattr__(self, key)
        return self._callmethod('__delattr__', (key,))


class ValueProxy(BaseProxy):
    """A proxy for ``SyncManager.Value``: ``get()``, ``set()`` and ``value``."""
    _exposed_ = ('get', 'set')

    def get(self):
        return self._callmethod('get')

    def set(self, value):
        return self._callmethod('set', (value,))

    value = property(get, set)


_BaseListProxy = MakeProxyType('_BaseListProxy', (
    '__add__', '__contains__', '__delitem__', '__getitem__', '__len__', '__mul__',
    '__reversed__', '__rmul__', '__setitem__', 'append', 'count', 'extend', 'index',
    'insert', 'pop', 'remove', 'reverse', 'sort',
    # The spec's Python 2 slice methods, served as slicing by the server.
    '__getslice__', '__setslice__', '__delslice__'))


class ListProxy(_BaseListProxy):
    """A proxy for a shared ``list``: indexing, slicing, ``len``, ``in``, ``+``,
    ``*``, iteration (item by item), and the list methods."""
    _exposed_ = _BaseListProxy._exposed_ + ('__iadd__', '__imul__')

    def __iadd__(self, value):
        self._callmethod('extend', (value,))
        return self

    def __imul__(self, value):
        self._callmethod('__imul__', (value,))
        return self


_BaseDictProxy = MakeProxyType('_BaseDictProxy', (
    '__contains__', '__delitem__', '__getitem__', '__iter__', '__len__', '__setitem__',
    'clear', 'copy', 'get', 'items', 'keys', 'pop', 'popitem', 'setdefault', 'update',
    'values'))


class DictProxy(_BaseDictProxy):
    """A proxy for a shared ``dict``.  ``keys()``, ``values()`` and ``items()``
    return lists (copies, as in the spec's Python 2); iterating asks the
    server for an iterator and returns an ``IteratorProxy``."""
    _method_to_typeid_ = {'__iter__': 'Iterator'}


ArrayProxy = MakeProxyType('ArrayProxy', ('__len__', '__getitem__', '__setitem__'))


_BasePoolProxy = MakeProxyType('_BasePoolProxy', (
    'apply', 'apply_async', 'close', 'imap', 'imap_unordered', 'join', 'map', 'map_async',
    'starmap', 'starmap_async', 'terminate'))


class PoolProxy(_BasePoolProxy):
    """A proxy for a ``Pool`` living in the manager's server (``SyncManager.Pool``).

    Beyond the spec's page, as in 2.6's own code: the workers are children
    of the server process.  The results stay there too: ``apply_async`` and
    the ``*map_async`` methods return an ``AsyncResultProxy``, ``imap`` and
    ``imap_unordered`` an ``IteratorProxy``.  Leaving a ``with`` block calls
    ``terminate()``, as for a ``Pool``.
    """
    _method_to_typeid_ = {'apply_async': 'AsyncResult', 'map_async': 'AsyncResult',
                          'starmap_async': 'AsyncResult',
                          'imap': 'Iterator', 'imap_unordered': 'Iterator'}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.terminate()


#: A proxy for a pool's ``AsyncResult`` kept in the manager's server.
AsyncResultProxy = MakeProxyType('AsyncResultProxy', ('get', 'wait', 'ready', 'successful'))

# The typeids these methods return, for a proxy unpickled where no manager
# can tell its proxy type (a child given a dict or pool proxy).
PROXYTYPE_WITHOUT_MANAGER.update({'Iterator': IteratorProxy, 'AsyncResult': AsyncResultProxy})
