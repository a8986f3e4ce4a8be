"""Starting a child with fork: what is copied, the sentinel pipe, and how the parent learns the end.

Shown in chapter 01 and in docs/process.md (step 2a).
"""

from draw import Drawing


def draw():
    d = Drawing(660, 426, 'Starting a child with fork')
    d.process(12, 34, 300, 358, 'parent process')
    d.process(348, 34, 300, 358, 'child process', note='a copy of the parent')

    # What each side runs, in order.
    caller = d.box(24, 58, 276, heading="the caller's thread", lines=[
        '`process.Process.start`',
        '`popen_fork.Popen._launch`:',
        '  `os.pipe()`: parent_r, child_w',
        '  `os.fork()`',
        '  `os.close(child_w)`',
        'keeps parent_r as `Process.sentinel`',
    ])
    for n, line in ((1, 2), (2, 3), (3, 4)):
        d.step(20, caller.line(line), n)
    child = d.box(360, 58, 276, heading="the child's one thread", lines=[
        '`util.start_lock.release()`',
        '`util.adopt_sentinel(child_w)`',
        '`process.Process._bootstrap`:',
        '  `run()`: target(*args, **kwargs)',
        '`os._exit(code)`: the exit code',
        '(never the parent\'s atexit handlers)',
    ])
    d.step(356, child.line(2), 4)
    d.step(356, child.line(4), 5)
    fork_y, start_y = caller.line(3), child.line(0)
    d.arrow((300, fork_y), (330, fork_y), (330, start_y), (360, start_y), kind='os')

    # Memory: copied, not pickled.
    mem = d.box(24, 172, 276, heading='its memory', kind='user', lines=[
        'the Process object, target, args, kwargs',
        'module globals, as they are now',
        'locks, queues, pipe ends, shared mappings',
        'every open descriptor',
    ])
    copy = d.box(360, 172, 276, heading='the same memory, copied', kind='user', lines=[
        'the same objects at the same addresses:',
        'nothing is pickled, nothing is sent;',
        'the page table is copied, and a page is',
        'shared until one side writes to it',
    ])
    d.arrow(mem.right(0.4), copy.left(0.4), kind='user', label='copied')

    # The sentinel pipe: never written; end of file means "the child has exited".
    pipe = d.box(190, 268, 280, kind='os', heading='the sentinel pipe (`os.pipe()`)', lines=[
        'read end parent_r: in the parent only',
        'write end child_w: in the child only',
        'nobody ever writes to it',
    ])
    wait = d.box(24, 342, 276, lines=[
        '`popen_fork.Popen.wait`: `util.wait_readable`',
        '(sentinel), then `os.waitpid`: the exit code',
    ])
    d.step(20, wait.line(0), 6)
    gone = d.box(360, 342, 276, kind='wake', lines=[
        'the child exits (or is killed): the kernel',
        'closes its descriptors, child_w among them',
    ])
    d.arrow(gone.top(0.6), (gone.top(0.6)[0], pipe.right(0.55)[1]), pipe.right(0.55), kind='wake',
            label='child_w closed', label_at=0, label_dx=4, label_ha='left', label_dy=2)
    d.arrow(pipe.left(0.55), (wait.top(0.45)[0], pipe.left(0.55)[1]), wait.top(0.45), kind='wake',
            label='end of file', label_at=1, label_dx=-4, label_ha='right', label_dy=2)
    d.legend()
    return d
