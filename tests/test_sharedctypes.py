"""Shared ctypes objects: ``Value``, ``Array``, raw forms, ``copy``, ``synchronized``
(``mpref/sharedctypes.py``; spec 16.6.1.4, 16.6.2.6, 16.6.2.6.1).

Where behaviour is observable the same program runs on the stdlib
``multiprocessing`` and the results are compared.
"""

import array
import ctypes
import gc
import pickle
import re
import threading
import warnings
from ctypes import Structure, c_double, c_int, c_short

import multiprocessing as stdlib_mp
import multiprocessing.sharedctypes as stdlib_sharedctypes

import pytest

import mpref
from mpref import heap, sharedctypes, synchronize
from mpref.sharedctypes import Array, RawArray, RawValue, Value, copy, synchronized
# The spec's examples are tested exactly as the chapter runs them.
from mpref.targets.sharedctypes import Point, modify
from mpref.targets.tasks import negate
from mpref.targets.sharedctypes import add_one as increment


class MyStruct(Structure):
    _fields_ = [('a', c_int), ('b', c_int)]


JOIN_TIMEOUT = 60


def _run(ctx, target, *args):
    p = ctx.Process(target=target, args=args)
    p.start()
    p.join(JOIN_TIMEOUT)
    assert p.exitcode == 0, 'child failed or hung: %r' % p
    return p


# -- targets (module level, so that a spawned child can import them) ----------

def fill(obj, values):
    for i, value in enumerate(values):
        obj[i] = value


def square_nested(rows):
    for row in rows:
        for j in range(len(row)):
            row[j] = row[j] ** 2


def store_text(text, n):
    text.value = ('built at run time: %d' % n).encode()


def set_value(v, value):
    v.value = value


def pass_on(v, value):
    """Hand ``v`` on to a spawned grandchild, which sets it."""
    p = mpref.get_context('spawn').Process(target=set_value, args=(v, value))
    p.start()
    p.join(JOIN_TIMEOUT)
    if p.exitcode != 0:
        raise SystemExit(3)


# -- the spec's examples, under both start methods, against the stdlib --------

def spec_value_array_example(ctx):
    num = ctx.Value('d', 0.0)
    arr = ctx.Array('i', range(10))
    _run(ctx, negate, num, arr)
    return num.value, arr[:]


def test_value_array_example(ctx, start_method):
    ours = spec_value_array_example(ctx)
    assert ours == (3.1415927, [0, -1, -2, -3, -4, -5, -6, -7, -8, -9])
    assert ours == spec_value_array_example(stdlib_mp.get_context(start_method))


def spec_point_example(ctx):
    # The stdlib's context methods are its sharedctypes.Value/Array bound to
    # the context; mpref's context forwards to mpref.Value/Array.
    lock = ctx.Lock()
    n = ctx.Value('i', 7)
    x = ctx.Value(c_double, 1.0 / 3.0, lock=False)
    s = ctx.Array('c', b'hello world', lock=lock)
    A = ctx.Array(Point, [(1.875, -6.25), (-5.75, 2.0), (2.375, 9.5)], lock=lock)
    _run(ctx, modify, n, x, s, A)
    return n.value, x.value, s.value, [(a.x, a.y) for a in A]


def test_point_example(ctx, start_method):
    ours = spec_point_example(ctx)
    assert ours == (49, 0.1111111111111111, b'HELLO WORLD',
                    [(3.515625, 39.0625), (33.0625, 4.0), (5.640625, 90.25)])
    theirs = spec_point_example(stdlib_mp.get_context(start_method))
    assert ours == theirs


def test_value_and_array_are_exported_from_mpref():
    for name in ('Value', 'Array', 'RawValue', 'RawArray'):
        assert getattr(mpref, name) is getattr(sharedctypes, name)


# -- the spec's table: ctypes syntax vs sharedctypes syntax ----------------------

