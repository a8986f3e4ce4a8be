"""One Pool program for every Pool: mpref's, the stdlib's and Ray's, with its timings.

Lab equipment (``lab/``) for ``notebooks/14_beyond_one_machine.ipynb`` and
``tests/test_ray.py``: the parent runs it.  ``pool_program(namespace)`` is a
faithful subset of the spec's pool program (16.6.4): ``apply_async``, ``imap``,
``imap_unordered``, ``map``, errors surfacing, timeouts and callbacks, written
against ``namespace.Pool`` and ``namespace.TimeoutError`` only -- as the spec's
program is written against whichever ``multiprocessing`` it is given.  The
chapter runs it, unchanged, with mpref, the standard library and Ray's
``ray.util.multiprocessing``; ``pool_timings`` measures the three on the same
work.  Tasks sleep for fixed times (not random ones) and unordered results are
sorted, so the report is the same every run.

The tasks are what the workers run, so they are importable by every worker,
Ray's included: the spec's task functions in ``mpref/targets/tasks.py`` and this
program's own (``describe``, the fixed-sleep ``mul`` and ``plus``) in
``mpref/targets/beyond.py``.
"""

import time

from mpref.targets.beyond import describe, describestar, mul, nbytes, plus
from mpref.targets.tasks import burn, nap, pow3
from mpref.targets.tasks import reciprocal as f       # the spec's name for it in this program

TASKS = [(mul, (i, 7)) for i in range(6)] + [(plus, (i, 8)) for i in range(6)]


