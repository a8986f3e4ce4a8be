"""The spec's benchmark program (16.6.4): the project's one benchmark command.

``python -m mpref.examples.benchmarks [NAME ...] [--size tiny|small|large] [--json]``
is ``python -m mpref.benchmarks`` under the spec's name: the same ``main``
(``mpref.benchmarks.main``), not a second program.  It measures what the
spec's program measures -- queue throughput (``queue.Queue``, ``Queue``, a
manager's ``Queue``), pipe throughput, item access (a list, a manager list,
``Array`` with and without its lock), ``Lock``/``RLock``/manager lock speed,
``Condition`` round trips -- for mpref, the stdlib ``multiprocessing`` and
``threading`` in the same run, with a floor of bare OS calls where one
exists, plus process start-up and the pool.  The figures are rates (higher
is better) and ratios.  Chapter ``notebooks/13_benchmarks.ipynb``.
"""

from mpref.benchmarks import main

if __name__ == '__main__':
    main(prog='python -m mpref.examples.benchmarks')
