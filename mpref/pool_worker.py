"""A pool worker's life: receive a task, run each item of its chunk, send the outcome back.

Spec 16.6.2.9 (process pools).  Chapter: ``notebooks/07_pool.ipynb``.  The
worker is the bottom of the pool's three modules: ``pool_core.py`` starts it
with ``worker_main`` as its target and reads what it sends, ``pool.py`` is what
the caller holds.  The whole data path of ``Pool.map``: ``docs/pool.md``.

A task is one message on the worker's own task pipe: the pickle of ``(func,
chunk, star, kwds)`` -- call ``func`` on each item of ``chunk``
(``func(*item, **kwds)`` when ``star``).  Its outcome is one message back on
the worker's own result pipe::

    (True, values)       every call returned: one value per item
    (False, entries)     some call raised: a failed item's entry is a Failure

A ``Failure`` is a failed item's exception and the worker's traceback, made
here and re-raised in the caller by ``Failure.raise_it`` -- as the exception's
own type, with a ``RemoteTraceback`` as its cause.  An item whose value (or
exception) cannot be pickled back fails alone, with ``MaybeEncodingError``.
The pool's exceptions are defined where they are made (this module and
``pool_core.py``) and spelled ``mpref.pool.X`` as in the spec.
"""

import functools
import itertools
import os
import pickle
import reprlib
import signal
import traceback

from . import util
from .exceptions import ProcessError
from .process import current_process

__all__ = ['worker_main', 'Failure', 'MaybeEncodingError', 'RemoteTraceback']


def worker_main(tasks, results, initializer, initargs, maxtasks, inherited):
    """A worker's life: receive a task, run it, send its outcome; repeat.

    It leaves on the stop message (an empty one), at end of file (the pool's
    process is gone), or after ``maxtasks`` tasks.  SIGINT is ignored -- on
    Ctrl-C the parent decides what happens to the workers -- and SIGTERM
    kills it (``terminate()``).  ``inherited``: the descriptors of the pool's
    ends of every pipe, which a forked worker closes first (see
    ``pool_core.Core._add_worker``).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for fd in inherited:
        try:
            os.close(fd)
        except OSError:
            pass
    broken = None
    if initializer is not None:
        try:
            initializer(*initargs)
        except Exception as exc:
            broken = Failure.here(exc)
        except SystemExit as exc:
            # Leaving here would only make the pool start another worker
            # that leaves too, for ever: fail the tasks with a clear error.
            broken = Failure.here(ProcessError(
                "the pool's initializer %s raised SystemExit(%r) in %s: its tasks cannot run"
                % (getattr(initializer, '__qualname__', initializer), exc.code,
                   current_process().name)))
    pid = os.getpid()
    done = 0
    while maxtasks is None or done < maxtasks:
        try:
            message = tasks.recv_bytes()
        except (EOFError, OSError):
            break
        if not message:
            break
        outcome = (False, [broken]) if broken is not None else _run_task(message)
        if os.getpid() != pid:
            # The task forked (a bare os.fork) and this is the copy, returning
            # into the worker's loop: it must neither answer (the pool would
            # get two outcomes for one task) nor compete for the next tasks.
            util.flush_std_streams()        # never raises: a broken stream must not keep it here
            os._exit(0)
        try:
            results.send_bytes(_dump_outcome(outcome))
        except OSError:
            break                           # the pool's process is gone
        # Let this task's arguments and values go now, not when the next task comes.
        message = outcome = None
        done += 1


def _run_task(message):
    """Unpickle one task and call its function on every item of its chunk."""
    try:
        func, chunk, star, kwds = pickle.loads(message)
    except Exception as exc:
        # E.g. the function was defined in __main__ after this worker forked.
        return False, [Failure.here(exc)]
    if kwds:
        func = functools.partial(func, **kwds)
    calls = itertools.starmap(func, chunk) if star else map(func, chunk)
    entries = []
    ok = True
    while True:
        # extend() runs the calls at C speed and keeps the values computed
        # before an exception; the iterator then carries on with the next item.
        try:
            entries.extend(calls)
            return ok, entries
        except Exception as exc:
            ok = False
            entries.append(Failure.here(exc))


def _dump_outcome(outcome):
    """Pickle an outcome; an entry that cannot be pickled becomes a failure of its own."""
    try:
        return pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
    except Exception:
        pass
    # Something cannot be pickled: find out what, item by item, and fail only that.
    entries = []
    for entry in outcome[1]:
        try:
            pickle.dumps(entry, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            entry = Failure.here(MaybeEncodingError.cannot_send('result', entry, exc))
        entries.append(entry)
    return pickle.dumps((False, entries), pickle.HIGHEST_PROTOCOL)


# --------------------------------------------------------------------------
# What a failed item becomes: made in the worker, re-raised in the caller
# --------------------------------------------------------------------------

class Failure:
    """A failed call: its exception and the worker's traceback (text).

    Made by the worker (``Failure.here``), or by the pool's machinery for a
    task that was lost; carried in an outcome's entries; re-raised by the
    result the caller holds (``raise_it``).
    """

    __slots__ = ('exception', 'traceback')

    def __init__(self, exception, traceback_text=''):
        self.exception = exception
        self.traceback = traceback_text

    @classmethod
    def here(cls, exc):
        """The failure for ``exc`` just caught in this process, made safe to send."""
        text = 'Traceback in %s (pid %d):\n%s' % (
            current_process().name, os.getpid(),
            ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        try:
            pickle.loads(pickle.dumps(exc, pickle.HIGHEST_PROTOCOL))
        except Exception as why:
            exc = MaybeEncodingError.cannot_send('exception', exc, why)
        return cls(exc, text)

    def raise_it(self):
        """Raise the exception, with the worker's traceback as its cause (if any)."""
        if self.traceback:
            raise self.exception from RemoteTraceback(self.traceback)
        raise self.exception

    def __reduce__(self):
        return Failure, (self.exception, self.traceback)

    def __repr__(self):
        return '<Failure %r>' % (self.exception,)


class MaybeEncodingError(Exception):
    """A task's result (or exception) could not be pickled to send it back.

    The name is CPython's (``mpref.pool.MaybeEncodingError``).  Only that task
    (that item of a chunk) fails.  Beyond the spec, as in CPython 3: ``exc``
    and ``value``, the reprs of the error that stopped pickle and of what
    could not travel (reprs, so that this error itself always travels).
    """

    def __init__(self, message, exc=None, value=None):
        super().__init__(message)
        self.exc = exc
        self.value = value

    @classmethod
    def cannot_send(cls, what, value, why):
        """The error for a ``what`` (``'result'``, ``'exception'``) that pickle refused."""
        return cls('cannot send %s %s back to the pool: %s: %s'
                   % (what, reprlib.repr(value), type(why).__name__, why),
                   repr(why), repr(value))


class RemoteTraceback(Exception):
    """The worker's traceback, as text (``mpref.pool.RemoteTraceback``).

    ``get()`` (and ``map``, ``imap``...) re-raise a task's exception with its
    own type; its ``__cause__`` is one of these, so the printed traceback
    shows where in the worker it went wrong.  The text is its ``tb``
    attribute (CPython 3's name, beyond the spec).
    """

    def __init__(self, tb):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return '\n' + self.tb
