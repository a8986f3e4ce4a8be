"""The exercises of chapter 10, ``mpref.dummy`` (``notebooks/10_dummy.ipynb``).

* 10.1 ``apart`` -- one import apart (predict, then run; warm-up)
* 10.2 ``squares`` -- results in a list (break it, fix it; medium)
* 10.3 ``parallel_map`` -- a pool on two queues (extend mpref; project)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.  ``cube`` and ``shout``, which the check's workers run, are
at the top level of this module, so a spawned child can import them.
"""

import mpref
import mpref.dummy

from . import Exercise, Wrong
from .tools import contexts, exception_name, within


def _everywhere():
    """``(label, namespace)``: threads (``mpref.dummy``), then the process contexts of ``tools.contexts``."""
    return [('mpref.dummy (threads)', mpref.dummy)] + contexts()


def _children_of(label, mp):
    """The live children a namespace knows of (processes, or dummy's threads)."""
    if 'stdlib' in label:
        import multiprocessing
        return multiprocessing.active_children()
    return mpref.dummy.active_children() if mp is mpref.dummy else mpref.active_children()


# -- 10.1: one import apart ---------------------------------------------------------------

#: What ``apart_program`` returns, step by step, and why.
APART_STEPS = [
    ('len(items) after an mpref.Process appended to it', 'the child process appended to its own copy '
     'of the list; the parent\'s list is untouched, so 0'),
    ('len(items) after an mpref.dummy.Process appended to it', 'a dummy.Process is a thread: it appended '
     'to the very list the main thread holds, so 1'),
    ('mpref.current_process().name', "the main process is 'MainProcess', as in the spec"),
    ('mpref.dummy.current_process().name', "dummy's current_process() is threading.current_thread(): "
     "the main thread is 'MainThread'"),
    ('the exitcode of a dummy.Process whose target called sys.exit(3)', 'a thread follows a process\'s '
     'rules: sys.exit(3) in the target gives exit code 3 (the thread ends, not the program)'),
]


def _apart_trial(program):
    for number, ((what, _), result) in enumerate(zip(APART_STEPS, program()), 1):
        print('step %d  %-62s -> %r' % (number, what, result))


def _apart_test(predict, program):
    predicted = predict()
    if not isinstance(predicted, (list, tuple)) or len(predicted) != len(APART_STEPS):
        raise Wrong('predict_apart() should return a list of %d values, one per step; it returned %r.'
                    % (len(APART_STEPS), predicted))
    actual = program()
    mistakes = ['step %d (%s): you predicted %r, the run gave %r -- %s.' % (number, what, guess, result, why)
                for number, ((what, why), guess, result) in enumerate(zip(APART_STEPS, predicted, actual), 1)
                if guess != result]
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(APART_STEPS))
                    + '\n'.join(mistakes))
    return 'your prediction matches the run, step by step.'


apart = Exercise('10.1', 'One import apart', test=_apart_test, trial=_apart_trial, timeout=30)


# -- 10.2: results in a list ----------------------------------------------------------------

def _squares_trial(broken):
    for label, mp in [('threads (mpref.dummy)', mpref.dummy), ('processes (mpref)', mpref)]:
        print('%-22s broken_squares(mp, [1, 2, 3, 4, 5, 6]) -> %r' % (label, broken(mp, [1, 2, 3, 4, 5, 6])))


