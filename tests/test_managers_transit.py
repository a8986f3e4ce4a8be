"""Tests for a proxy on its way to another process (``mpref.proxies``,
``mpref.server``): it keeps its referent alive while it travels.

Spec 16.6.2.8.1: the server counts the proxies of each referent and deletes it
at zero.  A proxy that is pickled (put on a queue, sent on a pipe, given to a
pool as an argument, stored in another manager's container) while its sender
drops its own proxy would otherwise lose its referent before the receiver
counts itself: the stdlib fails every test below that way (``RemoteError``,
``KeyError`` in the receiver).  mpref takes a reference *in transit* when it
pickles a proxy, which the receiver adopts; a pickle that is never unpickled
gives it back after ``server.TRANSIT_TIMEOUT``.  Every wait is bounded.
"""

import copy
import gc
import pickle
import time

import pytest

import mpref
from mpref import managers, server
from tests.test_managers import WAIT


def length_later(proxy, delay=0.3):
    time.sleep(delay)                # the sender's proxy is long gone by now
    return len(proxy)


def report_length(source, out):
    """A child: receive a proxy from ``source`` (a queue or a connection), report ``len``."""
    proxy = source.get(timeout=WAIT) if hasattr(source, 'get') else source.recv()
    out.put(len(proxy))


def wait_objects(manager, expected):
    deadline = time.monotonic() + WAIT
    while manager._number_of_objects() != expected and time.monotonic() < deadline:
        time.sleep(0.02)
    return manager._number_of_objects()


@pytest.fixture
def manager(start_method):
    with managers.SyncManager(ctx=mpref.get_context(start_method)) as manager:
        yield manager


@pytest.mark.parametrize('channel', ['queue', 'pipe'])
def test_a_proxy_sent_to_a_child_outlives_its_sender(manager, ctx, channel):
    out = ctx.Queue()
    if channel == 'queue':
        source = sink = ctx.Queue()
        send = sink.put
    else:
        source, sink = ctx.Pipe(False)
        send = sink.send
    send(manager.list([1, 2]))       # the only proxy, dropped as put() returns
    gc.collect()
    # The sender's decref has reached the server; only the pickle holds the list.
    assert manager._number_of_objects() == 1
    child = ctx.Process(target=report_length, args=(source, out))
    child.start()
    assert out.get(timeout=WAIT) == 2
    child.join(WAIT)
    assert child.exitcode == 0
    assert wait_objects(manager, 0) == 0      # the child's proxy was the last


def test_a_proxy_given_to_a_pool_outlives_its_sender(manager, ctx):
    with ctx.Pool(1) as pool:
        busy = pool.apply_async(time.sleep, (0.5,))       # the worker takes its time
        result = pool.apply_async(length_later, (manager.list([1, 2]), 0))
        gc.collect()
        assert result.get(WAIT) == 2
        busy.get(WAIT)
    assert wait_objects(manager, 0) == 0


def test_a_proxy_stored_in_another_managers_container(start_method):
    ctx = mpref.get_context(start_method)
    with managers.SyncManager(ctx=ctx) as a, managers.SyncManager(ctx=ctx) as b:
        container = a.list()
        container.append(b.list([1, 2]))     # a's server now holds a proxy for b's list
        gc.collect()
        assert b._number_of_objects() == 1
        inner = container[0]                 # pickled by a's server, adopted here
        assert type(inner).__name__ == 'ListProxy' and inner[:] == [1, 2]
        container.append(b.list([3]))
        popped = container.pop()             # a's server lets go of its proxy as it sends it
        gc.collect()
        assert popped[:] == [3]
        del inner, popped, container
        assert wait_objects(a, 0) == 0
        assert wait_objects(b, 0) == 0       # a's proxies went with their container


def test_a_proxy_sent_to_its_own_server_costs_no_reference(manager):
    """The spec's nested lists: the server unpickles the proxy to its referent,
    and no reference is left over for a pickle in transit."""
    outer = manager.list()
    outer.append(manager.list([1]))
    gc.collect()
    assert outer[:] == [[1]]
    assert wait_objects(manager, 1) == 1


def test_each_unpickling_counts_once(manager):
    shared = manager.list([7])
    data = pickle.dumps(shared)
    first, second = pickle.loads(data), pickle.loads(data)   # the second: a plain incref
    duplicate = copy.copy(shared)
    del shared
    gc.collect()
    assert first[0] == second[0] == duplicate[0] == 7
    del first, duplicate
    gc.collect()
    assert second[0] == 7                    # still alive: `second` holds its own reference
    del second
    assert wait_objects(manager, 0) == 0


def test_a_pickle_never_unpickled_holds_its_referent_for_a_bounded_time(monkeypatch):
    monkeypatch.setattr(server, 'TRANSIT_TIMEOUT', 0.5)         # inherited by the fork
    with managers.SyncManager(ctx=mpref.get_context('fork')) as manager:
        data = pickle.dumps(manager.list([1, 2]))
        gc.collect()
        assert manager._number_of_objects() == 1
        time.sleep(0.6)
        # Any request to the server gives back what has waited too long.
        assert wait_objects(manager, 0) == 0
        with pytest.raises(managers.RemoteError, match='unpickled after its referent was freed'):
            pickle.loads(data)
