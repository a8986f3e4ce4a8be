"""``Queue`` and ``JoinableQueue``: a pipe, a few semaphores and a feeder thread
(spec 16.6.1.2, 16.6.2.2, and the guideline "Joining processes that use queues"
in 16.6.3.1).

Chapter: ``notebooks/04_queues.ipynb``.

A queue is built from pieces that already exist one layer down:

==================  ========================================================
``_reader``         the receiving end of a one-way ``framing.Pipe``
``_writer``         its sending end; every process holding the queue has both
``_rlock``          a ``synchronize.Lock``: one reader at a time takes a whole
                    message out of the pipe
``_turn``           a per-process ``threading.Lock``: one thread of this process
                    at a time reads (it may continue a message half read)
``_wlock``          a ``synchronize.Lock``: one writer at a time puts whole
                    messages into the pipe, so messages never interleave
``_free_slots``     a ``synchronize.BoundedSemaphore(maxsize)`` counting the
                    *free slots*: ``put`` takes one, ``get`` gives one back
``_creator_pid``    the pid of the process that created the queue
``_buffer``         a per-process ``collections.deque`` of pickled objects
                    waiting to go into the pipe
``_notempty``       a ``threading.Condition`` the feeder thread sleeps on
``_thread``         the **feeder thread**, started by the first ``put``
==================  ========================================================

How one object travels (``put`` to ``get``):

1. ``put(obj)`` pickles ``obj`` *in the caller*: an object that cannot be
   pickled raises right there, and nothing about the queue changes.
2. ``put`` takes a free slot from ``_free_slots`` (this is where a bounded queue
   blocks, or raises ``queue.Full``), appends the bytes to ``_buffer`` and
   wakes the feeder thread.  It returns at once.
3. The feeder thread takes everything in ``_buffer``, acquires ``_wlock`` and
   writes the messages into the pipe: small ones joined into few writes
   (``Connection.send_bytes_many``), a large one alone (``send_bytes``).
4. ``get()`` acquires ``_rlock``, reads one message with
   ``Connection.recv_bytes_by`` (bounded by its timeout as a whole), gives
   the slot back to ``_free_slots``, releases ``_rlock`` and unpickles the
   bytes (after releasing the lock, so other readers need not wait for the
   unpickling).
   If the timeout expires with a message half read, ``get`` raises
   ``queue.Empty`` and keeps both the part read and ``_rlock``: the next
   ``get`` in this process continues that message.

**Why a feeder thread?**  A pipe holds only so much (64 KiB on Linux).  If
``put`` wrote to the pipe itself, it would block whenever nobody was reading
-- a ``put`` on an unbounded queue would hang.  The feeder thread does the
blocking writes instead, so ``put`` never waits for the pipe, only for a free
slot.  The price is the spec's warning: objects can sit in the buffer, in the
process that put them, after ``put`` has returned.  So a process that has put
items waits, when it exits, until its feeder thread has written them all
(``_finalize_join``); if nobody reads them it waits forever, and whoever
``join()``s that process waits with it.  ``cancel_join_thread()`` lets the
process exit anyway, giving up whatever is still buffered.

Two deliberate differences from CPython (see ``docs/differences.md``):

* CPython pickles in the feeder thread, so an unpicklable object fails there,
  is reported on stderr, and ``put`` has already returned.  mpref pickles in
  ``put``, as the issue asks: the caller gets the exception, and a mutable
  object changed after ``put`` is sent as it was at ``put``.
* As the spec says, a process joins a queue's feeder thread at exit only if it
  is *not* the queue's creator (CPython 3 joins in every process).  The
  creator's readers are its own descendants, which it joins at exit anyway,
  while its feeder keeps running; joining the feeder would instead hang a
  creator that put more than a pipeful and never read it back.
"""

import collections
import functools
import math
import os
import pickle
import select
import threading
import time
import weakref
from queue import Empty, Full

