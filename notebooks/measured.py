"""One way to measure, plot and hold a claim, for every chapter of the course.

The chapters compare mpref with the standard library's ``multiprocessing``,
with ``threading`` and with a floor of bare operating-system calls.  So that
the fifteen chapters tell one story with their numbers:

* **one colour per contender, everywhere**: ``COLOURS`` (mpref is the blue of
  the pictures in ``docs/figures/``; the stdlib orange; ``threading`` green;
  the floor and any plain-Python baseline grey);
* **a figure is a median with its spread**: ``repeat`` times a function
  several times and returns ``Spread(median, low, high)``; ``bars`` draws
  medians as bars and the spread as a line from the lowest to the highest run;
* **axes say their unit and which way is better** (``bars(..., unit=...,
  better='higher')``), and long labels wrap instead of being cut;
* **every ratio the prose states is held by a check cell**: ``claim`` prints
  what was measured and fails the cell (so nbval fails the chapter) the day the
  claim stops being true -- with the margin the prose allows, so that a busy
  machine does not make it fail.

This module is the course's, not mpref's: it lives beside the chapters (the
kernel's working directory is ``notebooks/``, so a chapter imports it as
``import measured``).
"""

import statistics
import textwrap
import time
from typing import NamedTuple

__all__ = ['COLOURS', 'Spread', 'repeat', 'spread_of', 'bars', 'claim', 'wrap']

#: The colour of each contender, in every plot of the course.
COLOURS = {
    'mpref': 'tab:blue',
    'stdlib': 'tab:orange',
    'threading': 'tab:green',
    'floor': 'tab:gray',
    'baseline': 'tab:gray',
    'ideal': 'black',
}


class Spread(NamedTuple):
    """A measurement repeated: its median and the lowest and highest run."""
    median: float
    low: float
    high: float

    def __str__(self):
        return '%.3g (%.3g-%.3g)' % (self.median, self.low, self.high)

    def __truediv__(self, other):
        """The ratio of two spreads: median over median, and the extremes crossed
        (the lowest self over the highest other, and the reverse)."""
        return Spread(self.median / other.median, self.low / other.high, self.high / other.low)


def spread_of(values):
    """``Spread`` of a list of numbers."""
    values = list(values)
    return Spread(statistics.median(values), min(values), max(values))


def repeat(function, times=5, per_call=1):
    """Call ``function()`` ``times`` times; return the rate ``per_call / seconds``
    of each call as a ``Spread`` (higher is better)."""
    rates = []
    for _ in range(times):
        start = time.perf_counter()
        function()
        rates.append(per_call / (time.perf_counter() - start))
    return spread_of(rates)


def wrap(label, width=28):
    """``label`` broken into lines of at most ``width`` characters (never cut)."""
    return '\n'.join(textwrap.wrap(label, width)) or label


def bars(ax, labels, series, unit, better='higher', title=None, log=False):
    """Draw grouped bars: ``series`` maps a contender (a key of ``COLOURS``) to
    one ``Spread`` per label; the spread is drawn as a line through each bar.

    ``unit`` names the axis ("operations/s", "seconds"); ``better`` says which
    way is better ('higher' or 'lower') and goes on the axis label.
    """
    import numpy as np
    positions = np.arange(len(labels))
    width = 0.8 / max(len(series), 1)
    for i, (name, spreads) in enumerate(series.items()):
        offsets = positions + (i - (len(series) - 1) / 2) * width
        medians = [s.median for s in spreads]
        below = [s.median - s.low for s in spreads]
        above = [s.high - s.median for s in spreads]
        ax.barh(offsets, medians, height=width, color=COLOURS.get(name, 'tab:gray'), label=name,
                xerr=[below, above], error_kw={'elinewidth': 1, 'capsize': 2})
    ax.set_yticks(positions)
    ax.set_yticklabels([wrap(label) for label in labels])
    ax.invert_yaxis()
    if log:
        ax.set_xscale('log')
    ax.set_xlabel('%s (%s is better)' % (unit, better))
    if title:
        ax.set_title(title)
    ax.legend(loc='best', fontsize='small')
    return ax


def claim(what, value, at_least=None, at_most=None):
    """Hold a claim of the prose: ``value`` (a number or a ``Spread``, whose
    median counts) must be at least ``at_least`` and at most ``at_most``.

    Prints one line saying what was claimed and that it holds; raises
    ``AssertionError`` (failing the cell, and nbval) with what was measured if
    it does not.  Choose the bound with a margin a busy two-core machine keeps:
    the bound is what the prose promises, not what a quiet machine measured.
    """
    measured = value.median if isinstance(value, Spread) else value
    if at_least is not None and not measured >= at_least:
        raise AssertionError('claim no longer holds: %s -- measured %.3g, the prose says at least %g'
                             % (what, measured, at_least))
    if at_most is not None and not measured <= at_most:
        raise AssertionError('claim no longer holds: %s -- measured %.3g, the prose says at most %g'
                             % (what, measured, at_most))
    bounds = ' and '.join(part for part in (
        'at least %g' % at_least if at_least is not None else '',
        'at most %g' % at_most if at_most is not None else '') if part)
    print('holds: %s (%s)' % (what, bounds))
