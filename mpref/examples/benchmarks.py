"""The benchmarks, runnable as ``python -m mpref.examples.benchmarks NAME [--size large]``.

Chapter: ``notebooks/13_benchmarks.ipynb`` (each module's chapter also runs its own).

Each benchmark lives beside its topic in ``mpref/examples/bench_<topic>.py``
and exposes ``run(size='small') -> list of result rows`` (dicts with at least
``name``, ``mpref``, ``stdlib`` and ``unit``).  Speed claims are ratios
against the stdlib measured in the same run -- never timed assertions.
"""

import argparse
import importlib

#: benchmark name -> module under mpref.examples
BENCHMARKS = {
    'process': 'bench_process',
    'pipe': 'bench_connection',
    'synchronize': 'bench_synchronize',
    'queue': 'bench_queues',
    'sharedctypes': 'bench_sharedctypes',
}


def run(name, size='small'):
    """Run benchmark ``name`` and return its rows."""
    module = importlib.import_module('mpref.examples.' + BENCHMARKS[name])
    return module.run(size=size)


def format_rows(rows):
    """Render rows as an aligned text table with the mpref/stdlib ratio."""
    lines = ['%-40s %14s %14s %8s  %s' % ('benchmark', 'mpref', 'stdlib', 'ratio', 'unit')]
    for row in rows:
        ratio = row['mpref'] / row['stdlib'] if row.get('stdlib') else float('nan')
        lines.append('%-40s %14.1f %14.1f %7.2fx  %s'
                     % (row['name'], row['mpref'], row.get('stdlib') or float('nan'),
                        ratio, row['unit']))
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('name', choices=sorted(BENCHMARKS) + ['all'])
    parser.add_argument('--size', choices=['small', 'large'], default='small')
    args = parser.parse_args(argv)
    names = sorted(BENCHMARKS) if args.name == 'all' else [args.name]
    for name in names:
        print(format_rows(run(name, args.size)))


if __name__ == '__main__':
    main()
