"""Shared memory for ctypes objects: arenas cut into blocks (spec 16.6.1.4, 16.6.2.6).

Chapter: ``notebooks/05_shared_ctypes.ipynb``.  Its main client is
``sharedctypes.py``, which asks for a block of ``sizeof(ctype)`` bytes and lays
a ctypes object over it; ``synchronize.Lock`` also keeps one shared byte here.

Arenas and blocks
-----------------
Asking the operating system for shared memory is expensive (a file, a
mapping, a system call or three) and comes in whole pages, while a
``Value('i')`` needs 4 bytes.  So, like ``malloc``, the heap asks the OS for
big pieces -- **arenas** -- and hands out small **blocks** cut from them::

    arena 0 (256 KiB, one shared mmap)
    +-------+----------------+------+-------+------------------------------+
    | Value | Array('d', 10) | free | Value |             free             |
    +-------+----------------+------+-------+------------------------------+
    0      16               96    112     128                         262144

    a block is (arena, start, stop): the Array's is (arena 0, 16, 96)
    the free ranges of arena 0:      [(96, 112), (128, 262144)]

The heap keeps, for each arena, a sorted list of its free ``(start, stop)``
ranges.  ``malloc(size)`` picks the *smallest* free range that fits (best
fit), cuts the block from its front and keeps the rest free.  ``free(block)``
puts the range back and **coalesces** it with the free ranges right before
and after it, so that freeing neighbours gives one big range again rather
than many little ones that fit nothing.  When no free range fits, the heap
maps a new arena (a big request gets an arena of its own, and that arena is
given back to the OS once it is entirely free again).  Every block starts on
a 16-byte boundary, enough for any ctypes type, and is handed out zeroed: a
reused block would otherwise still hold what its last owner wrote.

A block is freed when the ctypes object laid over it is garbage collected:
``BufferWrapper`` owns the block, the ctypes object alone refers to the
wrapper, and a ``util.Finalize`` on the wrapper calls ``Heap.free``.

How an arena reaches a child
----------------------------
An arena is an ``mmap`` with ``MAP_SHARED`` of a file that has *no name*:

1. create a file in ``/dev/shm`` (memory-backed on Linux; else the temp dir),
2. ``unlink`` it at once -- from now on only our open descriptor keeps it
   alive, so nothing can be left behind in ``/dev/shm``, not even if the
   process is killed with SIGKILL a moment later: the kernel frees the
   memory when the last descriptor and the last mapping are gone,
3. size it (``posix_fallocate``, so that a full ``/dev/shm`` fails here with
   ``OSError`` and not later with a SIGBUS on first write), and map it.

* Under **fork** the child inherits the mapping itself: same memory, same
  addresses, nothing to do.
* Under **spawn** the new interpreter has no mappings of ours, but it can
  inherit the *descriptor*: the arena's ``__reduce__`` passes it on with
  ``spawn.duplicate_for_child(fd)`` and the child maps the same file again
  (at a different address -- see the chapter on why pointers in shared
  memory are a bad idea).  An arena pickles only while a child is being
  spawned (``spawn.assert_spawning``): sent down a pipe, a descriptor number
  means nothing to the receiver.

Threads and fork
----------------
A ``threading.Lock`` guards the heap's lists.  ``free`` runs from a
finalizer, which the garbage collector may start in the middle of
``malloc`` in the same thread; so ``free`` never waits for the lock: if it is
taken, the block goes on a list of *pending frees* that the next ``malloc``
or ``free`` returns to the heap.

A forked child inherits the heap's lists, but the arenas are *shared* with
the parent: if both handed out the same free range they would overwrite each
other's objects.  So the first ``malloc`` in a new process (checked by pid,
which covers ``os.fork()`` called directly as well as mpref's children)
starts a fresh, empty heap with a fresh lock and no pending frees; the
inherited arenas stay mapped for the inherited objects, and their blocks
stay the parent's to free (``util.Finalize`` runs only in its creator).
"""

import bisect
import ctypes
import mmap
import os
import sys
import tempfile
import threading

from . import spawn, util

__all__ = ['Arena', 'Heap', 'BufferWrapper']

#: Every block starts at a multiple of this (the largest ctypes alignment).
ALIGNMENT = 16

#: The size of an ordinary arena; bigger requests get an arena of their own.
ARENA_SIZE = 256 * 1024


class Arena:
    """A piece of shared memory: ``size`` bytes of an unlinked, mapped file.

    ``buffer`` is the ``mmap``; ``fd`` the descriptor that keeps the file
    alive and lets a spawned child map it too.
    """

    def __init__(self, size, fd=None):
        self.size = size
        if fd is None:
            fd = _create_unlinked_file(size)
        self.fd = fd
        # mmap dups the descriptor for its own use: the mapping outlives our
        # fd, and our fd outlives nothing but this object.
        self.buffer = mmap.mmap(fd, size)
        util.Finalize(self, os.close, (fd,))

    def __reduce__(self):
        spawn.assert_spawning(self)
        return _rebuild_arena, (self.size, spawn.duplicate_for_child(self.fd))

    def __repr__(self):
        return '<Arena fd=%d size=%d>' % (self.fd, self.size)


def _rebuild_arena(size, fd):
    """In a spawned child: map the parent's arena through the inherited fd."""
    # Our own children get it only when we pass it on, as the parent did.
    os.set_inheritable(fd, False)
    return Arena(size, fd)