TABLE = [
    (lambda: c_double(2.4), lambda m: m.RawValue(c_double, 2.4), lambda m: m.RawValue('d', 2.4)),
    (lambda: MyStruct(4, 6), lambda m: m.RawValue(MyStruct, 4, 6), None),
    (lambda: (c_short * 7)(), lambda m: m.RawArray(c_short, 7), lambda m: m.RawArray('h', 7)),
    (lambda: (c_int * 3)(9, 2, 8), lambda m: m.RawArray(c_int, (9, 2, 8)),
     lambda m: m.RawArray('i', (9, 2, 8))),
]


def _contents(obj):
    return bytes(memoryview(obj).cast('B')), type(obj).__name__, ctypes.sizeof(obj)


@pytest.mark.parametrize('row', range(len(TABLE)), ids=['c_double', 'MyStruct', 'c_short*7', 'c_int*3'])
def test_table_row(row):
    plain, by_type, by_typecode = TABLE[row]
    expected = _contents(plain())
    made = [by_type(sharedctypes)] + ([by_typecode(sharedctypes)] if by_typecode else [])
    for obj in made:
        assert _contents(obj) == expected
        assert obj._wrapper is not None          # it lives in shared memory
        # ... and the stdlib builds the same bytes from the same call.
    assert _contents(by_type(stdlib_sharedctypes)) == expected


@pytest.mark.parametrize('typecode', sorted(sharedctypes.typecode_to_type))
def test_every_typecode(typecode):
    type_ = sharedctypes.typecode_to_type[typecode]
    assert type_ is stdlib_sharedctypes.typecode_to_type[typecode]
    if typecode != 'c':                     # Python 2's array had 'c'; Python 3's has not
        with warnings.catch_warnings():
            # Python 3.13 deprecates array('u'); its item size is still c_wchar's.
            warnings.simplefilter('ignore', DeprecationWarning)
            assert ctypes.sizeof(type_) == array.array(typecode).itemsize
    value = RawValue(typecode)
    assert type(value) is type_
    arr = RawArray(typecode, 3)
    assert arr._type_ is type_ and len(arr) == 3


def test_unknown_typecode_is_a_type_error_as_in_stdlib():
    with pytest.raises(TypeError, match='typecode'):
        RawValue('z')
    with pytest.raises(TypeError):
        stdlib_sharedctypes.RawValue('z')
    with pytest.raises(TypeError):
        Array('z', 3)


@pytest.mark.parametrize('not_a_type', [3, None, 2.5, b'i', ctypes.c_int(1), int])
def test_a_non_type_gets_a_message_that_says_what_is_wanted(not_a_type):
    # ctypes.sizeof alone would say "this type has no size".
    for make in (lambda: RawValue(not_a_type), lambda: Value(not_a_type),
                 lambda: RawArray(not_a_type, 2), lambda: Array(not_a_type, 2)):
        with pytest.raises(TypeError, match='must be a typecode .* or a ctypes type'):
            make()


def test_raw_array_is_zeroed_even_over_a_reused_block():
    first = RawArray('i', 64)
    first[:] = [123456] * 64
    del first
    gc.collect()
    assert RawArray('i', 64)[:] == [0] * 64
    assert RawValue('d').value == 0.0


def test_negative_length_is_rejected_like_stdlib():
    with pytest.raises(ValueError):
        RawArray('i', -1)
    with pytest.raises(ValueError):
        stdlib_sharedctypes.RawArray('i', -1)


# -- pointers are refused: an address means nothing in another process -------------

class WithName(Structure):
    _fields_ = [('id', c_int), ('name', ctypes.c_char_p)]


class Outer(Structure):
    """A pointer two levels down: in an array field of a nested structure."""
    _fields_ = [('n', c_int), ('inner', WithName * 2)]


class Derived(MyStruct):
    """A pointer added by a subclass of a harmless structure."""
    _fields_ = [('next', ctypes.POINTER(MyStruct))]


class Both(ctypes.Union):
    _fields_ = [('number', ctypes.c_size_t), ('address', ctypes.c_void_p)]


