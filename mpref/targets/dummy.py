"""Programs that run on processes *or* threads, for ``notebooks/10_dummy.ipynb``
and ``tests/test_dummy.py``.

The spec's pool and synchronization programs (16.6.4) take one argument,
``processes`` or ``threads``, and in ``threads`` mode simply use
``multiprocessing.dummy`` under the name ``multiprocessing``.  They are
re-created here, shortened (smaller sleeps, fewer tasks), as functions of a
*namespace* -- ``mpref`` or ``mpref.dummy`` -- so the very same code runs on
both.  Run one as a script::

    python -m mpref.targets.dummy pool threads
    python -m mpref.targets.dummy synchronization processes

The GIL measurements of the chapter use ``burn`` (pure-Python computing) and
``wait`` (sleeping, as I/O does).
"""

import queue
import random
import sys
import time

import mpref

__all__ = ['pool_program', 'synchronization_program', 'burn', 'wait', 'append_to',
           'namespace_for']


def namespace_for(mode):
    """``mpref`` for ``'processes'``, ``mpref.dummy`` for ``'threads'``."""
    if mode == 'processes':
        return mpref
    if mode == 'threads':
        from mpref import dummy
        return dummy
    raise ValueError("mode must be 'processes' or 'threads', not %r" % (mode,))


def append_to(items, value):
    """Append ``value`` to ``items``: a thread changes the caller's list, a
    process only its own copy."""
    items.append(value)


# --------------------------------------------------------------------------
# Work for the GIL measurements
# --------------------------------------------------------------------------

