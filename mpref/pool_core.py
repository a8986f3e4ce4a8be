"""The parent's machinery of a process pool: workers with a pipe pair each, one lock, a result thread.

Spec 16.6.2.9 (process pools).  Chapter: ``notebooks/07_pool.ipynb``.  The
caller holds ``pool.py``'s objects (``Pool``, its results); this module is the
*core* behind them (the seam between the two is written down in ``pool.py``'s
docstring); the workers run ``pool_worker.worker_main``.  The data path of
``Pool.map`` step by step: ``docs/pool.md``.

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
  while running task 17 (...)", or "... before taking task 17" when the task
  was still unread in its pipe: the worker died in its initializer or while
  starting) and starts a replacement; every other task goes on.  CPython's
  workers share one task queue, so a dead worker takes its task's identity
  with it and ``get()`` waits for ever.
* **No task-handler thread.**  Whoever makes work possible dispatches it,
  under the pool's lock: the caller right after pickling its tasks, or the
  result thread when a worker becomes idle.  An ``apply_async`` to an idle
  pool is written straight to a worker's pipe by the calling thread -- one
  thread hop fewer than CPython's pool.
* **Every task is a chunk.**  A task is ``(func, chunk, star, kwds)``: call
  ``func`` on each item of ``chunk`` (``func(*item, **kwds)`` when ``star``).
  ``map`` cuts its input into chunks of ``chunksize`` items; ``apply`` is a
  chunk of one.  The worker answers ``(True, values)``, or ``(False,
  entries)`` where a failed item's entry is a ``Failure`` (the exception and
  the worker's traceback).  A failing item does not stop its chunk, so every
  item gets its own outcome: ``imap`` raises at exactly the failing item and
  carries on after it, whatever the chunksize.
* **Tasks are pickled by the caller** (``imap``: by its feeder thread, after
  the caller has checked the function), so an unpicklable function or
  argument fails the call that passed it, at once.  Under ``spawn`` the function is
  first checked the way ``Process.start`` checks a target, so a function from
  an interactive ``__main__`` fails with the same explanation.

``Core``'s methods stand in the order a task travels -- submitted (by the
caller, or an imap feeder), dispatched, run by a worker, received by the result
thread, delivered to its result -- then what happens when a worker dies, and
how the pool ends; each one's docstring says which thread runs it.
"""

import array
import collections
import fcntl
import io
import itertools
import os
import pickle
import selectors
import signal
import termios
import threading
import time

from . import util
from .framing import Pipe
from .exceptions import ProcessError
from .popen_spawn import ChildPickler
from .pool_worker import Failure, MaybeEncodingError, worker_main
from .process import ForkProcess, SpawnProcess

__all__ = ['Core', 'Task', 'Worker', 'WorkerLostError', 'RUN', 'CLOSE', 'TERMINATE',
           'refuse_to_wait_in']

# The pool's life: RUN until close() (no new tasks; workers leave when the
# work is done) or terminate() (workers killed now).  mpref.dummy's thread
# pool has the same three states.
RUN, CLOSE, TERMINATE = 'RUN', 'CLOSE', 'TERMINATE'

#: Every so often (seconds) the result thread also looks at the exit codes of
#: the workers running tasks: see ``Core._reap_silent_deaths``.
SILENT_DEATH_CHECK_INTERVAL = 1.0

#: An imap feeder waits while the backlog holds this many tasks per worker:
#: enough to keep every worker busy, without reading a long input all at once.
FEED_AHEAD_PER_WORKER = 2


class WorkerLostError(ProcessError):
    """A task was lost: its worker died while running it, or the pool was
    terminated before it finished.  Beyond the spec (CPython waits for ever).

    Spelled ``mpref.pool.WorkerLostError``; defined here, where it is raised.
    """


class Task:
    """One pickled task and where its outcome goes."""

    __slots__ = ('number', 'result', 'index', 'size', 'what', 'payload')

    def __init__(self, number, result, index, size, what, payload):
        self.number, self.result, self.index = number, result, index
        self.size, self.what, self.payload = size, what, payload


