"""The spec's pool test program (16.6.4), in Python 3.

Run it with ``python -m mpref.examples.pool [processes|threads]``: the same
program on a pool of processes (``mpref``) or of threads (``mpref.dummy``,
under the same names -- the spec's point about ``multiprocessing.dummy``).
It checks ``apply_async``, ``imap``, ``imap_unordered`` and ``map``, error
handling, timeouts, callbacks, ``close``, ``terminate`` and garbage
collection, and reports as it goes.  Shortened from the spec's (smaller
sleeps, no timings: those are in ``python -m mpref.benchmarks pool``).

Unordered results arrive in any order and are printed sorted, so the report
is the same from run to run except for which worker ran each task.
Spec section 16.6.2.9 (pools); chapter ``notebooks/12_examples.ipynb``.
"""

import sys
import time

import mpref
from mpref.targets.tasks import mul, plus, pow3, reciprocal

USAGE = 'usage: python -m mpref.examples.pool [processes|threads]'


def namespace_for(mode):
    """``mpref`` for ``'processes'``, ``mpref.dummy`` for ``'threads'``."""
    if mode == 'processes':
        return mpref
    if mode == 'threads':
        from mpref import dummy
        return dummy
    raise ValueError("mode must be 'processes' or 'threads', not %r" % (mode,))


# --------------------------------------------------------------------------
# The pool program
# --------------------------------------------------------------------------

def _calculate(func, args):
    # The name of the worker (process or thread) that ran it, and what it computed.
    # Not targets.pool.calculate: that asks mpref, and a worker thread's name is mpref.dummy's.
    name = _namespace.current_process().name
    return '%s says that %s%s = %s' % (name, func.__name__, args, func(*args))


def _calculatestar(args):
    return _calculate(*args)


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
    tasks = [(mul, (i, 7)) for i in range(10)] + [(plus, (i, 8)) for i in range(10)]
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
    out('Unordered results using pool.imap_unordered() (sorted here):')
    for x in sorted(unordered, key=lambda line: line.split(' says that ')[-1]):
        out('\t' + x)
    out('Ordered results using pool.map() --- will block till complete:')
    for x in pool.map(_calculatestar, tasks):
        out('\t' + x)
    assert pool.map(pow3, range(1000)) == [x ** 3 for x in range(1000)]
    assert list(pool.imap(pow3, range(1000), chunksize=125)) == [x ** 3 for x in range(1000)]

    out('Testing error handling:')
    for call, what in [(lambda: pool.apply(reciprocal, (5,)), 'pool.apply()'),
                       (lambda: pool.map(reciprocal, range(10)), 'pool.map()'),
                       (lambda: list(pool.imap(reciprocal, range(10))),
                        'list(pool.imap())')]:
        try:
            call()
        except ZeroDivisionError:
            out('\tGot ZeroDivisionError as expected from %s' % what)
        else:
            raise AssertionError('expected ZeroDivisionError from %s' % what)
    it = pool.imap(reciprocal, range(10))
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
    pool.apply_async(mul, (7, 8), callback=collected.append).wait()
    pool.map_async(pow3, range(10), callback=collected.extend).wait()
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
    pool.apply(pow3, (2,))
    results = [pool.apply_async(time.sleep, (0.02,)) for _ in range(100)]
    pool.terminate()
    pool.join()
    assert not any(worker.is_alive() for worker in pool._pool)
    out('\tterminate() succeeded')

    out('Testing garbage collection:')
    pool = mp.Pool(2)
    workers = pool._pool
    pool.apply(pow3, (2,))
    results = [pool.apply_async(time.sleep, (0.02,)) for _ in range(100)]
    results = pool = None
    deadline = time.monotonic() + 10          # the spec waits a fixed 0.2 s
    while any(worker.is_alive() for worker in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(worker.is_alive() for worker in workers)
    out('\tgarbage collection succeeded')


def main(argv):
    """Run the program in the mode ``argv`` names (default ``processes``).

    Returns the exit status: 0, or 2 after printing the usage for an unknown mode.
    """
    if len(argv) > 1 or (argv and argv[0] not in ('processes', 'threads')):
        print(USAGE, file=sys.stderr)
        return 2
    mode = argv[0] if argv else 'processes'
    print((' Using %s ' % mode).center(79, '-'), flush=True)
    pool_program(namespace_for(mode), out=lambda line: print(line, flush=True))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