from . import spawn, util
from .framing import SMALL_MESSAGE, Pipe
from .semlock import SEM_VALUE_MAX
from .signals import (SIGNAL_SLICE, block_signals_in_this_thread, holding_back, let_signals_in,
                      signals_held_back)
from .synchronize import BoundedSemaphore, Condition, Lock, Semaphore

__all__ = ['Queue', 'JoinableQueue', 'Empty', 'Full']


class Queue:
    """A FIFO queue shared by processes (and threads): the spec's ``Queue([maxsize])``.

    ``maxsize <= 0`` means unbounded (in practice ``SEM_VALUE_MAX`` items).
    It offers the methods of ``queue.Queue`` except ``task_done()`` and
    ``join()``, raises ``queue.Empty`` / ``queue.Full`` on timeouts, and adds
    ``close()``, ``join_thread()`` and ``cancel_join_thread()``.  A queue
    reaches a child by inheritance (fork) or as a ``Process`` argument
    (fork or spawn); never through another queue or pipe.
    """

    #: The spec's ``Queue.Empty`` / ``Queue.Full`` named the Python 2 module
    #: ``Queue``; as class attributes they keep ``except Queue.Empty:`` working
    #: for code that imported ``Queue`` from mpref.  They are ``queue``'s classes.
    Empty = Empty
    Full = Full

    def __init__(self, maxsize=0):
        if maxsize <= 0:
            maxsize = SEM_VALUE_MAX
        elif maxsize > SEM_VALUE_MAX:
            # The free slots are counted by a semaphore, which cannot count higher.
            raise ValueError('maxsize %d is too large: a queue counts its free slots in a '
                             'semaphore, which holds at most SEM_VALUE_MAX = %d'
                             % (maxsize, SEM_VALUE_MAX))
        self._maxsize = maxsize
        self._reader, self._writer = Pipe(duplex=False)
        # Reads never wait; ``get`` waits in poll, up to its deadline
        # (``Connection.recv_bytes_by``).
        os.set_blocking(self._reader.fileno(), False)
        self._rlock = Lock()
        self._wlock = Lock()
        self._free_slots = BoundedSemaphore(maxsize)
        self._creator_pid = os.getpid()     # see _start_thread
        self._reset()
        util.register_after_fork(self, Queue._reset)

    # -- putting --------------------------------------------------------------

    def put(self, obj, block=True, timeout=None):
        """Put ``obj`` into the queue.

        Blocks until a slot is free (at most ``timeout`` seconds, then raises
        ``queue.Full``); with ``block=False`` raises ``queue.Full`` at once if
        the queue is full.  ``timeout``: any non-negative number of seconds,
        however large, or ``None``/``float('inf')`` for no limit
        (``util.check_timeout``).  Raises whatever ``pickle`` raises if
        ``obj`` cannot be pickled (the queue is left untouched), and
        ``ValueError`` if the queue is closed.
        """
        self._check_closed()
        timeout = util.check_timeout(timeout)
        data = _dumps(obj)
        # No signals held back (``signals``: "Asynchronous exceptions"): a
        # signal's exception (Ctrl-C) may land anywhere, and the ``except``
        # below makes good what it cut short.  ``slot`` is the note: the C
        # call writes 0 into it once a free slot is ours; None once the
        # object is in the buffer.
        slot = [-1]
        try:
            if not self._free_slots._take(block, timeout, outcome=slot):
                raise Full
            self._count_new_task()
            # The lock itself, not ``with self._notempty:`` -- the
            # condition's __enter__ and __exit__ are Python, and an exception
            # at their edges would leave the lock held; the lock's are C.
            with self._notempty_lock:
                if self._thread is None:
                    with signals_held_back:         # once per queue and process
                        self._start_thread()
                self._buffer += (data,)             # no call: no handler between
                slot = None                         # ... this and the line above
                if len(self._buffer) == 1:
                    # The feeder sleeps only on an empty buffer and takes all
                    # of it at once: if others were waiting, the put that
                    # found it empty has woken the feeder already.
                    self._notempty.notify()
        except BaseException:
            if slot is None:
                # The object is in the buffer: the feeder must hear of it,
                # even if the exception cut ``notify`` short.
                with self._notempty_lock:
                    self._notempty.notify()
            elif slot[0] == 0:
                self._free_slots._post()            # a slot taken for nothing: give it back
            raise

    def put_nowait(self, obj):
        """``put(obj, False)``."""
        return self.put(obj, False)

    def _count_new_task(self):
        # Nothing to count in a plain Queue; JoinableQueue counts a task here,
        # after the slot is taken and before anyone can get the object.
        pass

    # -- getting --------------------------------------------------------------

    def get(self, block=True, timeout=None):
        """Remove and return the next object.

        Blocks until one arrives (at most ``timeout`` seconds, then raises
        ``queue.Empty``); with ``block=False`` raises ``queue.Empty`` unless
        an object is already in the pipe.  ``timeout`` as for ``put``.
        Raises ``ValueError`` if the queue is closed.

        The timeout bounds the whole call, including the reading of a
        message that arrives only in part (a large object whose writer is
        slow, or was killed half-way): the part read is kept, with the read
        lock, and the next ``get`` in this process continues it.
        """
        if self._closed:
            self._check_closed()
        if timeout is not None:
            timeout = util.check_timeout(timeout)     # checked even when not blocking
        deadline = None
        if not block:
            deadline = time.monotonic()                # wait not at all
        elif timeout is not None:
            deadline = time.monotonic() + timeout
        # A signal's exception (Ctrl-C) must not leave a message half read
        # and the lock released: the rest would be misread as the next
        # header, breaking the queue for every process.  So signals are held
        # back (``signals``) and let in only between the slices of a wait,
        # where either nothing is taken yet or the half message is kept.
        # Held back, nothing can cut the steps apart, so the read lock and
        # the free slots are used as bare semaphores (``_take``, ``_post``):
        # no bookkeeping of an owner, which nobody here asks about.
        with signals_held_back:
            if not self._take_turn(block, deadline):
                raise Empty
            try:
                data = self._reader.recv_bytes_by(deadline, self._wait_readable)
                if data is None:
                    raise Empty
                self._free_slots._post()
            finally:
                if not self._reader.in_message():
                    self._rlock._post()
                self._turn.release()
        return _loads(data)

    def _take_turn(self, block, deadline):
        """Become the one reader: first among this process's threads
        (``_turn``), then among processes (``_rlock``) -- unless this
        process already holds ``_rlock`` because a message is half read
        (``Connection.in_message``).  False if the deadline passes first."""
        if not self._turn.acquire(False) and not (block and self._wait_for_turn(deadline)):
            return False
        if self._reader.in_message() or self._rlock._take(False):
            return True                                 # the usual case: nobody reading
        try:
            if block:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                if self._rlock._take(True, remaining):
                    return True
        except BaseException:
            self._turn.release()
            raise
        self._turn.release()
        return False

    def _wait_for_turn(self, deadline):
        """Wait for ``_turn`` (another thread of this process is reading)
        until ``deadline``; True once taken.  In slices: held back, signals
        are let in between; elsewhere a slice keeps any timeout within what
        a threading lock accepts."""
        held_back = holding_back()
        step = SIGNAL_SLICE if held_back else util.MAX_WAIT_SLICE
        while True:
            wait = step if deadline is None else max(0.0, min(step, deadline - time.monotonic()))
            if self._turn.acquire(timeout=wait):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if held_back:
                let_signals_in()

    def _wait_readable(self, fd, deadline):
        """Wait until the pipe has bytes to read (True) or ``deadline``
        passes (False; None: no deadline).  Holding signals back, wait in
        slices and let them in between and at the end (an exception then
        ends the wait, before anything is read)."""
        if not holding_back():
            wait = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            return self._reader.poll(wait)
        # The main thread's hot path (one get after another): a poller kept
        # for the reader, no per-call set-up.
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(fd, select.POLLIN)
        while True:
            wait = SIGNAL_SLICE
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
            if self._poller.poll(max(0, math.ceil(wait * 1000))):
                # A signal that came during this slice is handled now, before
                # anything is read: Ctrl-C leaves the object in the queue,
                # rather than taking it out and then raising.
                let_signals_in()
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            let_signals_in()

    def get_nowait(self):
        """``get(False)``."""
        return self.get(False)

    #: The spec's spelling (16.6.2.2); Python 3's ``multiprocessing`` dropped it.
    get_no_wait = get_nowait

    # -- approximate state ----------------------------------------------------
    # _get_value and _is_zero (here and in JoinableQueue) are SemLock's
    # protected interface, open to mpref's own modules (``semlock.SemLock``).

    def qsize(self):
        """The approximate number of objects in the queue (put, not yet got).

        Counts objects still in some process's buffer too.  Not reliable
        while other threads or processes use the queue.  Raises
        ``NotImplementedError`` where the platform cannot read a semaphore's
        value (macOS has no working ``sem_getvalue``).
        """
        return self._maxsize - self._free_slots._get_value()

    def empty(self):
        """True if no message is waiting in the pipe (not reliable).

        An object just put may still be in the putter's buffer, so
        ``empty()`` can be True right after a ``put``.
        """
        return not self._reader.poll()

    def full(self):
        """True if every slot is taken, so ``put`` would block (not reliable)."""
        return self._free_slots._is_zero()

    # -- shutting down --------------------------------------------------------

    def close(self):
        """This process will put no more objects; the feeder flushes and stops.

        The feeder thread writes what is still buffered, then closes this
        process's ends of the pipe.  Afterwards ``put`` and ``get`` raise
        ``ValueError``.  Called automatically when the queue is garbage
        collected.
        """
        self._closed = True
        close = self._close
        if close is not None:
            self._close = None
            close()
        elif self._thread is None:
            # No feeder thread: nothing buffered, so the pipe ends can go now.
            self._reader.close()
            self._writer.close()

    def join_thread(self):
        """Wait until the feeder thread has flushed the buffer and exited.

        Only after ``close()`` (otherwise the feeder would never exit:
        ``AssertionError``).  Does nothing after ``cancel_join_thread()``.
        """
        util.debug('Queue.join_thread()')
        if not self._closed:
            # CPython's exception type (an assert there); raised explicitly
            # so that the check also holds under ``python -O``.
            raise AssertionError('Queue %r not closed' % self)
        if self._jointhread is not None:
            self._jointhread()

    def cancel_join_thread(self):
        """Do not wait for the feeder thread: not in ``join_thread()``, not at exit.

        The process can then exit with objects still buffered; they are lost,
        and one may be cut off half-written in the pipe.  Use it only when
        nobody will read the rest.
        """
        util.debug('Queue.cancel_join_thread()')
        self._joincancelled = True
        if self._jointhread is not None:
            self._jointhread.cancel()
            self._jointhread = None

    # -- passing a queue to a child --------------------------------------------

    def __getstate__(self):
        # Only as a Process argument to a child being spawned: the child then
        # receives the same pipe and semaphores.  Anywhere else (a queue
        # inside a queue) a pickle would be a copy of nothing.
        spawn.assert_spawning(self)
        return (self._maxsize, self._reader, self._writer, self._rlock,
                self._wlock, self._free_slots, self._creator_pid)

    def __setstate__(self, state):
        (self._maxsize, self._reader, self._writer, self._rlock,
         self._wlock, self._free_slots, self._creator_pid) = state
        self._reset()
        util.register_after_fork(self, Queue._reset)

    # -- per-process state -------------------------------------------------------

    def _reset(self):
        # The buffer and the feeder thread belong to one process.  A forked
        # child gets fresh ones: the parent's thread does not exist there, and
        # the parent's condition may have been held at the moment of the fork.
        self._notempty_lock = threading.Lock()
        self._notempty = threading.Condition(self._notempty_lock)
        self._buffer = collections.deque()
        self._thread = None
        self._jointhread = None
        self._joincancelled = False
        self._closed = False
        self._close = None
        self._poller = None             # made by the first get in the main thread
        # The reading turn among this process's threads; a half-read message
        # (and the read lock held for it) stays with the process that read it.
        self._turn = threading.Lock()
        self._reader._partial = None

    def _check_closed(self):
        if self._closed:
            raise ValueError('Queue %r is closed' % self)

    def _start_thread(self):
        util.debug('Queue._start_thread()')
        self._thread = threading.Thread(
            target=_feed, name='QueueFeederThread', daemon=True,
            args=(self._buffer, self._notempty, self._writer, self._reader,
                  self._wlock, self._on_dropped()))
        self._thread.start()
        # join_thread() always joins; at exit the join happens only in a
        # process that is not the queue's creator (spec, join_thread()).
        if not self._joincancelled:
            exitpriority = -5 if os.getpid() != self._creator_pid else None
            self._jointhread = util.Finalize(
                self._thread, _finalize_join, [weakref.ref(self._thread)],
                exitpriority=exitpriority)
        # Closing tells the feeder to stop -- explicitly, when the queue is
        # garbage collected, or at exit (before children are joined, so a
        # child reading the queue can still get everything).
        self._close = util.Finalize(
            self, _finalize_close, [self._buffer, self._notempty], exitpriority=10)

    def _on_dropped(self):
        # What the feeder thread calls with the number of objects it could not
        # write: give their slots back.  A partial of module functions, not a
        # bound method: the thread must not keep the queue alive.
        return functools.partial(_give_back, self._free_slots)


