"""The one door through which the benchmarks reach the stdlib ``multiprocessing``.

mpref's own modules never use the stdlib version ("Built from operating-system
pieces" in ``docs/rules.md``, enforced by ruff's banned-api rule and
``tests/test_layers.py``).  The benchmarks, however, exist to measure mpref
*against* it, in the same run.  They get it from here, by name, so that this
exception to the rule stays in one visible place.
"""

import importlib
import statistics


def stdlib_multiprocessing():
    """Return the standard library's ``multiprocessing`` package (the yardstick)."""
    return importlib.import_module('multiprocessing')


class Rate(float):
    """A rate (a float: the median of several repetitions) that also keeps
    the lowest and the highest of them, its spread: ``rate.low``, ``rate.high``."""

    def __new__(cls, median, low, high):
        rate = float.__new__(cls, median)
        rate.low, rate.high = low, high
        return rate

    @classmethod
    def of(cls, rates):
        """The median of ``rates`` with their spread."""
        return cls(statistics.median(rates), min(rates), max(rates))


def median_rate(run, repeat=3):
    """Call ``run()`` (which returns (count, seconds)) ``repeat`` times; return
    the median rate as a ``Rate`` that keeps its spread (min-max).

    On a busy machine the spread says how far to trust the median.
    """
    rates = []
    for _ in range(repeat):
        count, seconds = run()
        rates.append(count / seconds if seconds > 0 else float('inf'))
    return Rate.of(rates)


def best_rate(run, repeat=3):
    """Call ``run()`` (which returns (count, seconds)) ``repeat`` times; best rate.

    The best of several runs is the least disturbed by a noisy machine.
    (The benchmark command reports medians with their spread: ``median_rate``.)
    """
    rates = []
    for _ in range(repeat):
        count, seconds = run()
        rates.append(count / seconds if seconds > 0 else float('inf'))
    return max(rates)
