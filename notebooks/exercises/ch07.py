"""The exercises of chapter 7, process pools (``notebooks/07_pool.ipynb``).

* 7.1 ``outcomes`` -- what comes back, and when? (predict, then run; warm-up)
* 7.2 ``first_over`` -- an endless input (break it, fix it; medium)
* 7.3 ``tiny_pool`` -- a pool on two queues (extend mpref; project)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.
"""

import itertools
import time

import mpref
from mpref.targets import tasks

from . import Exercise, Wrong
from .tools import exception_name, within


# -- 7.1: what comes back, and when? -------------------------------------------------------------

#: The six steps of ``outcomes_program`` and why each gives what it gives.
OUTCOME_STEPS = [
    ('pool.map(tasks.f, range(5))', 'map returns every result, in the order of the input'),
    ('pool.map(targets.fail_at, range(8))',
     'one failing item fails the whole map call: it raises the ValueError of item 5, and the other '
     'results are not returned'),
    ('next(it) eight times on pool.imap(targets.fail_at, range(8))',
     'imap gives each item its own outcome: next() raises at exactly item 5, and the iteration goes '
     'on after it'),
    ('r.get(timeout=0.1), the task sleeping 1 s',
     'get(timeout) raises TimeoutError when the result is not ready in time; the task goes on running'),
    ('r.get(timeout=10) afterwards', 'the same result, asked again with time enough, is the value'),
    ('pool.apply(tasks.f, (2,)) after pool.close()',
     'a closed pool accepts no new task: ValueError (a pool that is not running)'),
]


def _outcomes_trial(program):
    for number, ((step, _), result) in enumerate(zip(OUTCOME_STEPS, program()), 1):
        print('step %d  %-62s -> %r' % (number, step, result))


def _outcome(value):
    """An exception class counts as its name: ValueError == 'ValueError'; lists item by item."""
    if isinstance(value, type) and issubclass(value, BaseException):
        return value.__name__
    if isinstance(value, (list, tuple)):
        return [_outcome(v) for v in value]
    return value


def _outcomes_test(predict, program):
    predicted = predict()
    if not isinstance(predicted, (list, tuple)) or len(predicted) != len(OUTCOME_STEPS):
        raise Wrong('predict_outcomes() should return a list of %d results, one per step; it returned %r.'
                    % (len(OUTCOME_STEPS), predicted))
    actual = program()
    mistakes = []
    for number, ((step, why), guess, result) in enumerate(zip(OUTCOME_STEPS, predicted, actual), 1):
        if _outcome(guess) != _outcome(result):
            mistakes.append('step %d (`%s`): you predicted %r, the run gave %r -- %s.'
                            % (number, step, _outcome(guess), result, why))
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(OUTCOME_STEPS))
                    + '\n'.join(mistakes))
    return 'your prediction matches the run, step by step.'


outcomes = Exercise('7.1', 'What comes back, and when?', test=_outcomes_test, trial=_outcomes_trial,
                    timeout=60)


# -- 7.2: an endless input --------------------------------------------------------------------

class _Numbers:
    """0, 1, 2, ... for ever, a little slowly (as if read from a network); counts what was read."""

    def __init__(self, pause=0.001):
        self.read = 0
        self.pause = pause

    def __iter__(self):
        for number in itertools.count():
            time.sleep(self.pause)
            self.read = number + 1
            yield number


def _first_over_trial(first_over):
    numbers = _Numbers()
    start = time.monotonic()
    try:
        value = within(3, None, first_over, 10_000, numbers)
    except Wrong:
        print('first_over(10_000, numbers): after 3 seconds it was still running, having read %s numbers '
              'of the endless input; the trial stopped it.' % ('more than 100' if numbers.read > 100
                                                               else 'some'))
        return
    print('first_over(10_000, numbers) returned %r after reading %d numbers (%.0f s).'
          % (value, numbers.read, time.monotonic() - start))


def _first_over_test(first_over):
    for limit, expected in ((10_000, 101 * 101), (50, 64), (0, 1)):
        numbers = _Numbers()
        value = within(15, 'first_over(%d, numbers) was still running after 15 s on an endless input. '
                           'map() reads its whole input before it sends a single task, and this input has no '
                           'end: use imap(), which reads the input only as the workers need it, and stop '
                           'as soon as you have your answer.' % limit,
                       first_over, limit, numbers)
        if value != expected:
            raise Wrong('first_over(%d, numbers) returned %r; the first square over %d is %r.'
                        % (limit, value, limit, expected))
        needed = int(expected ** 0.5) + 1
        if numbers.read > needed + 2000:
            raise Wrong('first_over(%d, numbers) returned the right value, but read %d numbers of the input '
                        'where %d were needed: an input read far ahead costs memory (and, from a network, '
                        'time). Keep the chunksize small.' % (limit, numbers.read, needed))
    leftover = mpref.active_children()
    if leftover:
        raise Wrong('first_over() returned with %d worker processes still running: end the pool before '
                    'returning (a `with mpref.Pool(...) as pool:` block terminates it).' % len(leftover))
    return ('first_over() found the first square over 10000, 50 and 0 on an endless input, read only a '
            'little ahead of what it needed, and left no worker behind.')


