"""Process pools: ``Pool``, ``AsyncResult`` and the ``imap`` iterators (spec 16.6.1.5, 16.6.2.9).

Chapter: ``notebooks/07_pool.ipynb``.  The data path of ``Pool.map`` step by
step: ``docs/pool.md``.

A pool is a fixed number of worker processes and a way to hand them work.
mpref's pool is built so that it always knows which worker runs which task::

      caller threads                                          worker processes
      apply_async, map ---pickle---+                       +-> PoolWorker-1  recv, run, send
      imap feeder thread ---pickle-+-> dispatch (locked) --+-> PoolWorker-2     |
                                   |   an idle worker gets |   ...              |
                          backlog <+   one task, else the  |                    |
                          (deque)      task waits in the   |   own task pipe    |  own result pipe
                                       backlog             |                    v
      AsyncResult / imap  <--- result thread: waits on every result pipe and every
      (values, callbacks)      worker's sentinel at once; a result makes its worker
                               idle (and hands it the next task), a sentinel means
                               the worker has exited: fail its task, replace it

* **One pipe pair per worker, one task at a time.**  A task goes only to an
  *idle* worker, so the pool knows at every moment what each worker is
  running.  When a worker dies (a signal, ``os._exit``, the OOM killer) its
  sentinel wakes the result thread, which fails exactly that task with a
  ``WorkerLostError`` ("worker PoolWorker-3 died with exit code -9 (SIGKILL)
  while running task 17 (...)") and starts a replacement; every other task
  goes on.  CPython's workers share one task queue, so a dead worker takes its
  task's identity with it and ``get()`` waits for ever.
* **No task-handler thread.**  Whoever makes work possible dispatches it,
  under the pool's lock: the caller right after pickling its tasks, or the
  result thread when a worker becomes idle.  An ``apply_async`` to an idle
  pool is written straight to a worker's pipe by the calling thread -- one
  thread hop fewer than CPython's pool.
* **Every task is a chunk.**  A task is ``(func, chunk, star, kwds)``: call
  ``func`` on each item of ``chunk`` (``func(*item, **kwds)`` when ``star``).
  ``map`` cuts its input into chunks of ``chunksize`` items; ``apply`` is a
  chunk of one.  The worker answers ``(True, values)``, or ``(False,
  entries)`` where a failed item's entry is a ``_Failure`` (the exception and
  the worker's traceback).  A failing item does not stop its chunk, so every
  item gets its own outcome: ``imap`` raises at exactly the failing item and
  carries on after it, whatever the chunksize.
* **Tasks are pickled by the caller** (``imap``: by its feeder thread, after
  the caller has checked the function), so an unpicklable function or
  argument fails the call that passed it, at once.  Under ``spawn`` the function is
  first checked the way ``Process.start`` checks a target, so a function from
  an interactive ``__main__`` fails with the same explanation.
* **The Pool object is not referenced by its own machinery.**  The threads
  hold the pool's ``_Core``, the results only its cache; so dropping the last reference to a
  ``Pool`` collects it at once and its finalizer terminates the workers
  (spec: "When the pool object is garbage collected terminate() will be
  called immediately").  Results still outstanding then fail, never hang.
"""

import collections
import functools
import io
import itertools
import os
import pickle
import reprlib
import selectors
import signal
import sys
import threading
import time
import traceback

from . import popen_spawn, util
from .framing import Pipe
from .exceptions import ProcessError, TimeoutError
from .process import ForkProcess, SpawnProcess, cpu_count, current_process, get_start_method

__all__ = ['Pool', 'AsyncResult', 'MapResult', 'IMapIterator', 'IMapUnorderedIterator',
           'WorkerLostError', 'MaybeEncodingError', 'RemoteTraceback']

# The pool's life: RUN until close() (no new tasks; workers leave when the
# work is done) or terminate() (workers killed now).
RUN, CLOSE, TERMINATE = 'RUN', 'CLOSE', 'TERMINATE'

#: How many chunks per worker ``map`` aims for when no chunksize is given.
CHUNKS_PER_WORKER = 4

#: Every so often (seconds) the result thread also looks at the exit codes of
#: the workers running tasks: see ``_Core._reap_silent_deaths``.
SILENT_DEATH_CHECK_INTERVAL = 1.0

#: An imap feeder waits while the backlog holds this many tasks per worker:
#: enough to keep every worker busy, without reading a long input all at once.
FEED_AHEAD_PER_WORKER = 2


class WorkerLostError(ProcessError):
    """A task was lost: its worker died while running it, or the pool was
    terminated before it finished.  Beyond the spec (CPython waits for ever)."""


class MaybeEncodingError(Exception):
    """A task's result (or exception) could not be pickled to send it back.

    The name is CPython's.  Only that task (that item of a chunk) fails.
    """


class RemoteTraceback(Exception):
    """The worker's traceback, as text.

    ``get()`` (and ``map``, ``imap``...) re-raise a task's exception with its
    own type; its ``__cause__`` is one of these, so the printed traceback
    shows where in the worker it went wrong.
    """

    def __init__(self, text):
        super().__init__(text)
        self.text = text

    def __str__(self):
        return '\n' + self.text


