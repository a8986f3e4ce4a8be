"""Tests for ``BaseManager(serializer='xmlrpclib')`` (``mpref.serializers``).

Beyond the spec's page: 2.6's own code offers the serializer, Python 3's
``xmlrpc.client`` carries it.  A manager whose connections speak XML-RPC
instead of pickles works as the pickle one does, within the limits of the
format: None, bool, 32-bit int, float, str, bytes, datetime, lists and
str-keyed dicts (a tuple arrives as a list).  What it cannot carry is refused
in the sender with a ``TypeError`` that says what and why.  Programs whose
outcome the stdlib shares run on both (``impl``); where the stdlib fails (an
exception or an iterator coming back, an instance silently sent as a dict), on
mpref alone, saying so.
"""

import datetime
import queue

import pytest

import multiprocessing.managers as std_managers

import mpref
from mpref import managers as mpref_managers
from tests.test_managers import IMPLS, WAIT

KEY = b'xml key'
VALUES = ('hello world', None, True, 2.25, 'hall\xe5 v\xe4rlden',
          '\u043f\u0440\u0438\u0432\u0456\u0442', b'hall\xe5 v\xe4rlden', [1, {'x': -7}],
          datetime.datetime(2008, 10, 1, 12, 30))

_queue = queue.Queue()


def get_queue():
    return _queue


# The spec's QueueManager (16.6.2.7.3), server side and client side (no
# callable), for each implementation; at module level, so a spawned server finds it.
class MprefQueueServer(mpref_managers.BaseManager):
    pass


class MprefQueueClient(mpref_managers.BaseManager):
    pass


class StdQueueServer(std_managers.BaseManager):
    pass


class StdQueueClient(std_managers.BaseManager):
    pass


for _server_class, _client_class in ((MprefQueueServer, MprefQueueClient),
                                     (StdQueueServer, StdQueueClient)):
    _server_class.register('get_queue', callable=get_queue)
    _client_class.register('get_queue')

QUEUE_MANAGERS = {'mpref': (MprefQueueServer, MprefQueueClient),
                  'stdlib': (StdQueueServer, StdQueueClient)}


def put_values(impl_name, address, shared):
    """A child: connect with xmlrpclib (or use the proxy it was given) and put VALUES."""
    if shared is None:
        client = QUEUE_MANAGERS[impl_name][1](address=address, authkey=KEY,
                                              serializer='xmlrpclib')
        client.connect()
        shared = client.get_queue()
    shared.put(VALUES)


@pytest.fixture(params=['mpref', 'stdlib'])
def impl(request):
    return IMPLS[request.param]


@pytest.fixture
def server(impl, start_method):
    """The spec's QueueManager server, started with xmlrpclib on 127.0.0.1."""
    manager = QUEUE_MANAGERS[impl.name][0](address=('127.0.0.1', 0), authkey=KEY,
                                           serializer='xmlrpclib', ctx=impl.ctx(start_method))
    manager.start()
    yield manager
    impl.shutdown(manager)


def client_of(impl, server):
    client = QUEUE_MANAGERS[impl.name][1](address=server.address, authkey=KEY,
                                          serializer='xmlrpclib')
    client.connect()
    return client


@pytest.mark.parametrize('how', ['connect', 'proxy'])
def test_values_travel_through_a_remote_queue(impl, server, start_method, how):
    shared = server.get_queue()
    args = (impl.name, server.address, shared if how == 'proxy' else None)
    child = impl.ctx(start_method).Process(target=put_values, args=args)
    child.start()
    got = client_of(impl, server).get_queue().get(timeout=WAIT)
    child.join(WAIT)
    assert child.exitcode == 0
    assert got == list(VALUES)          # the tuple arrives as a list
    assert got[6] == b'hall\xe5 v\xe4rlden'


@pytest.mark.parametrize('value', [len, 2 ** 40, {1: 'one'}], ids=['function', 'int', 'dict'])
def test_what_xml_rpc_cannot_carry_is_refused_in_the_sender(impl, server, value):
    shared = server.get_queue()
    with pytest.raises((TypeError, OverflowError)) as info:
        shared.put(value)
    if impl.name == 'mpref':
        assert info.type is TypeError
        assert "serializer 'xmlrpclib'" in str(info.value)
        assert 'XML-RPC carries only' in str(info.value)
    shared.put('the connection goes on')            # nothing half-sent
    assert shared.get(timeout=WAIT) == 'the connection goes on'


class Point:
    def __init__(self, x):
        self.x = x


def test_an_instance_is_refused_not_sent_as_a_dict(impl, server):
    """xmlrpc.client, and so the stdlib's manager, sends an object's
    ``__dict__``: the receiver gets a dict.  mpref refuses instead."""
    shared = server.get_queue()
    if impl.name == 'stdlib':
        shared.put(Point(1))
        assert shared.get(timeout=WAIT) == {'x': 1}
    else:
        with pytest.raises(TypeError, match='Point objects cannot be marshalled'):
            shared.put(Point(1))


@pytest.fixture
def sync_manager(start_method):
    manager = mpref_managers.SyncManager(serializer='xmlrpclib',
                                         ctx=mpref.get_context(start_method))
    manager.start()
    yield manager
    manager.shutdown()


def test_builtin_exceptions_and_iterators_come_back(sync_manager):
    """mpref only: the stdlib sends an exception's ``__dict__`` (the caller
    gets ``TypeError: exceptions must derive from BaseException``), and cannot
    send the ``Token`` of an iterator proxy."""
    d = sync_manager.dict(a=1, b=(2, 3))
    assert d['b'] == [2, 3]
    with pytest.raises(KeyError, match='missing'):
        d['missing']
    assert sorted(iter(d)) == ['a', 'b']               # an IteratorProxy, ended by StopIteration
    items = sync_manager.list([1, 2])
    with pytest.raises(IndexError):
        items[5]
    # Not a built-in exception: its traceback, as text.
    q = sync_manager.Queue()
    with pytest.raises(mpref_managers.RemoteError, match='Empty'):
        q.get(timeout=0.01)


@pytest.mark.parametrize('server_side, client_side', [('pickle', 'xmlrpclib'),
                                                      ('xmlrpclib', 'pickle')])
def test_a_client_with_the_other_serializer_is_told_so(server_side, client_side):
    manager = MprefQueueServer(authkey=KEY, serializer=server_side,
                               ctx=mpref.get_context('fork'))
    manager.start()
    try:
        client = MprefQueueClient(address=manager.address, authkey=KEY, serializer=client_side)
        with pytest.raises(Exception, match='must use the same serializer'):
            client.connect()
        assert manager.get_queue().qsize() == 0         # the server goes on
    finally:
        manager.shutdown()


def test_an_unknown_serializer_is_refused():
    with pytest.raises(ValueError, match="'pickle' or 'xmlrpclib', not 'json'"):
        mpref_managers.BaseManager(serializer='json')


@pytest.mark.parametrize('server_impl, client_impl', [('mpref', 'stdlib'), ('stdlib', 'mpref')])
def test_xml_rpc_crosses_implementations(server_impl, client_impl):
    server_side, client_side = IMPLS[server_impl], IMPLS[client_impl]
    manager = QUEUE_MANAGERS[server_impl][0](address=('127.0.0.1', 0), authkey=KEY,
                                             serializer='xmlrpclib', ctx=server_side.ctx('fork'))
    manager.start()
    try:
        shared = client_of(client_side, manager).get_queue()
        shared.put(['from', client_impl, 1.5, None])
        assert manager.get_queue().get(timeout=WAIT) == ['from', client_impl, 1.5, None]
        del shared
    finally:
        server_side.shutdown(manager)
