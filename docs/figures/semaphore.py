"""One named semaphore, mapped by three processes: the creator holds the Lock, two children wait.

Shown in chapter 03 (what a named semaphore is, and where it lives).
"""

from draw import SMALL, Drawing


def draw():
    d = Drawing(660, 410, 'One named semaphore, mapped by several processes')
    frames = [(12, 'the creating process', 'pid 1234'), (228, 'a forked child', None),
              (444, 'a spawned child', None)]
    for x, name, note in frames:
        d.process(x, 34, 204, 136, name, note=note)
    creator = d.box(22, 58, 184, heading='`synchronize.Lock()`', lines=[
        '`semlock.SemLock.__init__`:',
        '  `semlock._open`: a new',
        '  name, O_CREAT | O_EXCL',
        '`acquire()`: `sem_trywait`, 1 to 0',
        'its own bookkeeping:',
        '  _count = 1, _owner: this thread',
    ])
    forked = d.box(238, 58, 184, heading='the same Lock, inherited', lines=[
        'the copy has the mapping:',
        '  no `sem_open`, same address',
        '`semlock.SemLock._after_fork`:',
        '  _count = 0: it holds nothing',
        '`acquire()`: `sem_wait` sleeps',
        '  while the value is 0',
    ])
    spawned = d.box(454, 58, 184, heading='the Lock, unpickled', lines=[
        'it came as a name, in a pickle:',
        '`semlock.SemLock.__setstate__`',
        '  `sem_open(name)` maps it again',
        '  (at another address)',
        '`acquire()`: `sem_wait` sleeps',
        '  while the value is 0',
    ])

    sem = d.box(110, 214, 440, kind='os', heading='the named semaphore /mpref-1234-8fa154cf', lines=[
        'on Linux a file of 32 bytes, /dev/shm/sem.mpref-1234-8fa154cf, whose',
        'page every process that opens it maps: one counter, shared by all',
        'value 0: taken. `release()` is `sem_post`: 1, and one sleeper wakes',
    ])
    for box, f, label in ((creator, 0.2, 'creates, maps'), (forked, 0.5, 'maps'),
                          (spawned, 0.8, 'opens by name, maps')):
        top = sem.top(f)
        d.arrow(box.bottom(0.5), (box.bottom(0.5)[0], 198), (top[0], 198), top, kind='os')
        d.text(box.bottom(0.5)[0] + 5, 192, label, size=SMALL, color='#444444')

    # Who removes the name from /dev/shm.
    unlink = d.box(12, 308, 300, heading='who removes the name', lines=[
        'the creator: `semlock._close_and_unlink`, a',
        '`util.Finalize`: when the Lock is collected,',
        'or at exit, after joining its children',
    ])
    frame = d.process(348, 300, 300, 80, 'the semaphore tracker', note='one per creator')
    d.box(358, 322, 280, lines=[
        '`semaphore_tracker.main`: if the creator is',
        'killed, end of file on its pipe: unlinks the rest',
    ])
    for x, box in ((170, unlink), (500, frame)):
        d.arrow((x, box.y), (x, sem.y + sem.h), kind='os', label='`sem_unlink`', label_dx=5,
                label_ha='left', label_dy=3)
    d.legend()
    return d