class Worker:
    """The parent's view of one worker: its process, its pipes, its task."""

    def __init__(self, process, tasks, results):
        self.process = process
        self.tasks = tasks            # we send tasks here
        self.results = results        # and read outcomes here
        self.task = None              # the Task it is running, if any
        self.done = 0                 # tasks completed
        self.alive = True
        self.results_open = True      # results pipe still registered


class Core:
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
        self.workers = []                 # the live Worker records
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
        """Start the workers, then the result thread.  Thread: the caller (``Pool()``)."""
        for _ in range(self.size):
            self._add_worker()
        self.thread.start()

    # -- submitting: the caller, or an imap feeder ----------------------------

    def check_owner(self):
        """Raise ``RuntimeError`` in a forked child of the pool's process.  Thread: the caller."""
        # A forked child has a copy of the pool but none of its threads, and
        # the workers' pipes are shared with the parent: using them would
        # steal or corrupt the parent's tasks.
        if os.getpid() != self.owner_pid:
            raise RuntimeError('a pool can only be used by the process that created it '
                               '(pid %d), not by a child it forked' % self.owner_pid)

    def check_running(self):
        """Raise ``ValueError`` after ``close()`` or ``terminate()``.  Thread: the caller."""
        self.check_owner()
        if self.state != RUN:
            raise ValueError('Pool not running: it has been %s, so it accepts no new tasks'
                             % ('closed' if self.state == CLOSE else 'terminated'))

    def check_picklable(self, func):
        """Refuse a function the workers could not receive.  Thread: the caller, or a feeder."""
        if self.method == 'spawn':
            pickler = ChildPickler(io.BytesIO(), pickle.HIGHEST_PROTOCOL)
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
        """Pickle chunk ``index`` of ``result``'s work: a ``Task``.  Thread: the caller, or a feeder."""
        if index == 0 and self.method == 'spawn':
            self.check_picklable(func)      # under fork, pickling the payload is the check
        payload = self._pickle_task(func, chunk, star, kwds)
        what = getattr(func, '__qualname__', None) or repr(func)
        what = '%s, %d item%s' % (what, len(chunk), '' if len(chunk) == 1 else 's')
        return Task(next(self.task_numbers), result, index, len(chunk), what, payload)

    @staticmethod
    def _pickle_task(func, chunk, star=False, kwds={}):
        # Whatever pickle raises goes to the caller unchanged, as in CPython:
        # TypeError for a lock, AttributeError for a nested function, ...
        return pickle.dumps((func, chunk, star, kwds), pickle.HIGHEST_PROTOCOL)

    def submit(self, result, tasks):
        """Register ``result``, queue its tasks, dispatch (``ValueError`` if not running).

        Thread: the caller.
        """
        with self.lock:
            self.check_running()
            self.cache[result.job] = result
            self.backlog.extend(tasks)
            self._dispatch_locked()

    def start_feeder(self, result, func, iterable, chunksize):
        """Register an imap ``result`` and start its feeder thread.  Thread: the caller."""
        with self.lock:
            self.check_running()
            self.cache[result.job] = result
            self.feeders += 1
        threading.Thread(target=self._feed, args=(result, func, iterable, chunksize),
                         name='mpref-pool-feeder', daemon=True).start()

    def _feed(self, result, func, iterable, chunksize):
        """Read the input a chunk at a time, pickle, queue.  Thread: the imap's own feeder."""
        index = 0
        terminated = False
        try:
            for chunk, error in _chunks(iterable, chunksize):
                if chunk:
                    try:
                        task = self.make_task(result, index, func, chunk, False, {})
                    except Exception as exc:
                        result.set_outcome(index, False, [Failure.here(exc)] * len(chunk))
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
                    result.set_outcome(index, False, [Failure.here(error)])
                    index += 1
        except Exception as exc:                      # iter(iterable) itself failed
            result.set_outcome(index, False, [Failure.here(exc)])
            index += 1
        finally:
            # Cut short by terminate(), the input has no length: the result
            # stays in the cache until terminate() fails it (a length would
            # end the iteration quietly, or take it out of the cache first).
            if not terminated:
                result.set_length(index)
            with self.lock:
                self.feeders -= 1
                if self.state != TERMINATE:
                    self._dispatch_locked()

    # -- dispatching: whoever made work possible, holding the lock -------------

    def _dispatch_locked(self):
        """Give backlog tasks to idle workers; when closing and done, stop them.

        Thread: whoever made work possible, holding the lock -- the caller
        (``submit``, ``close``), an imap feeder, or the result thread (a worker
        came free, or a replacement started).
        """
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

    # -- the worker: pool_worker.worker_main runs the task; here, starting one --

    def _add_worker(self, instead_of=None):
        """Start a worker (``instead_of`` a dead one) and make it idle.

        Thread: the caller (``start``, from ``Pool()``), or the result thread (a replacement).
        """
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
            target=worker_main, daemon=True,
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
        worker = Worker(process, task_w, result_r)
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

    # -- receiving: the result thread ----------------------------------------

    def _handle_results(self):
        """Wait for outcomes, deaths and the wake-up pipe; act on each.  Thread: the result thread."""
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
            util.report_error('mpref.pool: the result thread failed; terminating the pool:\n')
            self.terminate()
        finally:
            self._close_pipes()

    def _receive(self, worker):
        """Read one outcome from ``worker``'s result pipe.  Thread: the result thread."""
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
        """Free the worker (and dispatch), then unpickle and deliver.  Thread: the result thread."""
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
            ok, entries = False, [Failure(MaybeEncodingError(
                'the outcome of task %d (%s) came back from %s but could not be unpickled: %s: %s'
                % (task.number, task.what, worker.process.name, type(exc).__name__, exc),
                repr(exc), '<the outcome of task %d>' % task.number))]
        self._deliver(task, ok, entries)

    # -- delivering: the result thread -----------------------------------------

    def _deliver(self, task, ok, entries):
        """Hand a task's outcome to its result (``set_outcome``).  Thread: the result thread."""
        if not ok and len(entries) != task.size:
            entries = entries[:1] * task.size      # one failure for the whole task
        try:
            task.result.set_outcome(task.index, ok, entries)
        except Exception:
            util.report_error('mpref.pool: could not store the outcome of task %d:\n'
                              % task.number)

    # -- reaping a worker that has exited: the result thread -------------------

    def _reap(self, worker):
        """The worker's sentinel fired: it has exited.  Collect, fail, replace.  Thread: the result thread."""
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
        # Task bytes still unread in its pipe: the worker died before taking
        # the task -- in its initializer, or while starting -- not running it.
        when = 'before taking' if lost is not None and _unread(worker.tasks) else 'while running'
        worker.tasks.close()
        worker.results.close()
        if lost is not None:
            util.info('worker %s died %s task %d', worker.process.name, when, lost.number)
            self._deliver(lost, False, [Failure(WorkerLostError(
                'worker %s died with exit code %s %s task %d (%s)%s'
                % (worker.process.name, _describe_exitcode(exitcode), when, lost.number, lost.what,
                   ': it died in its initializer or while starting, and the task never ran'
                   if when == 'before taking' else '')))])
        # Not if delivering that failure has just terminated the pool (its
        # callback did, or the result was the last reference to its Pool).
        if replace and self.state != TERMINATE:
            try:
                self._add_worker(instead_of=worker.process)
            except Exception as exc:
                self._no_replacement(exc)

    def _reap_silent_deaths(self):
        """Reap busy workers that exited with their sentinel still open.  Thread: the result thread."""
        # A worker's sentinel and result pipe stay open after its death if a
        # task forked a process of its own (with a bare os.fork) that holds
        # copies of them.  So while tasks run, look at the exit codes too.
        for worker in list(self.workers):
            if worker.task is not None and worker.process.exitcode is not None:
                self._reap(worker)

    def _no_replacement(self, exc):
        """Starting a replacement failed: report it.  Thread: the result thread."""
        # With no worker left, queued tasks would wait for ever: fail them instead.
        util.report_error('mpref.pool: could not start a replacement worker: %r\n' % (exc,))
        with self.lock:
            if self.workers:
                return
            tasks = list(self.backlog)
            self.backlog.clear()
        failure = Failure(WorkerLostError('no worker left to run this task: starting one '
                                          'failed with %s: %s' % (type(exc).__name__, exc)))
        for task in tasks:
            self._deliver(task, False, [failure])

    # -- ending ----------------------------------------------------------------

    def close(self):
        """No new tasks; the workers are stopped once the work is done.  Thread: the caller."""
        self.check_owner()
        with self.lock:
            if self.state == RUN:
                self.state = CLOSE
                self._dispatch_locked()

    def join(self):
        """Wait for the result thread and the workers (after close/terminate).  Thread: the caller."""
        self.check_owner()
        if self.state == RUN:
            raise ValueError('Pool is still running: call close() or terminate() before join()')
        refuse_to_wait_in(self.thread)
        if self.thread.ident is not None and self.thread is not threading.current_thread():
            self.thread.join()
        for process in list(self.processes):
            process.join()

    def terminate(self):
        """Stop the result thread and the workers now; fail what is outstanding.

        Thread: the caller (``Pool.terminate``, the end of a ``with`` block),
        the finalizer (garbage collection, interpreter exit), or the result
        thread itself when it fails.
        """
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
        lost = Failure(WorkerLostError('the pool was terminated before this result was ready'))
        for result in list(self.cache.values()):
            result.abort(lost)

    def _close_pipes(self):
        """Close every pipe and the selector.  Thread: the result thread, on its way out
        (or ``terminate``, when that thread never started)."""
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