class JoinableQueue(Queue):
    """A ``Queue`` that also counts unfinished tasks: ``task_done()`` and ``join()``.

    Each ``put`` adds one unfinished task; each ``task_done()`` removes one;
    ``join()`` waits until none is left.  The count is a semaphore shared by
    every process using the queue.
    """

    def __init__(self, maxsize=0):
        Queue.__init__(self, maxsize)
        self._unfinished_tasks = Semaphore(0)
        self._cond = Condition()

    def put(self, obj, block=True, timeout=None):
        # Signals held back over the whole put: the task counted and the
        # object buffered go together.
        with signals_held_back:
            Queue.put(self, obj, block, timeout)

    put.__doc__ = Queue.put.__doc__

    def _count_new_task(self):
        # Called by ``put`` once the object is sure to enter the queue, and
        # before it does: so a consumer can never get it, and call
        # task_done(), before it is counted.  (join() needs no wake-up here:
        # a rising count only makes it wait longer.)
        self._unfinished_tasks.release()

    def task_done(self):
        """Mark one task that was got from the queue as finished.

        Raises ``ValueError`` if called more times than objects were put.
        """
        with signals_held_back, self._cond:
            if not self._unfinished_tasks.acquire(False):
                raise ValueError('task_done() called too many times')
            if self._unfinished_tasks._is_zero():
                self._cond.notify_all()

    def join(self):
        """Block until every object put has been got and marked ``task_done()``."""
        with signals_held_back, self._cond:
            while not self._unfinished_tasks._is_zero():
                self._cond.wait()

    def _on_dropped(self):
        # The dropped objects' tasks are done too: nobody will get them, and
        # join() must not wait for their task_done().
        return functools.partial(_give_back_and_finish, self._free_slots,
                                 self._unfinished_tasks, self._cond)

    def __getstate__(self):
        return Queue.__getstate__(self) + (self._unfinished_tasks, self._cond)

    def __setstate__(self, state):
        Queue.__setstate__(self, state[:-2])
        self._unfinished_tasks, self._cond = state[-2:]


