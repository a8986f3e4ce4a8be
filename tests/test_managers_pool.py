"""Tests for ``SyncManager.Pool``: a pool living in the manager's server, used
through a ``PoolProxy`` (``mpref.managers``, ``mpref.proxies``).

Beyond the spec's page: 2.6's own ``managers.py`` registers ``Pool`` (and the
results its methods return), although the documentation does not list it.
Each program runs on mpref and on the stdlib (``impl``) and must give the same
results, under a forked and a spawned server.  Every wait is bounded; every
manager is shut down.
"""

import time

import pytest

from tests.test_managers import IMPLS, WAIT


def sqr(x, wait=0.0):
    time.sleep(wait)
    return x * x


def fail(message):
    raise ValueError(message)


def use_pool_in_child(pool, conn, with_async):
    """A child's calls on a pool proxy it received; reports what came back."""
    outcome = [pool.apply(sqr, (3,)), pool.map(sqr, range(4))]
    if with_async:
        outcome.append(pool.apply_async(sqr, (5,)).get(WAIT))
        outcome.append(list(pool.imap(sqr, range(3))))
    conn.send(outcome)
    conn.close()


@pytest.fixture(params=['mpref', 'stdlib'])
def impl(request):
    return IMPLS[request.param]


@pytest.fixture
def manager(impl, start_method):
    """A started SyncManager whose server uses ``start_method``; shut down afterwards."""
    manager = impl.managers.SyncManager(ctx=impl.ctx(start_method))
    manager.start()
    yield manager
    impl.shutdown(manager)


def test_pool_proxy_session(manager):
    with manager.Pool(2) as pool:
        assert type(pool).__name__ == 'PoolProxy'
        assert pool.apply(sqr, (5,)) == 25
        assert pool.apply(sqr, (), {'x': 3}) == 9
        assert pool.map(sqr, range(10)) == [x * x for x in range(10)]
        assert pool.map(sqr, range(100), chunksize=20) == [x * x for x in range(100)]
        assert pool.starmap(pow, [(2, 3), (3, 2)]) == [8, 9]
        assert pool.starmap_async(pow, [(2, 5)]).get(WAIT) == [32]

        result = pool.apply_async(sqr, (7,))
        assert result.get(WAIT) == 49
        assert result.ready() and result.successful()
        assert pool.map_async(sqr, range(4)).get(WAIT) == [0, 1, 4, 9]
        assert pool.map_async(sqr, [], chunksize=1).get(WAIT) == []

        iterator = pool.imap(sqr, range(10))
        assert [next(iterator) for _ in range(10)] == [x * x for x in range(10)]
        with pytest.raises(StopIteration):
            next(iterator)
        assert list(pool.imap(sqr, range(1000), chunksize=100)) == [x * x for x in range(1000)]
        assert sorted(pool.imap_unordered(sqr, range(10))) == [x * x for x in range(10)]
        assert list(pool.imap(sqr, [])) == []


def test_results_are_proxies_for_objects_in_the_server(manager):
    with manager.Pool(1) as pool:
        result = pool.apply_async(sqr, (2, 0.3))
        assert not result.ready()
        result.wait(WAIT)
        assert result.ready() and result.get() == 4
        # Not a copy: the result object stays in the server, and a call reaches it.
        assert type(pool.imap(sqr, [1])).__name__ == 'IteratorProxy'


def test_a_callback_runs_in_the_server(manager):
    """A managed list's ``append`` as callback: unpickled in the server, where
    the proxy becomes its referent, so the pool's thread appends to the list."""
    calls = manager.list()
    with manager.Pool(1) as pool:
        pool.map_async(int, ['1'], callback=calls.append,
                       error_callback=calls.append).wait(WAIT)
        pool.map_async(int, ['a'], callback=calls.append,
                       error_callback=calls.append).wait(WAIT)
    assert calls[0] == [1]
    assert isinstance(calls[1], ValueError)


def test_timeouts_and_errors_keep_their_types(impl, manager):
    with manager.Pool(1) as pool:
        result = pool.apply_async(sqr, (6, 5))
        started = time.monotonic()
        with pytest.raises(impl.package.TimeoutError):
            result.get(0.2)
        assert time.monotonic() - started < 2
        with pytest.raises(ValueError, match='the task failed'):
            pool.apply(fail, ('the task failed',))
        with pytest.raises(ValueError, match='the task failed'):
            pool.map_async(fail, ['the task failed']).get(WAIT)
    # Refused by Pool() in the server: the manager says so with a RemoteError.
    with pytest.raises(impl.RemoteError, match='ValueError'):
        manager.Pool(0)


def test_leaving_the_with_block_terminates_the_pool(manager):
    with manager.Pool(1) as pool:
        assert pool.apply(sqr, (2,)) == 4
    with pytest.raises(ValueError):
        pool.map(sqr, [1])
    pool.join()


def test_dropping_the_proxy_frees_the_pool(manager):
    before = manager._number_of_objects()
    pool = manager.Pool(1)
    result = pool.apply_async(sqr, (3,))
    assert result.get(WAIT) == 9
    assert manager._number_of_objects() == before + 2
    del pool, result
    deadline = time.monotonic() + WAIT
    while manager._number_of_objects() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert manager._number_of_objects() == before


def test_a_child_uses_the_pool_proxy(impl, manager, start_method):
    # A proxy unpickled in a child has no manager to look the returned
    # typeids up in: the stdlib's apply_async then fails with AttributeError
    # (CPython gh-99595), mpref's knows AsyncResult and Iterator by name.
    with_async = impl.name == 'mpref'
    ctx = impl.ctx(start_method)
    reader, writer = ctx.Pipe(False)
    with manager.Pool(2) as pool:
        child = ctx.Process(target=use_pool_in_child, args=(pool, writer, with_async))
        child.start()
        writer.close()
        assert reader.poll(WAIT)
        outcome = reader.recv()
        child.join(WAIT)
    assert child.exitcode == 0
    expected = [9, [0, 1, 4, 9]] + ([25, [0, 1, 4]] if with_async else [])
    assert outcome == expected