POINTER_TYPES = [
    ctypes.c_char_p, ctypes.c_wchar_p, ctypes.c_void_p, ctypes.py_object,
    ctypes.POINTER(c_int), ctypes.POINTER(MyStruct), ctypes.CFUNCTYPE(c_int, c_int),
    WithName, Outer, Derived, Both, ctypes.c_char_p * 3, ctypes.c_void_p * 2 * 2,
    WithName * 4,
]
POINTER_IDS = ['c_char_p', 'c_wchar_p', 'c_void_p', 'py_object', 'POINTER(c_int)',
               'POINTER(struct)', 'CFUNCTYPE', 'struct field', 'nested struct field',
               'subclass field', 'union field', 'array', 'array of arrays',
               'array of structs']
MAKERS = {
    'Value': lambda type_: Value(type_),
    'Value lock=False': lambda type_: Value(type_, lock=False),
    'RawValue': lambda type_: RawValue(type_),
    'Array': lambda type_: Array(type_, 2),
    'RawArray': lambda type_: RawArray(type_, 2),
    'RawArray from items': lambda type_: RawArray(type_, [type_()]),
}


@pytest.mark.parametrize('maker', MAKERS)
@pytest.mark.parametrize('type_', POINTER_TYPES, ids=POINTER_IDS)
def test_a_type_holding_a_pointer_is_refused(maker, type_):
    with pytest.raises(TypeError, match="cannot put .* in shared memory: .*pointer.*"
                                        "one process's private memory"):
        MAKERS[maker](type_)


@pytest.mark.parametrize('type_', POINTER_TYPES, ids=POINTER_IDS)
def test_copying_an_object_holding_a_pointer_is_refused(type_):
    with pytest.raises(TypeError, match='pointer'):
        copy(type_())


def test_the_message_says_where_the_pointer_is():
    with pytest.raises(TypeError, match=r'Outer\.inner\[i\]\.name is a c_char_p, a pointer'):
        Value(Outer)
    with pytest.raises(TypeError, match='c_char_p in shared memory: it is a pointer'):
        Value(ctypes.c_char_p)


def test_a_child_storing_a_string_through_c_char_p_is_stopped_at_creation(ctx):
    # The input: a child builds a string at run time and stores it in
    # a shared c_char_p; the parent would read garbage (or get a ValueError).
    # mpref refuses at creation, before any child exists.  The way that works
    # is shown beside it: the bytes themselves, in a shared char array.
    with pytest.raises(TypeError, match='pointer'):
        Value(ctypes.c_char_p)
    text = Array('c', 32)
    _run(ctx, store_text, text, 7)
    assert text.value == b'built at run time: 7'


def test_no_typecode_names_a_pointer_type():
    for typecode in sharedctypes.typecode_to_type:
        Value(typecode)                     # none raises
    with pytest.raises(TypeError):
        Value('P')                          # struct's pointer code is not a typecode here


def test_types_without_pointers_are_still_accepted():
    arr = RawArray(Point * 2, 2)
    assert len(arr) == 2 and arr[1][1].y == 0.0
    assert Value(ctypes.c_size_t, 5).value == 5


def test_wide_char_array():
    arr = Array('u', 'héllo')
    assert arr.get_obj().value == 'héllo' and arr[1] == 'é'


def test_array_of_arrays_across_processes(ctx):
    rows = RawArray(c_int * 3, [(1, 2, 3), (4, 5, 6)])
    _run(ctx, square_nested, rows)
    assert [list(r) for r in rows] == [[1, 4, 9], [16, 25, 36]]


def test_structure_value_and_synchronized_fields(ctx):
    p = Value(Point, 1.5, -2.0)
    assert isinstance(p, sharedctypes.SynchronizedStructure)
    assert (p.x, p.y) == (1.5, -2.0)
    p.x = 4.0
    assert p.get_obj().x == 4.0
    with pytest.raises(AttributeError):
        p.z


class IntOrDouble(ctypes.Union):
    _fields_ = [('i', c_int), ('d', c_double)]


def set_union(number):
    number.i = 42


def test_a_union_value_is_synchronized_like_a_structure(ctx):
    # The stdlib wraps a Union as it wraps a Structure; mpref refused to.
    number = Value(IntOrDouble)
    assert isinstance(number, sharedctypes.SynchronizedStructure)
    assert repr(number).startswith('<SynchronizedIntOrDouble wrapper for ')
    assert repr(stdlib_mp.Value(IntOrDouble)).startswith('<SynchronizedIntOrDouble wrapper for ')
    p = ctx.Process(target=set_union, args=(number,))
    p.start()
    p.join(30)
    assert p.exitcode == 0 and number.i == 42
    with number:
        number.d = 1.5
    assert number.d == 1.5 and number.get_lock()._count == 0


