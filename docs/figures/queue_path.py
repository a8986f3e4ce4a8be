"""One object through a Queue: put pickles and buffers, the feeder thread writes, get reads.

Shown in chapter 04 (inside a queue) and in docs/queues.md.
"""

from draw import SMALL, Drawing


def draw():
    d = Drawing(660, 374, 'One object through a Queue: from put to get')
    d.process(12, 34, 234, 308, 'the putting process')
    d.process(414, 34, 234, 308, 'a getting process')

    put = d.box(22, 58, 214, heading='its thread: `queues.Queue.put`', lines=[
        '`queues._dumps(obj)`: pickled here',
        '`_free_slots.acquire()`: a slot',
        '  (none in time: `queue.Full`)',
        'append to _buffer, notify _notempty',
        '(the first put starts the feeder)',
        'return: the object may still be here',
    ])
    for n, line in ((1, 0), (2, 1), (3, 3)):
        d.step(18, put.line(line), n)
    buffer = d.box(22, 180, 214, kind='data', heading='_buffer', lines=[
        'a deque of pickles: this process only',
    ])
    feeder = d.box(22, 244, 214, heading='the feeder thread: `queues._feed`', lines=[
        'takes everything in _buffer',
        '`_wlock.acquire()`: one writer',
        '`framing.Connection.send_bytes`',
        '  each; blocks while the pipe is full',
        '`_wlock.release()`',
    ])
    d.step(18, feeder.line(0), 4)
    d.arrow(put.bottom(0.5), buffer.top(0.5), kind='data')
    d.arrow(buffer.bottom(0.5), feeder.top(0.5), kind='data')

    get = d.box(424, 58, 214, heading='its thread: `queues.Queue.get`', lines=[
        '`_rlock.acquire()`: one reader',
        '`framing.Connection.recv_bytes_by`:',
        '  one message, read as it comes',
        '`queues.Queue._wait_readable`: poll',
        '  till the deadline, then `queue.Empty`',
        'releases a slot of _free_slots, _rlock',
        '`pickle.loads`: a copy of the object',
    ])
    for n, line in ((5, 0), (6, 1), (7, 3), (8, 6)):
        d.step(420, get.line(line), n)
    d.lines(426, 206, [
        'Many processes may put and get:',
        'a message crosses the pipe whole,',
        'written under _wlock, read under',
        '_rlock. _buffer and the feeder',
        'thread are per process; a forked',
        'child starts with its own, empty',
        '(`queues.Queue._reset`).',
    ], width=210, size=SMALL, color='#333333')

    sems = d.box(262, 70, 136, kind='os', heading='named semaphores', lines=[
        'shared by every',
        'process that holds',
        'the queue:',
        '_free_slots, a',
        'BoundedSemaphore;',
        '_wlock, _rlock: Locks',
    ])
    pipe = d.box(262, 244, 136, kind='os', heading='the pipe', lines=[
        '`framing.Pipe`, one',
        'way: about 64 KiB',
        'of framed messages,',
        'length then pickle',
    ])
    d.arrow(put.right(0.23), (sems.x, put.right(0.23)[1]), kind='os', lw=1.0)
    d.arrow(get.left(0.14), (sems.x + sems.w, get.left(0.14)[1]), kind='os', lw=1.0)
    d.arrow(feeder.right(0.55), (pipe.x, feeder.right(0.55)[1]), kind='data')
    recv_y = get.line(3)
    d.arrow((pipe.x + pipe.w, feeder.right(0.55)[1]), (406, feeder.right(0.55)[1]), (406, recv_y),
            (get.x, recv_y), kind='data')
    d.legend()
    return d
