"""The spec's workers program (16.6.4): a task queue, a result queue, four workers.

Run it with ``python -m mpref.examples.workers``.  The parent puts
``(function, args)`` tasks on one ``Queue``; four worker processes take them
until they meet the ``'STOP'`` sentinel and put each result, named by the
worker that computed it, on a second ``Queue``.  A second batch of tasks is
queued after the first results are in, then one ``'STOP'`` per worker ends
them.

Results arrive in whatever order the workers finish; the parent sorts them
into task order before printing (and checks that every one came from a
worker), so the report is the same on every run.  Spec section 16.6.2.2
(exchanging objects between processes); chapter ``notebooks/12_examples.ipynb``.
"""

import sys

import mpref
from mpref.targets.tasks import mul, plus

USAGE = 'usage: python -m mpref.examples.workers   (no arguments)'
NUMBER_OF_PROCESSES = 4


def worker(tasks, results):
    """Run tasks from ``tasks`` until ``'STOP'``; put ``(number, worker, text)``
    on ``results`` for each."""
    name = mpref.current_process().name
    for number, func, args in iter(tasks.get, 'STOP'):
        results.put((number, name, '%s%s = %s' % (func.__name__, args, func(*args))))


def _collect(results, count, workers):
    """Get ``count`` results; print them in task order."""
    got = sorted(results.get(timeout=30) for _ in range(count))
    for number, name, text in got:
        print('\t%2d: %s' % (number, text))
    print('\tevery result came from one of the workers: %s'
          % all(name in workers for _, name, _ in got), flush=True)


def main(argv):
    """Run the program; return the exit status (2 and the usage for any argument)."""
    if argv:
        print(USAGE, file=sys.stderr)
        return 2
    first = [(mul, (i, 7)) for i in range(20)]
    second = [(plus, (i, 8)) for i in range(10)]
    tasks, results = mpref.Queue(), mpref.Queue()
    for number, (func, args) in enumerate(first):
        tasks.put((number, func, args))
    processes = [mpref.Process(target=worker, args=(tasks, results))
                 for _ in range(NUMBER_OF_PROCESSES)]
    for p in processes:
        p.start()
    names = {p.name for p in processes}
    print('Results of the first %d tasks (arrived in any order, printed in task order):'
          % len(first), flush=True)
    _collect(results, len(first), names)
    for number, (func, args) in enumerate(second, start=len(first)):
        tasks.put((number, func, args))
    print('Results of the next %d tasks:' % len(second), flush=True)
    _collect(results, len(second), names)
    for _ in processes:
        tasks.put('STOP')
    for p in processes:
        p.join(30)
    print('workers stopped, exit codes: %s' % [p.exitcode for p in processes], flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
