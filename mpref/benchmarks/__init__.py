"""The benchmarks: mpref, the stdlib ``multiprocessing``, ``threading`` and the
bare-OS floor, measured in the same run -- the project's one benchmark command.

One module per mpref module it measures (``mpref/benchmarks/queues.py``
measures ``mpref/queues.py``), and one command for all of them::

    python -m mpref.benchmarks [NAME ...] [--size tiny|small|large] [--cpus 1|all] [--json]

``NAME`` is a module below (default: all of them).  The spec's benchmark
program (16.6.4) is this command: ``python -m mpref.examples.benchmarks`` runs
the same ``main``.

Each module exposes ``run(size='small') -> list of rows``: dicts with
``name``, ``mpref``, ``stdlib`` and ``unit``, and where they exist
``threading`` (the same work between threads) and ``floor`` (the same work
with bare OS calls, ``floor.py``).  Speed claims are ratios measured in the
same run -- never timed assertions.  The stdlib version is reached only
through ``yardstick.py`` (mpref itself never imports it).  What the children
run is here or in ``mpref/targets/`` (the spec's task functions,
``targets/tasks.py``); nothing here imports ``mpref/examples/``.  Each chapter
runs its own module's benchmark; ``notebooks/13_benchmarks.ipynb`` runs them all.

A figure is the median of several repetitions, and keeps their spread
(``yardstick.Rate``): the table prints it next to the median, the JSON
output as ``spread``.  ``--cpus 1`` pins every process of the run to one
CPU (children inherit the affinity): mpref, the stdlib and the floor then
compete for the same CPU, as on a one-core machine.
"""

import argparse
import importlib
import json
import math
import os

#: The benchmarks, by the name a user types (the module under mpref.benchmarks).
BENCHMARKS = ['connection', 'managers', 'pool', 'process', 'queues', 'sharedctypes', 'synchronize']
#: The size knob: 'tiny' for the tests, 'small' (the default) quick, 'large' the spec's counts.
SIZES = ['tiny', 'small', 'large']
#: What each benchmark measures, for the title over its table.
TITLES = {
    'connection': 'Pipe throughput',
    'managers': 'manager proxies: list, dict, Queue, Lock',
    'pool': 'Pool.map, imap and apply_async',
    'process': 'starting and joining a process',
    'queues': 'Queue throughput between two processes',
    'sharedctypes': 'item access: Array with and without a lock, list',
    'synchronize': 'Lock, RLock, Semaphore speed; Condition round trips',
}
#: The columns a row may carry, in the order tables and plots show them.
COLUMNS = ['mpref', 'stdlib', 'threading', 'floor']


def run(name, size='small'):
    """Run benchmark ``name`` (one of ``BENCHMARKS``) at ``size``; return its rows.

    Raises ValueError for an unknown name or size.
    """
    if name not in BENCHMARKS:
        raise ValueError('no benchmark %r; the benchmarks are %s' % (name, ', '.join(BENCHMARKS)))
    if size not in SIZES:
        raise ValueError('size must be one of %s, not %r' % (', '.join(SIZES), size))
    module = importlib.import_module('mpref.benchmarks.' + name)
    return module.run(size=size)


