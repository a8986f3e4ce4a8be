"""Exercises that exist to test this package itself (``tests/test_exercises.py``), not to teach.

Each answer is a function ``answer(...)``; the tests write its source and check
what the check says about it: a right answer, a wrong one, one that hangs, one
that leaves processes, semaphores and files behind, one that must work in a
spawned child.
"""

import mpref

from . import Exercise, Wrong


def _returns_42(answer):
    got = answer()
    if got != 42:
        raise Wrong('answer() returned %r, not 42.' % (got,))
    return 'answer() returned 42.'


def _calls_it(answer):
    answer()
    return 'answer() returned.'


def _in_a_spawned_child(answer):
    ctx = mpref.get_context('spawn')
    reader, writer = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_report, args=(answer, writer))
    child.start()
    writer.close()
    if not reader.poll(30):
        raise Wrong('the spawned child said nothing within 30 seconds.')
    got = reader.recv()
    child.join(30)
    if got != 42:
        raise Wrong('in a spawned child, answer() returned %r, not 42.' % (got,))
    return 'in a spawned child, answer() returned 42.'


def _report(answer, writer):
    writer.send(answer())
    writer.close()


forty_two = Exercise('0.1', 'Return 42', test=_returns_42, timeout=30)
runs = Exercise('0.2', 'Run, within 3 seconds', test=_calls_it, timeout=3,
                on_timeout='(A hint for a student whose answer hangs.)')
spawned = Exercise('0.3', 'Return 42 in a spawned child', test=_in_a_spawned_child, timeout=60)
patient = Exercise('0.4', 'Run, within 60 seconds', test=_calls_it, timeout=60)
