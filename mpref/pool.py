"""What the caller of a process pool holds: ``Pool``, ``AsyncResult``, ``MapResult``, the imap iterators.

Spec 16.6.1.5 (using a pool of workers), 16.6.2.9 (process pools).  Chapter:
``notebooks/07_pool.ipynb``.  The data path of ``Pool.map`` step by step:
``docs/pool.md``.

A pool is three modules, one above the other, and a call reads downward
through them: this one (what the caller holds), ``pool_core.py`` (the
parent's machinery: worker processes with a pipe pair each, dispatch under
one lock, the result thread -- its docstring draws the data path) and
``pool_worker.py`` (a worker's life).  The pool's exceptions are defined where
they are raised and re-exported here, where the spec spells them:
``WorkerLostError`` (``pool_core``), ``MaybeEncodingError`` and
``RemoteTraceback`` (``pool_worker``).

**The Pool object is not referenced by its own machinery, only by the results
still due.**  The threads hold the pool's core, never the ``Pool``; a result
holds its ``Pool`` until it is complete (as in CPython since 3.8), so that
``for x in Pool(2).imap(f, items)`` -- where nothing else refers to the pool
-- gets every result.  So a pool lives while something refers to it or one of
its results is still due; after that it is collected at once and its
finalizer terminates the workers (spec: "When the pool object is garbage
collected terminate() will be called immediately").

The seam between a ``Pool`` and its core
----------------------------------------
``Pool`` does no work itself: it checks its arguments, cuts ``map``'s input
into chunks and makes the result objects; everything else it asks of its
*core*, ``self._core``.  Two cores keep the same promises: ``pool_core.Core``
(worker processes) and ``mpref.dummy.pool.ThreadCore`` (worker threads,
behind ``mpref.dummy.Pool``, a subclass of this ``Pool``).  A core has:

``cache``
    a dict, job number -> result not yet complete; the same dict is ``Pool._cache``.
``processes``
    the list of the workers; the same list is ``Pool._pool`` (the spec's program reads it).
``thread``
    the thread that delivers results and runs callbacks, which must therefore
    never wait for a result (None: the thread core has no such thread).
``state``
    ``'RUN'``, then ``'CLOSE'`` or ``'TERMINATE'`` (``repr(pool)`` shows it).
``check_owner()``
    raise ``RuntimeError`` unless called in the process that made the pool
    (only ``Pool.terminate`` asks, and the thread pool has its own ``terminate``).
``check_running()``
    raise ``ValueError`` once the pool is closed or terminated.
``check_picklable(func)``
    raise, in the caller, if the workers could not receive ``func``.
``make_task(result, index, func, chunk, star, kwds)``
    one task: chunk number ``index`` of ``result``'s work, ready to submit
    (the process core pickles it here, so a pickling error reaches the caller).
``submit(result, tasks)``
    put ``result`` in ``cache`` and queue its tasks (``ValueError`` if the
    pool is no longer running).
``start_feeder(result, func, iterable, chunksize)``
    put an imap ``result`` in ``cache`` and start a feeder thread that reads
    ``iterable`` a chunk at a time, as the workers need it.
``close()``
    take no new tasks; the workers leave once the work is done.
``terminate()``
    stop now, and fail every result still in ``cache`` with ``WorkerLostError``.
``join()``
    wait for the workers (``ValueError`` while the pool is still running).

In the other direction, a core (its result thread, worker threads or feeder
threads) calls these methods of the results, "called by the pool's
machinery", never by the caller: ``set_outcome(index, ok, entries)`` (the
outcome of chunk ``index``: its values, or entries among which some are
``pool_worker.Failure``), ``abort(failure)`` (the pool was terminated),
``set_length(chunks)`` (an imap feeder has read its whole input); and reads
``job``, the result's key in ``cache``.
"""

import itertools
import threading
import time
import warnings

from . import util
from .exceptions import TimeoutError
# WorkerLostError, MaybeEncodingError, RemoteTraceback: re-exported, the spec's mpref.pool.X.
# RUN: CPython's mpref.pool.RUN, the state of a running pool (see Pool._state).
from .pool_core import RUN, Core, WorkerLostError, refuse_to_wait_in
from .pool_worker import Failure, MaybeEncodingError, RemoteTraceback
from .process import cpu_count, get_start_method

