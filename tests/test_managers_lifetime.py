"""Tests for how long the pieces of a manager live: its server at shutdown, a
client's connections to a server that was restarted, and a proxy on its way to
another process (``mpref.managers``, ``mpref.proxies``, ``mpref.server``).

Spec: 16.6.2.7 (``shutdown()``, ``connect()``, remote managers), 16.6.2.8.1
(cleanup: the server counts the proxies of each referent).  Where the stdlib
behaves the same, the test runs on both (``impl``); where it fails its users
(a proxy in transit, a client after a restart), on mpref alone, saying so.
Every wait is bounded; every server is stopped; every child is joined.
"""

import gc
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time

import pytest

import mpref
from mpref import managers as mpref_managers
from mpref.connection import Client
from mpref.managers import dispatch
from tests.test_managers import IMPLS, KEY, WAIT, server_pid, wait_gone, wait_objects


@pytest.fixture(params=['mpref', 'stdlib'])
def impl(request):
    return IMPLS[request.param]


def linger_at_exit():
    """A server initializer: a non-daemonic thread keeps the process from exiting."""
    threading.Thread(target=time.sleep, args=(WAIT,), name='lingering').start()


# --------------------------------------------------------------------------
# shutdown_timeout (beyond the spec, Python 3.11)
# --------------------------------------------------------------------------

def test_shutdown_timeout_bounds_the_wait_for_a_lingering_server(impl):
    if impl.name == 'stdlib' and sys.version_info < (3, 11):
        pytest.skip('the stdlib has shutdown_timeout since Python 3.11')
    before = _stdlib_temp_dirs()
    manager = impl.Lab(ctx=impl.ctx('fork'), shutdown_timeout=0.3)
    manager.start(linger_at_exit)
    pid = server_pid(manager)
    started = time.monotonic()
    manager.shutdown()
    elapsed = time.monotonic() - started
    assert wait_gone(pid)
    # The server did not leave by itself: after 0.3 s it was terminated.
    assert manager._process.exitcode == -signal.SIGTERM
    assert 0.25 <= elapsed < 1.8, elapsed       # mpref's default would wait 2 s
    # The stdlib's server, terminated, never removed its temp dir (the folder of
    # its socket, pymp-...): remove it here, so the run's leak check stays exact.
    for name in _stdlib_temp_dirs() - before:
        shutil.rmtree(os.path.join(tempfile.gettempdir(), name), ignore_errors=True)


def _stdlib_temp_dirs():
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith('pymp-')}


@pytest.mark.parametrize('value, error', [('1', TypeError), (None, TypeError),
                                          (True, TypeError), (-1, ValueError)])
def test_shutdown_timeout_must_be_seconds(value, error):
    with pytest.raises(error, match='shutdown_timeout'):
        IMPLS['mpref'].Lab(shutdown_timeout=value)


# --------------------------------------------------------------------------
# A client of a server that was restarted at the same address (mpref only:
# the stdlib's thread keeps its connection to the dead server, and the new
# manager's proxies fail with EOFError or BrokenPipeError)
# --------------------------------------------------------------------------

FIXED = {}            # made before any server starts: at one address in every forked server


def fixed():
    """A referent that outlives its proxies (and is the same object, at the
    same ``id()``, in every server forked from this process)."""
    return FIXED


class RestartedManager(mpref_managers.SyncManager):
    pass


RestartedManager.register('fixed', callable=fixed, proxytype=mpref_managers.DictProxy)


def serve_sync_manager(address, conn):
    """A child: serve a SyncManager at ``address`` until asked to shut down."""
    server = RestartedManager(address=address, authkey=KEY).get_server()
    conn.send(server.address)
    conn.close()
    server.serve_forever()


def start_server(ctx, address=('127.0.0.1', 0)):
    reader, writer = ctx.Pipe(False)
    process = ctx.Process(target=serve_sync_manager, args=(address, writer), daemon=True)
    process.start()
    writer.close()
    assert reader.poll(WAIT), 'the server did not come up'
    return process, reader.recv()


