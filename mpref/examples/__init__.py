"""The spec's example programs (section 16.6.4), re-created in Python 3.

Each program runs from the shell (``python -m mpref.examples.NAME``).  The
programs are planned: the manager, pool and dummy components they exercise
are still being built.  Chapter: ``notebooks/12_examples.ipynb`` (planned).

This folder holds only those programs: the functions chapters run in children
live in ``mpref/targets/``, the benchmarks in ``mpref/benchmarks/``.
"""