# --------------------------------------------------------------------------
# The feeder thread and the finalizers.  Module-level functions, not methods:
# the thread must not keep the Queue object alive, or it would never be
# garbage collected (and so never closed).
# --------------------------------------------------------------------------

_SENTINEL = object()        # put in the buffer by close(): "flush and stop"


def _dumps(obj):
    return pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)


_loads = pickle.loads


#: The feeder joins small messages into writes of about this many bytes.
_GROUP_BYTES = 65536


def _feed(buffer, notempty, writer, reader, wlock, on_dropped):
    """The feeder thread: move pickled objects from ``buffer`` into the pipe.

    It takes whatever has accumulated in the buffer at once and writes it
    under one hold of the write lock, small messages joined into writes of
    up to ``_GROUP_BYTES`` (``Connection.send_bytes_many``): a busy producer
    pays for the lock once per batch and for a system call once per group,
    rather than once per object, and each message is still written whole.
    On the sentinel it closes this process's pipe ends and exits.
    """
    util.debug('starting thread to feed data to pipe')
    # A signal the kernel gave this thread would be handled in the main
    # thread even while that holds signals back: block them all here.
    block_signals_in_this_thread()
    while True:
        with notempty:
            while not buffer:
                notempty.wait()
            batch = list(buffer)
            buffer.clear()
        stop = _SENTINEL in batch
        if stop:
            batch = batch[:batch.index(_SENTINEL)]
        dropped = []
        with wlock:
            for group in _groups(batch):
                try:
                    if len(group) == 1:
                        writer.send_bytes(group[0])
                    else:
                        writer.send_bytes_many(group)
                except Exception as exc:
                    # The objects that never reached the pipe whole (all but
                    # the first ``messages_sent``, which readers will get)
                    # are dropped.
                    dropped.append((exc, len(group) - getattr(exc, 'messages_sent', 0)))
        # Say so once the write lock is let go (a slow stderr here must not
        # hold up the writes of the other processes), then give their slots
        # back (so that a put waiting for a slot returns after the report).
        # util.report_error never raises: even a broken stderr must not stop
        # this thread.
        for exc, lost in dropped:
            util.report_error('mpref.queues: the feeder thread could not write '
                              '%d object(s); they are dropped:\n' % lost, exc)
            on_dropped(lost)
        dropped = exc = None        # not kept, with their tracebacks, till the next batch
        if stop:
            util.debug('feeder thread got sentinel -- exiting')
            reader.close()
            writer.close()
            return


