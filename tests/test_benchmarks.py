"""Tests for the benchmark command's options (``python -m mpref.benchmarks``):
``--cpus 1|all``, medians with their spread, and the ``ctypes`` floor of a lock.

The command's names, sizes, tables and JSON rows are tested with the spec's
benchmark program in ``tests/test_examples.py``.  No test here times
anything: speed claims are ratios the command prints, never assertions.
"""

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest

from mpref import benchmarks
from mpref.benchmarks import floor
from mpref.benchmarks.yardstick import Rate, median_rate

TIMEOUT = 120
needs_affinity = pytest.mark.skipif(not hasattr(os, 'sched_setaffinity'),
                                    reason='needs os.sched_setaffinity (Linux)')


def command(*args):
    """Run ``python -m mpref.benchmarks ARGS``; return the finished process."""
    return subprocess.run([sys.executable, '-m', 'mpref.benchmarks', *args],
                          capture_output=True, text=True, timeout=TIMEOUT)


# -- medians with their spread ------------------------------------------------

def test_a_rate_is_the_median_and_keeps_its_spread():
    rate = Rate.of([30.0, 10.0, 20.0])
    assert rate == 20.0 and (rate.low, rate.high) == (10.0, 30.0)
    assert benchmarks.spread(rate) == (10.0, 30.0)
    assert benchmarks.spread(20.0) is None            # a plain figure has none
    runs = iter([(10, 1.0), (10, 2.0), (10, 0.5)])    # rates 10, 5, 20
    rate = median_rate(lambda: next(runs))
    assert (rate, rate.low, rate.high) == (10.0, 5.0, 20.0)


def test_the_table_prints_the_spread_next_to_the_median():
    rows = [{'name': 'x', 'mpref': Rate.of([50.0, 100.0, 150.0]), 'stdlib': 100.0, 'unit': 'u/s'}]
    line = benchmarks.format_rows(rows).splitlines()[1]
    assert '100.0 (-50/+50%)' in line and '1.00x' in line


def test_json_gives_the_spread_of_each_measured_figure_and_keeps_plain_floats():
    rows = {'x': [{'name': 'x', 'mpref': Rate.of([1.0, 2.0, 4.0]), 'stdlib': 4.0,
                   'floor': Rate.of([8.0, 8.0, 8.0]), 'unit': 'u/s'}]}
    row, = json.loads(benchmarks.as_json(rows))['x']
    assert row['mpref'] == 2.0 and row['mpref/stdlib'] == 0.5 and row['mpref/floor'] == 0.25
    assert row['spread'] == {'mpref': [1.0, 4.0], 'floor': [8.0, 8.0]}


# -- the floor of a lock made of ctypes calls ---------------------------------

def test_the_semaphore_floor_measures_and_leaves_nothing_behind():
    before = set(os.listdir('/dev/shm')) if os.path.isdir('/dev/shm') else set()
    rate = floor.semaphore_pairs_rate(2000)
    assert rate > 0 and rate.low <= rate <= rate.high
    if os.path.isdir('/dev/shm'):
        assert not {n for n in set(os.listdir('/dev/shm')) - before if 'mpref-floor' in n}


def test_the_lock_rows_carry_the_floor_in_the_same_thread():
    done = command('synchronize', '--size', 'tiny', '--json')
    assert done.returncode == 0, done.stderr
    rows = {row['name']: row for row in json.loads(done.stdout)['synchronize']}
    for name in ('Lock acquire+release', 'RLock acquire+release', 'Semaphore acquire+release',
                 'Lock acquire+release, 2nd thread'):
        row = rows[name]
        assert row['floor'] > 0 and math.isfinite(row['mpref/floor']) and row['mpref/floor'] > 0
        low, high = row['spread']['mpref']
        assert low <= row['mpref'] <= high
    # The main-thread rows share one floor; the second thread has its own.
    assert rows['Lock acquire+release']['floor'] == rows['RLock acquire+release']['floor']


# -- --cpus 1|all -------------------------------------------------------------

PINNED_CHILD = textwrap.dedent('''
    import os
    from mpref import benchmarks
    cpu = benchmarks.pin_to_one_cpu()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, repr(sorted(os.sched_getaffinity(0))).encode())
        os._exit(0)
    os.close(w)
    child = os.read(r, 1000).decode()
    os.waitpid(pid, 0)
    print(cpu, sorted(os.sched_getaffinity(0)), child)
''')


@needs_affinity
def test_pinning_to_one_cpu_holds_for_the_children_too():
    done = subprocess.run([sys.executable, '-c', PINNED_CHILD],
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    cpu, mine, child = done.stdout.split(' ', 2)
    assert mine.strip() == child.strip() == '[%s]' % cpu


@needs_affinity
def test_cpus_1_says_which_cpu_and_runs():
    done = command('process', '--size', 'tiny', '--cpus', '1')
    assert done.returncode == 0, done.stderr
    first, title = done.stdout.splitlines()[:2]
    assert first.startswith('(every process of this run pinned to CPU ')
    assert title.startswith('== process:')
    done = command('process', '--size', 'tiny', '--cpus', '1', '--json')
    assert done.returncode == 0, done.stderr
    assert list(json.loads(done.stdout)) == ['process']     # JSON alone, no note


def test_cpus_all_is_the_default_and_anything_else_is_refused():
    assert command('process', '--size', 'tiny', '--cpus', 'all').returncode == 0
    refused = command('process', '--cpus', '3')
    assert refused.returncode == 2 and '--cpus' in refused.stderr
