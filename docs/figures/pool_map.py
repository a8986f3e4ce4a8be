"""Pool.map: one task from the caller through a worker's own pipes, the result thread, and back.

Shown in chapter 07 (the workers) and in docs/pool.md.
"""

from draw import SMALL, Drawing


def draw():
    d = Drawing(660, 456, 'Pool.map: a task through the pool, and back')
    d.process(12, 34, 396, 388, "the pool's process")

    caller = d.box(22, 58, 376, heading="the caller's thread: `pool.Pool.map(f, items)`", lines=[
        '`pool.Pool._map_async`: cut items into chunks, a `pool.MapResult`',
        '`pool_core.Core.make_task`: pickle every chunk, before any is sent',
        '`pool_core.Core.submit`: under the lock, cache[job] = result,',
        '  the tasks join the backlog, then dispatch',
        '`pool.MapResult.get`: waits for the result\'s Event',
    ])
    for n, line in ((1, 0), (2, 1), (3, 2), (8, 4)):
        d.step(18, caller.line(line), n)
    core = d.box(62, 170, 336, heading='`pool_core.Core`: the state, under one lock', lines=[
        'backlog: pickled Tasks waiting for a worker',
        'idle: workers waiting for a task; cache: results',
        '`pool_core.Core._dispatch_locked`: a worker idle,',
        'a task waiting: `send_bytes` on its task pipe',
    ])
    d.step(58, core.line(3), 4)
    results = d.box(22, 272, 376, heading='the result thread: `pool_core.Core._handle_results`', lines=[
        "one `select()` on every worker's result pipe and sentinel",
        '(and a wake-up pipe for `terminate()`)',
        'a result: `pool_core.Core._task_done`: the worker is idle',
        '  again and gets its next task; then unpickle the outcome,',
        '  `pool_core.Core._deliver`: `pool.MapResult.set_outcome`',
        "  puts the values in place; the last chunk sets the Event",
        'a sentinel: `pool_core.Core._reap`: its task fails with',
        '  `pool_core.WorkerLostError`; a replacement starts',
    ])
    d.step(18, results.line(2), 6)
    d.step(18, results.line(4), 7)
    d.arrow((234, caller.y + caller.h), (234, core.y), kind='mpref')
    d.arrow(results.top(0.85), core.bottom(0.85), kind='mpref', label='dispatch', label_dx=5,
            label_ha='left', label_dy=3)
    d.arrow((38, results.y), (38, caller.y + caller.h), kind='wake')
    d.text(42, 262, 'the Event', size=SMALL, background='white')

    d.process(456, 34, 192, 96, 'PoolWorker-2, ...', note='daemons')
    d.lines(466, 70, [
        'each worker has its own task',
        'pipe, result pipe and sentinel,',
        'and never more than one task:',
        'the pool knows who runs what',
    ], width=172)

    worker = d.process(456, 170, 192, 252, 'PoolWorker-1')
    loop = d.box(466, 194, 172, heading='`pool_worker.worker_main`', lines=[
        'a loop:',
        '  `recv_bytes`: one task',
        '  `pool_worker._run_task`:',
        '  f on each item of the chunk',
        '  (a failed item: a `Failure`)',
        '  `send_bytes`: the outcome',
    ])
    d.step(462, loop.line(2), 5)
    d.lines(466, 320, [
        'ignores SIGINT; leaves on an',
        'empty message, or end of file',
        '',
        'when it exits, however it dies,',
        'the kernel closes its sentinel',
    ], width=172, size=SMALL)

    task_y, result_y = core.line(3), results.line(2)
    d.arrow((core.x + core.w, task_y), (worker.x, task_y), kind='data')
    d.arrow((worker.x, result_y), (results.x + results.w, result_y), kind='data')
    d.arrow((worker.x, results.line(6)), (results.x + results.w, results.line(6)), kind='wake')
    d.text(427, task_y - 5, 'task pipe', ha='center', size=SMALL, background='white')
    d.text(427, result_y - 5, 'result pipe', ha='center', size=SMALL, background='white')
    d.text(427, results.line(6) - 5, 'sentinel', ha='center', size=SMALL, background='white')
    d.legend()
    return d
