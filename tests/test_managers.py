"""Tests for ``mpref.managers``, ``mpref.server`` and ``mpref.proxies``: managers,
the server process and proxies.

Spec: 16.6.1.4 (server process), 16.6.2.7 (managers, with 16.6.2.7.1-3),
16.6.2.8 (proxy objects, with 16.6.2.8.1 cleanup), the logging sessions of
16.6.2.12 and the custom-manager program of 16.6.4.

Most tests take the ``impl`` fixture and run the same program twice: on mpref
and on the stdlib ``multiprocessing`` (the reference).  Where the two differ on
purpose -- mpref follows the spec where today's stdlib does not, or is more
robust than it -- the test runs on mpref alone and says why.  Every wait is
bounded; every manager is shut down; every child is joined.
"""

import gc
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.managers as std_managers
import os
import pickle
import queue
import re
import shutil
import signal
import socket
import threading
import time

import pytest

import mpref
from mpref import managers as mpref_managers
from mpref import server as mpref_server
from mpref.examples.managers import Foo, baz, get_operator_module
from mpref.targets import managers as targets, tasks

WAIT = 20           # seconds: the bound on anything that should happen "soon"
KEY = b'abracadabra'


# --------------------------------------------------------------------------
# The two implementations, side by side
# --------------------------------------------------------------------------

class GeneratorMethods:
    """The spec's ``GeneratorProxy`` body (16.6.4), mixed into each BaseProxy."""

    _exposed_ = ('__next__',)

    def __iter__(self):
        return self

    def __next__(self):
        return self._callmethod('__next__')


class CounterMethods:
    """A hand-written proxy whose class carries ``_exposed_`` and ``_method_to_typeid_``."""

    _exposed_ = ('increment', 'get', 'spawn_counter')
    _method_to_typeid_ = {'spawn_counter': 'HiddenCounter'}

    def increment(self, by=1):
        return self._callmethod('increment', (by,))

    def get(self):
        return self._callmethod('get')

    def spawn_counter(self, start):
        return self._callmethod('spawn_counter', (start,))


class MprefGeneratorProxy(GeneratorMethods, mpref_managers.BaseProxy):
    pass


class StdGeneratorProxy(GeneratorMethods, std_managers.BaseProxy):
    pass


class MprefCounterProxy(CounterMethods, mpref_managers.BaseProxy):
    pass


class StdCounterProxy(CounterMethods, std_managers.BaseProxy):
    pass


class MprefLab(mpref_managers.SyncManager):
    """A SyncManager with every kind of registration this file needs."""


class StdLab(std_managers.SyncManager):
    pass


class MprefMathsManager(mpref_managers.BaseManager):
    """The spec's ``MyManager`` of 16.6.2.7.2: a plain BaseManager with one type."""


class StdMathsManager(std_managers.BaseManager):
    pass


def register_lab(lab, managers, generator_proxy, counter_proxy):
    """Register on ``lab`` every form of ``register()`` the spec documents."""
    lab.register('Maths', targets.MathsClass)
    lab.register('Foo1', Foo)                                           # public methods
    lab.register('Foo2', Foo, exposed=('g', '_h'))                     # an exposed list
    lab.register('baz', baz, proxytype=generator_proxy)                # a proxy type
    lab.register('operator', get_operator_module)
    lab.register('Counter', targets.Counter,
                 exposed=('increment', 'get', 'spawn_counter', 'fail', 'unpicklable'),
                 method_to_typeid={'spawn_counter': 'HiddenCounter'})
    lab.register('TypedCounter', targets.Counter, proxytype=counter_proxy)
    # No callable: the object a method returns becomes the referent as it is.
    lab.register('HiddenCounter', create_method=False)
    lab.register('getpid', os.getpid)
    lab.register('get_queue', targets.shared_queue)
    lab.register('get_dict', targets.shared_dict, proxytype=managers.DictProxy)


register_lab(MprefLab, mpref_managers, MprefGeneratorProxy, MprefCounterProxy)
register_lab(StdLab, std_managers, StdGeneratorProxy, StdCounterProxy)
MprefMathsManager.register('Maths', targets.MathsClass)
StdMathsManager.register('Maths', targets.MathsClass)


class Impl:
    """One implementation under test: its package, managers module and classes."""

    def __init__(self, name, package, managers, lab, maths):
        self.name = name
        self.package = package
        self.managers = managers
        self.Lab = lab
        self.MathsManager = maths
        self.AuthenticationError = package.AuthenticationError
        self.RemoteError = managers.RemoteError

    def ctx(self, method='fork'):
        return self.package.get_context(method)

    def lab(self, method='fork', **kwargs):
        """A started Lab manager whose server uses start ``method``."""
        manager = self.Lab(ctx=self.ctx(method), **kwargs)
        manager.start()
        return manager

    def shutdown(self, manager):
        """``manager.shutdown()``; for the stdlib, also remove the temp dir it may leave.

        Under load the stdlib's ``shutdown()`` terminates a server that takes
        more than a second to exit, and a terminated server leaves its
        ``pymp-...`` directory behind.
        """
        manager.shutdown()
        if self.name == 'stdlib' and isinstance(manager.address, str):
            shutil.rmtree(os.path.dirname(manager.address), ignore_errors=True)

    def __repr__(self):
        return self.name


IMPLS = {
    'mpref': Impl('mpref', mpref, mpref_managers, MprefLab, MprefMathsManager),
    'stdlib': Impl('stdlib', multiprocessing, std_managers, StdLab, StdMathsManager),
}


@pytest.fixture(params=['mpref', 'stdlib'])
def impl(request):
    return IMPLS[request.param]


@pytest.fixture
def lab(impl):
    """A started Lab manager (server forked), shut down afterwards."""
    manager = impl.lab()
    yield manager
    impl.shutdown(manager)