def _create_unlinked_file(size):
    """Return a descriptor of a new ``size``-byte file that has no name."""
    directory = '/dev/shm' if os.path.isdir('/dev/shm') else tempfile.gettempdir()
    fd, path = tempfile.mkstemp(prefix='mpref-heap-', dir=directory)
    os.unlink(path)
    try:
        if hasattr(os, 'posix_fallocate'):
            os.posix_fallocate(fd, 0, size)
        else:                                   # macOS
            os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        raise
    return fd


class Heap:
    """Hands out blocks of shared memory from arenas, and takes them back.

    ``malloc(size)`` returns a block ``(arena, start, stop)`` of at least
    ``size`` bytes; ``free(block)`` returns it.  Both are thread-safe, and a
    forked child gets a fresh heap of its own (see the module docstring).
    """

    def __init__(self):
        self._reset()

    def _reset(self):
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._arenas = []
        self._free = {}                 # arena -> sorted [(start, stop), ...]
        self._pending_frees = []        # blocks freed while the lock was taken

    # -- the public API --------------------------------------------------------

    def malloc(self, size):
        """Return a free block ``(arena, start, stop)`` of at least ``size`` bytes."""
        if size < 0:
            raise ValueError('size must be >= 0, not %r' % (size,))
        if size >= sys.maxsize:
            raise OverflowError('size %r is too large' % (size,))
        if os.getpid() != self._pid:
            self._reset()               # a forked child: start an empty heap
        size = _round_up(max(size, 1), ALIGNMENT)
        with self._lock:
            self._return_pending_frees()
            arena, start, stop = self._best_fit(size) or self._new_arena(size)
            free = self._free[arena]
            free.remove((start, stop))
            if start + size < stop:
                bisect.insort(free, (start + size, stop))
            return (arena, start, start + size)

    def free(self, block):
        """Give ``block`` back to the heap (called by a finalizer; never blocks)."""
        if not self._lock.acquire(blocking=False):
            # The lock is held -- maybe by this very thread, interrupted
            # inside malloc by the garbage collector.  Leave it for later.
            self._pending_frees.append(block)
            return
        try:
            self._return_pending_frees()
            self._return_block(block)
        finally:
            self._lock.release()

    # -- a look inside, for tests and the chapter ---------------------------------

    @property
    def arenas(self):
        """The arenas this process's heap hands out blocks from (a copy)."""
        return list(self._arenas)

    def free_ranges(self, arena):
        """The free ``(start, stop)`` ranges of ``arena``, in address order."""
        with self._lock:
            self._return_pending_frees()
            return list(self._free[arena])

    # -- helpers (called with the lock held) ----------------------------------

    def _best_fit(self, size):
        """The smallest free ``(arena, start, stop)`` of at least ``size`` bytes, or None."""
        best = None
        for arena in self._arenas:
            for start, stop in self._free[arena]:
                if stop - start >= size and (best is None or stop - start < best[2] - best[1]):
                    best = (arena, start, stop)
        return best

    def _new_arena(self, size):
        """Map a new arena big enough for ``size``; return its one free range."""
        arena = Arena(max(ARENA_SIZE, _round_up(size, mmap.PAGESIZE)))
        util.info('allocating a new mmap of length %d', arena.size)
        self._arenas.append(arena)
        self._free[arena] = [(0, arena.size)]
        return (arena, 0, arena.size)

    def _return_block(self, block):
        arena, start, stop = block
        free = self._free[arena]
        i = bisect.bisect(free, (start, stop))
        # Coalesce with the free range just after the block ...
        if i < len(free) and free[i][0] == stop:
            stop = free.pop(i)[1]
        # ... and with the one just before it.
        if i > 0 and free[i - 1][1] == start:
            i -= 1
            start = free.pop(i)[0]
        free.insert(i, (start, stop))
        if free == [(0, arena.size)] and arena.size > ARENA_SIZE:
            # A big arena made for one big request is now entirely free:
            # give the memory back.  (The mapping itself goes when the
            # last memoryview over it does.)
            self._arenas.remove(arena)
            del self._free[arena]

    def _return_pending_frees(self):
        while self._pending_frees:
            self._return_block(self._pending_frees.pop())


def _round_up(n, multiple):
    return (n + multiple - 1) // multiple * multiple


class BufferWrapper:
    """Owns one block of the heap while a ctypes object uses it; the block
    starts out zeroed, whatever a freed object left in it.

    ``sharedctypes`` lays its ctypes object over ``create_memoryview()`` and
    keeps the wrapper as an attribute of that object, so the wrapper -- and
    its finalizer, which frees the block -- dies with the object.  Under
    spawn the wrapper is pickled with its block; the arena's ``__reduce__``
    makes sure that happens only while spawning.  The child's copy is made
    without ``__init__``, so it has no finalizer: the block is the parent's.
    """

    _heap = Heap()

    def __init__(self, size):
        block = BufferWrapper._heap.malloc(size)
        self._state = (block, size)
        util.Finalize(self, BufferWrapper._heap.free, args=(block,))
        # The heap hands out freed blocks again, with whatever their last
        # owner left in them.  Every user expects fresh memory to read as
        # zeros (an empty waiter table, a cleared flag, a zeroed array), as
        # a new mapping does: so clear the block here, once, for all of them.
        _zero(self.create_memoryview())

    def create_memoryview(self):
        """A writable memoryview of exactly ``size`` bytes of shared memory,
        all zero when the wrapper was made."""
        (arena, start, _), size = self._state
        return memoryview(arena.buffer)[start:start + size]


def _zero(view):
    """Set every byte of the writable memoryview ``view`` to 0 (one memset)."""
    if len(view):
        window = (ctypes.c_char * len(view)).from_buffer(view)
        ctypes.memset(window, 0, len(view))
        del window                      # let go of the buffer export at once
