"""``mpref.dummy.Pool``: the pool API over worker *threads* (spec 16.6.2.9, 16.6.2.13).

Chapter: ``notebooks/10_dummy.ipynb``.

The same methods as ``mpref.Pool`` -- ``apply``, ``apply_async``, ``map``,
``map_async``, ``starmap``, ``imap``, ``imap_unordered``, ``close``,
``terminate``, ``join`` -- and the same results (``get(timeout)``,
``ready()``, ``successful()``, ``wait()``, ``next(timeout)``), with none of
the machinery that processes need: a task is not pickled but put, as it is,
on one shared queue, and the worker threads that take it hand the outcome
straight to its result object::

    apply_async, map ------> task queue ------> PoolWorker-1, -2, ...  (threads)
    imap feeder thread --/   (result, index,      run the chunk, then
                              func, chunk)        result._set(index, outcomes)

A worker thread cannot die from a signal the way a worker process can, so
there is no result thread and no sentinel to watch.  Two things still need
care so that nothing waits for ever:

* ``terminate()`` (also run when the pool is garbage collected, or when a
  ``with`` block ends) fails every result not yet complete with
  ``WorkerLostError`` at once.  A thread cannot be killed, so a task already
  running goes on to its end in the background; ``join()`` waits for it.
* ``close()`` lets the workers go only after the last task is queued: an
  ``imap`` feeder still reading its input holds their stop messages back.

Threads share memory, so a result is the very object the function returned,
and an exception is re-raised with its own traceback.  (The GIL lets only one
thread run Python code at a time: this pool speeds up waiting -- I/O,
``time.sleep``, C code that releases the GIL -- not pure-Python computing;
the chapter measures both.)
"""

import itertools
import queue
import sys
import threading
import time
import traceback

from .. import util
from ..exceptions import TimeoutError
from ..pool import WorkerLostError
from ..process import cpu_count

__all__ = ['Pool', 'AsyncResult', 'MapResult', 'IMapIterator', 'IMapUnorderedIterator']

RUN, CLOSE, TERMINATE = 'RUN', 'CLOSE', 'TERMINATE'

#: How many chunks per worker ``map`` aims for when no chunksize is given.
CHUNKS_PER_WORKER = 4


