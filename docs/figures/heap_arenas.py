"""The shared heap: an arena cut into blocks, who asks for a block, and how an arena reaches a child.

Shown in chapter 05 (how mpref does it: arenas and blocks).
"""

from draw import SMALL, Drawing

USED = '#dedede'
FREE = '#ffffff'


def draw():
    d = Drawing(660, 460, "The heap: arenas cut into blocks")
    d.text(12, 48, 'arena 0: 256 KiB, one `mmap` (MAP_SHARED) of a file')
    cells = [('Value', 56, USED), ("Array('d', 10)", 170, USED), ('free', 48, FREE),
             ('Value', 56, USED), ('free ...', 290, FREE)]
    starts = d.cells(20, 58, cells, h=26, kind='user')
    for x, offset in zip(starts, ['0', '16', '96', '112', '128', '262144']):
        d.text(x, 98, offset, ha='center' if offset != '262144' else 'right', size=SMALL,
               color='#444444')
    d.lines(20, 118, [
        "a block is (arena, start, stop): the Array's is (arena 0, 16, 96), 16-byte aligned",
        'free ranges of arena 0, kept sorted: [(96, 112), (128, 262144)]',
    ], width=620, size=SMALL, color='#333333')

    # Who asks for a block, and who gives it back.
    value = d.box(12, 158, 204, heading="`sharedctypes.Value('i', 7)`", lines=[
        '`sharedctypes._new_value`:',
        '  sizeof(c_int) bytes from the',
        '  heap; a ctypes object laid',
        '  over them (from_buffer)',
    ])
    wrapper = d.box(228, 158, 204, heading='`heap.BufferWrapper`', lines=[
        'owns one block; only the ctypes',
        'object refers to it. A `util.Finalize`',
        'on it gives the block back when',
        'the object is collected',
    ])
    heap = d.box(444, 158, 204, heading='`heap.Heap`', lines=[
        '`heap.Heap.malloc`: the smallest',
        'free range that fits (best fit),',
        'zeroed; `heap.Heap.free`: puts it',
        'back, merged with free neighbours',
    ])
    d.arrow(value.right(0.5), wrapper.left(0.5), kind='mpref')
    d.arrow(wrapper.right(0.5), heap.left(0.5), kind='mpref')
    d.arrow(heap.top(0.5), (heap.top(0.5)[0], 84), kind='mpref', label='cuts blocks, takes them back',
            label_dx=-5, label_ha='right', label_dy=3)

    # How an arena reaches a child.
    frames = [(12, 'the creating process', ['maps the arena at', 'some address']),
              (228, 'a forked child', ['inherits the mapping:', 'the same address']),
              (444, 'a spawned child', ['gets the descriptor, maps', 'it again: another address'])]
    for x, name, lines in frames:
        d.process(x, 262, 204, 64, name)
        d.lines(x + 10, 294, lines, width=186)
    arena = d.box(92, 356, 476, kind='os', heading='the arena\'s file: no name, nothing left behind', lines=[
        '`heap._create_unlinked_file`: a file in /dev/shm, unlinked at once, sized',
        'with posix_fallocate; only descriptors and mappings keep it alive. Under',
        'spawn: `heap.Arena.__reduce__` (`spawn.duplicate_for_child`), `heap._rebuild_arena`',
    ])
    for f, x in ((0.1, 114), (0.5, 330), (0.9, 546)):
        d.arrow((x, 326), arena.top(f), kind='os')
    d.legend()
    return d
