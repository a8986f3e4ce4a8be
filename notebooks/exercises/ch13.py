"""The exercises of chapter 13, benchmarks (``notebooks/13_benchmarks.ipynb``).

* 13.1 ``races`` -- which is faster? (predict, then run; warm-up)
* 13.2 ``map_rate`` -- a benchmark that measures the wrong thing (break it, fix it; medium)
* 13.3 ``pipe_row`` -- a benchmark row of your own (extend mpref; medium)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.  The races of 13.1 are chosen so that the winner wins by
ten times or more, so that a busy machine cannot change the answer.
"""

import time

import mpref
from mpref import benchmarks

from . import Exercise, Wrong
from .tools import within


# -- 13.1: which is faster? ---------------------------------------------------------------

#: The four races of ``race_program``: what they compare, the winner's name, and why.
RACES = [
    ('reading an item: Array(lock=False) or a manager list',
     'the raw Array is one ctypes access in this process\'s memory; a manager list\'s item is a round trip '
     'to the server process (pickle, two system calls each way, a thread woken), hundreds of times slower'),
    ('reading an item: Array(lock=True) or Array(lock=False)',
     'the synchronized wrapper takes and releases an RLock around every access; the raw array does nothing '
     'else, so it wins by far (the spec warns the wrapper "can be a lot slower")'),
    ('start and join: a Thread or a Process',
     'a thread shares this process: starting one is a clone of a few pages of bookkeeping; a process needs '
     'a fork (a page table copied), a sentinel pipe, a bootstrap and a wait for its exit'),
    ('Pool.map of 2000 items: chunksize=1 or the default',
     'the default cuts the items into a few chunks, one message each way per chunk; chunksize=1 makes '
     '2000 tasks, 2000 messages and 2000 results'),
]


def _races_trial(program):
    for number, ((race, _), winner) in enumerate(zip(RACES, program()), 1):
        print('race %d  %-56s -> %s' % (number, race, winner))


def _races_test(predict, program):
    predicted = predict()
    if not isinstance(predicted, (list, tuple)) or len(predicted) != len(RACES):
        raise Wrong('predict_races() should return a list of %d winners, one per race; it returned %r.'
                    % (len(RACES), predicted))
    actual = program()
    mistakes = []
    for number, ((race, why), guess, winner) in enumerate(zip(RACES, predicted, actual), 1):
        if guess != winner:
            mistakes.append('race %d (%s): you predicted %r, the winner was %r -- %s.'
                            % (number, race, guess, winner, why))
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(RACES))
                    + '\n'.join(mistakes))
    return 'your prediction matches the run, race by race.'


races = Exercise('13.1', 'Which is faster?', test=_races_test, trial=_races_trial, timeout=90)


# -- 13.2: a benchmark that measures the wrong thing ----------------------------------------

#: The stand-in pool's times: to start, for its first map (its workers warming up), for every other map.
START, FIRST_MAP, MAP = 0.3, 0.2, 0.01


