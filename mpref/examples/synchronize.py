"""The spec's synchronization test program (16.6.4), in Python 3.

Run it with ``python -m mpref.examples.synchronize [processes|manager|threads]``:
the same program on

* ``processes`` -- ``mpref``'s processes, shared ctypes and semaphore-based
  locks;
* ``manager`` -- ``mpref``'s processes, with every shared object (``Value``,
  ``Lock``, ``Queue``, ``Condition``, ...) a proxy from a ``SyncManager``;
* ``threads`` -- ``mpref.dummy``: threads under the same names.

Each test (``Value``, ``Queue``, ``Condition``, ``Semaphore``, join with a
timeout, ``Event``, shared values) prints what it found; children report
through shared objects or a queue, and the parent prints.  Shortened from the
spec's (smaller sleeps).  Spec section 16.6.2.3 (synchronization) and
16.6.2.7 (managers); chapter ``notebooks/12_examples.ipynb``.
"""

import queue
import random
import sys
import time
import types

import mpref

USAGE = 'usage: python -m mpref.examples.synchronize [processes|manager|threads]'
MODES = ('processes', 'manager', 'threads')


# --------------------------------------------------------------------------
# The synchronization program
# --------------------------------------------------------------------------

def _value_func(running, mutex):
    time.sleep(random.random() * 0.2)
    with mutex:
        running.value -= 1


def _queue_func(q):
    for i in range(10):
        time.sleep(0.01 * random.random())
        q.put(i * i)
    q.put('STOP')


def _condition_func(cond, out):
    with cond:
        out('\tchild is notifying')
        cond.notify()


def _semaphore_func(sema, mutex, running, peak):
    with sema:
        with mutex:
            running.value += 1
            peak.value = max(peak.value, running.value)
        time.sleep(random.random() * 0.05)
        with mutex:
            running.value -= 1


def _join_timeout_func():
    time.sleep(0.3)


def _event_func(event, woken):
    # A queue, not a Value: a manager's Value proxy has no get_lock().
    event.wait()
    woken.put(1)


def _sharedvalues_func(values, arrays, shared_values, shared_arrays):
    for (_, v), sv in zip(values, shared_values):
        assert v == sv.value
    for (_, a), sa in zip(arrays, shared_arrays):
        assert list(a) == list(sa[:])


def synchronization_program(mp, out=print):
    """The spec's synchronization program on ``mp``: Value, Queue, Condition,
    Semaphore, join with a timeout, Event, shared values.  ``out`` receives
    each line of the report."""
    out('test_value')
    running, mutex = mp.Value('i', 10), mp.Lock()
    processes = [mp.Process(target=_value_func, args=(running, mutex)) for _ in range(10)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    out('\tNo more running processes: running.value = %d' % running.value)

    out('test_queue')
    q = mp.Queue()
    p = mp.Process(target=_queue_func, args=(q,))
    p.start()
    received = []
    while not received or received[-1] != 'STOP':
        try:
            received.append(q.get(timeout=5))
        except queue.Empty:
            out('\tTIMEOUT')
    p.join()
    out('\t%s' % ' '.join(map(str, received)))

    out('test_condition')
    cond = mp.Condition()
    # A thread's out() works in the child; a process's report goes through a queue.
    said = mp.Queue()
    p = mp.Process(target=_condition_func, args=(cond, said.put))
    cond.acquire()
    cond.acquire()                  # twice, as the spec's program does: wait()
    p.start()                       # must release both levels of the RLock
    out('\tmain is waiting')
    notified = cond.wait(10)
    out('\tmain has woken up: %s' % (notified is not False))
    cond.release()
    cond.release()
    p.join()
    out(said.get(timeout=10))

    out('test_semaphore')
    sema, mutex = mp.Semaphore(3), mp.RLock()
    running, peak = mp.Value('i', 0), mp.Value('i', 0)
    processes = [mp.Process(target=_semaphore_func, args=(sema, mutex, running, peak))
                 for _ in range(10)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    out('\tat most 3 ran at once: %s' % (1 <= peak.value <= 3))

    out('test_join_timeout')
    p = mp.Process(target=_join_timeout_func)
    p.start()
    waits = 0
    while True:
        p.join(timeout=0.05)
        if not p.is_alive():
            break
        waits += 1
    out('\tjoin(timeout) returned early at least once: %s; exitcode %s' % (waits > 0, p.exitcode))

    out('test_event')
    event, woken = mp.Event(), mp.Queue()
    processes = [mp.Process(target=_event_func, args=(event, woken)) for _ in range(5)]
    for p in processes:
        p.start()
    event.set()
    count = sum(woken.get(timeout=10) for _ in processes)
    for p in processes:
        p.join()
    out('\t%d have woken up' % count)

    out('test_sharedvalues')
    values = [('i', 10), ('h', -2), ('d', 1.25)]
    arrays = [('i', range(100)), ('d', [0.25 * i for i in range(100)]), ('H', range(1000))]
    shared_values = [mp.Value(code, v) for code, v in values]
    shared_arrays = [mp.Array(code, a) for code, a in arrays]
    p = mp.Process(target=_sharedvalues_func, args=(values, arrays, shared_values, shared_arrays))
    p.start()
    p.join()
    out('\tTests passed' if p.exitcode == 0 else '\tTests FAILED: exitcode %s' % p.exitcode)
    mp.active_children()        # reap whatever is left


def manager_namespace(manager):
    """A namespace for ``synchronization_program`` whose shared objects come
    from ``manager`` (a started ``SyncManager``) and whose processes are
    ``mpref``'s: the spec's ``manager`` mode."""
    names = ['Value', 'Array', 'Lock', 'RLock', 'Semaphore', 'Condition', 'Event', 'Queue']
    namespace = types.SimpleNamespace(**{name: getattr(manager, name) for name in names})
    namespace.Process = mpref.Process
    namespace.active_children = mpref.active_children
    return namespace


def main(argv):
    """Run the program in the mode ``argv`` names (default ``processes``).

    Returns the exit status: 0, or 2 after printing the usage for an unknown mode.
    """
    if len(argv) > 1 or (argv and argv[0] not in MODES):
        print(USAGE, file=sys.stderr)
        return 2
    mode = argv[0] if argv else 'processes'
    print((' Using %s ' % mode).center(79, '-'), flush=True)
    out = lambda line: print(line, flush=True)    # noqa: E731
    if mode == 'manager':
        with mpref.Manager() as manager:
            synchronization_program(manager_namespace(manager), out)
    elif mode == 'threads':
        from mpref import dummy
        synchronization_program(dummy, out)
    else:
        synchronization_program(mpref, out)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
