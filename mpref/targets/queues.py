"""Process targets for ``notebooks/04_queues.ipynb``.

They live in an importable module because a spawned child imports its target
by name, and a notebook's ``__main__`` cannot be imported by a new interpreter.
The children never print: they report through queues and the notebook prints.
The spec's task functions the chapter also runs (``put_list``, ``mul``, ``plus``,
``put_big``) are in ``mpref/targets/tasks.py``.
"""

import mpref


def put_squares_in_batches(q, go, batches=3, per_batch=10):
    """The spec's mp_synchronize queue test, made deterministic.

    Put the squares 0, 1, 4, ... in ``batches`` batches, then ``'STOP'``.
    Between batches, wait for the semaphore ``go``: the parent releases it
    when a ``get(timeout=...)`` has timed out, so exactly one TIMEOUT
    separates two batches (the spec's version sleeps at random instead).
    """
    i = 0
    for batch in range(batches):
        if batch:
            go.acquire(timeout=30)
        for _ in range(per_batch):
            q.put(i * i)
            i += 1
    q.put('STOP')


# -- the spec's workers-and-task-queue example (16.6.4) ----------------------

def worker(input, output):
    """Run tasks from ``input`` until ``'STOP'``; put each result on ``output``."""
    for func, args in iter(input.get, 'STOP'):
        output.put(calculate(func, args))


def calculate(func, args):
    """Return ``(worker name, 'func(args) = result')``.

    A pair, not the pool program's one string (``targets.pool.calculate``):
    the parent sets the worker's name aside and sorts the texts.
    """
    result = func(*args)
    return mpref.current_process().name, '%s%s = %s' % (func.__name__, args, result)


# -- "Joining processes that use queues" (16.6.3.1) ------------------------------

def put_big_and_cancel(q, size=1_000_000):
    """``tasks.put_big``, but give up the buffered data at exit (``cancel_join_thread``)."""
    q.put('X' * size)
    q.cancel_join_thread()


# -- JoinableQueue ------------------------------------------------------------------

def square_tasks(tasks, results):
    """Get numbers until None, put their squares, mark every task done."""
    while True:
        n = tasks.get(timeout=30)
        if n is None:
            tasks.task_done()
            return
        results.put((n, n * n))
        tasks.task_done()