def _give_back(free_slots, count):
    """``count`` objects were dropped: give their slots back, as if got."""
    for _ in range(count):
        free_slots.release()


def _give_back_and_finish(free_slots, unfinished_tasks, cond, count):
    """As ``_give_back``, and mark the dropped objects' tasks done (a
    ``JoinableQueue``): ``join()`` must not wait for objects nobody will get."""
    _give_back(free_slots, count)
    with cond:
        for _ in range(count):
            unfinished_tasks.acquire(False)
        if unfinished_tasks._is_zero():
            cond.notify_all()


def _groups(batch):
    """Cut ``batch`` (pickled objects, in order) into lists to write at
    once: runs of small ones, up to ``_GROUP_BYTES`` in all; a large one alone."""
    group, size = [], 0
    for data in batch:
        n = len(data)
        if group and (size + n > _GROUP_BYTES or n > SMALL_MESSAGE):
            yield group
            group, size = [], 0
        group.append(data)
        size += n
        if n > SMALL_MESSAGE:
            yield group
            group, size = [], 0
    if group:
        yield group


def _finalize_close(buffer, notempty):
    util.debug('telling queue thread to quit')
    with notempty:
        buffer.append(_SENTINEL)
        notempty.notify()


def _finalize_join(thread_ref):
    thread = thread_ref()
    if thread is not None:
        util.debug('joining queue thread')
        thread.join()
        util.debug('... queue thread joined')
