"""The spec's example programs (section 16.6.4), re-created in Python 3.

Each program runs from the shell, with the spec's modes::

    python -m mpref.examples.managers                       # custom managers and proxies
    python -m mpref.examples.pool [processes|threads]
    python -m mpref.examples.synchronize [processes|manager|threads]
    python -m mpref.examples.workers                        # a task queue, a result queue
    python -m mpref.examples.webserver [demo|serve]         # HTTP servers sharing a socket
    python -m mpref.examples.benchmarks [NAME ...] [--size S] [--json]

An unknown mode prints the usage and exits with status 2.  Chapter:
``notebooks/12_examples.ipynb``; the benchmark program is the project's
benchmark command (``mpref/benchmarks/``, ``notebooks/13_benchmarks.ipynb``).

This folder holds only those programs: the functions chapters run in children
live in ``mpref/targets/``, the benchmarks in ``mpref/benchmarks/``.  The
programs import from both (the spec's task functions, ``mpref/targets/tasks.py``;
the benchmark command), never the other way round.
"""
