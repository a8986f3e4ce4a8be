"""Starting a child with spawn: what is pickled, the descriptors handed over, the new interpreter.

Shown in chapter 01 and in docs/process.md (step 2b).
"""

from draw import SMALL, Drawing


def draw():
    d = Drawing(660, 450, 'Starting a child with spawn')
    d.process(12, 34, 300, 382, 'parent process')
    d.process(348, 34, 300, 382, 'child process', note='a new interpreter')

    caller = d.box(24, 58, 276, heading="the caller's thread", lines=[
        '`process.Process.start`',
        '`popen_spawn.Popen._launch`:',
        '  `popen_spawn.Popen._pickle_for_child`',
        '  `os.pipe()` twice: sentinel, data pipe',
        '  `popen_spawn._spawn_with_fds`',
        '  writes the two pickles to the data pipe',
    ])
    for n, line in ((1, 2), (2, 3), (3, 4), (5, 5)):
        d.step(20, caller.line(line), n)
    born = d.box(360, 58, 276, kind='os', heading='`os.posix_spawn(sys.executable, ...)`', lines=[
        'it inherits only the descriptors made',
        'inheritable for the call, at their numbers:',
        '  child_r (the pickles), child_w (sentinel),',
        '  any from `spawn.duplicate_for_child`',
        'its modules are imported afresh: globals',
        'have their import-time values',
    ])
    d.step(356, born.line(0), 4)
    spawn_y, start_y = caller.line(4), born.line(0) - 12
    d.arrow((300, spawn_y), (330, spawn_y), (330, start_y), (360, start_y), kind='os')

    # What travels: two pickles, made before anything else.
    pickles = d.box(24, 176, 276, kind='data', heading='pickled first, in the parent', lines=[
        '`spawn.get_preparation_data`: name,',
        '  authkey, sys.path, sys.argv, cwd, and',
        '  how to import the main module',
        'the Process (`popen_spawn.ChildPickler`):',
        '  target and classes by name (importable!),',
        '  args and kwargs by value; a Lock, Queue,',
        '  Pipe end or Value only while spawning',
        '  (`spawn.assert_spawning`): a semaphore',
        '  by its name, a descriptor by its number',
    ])
    child = d.box(360, 176, 276, heading='its main thread', lines=[
        '`spawn.spawn_main(child_r, child_w)`:',
        '  `util.adopt_sentinel(child_w)`',
        '  unpickles the preparation data;',
        '  `spawn.prepare`: imports the main module',
        '  as __mp_main__; unpickles the Process',
        '`process.Process._bootstrap`, `sys.exit`',
    ])
    d.step(356, child.line(2), 6)
    d.step(356, child.line(4), 7)

    pipe = d.box(150, 342, 360, kind='os', heading='the data pipe (`os.pipe()`)', lines=[
        'parent_w: the parent writes, then closes it; child_r: the child reads',
    ])
    d.arrow(pickles.bottom(0.62), (pickles.bottom(0.62)[0], pipe.y), kind='data', label='parent_w',
            label_dx=4, label_ha='left', label_dy=3)
    d.arrow((child.bottom(0.25)[0], pipe.y), child.bottom(0.25), kind='data', label='child_r',
            label_dx=4, label_ha='left', label_dy=3)
    d.text(24, 404, 'The sentinel pipe works as under fork.', size=SMALL, color='#444444')
    d.legend()
    return d
