"""ctypes objects in shared memory: ``Value``, ``Array`` and their raw forms
(spec 16.6.1.4, 16.6.2.6, 16.6.2.6.1).

Chapter: ``notebooks/05_shared_ctypes.ipynb``.

A shared ctypes object is an ordinary ctypes object whose bytes happen to live
in a block of shared memory from ``heap.py``: ``RawValue('i', 7)`` asks the
heap for ``sizeof(c_int)`` bytes and builds a ``c_int`` over them with
``c_int.from_buffer``.  A child that inherits it -- by fork, or as a
``Process`` argument under spawn -- reads and writes the *same* bytes.

* ``RawValue`` / ``RawArray`` return the bare ctypes object.  Reading or
  writing it is as fast as any ctypes object, and as unprotected: ``v.value
  += 1`` is a read and a write, and another process can slip in between.
* ``Value`` / ``Array`` (by default) return a *synchronized wrapper*: the same
  object behind a lock (an ``RLock`` unless you pass your own ``Lock`` or
  ``RLock``), taken around every ``value``, element and slice access.
  ``lock=False`` returns the raw object.  ``lock`` is keyword-only.
* ``synchronized(obj, lock=None)`` wraps any ctypes object that way;
  ``copy(obj)`` copies one into shared memory.

Typecodes are those of the ``array`` module (``'i'`` -> ``c_int``, ``'d'`` ->
``c_double``, ...: ``typecode_to_type``), plus ``'c'`` -> ``c_char``, which
Python 2's ``array`` had and the spec's examples use; a ctypes
type, a ``Structure`` or ``Union`` subclass or an array type may be given instead.

A type that holds a pointer (``c_char_p``, ``c_wchar_p``, ``c_void_p``,
``py_object``, ``POINTER(...)``, or an array or ``Structure`` with one inside)
is refused with ``TypeError``: a pointer is an address in one process's
private memory, so in shared memory it means nothing to the other processes
(the spec's note in 16.6.2.6.1).

Shared objects travel to a child only by inheritance.  Pickling one -- for a
queue or a pipe -- raises ``RuntimeError`` (``spawn.assert_spawning``): the
receiver would get a copy or a meaningless descriptor number, not shared
memory.  While a child is being spawned, a shared object pickles as (its
type, its heap block), and the block's arena passes its file descriptor to
the child (see ``heap.Arena``).

Differences from CPython's ``multiprocessing.sharedctypes``, all small:

* Pointer types are refused at creation (CPython accepts them, and a
  ``c_char_p`` set in a child reads back as garbage in the parent).

* A ctypes object that is *not* in shared memory still pickles as ctypes
  always does; CPython's reducer, once registered for a type, refuses every
  object of that type.
* Arrays of arrays (``RawArray(c_int * 3, 4)``) survive spawn; CPython's
  rebuild handles one level of array only.
* The synchronized wrapper of a ``Structure`` forwards field access through
  ``__getattr__``/``__setattr__`` rather than a generated class per
  structure; its repr is the same (``<SynchronizedPoint wrapper for ...>``).
"""

import copyreg
import ctypes

from . import heap, spawn
from .signals import signals_held_back
from .synchronize import Lock, RLock

__all__ = ['RawValue', 'RawArray', 'Value', 'Array', 'copy', 'synchronized',
           'typecode_to_type', 'Synchronized', 'SynchronizedArray',
           'SynchronizedString', 'SynchronizedStructure']

#: The ``array`` module's typecodes (and Python 2's ``'c'``) and the ctypes type each one means.
typecode_to_type = {
    'c': ctypes.c_char,     'u': ctypes.c_wchar,
    'b': ctypes.c_byte,     'B': ctypes.c_ubyte,
    'h': ctypes.c_short,    'H': ctypes.c_ushort,
    'i': ctypes.c_int,      'I': ctypes.c_uint,
    'l': ctypes.c_long,     'L': ctypes.c_ulong,
    'q': ctypes.c_longlong, 'Q': ctypes.c_ulonglong,
    'f': ctypes.c_float,    'd': ctypes.c_double,
}


# --------------------------------------------------------------------------
# The raw objects
# --------------------------------------------------------------------------

def RawValue(typecode_or_type, *args):
    """A ctypes object in shared memory: ``type(*args)``, without a lock."""
    type_ = to_ctype(typecode_or_type)
    obj = _new_value(type_)
    obj.__init__(*args)
    return obj


