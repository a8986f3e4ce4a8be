"""The exercises of chapter 1, processes (``notebooks/01_process.ipynb``).

* 1.1 ``endings`` -- how did each child end? (predict, then run; warm-up)
* 1.2 ``views`` -- what does the child see? (predict, then run; medium)
* 1.3 ``bounded`` -- a bounded run (extend mpref; medium)
* 1.4 ``daemon`` -- a daemon that starts a worker (break it, fix it; medium)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.  The targets the check's children run (``quick``,
``sleepy``, ``stubborn``) are at the top level of this module, so a spawned
child can import them.
"""

import contextlib
import os
import signal
import tempfile
import time

import mpref

from . import Exercise, Wrong
from .tools import contexts, exception_name, within


@contextlib.contextmanager
def stderr_to_file():
    """Send file descriptor 2 -- ours and every child's started meanwhile -- to a file; yield a
    function that returns what was written so far.  (Children's tracebacks would otherwise mix
    with what a trial prints.)"""
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode='w+') as capture:
        os.dup2(capture.fileno(), 2)
        try:
            def written():
                capture.flush()
                capture.seek(0)
                return capture.read()
            yield written
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _compare(predicted, actual, steps, name):
    """Compare a prediction with a run, step by step; raise ``Wrong`` naming each difference."""
    if not isinstance(predicted, (list, tuple)) or len(predicted) != len(steps):
        raise Wrong('%s() should return a list of %d results, one per step; it returned %r.'
                    % (name, len(steps), predicted))
    mistakes = []
    for number, ((what, why), guess, result) in enumerate(zip(steps, predicted, actual), 1):
        if guess != result:
            mistakes.append('step %d (%s): you predicted %r, the run gave %r -- %s.'
                            % (number, what, guess, result, why))
    if mistakes:
        raise Wrong('%d of your %d predictions differ from the run:\n' % (len(mistakes), len(steps))
                    + '\n'.join(mistakes))


# -- 1.1: how did each child end? ------------------------------------------------------

ENDING_STEPS = [
    ('the target returns', 'a target that returns ends the child normally: exit code 0'),
    ('sys.exit(3)', 'sys.exit with an integer makes that integer the exit code'),
    ("sys.exit('something went wrong')",
     'sys.exit with anything but an integer (or None) prints it to stderr and gives exit code 1'),
    ('the target raises KeyError',
     'an uncaught exception prints its traceback to stderr and gives exit code 1'),
    ('terminate()', 'terminate() sends SIGTERM (15); a child killed by signal N has exit code -N'),
    ('kill()', 'kill() sends SIGKILL (9): exit code -9'),
]


def _endings_trial(program):
    with stderr_to_file():
        codes = program()
    for number, ((what, _), code) in enumerate(zip(ENDING_STEPS, codes), 1):
        print('step %d  %-34s -> exitcode %r' % (number, what, code))


def _endings_test(predict, program):
    predicted = predict()
    with stderr_to_file():
        actual = program()
    _compare(predicted, actual, ENDING_STEPS, 'predict_exit_codes')
    return 'your prediction matches the run: every exit code, step by step.'


endings = Exercise('1.1', 'How did each child end?', test=_endings_test, trial=_endings_trial, timeout=90)


# -- 1.2: what does the child see? ------------------------------------------------------

VIEW_STEPS = [
    ('fork: COUNTER after the parent set it to 42',
     "a forked child is a copy of the parent's memory at start(): it sees 42"),
    ('spawn: COUNTER after the parent set it to 42',
     'a spawned child imports mpref.targets.process afresh: it sees the value of the module, 0'),
    ('fork: take LIBRARY_LOCK while a thread of the parent holds it',
     "the child's copy of the lock is locked by a thread that does not exist in the child: it waits for "
     "ever ('stuck'), until the program terminates it"),
    ('spawn: the same', "a spawned child has a fresh, never-taken lock: 'took the lock'"),
    ('fork: a lambda computing 3 * 7 as the target',
     'under fork nothing is pickled: the child simply calls the lambda and reports 21'),
    ('spawn: a lambda as the target',
     "under spawn the target is pickled, and a lambda has no name to be found by: start() raises "
     "'PicklingError' in the parent"),
]


def _views_trial(program):
    with stderr_to_file():
        seen = program()
    for number, ((what, _), result) in enumerate(zip(VIEW_STEPS, seen), 1):
        print('step %d  %-62s -> %r' % (number, what, result))


def _views_test(predict, program):
    predicted = predict()
    with stderr_to_file():
        actual = program()
    _compare(predicted, actual, VIEW_STEPS, 'predict_views')
    return 'your prediction matches the run, step by step.'


views = Exercise('1.2', 'What does the child see?', test=_views_test, trial=_views_trial, timeout=120)


# -- 1.3: a bounded run -------------------------------------------------------------------

def _write_pid(path):
    with open(path + '.tmp', 'w') as f:
        f.write(str(os.getpid()))
    os.rename(path + '.tmp', path)          # the file appears whole, or not at all


def quick(path):
    """A child that ends at once."""
    _write_pid(path)


