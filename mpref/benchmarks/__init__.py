"""The benchmarks: mpref measured against the stdlib ``multiprocessing``, in the same run.

One module per mpref module it measures (``mpref/benchmarks/queues.py``
measures ``mpref/queues.py``), and one command for all of them::

    python -m mpref.benchmarks NAME [--size large]     # NAME: a module below, or all

Each module exposes ``run(size='small') -> list of rows`` (dicts with at
least ``name``, ``mpref``, ``stdlib`` and ``unit``).  Speed claims are ratios
against the stdlib measured in the same run -- never timed assertions.  The
stdlib version is reached only through ``yardstick.py`` (mpref itself never
imports it).  Spec section 16.6.4 (the benchmark program); each chapter runs
its own module's benchmark, and ``notebooks/13_benchmarks.ipynb`` (planned)
runs them all.
"""

import importlib

#: The benchmarks, by the name a user types (the module under mpref.benchmarks).
BENCHMARKS = ['connection', 'process', 'queues', 'sharedctypes', 'synchronize', 'managers', 'pool']


def run(name, size='small'):
    """Run benchmark ``name`` (one of ``BENCHMARKS``) and return its rows."""
    module = importlib.import_module('mpref.benchmarks.' + name)
    return module.run(size=size)


def format_rows(rows, title=None):
    """Render rows as an aligned text table with the mpref/stdlib ratio.

    A row whose ``stdlib`` is None is a baseline (e.g. a plain list): its
    stdlib and ratio columns show ``-``.

    ``title``, if given, heads the table, so several tables printed one after
    another say which is which.
    """
    lines = [] if title is None else ['== %s ==' % title]
    lines.append('%-40s %14s %14s %8s  %s' % ('benchmark', 'mpref', 'stdlib', 'ratio', 'unit'))
    for row in rows:
        if row.get('stdlib') is None:       # a baseline: nothing to compare with
            lines.append('%-40s %14.1f %14s %8s  %s' % (row['name'], row['mpref'], '-', '-',
                                                        row['unit']))
            continue
        ratio = row['mpref'] / row['stdlib'] if row['stdlib'] else float('nan')
        lines.append('%-40s %14.1f %14.1f %7.2fx  %s'
                     % (row['name'], row['mpref'], row['stdlib'], ratio, row['unit']))
    return '\n'.join(lines)
