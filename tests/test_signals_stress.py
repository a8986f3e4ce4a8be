"""A stress test of the promise of ``mpref/signals.py``: SIGINT sent by
another process at random moments of ``with lock:`` loops (and of
synchronized value accesses) never leaves a lock held with no owner.

``tests/test_synchronize.py`` does the same with a timer signal the process
sends itself every millisecond; here the signals come from outside, at
random intervals, as Ctrl-C would.  How long each case is stressed:
``MPREF_STRESS_SECONDS`` (default 1 second, so that the suite stays quick;
set it to 60 for a thorough run).
"""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SECONDS = float(os.environ.get('MPREF_STRESS_SECONDS', '1'))
TIMEOUT = SECONDS + 60

STRESSED = textwrap.dedent('''
    import signal, sys, threading, time
    import mpref
    from mpref import semlock
    kind, seconds = sys.argv[1], float(sys.argv[2])
    if kind == 'Value':
        obj = mpref.Value('i', 0)
        lock = obj.get_lock()
    else:
        obj = getattr(mpref, kind)(*([2] if kind == 'Semaphore' else []))
        lock = obj._lock if kind == 'Condition' else obj
    free_value = 2 if kind == 'Semaphore' else 1

    armed = False
    def handler(signum, frame):
        # Raises once per arming, so that the checks after an interruption
        # are never interrupted themselves.
        global armed
        if armed:
            armed = False
            raise KeyboardInterrupt

    def at_release_entry(exc):
        tb = exc.__traceback__
        while tb.tb_next and tb.tb_next.tb_frame.f_code.co_name != 'handler':
            tb = tb.tb_next
        return tb.tb_frame.f_code is semlock.SemLock.release.__code__ and tb.tb_lasti <= 2

    signal.signal(signal.SIGINT, handler)
    print('ready', flush=True)
    loops = interrupted = free = held_at_entry = broken = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        loops += 1
        try:
            armed = True
            if kind == 'Value':
                obj.value
            else:
                with obj:
                    pass
            armed = False
        except KeyboardInterrupt as exc:
            armed = False
            interrupted += 1
            value_now = lock._get_value()
            if value_now == free_value and lock._count == 0:
                free += 1
            elif (kind != 'Value' and value_now == free_value - 1 and lock._count == 1
                  and lock._owner == threading.get_ident() and at_release_entry(exc)):
                held_at_entry += 1          # held by its owner: ``with`` can do no better
                lock.release()
            else:
                broken += 1
                print('broken:', value_now, lock._count, file=sys.stderr)
                break
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    print(loops, interrupted, free, held_at_entry, broken, flush=True)
''')


@pytest.mark.parametrize('kind', ['Lock', 'RLock', 'Semaphore', 'Condition', 'Value'])
def test_sigint_at_random_moments_never_leaves_a_lock_held_by_nobody(kind):
    proc = subprocess.Popen([sys.executable, '-c', STRESSED, kind, str(SECONDS)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'ready'
        sent = 0
        rng = random.Random(kind)
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            sent += 1
            time.sleep(rng.uniform(0.0002, 0.002))
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    loops, interrupted, free, held_at_entry, broken = map(int, out.split())
    assert broken == 0, err
    assert sent > 0 and loops > 0 and interrupted > 0
    assert free + held_at_entry == interrupted
