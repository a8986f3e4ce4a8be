"""The exercises of chapter 6, managers and proxies (``notebooks/06_managers_and_proxies.ipynb``).

* 6.1 ``nested`` -- a list inside a managed dict (predict, then run; warm-up)
* 6.2 ``count`` -- lost updates through a shared proxy (break it, fix it; medium)
* 6.3 ``tally`` -- a proxy type of your own (extend mpref; project)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.  Functions that children run (``_count_in_child``,
``_add_in_child``) are at the top level of this module, so a spawned child can
import them.
"""

import mpref
from mpref.managers import BaseManager, BaseProxy

from . import Exercise, Wrong
from .tools import exception_name, within


# -- 6.1: a list inside a managed dict -------------------------------------------------------

#: The six steps of ``nested_program`` and why each gives what it gives.
NESTED_STEPS = [
    ("d['items'].append(1)",
     "d['items'] is a *copy* of the list, pickled by the server and rebuilt here; append() changes "
     'that copy, which nobody keeps, and the list in the server stays empty'),
    ("items = d['items']; items.append(2)",
     'items is again a local copy: changing it changes nothing in the server until it is sent back'),
    ("d['items'] = items",
     'assigning sends the changed copy to the server: this is the way the spec gives for changing a '
     'mutable value of a managed dict or list'),
    ("d['items'] += [3]",
     "an augmented assignment is a read (d['items'], a copy), an in-place change of the copy, then an "
     "assignment back (d['items'] = ...): the assignment reaches the server"),
    ('ns.numbers.append(2)',
     "a Namespace attribute is read as a copy too, so append() changes a copy: the server's list stays [1]"),
    ("d['inner'] = inner; inner.append(2)",
     'inner is a proxy of a list in the same server: sent to its own server it becomes the list itself, '
     "so the dict holds that list, and a change through the proxy shows when d['inner'] is read"),
]


def _nested_trial(program):
    for number, ((step, _), result) in enumerate(zip(NESTED_STEPS, program()), 1):
        print('step %d  %-38s -> %r' % (number, step, result))


def _nested_test(predict, program):
    predicted = predict()
    if not isinstance(predicted, (list, tuple)) or len(predicted) != len(NESTED_STEPS):
        raise Wrong('predict_nested() should return a list of %d values, one per step; it returned %r.'
                    % (len(NESTED_STEPS), predicted))
    actual = program()
    mistakes = []
    for number, ((step, why), guess, result) in enumerate(zip(NESTED_STEPS, predicted, actual), 1):
        if guess != result:
            mistakes.append('step %d (`%s`): you predicted %r, the run gave %r -- %s.'
                            % (number, step, guess, result, why))
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(NESTED_STEPS))
                    + '\n'.join(mistakes))
    return 'your prediction matches the run, step by step.'


nested = Exercise('6.1', 'A list inside a managed dict', test=_nested_test, trial=_nested_trial, timeout=60)


# -- 6.2: lost updates through a shared proxy ---------------------------------------------------

def _count_trial(broken_count):
    with mpref.Manager() as manager:
        counts = manager.dict()
        counts['n'] = 0
        total = broken_count(counts, 4, 200)
        print('4 threads each added 1, 200 times, to one managed dict: counts["n"] is %s.'
              % ('800, as it should be' if total == 800 else 'less than 800: some additions were lost'))


def _count_in_child(count, counts, lock, threads, times, ready, go):
    ready.put('ready')
    go.wait(60)                     # both processes count at the same time
    count(counts, lock, threads, times)


def _count_test(count):
    with mpref.Manager() as manager:
        counts = manager.dict()
        lock = manager.Lock()
        counts['n'] = 0
        total = within(60, 'count(counts, lock, 4, 100) was still running after 60 s, in one process: is a '
                           'thread waiting for the lock that another thread never releases?',
                       count, counts, lock, 4, 100)
        if total != 400:
            raise Wrong('In one process, count(counts, lock, threads=4, times=100) returned %r, not 400: '
                        'some additions were lost. `counts["n"] += 1` is a read and then a write, two '
                        'calls to the server; hold the lock around both.' % (total,))
        for label, context in (('fork', mpref.get_context('fork')), ('spawn', mpref.get_context('spawn'))):
            counts['n'] = 0
            ready, go = manager.Queue(), manager.Event()
            children = [context.Process(target=_count_in_child, args=(count, counts, lock, 2, 100, ready, go))
                        for _ in range(2)]
            for child in children:
                child.start()
            for child in children:
                ready.get(timeout=60)
            go.set()
            for child in children:
                child.join(60)
            if any(child.is_alive() for child in children):
                raise Wrong('With two processes started with %s, each running count(counts, lock, 2, 100) on '
                            'the same dict and lock, a process was still running after 60 s.' % label)
            codes = [child.exitcode for child in children]
            if codes != [0, 0]:
                raise Wrong('With two processes started with %s, each running count(counts, lock, 2, 100), '
                            'the processes ended with exit codes %s.' % (label, codes))
            if counts['n'] != 400:
                raise Wrong('With two processes started with %s, each running count(counts, lock, 2, 100) on '
                            'the same dict and lock, counts["n"] ended at %r, not 400. Use the lock you were '
                            'given: '
                            'a threading.Lock made inside count() keeps out the threads of one process, '
                            "not another process's." % (label, counts['n']))
    return ('count() added every 1 from 4 threads of one process, and from two processes (fork and spawn) '
            'sharing the dict and the lock.')


