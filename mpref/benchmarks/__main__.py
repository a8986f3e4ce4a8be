"""The benchmark command: ``python -m mpref.benchmarks [NAME ...] [--size S] [--json]``."""

from mpref.benchmarks import main

if __name__ == '__main__':
    main()
