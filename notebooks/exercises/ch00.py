"""The exercises of chapter 0, the introduction (``notebooks/00_introduction.ipynb``).

* 0.1 ``seen`` -- what does the parent see? (predict, then run; warm-up)
* 0.2 ``guard`` -- the missing guard (break it, fix it; warm-up)
* 0.3 ``results`` -- results back, in order (extend mpref; medium)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.  The functions the check's children run (``slow_square``,
``whose_pid``) are at the top level of this module, so a spawned child can
import them.
"""

import os
import subprocess
import time

import mpref
from mpref.targets.introduction import run_script

from . import Exercise, Wrong
from .tools import contexts, within


# -- 0.1: what does the parent see? ----------------------------------------------------

#: The three things ``seen_program`` returns, and why each is what it is.
SEEN_STEPS = [
    ("the parent's `log` after the thread and the child have run",
     "a thread runs in this process and appends to this very list, so 'thread' is there; the child "
     "appended 'process' to its own copy of the list, in its own memory, and the parent never sees it"),
    ('the `log` the child put on the queue',
     "a forked child starts with a copy of the parent's memory as it was at start(): 'parent' and "
     "'thread' (the thread had finished before the child started), then its own 'process'"),
    ("the child's exit code", 'the child returned normally from its target, so its exit code is 0'),
]


def _seen_trial(program):
    for number, ((what, _), result) in enumerate(zip(SEEN_STEPS, program()), 1):
        print('%d. %s: %r' % (number, what.replace('`', ''), result))


def _seen_test(predict, program):
    predicted = predict()
    if not isinstance(predicted, (list, tuple)) or len(predicted) != len(SEEN_STEPS):
        raise Wrong('predict_seen() should return a list of %d things, one per line of the run; '
                    'it returned %r.' % (len(SEEN_STEPS), predicted))
    actual = program()
    mistakes = []
    for number, ((what, why), guess, result) in enumerate(zip(SEEN_STEPS, predicted, actual), 1):
        if _same(guess, result):
            continue
        mistakes.append('%d. %s: you predicted %r, the run gave %r -- %s.'
                        % (number, what, guess, result, why))
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(SEEN_STEPS))
                    + '\n'.join(mistakes))
    return 'your prediction matches the run, line by line.'


def _same(guess, result):
    """A list and a tuple with the same items count as the same prediction."""
    if isinstance(guess, (list, tuple)) and isinstance(result, (list, tuple)):
        return list(guess) == list(result)
    return guess == result


seen = Exercise('0.1', 'What does the parent see?', test=_seen_test, trial=_seen_trial, timeout=60)


# -- 0.2: the missing guard ---------------------------------------------------------------

#: What the fixed program prints, under spawn.
GUARD_OUTPUT = 'starting\nhello bob\nexit code 0\n'


def _run_program(source):
    try:
        return run_script(source, timeout=30)
    except subprocess.TimeoutExpired:
        raise Wrong('the program was still running after 30 seconds, so the check stopped it. Does it '
                    'join its child, and does the child end?')


def _first_error(stderr):
    """The line of ``stderr`` that names an exception (its first sentence), or ''."""
    for line in stderr.splitlines():
        names_an_error = 'Error' in line or 'Exception' in line
        if line and not line.startswith((' ', 'Traceback', 'Process ')) and names_an_error:
            return line.split('. ')[0].rstrip('.') + '.'
    return ''


def _guard_trial(program):
    done = _run_program(program())
    for line in done.stdout.splitlines():
        print('the program printed:', line)
    error = _first_error(done.stderr)
    if error:
        print('and a child wrote to stderr:', error)
    print('exit status of the program:', done.returncode)