def RawArray(typecode_or_type, size_or_initializer):
    """A ctypes array in shared memory, without a lock.

    An integer gives the length of a zeroed array; a sequence gives the
    length and the initial items.
    """
    type_ = to_ctype(typecode_or_type)
    if isinstance(size_or_initializer, int):
        return _new_value(type_ * size_or_initializer)
    items = list(size_or_initializer)
    array = _new_value(type_ * len(items))
    array.__init__(*items)
    return array


def copy(obj):
    """A new shared ctypes object holding a copy of ctypes object ``obj``'s bytes."""
    new_obj = _new_value(type(obj))
    ctypes.memmove(ctypes.addressof(new_obj), ctypes.addressof(obj), ctypes.sizeof(obj))
    return new_obj


# --------------------------------------------------------------------------
# The synchronized objects
# --------------------------------------------------------------------------

def Value(typecode_or_type, *args, lock=True):
    """``RawValue(typecode_or_type, *args)``, wrapped with a lock unless ``lock=False``.

    ``lock`` (keyword-only): True (or None) for a new ``RLock``, an existing
    ``Lock``/``RLock`` to share one, or False for the raw object.
    """
    obj = RawValue(typecode_or_type, *args)
    return _wrap(obj, lock)


def Array(typecode_or_type, size_or_initializer, *, lock=True):
    """``RawArray(typecode_or_type, size_or_initializer)``, wrapped as ``Value`` is."""
    obj = RawArray(typecode_or_type, size_or_initializer)
    return _wrap(obj, lock)


def synchronized(obj, lock=None):
    """Wrap ctypes object ``obj`` so that each access takes ``lock`` (default: a new RLock).

    The wrapper's class follows the object's: ``Synchronized`` (``.value``),
    ``SynchronizedArray`` (items and slices), ``SynchronizedString`` (a
    ``c_char`` array: also ``.value`` and ``.raw``) or
    ``SynchronizedStructure`` (fields of a ``Structure`` or ``Union``).
    """
    if isinstance(obj, SynchronizedBase):
        raise TypeError('%r is already synchronized' % (obj,))
    if isinstance(obj, ctypes.Array):
        if obj._type_ is ctypes.c_char:
            return SynchronizedString(obj, lock)
        return SynchronizedArray(obj, lock)
    if isinstance(obj, (ctypes.Structure, ctypes.Union)):
        return SynchronizedStructure(obj, lock)
    if isinstance(obj, ctypes._SimpleCData):
        return Synchronized(obj, lock)
    raise TypeError('cannot synchronize %r: not a ctypes object' % (obj,))


def _wrap(obj, lock):
    if lock is False:
        return obj
    if lock is True:
        lock = None                     # synchronized() makes a new RLock
    return synchronized(obj, lock)


class SynchronizedBase:
    """What every synchronized wrapper has: the object, its lock, and the lock's API.

    ``with wrapper:`` holds the lock, so a read-modify-write such as
    ``v.value += 1`` can be made atomic (each access alone already is).
    """

    #: The lock a wrapper makes when given none, and the kinds of lock it accepts:
    #: those shared with other processes.  (``mpref.dummy``'s wrappers name thread locks.)
    _new_lock = RLock
    _lock_types = (Lock, RLock)

    def __init__(self, obj, lock=None):
        if lock is None:
            lock = self._new_lock()
        elif not isinstance(lock, self._lock_types):
            # Only these are shared with other processes: a threading.Lock
            # (or a Semaphore) would look like a lock and protect nothing.
            raise TypeError('lock must be True, False, None, or an mpref Lock or RLock, '
                            'not %r' % (lock,))
        self._obj = obj
        self._lock = lock
        self.acquire = self._lock.acquire
        self.release = self._lock.release

    def get_obj(self):
        """The wrapped ctypes object (access through it is not synchronized)."""
        return self._obj

    def get_lock(self):
        """The lock that guards the object."""
        return self._lock

    # ``with wrapper:`` calls the lock's own methods, looked up (through
    # these properties) before the block starts, as ``Condition`` does: no
    # frame of ours around them at whose start a signal's exception could
    # leave the lock held.
    __enter__ = property(lambda self: self._lock.acquire)
    __exit__ = property(lambda self: self._lock.release)

    def _locked(self, operation, *args):
        """Return ``operation(*args)``, called with the lock held.

        The caller wrote no ``with``, so if a signal's exception (Ctrl-C)
        left the lock held, nobody could ever release it.  ``with lock:``
        alone leaves it held in one case: the exception lands at the first
        instruction of the lock's ``release`` (``__exit__``), before it
        does anything.  So an exception that leaves the block is answered
        by releasing what this call still holds -- the lock is ours and
        held once more than before -- with signals held back, so that a
        second one cannot cut that short.  No signals are held back on the
        way through (``signals``: "Asynchronous exceptions").
        """
        lock = self._lock
        held_before = lock._count if lock._is_mine() else 0
        try:
            with lock:
                return operation(*args)
        except BaseException:
            with signals_held_back:
                if lock._is_mine() and lock._count > held_before:
                    lock.release()
            raise

    def __reduce__(self):
        spawn.assert_spawning(self)
        return synchronized, (self._obj, self._lock)

    def __repr__(self):
        return '<%s wrapper for %s>' % (type(self).__name__, self._obj)