def pool_program(namespace, processes=2):
    """Run the pool program on ``namespace.Pool``; return its report lines.

    ``namespace`` is anything with ``Pool`` and ``TimeoutError`` (the mpref
    package, the stdlib's ``multiprocessing``, or one made for
    ``ray.util.multiprocessing``).  Raises AssertionError if a result is
    wrong, as the spec's program does; how errors surface is reported,
    not asserted, since that is where the Pools differ.
    """
    out = []
    pool = namespace.Pool(processes)
    try:
        results = [pool.apply_async(describe, task) for task in TASKS]
        imap_it = pool.imap(describestar, TASKS)
        imap_unordered_it = pool.imap_unordered(describestar, TASKS)
        out.append('Ordered results using pool.apply_async():')
        out += ['\t' + r.get(60) for r in results]
        out.append('Ordered results using pool.imap():')
        out += ['\t' + x for x in imap_it]
        out.append('Unordered results using pool.imap_unordered() (sorted to print):')
        out += ['\t' + x for x in sorted(imap_unordered_it, key=_task_order)]
        out.append('Ordered results using pool.map():')
        out += ['\t' + x for x in pool.map(describestar, TASKS)]

        N = 10000
        assert list(map(pow3, range(N))) == pool.map(pow3, range(N)) \
            == list(pool.imap(pow3, range(N), chunksize=N // 8))
        out.append('map(pow3, range(%d)) == pool.map(...) == list(pool.imap(..., chunksize=%d))'
                   % (N, N // 8))

        out.append('Testing error handling (f(5) divides by zero):')
        out.append('\t' + _outcome(lambda: pool.apply(f, (5,)), 'pool.apply(f, (5,))'))
        out.append('\t' + _outcome(lambda: pool.map(f, range(10)), 'pool.map(f, range(10))'))
        out.append('\t' + _outcome(lambda: list(pool.imap(f, range(10))),
                                    'list(pool.imap(f, range(10)))'))
        it = pool.imap(f, range(10))
        odd = []
        for i in range(10):
            try:
                value = next(it)
            except ZeroDivisionError:
                odd.append('raised ZeroDivisionError at item %d' % i)
            else:
                if isinstance(value, BaseException):
                    odd.append('returned a %s at item %d' % (type(value).__name__, i))
        out.append('\tnext() on pool.imap(f, range(10)) ' + ', '.join(odd))

        out.append('Testing AsyncResult.get() with timeout:')
        res = pool.apply_async(nap, (0.5,))
        timeouts = 0
        while True:
            try:
                value = res.get(0.02)
                break
            except namespace.TimeoutError:
                timeouts += 1
        assert timeouts > 0
        out.append('\tTimeoutError at least once, then the result %r' % value)

        out.append('Testing next(timeout) on an imap iterator:')
        it = pool.imap(nap, [0.5, 0.0])
        values, timeouts = [], 0
        while len(values) < 2:
            try:
                values.append(it.next(0.02))
            except namespace.TimeoutError:
                timeouts += 1
        assert timeouts > 0
        out.append('\tTimeoutError at least once, then the results %r' % values)

        out.append('Testing callbacks:')
        A = []
        pool.apply_async(mul, (7, 8), callback=A.append).wait(60)
        pool.map_async(pow3, range(10), callback=A.extend).wait(60)
        errors = []
        pool.apply_async(f, (5,), error_callback=errors.append).wait(60)
        _settle(lambda: len(A) == 11 and errors)
        assert sorted(A) == sorted([56, 0, 1, 8, 27, 64, 125, 216, 343, 512, 729]), A
        out.append('\tcallbacks succeeded')
        out.append('\terror_callback got a %s' % _kind(errors[0], ZeroDivisionError))
        # The order a map_async callback sees: the first task is the slow one.
        order = []
        pool.map_async(nap, [0.5, 0.0], chunksize=1, callback=order.extend).wait(60)
        _settle(lambda: len(order) == 2)
        out.append('\tmap_async(nap, [0.5, 0.0], chunksize=1) gave its callback %r' % order)

        out.append('Testing close() and join():')
        result = pool.apply_async(nap, (0.1,))
        pool.close()
        pool.join()
        out.append('\tthe task sent before close() finished: %r' % result.get(0))
    finally:
        pool.terminate()
    return out


def pool_timings(namespace, processes=2, size='small'):
    """Seconds each kind of work takes on ``namespace.Pool(processes)``.

    Returns a dict: ``start`` (make the pool, get one trivial result back),
    ``small tasks`` (``map(pow3, range(N))``, many tiny tasks: overhead per
    task and per chunk), ``large tasks`` (``map(burn, ...)``, a few
    CPU-heavy tasks: the work itself), ``large arguments`` (``map(nbytes,
    ...)`` over 1 MiB blocks: moving data).  ``size='large'`` scales the
    work up.
    """
    scale = 4 if size == 'large' else 1
    timings = {}
    start = time.perf_counter()
    pool = namespace.Pool(processes)
    try:
        pool.apply(pow3, (2,))
        timings['start'] = time.perf_counter() - start
        work = {
            'small tasks': (pow3, range(20000 * scale)),
            'large tasks': (burn, [300000] * (4 * scale)),
            'large arguments': (nbytes, [bytes(1 << 20)] * (8 * scale)),
        }
        for name, (func, items) in work.items():
            start = time.perf_counter()
            pool.map(func, items)
            timings[name] = time.perf_counter() - start
        pool.close()
        pool.join()
    finally:
        pool.terminate()
    return timings


def _task_order(line):
    name, rest = line.split('(', 1)
    return name != 'mul', int(rest.split(',')[0])


def _outcome(call, what):
    """Say how ``call()`` ended: what it raised, or where an exception came back as a value."""
    try:
        value = call()
    except Exception as exc:
        return '%s raised %s' % (what, type(exc).__name__)
    for i, item in enumerate(value):
        if isinstance(item, BaseException):
            return '%s returned a %s as item %d instead of raising' % (what, type(item).__name__, i)
    return '%s returned without an error: %r' % (what, value)


def _kind(exc, expected):
    return expected.__name__ if isinstance(exc, expected) else type(exc).__name__


def _settle(done, timeout=10.0):
    """Wait until ``done()`` (callbacks may run just after ``wait()`` returns)."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)