def stop_server(process, how, address):
    if how == 'killed':
        process.kill()
    else:                                    # a clean stop, asked by another client
        with Client(address, authkey=KEY) as conn:
            dispatch(conn, None, 'shutdown')
    process.join(WAIT)
    assert process.exitcode is not None


def connected_manager(address):
    manager = RestartedManager(address=address, authkey=KEY)
    manager.connect()
    return manager


@pytest.fixture
def servers(start_method):
    """``start(address)`` starts a server process; all are killed at the end."""
    ctx = mpref.get_context(start_method)
    started = []

    def start(address=('127.0.0.1', 0)):
        process, address = start_server(ctx, address)
        started.append(process)
        return process, address
    yield start
    for process in started:
        process.kill()
        process.join(WAIT)


@pytest.mark.parametrize('how', ['killed', 'shut down'])
def test_a_new_connect_after_a_restart_uses_new_connections(servers, how):
    first, address = servers()
    old = connected_manager(address).dict()
    old['a'] = 1                             # this thread now has a connection to `first`
    helper_proxies = []

    def use_from_a_thread():
        helper_proxies.append(connected_manager(address).list([1]))
        helper_proxies[-1].append(2)
    helper = threading.Thread(target=use_from_a_thread)
    helper.start()
    helper.join(WAIT)

    stop_server(first, how, address)
    servers(address)                         # a new server at the same address
    new = connected_manager(address).dict()
    new['b'] = 2                             # not EOFError on the dead connection
    assert new.items() == [('b', 2)]
    # The old proxy's referent died with its server: said so, not a broken pipe.
    with pytest.raises(mpref_managers.RemoteError, match='earlier server at this address'):
        old['a']
    new['c'] = 3                             # the same thread's connection still serves

    def use_again():
        helper_proxies.append(connected_manager(address).list([3]))
        helper_proxies[-1].append(4)
    helper = threading.Thread(target=use_again)
    helper.start()
    helper.join(WAIT)
    assert helper_proxies[-1][:] == [3, 4]


def test_a_freed_id_is_never_given_again(servers):
    """The same object shared again after its proxies were all gone gets a new
    id: a stale id (a proxy pickled and unpickled too late) finds nothing,
    not the new referent."""
    _, address = servers()
    with Client(address, authkey=KEY) as conn:
        first, _ = dispatch(conn, None, 'create', ('fixed',))
    with Client(address, authkey=KEY) as conn:
        dispatch(conn, None, 'decref', (first,))          # freed (FIXED lives on here)
    with Client(address, authkey=KEY) as conn:
        second, _ = dispatch(conn, None, 'create', ('fixed',))
    assert second != first
    with Client(address, authkey=KEY) as conn:
        with pytest.raises(mpref_managers.RemoteError, match='no shared object'):
            dispatch(conn, None, 'incref', (first,))


@pytest.mark.parametrize('how', ['killed', 'shut down'])
def test_a_proxy_of_an_earlier_server_never_reaches_a_new_referent(servers, how):
    """A server restarted at the same address shares an object that has the
    same ``id()`` as the old proxy's referent (forked from one parent, it sits
    at the same address): the old proxy is told its referent is gone; it does
    not read or change the new one."""
    first, address = servers()
    old = connected_manager(address).fixed()
    old['a'] = 1
    stale_pickle = pickle.dumps(old)
    stop_server(first, how, address)
    servers(address)
    new = connected_manager(address).fixed()
    new['b'] = 2
    with pytest.raises(mpref_managers.RemoteError, match='earlier server at this address'):
        old['c'] = 3
    with pytest.raises(mpref_managers.RemoteError, match='earlier server at this address'):
        old.keys()
    process = mpref.current_process()
    own_key, process.authkey = process.authkey, KEY      # an unpickled proxy uses this key
    try:
        with pytest.raises(mpref_managers.RemoteError, match='earlier server at this address'):
            pickle.loads(stale_pickle)
    finally:
        process.authkey = own_key
    # Sent to the new server as an argument: refused there, and said why.
    box = connected_manager(address).list()
    with pytest.raises(mpref_managers.RemoteError, match='earlier server at this address'):
        box.append(old)
    del old
    gc.collect()                             # its decref must not free the new referent
    assert new.items() == [('b', 2)]
    assert box[:] == []