# --------------------------------------------------------------------------
# The public API
# --------------------------------------------------------------------------

class Pool:
    """A pool of worker processes to which tasks can be submitted (spec 16.6.2.9).

    ``processes``: how many workers (default ``cpu_count()``); each is a
    daemonic ``Process`` named ``PoolWorker-N``, so a task can tell which
    worker runs it from ``current_process().name``.  ``initializer``: if not
    None, each worker calls ``initializer(*initargs)`` when it starts; if it
    raises, every task that worker receives fails with that exception
    (instead of workers dying and being replaced for ever); if it calls
    ``sys.exit()``, with a ``ProcessError`` saying so.

    Beyond the spec (Python 3): ``maxtasksperchild`` (a worker leaves after
    that many tasks and is replaced), ``context`` (an ``mpref.get_context``
    result: the start method of the workers; default: the current default),
    ``starmap``/``starmap_async``, ``error_callback``, and ``with Pool() as
    p:`` (leaving the block calls ``terminate()``, as CPython does).

    The spec's pool program looks at two attributes, kept with that meaning:
    ``_cache`` (a dict of the results not yet complete; empty once everything
    has come back) and ``_pool`` (the list of worker ``Process`` objects).
    """

    def __init__(self, processes=None, initializer=None, initargs=(),
                 maxtasksperchild=None, context=None):
        if processes is None:
            processes = cpu_count()
        _check_positive_int(processes, 'processes', 'Number of processes must be at least 1')
        if initializer is not None and not callable(initializer):
            raise TypeError('initializer must be a callable, not %s' % type(initializer).__name__)
        if maxtasksperchild is not None:
            _check_positive_int(maxtasksperchild, 'maxtasksperchild',
                                'maxtasksperchild must be at least 1')
        method = context.get_start_method() if context is not None else get_start_method()
        self._core = _Core(processes, initializer, tuple(initargs), maxtasksperchild, method)
        self._cache = self._core.cache
        self._pool = self._core.processes
        try:
            self._core.start()
        except BaseException:
            self._core.terminate()
            raise
        # The finalizer holds the core, not the pool: see the module docstring.
        self._terminate = util.Finalize(self, self._core.terminate, exitpriority=15)

    # -- submitting work ----------------------------------------------------

    def apply(self, func, args=(), kwds={}):
        """Call ``func(*args, **kwds)`` in a worker and return its result (blocks)."""
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        """Start ``func(*args, **kwds)`` in a worker; return an ``AsyncResult``.

        ``callback(result)`` runs in the pool's result thread when the call
        succeeds; ``error_callback(exception)`` (beyond the spec) when it
        fails.  Both should return quickly: they hold up every other result.
        Raises ``ValueError`` if the pool is closed or terminated, and
        pickling errors at once if ``func`` or the arguments cannot be sent.
        """
        self._core.check_running()
        result = AsyncResult(self._core, callback, error_callback)
        task = self._core.make_task(result, 0, func, [args], True, kwds)
        self._core.submit(result, [task])
        return result

    def map(self, func, iterable, chunksize=None):
        """``list(map(func, iterable))`` computed by the workers (blocks).

        The input is cut into chunks of ``chunksize`` items, each sent as one
        task.  Default: about ``CHUNKS_PER_WORKER`` (4) chunks per worker --
        large enough that per-task costs (a pipe round trip, a pickle) vanish,
        small enough that a slow chunk does not leave the other workers idle.
        If calls fail, raises the exception of the first failing *item*.
        """
        return self.map_async(func, iterable, chunksize).get()

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """A ``MapResult`` for ``map(func, iterable, chunksize)``.

        ``callback(list_of_results)`` runs when every chunk has succeeded
        (for an empty input: at once, in the calling thread).
        """
        return self._map_async(func, iterable, False, chunksize, callback, error_callback)

    def starmap(self, func, iterable, chunksize=None):
        """Like ``map`` but calls ``func(*item)``.  Beyond the spec (Python 3.3)."""
        return self.starmap_async(func, iterable, chunksize).get()

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """Like ``map_async`` but calls ``func(*item)``.  Beyond the spec (Python 3.3)."""
        return self._map_async(func, iterable, True, chunksize, callback, error_callback)

    def imap(self, func, iterable, chunksize=1):
        """An iterator over ``func(item)`` for each item, in order, computed lazily.

        A feeder thread reads ``iterable`` as workers need it (a few chunks
        ahead), so it may be a long generator.  The iterator's ``next(timeout)``
        raises ``mpref.TimeoutError`` if the next result does not arrive in
        time -- for any chunksize.  A failed item raises its exception at its
        own position; the iteration can go on after it.
        """
        return self._imap(IMapIterator, func, iterable, chunksize)

    def imap_unordered(self, func, iterable, chunksize=1):
        """Like ``imap``, but results come in the order they are ready."""
        return self._imap(IMapUnorderedIterator, func, iterable, chunksize)

    # -- ending -------------------------------------------------------------

    def close(self):
        """Accept no more tasks; the workers leave once the work is done."""
        self._core.close()

    def terminate(self):
        """Stop the workers now (SIGTERM); unfinished results fail with
        ``WorkerLostError``.  Also runs when the pool is garbage collected.

        Calling it again finishes the work of a call that was interrupted
        (Ctrl-C while a worker that ignores SIGTERM was being waited for).
        """
        self._core.check_owner()
        self._core.terminate()
        # Only now: if the call above is interrupted, the finalizer still
        # stops the workers at garbage collection or interpreter exit.
        self._terminate.cancel()

    def join(self):
        """Wait for the workers to exit.  Only after ``close()`` or ``terminate()``
        (``ValueError`` otherwise)."""
        self._core.join()

    def __enter__(self):
        self._core.check_running()
        return self

    def __exit__(self, *exc_info):
        self.terminate()

    def __reduce__(self):
        raise NotImplementedError('a pool cannot be pickled or sent to another process: '
                                  'its workers, pipes and threads belong to this one')

    def __repr__(self):
        return '<%s.%s state=%s pool_size=%d>' % (
            type(self).__module__, type(self).__qualname__, self._core.state, len(self._pool))

    # -- helpers --------------------------------------------------------------

    def _map_async(self, func, iterable, star, chunksize, callback, error_callback):
        core = self._core
        core.check_running()
        if chunksize is not None:
            _check_positive_int(chunksize, 'chunksize', 'chunksize must be at least 1')
        # Slicing needs a sequence; a range slices into small ranges, cheap to pickle.
        items = iterable if isinstance(iterable, (list, tuple, range)) else list(iterable)
        if chunksize is None:
            chunksize = max(1, -(-len(items) // (len(self._pool) * CHUNKS_PER_WORKER)))
        result = MapResult(core, len(items), chunksize, callback, error_callback)
        if not items:
            result._finish()
            return result
        # Pickle every chunk before sending any: a failure then leaves nothing half-submitted.
        tasks = [core.make_task(result, index, func, items[start:start + chunksize], star, {})
                 for index, start in enumerate(range(0, len(items), chunksize))]
        core.submit(result, tasks)
        return result

    def _imap(self, iterator_class, func, iterable, chunksize):
        core = self._core
        core.check_running()
        _check_positive_int(chunksize, 'chunksize', 'chunksize must be at least 1')
        core.check_picklable(func)
        result = iterator_class(core)
        core.start_feeder(result, func, iterable, chunksize)
        return result


def _check_positive_int(value, name, message):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError('%s must be an integer, not %s' % (name, type(value).__name__))
    if value < 1:
        raise ValueError('%s (got %d)' % (message, value))


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------

_job_counter = itertools.count()


class AsyncResult:
    """The result of ``apply_async`` (spec 16.6.2.9; CPython calls it ``ApplyResult``)."""

    def __init__(self, core, callback=None, error_callback=None):
        self._job = next(_job_counter)
        self._cache = core.cache
        self._result_thread = core.thread
        self._callback = callback
        self._error_callback = error_callback
        self._event = threading.Event()
        # One outcome at a time: here only the result thread delivers, but
        # mpref.dummy's worker threads deliver chunks of one map concurrently.
        self._lock = threading.RLock()
        self._value = None
        self._failure = None

    def ready(self):
        """Return whether the call has completed (successfully or not)."""
        return self._event.is_set()

    def successful(self):
        """Return whether the call completed without raising.

        Raises ``AssertionError`` if it has not completed, as the spec says
        (CPython 3 raises ``ValueError``).
        """
        if not self._event.is_set():
            raise AssertionError('the result is not ready yet: check ready() or wait() first')
        return self._failure is None

    def wait(self, timeout=None):
        """Wait until the result is ready or ``timeout`` seconds have passed."""
        timeout = util.check_timeout(timeout)
        if timeout is None and not self._event.is_set():
            _refuse_to_wait_in(self._result_thread)
        _wait_event(self._event, timeout)

    def get(self, timeout=None):
        """Return the result, waiting up to ``timeout`` seconds (None: for ever).

        Raises ``mpref.TimeoutError`` if it is not ready in time.  If the call
        raised, re-raises that exception (its ``__cause__`` is the worker's
        traceback, a ``RemoteTraceback``); ``WorkerLostError`` if the worker
        died or the pool was terminated.
        """
        self.wait(timeout)
        if not self._event.is_set():
            raise TimeoutError('the result was not ready within %s seconds' % (timeout,))
        if self._failure is not None:
            self._failure.raise_it()
        return self._value

    def _set(self, index, ok, entries):
        # Called by the result thread with the worker's outcome of the task.
        with self._lock:
            if self._event.is_set():
                return      # terminate() failed it first (mpref.dummy: the thread ran on)
            if ok:
                self._value = entries[0]
            else:
                self._failure = entries[0]
            self._finish()

    def _abort(self, failure):
        with self._lock:
            if not self._event.is_set():
                self._value, self._failure = None, failure
                self._finish()

    def _finish(self):
        # The callback runs before the event is set (so wait() returning means
        # the callback has run -- the spec's program relies on it), and its
        # exceptions are reported, never allowed to kill the result thread.
        # Leaving the cache first means a terminate() called by the callback
        # itself no longer counts this (complete) result as lost.
        self._cache.pop(self._job, None)
        if self._failure is None:
            callback, argument = self._callback, self._value
        else:
            callback, argument = self._error_callback, self._failure.exception
        if callback is not None:
            try:
                callback(argument)
            except BaseException:       # even SystemExit: the result thread must go on
                sys.stderr.write('mpref.pool: exception in %s of %r (ignored):\n'
                                 % ('callback' if self._failure is None else 'error_callback', self))
                traceback.print_exc()
        self._event.set()


class MapResult(AsyncResult):
    """The result of ``map_async``/``starmap_async``: a list, filled chunk by chunk."""

    def __init__(self, core, length, chunksize, callback=None, error_callback=None):
        super().__init__(core, callback, error_callback)
        self._value = [None] * length
        self._chunksize = chunksize
        self._chunks_left = -(-length // chunksize)
        self._first_failure = None       # (item index, _Failure)

    def _set(self, index, ok, entries):
        with self._lock:
            if not self._event.is_set():    # else terminate() failed it first, as above
                self._set_chunk(index, ok, entries)

    def _set_chunk(self, index, ok, entries):
        start = index * self._chunksize
        if ok:
            self._value[start:start + len(entries)] = entries
        else:
            # Keep the failure of the lowest item index, whatever order chunks arrive in.
            for offset, entry in enumerate(entries):
                if type(entry) is _Failure:
                    if self._first_failure is None or start + offset < self._first_failure[0]:
                        self._first_failure = (start + offset, entry)
                    break
        self._chunks_left -= 1
        if self._chunks_left == 0:
            if self._first_failure is not None:
                self._value, self._failure = None, self._first_failure[1]
            self._finish()


class IMapIterator:
    """The iterator ``imap`` returns: results in input order.

    ``next(timeout=None)`` -- the spec's spelling; ``next(it)`` works too --
    raises ``mpref.TimeoutError`` when the next result does not arrive within
    ``timeout`` seconds, and the item's own exception if its call failed.
    ``for`` and ``list()`` read the same results through ``__iter__``, which
    returns an ``itertools.chain`` over the chunks (the per-item cost is what
    limits a fast ``imap``); ``next()`` calls and loops may be mixed, they
    share one position.
    """

    def __init__(self, core):
        self._job = next(_job_counter)
        self._cache = core.cache
        self._result_thread = core.thread
        self._cond = threading.Condition(threading.Lock())
        self._arrived = {}               # chunk index -> (ok, entries), not yet read
        self._chunks_read = 0
        self._chunks_received = 0
        self._length = None              # number of chunks; known when the feeder is done
        self._lost = None                # a _Failure once the pool is terminated
        self._current = iter(())         # an iterator over the chunk being read

    def __iter__(self):
        # chain() walks each chunk at C speed; it reads the very iterator
        # next() reads, so loops and next() calls share one position.
        return itertools.chain.from_iterable(self._chunks_in_turn())

    def _chunks_in_turn(self):
        while True:
            current = self._current
            yield current
            try:
                self._next_chunk(current, None)
            except StopIteration:
                return

    def __next__(self):
        return self.next()

    def next(self, timeout=None):
        """Return the next result; see the class docstring."""
        timeout = util.check_timeout(timeout)
        deadline = None if timeout is None else _now() + timeout
        while True:
            current = self._current
            for value in current:
                return value
            self._next_chunk(current, deadline)

    def _next_chunk(self, exhausted, deadline):
        # Make the next chunk current, waiting for it until ``deadline`` --
        # unless another thread reading this iterator already has.
        with self._cond:
            if self._current is not exhausted:
                return
            while True:
                arrived = self._take()
                if arrived is not None:
                    self._chunks_read += 1
                    ok, entries = arrived
                    self._current = iter(entries) if ok else _RaisingAtFailures(entries)
                    return
                if self._length is not None and self._chunks_read >= self._length:
                    raise StopIteration
                if self._lost is not None:
                    self._lost.raise_it()
                if deadline is None:
                    _refuse_to_wait_in(self._result_thread)
                if not _wait_condition(self._cond, deadline):
                    raise TimeoutError('the next result was not ready in time')

    def _take(self):
        return self._arrived.pop(self._chunks_read, None)

    def _set(self, index, ok, entries):
        with self._cond:
            self._arrived[index] = (ok, entries)
            self._chunks_received += 1
            self._cond.notify_all()
            if self._chunks_received == self._length:
                self._cache.pop(self._job, None)

    def _set_length(self, chunks):
        # The feeder has read the whole input: it made ``chunks`` chunks.
        with self._cond:
            self._length = chunks
            self._cond.notify_all()
            if self._chunks_received == chunks:
                self._cache.pop(self._job, None)

    def _abort(self, failure):
        with self._cond:
            self._lost = failure
            self._cond.notify_all()
            self._cache.pop(self._job, None)


class _RaisingAtFailures:
    """An iterator over a chunk's entries that raises each failed item's
    exception in its place, and carries on with the next item after it."""

    def __init__(self, entries):
        self._entries = iter(entries)

    def __iter__(self):
        return self

    def __next__(self):
        entry = next(self._entries)
        if type(entry) is _Failure:
            entry.raise_it()
        return entry


class IMapUnorderedIterator(IMapIterator):
    """The iterator ``imap_unordered`` returns: results in the order they arrive."""

    def _take(self):
        if not self._arrived:
            return None
        return self._arrived.pop(next(iter(self._arrived)))


# --------------------------------------------------------------------------
# The pool's machinery
# --------------------------------------------------------------------------

class _Task:
    """One pickled task and where its outcome goes."""

    __slots__ = ('number', 'result', 'index', 'size', 'what', 'payload')

    def __init__(self, number, result, index, size, what, payload):
        self.number, self.result, self.index = number, result, index
        self.size, self.what, self.payload = size, what, payload


class _Worker:
    """The parent's view of one worker: its process, its pipes, its task."""

    def __init__(self, process, tasks, results):
        self.process = process
        self.tasks = tasks            # we send tasks here
        self.results = results        # and read outcomes here
        self.task = None              # the _Task it is running, if any
        self.done = 0                 # tasks completed
        self.alive = True
        self.results_open = True      # results pipe still registered


class _Core:
    """Everything the pool's threads need -- but not the ``Pool`` object itself.

    ``lock`` guards the dispatch state: ``state``, ``idle`` (workers waiting
    for a task), ``backlog`` (tasks waiting for a worker), ``feeders`` (imap
    feeder threads still reading their input) and the worker lists.  The
    result thread alone owns the selector and starts replacement workers.
    """

    def __init__(self, processes, initializer, initargs, maxtasks, method):
        self.size = processes
        self.initializer, self.initargs, self.maxtasks = initializer, initargs, maxtasks
        self.method = method
        self.owner_pid = os.getpid()
        self.process_class = ForkProcess if method == 'fork' else SpawnProcess
        self.lock = threading.Lock()
        self.state = RUN
        self.cache = {}                   # job number -> result not yet complete
        self.processes = []               # Pool._pool: the worker Process objects
        self.workers = []                 # the live _Worker records
        self.idle = collections.deque()
        self.backlog = collections.deque()
        self.backlog_shrunk = threading.Condition(self.lock)     # for imap feeders
        self.feeders = 0
        self.task_numbers = itertools.count(1)
        self.selector = selectors.DefaultSelector()
        self.wakeup_r, self.wakeup_w = os.pipe()
        self.pipes_closed = False
        self.selector.register(self.wakeup_r, selectors.EVENT_READ, None)
        self.thread = threading.Thread(target=self._handle_results, name='mpref-pool-results',
                                       daemon=True)

    def start(self):
        for _ in range(self.size):
            self._add_worker()
        self.thread.start()

    # -- submitting (any thread) --------------------------------------------

    def check_owner(self):
        # A forked child has a copy of the pool but none of its threads, and
        # the workers' pipes are shared with the parent: using them would
        # steal or corrupt the parent's tasks.
        if os.getpid() != self.owner_pid:
            raise RuntimeError('a pool can only be used by the process that created it '
                               '(pid %d), not by a child it forked' % self.owner_pid)

    def check_running(self):
        self.check_owner()
        if self.state != RUN:
            raise ValueError('Pool not running: it has been %s, so it accepts no new tasks'
                             % ('closed' if self.state == CLOSE else 'terminated'))

    def check_picklable(self, func):
        """Refuse, in the caller, a function the workers could not receive."""
        if self.method == 'spawn':
            pickler = popen_spawn._ChildPickler(io.BytesIO(), pickle.HIGHEST_PROTOCOL)
            try:
                pickler.dump(func)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                raise pickle.PicklingError(
                    "cannot run %r in the pool's workers with the 'spawn' start method: %s.\n"
                    'A spawned worker is a new interpreter that receives each task by '
                    'pickle, so the function and its arguments must be picklable: define '
                    'the function at the top level of an importable module (not a lambda, '
                    'a nested function, or a function defined only in an interactive '
                    "session), or use the 'fork' start method." % (func, exc)) from exc
        else:
            self._pickle_task(func, ())

    def make_task(self, result, index, func, chunk, star, kwds):
        if index == 0 and self.method == 'spawn':
            self.check_picklable(func)      # under fork, pickling the payload is the check
        payload = self._pickle_task(func, chunk, star, kwds)
        what = getattr(func, '__qualname__', None) or repr(func)
        what = '%s, %d item%s' % (what, len(chunk), '' if len(chunk) == 1 else 's')
        return _Task(next(self.task_numbers), result, index, len(chunk), what, payload)

    @staticmethod
    def _pickle_task(func, chunk, star=False, kwds={}):
        # Whatever pickle raises goes to the caller unchanged, as in CPython:
        # TypeError for a lock, AttributeError for a nested function, ...
        return pickle.dumps((func, chunk, star, kwds), pickle.HIGHEST_PROTOCOL)

    def submit(self, result, tasks):
        """Register ``result`` and queue its tasks (``ValueError`` if not running)."""
        with self.lock:
            self.check_running()
            self.cache[result._job] = result
            self.backlog.extend(tasks)
            self._dispatch_locked()

    def start_feeder(self, result, func, iterable, chunksize):
        with self.lock:
            self.check_running()
            self.cache[result._job] = result
            self.feeders += 1
        threading.Thread(target=self._feed, args=(result, func, iterable, chunksize),
                         name='mpref-pool-feeder', daemon=True).start()

    def _feed(self, result, func, iterable, chunksize):
        # An imap's own thread: read the input a chunk at a time, pickle, queue.
        index = 0
        terminated = False
        try:
            for chunk, error in _chunks(iterable, chunksize):
                if chunk:
                    try:
                        task = self.make_task(result, index, func, chunk, False, {})
                    except Exception as exc:
                        result._set(index, False, [_Failure.here(exc)] * len(chunk))
                    else:
                        with self.lock:
                            while (len(self.backlog) >= FEED_AHEAD_PER_WORKER * self.size
                                   and self.state != TERMINATE):
                                self.backlog_shrunk.wait()
                            if self.state == TERMINATE:
                                terminated = True
                                return
                            self.backlog.append(task)
                            self._dispatch_locked()
                    index += 1
                if error is not None:
                    # The input itself raised: that is the last "item".
                    result._set(index, False, [_Failure.here(error)])
                    index += 1
        except Exception as exc:                      # iter(iterable) itself failed
            result._set(index, False, [_Failure.here(exc)])
            index += 1
        finally:
            # Cut short by terminate(), the input has no length: the result
            # stays in the cache until terminate() fails it (a length would
            # end the iteration quietly, or take it out of the cache first).
            if not terminated:
                result._set_length(index)
            with self.lock:
                self.feeders -= 1
                if self.state != TERMINATE:
                    self._dispatch_locked()

    def _dispatch_locked(self):
        """Give backlog tasks to idle workers; when closing and done, stop them."""
        while self.idle and self.backlog:
            worker = self.idle.popleft()
            task = self.backlog.popleft()
            if self.feeders:
                self.backlog_shrunk.notify_all()
            worker.task = task
            try:
                worker.tasks.send_bytes(task.payload)
            except OSError:
                # It died while idle: the task never reached it.  Its sentinel
                # will tell the result thread; the task waits for another worker.
                worker.task = None
                self.backlog.appendleft(task)
            except BaseException:
                # Interrupted mid-message (Ctrl-C during a large send): the
                # worker holds part of a task it would wait for ever to
                # finish reading.  Kill it; the result thread then fails the
                # task (WorkerLostError) and starts a replacement.
                worker.process.kill()
                raise
        if self.state == CLOSE and not self.backlog and not self.feeders:
            while self.idle:
                worker = self.idle.popleft()
                try:
                    worker.tasks.send_bytes(b'')          # the stop message
                except OSError:
                    pass

    # -- ending -------------------------------------------------------------

    def close(self):
        self.check_owner()
        with self.lock:
            if self.state == RUN:
                self.state = CLOSE
                self._dispatch_locked()

    def join(self):
        self.check_owner()
        if self.state == RUN:
            raise ValueError('Pool is still running: call close() or terminate() before join()')
        _refuse_to_wait_in(self.thread)
        if self.thread.ident is not None and self.thread is not threading.current_thread():
            self.thread.join()
        for process in list(self.processes):
            process.join()

    def terminate(self):
        # Every step after the first block can safely run again: a second
        # call finishes what an interrupted first call left undone.
        with self.lock:
            first = self.state != TERMINATE
            if first:
                self.state = TERMINATE
                self.backlog.clear()
                self.idle.clear()
                self.backlog_shrunk.notify_all()          # feeders: stop reading
                if self.thread.ident is not None and not self.pipes_closed:
                    os.write(self.wakeup_w, b'!')     # the result thread: stop now
        if first:
            util.debug('terminating pool')
        if self.thread.ident is None:
            if first:
                self._close_pipes()                   # the thread never started
        elif self.thread is not threading.current_thread():
            self.thread.join()
        for worker in list(self.workers):
            worker.process.terminate()
        for worker in list(self.workers):
            worker.process.join(5)
            if worker.process.exitcode is None:
                worker.process.kill()
                worker.process.join()
        lost = _Failure(WorkerLostError('the pool was terminated before this result was ready'))
        for result in list(self.cache.values()):
            result._abort(lost)

    # -- the result thread ------------------------------------------------------

    def _handle_results(self):
        try:
            next_check = _now() + SILENT_DEATH_CHECK_INTERVAL
            while self.state == RUN or (self.state == CLOSE and self.workers):
                # Callers dispatch without waking this thread, so it cannot
                # know whether a task is running: it wakes up now and then.
                ready = self.selector.select(SILENT_DEATH_CHECK_INTERVAL)
                for key, _events in ready:
                    if self.state == TERMINATE:
                        break
                    if key.data is None:
                        os.read(self.wakeup_r, 512)
                    elif key.data[1] == 'result':
                        self._receive(key.data[0])
                    else:
                        self._reap(key.data[0])
                if _now() >= next_check and self.state != TERMINATE:
                    self._reap_silent_deaths()
                    next_check = _now() + SILENT_DEATH_CHECK_INTERVAL
        except BaseException:
            # A bug: without this thread no result could ever arrive, so
            # rather than let callers wait for ever, end the pool.
            sys.stderr.write('mpref.pool: the result thread failed; terminating the pool:\n')
            traceback.print_exc()
            self.terminate()
        finally:
            self._close_pipes()

    def _receive(self, worker):
        if not worker.results_open:
            return                      # _reap, earlier in this batch, has read it all
        try:
            data = worker.results.recv_bytes()
        except (EOFError, OSError):
            # The worker has gone (perhaps in the middle of a message); its
            # sentinel will say how.
            self.selector.unregister(worker.results)
            worker.results_open = False
            return
        self._task_done(worker, data)

    def _task_done(self, worker, data):
        with self.lock:
            task, worker.task = worker.task, None
            worker.done += 1
            # Hand the worker its next task before unpickling this outcome.
            if worker.alive and self.state != TERMINATE and (
                    self.maxtasks is None or worker.done < self.maxtasks):
                self.idle.append(worker)
                self._dispatch_locked()
        try:
            ok, entries = pickle.loads(data)
        except Exception as exc:
            ok, entries = False, [_Failure(MaybeEncodingError(
                'the outcome of task %d (%s) came back from %s but could not be unpickled: %s: %s'
                % (task.number, task.what, worker.process.name, type(exc).__name__, exc)))]
        self._deliver(task, ok, entries)

    def _deliver(self, task, ok, entries):
        if not ok and len(entries) != task.size:
            entries = entries[:1] * task.size      # one failure for the whole task
        try:
            task.result._set(task.index, ok, entries)
        except Exception:
            sys.stderr.write('mpref.pool: could not store the outcome of task %d:\n' % task.number)
            traceback.print_exc()

    def _reap(self, worker):
        """The worker's sentinel fired: it has exited.  Collect, fail, replace."""
        with self.lock:
            worker.alive = False
            if worker in self.idle:
                self.idle.remove(worker)
        if worker.results_open:
            # Outcomes it sent before exiting are still in the pipe.
            while worker.results.poll(0):
                try:
                    data = worker.results.recv_bytes()
                except (EOFError, OSError):
                    break
                self._task_done(worker, data)
            self.selector.unregister(worker.results)
            worker.results_open = False
        self.selector.unregister(worker.process.sentinel)
        worker.process.join()
        exitcode = worker.process.exitcode
        with self.lock:
            lost, worker.task = worker.task, None
            self.workers.remove(worker)
            replace = self.state == RUN or (self.state == CLOSE and (self.backlog or self.feeders))
        worker.tasks.close()
        worker.results.close()
        if lost is not None:
            util.info('worker %s died while running task %d', worker.process.name, lost.number)
            self._deliver(lost, False, [_Failure(WorkerLostError(
                'worker %s died with exit code %s while running task %d (%s)'
                % (worker.process.name, _describe_exitcode(exitcode), lost.number, lost.what)))])
        if replace:
            try:
                self._add_worker(instead_of=worker.process)
            except Exception as exc:
                self._no_replacement(exc)

    def _reap_silent_deaths(self):
        # A worker's sentinel and result pipe stay open after its death if a
        # task forked a process of its own (with a bare os.fork) that holds
        # copies of them.  So while tasks run, look at the exit codes too.
        for worker in list(self.workers):
            if worker.task is not None and worker.process.exitcode is not None:
                self._reap(worker)

    def _no_replacement(self, exc):
        # Starting a worker failed.  With no worker left, queued tasks would
        # wait for ever: fail them instead.
        sys.stderr.write('mpref.pool: could not start a replacement worker: %r\n' % (exc,))
        with self.lock:
            if self.workers:
                return
            tasks = list(self.backlog)
            self.backlog.clear()
        failure = _Failure(WorkerLostError('no worker left to run this task: starting one '
                                           'failed with %s: %s' % (type(exc).__name__, exc)))
        for task in tasks:
            self._deliver(task, False, [failure])

    def _add_worker(self, instead_of=None):
        task_r, task_w = Pipe(duplex=False)
        result_r, result_w = Pipe(duplex=False)
        # A forked worker inherits every descriptor of ours; it closes the
        # pool's ends of all pipes, so that each pipe has exactly two ends and
        # a worker sees EOF on its task pipe when the pool's process dies.
        if self.method == 'fork':
            inherited = [task_w.fileno(), result_r.fileno(), self.wakeup_r, self.wakeup_w,
                         self.selector.fileno()]
            for other in self.workers:
                inherited += [other.tasks.fileno(), other.results.fileno()]
        else:
            inherited = []
        process = self.process_class(
            target=_worker_main, daemon=True,
            args=(task_r, result_w, self.initializer, self.initargs, self.maxtasks, inherited))
        process.name = process.name.replace('Process', 'PoolWorker', 1)
        try:
            process.start()
        except BaseException:
            task_w.close()
            result_r.close()
            raise
        finally:
            task_r.close()
            result_w.close()
        worker = _Worker(process, task_w, result_r)
        self.selector.register(result_r, selectors.EVENT_READ, (worker, 'result'))
        self.selector.register(process.sentinel, selectors.EVENT_READ, (worker, 'exit'))
        with self.lock:
            if instead_of is None:
                self.processes.append(process)
            else:
                self.processes[self.processes.index(instead_of)] = process
            self.workers.append(worker)
            self.idle.append(worker)
            self._dispatch_locked()

    def _close_pipes(self):
        with self.lock:
            # Under the lock: terminate() must not write to a closed (reused) wakeup fd.
            self.pipes_closed = True
        for worker in list(self.workers):
            worker.tasks.close()              # a worker still waiting reads EOF and leaves
            worker.results.close()
        self.selector.close()
        for fd in (self.wakeup_r, self.wakeup_w):
            try:
                os.close(fd)
            except OSError:
                pass


def _chunks(iterable, chunksize):
    """Yield ``(chunk, error)``: the input ``chunksize`` items at a time.

    A list, tuple or range is sliced (a range slices into a small range,
    cheap to pickle); anything else is read with ``islice``.  If reading
    raises, the last pair holds the items read before it (perhaps none) and
    the exception.
    """
    if isinstance(iterable, (list, tuple, range)):
        for start in range(0, len(iterable), chunksize):
            yield iterable[start:start + chunksize], None
        return
    iterator = iter(iterable)
    while True:
        chunk = []
        try:
            # extend() keeps the items read before an exception.
            chunk.extend(itertools.islice(iterator, chunksize))
        except Exception as exc:
            yield chunk, exc
            return
        if chunk:
            yield chunk, None
        if len(chunk) < chunksize:
            return


def _describe_exitcode(exitcode):
    if exitcode is not None and exitcode < 0:
        try:
            return '%d (%s)' % (exitcode, signal.Signals(-exitcode).name)
        except ValueError:
            pass
    return str(exitcode)


# --------------------------------------------------------------------------
# Waiting (any finite timeout works: waits are cut into slices)
# --------------------------------------------------------------------------

_now = time.monotonic


def _refuse_to_wait_in(result_thread):
    # A callback that waits for the pool would wait for ever: the results it
    # waits for can only arrive through the thread that is running it.
    if threading.current_thread() is result_thread:
        raise RuntimeError('a callback cannot wait for the pool (get(), wait(), next() or '
                           "join() without a timeout): it runs in the pool's result thread, "
                           'which is the one that would have to deliver the result')


def _wait_event(event, timeout):
    if timeout is None:
        event.wait()
        return
    deadline = _now() + timeout
    while not event.wait(min(max(deadline - _now(), 0), util.MAX_WAIT_SLICE)):
        if _now() >= deadline:
            return


def _wait_condition(cond, deadline):
    """Wait on ``cond`` (held) until notified or ``deadline``; False once it has passed."""
    if deadline is None:
        cond.wait()
        return True
    remaining = deadline - _now()
    if remaining <= 0:
        return False
    cond.wait(min(remaining, util.MAX_WAIT_SLICE))
    return True


# --------------------------------------------------------------------------
# Inside a worker
# --------------------------------------------------------------------------

class _Failure:
    """A failed call: its exception and the worker's traceback (text)."""

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
            exc = MaybeEncodingError('cannot send exception %s back to the pool: %s: %s'
                                     % (reprlib.repr(exc), type(why).__name__, why))
        return cls(exc, text)

    def raise_it(self):
        if self.traceback:
            raise self.exception from RemoteTraceback(self.traceback)
        raise self.exception

    def __reduce__(self):
        return _Failure, (self.exception, self.traceback)

    def __repr__(self):
        return '<_Failure %r>' % (self.exception,)


def _worker_main(tasks, results, initializer, initargs, maxtasks, inherited):
    """A worker's life: receive a task, run it, send its outcome; repeat.

    It leaves on the stop message (an empty one), at end of file (the pool's
    process is gone), or after ``maxtasks`` tasks.  SIGINT is ignored -- on
    Ctrl-C the parent decides what happens to the workers -- and SIGTERM
    kills it (``terminate()``).
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
            broken = _Failure.here(exc)
        except SystemExit as exc:
            # Leaving here would only make the pool start another worker
            # that leaves too, for ever: fail the tasks with a clear error.
            broken = _Failure.here(ProcessError(
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
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        try:
            results.send_bytes(_dump_outcome(outcome))
        except OSError:
            break                           # the pool's process is gone
        done += 1


def _run_task(message):
    try:
        func, chunk, star, kwds = pickle.loads(message)
    except Exception as exc:
        # E.g. the function was defined in __main__ after this worker forked.
        return False, [_Failure.here(exc)]
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
            entries.append(_Failure.here(exc))


def _dump_outcome(outcome):
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
            entry = _Failure.here(MaybeEncodingError(
                'cannot send result %s back to the pool: %s: %s'
                % (reprlib.repr(entry), type(exc).__name__, exc)))
        entries.append(entry)
    return pickle.dumps((False, entries), pickle.HIGHEST_PROTOCOL)