def square_fields(point, raw_point, shorts):
    point.x = point.x ** 2
    point.y = point.y ** 2
    raw_point.x, raw_point.y = raw_point.x ** 2, raw_point.y ** 2
    for i in range(len(shorts)):
        shorts[i] = -i


def test_structures_and_short_arrays_are_shared_with_a_child(ctx):
    # The spec table's RawValue(MyStruct, 4, 6) and RawArray(c_short, 7) rows,
    # and a synchronized structure, changed in a child and seen here.
    point = Value(Point, 1.5, -2.0)
    raw_point = RawValue(Point, 4, 6)
    shorts = RawArray(c_short, 7)
    _run(ctx, square_fields, point, raw_point, shorts)
    assert (point.x, point.y) == (2.25, 4.0)
    assert (raw_point.x, raw_point.y) == (16.0, 36.0)
    assert list(shorts) == [0, -1, -2, -3, -4, -5, -6]


def test_shared_objects_refuse_to_go_through_a_queue():
    q = mpref.Queue()
    try:
        for obj in (Value('i', 1), RawArray('d', 3), Array('c', b'hi')):
            with pytest.raises(RuntimeError, match='better to inherit than pickle'):
                q.put(obj)
        q.put('after the refusals')
        assert q.get(timeout=JOIN_TIMEOUT) == 'after the refusals'
        assert q.empty()
    finally:
        q.close()
        q.join_thread()


# -- lock: keyword-only, True / False / Lock / RLock, anything else --------------

def test_lock_is_keyword_only_for_array():
    with pytest.raises(TypeError):
        Array('i', 3, False)
    with pytest.raises(TypeError):
        stdlib_sharedctypes.Array('i', 3, False)


def test_value_extra_positional_goes_to_the_constructor_as_in_stdlib():
    # Value's *args are the ctype's; a stray False is not the lock.
    with pytest.raises(TypeError):
        Value('i', 3, False)
    with pytest.raises(TypeError):
        stdlib_sharedctypes.Value('i', 3, False)


def test_lock_true_and_none_make_a_new_rlock():
    for lock in (True, None):
        v = Value('i', 1, lock=lock)
        assert isinstance(v.get_lock(), synchronize.RLock)
    assert Value('i').get_lock() is not Value('i').get_lock()
    assert isinstance(Array('i', 2).get_lock(), synchronize.RLock)


def test_lock_false_returns_the_raw_object():
    assert type(Value('i', 5, lock=False)) is c_int
    raw = Array('i', 5, lock=False)
    assert isinstance(raw, ctypes.Array) and raw._type_ is c_int


@pytest.mark.parametrize('kind', ['Lock', 'RLock'])
def test_given_lock_is_used(kind):
    lock = getattr(mpref.synchronize, kind)()
    v = Value('d', 1.0, lock=lock)
    a = Array('i', 4, lock=lock)
    assert v.get_lock() is lock and a.get_lock() is lock
    assert v.acquire == lock.acquire and a.release == lock.release


@pytest.mark.parametrize('bad', ['yes', 42, object()])
def test_bad_lock_is_a_clear_type_error(bad):
    with pytest.raises(TypeError, match='mpref Lock or RLock'):
        Value('i', lock=bad)
    with pytest.raises(TypeError, match='mpref Lock or RLock'):
        Array('i', 3, lock=bad)
    with pytest.raises(TypeError, match='mpref Lock or RLock'):
        synchronized(RawValue('i'), bad)


@pytest.mark.parametrize('lock_like', [threading.Lock, threading.RLock, mpref.Semaphore])
def test_lock_like_objects_that_cannot_guard_processes_are_refused(lock_like):
    # They have acquire() and release() (the stdlib accepts them), but a
    # threading lock is not shared with a child, and a Semaphore is no lock.
    with pytest.raises(TypeError, match='mpref Lock or RLock'):
        Value('i', lock=lock_like())


