"""The exercises of chapter 11, programming guidelines (``notebooks/11_programming_guidelines.ipynb``).

* 11.1 ``refusals`` -- what may travel? (predict, then run; warm-up)
* 11.2 ``collect`` -- join, then get (break it, fix it; medium)
* 11.3 ``count`` -- a counter through a global (break it, fix it; medium)
* 11.4 ``script`` -- the unguarded main module (break it, fix it; medium)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.
"""

from . import Exercise, Wrong
from .tools import contexts, exception_name, within


# -- 11.1: what may travel? ------------------------------------------------------------------

#: The six tries of ``refusals_program`` and why each is refused or not.
REFUSAL_STEPS = [
    ('put an mpref.Lock on a queue', 'refused: a lock is an operating-system object, shared by '
     'inheritance only -- "better to inherit than pickle/unpickle"; mpref refuses in the sender'),
    ('put a top-level function on a queue', 'ok: pickle sends a top-level function as its module and '
     'name, and the receiver finds it by importing'),
    ('put a lambda on a queue', 'refused: a lambda has no name pickle can find again; it cannot be '
     'pickled'),
    ('give an mpref.Lock to a spawned child as an argument', 'ok: while a child is being spawned, a lock '
     'may be pickled -- that is inheritance, the way the spec asks for'),
    ('start a spawned child whose target is a lambda', 'refused: under spawn the Process object, target '
     'included, is pickled, and a lambda cannot be'),
    ('start a forked child whose target is a lambda', 'ok: under fork nothing is pickled; the child is a '
     'copy of the parent, lambda included'),
]


def _refusals_trial(program):
    for number, ((what, _), result) in enumerate(zip(REFUSAL_STEPS, program()), 1):
        print('step %d  %-53s -> %s' % (number, what, result))


def _refusals_test(predict, program):
    predicted = predict()
    if (not isinstance(predicted, (list, tuple)) or len(predicted) != len(REFUSAL_STEPS)
            or not all(p in ('ok', 'refused') for p in predicted)):
        raise Wrong("predict_refusals() should return a list of %d words, 'ok' or 'refused', one per try; "
                    'it returned %r.' % (len(REFUSAL_STEPS), predicted))
    actual = program()
    mistakes = ['step %d (%s): you predicted %r, the run gave %r -- %s.' % (number, what, guess, result, why)
                for number, ((what, why), guess, result) in enumerate(zip(REFUSAL_STEPS, predicted, actual), 1)
                if guess != result]
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(REFUSAL_STEPS))
                    + '\n'.join(mistakes))
    return 'your prediction matches the run, try by try.'


refusals = Exercise('11.1', 'What may travel?', test=_refusals_test, trial=_refusals_trial, timeout=60)


# -- 11.2: join, then get ---------------------------------------------------------------------

#: The sizes of the strings the children of 11.2 put on the queue, in characters.
COLLECT_SIZES = (10, 1_000_000, 300_000, 20)


def _collect_trial(broken):
    import mpref
    print('broken_collect(ctx, %s), under mpref with fork:' % (list(COLLECT_SIZES),))
    try:
        got = within(5, 'still running after 5 seconds', broken, mpref.get_context('fork'), COLLECT_SIZES)
    except Exception as exc:
        print('  %s: the trial stopped it.' % exc)
    else:
        print('  returned %r' % (got,))
    print('broken_collect(ctx, [10, 20]), under mpref with fork:')
    got = within(30, 'still running', broken, mpref.get_context('fork'), [10, 20])
    print('  returned the lengths %r (sorted here: the children put in any order)' % (sorted(got),))


def _collect_test(collect):
    for label, ctx in contexts():
        for sizes in ([10, 20], list(COLLECT_SIZES)):
            what = 'With children putting strings of %s characters, under %s' % (sizes, label)
            got = within(30, '%s, collect() was still running after 30 seconds. A child that has put more '
                             'than its pipe holds cannot end until someone takes the object out, so a '
                             'parent that joins it first waits for ever: get every object, then join.'
                             % what, collect, ctx, sizes)
            if not isinstance(got, list) or sorted(got) != sorted(sizes):
                raise Wrong('%s, collect() returned %r; it should return the lengths of the strings the '
                            'children put, one per child (in any order).' % (what, got))
            if ctx.active_children():
                raise Wrong('%s, collect() returned while %d child(ren) were still running: join them, '
                            'after taking what they put.' % (what, len(ctx.active_children())))
    return ('collect() took strings of up to a million characters from 4 children, under mpref with fork '
            "and with spawn, and under the stdlib's multiprocessing with fork, and joined every child.")


