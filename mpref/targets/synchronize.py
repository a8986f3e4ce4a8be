"""Process targets for ``notebooks/03_synchronization.ipynb`` (spec 16.6.1.3, 16.6.2.5).

They live in a module, not in notebook cells, so that a *spawned* child can
import them.  Children never print: they report through a file or a pipe and
the notebook's parent process prints, which keeps the chapter's output
deterministic.
"""

import os
import random
import signal
import time

from mpref import current_process


def write_greeting(lock, path, i):
    """The spec's lock example: write ``hello world i`` -- one word per write().

    Each word is a separate ``os.write`` with a pause in between, so that
    without the lock the lines of different processes would interleave.
    """
    def write_words():
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            for word in ('hello', 'world', str(i)):
                os.write(fd, (word + ' ').encode())
                time.sleep(0.002)
            os.write(fd, b'\n')
        finally:
            os.close(fd)
    if lock is None:
        write_words()
    else:
        lock.acquire()
        try:
            write_words()
        finally:
            lock.release()


def notify_condition(cond, conn, pause=0.2):
    """TEST_CONDITION's child: take the condition, report, pause, notify."""
    cond.acquire()
    conn.send('\t' + str(cond))
    time.sleep(pause)
    conn.send('\tchild is notifying')
    conn.send('\t' + str(cond))
    cond.notify()
    cond.release()
    conn.close()


def semaphore_task(sema, mutex, running, log_path):
    """TEST_SEMAPHORE's child: hold one of the semaphore's slots for a while.

    Under ``mutex`` it counts itself in ``running`` (a shared ``Value``) and
    logs how many tasks run now; later it counts itself out.
    """
    sema.acquire()
    try:
        with mutex:
            running.value += 1
            with open(log_path, 'a') as log:
                log.write('%d tasks are running\n' % running.value)
        random.seed()
        time.sleep(0.05 + random.random() * 0.1)
        with mutex:
            running.value -= 1
            with open(log_path, 'a') as log:
                log.write('%s has finished\n' % current_process().name)
    finally:
        sema.release()


def wait_for_event(event, started, conn):
    """TEST_EVENT's child: say it is waiting, wait (bounded), say it woke."""
    me = current_process().name
    conn.send('%s is waiting' % me)
    started.release()
    woke = event.wait(30)
    conn.send('%s has woken up' % me if woke else '%s timed out' % me)
    conn.close()


def acquire_and_release(lock):
    """Block until ``lock`` is free, then release it at once."""
    lock.acquire()
    lock.release()


def wait_on_condition(cond, started, conn):
    """Take the condition, say so, and wait on it (bounded); report whether notified."""
    with cond:
        started.release()
        conn.send(cond.wait(30))
    conn.close()


def get_from_queue(queue, started):
    """Set ``started`` and block in ``queue.get()`` (the caller arranges that it stays blocked).

    SIGTERM is given its default action first: a forked child inherits its
    parent's Python handlers, and a Python handler for SIGTERM is held back
    like any other while the queue's lock is taken.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    started.set()
    queue.get()