# -- synchronized wrappers ----------------------------------------------------

def _normalise(text):
    # An array type's module is wherever `c_int * 3` was first made.
    text = re.sub(r'0x[0-9a-f]+', '0xADDR', text)
    return re.sub(r'<[\w.]+\.(c_\w+_Array_\d+) object', r'<\1 object', text)


def test_reprs_match_stdlib():
    pairs = [
        (Value('i', 7), stdlib_sharedctypes.Value('i', 7)),
        (Array('i', 3), stdlib_sharedctypes.Array('i', 3)),
        (Array('c', b'hi'), stdlib_sharedctypes.Array('c', b'hi')),
        (Value(Point, 1, 2), stdlib_sharedctypes.Value(Point, 1, 2)),
    ]
    assert repr(pairs[0][0]) == '<Synchronized wrapper for c_int(7)>'
    assert re.match(r'<SynchronizedArray wrapper for <[\w.]+\.c_int_Array_3 object at 0x', repr(pairs[1][0]))
    for ours, theirs in pairs:
        assert _normalise(repr(ours)) == _normalise(repr(theirs))


def test_wrapper_classes():
    assert type(Value('i')) is sharedctypes.Synchronized
    assert type(Array('i', 2)) is sharedctypes.SynchronizedArray
    assert type(Array('c', 2)) is sharedctypes.SynchronizedString
    assert type(Value(Point)) is sharedctypes.SynchronizedStructure


def test_get_obj_get_lock_and_context_manager():
    lock = synchronize.RLock()
    raw = RawValue('i', 3)
    v = synchronized(raw, lock)
    assert v.get_obj() is raw and v.get_lock() is lock
    with v:
        v.value += 1
        assert lock._is_mine()
    assert not lock._is_mine()
    assert v.acquire() is True
    v.release()
    assert raw.value == 4


def test_synchronized_default_lock_is_an_rlock():
    assert isinstance(synchronized(RawArray('d', 2)).get_lock(), synchronize.RLock)


def test_synchronizing_twice_is_refused():
    with pytest.raises(TypeError, match='already synchronized'):
        synchronized(Value('i'))


def test_array_items_and_slices():
    a = Array('i', range(6))
    assert len(a) == 6 and a[2] == 2 and a[-1] == 5
    assert a[1:4] == [1, 2, 3] and a[::2] == [0, 2, 4]
    a[0] = 10
    a[4:6] = [40, 50]
    assert a[:] == [10, 1, 2, 3, 40, 50] == list(a)
    with pytest.raises(IndexError):
        a[6]


def test_char_array_value_and_raw_like_stdlib():
    results = []
    for module in (sharedctypes, stdlib_sharedctypes):
        s = module.Array('c', b'hello world')
        raw_s = module.RawArray('c', 5)
        s.value = b'HI'
        raw_s.value = b'ab'
        results.append((s.value, s.raw, s[0], s[:3], raw_s.value, raw_s.raw))
        s.raw = b'x' * 11
        results.append(s.value)
    assert results[0] == (b'HI', b'HI\x00lo world', b'H', b'HI\x00', b'ab', b'ab\x00\x00\x00')
    assert results[:2] == results[2:]


def _blocked_while_lock_held(wrapper, access):
    """True if ``access(wrapper)`` from another thread waits for the held lock."""
    done = threading.Event()
    thread = threading.Thread(target=lambda: (access(wrapper), done.set()))
    with wrapper.get_lock():
        thread.start()
        waited = not done.wait(0.2)
    thread.join(10)
    return waited and done.is_set()


@pytest.mark.parametrize('access', [
    lambda w: w.value,
    lambda w: setattr(w, 'value', 1),
], ids=['get value', 'set value'])
def test_value_access_takes_the_lock(access):
    assert _blocked_while_lock_held(Value('i', lock=synchronize.Lock()), access)


@pytest.mark.parametrize('access', [
    lambda w: w[0],
    lambda w: w.__setitem__(0, 1),
    lambda w: w[0:2],
    lambda w: w.__setitem__(slice(0, 2), [1, 2]),
], ids=['get item', 'set item', 'get slice', 'set slice'])
def test_array_access_takes_the_lock(access):
    assert _blocked_while_lock_held(Array('i', 3), access)