collect = Exercise('11.2', 'Join, then get', test=_collect_test, trial=_collect_trial, timeout=150,
                   on_timeout='Does it join a child before taking what the child put?')


# -- 11.3: a counter through a global ------------------------------------------------------------

def _count_trial(broken):
    import mpref
    result = within(60, 'still running after 60 seconds', broken, mpref.get_context('fork'), 4, 5000)
    print('under mpref with fork, 4 children x 5000 increments: every one counted: %s' % (result == 20_000))


def _count_test(count):
    for label, ctx in contexts():
        for children, times in ((2, 10), (4, 2000)):
            what = 'With %d children adding 1, %d times each, under %s' % (children, times, label)
            try:
                got = within(60, '%s, count() was still running after 60 seconds.' % what, count, ctx,
                             children, times)
            except Wrong:
                raise
            except Exception as exc:
                raise Wrong('%s, count() raised %s. Does a child look for the counter in a global? A spawned '
                            'child imports the module afresh, and the parent\'s global is not there: pass '
                            'the counter as a Process argument.' % (what, exception_name(exc))) from None
            if got != children * times:
                raise Wrong('%s, count() returned %r, not %d. `value += 1` reads and then writes: two children '
                            'that read the same value lose an increment. Hold the counter\'s lock '
                            '(get_lock()) around each increment -- or did a child count in a copy of its '
                            'own? Pass the shared counter itself as an argument.' % (what, got, children * times))
            if ctx.active_children():
                raise Wrong('%s, count() returned while children were still running: join them.' % what)
    return ('count() counted every increment of 2 and of 4 children, under mpref with fork and with spawn, '
            "and under the stdlib's multiprocessing with fork.")


count = Exercise('11.3', 'A counter through a global', test=_count_test, trial=_count_trial, timeout=200,
                 on_timeout='Is every lock released, and every child joined?')


# -- 11.4: the unguarded main module ----------------------------------------------------------------

def _run_text(script):
    """Run the text of a script as a program's main module; return (exit status, stdout, a child refused)."""
    import subprocess
    from mpref.targets.introduction import run_script
    try:
        done = run_script(script, timeout=60)
    except subprocess.TimeoutExpired:
        return None, '', False
    return done.returncode, done.stdout.strip(), 'RuntimeError' in done.stderr


def _script_trial(unguarded):
    status, stdout, refused = _run_text(unguarded())
    print('exit status %s, printed %r, a spawned child stopped with RuntimeError: %s' % (status, stdout, refused))


def _script_test(guarded):
    text = guarded()
    if not isinstance(text, str):
        raise Wrong('guarded_script() should return the text of the script, a str; it returned %r.' % (text,))
    if 'spawn' not in text or 'Pool' not in text:
        raise Wrong('The script should still start a Pool under the spawn start method (the point is to make '
                    'it safe under spawn, not to avoid spawn).')
    status, stdout, refused = _run_text(text)
    if status is None:
        raise Wrong('The script was still running after 60 seconds.')
    if refused:
        raise Wrong('A spawned child stopped with a RuntimeError (exit status %s, printed %r): the child '
                    'imports the main module and ran its start-up again. Put everything that starts '
                    "processes under `if __name__ == '__main__':`, and leave only imports and definitions "
                    'outside it.' % (status, stdout))
    if status != 0 or stdout != '[1, 4, 9]':
        raise Wrong('The script ended with exit status %s and printed %r; it should print [1, 4, 9] and '
                    'exit with 0.' % (status, stdout))
    return ('the script ran its Pool under spawn, printed [1, 4, 9] and exited with 0; no child re-ran its '
            'start-up.')


script = Exercise('11.4', 'The unguarded main module', test=_script_test, trial=_script_trial, timeout=150)