def server_pid(manager):
    """The pid of the manager's server process, asked through a proxy."""
    return manager.getpid()._getvalue()


def is_gone(pid):
    """Has process ``pid`` exited (no such process, or only a zombie left)?"""
    try:
        with open('/proc/%d/stat' % pid) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ('Z', 'X')


def wait_gone(pid, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while not is_gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def run_child(impl, method, target, *args):
    """Run ``target(*args)`` in a child of ``impl``, to its end (bounded)."""
    p = impl.ctx(method).Process(target=target, args=args)
    p.start()
    p.join(WAIT)
    if p.exitcode is None:
        p.kill()
        p.join(WAIT)
    assert p.exitcode == 0, 'child %r ended with %r' % (target.__name__, p.exitcode)


@pytest.fixture
def children():
    """``start(ctx, target, *args)`` starts a child; all are joined (or killed) at the end."""
    started = []

    def start(ctx, target, *args):
        p = ctx.Process(target=target, args=args)
        p.start()
        started.append(p)
        return p
    yield start
    for p in started:
        p.join(WAIT)
        if p.exitcode is None:
            p.kill()
            p.join(WAIT)


def recv(conn, timeout=WAIT):
    assert conn.poll(timeout), 'nothing received within %s s' % timeout
    return conn.recv()


# --------------------------------------------------------------------------
# The introduction's server process (16.6.1.4)
# --------------------------------------------------------------------------

def test_introduction_dict_and_list_modified_by_a_child(impl, start_method):
    with impl.ctx(start_method).Manager() as manager:
        d = manager.dict()
        lst = manager.list(range(10))
        run_child(impl, start_method, tasks.fill, d, lst)
        assert d._getvalue() == {1: '1', '2': 2, 0.25: None}
        assert str(d) == "{1: '1', '2': 2, 0.25: None}"
        assert str(lst) == '[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]'


def test_manager_returns_a_started_sync_manager(impl):
    manager = impl.package.Manager()
    try:
        assert isinstance(manager, impl.managers.SyncManager)
        assert manager.list([1])._getvalue() == [1]
    finally:
        impl.shutdown(manager)


# --------------------------------------------------------------------------
# BaseManager: start, get_server, connect, shutdown, address (16.6.2.7)
# --------------------------------------------------------------------------

def test_start_then_shutdown_stops_the_server(impl, start_method):
    manager = impl.lab(start_method)
    pid = server_pid(manager)
    maths = manager.Maths()
    assert maths.add(4, 3) == 7                          # the spec's MathsClass
    assert maths.mul(7, 8) == 56
    manager.shutdown()
    assert wait_gone(pid), 'server still running after shutdown()'
    impl.shutdown(manager)                               # "can be called multiple times"


def test_plain_base_manager_subclass(impl, start_method):
    manager = impl.MathsManager(ctx=impl.ctx(start_method))
    manager.start()
    try:
        maths = manager.Maths()
        assert (maths.add(4, 3), maths.mul(7, 8)) == (7, 56)
    finally:
        impl.shutdown(manager)


def test_shutdown_after_the_server_is_gone(impl):
    manager = impl.lab()
    pid, address = server_pid(manager), manager.address
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid)
    manager.shutdown()                                   # no error, no hang
    manager.shutdown()
    if impl.name == 'stdlib':                            # it leaves them: tidy up by hand
        shutil.rmtree(os.path.dirname(address), ignore_errors=True)
    # mpref: the creator removes what its killed server could not.
    assert not os.path.exists(address), 'socket file left behind'
    assert not os.path.exists(os.path.dirname(address)), 'temp directory left behind'


def test_context_manager_starts_and_shuts_down(impl):
    with impl.Lab(ctx=impl.ctx()) as manager:
        pid = server_pid(manager)
        assert manager.Maths().add(1, 2) == 3
    assert wait_gone(pid)


def test_address_is_the_servers_and_read_only(impl):
    manager = impl.lab(address=('127.0.0.1', 0))
    try:
        host, port = manager.address
        assert host == '127.0.0.1' and port != 0        # the real port, not 0
        with pytest.raises(AttributeError):
            manager.address = ('127.0.0.1', 1)
        other = impl.Lab(address=manager.address)        # authkey None: this process's key
        other.connect()
        assert other.Maths().mul(6, 7) == 42
    finally:
        impl.shutdown(manager)


def test_address_none_picks_an_arbitrary_unix_socket(impl):
    manager = impl.lab()
    try:
        address = manager.address
        assert isinstance(address, str) and os.path.exists(address)
    finally:
        impl.shutdown(manager)
    assert wait_gone_path(address)


