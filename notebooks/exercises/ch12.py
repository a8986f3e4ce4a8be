"""The exercises of chapter 12, examples (``notebooks/12_examples.ipynb``).

* 12.1 ``statuses`` -- how does each program end? (predict, then run; warm-up)
* 12.2 ``workers`` -- workers whose results never come back (break it, fix it; medium)
* 12.3 ``namespace`` -- one program, three namespaces (extend mpref; medium)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.
"""

import collections
import multiprocessing      # the yardstick: answers must work with it too

import mpref
import mpref.dummy

from . import Exercise, Wrong
from .tools import contexts, within


# -- 12.1: how does each program end? ------------------------------------------------------

#: The five endings of ``status_program`` and why each is what it is.
STATUSES = [
    ('python -m mpref.examples.pool fibres: its exit status',
     'an unknown mode prints the usage on standard error and exits with status 2, the convention of '
     'command-line tools'),
    ("a child raised ValueError; the parent joined it: the parent's exit status",
     "an exception in a child ends the child, not the parent: the traceback goes to the child's standard "
     'error, and the parent goes on and exits normally, with status 0'),
    ("the same child: its exitcode, as the parent sees it",
     'a child that ends with an uncaught exception exits with status 1, which the parent reads as exitcode 1'),
    ('a child called sys.exit(3): its exitcode',
     'sys.exit(n) in a child ends it with status n, which the parent reads as its exitcode'),
    ('a child the parent terminate()d: its exitcode',
     'terminate() sends SIGTERM; a process killed by signal N has exitcode -N, and SIGTERM is 15'),
]


def _statuses_trial(program):
    for number, ((what, _), status) in enumerate(zip(STATUSES, program()), 1):
        print('%d  %-73s -> %r' % (number, what, status))


def _statuses_test(predict, program):
    predicted = predict()
    if not isinstance(predicted, (list, tuple)) or len(predicted) != len(STATUSES):
        raise Wrong('predict_statuses() should return a list of %d numbers, one per ending; it returned %r.'
                    % (len(STATUSES), predicted))
    actual = program()
    mistakes = []
    for number, ((what, why), guess, status) in enumerate(zip(STATUSES, predicted, actual), 1):
        if guess != status:
            mistakes.append('%d (%s): you predicted %r, the run gave %r -- %s.' % (number, what, guess, status, why))
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(STATUSES))
                    + '\n'.join(mistakes))
    return 'your prediction matches the run, ending by ending.'


statuses = Exercise('12.1', 'How does each program end?', test=_statuses_test, trial=_statuses_trial,
                    timeout=90)


# -- 12.2: workers whose results never come back ---------------------------------------------

#: The tasks the check gives: (size,) -> a result of ``size`` bytes.
SMALL = [10] * 8
LARGE = [200_000] * 8


def _workers_trial(broken_run_workers):
    for label, sizes in (('8 tasks, results of 10 bytes', SMALL), ('8 tasks, results of 200 kB', LARGE)):
        try:
            results = within(5, '', broken_run_workers, sizes)
        except Wrong:
            print('%s: still running after 5 seconds, so the trial stopped it' % label)
        else:
            print('%s: %d results back' % (label, len(results)))


def _workers_test(run_workers):
    for label, ctx in contexts():
        for sizes, what in ((SMALL, 'results of 10 bytes'), (LARGE, 'results of 200 kB'),
                            ([], 'no tasks at all')):
            results = within(20, 'With %s and %d tasks giving %s, run_workers() was still running after 20 '
                                 'seconds. A worker cannot exit while what it put on the result queue is '
                                 'still in its feeder thread, waiting to go into the pipe: get every result '
                                 'before you join the workers.' % (label, len(sizes), what),
                             run_workers, sizes, ctx)
            expected = sorted(b'x' * size for size in sizes)
            if results is None or sorted(results) != expected:
                raise Wrong('With %s and %d tasks giving %s, run_workers() returned %d results; it should return '
                            'one result per task.' % (label, len(sizes), what, len(results or [])))
            left = ctx.active_children()
            if left:
                raise Wrong('With %s, run_workers() left %d worker(s) running: send each a STOP and join it.'
                            % (label, len(left)))
    return ('run_workers() brought back every result, small and large, and joined its workers -- under mpref '
            'with fork and spawn, and the stdlib.')


workers = Exercise('12.2', 'Workers whose results never come back', test=_workers_test, trial=_workers_trial,
                   timeout=150, on_timeout='Do the workers stop when they get STOP?')


# -- 12.3: one program, three namespaces ----------------------------------------------------

TEXTS = ['the spec ends with programs', 'the pool program', 'programs run as scripts', '', 'the end']


def _namespace_test(count_words):
    expected = collections.Counter(word for text in TEXTS for word in text.split())
    for label, namespace in (('mpref', mpref), ('mpref.dummy', mpref.dummy),
                             ("the stdlib's multiprocessing", multiprocessing)):
        got = within(30, 'count_words(%s, texts) was still running after 30 seconds.' % label,
                     count_words, namespace, TEXTS)
        if not isinstance(got, dict) or collections.Counter(got) != expected:
            raise Wrong('count_words(%s, texts) returned %r; the counts are %r.' % (label, got, dict(expected)))
        if label != 'mpref.dummy' and namespace.active_children():
            raise Wrong('count_words(%s, texts) left worker processes running: close and join the pool '
                        '(`with namespace.Pool(2) as pool:` terminates it on the way out).' % label)
    empty = within(30, 'count_words(mpref, []) was still running after 30 seconds.', count_words, mpref, [])
    if empty != {}:
        raise Wrong('count_words(mpref, []) returned %r; with no texts there are no words: {}.' % (empty,))
    return ('count_words() gave the same counts with mpref, mpref.dummy and the stdlib: one program, three '
            'namespaces.')


namespace = Exercise('12.3', 'One program, three namespaces', test=_namespace_test, timeout=120,
                     on_timeout='Does the pool end (close and join, or a with block)?')