count = Exercise('6.2', 'Lost updates through a shared proxy', test=_count_test, trial=_count_trial,
                 timeout=180)


# -- 6.3: a proxy type of your own -------------------------------------------------------------

def _add_in_child(tally, times):
    for _ in range(times):
        tally.add(1)


class TallyManager(BaseManager):
    """The check's manager class: ``register_tally`` registers the student's type on it."""


def _tally_test(register_tally):
    within(10, 'register_tally(TallyManager) did not return within 10 s.', register_tally, TallyManager)
    entry = TallyManager._registry.get('Tally')
    if entry is None:
        raise Wrong("After register_tally(TallyManager), the manager class knows no typeid 'Tally': call "
                    "manager_class.register('Tally', Tally, proxytype=TallyProxy).")
    TallyProxy = entry.proxytype
    if not (isinstance(TallyProxy, type) and issubclass(TallyProxy, BaseProxy)):
        raise Wrong("'Tally' is registered without a proxy class of your own (its proxies would be made "
                    'by %s): pass proxytype=TallyProxy, a class derived from mpref.managers.BaseProxy.'
                    % getattr(TallyProxy, '__name__', repr(TallyProxy)))
    exposed = tuple(getattr(TallyProxy, '_exposed_', ()) or ())
    if sorted(exposed) != ['add', 'value']:
        raise Wrong("TallyProxy._exposed_ should name the two methods a proxy may call, ('add', 'value'); "
                    'it is %r.' % (exposed,))
    for label in ('fork', 'spawn'):
        context = mpref.get_context(label)
        manager = TallyManager(ctx=context)
        within(60, 'TallyManager().start() did not return within 60 s (%s).' % label, manager.start)
        try:
            if not hasattr(manager, 'Tally'):
                raise Wrong('After register_tally(TallyManager), the manager has no method Tally(): do not '
                            'pass create_method=False to register().')
            tally = manager.Tally(10)
            if not isinstance(tally, TallyProxy):
                raise Wrong('manager.Tally(10) returned a %s, not a %s.'
                            % (type(tally).__name__, TallyProxy.__name__))
            first = tally.add(5)
            if first != 15:
                raise Wrong('After manager.Tally(10), tally.add(5) returned %r; it should return the new '
                            'total, 15.' % (first,))
            if tally.add() != 16:
                raise Wrong('tally.add() with no argument should add 1 and return the new total (16 here).')
            children = [context.Process(target=_add_in_child, args=(tally, 50)) for _ in range(3)]
            for child in children:
                child.start()
            for child in children:
                child.join(60)
            if any(child.is_alive() or child.exitcode != 0 for child in children):
                raise Wrong('Three processes started with %s, each calling tally.add(1) 50 times through the '
                            'proxy they were given, did not all end well (exit codes %s).'
                            % (label, [child.exitcode for child in children]))
            value = tally.value()
            if value != 166:
                raise Wrong('Under %s, after tally.add(5), tally.add() and 150 more add(1) from three '
                            'processes, tally.value() is %r, not 166.' % (label, value))
            try:
                tally._callmethod('__init__', (0,))
            except Exception:
                pass
            else:
                raise Wrong('A TallyProxy could call the referent\'s __init__ through _callmethod: list only '
                            "'add' and 'value' in _exposed_ (or in register's exposed=).")
        except Wrong:
            raise
        except Exception as exc:
            raise Wrong('Under %s, using the manager and its proxy raised %s.' % (label, exception_name(exc)))
        finally:
            manager.shutdown()
    return ('TallyManager().Tally(10) made a Tally in the server and gave a TallyProxy; add() returned the '
            'new total, value() the total after 150 add(1) from three processes, under fork and spawn; '
            'only add and value were exposed.')


tally = Exercise('6.3', 'A proxy type of your own', test=_tally_test, timeout=150)