def wait_gone_path(path, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_connect_shares_the_servers_objects(impl):
    manager = impl.lab(authkey=KEY)
    try:
        queue_a = manager.get_queue('connect-test')
        client = impl.Lab(address=manager.address, authkey=KEY)
        client.connect()
        queue_b = client.get_queue('connect-test')
        queue_a.put('via the first')
        assert queue_b.get(timeout=WAIT) == 'via the first'
    finally:
        impl.shutdown(manager)


def test_authkey_must_be_bytes(impl):
    with pytest.raises(TypeError):
        impl.Lab(authkey='abc')


def test_connect_with_the_wrong_key_is_refused(impl):
    manager = impl.lab(authkey=KEY)
    try:
        intruder = impl.Lab(address=manager.address, authkey=b'wrong key')
        with pytest.raises(impl.AuthenticationError):
            intruder.connect()
        friend = impl.Lab(address=manager.address, authkey=KEY)
        friend.connect()                                 # the server kept serving
        assert friend.Maths().add(2, 2) == 4
    finally:
        impl.shutdown(manager)


# --------------------------------------------------------------------------
# register(): every argument (16.6.2.7, 16.6.4)
# --------------------------------------------------------------------------

def test_default_exposes_public_methods(lab):
    f1 = lab.Foo1()
    assert sorted(f1._exposed_) == ['f', 'g']
    assert f1.f() is None and f1.g() is None
    assert not hasattr(f1, '_h')


def test_exposed_list(lab):
    f2 = lab.Foo2()
    assert sorted(f2._exposed_) == ['_h', 'g']
    f2.g()
    f2._h()
    assert not hasattr(f2, 'f')


def test_unexposed_method_raises(impl, lab):
    f2 = lab.Foo2()
    with pytest.raises(impl.RemoteError, match="'f'.*exposed"):
        f2._callmethod('f')


def test_proxytype_generator_proxy(lab):
    assert list(lab.baz()) == [i * i for i in range(10)]


def test_module_referent_exposes_its_public_functions(lab):
    op = lab.operator()
    assert op.add(23, 45) == 68
    assert op.pow(2, 94) == 2 ** 94
    assert op.getitem(list(range(10)), slice(2, 6)) == [2, 3, 4, 5]
    assert op.mul(list(range(5)), 3) == list(range(5)) * 3
    assert 'add' in op._exposed_ and not any(name.startswith('_') for name in op._exposed_)


def test_method_to_typeid_returns_a_proxy(impl, lab):
    counter = lab.Counter(5)
    child = counter.spawn_counter(100)
    assert isinstance(child, impl.managers.BaseProxy)
    assert child.increment(2) == 102
    assert child.get() == 102                            # state lives on the server
    assert counter.get() == 5


def test_proxytype_attributes_give_exposed_and_method_to_typeid(impl, lab):
    counter = lab.TypedCounter(1)
    assert isinstance(counter, impl.managers.BaseProxy)
    assert counter.increment() == 2
    child = counter.spawn_counter(10)
    assert isinstance(child, impl.managers.BaseProxy)
    assert child._callmethod('get') == 10
    with pytest.raises(impl.RemoteError, match="'fail'.*exposed"):
        counter._callmethod('fail', ('x',))              # not in the proxy's _exposed_


def test_create_method_false_leaves_no_method(lab):
    assert not hasattr(lab, 'HiddenCounter')
    assert hasattr(lab, 'Counter')


def test_register_without_callable_on_a_client(impl):
    class Client(impl.managers.BaseManager):
        pass
    Client.register('get_queue')
    manager = impl.lab(authkey=KEY)
    try:
        client = Client(address=manager.address, authkey=KEY)
        client.connect()
        q = client.get_queue('no-callable')
        q.put('hello')
        assert manager.get_queue('no-callable').get(timeout=WAIT) == 'hello'
    finally:
        impl.shutdown(manager)


def test_registering_on_a_subclass_leaves_the_base_alone(impl):
    assert not hasattr(impl.managers.SyncManager, 'Maths')
    assert not hasattr(impl.managers.BaseManager, 'Maths')


def test_a_registry_entry_is_a_named_record_that_pickles():
    """mpref only (white-box): ``register`` records a ``server.RegistryEntry``, read by
    field name on both sides; the registry is pickled to a spawned server."""
    entry = MprefLab._registry['TypedCounter']
    assert isinstance(entry, mpref_server.RegistryEntry)
    assert entry.proxytype is MprefCounterProxy
    assert entry.method_to_typeid == {'spawn_counter': 'HiddenCounter'}
    assert pickle.loads(pickle.dumps(MprefLab._registry)) == MprefLab._registry


# --------------------------------------------------------------------------
# SyncManager's types and constructor forms (16.6.2.7)
# --------------------------------------------------------------------------

def test_lock_and_rlock(lab):
    lock = lab.Lock()
    assert lock.acquire()
    assert lock.acquire(False) is False                  # a Lock is not reentrant
    lock.release()
    with lock:
        pass
    rlock = lab.RLock()
    assert rlock.acquire() and rlock.acquire()           # an RLock is
    rlock.release()
    rlock.release()


def test_semaphores(lab):
    default, three = lab.Semaphore(), lab.Semaphore(3)
    assert default.acquire() and not default.acquire(False)
    assert all(three.acquire(False) for _ in range(3)) and not three.acquire(False)
    bounded = lab.BoundedSemaphore()
    bounded.acquire()
    bounded.release()
    with pytest.raises(ValueError):                      # over-release, re-raised with its type
        bounded.release()
    two = lab.BoundedSemaphore(2)
    assert two.acquire(False) and two.acquire(False) and not two.acquire(False)


def test_event_between_processes(impl, lab, start_method, children):
    event = lab.Event()
    assert not event.is_set()
    assert event.wait(0.01) is False
    reader, writer = impl.ctx(start_method).Pipe(False)
    p = children(impl.ctx(start_method), targets.wait_for_event, event, writer, WAIT)
    event.set()
    assert recv(reader) is True
    p.join(WAIT)
    assert event.is_set()
    event.clear()
    assert not event.is_set()


def test_barrier_beyond_the_spec(lab):
    # Python 3.2's Barrier, as CPython's SyncManager offers it.
    barrier = lab.Barrier(2)
    assert (barrier.parties, barrier.n_waiting, barrier.broken) == (2, 0, False)
    other = []
    t = threading.Thread(target=lambda: other.append(barrier.wait(WAIT)))
    t.start()
    mine = barrier.wait(WAIT)
    t.join(WAIT)
    assert sorted([mine] + other) == [0, 1]             # each party gets its index
    barrier.abort()
    assert barrier.broken
    with pytest.raises(threading.BrokenBarrierError):
        barrier.wait(WAIT)
    barrier.reset()
    assert not barrier.broken


@pytest.mark.parametrize('lock_kind', [None, 'Lock', 'RLock'])
def test_condition_forms_and_notify_from_a_child(impl, lab, start_method, lock_kind, children):
    if impl.name == 'stdlib' and lock_kind == 'RLock':
        pytest.skip('the stdlib wraps the RLock proxy in a second proxy: wait() cannot release it')
    cond = lab.Condition() if lock_kind is None else lab.Condition(getattr(lab, lock_kind)())
    ns = lab.Namespace()
    ns.ready = False
    with cond:
        assert cond.wait(0.01) is False                  # nobody notifies: times out
        p = children(impl.ctx(start_method), targets.notify_after_setting, cond, ns)
        deadline = time.monotonic() + WAIT
        while not ns.ready and time.monotonic() < deadline:
            cond.wait(1)                                 # the spec's Condition has no wait_for
        assert ns.ready
    p.join(WAIT)
    assert p.exitcode == 0


def test_condition_proxy_wait_for(impl, lab, start_method, children):
    """Beyond the spec (Python 3.2): ``wait_for`` on a condition proxy, the
    predicate run in the caller."""
    cond = lab.Condition()
    ns = lab.Namespace()
    ns.ready = False
    with cond:
        started = time.monotonic()
        assert cond.wait_for(lambda: ns.ready, 0.2) is False      # times out
        assert time.monotonic() - started >= 0.15
        assert cond.wait_for(lambda: 'already', 0) == 'already'   # the predicate's value
        p = children(impl.ctx(start_method), targets.notify_after_setting, cond, ns)
        assert cond.wait_for(lambda: ns.ready, WAIT) is True
    p.join(WAIT)
    assert p.exitcode == 0


def test_queue_forms(lab):
    q = lab.Queue()
    q.put('a')
    assert q.get(timeout=WAIT) == 'a'
    with pytest.raises(queue.Empty):                     # the referent's exception type
        q.get(timeout=0.01)
    small = lab.Queue(1)
    small.put(1)
    with pytest.raises(queue.Full):
        small.put(2, timeout=0.01)
    assert small.full() and small.qsize() == 1


def test_joinable_queue(lab):
    q = lab.JoinableQueue()
    q.put('job')
    assert q.get(timeout=WAIT) == 'job'
    q.task_done()
    q.join()                                             # returns: every task is done


def test_queue_between_processes(impl, lab, start_method):
    q = lab.Queue()
    run_child(impl, start_method, tasks.put_item, q, ('from', 'child'))
    assert q.get(timeout=WAIT) == ('from', 'child')


def test_value_and_array(lab):
    v = lab.Value('d', 1.5)
    assert v.value == 1.5
    v.value = 2.5
    assert v.get() == 2.5
    a = lab.Array('i', range(5))
    assert len(a) == 5 and a[2] == 2
    a[2] = 20
    assert list(a[:]) == [0, 1, 20, 3, 4]


@pytest.mark.parametrize('args,kwargs,expected', [
    ((), {}, {}),
    (({'a': 1},), {}, {'a': 1}),                         # dict(mapping)
    (([('a', 1), ('b', 2)],), {}, {'a': 1, 'b': 2}),     # dict(sequence)
    ((), {'a': 1}, {'a': 1}),                            # dict(**kwargs)
])
def test_dict_constructor_forms(lab, args, kwargs, expected):
    assert lab.dict(*args, **kwargs)._getvalue() == expected


@pytest.mark.parametrize('args,expected', [((), []), ((range(3),), [0, 1, 2]),
                                           (('abc',), ['a', 'b', 'c'])])
def test_list_constructor_forms(lab, args, expected):
    assert lab.list(*args)._getvalue() == expected


# --------------------------------------------------------------------------
# Proxies (16.6.2.8)
# --------------------------------------------------------------------------

def test_str_is_the_referents_repr_is_the_proxys(lab):
    lst = lab.list([i * i for i in range(10)])
    assert str(lst) == '[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]'
    assert re.fullmatch(r"<ListProxy object, typeid 'list' at 0x[0-9a-f]+>", repr(lst))
    assert lst[4] == 16
    assert lst[2:5] == [4, 9, 16]


def test_callmethod_session(lab):
    lst = lab.list(range(10))
    assert lst._callmethod('__len__') == 10
    assert lst._callmethod('__getitem__', (slice(2, 7),)) == [2, 3, 4, 5, 6]
    with pytest.raises(IndexError, match='list index out of range'):
        lst._callmethod('__getitem__', (20,))


def test_callmethod_with_keyword_arguments(lab):
    lst = lab.list([3, 1, 2])
    lst._callmethod('sort', (), {'reverse': True})
    assert lst._getvalue() == [3, 2, 1]


def test_callmethod_getslice_spelling_of_the_spec():
    """The spec's ``__getslice__`` (Python 2) keeps working on mpref (the stdlib refuses it)."""
    with mpref.Manager() as manager:
        lst = manager.list(range(10))
        assert lst._callmethod('__getslice__', (2, 7)) == [2, 3, 4, 5, 6]


def test_getvalue_is_a_copy(lab):
    lst = lab.list([1, 2])
    copy = lst._getvalue()
    copy.append(3)
    assert lst._getvalue() == [1, 2]


def test_getvalue_of_an_unpicklable_referent_raises(impl, lab):
    counter = lab.Counter()
    with pytest.raises(impl.RemoteError):
        lab.operator()._getvalue()                       # a module cannot be pickled
    assert counter.get() == 0                            # the connection still works


def test_no_comparison_by_value(lab):
    assert (lab.list([1, 2, 3]) == [1, 2, 3]) is False
    assert lab.list([1, 2, 3])._getvalue() == [1, 2, 3]


def test_referent_exception_keeps_its_type(impl, lab):
    counter = lab.Counter()
    with pytest.raises(targets.ReferentError, match='boom'):
        counter.fail('boom')
    with pytest.raises(KeyError):
        lab.dict()['missing']
    with pytest.raises(IndexError):
        lab.list()[3]
    assert counter.increment() == 1                      # and the proxy still works


def test_other_server_failures_are_remote_errors_with_traceback(impl, lab):
    with pytest.raises(impl.RemoteError) as info:
        lab.Maths(1, 2, 3)                               # the callable rejects the arguments
    assert 'Traceback' in str(info.value) and 'TypeError' in str(info.value)
    counter = lab.Counter()
    with pytest.raises(impl.RemoteError) as info:
        counter.unpicklable()                            # the reply cannot be pickled
    assert 'Traceback' in str(info.value) or 'generator' in str(info.value)
    assert counter.increment() == 1


def test_proxies_reach_children(impl, lab, start_method):
    lst = lab.list(['x'])
    reader, writer = impl.ctx(start_method).Pipe(False)
    run_child(impl, start_method, targets.report_str, writer, lst)
    assert recv(reader) == "['x']"


def test_pickled_proxy_in_this_process_refers_to_the_same_referent(lab):
    lst = lab.list()
    copy = pickle.loads(pickle.dumps(lst))
    copy.append('shared')
    assert lst._getvalue() == ['shared']


def test_nested_lists_session():
    """The spec's session: a proxy sent to its own manager unpickles to the referent.

    mpref only: since Python 3.6 the stdlib keeps a proxy inside the server, so
    ``print a`` shows ``[<ListProxy object ...>]`` instead of the spec's ``[[]]``.
    """
    with mpref.Manager() as manager:
        a = manager.list()
        b = manager.list()
        a.append(b)
        assert (str(a), str(b)) == ('[[]]', '[]')
        b.append('hello')
        assert (str(a), str(b)) == ("[['hello']]", "['hello']")


def test_nested_dict_in_list_is_one_object():
    with mpref.Manager() as manager:
        outer = manager.list()
        inner = manager.dict()
        outer.append(inner)
        inner['k'] = 'v'
        assert outer._getvalue() == [{'k': 'v'}]


def test_namespace(impl, lab, start_method):
    ns = lab.Namespace()
    ns.x = 10
    ns.y = 'hello'
    ns._z = 12.3                                         # an attribute of the proxy
    assert str(ns) == "Namespace(x=10, y='hello')"
    assert ns._z == 12.3
    assert re.fullmatch(r"<NamespaceProxy object, typeid 'Namespace' at 0x[0-9a-f]+>",
                        repr(ns))
    other = lab.Namespace()
    run_child(impl, start_method, targets.set_namespace, other)
    assert (other.x, other.y) == (10, 'hello')
    assert str(other) == "Namespace(x=10, y='hello')"   # the child's _z stayed in the child
    with pytest.raises(AttributeError):
        other.missing
    del other.x
    assert str(other) == "Namespace(y='hello')"


def test_list_proxy_operators_and_iteration(lab):
    local = [3, 1, 2]
    lst = lab.list(local)
    for op in (lambda x: x.append(4), lambda x: x.extend([5, 6]), lambda x: x.insert(0, 9),
               lambda x: x.remove(9), lambda x: x.sort(), lambda x: x.reverse(),
               lambda x: x.__setitem__(0, 'a'), lambda x: x.__delitem__(1),
               lambda x: x.__setitem__(slice(0, 2), ['p', 'q'])):
        op(local)
        op(lst)
        assert lst._getvalue() == local
    assert (len(lst), list(lst), 'q' in lst, 'zz' in lst) == (len(local), local, True, False)
    assert (lst.index('q'), lst.count('q'), lst.pop()) == (local.index('q'), local.count('q'),
                                                      local.pop())
    assert lst + [7] == local + [7]
    assert lst * 2 == local * 2
    assert list(reversed(lst)) == list(reversed(local))
    lst += [8]
    local += [8]
    assert lst._getvalue() == local
    lst *= 2
    local *= 2
    assert lst._getvalue() == local and isinstance(lst, lab.list([]).__class__)


def test_dict_proxy_operators_and_iteration(lab):
    local = {'a': 1}
    d = lab.dict(local)
    d['b'] = 2
    local['b'] = 2
    assert (d['a'], len(d), 'b' in d, 'z' in d) == (1, 2, True, False)
    assert sorted(d) == sorted(local)
    assert (sorted(d.keys()), sorted(d.values()), sorted(d.items())) == (
        sorted(local.keys()), sorted(local.values()), sorted(local.items()))
    assert (d.get('z', 0), d.setdefault('c', 3), d.pop('a')) == (0, 3, 1)
    d.update({'e': 5})
    del d['b']
    assert d.copy() == {'c': 3, 'e': 5}
    assert d.popitem() == ('e', 5)
    d.clear()
    assert d._getvalue() == {}


def test_proxy_used_from_several_threads(lab):
    lst = lab.list()
    counter = lab.Value('i', 0)
    lock = lab.Lock()
    errors = []

    def work(ident):
        try:
            for i in range(30):
                lst.append((ident, i))
                with lock:
                    counter.value += 1
        except Exception as exc:                         # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads) and not errors
    assert sorted(lst._getvalue()) == sorted((n, i) for n in range(6) for i in range(30))
    assert counter.value == 180


def test_children_share_a_list_under_a_manager_lock(impl, lab, start_method, children):
    lst, lock = lab.list(), lab.Lock()
    ctx = impl.ctx(start_method)
    appenders = [children(ctx, targets.append_items, lst, range(n, n + 20), lock)
                 for n in (0, 100, 200)]
    for p in appenders:
        p.join(WAIT)
    assert [p.exitcode for p in appenders] == [0, 0, 0]
    assert sorted(lst._getvalue()) == [*range(20), *range(100, 120), *range(200, 220)]


# --------------------------------------------------------------------------
# Cleanup: reference counts on the server (16.6.2.8.1)
# --------------------------------------------------------------------------

def wait_objects(manager, expected, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while manager._number_of_objects() != expected:
        if time.monotonic() > deadline:
            break
        gc.collect()
        time.sleep(0.02)
    return manager._number_of_objects()


def test_referent_deleted_when_the_last_proxy_goes(lab):
    base = lab._number_of_objects()
    lst = lab.list([1])
    second = pickle.loads(pickle.dumps(lst))             # a second proxy, same referent
    assert lab._number_of_objects() == base + 1
    del lst
    gc.collect()
    assert lab._number_of_objects() == base + 1          # `second` still refers to it
    assert second._getvalue() == [1]
    del second
    assert wait_objects(lab, base) == base


def test_proxy_returned_by_a_method_is_counted_too(lab):
    base = lab._number_of_objects()
    counter = lab.Counter()
    child = counter.spawn_counter(1)
    assert lab._number_of_objects() == base + 2
    del counter, child
    assert wait_objects(lab, base) == base


def test_a_childs_proxy_keeps_the_referent_alive(impl, lab, start_method, children):
    """The proxy travels through a pipe, so no Process object keeps the parent's alive."""
    base = lab._number_of_objects()
    lst = lab.list(['kept'])
    ctx = impl.ctx(start_method)
    parent_end, child_end = ctx.Pipe()
    p = children(ctx, targets.hold_proxy, child_end)
    parent_end.send(lst)
    assert recv(parent_end) == 'holding'
    del lst
    gc.collect()
    parent_end.send('go')
    assert recv(parent_end) == ['kept']                  # still there for the child
    p.join(WAIT)
    assert p.exitcode == 0
    assert wait_objects(lab, base) == base               # gone once the child is


def test_proxy_given_to_a_child_as_argument_is_released(impl, lab, start_method):
    """A child's reference (fork: inherited, spawn: unpickled) goes when the child exits."""
    base = lab._number_of_objects()
    lst = lab.list(['x'])
    reader, writer = impl.ctx(start_method).Pipe(False)
    run_child(impl, start_method, targets.report_str, writer, lst)
    assert recv(reader) == "['x']"
    del lst
    assert wait_objects(lab, base) == base


# --------------------------------------------------------------------------
# Lifetime of the server process (16.6.2.7)
# --------------------------------------------------------------------------

def test_server_stops_when_the_manager_is_garbage_collected(impl, start_method):
    manager = impl.lab(start_method)
    pid, address = server_pid(manager), manager.address
    del manager
    gc.collect()
    assert wait_gone(pid), 'server outlived its manager'
    assert wait_gone_path(address)


def make_manager_and_report(impl_name, method, conn, then):
    """A creator process: start a Lab manager, report its pid and address, then ``then``."""
    manager = IMPLS[impl_name].lab(method)
    conn.send((server_pid(manager), manager.address))
    if then == 'wait':
        conn.recv()                                      # until killed (or told)
    conn.close()


def test_server_stops_when_its_creator_exits(impl, start_method, children):
    ctx = impl.ctx(start_method)
    reader, writer = ctx.Pipe(False)
    creator = children(ctx, make_manager_and_report, impl.name, start_method, writer, 'return')
    pid, address = recv(reader)
    creator.join(WAIT)
    assert creator.exitcode == 0
    assert wait_gone(pid), 'server outlived the process that created it'
    assert wait_gone_path(address)


def test_server_exits_when_its_creator_is_killed(start_method, children):
    """No orphan: the server notices its creator's death by itself.

    mpref only: the stdlib's server keeps running, orphaned, forever (its
    socket file and temp directory with it) -- chapter 06 shows that.
    """
    ctx = mpref.get_context(start_method)
    parent_end, child_end = ctx.Pipe()
    creator = children(ctx, make_manager_and_report, 'mpref', start_method, child_end, 'wait')
    pid, address = recv(parent_end)
    try:
        os.kill(creator.pid, signal.SIGKILL)
        creator.join(WAIT)
        assert creator.exitcode == -signal.SIGKILL
        assert wait_gone(pid), 'orphaned manager server still running'
        assert wait_gone_path(address), 'socket file left behind'
        assert wait_gone_path(os.path.dirname(address)), 'temp directory left behind'
    finally:
        if not is_gone(pid):
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------
# A remote manager (16.6.2.7.3): QueueManager on 127.0.0.1
# --------------------------------------------------------------------------

def serve_queue_manager(impl_name, conn, authkey, local_hello):
    """The spec's server: one shared queue, ``get_server().serve_forever()``.

    Reports ``Server.address`` (the OS picks the port).  With ``local_hello``
    the queue is a *process* queue that a local Worker process fills, as in
    the last example of 16.6.2.7.3.
    """
    impl = IMPLS[impl_name]
    shared = impl.package.Queue() if local_hello else queue.Queue()
    never_set = threading.Event()

    class QueueManager(impl.managers.BaseManager):
        pass
    QueueManager.register('get_queue', callable=lambda: shared)
    QueueManager.register('get_event', callable=lambda: never_set)   # for a dying client
    if local_hello:
        worker = impl.package.Process(target=tasks.put_item, args=(shared, 'local hello'))
        worker.start()
        worker.join(WAIT)
    server = QueueManager(address=('127.0.0.1', 0), authkey=authkey).get_server()
    conn.send(server.address)
    conn.close()
    server.serve_forever()


def queue_client(impl, address, authkey=KEY):
    """The spec's client: a QueueManager registered without a callable."""
    class QueueManager(impl.managers.BaseManager):
        pass
    QueueManager.register('get_queue')
    QueueManager.register('get_event')
    manager = QueueManager(address=address, authkey=authkey)
    manager.connect()
    return manager


def get_via_client(impl_name, address, conn):
    """The spec's second client, in its own process: ``queue.get()``."""
    manager = queue_client(IMPLS[impl_name], address)
    conn.send(manager.get_queue().get(timeout=WAIT))
    conn.close()


@pytest.fixture
def remote_server(impl, request):
    """Start the spec's QueueManager server in a child; yield its address; stop it."""
    method, local_hello = getattr(request, 'param', ('fork', False))
    ctx = impl.ctx(method)
    reader, writer = ctx.Pipe(False)
    server = ctx.Process(target=serve_queue_manager,
                         args=(impl.name, writer, KEY, local_hello))
    server.start()
    address = None
    try:
        address = recv(reader)
        yield address
    finally:
        if address is not None:
            stop_server(impl, address)
        server.join(5)
        if server.exitcode is None:
            server.terminate()
            server.join(WAIT)


def stop_server(impl, address):
    """Ask a ``serve_forever()`` server to stop: the 'shutdown' request on the wire."""
    conn = impl.package.connection.Client(address, authkey=KEY)
    try:
        impl.managers.dispatch(conn, None, 'shutdown')
    finally:
        conn.close()


@pytest.mark.parametrize('remote_server', [('fork', False), ('spawn', False)],
                         indirect=True, ids=['fork', 'spawn'])
def test_remote_queue_manager_with_two_clients(impl, remote_server, children):
    host, port = remote_server
    assert host == '127.0.0.1' and port != 0
    first = queue_client(impl, remote_server)
    first.get_queue().put('hello')
    ctx = impl.ctx('spawn')
    reader, writer = ctx.Pipe(False)
    second = children(ctx, get_via_client, impl.name, remote_server, writer)
    assert recv(reader) == 'hello'
    second.join(WAIT)
    assert second.exitcode == 0


@pytest.mark.parametrize('remote_server', [('fork', True)], indirect=True, ids=['worker'])
def test_remote_queue_filled_by_a_local_worker(impl, remote_server):
    client = queue_client(impl, remote_server)
    assert client.get_queue().get(timeout=WAIT) == 'local hello'


def test_remote_wrong_key_then_right_key(impl, remote_server):
    with pytest.raises(impl.AuthenticationError):
        queue_client(impl, remote_server, authkey=b'not the key')
    client = queue_client(impl, remote_server)
    client.get_queue().put('still serving')
    assert client.get_queue().get(timeout=WAIT) == 'still serving'


def block_in_remote_call(impl_name, address, conn):
    manager = queue_client(IMPLS[impl_name], address)
    targets.block_in_call(manager.get_event(), conn)


def test_client_dying_mid_call_leaves_the_server_up(impl, remote_server, start_method,
                                                    children):
    ctx = impl.ctx(start_method)
    reader, writer = ctx.Pipe(False)
    doomed = children(ctx, block_in_remote_call, impl.name, remote_server, writer)
    assert recv(reader) == 'calling'
    time.sleep(0.2)                                      # let the wait() reach the server
    doomed.kill()
    doomed.join(WAIT)
    client = queue_client(impl, remote_server)
    client.get_queue().put('after the death')
    assert client.get_queue().get(timeout=WAIT) == 'after the death'


def test_silent_client_does_not_block_others(impl, remote_server):
    silent = socket.create_connection(remote_server, timeout=WAIT)
    try:
        client = queue_client(impl, remote_server)
        client.get_queue().put('served')
        assert client.get_queue().get(timeout=WAIT) == 'served'
    finally:
        silent.close()


@pytest.mark.parametrize('garbage', [
    b'\x00\x00\x00\x05hello',                            # a frame, but no handshake answer
    b'\xff\xff\xff\xff' * 4,                             # a negative length
    b'\x7f\xff\xff\xff',                                 # a 2 GiB promise, never kept
    os.urandom(64),
], ids=['frame', 'negative', 'huge', 'random'])
def test_garbage_sending_client_does_not_stop_others(impl, remote_server, garbage):
    with socket.create_connection(remote_server, timeout=WAIT) as rude:
        rude.sendall(garbage)
        client = queue_client(impl, remote_server)
        client.get_queue().put('served')
        assert client.get_queue().get(timeout=WAIT) == 'served'


def test_silent_client_is_dropped_after_the_handshake_timeout(monkeypatch):
    """mpref only: the handshake is bounded (``server.HANDSHAKE_TIMEOUT``)."""
    monkeypatch.setattr(mpref_server, 'HANDSHAKE_TIMEOUT', 0.5)     # inherited by fork
    manager = IMPLS['mpref'].lab('fork')
    try:
        with socket.socket(socket.AF_UNIX) as silent:
            silent.settimeout(WAIT)
            silent.connect(manager.address)
            received = b''
            while True:                                  # the challenge, then end of file
                chunk = silent.recv(4096)
                if not chunk:
                    break
                received += chunk
            assert received, 'the server sent no challenge'
        assert manager.Maths().add(1, 1) == 2
    finally:
        manager.shutdown()


def test_authenticated_client_sending_garbage_only_loses_its_own_thread(impl, lab):
    """After a good handshake, a request that is not a pickle ends that one connection."""
    conn = impl.package.connection.Client(lab.address, authkey=bytes(
        impl.package.current_process().authkey))
    try:
        conn.send_bytes(b'this is not a pickle')
        try:
            reply = conn.recv() if conn.poll(WAIT) else None
        except (EOFError, OSError):
            reply = None
        assert reply is None or reply[0] != '#RETURN'
    finally:
        conn.close()
    assert lab.Maths().add(20, 22) == 42


# --------------------------------------------------------------------------
# A real peer: the stdlib's managers talk to mpref's, both ways
# --------------------------------------------------------------------------

def interop_client(managers, address):
    class Client(managers.BaseManager):
        pass
    Client.register('get_queue')
    Client.register('get_dict', proxytype=managers.DictProxy)
    client = Client(address=address, authkey=KEY)
    client.connect()
    return client


@pytest.mark.parametrize('server,client', [('mpref', 'stdlib'), ('stdlib', 'mpref')])
@pytest.mark.parametrize('family', ['AF_INET', 'AF_UNIX'])
def test_queue_and_dict_across_implementations(server, client, family):
    address = ('127.0.0.1', 0) if family == 'AF_INET' else None
    manager = IMPLS[server].lab(address=address, authkey=KEY)
    try:
        peer = interop_client(IMPLS[client].managers, manager.address)
        q = peer.get_queue('interop')
        q.put(['hello', 1.5])
        assert q.get(timeout=WAIT) == ['hello', 1.5]
        q.put('for the server side')
        assert manager.get_queue('interop').get(timeout=WAIT) == 'for the server side'
        d = peer.get_dict('interop')
        d['key'] = 'value'
        assert d['key'] == 'value'
        assert manager.get_dict('interop')['key'] == 'value'
        with pytest.raises(KeyError):
            d['missing']
    finally:
        IMPLS[server].shutdown(manager)


@pytest.mark.parametrize('server,client', [('mpref', 'stdlib'), ('stdlib', 'mpref')])
def test_sync_manager_types_across_implementations(server, client):
    manager = IMPLS[server].lab(authkey=KEY)
    try:
        peer = IMPLS[client].managers.SyncManager(address=manager.address, authkey=KEY)
        peer.connect()
        lst = peer.list([1, 2])
        lst.append(3)
        assert lst._getvalue() == [1, 2, 3] and len(lst) == 3
        ns = peer.Namespace()
        ns.x = 10
        assert str(ns) == 'Namespace(x=10)'
        lock = peer.Lock()
        assert lock.acquire(False) and not lock.acquire(False)
        lock.release()
        base = manager._number_of_objects()
        del lst, ns, lock
        assert wait_objects(manager, base - 3) == base - 3
    finally:
        IMPLS[server].shutdown(manager)


@pytest.mark.parametrize('server,client', [('mpref', 'stdlib'), ('stdlib', 'mpref')])
def test_method_returning_a_proxy_crosses_implementations(server, client):
    """``iter(dict_proxy)`` returns a proxy (method_to_typeid): its token crosses too."""
    manager = IMPLS[server].lab(authkey=KEY)
    try:
        peer = IMPLS[client].managers.SyncManager(address=manager.address, authkey=KEY)
        peer.connect()
        base = manager._number_of_objects()
        d = peer.dict({'a': 1, 'b': 2})
        iterator = iter(d)
        assert isinstance(iterator, IMPLS[client].managers.BaseProxy)
        assert sorted(iterator) == ['a', 'b']
        del d, iterator
        assert wait_objects(manager, base) == base
    finally:
        IMPLS[server].shutdown(manager)


# --------------------------------------------------------------------------
# Logging (16.6.2.12)
# --------------------------------------------------------------------------

@pytest.fixture
def log_file(impl, tmp_path):
    """Route ``log_to_stderr()``'s handler (its spec format kept) to a file; restore after.

    A forked server inherits the open file (appending, one flush per record),
    so its lines land there too, whatever pytest does with fd 2.
    """
    log = impl.package.get_logger()
    level, handlers = log.level, list(log.handlers)
    path = tmp_path / 'log.txt'
    with open(path, 'a', buffering=1) as stream:
        handler = impl.package.log_to_stderr().handlers[-1]
        handler.setStream(stream)
        yield path
        log.setLevel(level)
        log.handlers[:] = handlers
    if impl.name == 'stdlib':
        multiprocessing.util._log_to_stderr = False


def test_logging_session(impl, log_file):
    logger = impl.package.get_logger()
    logger.setLevel(logging.DEBUG)
    logger.warning('doomed')
    manager = impl.package.Manager()
    manager.list([1])
    del manager
    gc.collect()
    log = wait_for_text(log_file, 'exiting with exitcode 0')
    assert '[WARNING/MainProcess] doomed' in log
    name = r'SyncManager-\d+'
    assert re.search(r'\[INFO/%s\] child process calling self.run\(\)' % name, log), log
    assert re.search(r'\[INFO/%s\] created temp directory /.+' % name, log), log
    assert re.search(r"\[INFO/%s\] manager serving at '.+'" % name, log), log
    assert '[INFO/MainProcess] sending shutdown message to manager' in log
    assert re.search(r'\[DEBUG/%s\] manager received shutdown message' % name, log), log
    exiting = 'manager' if impl.name == 'mpref' else 'process'   # stdlib 3.x's words
    assert re.search(r'\[INFO/%s\] %s exiting with exitcode 0' % (name, exiting), log), log


@pytest.mark.parametrize('impl', ['mpref'], indirect=True)
def test_logging_session_with_a_spawned_server(impl, log_file, capfd):
    """A spawned server gets a stderr handler of its own (its lines reach fd 2)."""
    impl.package.get_logger().setLevel(logging.INFO)
    manager = impl.ctx('spawn').Manager()
    manager.shutdown()
    err = ''
    deadline = time.monotonic() + WAIT
    while 'manager exiting with exitcode 0' not in err and time.monotonic() < deadline:
        time.sleep(0.05)
        err += capfd.readouterr().err
    name = r'SyncManager-\d+'
    assert re.search(r"\[INFO/%s\] manager serving at '.+'" % name, err), err
    assert re.search(r'\[INFO/%s\] manager exiting with exitcode 0' % name, err), err
    assert '[INFO/MainProcess] sending shutdown message to manager' in log_file.read_text()


def wait_for_text(path, text, timeout=WAIT):
    """The file's contents once ``text`` shows up in it (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while text not in path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.read_text()