def refuse_to_wait_in(result_thread):
    """``RuntimeError`` if called in ``result_thread``: a callback must not wait for the pool.

    Called by ``Core.join`` and by the results' waits (``pool.AsyncResult.wait``,
    ``pool.IMapIterator.next``) before they wait without a timeout.
    """
    # A callback that waits for the pool would wait for ever: the results it
    # waits for can only arrive through the thread that is running it.
    if threading.current_thread() is result_thread:
        raise RuntimeError('a callback cannot wait for the pool (get(), wait(), next() or '
                           "join() without a timeout): it runs in the pool's result thread, "
                           'which is the one that would have to deliver the result')


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

_now = time.monotonic


def _chunks(iterable, chunksize):
    """Yield ``(chunk, error)``: the input ``chunksize`` items at a time.

    A list, tuple or range is sliced (a range slices into a small range,
    cheap to pickle); anything else is read with ``islice``.  If reading
    raises, the last pair is ``([], exception)``: the exception takes the
    place of the whole chunk being read, whose first items are dropped -- as
    in CPython, where ``next()`` raises it right after the last full chunk.
    """
    if isinstance(iterable, (list, tuple, range)):
        for start in range(0, len(iterable), chunksize):
            yield iterable[start:start + chunksize], None
        return
    iterator = iter(iterable)
    while True:
        try:
            chunk = list(itertools.islice(iterator, chunksize))
        except Exception as exc:
            yield [], exc
            return
        if chunk:
            yield chunk, None
        if len(chunk) < chunksize:
            return


def _unread(conn):
    """How many bytes written to ``conn`` (a pipe's write end) nobody has read
    yet; 0 where the system cannot say (``FIONREAD`` on a write end is Linux's)."""
    count = array.array('i', [0])
    try:
        fcntl.ioctl(conn.fileno(), termios.FIONREAD, count)
    except OSError:
        return 0
    return count[0]


def _describe_exitcode(exitcode):
    if exitcode is not None and exitcode < 0:
        try:
            return '%d (%s)' % (exitcode, signal.Signals(-exitcode).name)
        except ValueError:
            pass
    return str(exitcode)
