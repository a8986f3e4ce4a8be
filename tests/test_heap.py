"""The shared-memory heap: arenas, blocks, reuse, coalescing, cleanup (``mpref/heap.py``).

Most tests use a private ``Heap()`` so that the process-wide one (which
``sharedctypes`` uses) does not disturb what they look at.
"""

import gc
import os
import pickle
import signal
import tempfile
import threading

import pytest

import mpref
from mpref import heap


def _heap_files():
    """Names of heap files visible in /dev/shm and the temp dir (there should be none)."""
    names = []
    for directory in ('/dev/shm', tempfile.gettempdir()):
        try:
            names += [n for n in os.listdir(directory) if n.startswith('mpref-heap-')]
        except OSError:
            pass
    return names


def test_blocks_are_aligned_and_do_not_overlap():
    h = heap.Heap()
    blocks = [h.malloc(size) for size in (1, 3, 16, 17, 100, 0)]
    for arena, start, stop in blocks:
        assert start % heap.ALIGNMENT == 0
        assert stop - start >= 1
    spans = sorted((start, stop) for _, start, stop in blocks)
    for (_, stop), (start, _) in zip(spans, spans[1:]):
        assert stop <= start
    assert len(h.arenas) == 1


def test_freed_block_is_reused_for_the_same_size():
    h = heap.Heap()
    a = h.malloc(40)
    h.malloc(40)                            # keeps a from merging into the tail
    h.free(a)
    assert h.malloc(40) == a


def test_best_fit_picks_the_smallest_hole_that_fits():
    h = heap.Heap()
    big_hole = h.malloc(64)
    h.malloc(16)
    small_hole = h.malloc(32)
    h.malloc(16)
    h.free(big_hole)
    h.free(small_hole)
    assert h.malloc(32) == small_hole
    assert h.malloc(48)[1] == big_hole[1]


def test_adjacent_free_blocks_coalesce():
    h = heap.Heap()
    a, b, c = h.malloc(32), h.malloc(32), h.malloc(32)
    d = h.malloc(32)                        # keeps c from merging into the tail
    arena = a[0]
    h.free(a)
    h.free(c)
    assert h.free_ranges(arena)[:2] == [(a[1], a[2]), (c[1], c[2])]
    h.free(b)                               # joins a and c into one range
    assert h.free_ranges(arena)[0] == (a[1], c[2])
    assert h.malloc(96) == (arena, a[1], c[2])
    h.free(d)


def test_freeing_everything_leaves_one_free_range():
    h = heap.Heap()
    blocks = [h.malloc(n) for n in (8, 24, 40, 56, 72)]
    arena = blocks[0][0]
    for block in blocks[::2] + blocks[1::2]:    # free in a scattered order
        h.free(block)
    assert h.free_ranges(arena) == [(0, arena.size)]


def test_big_request_gets_its_own_arena_which_is_returned_when_free():
    h = heap.Heap()
    h.malloc(10)
    assert len(h.arenas) == 1
    size = 3 * heap.ARENA_SIZE + 5
    big = h.malloc(size)
    assert len(h.arenas) == 2
    assert big[0].size >= size and big[0].size % os.sysconf('SC_PAGE_SIZE') == 0
    h.free(big)
    assert len(h.arenas) == 1               # the big arena was given back


def test_full_arena_makes_the_heap_grow():
    h = heap.Heap()
    first = h.malloc(heap.ARENA_SIZE)
    second = h.malloc(16)
    assert first[0] is not second[0]
    assert len(h.arenas) == 2


def test_free_while_the_lock_is_held_is_deferred_not_deadlocked():
    # A finalizer may run free() inside malloc() in the same thread.
    h = heap.Heap()
    a = h.malloc(16)
    h.malloc(16)
    with h._lock:
        h.free(a)                           # must not block
        assert h._pending_frees == [a]
    assert h.malloc(16) == a                # the pending free was applied first


def test_threads_never_get_overlapping_blocks():
    h = heap.Heap()
    results, errors = [], []

    def work():
        try:
            mine = []
            for i in range(300):
                mine.append(h.malloc(8 + (i % 7) * 8))
                if i % 3 == 0:
                    h.free(mine.pop(0))
            results.extend(mine)
        except Exception as exc:            # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    by_arena = {}
    for arena, start, stop in results:
        by_arena.setdefault(id(arena), []).append((start, stop))
    for spans in by_arena.values():
        spans.sort()
        for (_, stop), (start, _) in zip(spans, spans[1:]):
            assert stop <= start


def test_buffer_wrapper_frees_its_block_when_collected():
    h = heap.BufferWrapper._heap
    wrapper = heap.BufferWrapper(24)
    block = wrapper._state[0]
    del wrapper
    gc.collect()
    assert any(start <= block[1] and block[2] <= stop
               for start, stop in h.free_ranges(block[0]))