@pytest.mark.parametrize('access', [lambda w: w.value, lambda w: w.raw], ids=['value', 'raw'])
def test_string_access_takes_the_lock(access):
    assert _blocked_while_lock_held(Array('c', 3), access)


def test_structure_field_access_takes_the_lock():
    assert _blocked_while_lock_held(Value(Point), lambda w: w.x)
    assert _blocked_while_lock_held(Value(Point), lambda w: setattr(w, 'y', 2.0))


# -- races: the lock makes read-modify-write exact ---------------------------------

def _count(ctx, counter, use_lock, times=2000):
    workers = [ctx.Process(target=increment, args=(counter, times, use_lock)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(JOIN_TIMEOUT)
        assert w.exitcode == 0
    return counter.value


def test_with_the_lock_no_update_is_lost(ctx):
    assert _count(ctx, Value('i', 0), use_lock=True) == 4000


def test_without_the_lock_updates_may_be_lost(ctx):
    # Two processes doing `value += 1` on a raw value may overwrite each
    # other's increments; the count is at most exact, never more.
    total = _count(ctx, Value('i', 0, lock=False), use_lock=False)
    assert 0 < total <= 4000


# -- copy ------------------------------------------------------------------------

def test_copy_makes_an_independent_shared_object(ctx):
    original = c_double(2.5)
    duplicate = copy(original)
    assert type(duplicate) is c_double and duplicate.value == 2.5
    original.value = 0.0
    assert duplicate.value == 2.5
    _run(ctx, set_value, duplicate, 7.25)
    assert duplicate.value == 7.25
    points = copy((Point * 2)(Point(1, 2), Point(3, 4)))
    assert [(p.x, p.y) for p in points] == [(1, 2), (3, 4)]
    assert points._wrapper is not None


def test_copy_matches_stdlib():
    for module in (sharedctypes, stdlib_sharedctypes):
        c = module.copy(MyStruct(4, 6))
        assert (type(c), c.a, c.b) == (MyStruct, 4, 6)


# -- sharing: inherit, never pickle --------------------------------------------------

@pytest.mark.parametrize('make', [
    lambda: Value('i', 1), lambda: Value('i', 1, lock=False), lambda: Array('d', 3),
    lambda: RawArray('c', b'abc'), lambda: RawValue(Point, 1, 2),
], ids=['Value', 'raw Value', 'Array', 'RawArray c', 'RawValue Point'])
def test_pickling_outside_spawning_raises_runtime_error(make):
    with pytest.raises(RuntimeError, match='inheritance'):
        pickle.dumps(make())


def test_sending_through_a_pipe_raises_like_stdlib():
    reader, writer = mpref.Pipe()
    try:
        with pytest.raises(RuntimeError, match='inheritance'):
            writer.send(Array('i', 3))
        with pytest.raises(RuntimeError):
            pickle.dumps(stdlib_sharedctypes.Array('i', 3))
    finally:
        reader.close()
        writer.close()


def test_ordinary_ctypes_objects_still_pickle():
    RawValue(c_double, 1.0)                  # registers the shared reducer for c_double
    assert pickle.loads(pickle.dumps(c_double(4.5))).value == 4.5


def test_a_child_can_pass_shared_objects_on_to_a_spawned_grandchild(ctx):
    # The child re-pickles what it received: under spawn that means passing
    # on the arena descriptor it inherited itself.
    v = Value('d', 0.0)
    _run(ctx, pass_on, v, 2.5)
    assert v.value == 2.5


def test_objects_from_several_arenas_reach_a_spawned_child():
    small = RawArray('i', 4)
    big = RawArray('b', 2 * heap.ARENA_SIZE)     # an arena of its own
    _run(mpref.get_context('spawn'), fill, small, [1, 2, 3, 4])
    _run(mpref.get_context('spawn'), fill, big, [7] * 3)
    assert small[:] == [1, 2, 3, 4]
    assert big[:4] == [7, 7, 7, 0]