class Synchronized(SynchronizedBase):
    """A synchronized simple value: ``value`` is read and written under the lock."""

    @property
    def value(self):
        return self._locked(getattr, self._obj, 'value')

    @value.setter
    def value(self, new_value):
        self._locked(setattr, self._obj, 'value', new_value)


class SynchronizedArray(SynchronizedBase):
    """A synchronized array: each item or slice read or write holds the lock."""

    def __len__(self):
        return len(self._obj)           # fixed at creation: no lock needed

    def __getitem__(self, index):
        return self._locked(self._obj.__getitem__, index)

    def __setitem__(self, index, value):
        self._locked(self._obj.__setitem__, index, value)


class SynchronizedString(SynchronizedArray):
    """A synchronized ``c_char`` array, with ctypes' ``value`` (up to the first NUL) and ``raw``."""

    value = Synchronized.value          # the same locked property

    @property
    def raw(self):
        return self._locked(getattr, self._obj, 'raw')

    @raw.setter
    def raw(self, new_value):
        self._locked(setattr, self._obj, 'raw', new_value)


class SynchronizedStructure(SynchronizedBase):
    """A synchronized ``Structure`` or ``Union``: each field is read and written under the lock."""

    def __getattr__(self, name):
        # Python calls this only for names the wrapper itself lacks: the fields.
        if name.startswith('__') or '_obj' not in self.__dict__:
            raise AttributeError(name)
        return self._locked(getattr, self._obj, name)

    def __setattr__(self, name, value):
        if '_obj' in self.__dict__ and name in _field_names(type(self._obj)):
            self._locked(setattr, self._obj, name, value)
        else:
            object.__setattr__(self, name, value)

    def __repr__(self):
        return '<Synchronized%s wrapper for %s>' % (type(self._obj).__name__, self._obj)


def _field_names(structure_type):
    return {field[0] for cls in structure_type.__mro__ for field in cls.__dict__.get('_fields_', ())}


# --------------------------------------------------------------------------
# Building ctypes objects over heap blocks, and rebuilding them in a child
# --------------------------------------------------------------------------

#: Every ctypes type is a subclass of one of these.
_CTYPES_KINDS = (ctypes._SimpleCData, ctypes.Structure, ctypes.Union, ctypes.Array,
                 ctypes._Pointer, ctypes._CFuncPtr)


def to_ctype(typecode_or_type):
    """The ctypes type a typecode (``'i'``) or ctypes type names; ``TypeError``
    for anything else.  Also used by ``dummy``'s shared values."""
    if isinstance(typecode_or_type, str):
        try:
            return typecode_to_type[typecode_or_type]
        except KeyError:
            # CPython fails later, in ctypes.sizeof; also a TypeError.
            raise TypeError('unknown typecode %r: use one of %s or a ctypes type'
                            % (typecode_or_type, ''.join(typecode_to_type))) from None
    if not (isinstance(typecode_or_type, type) and issubclass(typecode_or_type, _CTYPES_KINDS)):
        # Else ctypes.sizeof would say only "this type has no size".
        raise TypeError('typecode_or_type must be a typecode (one of %s) or a ctypes type, '
                        'not %r' % (''.join(typecode_to_type), typecode_or_type))
    return typecode_or_type