def test_memory_view_is_shared_memory():
    wrapper = heap.BufferWrapper(8)
    view = wrapper.create_memoryview()
    assert len(view) == 8 and not view.readonly
    view[:3] = b'abc'
    assert bytes(wrapper.create_memoryview()[:3]) == b'abc'


def test_arena_pickles_only_while_spawning():
    arena = heap.Arena(heap.ARENA_SIZE)
    with pytest.raises(RuntimeError, match='inheritance'):
        pickle.dumps(arena)


def test_no_file_is_left_anywhere():
    before = _heap_files()
    h = heap.Heap()
    blocks = [h.malloc(heap.ARENA_SIZE) for _ in range(3)]
    assert _heap_files() == before == []
    for block in blocks:
        h.free(block)


def test_arena_descriptor_is_closed_when_the_arena_goes():
    arena = heap.Arena(heap.ARENA_SIZE)
    fd = arena.fd
    os.fstat(fd)
    del arena
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)


# -- across processes ---------------------------------------------------------

def write_bytes(wrapper, data):
    wrapper.create_memoryview()[:len(data)] = data


def report_heap_after_fork(conn, inherited_arenas):
    block = heap.BufferWrapper._heap.malloc(16)
    conn.send(any(block[0] is arena for arena in inherited_arenas))
    conn.close()


def sleep_forever(wrapper):
    import time
    time.sleep(60)


def test_block_is_shared_with_a_child(ctx):
    wrapper = heap.BufferWrapper(16)
    p = ctx.Process(target=write_bytes, args=(wrapper, b'from child'))
    p.start()
    p.join(30)
    assert p.exitcode == 0
    assert bytes(wrapper.create_memoryview()[:10]) == b'from child'


def test_forked_child_allocates_from_fresh_arenas():
    # The parent's arenas are shared: a child handing out their free ranges
    # would overwrite the parent's future objects.
    heap.BufferWrapper(16)
    reader, writer = mpref.Pipe(duplex=False)
    p = mpref.get_context('fork').Process(
        target=report_heap_after_fork, args=(writer, heap.BufferWrapper._heap.arenas))
    p.start()
    writer.close()
    assert reader.poll(30)
    assert reader.recv() is False
    p.join(30)
    reader.close()


def test_killed_spawned_child_leaves_nothing_behind():
    wrapper = heap.BufferWrapper(16)
    p = mpref.get_context('spawn').Process(target=sleep_forever, args=(wrapper,))
    p.start()
    try:
        # Wait until the child holds the arena (it is sleeping in the target).
        p.join(1)
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.join(30)
    assert p.exitcode == -signal.SIGKILL
    assert _heap_files() == []


# -- a reused block starts out zeroed -------------------------------------------
#
# The heap hands a freed block out again.  Every user of the heap expects its
# new block to read as zeros (a Condition's table of waiting pids, a Lock's
# hand-off flag, a RawArray made from a length); a block that kept what its
# last owner wrote made a Condition lose wake-ups.  Each test leaves junk in
# every free byte of the heap and checks what the next user reads.

def _dirty_every_free_range():
    """Write 0xAB over every free byte of the process-wide heap, as freed
    objects would have left it."""
    h = heap.BufferWrapper._heap
    gc.collect()
    for arena in h.arenas:
        for start, stop in h.free_ranges(arena):
            arena.buffer[start:stop] = b'\xab' * (stop - start)


def test_buffer_wrapper_over_a_reused_block_reads_zero():
    wrapper = heap.BufferWrapper(200)
    block = wrapper._state[0]
    wrapper.create_memoryview()[:] = b'\xab' * 200
    del wrapper
    gc.collect()
    wrapper = heap.BufferWrapper(200)
    assert wrapper._state[0] == block            # the very block, reused
    assert bytes(wrapper.create_memoryview()) == bytes(200)


@pytest.mark.parametrize('user', ['RawValue', 'RawArray', 'Value', 'Array', 'Lock', 'Condition'])
def test_every_user_of_the_heap_gets_zeroed_memory(user):
    make, memory = {
        'RawValue': (lambda: mpref.RawValue('q'), bytes),
        'RawArray': (lambda: mpref.RawArray('i', 8), bytes),
        'Value': (lambda: mpref.Value('d'), lambda obj: bytes(obj.get_obj())),
        'Array': (lambda: mpref.Array('b', 16), lambda obj: bytes(obj.get_obj())),
        'Lock': (mpref.Lock, lambda obj: bytes(obj._handed_off)),
        'Condition': (mpref.Condition, lambda obj: bytes(obj._waiters.cast('B'))),
    }[user]
    heap.BufferWrapper(1)                          # at least one arena exists
    _dirty_every_free_range()
    obj = make()
    assert memory(obj) == bytes(len(memory(obj)))