def ratio(a, b):
    """``a / b``, or None when either is missing or ``b`` is zero."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def with_ratios(row):
    """A copy of ``row`` with ``mpref/stdlib`` and ``mpref/floor`` ratios added."""
    return dict(row, **{'mpref/stdlib': ratio(row['mpref'], row.get('stdlib')),
                        'mpref/floor': ratio(row['mpref'], row.get('floor'))})


def spread(value):
    """``(low, high)`` of a figure measured several times (a
    ``yardstick.Rate``), or None for a figure without a spread."""
    if hasattr(value, 'low') and hasattr(value, 'high'):
        return value.low, value.high
    return None


def _figure(value):
    """A figure for the table: the median, and its spread as how far the
    lowest and the highest repetition fell from it (``-3/+5%``)."""
    if value is None:
        return '-'
    text = '%.1f' % value
    low_high = spread(value)
    if low_high is not None and value > 0 and all(map(math.isfinite, low_high)):
        low, high = low_high
        text += ' (-%.0f/+%.0f%%)' % (100 * (value - low) / value, 100 * (high - value) / value)
    return text


def format_rows(rows, title=None):
    """Render rows as an aligned text table with the mpref/stdlib ratio (and the
    ``threading``, ``floor`` and mpref/floor columns when some row has them).

    A missing figure (e.g. the stdlib's for a baseline row) shows as ``-``.
    A figure measured several times is the median, followed by its spread:
    how far below and above it the lowest and highest repetitions fell.
    ``title``, if given, heads the table, so several tables printed one after
    another say which is which.
    """
    columns = [c for c in COLUMNS if c in ('mpref', 'stdlib') or any(c in r for r in rows)]
    ratios = ['mpref/stdlib'] + (['mpref/floor'] if 'floor' in columns else [])
    lines = [] if title is None else ['== %s ==' % title]
    lines.append('%-40s' % 'benchmark' + ''.join('%24s' % c for c in columns)
                 + ''.join('%13s' % r for r in ratios) + '  unit')
    for row in map(with_ratios, rows):
        figures = ''.join('%24s' % _figure(row.get(c)) for c in columns)
        quotients = ''.join('%13s' % ('-' if row[r] is None else '%.2fx' % row[r])
                            for r in ratios)
        lines.append('%-40s' % row['name'] + figures + quotients + '  ' + row['unit'])
    return '\n'.join(lines)


def as_json(results):
    """``{benchmark name: [row with ratios, ...]}`` as JSON text; a ratio that
    cannot be computed is ``null``, never NaN or infinity.  A row whose
    figures were measured several times also has ``spread``: for each such
    column, ``[lowest, highest]`` of the repetitions (the figure is their median)."""
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    def as_dict(row):
        out = {k: clean(float(v) if isinstance(v, float) else v)
               for k, v in with_ratios(row).items()}
        spreads = {c: [clean(x) for x in spread(row[c])]
                   for c in COLUMNS if spread(row.get(c)) is not None}
        if spreads:
            out['spread'] = spreads
        return out
    return json.dumps({name: [as_dict(row) for row in rows] for name, rows in results.items()},
                      indent=1)


def pin_to_one_cpu():
    """Pin this process -- and so every process it starts -- to one CPU
    (the first it may run on); return that CPU's number.  Children inherit
    the affinity, so a whole benchmark run shares that CPU.  Linux only
    (``os.sched_setaffinity``)."""
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def main(argv=None, prog='python -m mpref.benchmarks'):
    """The benchmark command: parse ``argv``, run, print tables or JSON.

    An unknown name or size prints the usage and exits with status 2.
    """
    parser = argparse.ArgumentParser(
        prog=prog, description='mpref vs the stdlib multiprocessing vs threading vs the '
                               'bare-OS floor, in one run (rates: higher is better).')
    parser.add_argument('names', nargs='*', metavar='NAME',
                        help='benchmarks to run (default: all): %s' % ', '.join(BENCHMARKS))
    parser.add_argument('--size', choices=SIZES, default='small',
                        help='how much work each measurement does (default: small)')
    parser.add_argument('--json', action='store_true', help='print the rows as JSON')
    parser.add_argument('--cpus', choices=['1', 'all'], default='all',
                        help='1: pin every process of the run to one CPU; all: let them use '
                             'every CPU (default: all)')
    args = parser.parse_args(argv)
    if args.cpus == '1' and not hasattr(os, 'sched_setaffinity'):
        parser.error('--cpus 1 needs os.sched_setaffinity (Linux)')
    unknown = [name for name in args.names if name not in BENCHMARKS + ['all']]
    if unknown:
        parser.error('unknown benchmark %s; choose from %s' % (', '.join(unknown),
                                                               ', '.join(BENCHMARKS)))
    names = BENCHMARKS if not args.names or 'all' in args.names else args.names
    if args.cpus == '1':
        cpu = pin_to_one_cpu()
        if not args.json:
            print('(every process of this run pinned to CPU %d)' % cpu, flush=True)
    results = {}
    for number, name in enumerate(names):
        results[name] = run(name, args.size)
        if not args.json:
            if number:
                print()
            print(format_rows(results[name], title='%s: %s (mpref.benchmarks.%s)'
                              % (name, TITLES[name], name)), flush=True)
    if args.json:
        print(as_json(results))