class Pool:
    """A pool of worker threads with the API of ``mpref.Pool`` (spec 16.6.2.9).

    ``processes``: how many worker threads (default ``cpu_count()``), named
    ``PoolWorker-N``; ``initializer(*initargs)`` runs in each when it starts
    (if it raises, every task that worker takes fails with that exception).
    As in ``mpref.Pool``, ``_pool`` is the list of workers and ``_cache``
    holds the results not yet complete -- the spec's pool program looks at both.
    """

    def __init__(self, processes=None, initializer=None, initargs=()):
        if processes is None:
            processes = cpu_count()
        _check_positive_int(processes, 'processes', 'Number of processes must be at least 1')
        if initializer is not None and not callable(initializer):
            raise TypeError('initializer must be a callable, not %s' % type(initializer).__name__)
        # Workers and feeders hold the core, never the Pool: dropping the last
        # reference to the Pool collects it, and its finalizer terminates the core.
        self._core = _Core(processes, initializer, tuple(initargs))
        self._cache = self._core.cache
        self._pool = self._core.workers
        self._terminate = util.Finalize(self, self._core.terminate, exitpriority=15)

    def apply(self, func, args=(), kwds={}):
        """Call ``func(*args, **kwds)`` in a worker and return its result (blocks)."""
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        """Start ``func(*args, **kwds)`` in a worker; return an ``AsyncResult``.

        ``callback(value)`` / ``error_callback(exception)`` run in the worker
        thread, before ``get()`` and ``wait()`` return.
        """
        result = AsyncResult(self._core, callback, error_callback)
        self._core.submit(result, [(0, func, [tuple(args)], True, dict(kwds))])
        return result

    def map(self, func, iterable, chunksize=None):
        """``list(map(func, iterable))`` computed by the workers (blocks)."""
        return self.map_async(func, iterable, chunksize).get()

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """A ``MapResult`` for ``map(func, iterable, chunksize)``."""
        return self._map_async(func, iterable, False, chunksize, callback, error_callback)

    def starmap(self, func, iterable, chunksize=None):
        """Like ``map`` but calls ``func(*item)``.  Beyond the spec (Python 3.3)."""
        return self.starmap_async(func, iterable, chunksize).get()

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        """Like ``map_async`` but calls ``func(*item)``.  Beyond the spec (Python 3.3)."""
        return self._map_async(func, iterable, True, chunksize, callback, error_callback)

    def imap(self, func, iterable, chunksize=1):
        """An iterator over ``func(item)``, in input order; ``next(timeout)`` as in ``mpref.Pool``.

        A feeder thread reads ``iterable`` a chunk at a time, so it may be a
        long generator.  A failed item raises its exception at its position.
        """
        return self._imap(IMapIterator, func, iterable, chunksize)

    def imap_unordered(self, func, iterable, chunksize=1):
        """Like ``imap``, but results come in the order they are ready."""
        return self._imap(IMapUnorderedIterator, func, iterable, chunksize)

    def close(self):
        """Accept no more tasks; the workers leave once the queued work is done."""
        self._core.close()

    def terminate(self):
        """Take no more tasks and fail every result not yet complete, now.

        Tasks already running finish in the background (a thread cannot be
        stopped from outside).  Also runs when the pool is garbage collected.
        """
        self._terminate()

    def join(self):
        """Wait for the workers to leave; only after ``close()`` or ``terminate()``."""
        self._core.join()

    def __enter__(self):
        self._core.check_running()
        return self

    def __exit__(self, *exc_info):
        self.terminate()

    def __repr__(self):
        return '<%s.%s state=%s pool_size=%d>' % (
            type(self).__module__, type(self).__qualname__, self._core.state, len(self._pool))

    def _map_async(self, func, iterable, star, chunksize, callback, error_callback):
        self._core.check_running()
        if chunksize is not None:
            _check_positive_int(chunksize, 'chunksize', 'chunksize must be at least 1')
        items = list(iterable)
        if chunksize is None:
            chunksize = max(1, -(-len(items) // (len(self._pool) * CHUNKS_PER_WORKER)))
        result = MapResult(self._core, len(items), chunksize, callback, error_callback)
        if not items:
            result._finish()
            return result
        tasks = [(index, func, items[start:start + chunksize], star, {})
                 for index, start in enumerate(range(0, len(items), chunksize))]
        self._core.submit(result, tasks)
        return result

    def _imap(self, iterator_class, func, iterable, chunksize):
        self._core.check_running()
        _check_positive_int(chunksize, 'chunksize', 'chunksize must be at least 1')
        result = iterator_class(self._core)
        self._core.start_feeder(result, func, iterable, chunksize)
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


class _Failed:
    """A task item's outcome when the call raised: the exception itself."""

    __slots__ = ('exception',)

    def __init__(self, exception):
        self.exception = exception


class AsyncResult:
    """What ``apply_async`` returns: ``get``, ``wait``, ``ready``, ``successful``."""

    def __init__(self, core, callback=None, error_callback=None):
        self._job = next(_job_counter)
        self._cache = core.cache
        self._callback, self._error_callback = callback, error_callback
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._completed = False
        self._value = None
        self._exception = None

    def ready(self):
        """Return whether the call has completed (successfully or not)."""
        return self._event.is_set()

    def successful(self):
        """Whether the call completed without raising; ``AssertionError`` if not ready."""
        if not self._event.is_set():
            raise AssertionError('the result is not ready yet: check ready() or wait() first')
        return self._exception is None

    def wait(self, timeout=None):
        """Wait until the result is ready or ``timeout`` seconds have passed."""
        self._event.wait(util.check_timeout(timeout))

    def get(self, timeout=None):
        """Return the result, waiting up to ``timeout`` seconds (None: for ever).

        ``mpref.TimeoutError`` if not ready in time; the call's own exception
        if it raised; ``WorkerLostError`` if the pool was terminated first.
        """
        self.wait(timeout)
        if not self._event.is_set():
            raise TimeoutError('the result was not ready within %s seconds' % (timeout,))
        if self._exception is not None:
            raise self._exception
        return self._value

    def _set(self, index, outcomes):
        # Called by a worker thread with the outcome of the task's one item.
        if type(outcomes[0]) is _Failed:
            self._complete(None, outcomes[0].exception)
        else:
            self._complete(outcomes[0], None)

    def _abort(self, exception):
        self._complete(None, exception)

    def _complete(self, value, exception):
        # The first outcome wins: a worker's, or terminate()'s abort.
        with self._lock:
            if self._completed:
                return
            self._completed = True
        self._value, self._exception = value, exception
        self._finish()

    def _finish(self):
        # The callback runs before the event is set: wait() returning means it has run.
        if self._exception is None:
            callback, argument, which = self._callback, self._value, 'callback'
        else:
            callback, argument, which = self._error_callback, self._exception, 'error_callback'
        if callback is not None:
            try:
                callback(argument)
            except Exception:
                sys.stderr.write('mpref.dummy.pool: exception in %s of %r (ignored):\n'
                                 % (which, self))
                traceback.print_exc()
        self._cache.pop(self._job, None)
        self._event.set()


class MapResult(AsyncResult):
    """What ``map_async`` returns: a list filled chunk by chunk."""

    def __init__(self, core, length, chunksize, callback=None, error_callback=None):
        super().__init__(core, callback, error_callback)
        self._values = [None] * length
        self._chunksize = chunksize
        self._chunks_left = -(-length // chunksize)
        self._first_failure = None          # (item index, exception)

    def _set(self, index, outcomes):
        start = index * self._chunksize
        with self._lock:                    # several workers fill one list
            self._values[start:start + len(outcomes)] = outcomes
            for offset, outcome in enumerate(outcomes):
                if type(outcome) is _Failed:
                    if self._first_failure is None or start + offset < self._first_failure[0]:
                        self._first_failure = (start + offset, outcome.exception)
                    break
            self._chunks_left -= 1
            if self._chunks_left:
                return
        if self._first_failure is not None:
            self._complete(None, self._first_failure[1])
        else:
            self._complete(self._values, None)

    def _finish(self):
        if self._exception is None:
            self._value = self._values      # also for an empty input
        super()._finish()


class IMapIterator:
    """What ``imap`` returns: results in input order; ``next(timeout=None)``."""

    def __init__(self, core):
        self._job = next(_job_counter)
        self._cache = core.cache
        self._cond = threading.Condition(threading.Lock())
        self._arrived = {}                  # chunk index -> outcomes, not yet read
        self._chunks_read = 0
        self._chunks_received = 0
        self._length = None                 # number of chunks, once the feeder is done
        self._lost = None                   # the exception, once terminated
        self._current = iter(())            # outcomes of the chunk being read

    def __iter__(self):
        return self

    def __next__(self):
        return self.next()

    def next(self, timeout=None):
        """Return the next result, waiting up to ``timeout`` seconds.

        ``mpref.TimeoutError`` if it does not come in time; ``StopIteration``
        at the end; the item's own exception if its call raised.
        """
        timeout = util.check_timeout(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                for outcome in self._current:
                    return _value_of(outcome)
                remaining = None if deadline is None else deadline - time.monotonic()
                if not self._cond.wait_for(self._next_chunk_ready, remaining):
                    raise TimeoutError('the next result was not ready in time')
                outcomes = self._take()
                if outcomes is None:
                    if self._lost is not None:
                        raise self._lost
                    raise StopIteration
                self._chunks_read += 1
                self._current = iter(outcomes)

    def _next_chunk_ready(self):
        return (self._lost is not None or self._ready_chunk() is not None
                or self._length == self._chunks_read)

    def _ready_chunk(self):
        return self._chunks_read if self._chunks_read in self._arrived else None

    def _take(self):
        return self._arrived.pop(self._chunks_read, None)

    def _set(self, index, outcomes):
        with self._cond:
            self._arrived[index] = outcomes
            self._chunks_received += 1
            self._cond.notify_all()
            if self._chunks_received == self._length:
                self._cache.pop(self._job, None)

    def _set_length(self, chunks):
        with self._cond:
            self._length = chunks
            self._cond.notify_all()
            if self._chunks_received == chunks:
                self._cache.pop(self._job, None)

    def _abort(self, exception):
        with self._cond:
            self._lost = exception
            self._cond.notify_all()
            self._cache.pop(self._job, None)


class IMapUnorderedIterator(IMapIterator):
    """What ``imap_unordered`` returns: results in the order they are ready."""

    def _ready_chunk(self):
        return next(iter(self._arrived), None)

    def _take(self):
        if not self._arrived:
            return None
        return self._arrived.pop(next(iter(self._arrived)))


def _value_of(outcome):
    if type(outcome) is _Failed:
        raise outcome.exception
    return outcome


# --------------------------------------------------------------------------
# The machinery: one task queue, worker threads, imap feeder threads
# --------------------------------------------------------------------------

class _Core:
    """The pool's state, shared by its threads; never refers to the ``Pool``.

    ``lock`` guards ``state`` and ``feeders`` (imap feeders still reading):
    the workers' stop messages go on the queue only when both allow it.
    """

    def __init__(self, processes, initializer, initargs):
        # Imported here: dummy/__init__.py imports this module for Pool.
        from . import Process
        self.lock = threading.Lock()
        self.state = RUN
        self.cache = {}
        self.tasks = queue.SimpleQueue()    # (result, index, func, chunk, star, kwds) or None
        self.feeders = 0
        self.feeder_threads = []
        self.workers = [Process(target=_worker, args=(self.tasks, initializer, initargs),
                                name='PoolWorker-%d' % (n + 1), daemon=True)
                        for n in range(processes)]
        for worker in self.workers:
            worker.start()

    def check_running(self):
        if self.state != RUN:
            raise ValueError('Pool not running: it has been %s, so it accepts no new tasks'
                             % ('closed' if self.state == CLOSE else 'terminated'))

    def submit(self, result, tasks):
        with self.lock:
            self.check_running()
            self.cache[result._job] = result
            for task in tasks:
                self.tasks.put((result, *task))

    def start_feeder(self, result, func, iterable, chunksize):
        with self.lock:
            self.check_running()
            self.cache[result._job] = result
            self.feeders += 1
            feeder = threading.Thread(target=self._feed, args=(result, func, iterable, chunksize),
                                      name='mpref-dummy-pool-feeder', daemon=True)
            self.feeder_threads.append(feeder)
        feeder.start()

    def _feed(self, result, func, iterable, chunksize):
        index = 0
        try:
            iterator = iter(iterable)
            while True:
                chunk = list(itertools.islice(iterator, chunksize))
                if not chunk:
                    break
                with self.lock:
                    if self.state == TERMINATE:
                        return              # terminate() has failed the result
                    self.tasks.put((result, index, func, chunk, False, {}))
                index += 1
        except Exception as exc:
            # The input itself raised: that is the last "item".
            result._set(index, [_Failed(exc)])
            index += 1
        finally:
            result._set_length(index)
            with self.lock:
                self.feeders -= 1
                self._stop_workers_if_done_locked()

    def _stop_workers_if_done_locked(self):
        if self.state != RUN and not self.feeders:
            for _ in self.workers:
                self.tasks.put(None)        # each worker leaves at its stop message
            self.feeders = -1               # sent: never again

    def close(self):
        with self.lock:
            if self.state == RUN:
                self.state = CLOSE
                self._stop_workers_if_done_locked()

    def terminate(self):
        with self.lock:
            if self.state == TERMINATE:
                return
            self.state = TERMINATE
            # Tasks not started yet will never run: take them off the queue.
            while True:
                try:
                    self.tasks.get_nowait()
                except queue.Empty:
                    break
            self._stop_workers_if_done_locked()
        util.debug('terminating thread pool')
        for result in list(self.cache.values()):
            result._abort(WorkerLostError('the pool was terminated before this result was ready'))

    def join(self):
        if self.state == RUN:
            raise ValueError('Pool is still running: call close() or terminate() before join()')
        for thread in self.feeder_threads + self.workers:
            if thread is not threading.current_thread():
                thread.join()


def _worker(tasks, initializer, initargs):
    """A worker thread: take a task, run each item of its chunk, report, repeat."""
    broken = None
    if initializer is not None:
        try:
            initializer(*initargs)
        except Exception as exc:
            broken = exc        # every task this worker takes fails with it
    while True:
        task = tasks.get()
        if task is None:
            return
        result, index, func, chunk, star, kwds = task
        outcomes = []
        for item in chunk:
            if broken is not None:
                outcomes.append(_Failed(broken))
                continue
            try:
                outcomes.append(func(*item, **kwds) if star else func(item))
            except Exception as exc:
                outcomes.append(_Failed(exc))
            except BaseException as exc:
                # SystemExit and the like would end this thread silently and
                # leave the result waiting for ever: fail the task as a process
                # pool does when its worker dies, and keep the worker.
                lost = WorkerLostError('%s raised %r in %s while running task %d'
                                       % (getattr(func, '__name__', func), exc,
                                          threading.current_thread().name, index))
                lost.__cause__ = exc
                outcomes.append(_Failed(lost))
        result._set(index, outcomes)
        del task, result, outcomes      # a finished result need not wait for the next task