def sleepy(path):
    """A child that would sleep for a minute."""
    _write_pid(path)
    time.sleep(60)


def stubborn(path):
    """A child that ignores SIGTERM (so terminate() does not stop it), then would sleep for a minute."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _write_pid(path)
    time.sleep(60)


def _state(pid):
    """The one-letter state of ``pid`` in /proc, or 'gone'."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return 'gone'
    return stat[stat.rfind(')') + 2]


def _bounded_test(run_bounded):
    import multiprocessing      # the yardstick: an answer must work there too
    for label, api in contexts():
        active = multiprocessing.active_children if 'stdlib' in label else mpref.active_children
        for target, seconds, expected, patience in (
                (quick, 10, (0,), 15), (sleepy, 1, (-signal.SIGTERM,), 10),
                (stubborn, 3, (-signal.SIGKILL, -signal.SIGTERM), 15)):
            with tempfile.TemporaryDirectory() as folder:
                path = os.path.join(folder, 'pid')
                what = 'Under %s, with a child that %s and seconds=%d' % (label, {
                    quick: 'ends at once', sleepy: 'would sleep for a minute',
                    stubborn: 'ignores SIGTERM and would sleep for a minute'}[target], seconds)
                hint = {quick: '',
                        sleepy: ' Wait at most `seconds` with join(timeout), then terminate() the child.',
                        stubborn: ' terminate() sends SIGTERM, which this child ignores, so a join() without '
                                  'a timeout after it waits for ever: join with a timeout, and kill() the '
                                  'child if it is still alive.'}[target]
                started = time.monotonic()
                code = within(patience, '%s, run_bounded() had not returned after %d seconds.%s'
                              % (what, patience, hint), run_bounded, api, target, (path,), seconds)
                took = time.monotonic() - started
                pid = int(open(path).read()) if os.path.exists(path) else None
                if target is stubborn and pid is not None:
                    expected = (-signal.SIGKILL,)     # it was ignoring SIGTERM by then
                if code is None:
                    raise Wrong('%s, run_bounded() returned None: the child was still running when you read '
                                'its exitcode.%s' % (what, hint))
                if code not in expected:
                    raise Wrong('%s, run_bounded() returned %r; expected %s.%s' % (
                        what, code, ' or '.join(map(str, expected)), hint))
                if target is quick and took > 8:
                    raise Wrong('%s, run_bounded() took %.0f seconds for a child that ends at once: '
                                'join(timeout) returns as soon as the child has ended -- do not sleep.'
                                % (what, took))
                if pid is not None and _state(pid) == 'Z':
                    raise Wrong('%s, the child was left a zombie: it had ended, but nobody collected its '
                                'exit status. join() it after terminate() or kill().' % what)
                if pid is not None and _state(pid) != 'gone':
                    raise Wrong('%s, the child was still running when run_bounded() returned.%s'
                                % (what, hint))
                if active():
                    raise Wrong('%s, a child was still listed by active_children() after run_bounded() '
                                'returned.' % what)
    return ('run_bounded() returned 0 for a quick child, -15 for a sleeper it terminated, -9 for a child '
            'that ignored SIGTERM, and left no zombie, under mpref with fork and with spawn and under the '
            "stdlib's multiprocessing with fork.")


bounded = Exercise('1.3', 'A bounded run', test=_bounded_test, timeout=180,
                   on_timeout='A join() without a timeout may be waiting for a child that never ends.')


# -- 1.4: a daemon that starts a worker -----------------------------------------------------

def _daemon_run(job, ctx):
    """Run ``job(ctx)`` with stderr captured; return (its result, or what it raised; the last error
    line a child wrote)."""
    with stderr_to_file() as written:
        try:
            result = within(30, 'job() had not returned after 30 seconds.', job, ctx)
        except Wrong:
            raise
        except Exception as exc:
            result = 'raised ' + exception_name(exc).split(':')[0]
        errors = [line for line in written().splitlines() if 'Error' in line and not line.startswith(' ')]
    return result, errors[-1] if errors else ''


def _daemon_trial(job):
    result, error = _daemon_run(job, mpref.get_context('fork'))
    print('job() gave:', result)
    if error:
        print('a child wrote to stderr:', error)


def _daemon_test(job):
    for label, api in contexts(stdlib=False):
        result, error = _daemon_run(job, api)
        what = 'Under %s' % label
        if 'daemonic' in error:
            raise Wrong('%s, a child failed with "%s": the supervisor is still daemonic, and a daemonic '
                        'process may not start children. Start it with daemon=False (the default), and '
                        'join it.'
                        % (what, error))
        if result != 'work done':
            raise Wrong("%s, job() gave %r; it should return 'work done', what the worker put on the queue.%s"
                        % (what, result, ' A child wrote: %s' % error if error else ''))
        if mpref.active_children():
            raise Wrong('%s, job() returned while a child was still running: join the supervisor before '
                        'returning.' % what)
    return ("job() returned 'work done' from a worker started by its supervisor, under mpref with fork "
            'and spawn.')


daemon = Exercise('1.4', 'A daemon that starts a worker', test=_daemon_test, trial=_daemon_trial, timeout=120)
