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
                              func, chunk)        result.set_outcome(index, ok, entries)

A worker thread cannot die from a signal the way a worker process can, so
there is no result thread and no sentinel to watch.  Two things still need
care so that nothing waits for ever:

* ``terminate()`` (also run when the pool is garbage collected, or when a
  ``with`` block ends) fails every result not yet complete with
  ``WorkerLostError`` at once.  A thread cannot be killed, so a task already
  running goes on to its end in the background; ``join()`` waits for it.
* ``close()`` lets the workers go only after the last task is queued: an
  ``imap`` feeder still reading its input holds their stop messages back.

The front is ``mpref.Pool``'s own -- this ``Pool`` inherits every method, and
the results are ``mpref.pool``'s ``AsyncResult``, ``MapResult`` and ``imap``
iterators -- only the machinery behind them (``ThreadCore``) is new.  It
keeps the promises of the seam written down in ``mpref/pool.py``'s docstring,
as ``mpref.pool_core.Core`` does with processes.  Threads share memory, so a
result is the very object the function returned, and an exception is
re-raised with its own traceback.  (The GIL lets only one thread run Python
code at a time: this pool speeds up waiting -- I/O, ``time.sleep``, C code
that releases the GIL -- not pure-Python computing; the chapter measures
both.)
"""

import itertools
import queue
import threading

from .. import pool, util
from ..pool import (AsyncResult, IMapIterator, IMapUnorderedIterator, MapResult,
                    check_positive_int)
from ..pool_core import CLOSE, RUN, TERMINATE, WorkerLostError
from ..pool_worker import Failure
from ..process import cpu_count
from .process import Process

__all__ = ['Pool', 'AsyncResult', 'MapResult', 'IMapIterator', 'IMapUnorderedIterator']


class Pool(pool.Pool):
    """A pool of worker threads with the API of ``mpref.Pool`` (spec 16.6.2.9).

    ``processes``: how many worker threads (default ``cpu_count()``), named
    ``PoolWorker-N``; ``initializer(*initargs)`` runs in each when it starts
    (if it raises, every task that worker takes fails with that exception).
    Every method is ``mpref.Pool``'s, with two differences: ``callback`` and
    ``error_callback`` run in the worker thread that finished the task, and
    nothing is pickled.  As in ``mpref.Pool``, ``_pool`` is the list of
    workers and ``_cache`` holds the results not yet complete.
    """

    def __init__(self, processes=None, initializer=None, initargs=()):
        if processes is None:
            processes = cpu_count()
        check_positive_int(processes, 'processes', 'Number of processes must be at least 1')
        if initializer is not None and not callable(initializer):
            raise TypeError('initializer must be a callable, not %s' % type(initializer).__name__)
        # Workers and feeders hold the core, never the Pool: dropping the last
        # reference to the Pool collects it, and its finalizer terminates the core.
        self._core = ThreadCore(processes, initializer, tuple(initargs))
        self._cache = self._core.cache
        self._pool = self._core.processes
        self._terminate = util.Finalize(self, self._core.terminate, exitpriority=15)

    def terminate(self):
        """Take no more tasks and fail every result not yet complete, now.

        Tasks already running finish in the background (a thread cannot be
        stopped from outside).  Also runs when the pool is garbage collected.
        """
        self._terminate()


# --------------------------------------------------------------------------
# The machinery: one task queue, worker threads, imap feeder threads
# --------------------------------------------------------------------------

class ThreadCore:
    """The pool's state, shared by its threads; never refers to the ``Pool``.

    ``lock`` guards ``state`` and ``feeders`` (imap feeders still reading):
    the workers' stop messages go on the queue only when both allow it.
    """

    def __init__(self, processes, initializer, initargs):
        self.lock = threading.Lock()
        self.state = RUN
        self.cache = {}
        self.tasks = queue.SimpleQueue()    # (result, index, func, chunk, star, kwds) or None
        self.feeders = 0
        self.feeder_threads = []
        self.thread = None                  # no result thread: the workers deliver
        self.processes = [Process(target=_worker, args=(self.tasks, initializer, initargs),
                                  name='PoolWorker-%d' % (n + 1), daemon=True)
                          for n in range(processes)]
        for worker in self.processes:
            worker.start()

    def check_running(self):
        if self.state != RUN:
            raise ValueError('Pool not running: it has been %s, so it accepts no new tasks'
                             % ('closed' if self.state == CLOSE else 'terminated'))

    def check_picklable(self, func):
        """Nothing is pickled between threads: any callable will do."""

    def make_task(self, result, index, func, chunk, star, kwds):
        """A task is the call itself, as it is: ``(result, index, func, chunk, star, kwds)``."""
        return (result, index, func, chunk, star, dict(kwds))

    def submit(self, result, tasks):
        with self.lock:
            self.check_running()
            self.cache[result.job] = result
            for task in tasks:
                self.tasks.put(task)

    def start_feeder(self, result, func, iterable, chunksize):
        with self.lock:
            self.check_running()
            self.cache[result.job] = result
            self.feeders += 1
            feeder = threading.Thread(target=self._feed, args=(result, func, iterable, chunksize),
                                      name='mpref-dummy-pool-feeder', daemon=True)
            self.feeder_threads.append(feeder)
        feeder.start()

    def _feed(self, result, func, iterable, chunksize):
        index = 0
        terminated = False
        try:
            iterator = iter(iterable)
            while True:
                chunk = list(itertools.islice(iterator, chunksize))
                if not chunk:
                    break
                with self.lock:
                    if self.state == TERMINATE:
                        terminated = True
                        return
                    self.tasks.put((result, index, func, chunk, False, {}))
                index += 1
        except Exception as exc:
            # The input itself raised: that is the last "item".
            result.set_outcome(index, False, [Failure(exc)])
            index += 1
        finally:
            # As in pool_core.Core._feed: cut short, the input has no length,
            # and the result waits in the cache for terminate() to fail it.
            if not terminated:
                result.set_length(index)
            with self.lock:
                self.feeders -= 1
                self._stop_workers_if_done_locked()

    def _stop_workers_if_done_locked(self):
        if self.state != RUN and not self.feeders:
            for _ in self.processes:
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
        lost = Failure(WorkerLostError('the pool was terminated before this result was ready'))
        for result in list(self.cache.values()):
            result.abort(lost)

    def join(self):
        if self.state == RUN:
            raise ValueError('Pool is still running: call close() or terminate() before join()')
        for thread in self.feeder_threads + self.processes:
            if thread is not threading.current_thread():
                thread.join()


def _worker(tasks, initializer, initargs):
    """A worker thread: take a task, run it, repeat until the stop message."""
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
        # In a function of its own: when it returns, nothing of the task (its
        # arguments, its values) stays alive while this thread waits for the next.
        _run_task(*task, broken)
        task = None


def _run_task(result, index, func, chunk, star, kwds, broken):
    """Run each item of a chunk and hand the outcome to its result."""
    entries = []
    for item in chunk:
        if broken is not None:
            entries.append(Failure(broken))
            continue
        try:
            entries.append(func(*item, **kwds) if star else func(item))
        except Exception as exc:
            entries.append(Failure(exc))
        except BaseException as exc:
            # SystemExit and the like would end this thread silently and
            # leave the result waiting for ever: fail the task as a process
            # pool does when its worker dies, and keep the worker.
            lost = WorkerLostError('%s raised %r in %s while running task %d'
                                   % (getattr(func, '__name__', func), exc,
                                      threading.current_thread().name, index))
            lost.__cause__ = exc
            entries.append(Failure(lost))
    ok = not any(type(entry) is Failure for entry in entries)
    result.set_outcome(index, ok, entries)
