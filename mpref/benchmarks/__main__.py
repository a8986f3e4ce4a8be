"""The benchmark command: ``python -m mpref.benchmarks NAME [--size large]``."""

import argparse

from mpref.benchmarks import BENCHMARKS, format_rows, run


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m mpref.benchmarks',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('name', choices=BENCHMARKS + ['all'])
    parser.add_argument('--size', choices=['small', 'large'], default='small')
    args = parser.parse_args(argv)
    names = BENCHMARKS if args.name == 'all' else [args.name]
    for number, name in enumerate(names):
        if number:
            print()
        print(format_rows(run(name, args.size), title='%s (mpref.benchmarks.%s)' % (name, name)))


if __name__ == '__main__':
    main()