first_over = Exercise('7.2', 'An endless input', test=_first_over_test, trial=_first_over_trial, timeout=120,
                      on_timeout='Does first_over() stop reading the input once it has its answer?')


# -- 7.3: a pool on two queues ------------------------------------------------------------------

def _tiny_pool_test(TinyPool):
    for label in ('fork', 'spawn'):
        context = mpref.get_context(label)
        pool = within(60, 'TinyPool(3, context) did not return within 60 s under %s.' % label,
                      TinyPool, 3, context)
        workers = getattr(pool, 'workers', None)
        if not isinstance(workers, list) or len(workers) != 3:
            raise Wrong('Under %s, TinyPool(3, context).workers should be a list of the 3 worker processes; '
                        'it is %r.' % (label, workers))
        if not all(w.is_alive() for w in workers):
            raise Wrong('Under %s, right after TinyPool(3, context) its workers should be running: start '
                        'them in __init__.' % label)
        items = list(range(40))
        got = within(60, 'Under %s, tiny_pool.map(tasks.f, range(40)) was still running after 60 s: does '
                         'every task reach a worker, and every result come back on the result queue?' % label,
                     pool.map, tasks.f, items)
        if got != [x * x for x in items]:
            if isinstance(got, list) and sorted(got) == [x * x for x in items]:
                raise Wrong('Under %s, tiny_pool.map(tasks.f, range(40)) returned every square but not in '
                            'the order of the input: results come back in the order they finish; send each '
                            "task's index with it and put each result in its place." % label)
            raise Wrong('Under %s, tiny_pool.map(tasks.f, range(40)) returned %r.' % (label, got))
        again = within(60, 'Under %s, a second map() on the same TinyPool was still running after 60 s.'
                       % label, pool.map, tasks.pow3, [3, 1, 2])
        if again != [27, 1, 8]:
            raise Wrong('Under %s, a second map, tiny_pool.map(tasks.pow3, [3, 1, 2]), returned %r, not '
                        '[27, 1, 8]: the workers must keep taking tasks after a first map.' % (label, again))
        try:
            within(60, 'Under %s, tiny_pool.map(tasks.reciprocal, range(10)) was still running after 60 s: '
                       'a task that raises must still send something back.' % label,
                   pool.map, tasks.reciprocal, range(10))
        except ZeroDivisionError:
            pass
        except Wrong:
            raise
        except Exception as exc:
            raise Wrong('Under %s, tiny_pool.map(tasks.reciprocal, range(10)) raised %s; it should raise the '
                        "task's own ZeroDivisionError (item 5)." % (label, exception_name(exc)))
        else:
            raise Wrong('Under %s, tiny_pool.map(tasks.reciprocal, range(10)) returned, but item 5 divides '
                        "by zero: send the task's exception back and raise it in map()." % label)
        stale = ('a failing task must not kill its worker, and map() must collect every outcome before it '
                 'raises, or the outcomes it left on the result queue are read by the next map')
        try:
            after = within(60, 'Under %s, map() after a failed map was still running after 60 s: %s.'
                           % (label, stale), pool.map, tasks.f, [4])
        except Wrong:
            raise
        except Exception as exc:
            raise Wrong('Under %s, map() after a failed map raised %s: %s.'
                        % (label, exception_name(exc), stale))
        if after != [16]:
            raise Wrong('Under %s, map() after a failed map returned %r, not [16]: %s.'
                        % (label, after, stale))
        within(20, 'Under %s, tiny_pool.close() was still running after 20 s: send each worker a stop '
                   'message, then join it.' % label, pool.close)
        alive = [w for w in workers if w.is_alive()]
        if alive:
            raise Wrong('Under %s, after tiny_pool.close() %d of its workers were still running: close() '
                        'should tell each worker to stop, and join them.' % (label, len(alive)))
    return ('TinyPool(3, context) ran map() in order, twice, raised a task\'s own exception and went on, and '
            'close() stopped its workers, under fork and spawn.')


tiny_pool = Exercise('7.3', 'A pool on two queues', test=_tiny_pool_test, timeout=240,
                     on_timeout='Does close() send a stop message to every worker?')