__all__ = ['Pool', 'AsyncResult', 'MapResult', 'IMapIterator', 'IMapUnorderedIterator',
           'WorkerLostError', 'MaybeEncodingError', 'RemoteTraceback']

#: How many chunks per worker ``map`` aims for when no chunksize is given.
CHUNKS_PER_WORKER = 4


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
        check_positive_int(processes, 'processes', 'Number of processes must be at least 1')
        if initializer is not None and not callable(initializer):
            raise TypeError('initializer must be a callable, not %s' % type(initializer).__name__)
        if maxtasksperchild is not None:
            try:
                check_positive_int(maxtasksperchild, 'maxtasksperchild',
                                   'maxtasksperchild must be at least 1')
            except TypeError as exc:
                raise ValueError(str(exc)) from None    # a wrong type too, as CPython
        method = context.get_start_method() if context is not None else get_start_method()
        self._core = Core(processes, initializer, tuple(initargs), maxtasksperchild, method)
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
        result = AsyncResult(self, callback, error_callback)
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

    def __del__(self, _warn=warnings.warn, RUN=RUN):
        # Beyond the spec (CPython 3.8): a pool collected while still running
        # -- neither closed nor terminated -- is a ResourceWarning (shown with
        # ``python -X dev`` or ``-W default``).  Its finalizer then terminates it.
        # (_warn and RUN are bound here: at interpreter shutdown module globals may be gone.)
        core = getattr(self, '_core', None)          # None if __init__ failed early
        if core is not None and self._state == RUN:
            _warn('unclosed running multiprocessing pool %r' % (self,), ResourceWarning,
                  source=self)

    @property
    def _state(self):
        """CPython's name for the pool's state: ``'RUN'``, ``'CLOSE'`` or ``'TERMINATE'``."""
        return self._core.state

    @_state.setter
    def _state(self, value):
        # CPython's own tests set it, to make __del__ warn about a pool they terminated.
        self._core.state = value

    def _repopulate_pool(self):
        """CPython's private method to start workers in place of those that exited
        (its tests call it after workers retire at ``maxtasksperchild``).

        Nothing to do here: the result thread starts a replacement as soon as
        a worker's sentinel says it has exited.
        """

    def __repr__(self):
        return '<%s.%s state=%s pool_size=%d>' % (
            type(self).__module__, type(self).__qualname__, self._core.state, len(self._pool))

    # -- helpers --------------------------------------------------------------

    def _map_async(self, func, iterable, star, chunksize, callback, error_callback):
        core = self._core
        core.check_running()
        if chunksize is not None:
            check_positive_int(chunksize, 'chunksize', 'chunksize must be at least 1')
        # Slicing needs a sequence; a range slices into small ranges, cheap to pickle.
        items = iterable if isinstance(iterable, (list, tuple, range)) else list(iterable)
        if chunksize is None:
            chunksize = max(1, -(-len(items) // (len(self._pool) * CHUNKS_PER_WORKER)))
        result = MapResult(self, len(items), chunksize, callback, error_callback)
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
        check_positive_int(chunksize, 'chunksize', 'chunksize must be at least 1')
        core.check_picklable(func)
        result = iterator_class(self)
        core.start_feeder(result, func, iterable, chunksize)
        return result


def check_positive_int(value, name, message):
    """Refuse a count that is not an ``int`` >= 1 (``mpref.dummy.Pool`` checks with it too)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError('%s must be an integer, not %s' % (name, type(value).__name__))
    if value < 1:
        raise ValueError('%s (got %d)' % (message, value))


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------

_job_counter = itertools.count()


class AsyncResult:
    """The result of ``apply_async`` (spec 16.6.2.9; CPython calls it ``ApplyResult``).

    Until it is complete it holds its ``Pool``: a pool nobody else refers to
    lives on while its results are due (see the module docstring).
    """

    def __init__(self, pool, callback=None, error_callback=None):
        self.job = next(_job_counter)           # its key in the core's cache
        self._pool = pool
        self._cache = pool._core.cache
        self._result_thread = pool._core.thread
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
            refuse_to_wait_in(self._result_thread)
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

    def set_outcome(self, index, ok, entries):
        """Called by the pool's machinery: the outcome of the task (chunk ``index``)."""
        with self._lock:
            if self._event.is_set():
                return      # terminate() failed it first (mpref.dummy: the thread ran on)
            if ok:
                self._value = entries[0]
            else:
                self._failure = entries[0]
            self._finish()

    def abort(self, failure):
        """Called by the pool's machinery: the pool was terminated before the result was ready."""
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
        self._cache.pop(self.job, None)
        if self._failure is None:
            callback, argument = self._callback, self._value
        else:
            callback, argument = self._error_callback, self._failure.exception
        if callback is not None:
            try:
                callback(argument)
            except BaseException:       # even SystemExit: the result thread must go on
                util.report_error('mpref.pool: exception in %s of %r (ignored):\n'
                                  % ('callback' if self._failure is None else 'error_callback',
                                     self))
        self._event.set()
        # Last: this may drop the last reference to the pool, and terminate it.
        self._pool = None


class MapResult(AsyncResult):
    """The result of ``map_async``/``starmap_async``: a list, filled chunk by chunk."""

    def __init__(self, pool, length, chunksize, callback=None, error_callback=None):
        super().__init__(pool, callback, error_callback)
        self._value = [None] * length
        self._chunksize = chunksize
        self._chunks_left = -(-length // chunksize)
        self._first_failure = None       # (item index, Failure)

    def set_outcome(self, index, ok, entries):
        """Called by the pool's machinery: the outcome of chunk ``index``."""
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
                if type(entry) is Failure:
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
    share one position.  Like an ``AsyncResult``, it holds its ``Pool`` until
    every result has arrived.
    """

    def __init__(self, pool):
        self.job = next(_job_counter)           # its key in the core's cache
        self._pool = pool
        self._cache = pool._core.cache
        self._result_thread = pool._core.thread
        self._cond = threading.Condition(threading.Lock())
        self._arrived = {}               # chunk index -> (ok, entries), not yet read
        self._chunks_read = 0
        self._chunks_received = 0
        self._length = None              # number of chunks; known when the feeder is done
        self._lost = None                # a Failure once the pool is terminated
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
                    refuse_to_wait_in(self._result_thread)
                if not _wait_condition(self._cond, deadline):
                    raise TimeoutError('the next result was not ready in time')

    def _take(self):
        return self._arrived.pop(self._chunks_read, None)

    def set_outcome(self, index, ok, entries):
        """Called by the pool's machinery: the outcome of chunk ``index``."""
        with self._cond:
            self._arrived[index] = (ok, entries)
            self._chunks_received += 1
            self._cond.notify_all()
            complete = self._chunks_received == self._length
        if complete:
            self._complete()

    def set_length(self, chunks):
        """Called by the pool's machinery: the feeder has read the whole input,
        and made ``chunks`` chunks."""
        with self._cond:
            self._length = chunks
            self._cond.notify_all()
            complete = self._chunks_received == chunks
        if complete:
            self._complete()

    def abort(self, failure):
        """Called by the pool's machinery: the pool was terminated."""
        with self._cond:
            self._lost = failure
            self._cond.notify_all()
        self._complete()

    def _complete(self):
        # Nothing more will arrive.  Out of the lock: letting the pool go
        # may terminate it, which aborts what is left in the cache.
        self._cache.pop(self.job, None)
        self._pool = None


class _RaisingAtFailures:
    """An iterator over a chunk's entries that raises each failed item's
    exception in its place, and carries on with the next item after it."""

    def __init__(self, entries):
        self._entries = iter(entries)

    def __iter__(self):
        return self

    def __next__(self):
        entry = next(self._entries)
        if type(entry) is Failure:
            entry.raise_it()
        return entry


class IMapUnorderedIterator(IMapIterator):
    """The iterator ``imap_unordered`` returns: results in the order they arrive."""

    def _take(self):
        if not self._arrived:
            return None
        return self._arrived.pop(next(iter(self._arrived)))


# --------------------------------------------------------------------------
# Waiting (any finite timeout works: waits are cut into slices)
# --------------------------------------------------------------------------

_now = time.monotonic


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

