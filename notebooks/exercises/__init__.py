"""The chapters' exercises: checks a student runs in the notebook.

Each chapter ``notebooks/NN_name.ipynb`` ends with a few exercises, and
``exercises/chNN.py`` (this package) holds their checks.  A chapter imports its
module -- the kernel's working directory is ``notebooks/``, so no ``sys.path``
line is needed -- and calls one ``Exercise`` per exercise::

    from exercises import ch02

    ch02.swap.run(broken_swap)     # run a supplied program, bounded; print what it did
    ch02.swap.check(swap)          # print whether the student's `swap` is right, and if not, why

An answer is a function or a class defined at the top level of a cell (or in the
student's own module).  ``check`` never calls it in the kernel: it sends the
defining cell to a sandbox, a new interpreter with a time limit
(``sandbox.py``), where the test runs it against mpref -- and, where it
applies, the stdlib -- under ``fork`` and ``spawn``.  ``check`` prints one of

* ``Exercise 2.2 -- solved: ...``,
* ``Exercise 2.2 -- not solved yet: ...`` (the answer is still the student
  edition's ``raise NotImplementedError()``),
* ``Exercise 2.2 -- not right yet: ...`` with what is wrong in plain words (and,
  below it, the last lines the answer printed),

and never raises: a wrong answer, a crash or a deadlock all end in a message.
The one exception is grading: when nbgrader runs a notebook
(``NBGRADER_EXECUTION`` is set), a check that is not solved raises
``AssertionError`` with the same message, which is how nbgrader's autograder
tells a failed test cell.

Writing a chapter's checks: ``docs/course.md``.  A test is a plain function,
``test(*answers)``, that runs in the sandbox: it raises ``Wrong('what is wrong,
and a hint')`` or returns a sentence saying what was shown to work.  Anything
that could hang runs in a child process or a daemon thread that the test
waits for with a timeout, so that the student gets a precise message; the
sandbox's own time limit is the last resort.
"""

import dataclasses
import os

from .sandbox import Answer, NotAnAnswer, answer_of, run_in_sandbox

__all__ = ['Exercise', 'Result', 'Wrong', 'Answer']


class Wrong(Exception):
    """Raised by a test: the answer is not right yet.  The message says what is wrong, in plain words."""


@dataclasses.dataclass
class Result:
    """What a check found.  ``str(result)`` is what the check cell prints."""

    exercise: str
    status: str          # 'solved', 'unsolved' or 'wrong'
    message: str
    output: str = ''     # the answer's own output, shown when it is not right

    #: How many of the answer's last output lines are shown.
    TAIL = 15

    @property
    def solved(self):
        return self.status == 'solved'

    def __str__(self):
        words = {'solved': 'solved', 'unsolved': 'not solved yet', 'wrong': 'not right yet'}[self.status]
        text = 'Exercise %s -- %s: %s' % (self.exercise, words, self.message)
        lines = self.output.rstrip().splitlines()
        if self.status == 'wrong' and lines:
            shown = lines[-self.TAIL:]
            text += '\n\nWhat your code printed%s:\n%s' % (
                ' (the last %d lines)' % len(shown) if len(lines) > len(shown) else '',
                '\n'.join('    ' + line for line in shown))
        return text


class Exercise:
    """One exercise of a chapter: its number, its test, and how long the test may take.

    ``test(*answers)`` and ``trial(*answers)`` are functions of the chapter's
    module (so the sandbox can import them).  ``test`` judges the answers
    (raises ``Wrong``, or returns a sentence); ``trial``, if given, runs a
    supplied program and prints what happened, for ``run``.  ``on_timeout``
    is a hint added when the sandbox had to be stopped.
    """

    def __init__(self, number, title, test, trial=None, timeout=60, on_timeout=''):
        self.number = number
        self.title = title
        self.test = test
        self.trial = trial
        self.timeout = timeout
        self.on_timeout = on_timeout

    def __repr__(self):
        return '<Exercise %s: %s>' % (self.number, self.title)

    def check(self, *answers):
        """Check the answers and print the verdict (the check cell of the exercise)."""
        result = self.result(*answers)
        print(result)
        if os.environ.get('NBGRADER_EXECUTION') and not result.solved:
            raise AssertionError(str(result))

    def run(self, *answers):
        """Run the supplied program (``trial``) in a sandbox and print what it did."""
        try:
            prepared = [answer_of(answer) for answer in answers]
        except NotAnAnswer as exc:
            print('Cannot run it: %s.' % exc)
            return
        outcome = run_in_sandbox(self.test.__module__, self.trial.__name__, prepared, self.timeout)
        print(outcome.output.rstrip())
        if outcome.status == 'timeout':
            print('(The program was %s.)' % outcome.message)
        elif outcome.status != 'solved':
            print('(The program failed: %s)' % outcome.message)

    def result(self, *answers):
        """The ``Result`` of checking ``answers`` (functions or classes, or ``Answer``s)."""
        try:
            prepared = [answer_of(answer) for answer in answers]
        except NotAnAnswer as exc:
            return Result(self.number, 'wrong', '%s.' % exc)
        unsolved = [answer.name for answer in prepared if answer.unsolved]
        if unsolved:
            return Result(self.number, 'unsolved', 'replace `raise NotImplementedError()` in `%s` with '
                          'your answer, run that cell, then this one.' % unsolved[0])
        outcome = run_in_sandbox(self.test.__module__, self.test.__name__, prepared, self.timeout)
        if outcome.status == 'solved':
            return Result(self.number, 'solved', outcome.message)
        if outcome.status == 'unsolved':
            return Result(self.number, 'unsolved', 'your answer raised NotImplementedError: finish it, '
                          'run its cell again, then this one.')
        message = outcome.message
        if outcome.status == 'timeout':
            message = 'your answer was %s. %s' % (message, self.on_timeout)
        elif outcome.status == 'broken':
            message = ('the check ended without a verdict (%s). If your code ends the process itself '
                       '(`os._exit()`, `os.kill(os.getpid(), ...)`, a signal), let it return instead; '
                       'if it does not, the check itself failed: please report it.' % message)
        left_out = [line for answer in prepared for line in answer.left_out]
        if left_out:
            message += ('\n(The check ran only the imports and definitions of your cell; it left out: %s.)'
                        % '; '.join('`%s`' % line for line in left_out[:3]))
        return Result(self.number, 'wrong', message.strip(), outcome.output)