def _guard_test(program):
    source = program()
    if not isinstance(source, str):
        raise Wrong('fixed_script() should return the text of the program, a str; it returned %r.'
                    % (source,))
    if 'spawn' not in source:
        raise Wrong("the program no longer asks for 'spawn'. The exercise is to make it right under spawn, "
                    "where a child imports the main module -- not to go back to fork, where the bug hides.")
    done = _run_program(source)
    said = done.stdout.splitlines()
    if 'RuntimeError' in done.stderr and 'importing' in done.stderr:
        raise Wrong('under spawn, the child started a process of its own while it was importing your program '
                    '(%s) A spawned child imports the main module to find `greet`; everything at the top '
                    'level runs again there. Put the start-up code under `if __name__ == \'__main__\':`.'
                    % _first_error(done.stderr))
    if said.count('starting') > 1:
        raise Wrong("'starting' was printed %d times: the child printed it too, because a spawned child "
                    'imports your program and runs every statement at its top level. Only definitions (and '
                    "imports) belong there; move the print under the `if __name__ == '__main__':` guard."
                    % said.count('starting'))
    if done.stdout != GUARD_OUTPUT or done.returncode != 0:
        raise Wrong('under spawn the program printed %r and ended with status %d; it should print %r '
                    '(the same three lines as the broken program meant to) and end with status 0.%s'
                    % (done.stdout, done.returncode, GUARD_OUTPUT,
                       ' Its stderr: %s' % _first_error(done.stderr) if _first_error(done.stderr) else ''))
    return ("under spawn the program printed 'starting', the child's 'hello bob' and 'exit code 0', "
            'once each, and ended with status 0.')


guard = Exercise('0.2', 'The missing guard', test=_guard_test, trial=_guard_trial, timeout=90)


# -- 0.3: results back, in order ------------------------------------------------------------

def slow_square(x):
    """x * x, after a pause that is shorter for larger x: the last item finishes first."""
    time.sleep(0.05 * (6 - x) if x < 6 else 0)
    return x * x


def whose_pid(x):
    """The pid of the process that computes this item."""
    return os.getpid()


def _results_test(map_in_processes):
    import multiprocessing      # the yardstick: an answer must work there too
    for label, api in contexts():
        active = multiprocessing.active_children if 'stdlib' in label else mpref.active_children
        what = 'Under %s, with slow_square over range(6)' % label
        got = within(30, '%s, map_in_processes() had not returned after 30 seconds. Does the parent take '
                     'one result from the queue per item, and does every child put exactly one?' % what,
                     map_in_processes, slow_square, list(range(6)), api)
        expected = [x * x for x in range(6)]
        if not isinstance(got, list):
            raise Wrong('%s, map_in_processes() returned %r; it should return a list.' % (what, got))
        if got == []:
            raise Wrong('%s, map_in_processes() returned an empty list. A child that appends to a list '
                        'appends to its own copy, in its own memory: send each result back through the '
                        'queue.' % what)
        if sorted(got) == expected and got != expected:
            raise Wrong('%s, map_in_processes() returned %r: the right results in the order the children '
                        'finished, not in the order of the items. Send the index of the item with its '
                        'result, and put each result in its place.' % (what, got))
        if got != expected:
            raise Wrong('%s, map_in_processes() returned %r; expected %r.' % (what, got, expected))
        if active():
            raise Wrong('%s, map_in_processes() returned while %d children were still running: join every '
                        'child before returning.' % (what, len(active())))
        pids = within(30, '%s, map_in_processes(whose_pid, ...) had not returned after 30 seconds.'
                      % label, map_in_processes, whose_pid, list(range(4)), api)
        if os.getpid() in pids:
            raise Wrong('Under %s, some items were computed in the parent itself, not in a child.' % label)
        if len(set(pids)) != 4:
            raise Wrong('Under %s, 4 items were computed by %d different processes; the exercise asks '
                        'for one process per item.' % (label, len(set(pids))))
    return ('map_in_processes() returned the squares of range(6) in order although the children finished in '
            'reverse, one child per item, all joined, under mpref with fork and with spawn and under the '
            "stdlib's multiprocessing with fork.")


results = Exercise('0.3', 'Results back, in order', test=_results_test, timeout=150,
                   on_timeout='Each child must put one result on the queue, and the parent must get one '
                              'per item.')