def _new_value(type_):
    """A zeroed object of ctypes type ``type_`` over a fresh block of shared memory.

    Raises ``TypeError`` if ``type_`` holds a pointer (see ``_refuse_pointers``).
    """
    _refuse_pointers(type_)
    wrapper = heap.BufferWrapper(ctypes.sizeof(type_))
    # The wrapper's block comes zeroed (heap.BufferWrapper), even when reused.
    return _rebuild_ctype(_type_recipe(type_), wrapper)


#: The ``_type_`` codes of ctypes' simple types that hold an address:
#: ``c_char_p`` ('z'), ``c_wchar_p`` ('Z'), ``c_void_p`` ('P'), ``py_object`` ('O').
_POINTER_CODES = frozenset('zZPO')


def _refuse_pointers(type_):
    """Raise ``TypeError`` if ctypes type ``type_`` holds a pointer anywhere inside.

    A pointer is an address in the address space of the process that stored
    it.  In shared memory another process reads the same number, but there it
    leads to unrelated memory (spawn) or to a stale private copy (fork): a
    string stored through a ``c_char_p`` comes back as garbage or crashes the
    reader.  So the pointer types (``c_char_p``, ``c_wchar_p``, ``c_void_p``,
    ``py_object``, ``POINTER(...)``, function pointers) are refused, and so is
    any array, ``Structure`` or ``Union`` with one inside, however deep.
    """
    found = _find_pointer(type_, type_.__name__ if isinstance(type_, type) else '')
    if found is not None:
        path, pointer_type = found
        what = ('it is a pointer' if pointer_type is type_
                else '%s is a %s, a pointer' % (path, pointer_type.__name__))
        raise TypeError(
            "cannot put %s in shared memory: %s: an address in one process's "
            'private memory, meaningless in another.  Share the data itself '
            "instead (e.g. Array('c', 100) for a byte string)"
            % (type_.__name__, what))


def _find_pointer(type_, path):
    """``(path, pointer type)`` for the first pointer inside ``type_``, or None.

    ``path`` spells where we are, e.g. ``Record.names[i]``.
    """
    if not isinstance(type_, type):
        return None                     # not a type: ctypes.sizeof will say so
    if issubclass(type_, ctypes.Array):
        return _find_pointer(type_._type_, path + '[i]')
    if issubclass(type_, (ctypes.Structure, ctypes.Union)):
        for cls in type_.__mro__:
            for field in cls.__dict__.get('_fields_', ()):
                found = _find_pointer(field[1], '%s.%s' % (path, field[0]))
                if found is not None:
                    return found
        return None
    if (issubclass(type_, (ctypes._Pointer, ctypes._CFuncPtr))
            or (issubclass(type_, ctypes._SimpleCData) and type_._type_ in _POINTER_CODES)):
        return path, type_
    return None


def _rebuild_ctype(recipe, wrapper):
    """Lay a ctypes object of type ``recipe`` over ``wrapper``'s shared memory.

    Used both to create a shared object and, in a spawned child, to rebuild
    one from its pickle.
    """
    type_ = _type_from_recipe(recipe)
    # From now on, pickling an object of this type comes to _reduce_ctype.
    copyreg.pickle(type_, _reduce_ctype)
    obj = type_.from_buffer(wrapper.create_memoryview())
    obj._wrapper = wrapper              # keeps the block allocated while obj lives
    return obj


def _reduce_ctype(obj):
    wrapper = obj.__dict__.get('_wrapper')
    if wrapper is None:
        return obj.__reduce__()         # an ordinary ctypes object: pickle it as ctypes does
    spawn.assert_spawning(obj)
    return _rebuild_ctype, (_type_recipe(type(obj)), wrapper)


def _type_recipe(type_):
    """``type_``, with array types spelled out as ``(item recipe, length)``.

    ``c_int * 10`` is made on the fly and has no importable name, so pickle
    cannot send it by reference; its item type and length it can.
    """
    if issubclass(type_, ctypes.Array):
        return (_type_recipe(type_._type_), type_._length_)
    return type_


def _type_from_recipe(recipe):
    if isinstance(recipe, tuple):
        item_recipe, length = recipe
        return _type_from_recipe(item_recipe) * length
    return recipe
