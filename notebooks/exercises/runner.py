"""The sandbox's side: ``python -m exercises.runner FOLDER`` (started by ``sandbox.run_in_sandbox``).

Reads ``FOLDER/job.json``, imports each answer (``cell_1``, ``cell_2``, ... in
``FOLDER``, or the student's own module), calls the test with them and writes
``FOLDER/result.json``: ``{"status": ..., "message": ...}``.  Then it kills
itself and whatever the answer left running (its process group): a process
left running must not hold the sandbox at exit (mpref joins non-daemonic
children at exit), nor print anything after the verdict.

A spawned child of the sandbox imports this module as its parent's main module
(``__mp_main__``): everything below runs only under ``if __name__ == '__main__'``.
"""

import importlib
import json
import os
import shutil
import signal
import sys
import threading
import time
import traceback
import warnings

from . import Wrong


def main(folder):
    with open(os.path.join(folder, 'job.json')) as f:
        job = json.load(f)
    # A fork from a process with threads warns on Python >= 3.12 (chapter 1
    # says why); a check's own threads are harmless, so keep its output clean.
    warnings.filterwarnings('ignore', category=DeprecationWarning,
                            message=r'This process .* is multi-threaded')
    threading.Thread(target=_watchdog, args=(folder, job.get('timeout')), daemon=True).start()
    result = run_job(job)
    with open(os.path.join(folder, 'result.json.part'), 'w') as f:
        json.dump(result, f)
    os.rename(os.path.join(folder, 'result.json.part'), os.path.join(folder, 'result.json'))
    sys.stdout.flush()
    sys.stderr.flush()
    # End the sandbox and every process the answer left in it, at once: a
    # stuck child printing its dying words after the verdict would only
    # confuse.  (mpref's semaphore trackers run in sessions of their own:
    # they stay, and unlink what the killed processes created.)
    os.killpg(0, signal.SIGKILL)


def _watchdog(folder, timeout, grace=30.0):
    """End the sandbox if the process that checks it is gone.

    The checking process (a notebook's kernel) kills the sandbox after its
    timeout and cleans up.  If that process dies first (the kernel restarted
    or killed in the middle of a check), nobody would: so the sandbox watches
    it, and ends itself, with every process it started, once its parent has
    gone or ``timeout`` plus a grace period has passed.  (mpref's semaphore
    trackers, in sessions of their own, unlink what the killed processes
    created.)
    """
    parent = os.getppid()
    limit = None if timeout is None else time.monotonic() + timeout + grace
    while os.getppid() == parent and (limit is None or time.monotonic() < limit):
        time.sleep(0.5)
    shutil.rmtree(folder, ignore_errors=True)
    os.killpg(0, signal.SIGKILL)


def run_job(job):
    """Import the answers, run the test on them; the result as a dict."""
    try:
        answers = [_load(answer) for answer in job['answers']]
    except BaseException as exc:
        return {'status': 'wrong', 'message': _describe(exc, job, 'while its cell was run on its own')}
    test = getattr(importlib.import_module(job['module']), job['function'])
    try:
        message = test(*answers)
    except Wrong as exc:
        return {'status': 'wrong', 'message': str(exc)}
    except NotImplementedError:
        return {'status': 'unsolved', 'message': ''}
    except BaseException as exc:
        return {'status': 'wrong', 'message': _describe(exc, job)}
    return {'status': 'solved', 'message': message or ''}


def _load(answer):
    obj = importlib.import_module(answer['module'])
    for part in answer['name'].split('.'):
        obj = getattr(obj, part)
    return obj


def _describe(exc, job, when=''):
    """Say, in a sentence, what an answer raised and where."""
    cells = {answer['module'] + '.py': answer['name'] for answer in job['answers'] if answer['in_cell']}
    where = ''
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        name = os.path.basename(frame.filename)
        if name in cells:
            where = ' (line %d of the cell that defines `%s`)' % (frame.lineno, cells[name])
            break
    text = '%s: %s' % (type(exc).__name__, exc) if str(exc) else type(exc).__name__
    hint = ''
    if isinstance(exc, NameError):
        hint = (' The check runs only the cell that defines your answer, on its own: that cell must '
                'import what it uses (`import mpref`, ...) and define every helper it calls (a function '
                'defined in another cell is not there).')
    if where or when:
        return 'your code raised %s%s%s.%s' % (text, where, (' ' + when) if when else '', hint)
    return 'the check raised %s while using your answer.%s' % (text, hint)


if __name__ == '__main__':
    main(sys.argv[1])