def test_every_serving_of_one_server_object_names_its_ids_afresh():
    """One ``Server`` object served by two forked children in turn (the first
    killed): the second must not give the ids the first gave."""
    server = RestartedManager(address=('127.0.0.1', 0), authkey=KEY).get_server()
    ctx = mpref.get_context('fork')
    ids = []
    try:
        for _ in range(2):
            child = ctx.Process(target=server.serve_forever, daemon=True)
            child.start()
            try:
                with Client(server.address, authkey=KEY) as conn:
                    ids.append(dispatch(conn, None, 'create', ('fixed',))[0])
            finally:
                child.kill()
                child.join(WAIT)
    finally:
        server.listener.close()
    assert len(ids) == 2 and ids[0] != ids[1], ids


def refuse_to_load():
    raise ValueError('this argument refuses to be unpickled')


class Unloadable:
    """Pickles fine; unpickling it raises."""
    def __reduce__(self):
        return refuse_to_load, ()


def test_an_argument_the_server_cannot_load_fails_that_call_only(servers):
    """The whole request was read: the server says why and goes on serving the
    same connection (it used to hang up, and the thread's next call could
    fail with a reset connection)."""
    _, address = servers()
    box = connected_manager(address).list()
    box.append(0)
    connection = box._tls.connection
    for _ in range(3):
        with pytest.raises(mpref_managers.RemoteError, match='refuses to be unpickled'):
            box.append(Unloadable())
        box.append(1)
    assert box[:] == [0, 1, 1, 1]
    assert box._tls.connection is connection


def test_a_call_keeps_nothing_of_its_arguments_after_it_returns(start_method):
    """A proxy of manager A given to a call on manager B is let go when the
    call returns, not when the next call on that connection arrives."""
    ctx = mpref.get_context(start_method)
    with mpref_managers.SyncManager(ctx=ctx) as a, mpref_managers.SyncManager(ctx=ctx) as b:
        base = a._number_of_objects()
        shared = a.list([1])
        box = b.list()
        assert box.count(shared) == 0        # B's server holds a proxy of `shared` for the call
        del shared
        assert wait_objects(a, base) == base


def test_a_proxy_whose_server_died_says_so(servers):
    process, address = servers()
    shared = connected_manager(address).list([1])
    assert shared[0] == 1
    process.kill()
    process.join(WAIT)
    with pytest.raises(ConnectionRefusedError, match='no manager is serving'):
        shared[0]
    with pytest.raises(ConnectionRefusedError, match='no manager is serving'):
        shared[0]                            # and again: nothing cached is reused


def interrupt_after(seconds):
    """Raise KeyboardInterrupt in the main thread after ``seconds`` (by SIGUSR1:
    SIGALRM is pytest-timeout's)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGUSR1, interrupt)
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGUSR1))
    timer.start()
    return previous, timer


def test_a_call_interrupted_mid_exchange_drops_its_connection():
    """Ctrl-C while a call waits for its reply: the reply may come later, and
    must not be read as the answer to the next call on that connection (or
    the next call queue behind the blocked one for ever)."""
    with mpref_managers.SyncManager(ctx=mpref.get_context('fork')) as manager:
        q = manager.Queue()
        previous, timer = interrupt_after(0.2)
        try:
            with pytest.raises(KeyboardInterrupt):
                q.get()                      # blocks in the server: nothing was put
        finally:
            timer.join()
            signal.signal(signal.SIGUSR1, previous)
        q.put('a')                           # the abandoned get() takes it, in the server
        q.put('b')
        assert q.get(timeout=WAIT) in ('a', 'b')
        assert q.qsize() in (0, 1)


def test_connect_starts_a_new_session_for_every_thread(servers):
    """Even when the old connection looks alive (a host that vanished sends no
    end of file), proxies made after a new ``connect()`` do not use it."""
    process, address = servers()
    shared = connected_manager(address).list([1])
    assert shared[0] == 1
    before = shared._tls.connection
    other = connected_manager(address).list([2])
    assert other[0] == 2
    assert shared._tls.connection is not before and before.closed
    assert shared[0] == 1                    # the old proxy goes on, on the new connection