def _squares_test(squares):
    cases = [(list(range(10)), 2), (list(range(30_000)), 3)]
    for label, mp in _everywhere():
        for numbers, workers in cases:
            what = 'With %d numbers and %d workers, under %s' % (len(numbers), workers, label)
            got = within(60, '%s, squares() was still running after 60 seconds. If it joins the workers '
                             'before taking their results, a worker that has put more than a pipe holds '
                             'cannot end (chapter 11, joining processes that use queues): get every result '
                             'first, then join.' % what, squares, mp, numbers, workers)
            expected = [n * n for n in numbers]
            if got != expected:
                shown = repr(got) if not isinstance(got, list) or len(got) <= 12 else \
                    '[%s, ...] (%d items)' % (', '.join(map(repr, got[:6])), len(got))
                hint = (' The workers changed their own copies of the list: results must travel back '
                        'through something the processes share, such as a queue made with mp.Queue().'
                        if isinstance(got, list) and None in got else '')
                raise Wrong('%s, squares() returned %s instead of the squares in order.%s' % (what, shown, hint))
            left = _children_of(label, mp)
            if left:
                raise Wrong('%s, squares() returned while %d worker(s) were still running: join them.'
                            % (what, len(left)))
    return ('squares() gave the squares of 10 and of 30 000 numbers, in order, on threads (mpref.dummy), '
            "under mpref with fork and with spawn, and under the stdlib's multiprocessing with fork.")


squares = Exercise('10.2', 'Results in a list', test=_squares_test, trial=_squares_trial, timeout=180,
                   on_timeout='Does every worker end, and are its results taken before it is joined?')


# -- 10.3: a pool on two queues --------------------------------------------------------------

def cube(x):
    """A task of the check's maps."""
    return x * x * x


def late_first(x):
    """A task of the check's maps: the first item (0) takes a moment longer than the others."""
    if x == 0:
        import time
        time.sleep(0.3)
    return x * x * x


def shout(word):
    """A task of the check's maps: a string in, a longer string out."""
    return word.upper() + '!'


def _parallel_map_test(parallel_map):
    cases = [(cube, list(range(200)), 2), (late_first, list(range(10)), 2),
             (shout, ['a', 'bb', 'ccc'] * 30, 3), (cube, [], 2), (cube, list(range(5)), 1)]
    for label, mp in _everywhere():
        for function, items, workers in cases:
            what = 'Mapping %s over %d items with %d workers, under %s' % (function.__name__, len(items),
                                                                        workers, label)
            try:
                got = within(60, '%s, parallel_map() was still running after 60 seconds: does every worker '
                                 'get its "stop" and end, and does the parent take every result before '
                                 'it joins them?' % what, parallel_map, mp, function, items, workers)
            except Wrong:
                raise
            except Exception as exc:
                raise Wrong('%s, parallel_map() raised %s.' % (what, exception_name(exc))) from None
            expected = [function(item) for item in items]
            if got != expected:
                if isinstance(got, list) and sorted(map(repr, got)) == sorted(map(repr, expected)):
                    raise Wrong('%s, parallel_map() returned the right results in the wrong order: results '
                                'come back in the order the workers finish, so send each with its index '
                                'and put it in its place.' % what)
                raise Wrong('%s, parallel_map() returned %s instead of %s.'
                            % (what, _shown(got, expected), _shown(expected, got)))
            left = _children_of(label, mp)
            if left:
                raise Wrong('%s, parallel_map() returned while %d worker(s) were still running: tell each '
                            'to stop (one "stop" item per worker on the task queue) and join them.'
                            % (what, len(left)))
    return ('parallel_map() mapped 200, 10, 90, 0 and 5 items with 1 to 3 workers, results in order and no '
            "worker left, on threads (mpref.dummy), under mpref with fork and with spawn, and under the "
            "stdlib's multiprocessing with fork.")


parallel_map = Exercise('10.3', 'A pool on two queues', test=_parallel_map_test, timeout=180,
                        on_timeout='Does every worker get its "stop" and end?')


def _shown(these, others):
    """``these`` for a message: a short list whole; a long one as its length and the
    first place where it differs from ``others``."""
    if not isinstance(these, list) or len(these) <= 8:
        return repr(these)
    differ = next((i for i, (a, b) in enumerate(zip(these, others)) if a != b), min(len(these), len(others)))
    return 'a list of %d results, [%d] = %s' % (len(these), differ,
                                                 repr(these[differ]) if differ < len(these) else 'nothing')