class SlowStartPool:
    """A stand-in for ``mpref.Pool``: 0.3 s to make, 0.2 s for its first ``map`` (the workers
    warming up), then 0.01 s for every ``map``, whatever the items."""

    made = []

    def __init__(self, processes=None):
        time.sleep(START)
        self.maps = 0
        self.closed = False
        SlowStartPool.made.append(self)

    def map(self, function, iterable, chunksize=None):
        self.maps += 1
        time.sleep(FIRST_MAP if self.maps == 1 else MAP)
        return [None] * len(iterable)

    def close(self):
        self.closed = True

    def terminate(self):
        self.closed = True

    def join(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.terminate()


def _map_rate_trial(broken_map_rate):
    items = [None] * 1000
    print("map() alone, on the stand-in pool: 1000 items in %g s, so %d items/s" % (MAP, len(items) / MAP))
    measured = broken_map_rate(SlowStartPool, items)
    share = measured / (len(items) / MAP)
    print('broken_map_rate measured %s of that'
          % ('less than a tenth' if share < 0.1 else 'more than a tenth'))


def _map_rate_test(map_rate):
    items = [None] * 1000
    alone = len(items) / MAP
    SlowStartPool.made.clear()
    spread = within(30, 'map_rate(SlowStartPool, 1000 items, times=5) was still running after 30 seconds.',
                    map_rate, SlowStartPool, items, 5)
    try:
        median, low, high = spread
    except (TypeError, ValueError):
        raise Wrong('map_rate() should return the median, the lowest and the highest rate (a measured.Spread, '
                    'or a tuple of three); it returned %r.' % (spread,)) from None
    made = SlowStartPool.made
    if len(made) != 1:
        raise Wrong('map_rate() made %d pools; make one, before the clock starts, and time only map() on it.'
                    % len(made))
    if not made[0].closed:
        raise Wrong('map_rate() left its pool open: close it when done (`with make_pool() as pool:`).')
    if made[0].maps < 6:
        raise Wrong('map_rate(..., times=5) called map() %d times; it should time five of them, after one '
                    'that is not timed (the warm-up).' % made[0].maps)
    if not low <= median <= high:
        raise Wrong('map_rate() returned median %r, lowest %r, highest %r: the lowest cannot be above the '
                    'median, nor the highest below it.' % (median, low, high))
    if median < alone / 3:
        raise Wrong("map_rate() says %.0f items/s; map() alone runs at about %.0f items/s on this stand-in "
                    "pool. Your clock also ran while something else happened: making the pool (%g s) or "
                    "its first map() (%g s). Start the clock just before map() and stop it just after."
                    % (median, alone, START, FIRST_MAP))
    if low < alone / 3:
        raise Wrong("map_rate()'s lowest run is %.0f items/s against a median of %.0f: one timed map() took "
                    "far longer than the others. The first map() of a new pool starts its workers (here "
                    "%g s); run one map() before you start timing." % (low, median, FIRST_MAP))
    if median > alone * 1.5:
        raise Wrong('map_rate() says %.0f items/s, faster than map() itself can go (%.0f items/s): is the '
                    'rate len(items) / seconds of one map()?' % (median, alone))
    real = within(60, 'map_rate(lambda: mpref.Pool(2), 2000 items, times=3) was still running after 60 seconds.',
                  map_rate, lambda: mpref.Pool(2), [None] * 2000, 3)
    if not (real and real[0] > 0):
        raise Wrong('With a real mpref.Pool(2), map_rate() returned %r.' % (real,))
    if mpref.active_children():
        raise Wrong('With a real mpref.Pool(2), map_rate() left worker processes running: close the pool '
                    '(`with make_pool() as pool:`).')
    return ('map_rate() timed map() alone, after a warm-up, on one pool it closed, and gave its median with '
            'the lowest and highest run -- on a stand-in pool and on mpref.Pool(2).')


map_rate = Exercise('13.2', 'A benchmark that measures the wrong thing', test=_map_rate_test,
                    trial=_map_rate_trial, timeout=120)


# -- 13.3: a benchmark row of your own ------------------------------------------------------

def _pipe_row_test(pipe_row):
    import multiprocessing      # the yardstick

    row = within(60, 'pipe_row(5000) was still running after 60 seconds: does the child stop, and does the '
                     'parent wait for the child to say it has read everything?', pipe_row, 5000)
    if not isinstance(row, dict):
        raise Wrong('pipe_row() should return a dict, a row as the benchmark command makes; it returned %r.'
                    % (row,))
    missing = [key for key in ('name', 'unit', 'mpref', 'stdlib') if key not in row]
    if missing:
        raise Wrong('The row lacks %s: a row has a name, a unit and one rate per contender '
                    "('mpref' and 'stdlib')." % ', '.join(repr(key) for key in missing))
    if not str(row['unit']).endswith('/s'):
        raise Wrong("The row's unit is %r; a rate's unit says what per second, e.g. 'objects/s'." % (row['unit'],))
    for who in ('mpref', 'stdlib'):
        rate = row[who]
        if not isinstance(rate, (int, float)) or not 1e3 <= rate <= 1e8:
            raise Wrong('The row says %s sent %r objects per second; a pipe between two processes moves '
                        'between a thousand and a hundred million objects of 256 bytes a second. Is it '
                        'count / seconds?' % (who, rate))
    ratio = row['mpref'] / row['stdlib']
    if not 1 / 20 <= ratio <= 20:
        raise Wrong('mpref/stdlib is %.2g: the two pipes do the same work in C and Python alike, so a ratio '
                    'that far from 1 means the two figures were not measured the same way.' % ratio)
    try:
        table = benchmarks.format_rows([row])
    except Exception as exc:
        raise Wrong('benchmarks.format_rows([row]) failed on your row: %r.' % (exc,)) from None
    if 'x' not in table.splitlines()[-1]:
        raise Wrong('benchmarks.format_rows([row]) shows no mpref/stdlib ratio for your row.')
    left = mpref.active_children() + multiprocessing.active_children()
    if left:
        raise Wrong('pipe_row() left %d child process(es) running: join each child before you return.'
                    % len(left))
    return ('pipe_row() measured both pipes doing the same work and returned a row the benchmark command '
            'can print, leaving no child behind.')


pipe_row = Exercise('13.3', 'A benchmark row of your own', test=_pipe_row_test, timeout=120,
                    on_timeout='Does the child stop when the parent says so?')