def burn(n):
    """Pure-Python computing: the sum of i*i for i < n.  Holds the GIL throughout."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def wait(seconds):
    """Sleep, as a thread waiting for I/O does: the GIL is released meanwhile."""
    time.sleep(seconds)
    return seconds


# --------------------------------------------------------------------------
# The pool program
# --------------------------------------------------------------------------

def _calculate(func, args):
    # The name of the worker (process or thread) that ran it, and what it computed.
    name = _namespace.current_process().name
    return '%s says that %s%s = %s' % (name, func.__name__, args, func(*args))


def _calculatestar(args):
    return _calculate(*args)


def _mul(a, b):
    time.sleep(0.05 * random.random())
    return a * b


def _plus(a, b):
    time.sleep(0.05 * random.random())
    return a + b


def _reciprocal_of_x_minus_5(x):
    return 1.0 / (x - 5.0)


def _pow3(x):
    return x ** 3


#: The namespace the program runs on; a forked worker inherits it.
_namespace = mpref


def pool_program(mp, out=print):
    """The spec's pool program on namespace ``mp`` (``mpref`` or ``mpref.dummy``).

    Every check of the original is kept (ordered and unordered results,
    errors, timeouts, callbacks, ``close``, ``terminate``, garbage
    collection); ``out`` receives each line of the report.
    """
    global _namespace
    _namespace = mp
    tasks = [(_mul, (i, 7)) for i in range(10)] + [(_plus, (i, 8)) for i in range(10)]
    pool = mp.Pool(4)
    out('pool = %r' % pool)

    results = [pool.apply_async(_calculate, t) for t in tasks]
    imap_it = pool.imap(_calculatestar, tasks)
    unordered = pool.imap_unordered(_calculatestar, tasks)
    out('Ordered results using pool.apply_async():')
    for r in results:
        out('\t' + r.get())
    out('Ordered results using pool.imap():')
    for x in imap_it:
        out('\t' + x)
    out('Unordered results using pool.imap_unordered():')
    for x in unordered:
        out('\t' + x)
    out('Ordered results using pool.map() --- will block till complete:')
    for x in pool.map(_calculatestar, tasks):
        out('\t' + x)
    assert pool.map(_pow3, range(1000)) == [x ** 3 for x in range(1000)]
    assert list(pool.imap(_pow3, range(1000), chunksize=125)) == [x ** 3 for x in range(1000)]

    out('Testing error handling:')
    for call, what in [(lambda: pool.apply(_reciprocal_of_x_minus_5, (5,)), 'pool.apply()'),
                       (lambda: pool.map(_reciprocal_of_x_minus_5, range(10)), 'pool.map()'),
                       (lambda: list(pool.imap(_reciprocal_of_x_minus_5, range(10))),
                        'list(pool.imap())')]:
        try:
            call()
        except ZeroDivisionError:
            out('\tGot ZeroDivisionError as expected from %s' % what)
        else:
            raise AssertionError('expected ZeroDivisionError from %s' % what)
    it = pool.imap(_reciprocal_of_x_minus_5, range(10))
    for i in range(10):
        try:
            next(it)
        except ZeroDivisionError:
            assert i == 5
        else:
            assert i != 5
    out('\tGot ZeroDivisionError as expected from IMapIterator.next()')

    out('Testing ApplyResult.get() with timeout:')
    res = pool.apply_async(time.sleep, (0.2,))
    timeouts = 0
    while True:
        try:
            res.get(0.02)
            break
        except mp.TimeoutError:
            timeouts += 1
    out('\tget(0.02) timed out at least once: %s' % (timeouts > 0))

    out('Testing callback:')
    collected = []
    pool.apply_async(_mul, (7, 8), callback=collected.append).wait()
    pool.map_async(_pow3, range(10), callback=collected.extend).wait()
    out('\tcallbacks succeeded' if collected == [56, 0, 1, 8, 27, 64, 125, 216, 343, 512, 729]
        else '\t*** callbacks failed: %r' % collected)
    assert not pool._cache, 'cache = %r' % pool._cache

    out('Testing close():')
    assert all(worker.is_alive() for worker in pool._pool)
    result = pool.apply_async(time.sleep, (0.1,))
    pool.close()
    pool.join()
    assert result.get() is None
    assert not any(worker.is_alive() for worker in pool._pool)
    out('\tclose() succeeded')

    out('Testing terminate():')
    pool = mp.Pool(2)
    pool.apply(_pow3, (2,))
    results = [pool.apply_async(time.sleep, (0.02,)) for _ in range(100)]
    pool.terminate()
    pool.join()
    assert not any(worker.is_alive() for worker in pool._pool)
    out('\tterminate() succeeded')

    out('Testing garbage collection:')
    pool = mp.Pool(2)
    workers = pool._pool
    pool.apply(_pow3, (2,))
    results = [pool.apply_async(time.sleep, (0.02,)) for _ in range(100)]
    results = pool = None
    deadline = time.monotonic() + 10          # the spec waits a fixed 0.2 s
    while any(worker.is_alive() for worker in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(worker.is_alive() for worker in workers)
    out('\tgarbage collection succeeded')


# --------------------------------------------------------------------------
# The synchronization program
# --------------------------------------------------------------------------

def _value_func(running, mutex):
    time.sleep(random.random() * 0.2)
    with mutex:
        running.value -= 1


def _queue_func(q):
    for i in range(10):
        time.sleep(0.01 * random.random())
        q.put(i * i)
    q.put('STOP')


def _condition_func(cond, out):
    with cond:
        out('\tchild is notifying')
        cond.notify()


def _semaphore_func(sema, mutex, running, peak):
    with sema:
        with mutex:
            running.value += 1
            peak.value = max(peak.value, running.value)
        time.sleep(random.random() * 0.05)
        with mutex:
            running.value -= 1


def _join_timeout_func():
    time.sleep(0.3)


def _event_func(event, woken):
    event.wait()
    with woken.get_lock():
        woken.value += 1


def _sharedvalues_func(values, arrays, shared_values, shared_arrays):
    for (_, v), sv in zip(values, shared_values):
        assert v == sv.value
    for (_, a), sa in zip(arrays, shared_arrays):
        assert list(a) == list(sa[:])


def synchronization_program(mp, out=print):
    """The spec's synchronization program on ``mp``: Value, Queue, Condition,
    Semaphore, join with a timeout, Event, shared values.  ``out`` receives
    each line of the report."""
    out('test_value')
    running, mutex = mp.Value('i', 10), mp.Lock()
    processes = [mp.Process(target=_value_func, args=(running, mutex)) for _ in range(10)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    out('\tNo more running processes: running.value = %d' % running.value)

    out('test_queue')
    q = mp.Queue()
    p = mp.Process(target=_queue_func, args=(q,))
    p.start()
    received = []
    while not received or received[-1] != 'STOP':
        try:
            received.append(q.get(timeout=5))
        except queue.Empty:
            out('\tTIMEOUT')
    p.join()
    out('\t%s' % ' '.join(map(str, received)))

    out('test_condition')
    cond = mp.Condition()
    # A thread's out() works in the child; a process's report goes through a queue.
    said = mp.Queue()
    p = mp.Process(target=_condition_func, args=(cond, said.put))
    cond.acquire()
    cond.acquire()                  # twice, as the spec's program does: wait()
    p.start()                       # must release both levels of the RLock
    out('\tmain is waiting')
    notified = cond.wait(10)
    out('\tmain has woken up: %s' % (notified is not False))
    cond.release()
    cond.release()
    p.join()
    out(said.get(timeout=10))

    out('test_semaphore')
    sema, mutex = mp.Semaphore(3), mp.RLock()
    running, peak = mp.Value('i', 0), mp.Value('i', 0)
    processes = [mp.Process(target=_semaphore_func, args=(sema, mutex, running, peak))
                 for _ in range(10)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    out('\tat most 3 ran at once: %s' % (1 <= peak.value <= 3))

    out('test_join_timeout')
    p = mp.Process(target=_join_timeout_func)
    p.start()
    waits = 0
    while True:
        p.join(timeout=0.05)
        if not p.is_alive():
            break
        waits += 1
    out('\tjoin(timeout) returned early at least once: %s; exitcode %s' % (waits > 0, p.exitcode))

    out('test_event')
    event, woken = mp.Event(), mp.Value('i', 0)
    processes = [mp.Process(target=_event_func, args=(event, woken)) for _ in range(5)]
    for p in processes:
        p.start()
    event.set()
    for p in processes:
        p.join()
    out('\t%d have woken up' % woken.value)

    out('test_sharedvalues')
    values = [('i', 10), ('h', -2), ('d', 1.25)]
    arrays = [('i', range(100)), ('d', [0.25 * i for i in range(100)]), ('H', range(1000))]
    shared_values = [mp.Value(code, v) for code, v in values]
    shared_arrays = [mp.Array(code, a) for code, a in arrays]
    p = mp.Process(target=_sharedvalues_func, args=(values, arrays, shared_values, shared_arrays))
    p.start()
    p.join()
    out('\tTests passed' if p.exitcode == 0 else '\tTests FAILED: exitcode %s' % p.exitcode)
    mp.active_children()        # reap whatever is left


def main(argv):
    if len(argv) != 2 or argv[0] not in ('pool', 'synchronization'):
        raise SystemExit('usage: python -m mpref.targets.dummy (pool|synchronization) '
                         '(processes|threads)')
    program, mode = argv
    print((' Using %s ' % mode).center(79, '-'), flush=True)
    mp = namespace_for(mode)
    mp.freeze_support()
    if program == 'pool':
        pool_program(mp)
    else:
        synchronization_program(mp)


if __name__ == '__main__':
    main(sys.argv[1:])
