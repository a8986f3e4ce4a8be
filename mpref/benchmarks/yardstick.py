"""The one door through which the benchmarks reach the stdlib ``multiprocessing``.

mpref's own modules never use the stdlib version ("Built from operating-system
pieces" in ``docs/rules.md``, enforced by ruff's banned-api rule and
``tests/test_layers.py``).  The benchmarks, however, exist to measure mpref
*against* it, in the same run.  They get it from here, by name, so that this
exception to the rule stays in one visible place.
"""

import importlib


def stdlib_multiprocessing():
    """Return the standard library's ``multiprocessing`` package (the yardstick)."""
    return importlib.import_module('multiprocessing')


def best_rate(run, repeat=3):
    """Call ``run()`` (which returns (count, seconds)) ``repeat`` times; best rate.

    The best of several runs is the least disturbed by a noisy machine.
    """
    rates = []
    for _ in range(repeat):
        count, seconds = run()
        rates.append(count / seconds if seconds > 0 else float('inf'))
    return max(rates)
