"""One Pool program on three Pools: mpref's, the stdlib's, and Ray's.

``lab.pool_program.pool_program`` is a faithful subset of the spec's pool program
(16.6.4) written against ``namespace.Pool`` and ``namespace.TimeoutError``
only.  On mpref and on the stdlib its report is the same; on Ray's
``ray.util.multiprocessing`` it runs unchanged, and its report differs only
where Ray's Pool does (an exception inside ``imap`` comes back as a value).
The Ray tests need the ``cluster`` extra (``pip install 'mpref[cluster]'``) and
skip, saying why, where Ray is missing or cannot start; they share one local
cluster, stopped at the end of the module with nothing of it left running.
"""

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import types

import pytest

import mpref
from lab import procfs, ray_cluster
from lab.pool_program import pool_program, pool_timings
from mpref.targets import tasks


def _namespace(Pool, TimeoutError):
    return types.SimpleNamespace(Pool=Pool, TimeoutError=TimeoutError)


#: While Ray runs in this process, mpref and the stdlib start their pools with
#: spawn: a forked child would inherit Ray's threads and signal handlers.
MPREF_SPAWN = _namespace(mpref.get_context('spawn').Pool, mpref.TimeoutError)
STDLIB_SPAWN = _namespace(multiprocessing.get_context('spawn').Pool, multiprocessing.TimeoutError)


@pytest.fixture(scope='module')
def ray_pool_namespace():
    """``ray.util.multiprocessing`` with a small local Ray cluster running."""
    ray = pytest.importorskip('ray', reason="Ray is not installed (pip install 'mpref[cluster]')")
    temp_dir = tempfile.mkdtemp(prefix='ray-', dir='/tmp')     # short: Ray's socket paths
    try:
        ray_cluster.start_local_ray(ray, temp_dir)      # stops what it started if it fails
    except Exception as exc:
        pytest.skip('a local Ray cluster cannot start here: %s: %s' % (type(exc).__name__, exc))
    import ray.util.multiprocessing
    yield ray.util.multiprocessing
    left = ray_cluster.stop_local_ray(ray, temp_dir)
    assert left == [], 'Ray processes still running after shutdown: %s' % left
    assert not os.path.exists(temp_dir)


def test_the_pool_program_reports_the_same_on_mpref_and_the_stdlib(start_method):
    ours = pool_program(_namespace(mpref.get_context(start_method).Pool, mpref.TimeoutError))
    theirs = pool_program(
        _namespace(multiprocessing.get_context(start_method).Pool, multiprocessing.TimeoutError))
    assert ours == theirs
    assert '\tpool.map(f, range(10)) raised ZeroDivisionError' in ours
    assert '\tnext() on pool.imap(f, range(10)) raised ZeroDivisionError at item 5' in ours
    assert '\tmap_async(nap, [0.5, 0.0], chunksize=1) gave its callback [0.5, 0.0]' in ours


def test_the_pool_program_runs_unchanged_on_ray(ray_pool_namespace):
    on_ray = pool_program(ray_pool_namespace)
    on_mpref = pool_program(MPREF_SPAWN)
    differ = [(a, b) for a, b in zip(on_mpref, on_ray) if a != b]
    assert len(on_ray) == len(on_mpref)
    assert differ == [
        ('\tlist(pool.imap(f, range(10))) raised ZeroDivisionError',
         '\tlist(pool.imap(f, range(10))) returned a PoolTaskError as item 5 instead of raising'),
        ('\tnext() on pool.imap(f, range(10)) raised ZeroDivisionError at item 5',
         '\tnext() on pool.imap(f, range(10)) returned a PoolTaskError at item 5'),
        ('\terror_callback got a ZeroDivisionError', '\terror_callback got a PoolTaskError'),
        ('\tmap_async(nap, [0.5, 0.0], chunksize=1) gave its callback [0.5, 0.0]',
         '\tmap_async(nap, [0.5, 0.0], chunksize=1) gave its callback [0.0, 0.5]'),
    ]


def test_rays_timeout_error_is_the_stdlibs(ray_pool_namespace):
    assert ray_pool_namespace.TimeoutError is multiprocessing.TimeoutError
    assert not issubclass(ray_pool_namespace.TimeoutError, mpref.TimeoutError)


def test_a_failing_task_keeps_its_exception_type_on_ray(ray_pool_namespace):
    with ray_pool_namespace.Pool(2) as pool:
        with pytest.raises(ZeroDivisionError):
            pool.apply(tasks.reciprocal, (5,))
        with pytest.raises(ray_pool_namespace.TimeoutError):
            pool.apply_async(tasks.nap, (2,)).get(0.01)


def test_the_timings_cover_the_same_work_on_all_three(ray_pool_namespace):
    for namespace in (MPREF_SPAWN, STDLIB_SPAWN, ray_pool_namespace):
        timings = pool_timings(namespace)
        assert sorted(timings) == ['large arguments', 'large tasks', 'small tasks', 'start']
        assert all(seconds > 0 for seconds in timings.values())


def test_processes_mentioning_finds_a_process_and_its_descendants():
    marker = 'mpref-beyond-marker-%d' % os.getpid()
    child = subprocess.Popen([sys.executable, '-c', 'import subprocess, sys, time; '
                              'subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]); '
                              'print(1, flush=True); time.sleep(30)', marker],
                             stdout=subprocess.PIPE)
    try:
        child.stdout.readline()
        found = procfs.processes_mentioning(marker)
        assert child.pid in found and len(found) == 2
    finally:
        for pid in procfs.processes_mentioning(marker):
            os.kill(pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
    assert procfs.processes_mentioning(marker) == {}


@pytest.mark.parametrize('interruption', [SystemExit(15), KeyboardInterrupt(), RuntimeError('no')])
def test_a_start_cut_short_stops_what_it_started(tmp_path, interruption):
    # Ray turns SIGTERM into SystemExit in the middle of ray.init: a cluster
    # started halfway must still be shut down and its directory removed.
    temp_dir = tmp_path / 'ray-cut-short'
    temp_dir.mkdir()
    calls = []

    def init(**kwargs):
        calls.append('init')
        raise interruption

    fake_ray = types.SimpleNamespace(init=init, shutdown=lambda: calls.append('shutdown'))
    with pytest.raises(type(interruption)):
        ray_cluster.start_local_ray(fake_ray, str(temp_dir))
    assert calls == ['init', 'shutdown']
    assert not temp_dir.exists()


def test_a_ray_directory_whose_driver_died_is_swept(tmp_path):
    # A run killed by SIGTERM or SIGKILL stops nothing: Ray's own processes
    # follow their dead driver out, but its directory stays.  The next run removes it.
    driver = subprocess.Popen([sys.executable, '-c', 'pass'])
    driver.wait()                                   # a pid that is surely dead
    orphan = tmp_path / 'ray-orphan'
    (orphan / ('session_2026-01-01_00-00-00_000000_%d' % driver.pid) / 'logs').mkdir(parents=True)
    mine = tmp_path / 'ray-mine'
    (mine / ('session_2026-01-01_00-00-00_000000_%d' % os.getpid())).mkdir(parents=True)
    starting = tmp_path / 'ray-starting'             # no session yet: perhaps just made
    starting.mkdir()
    assert ray_cluster.sweep_orphan_ray_dirs(str(tmp_path)) == [str(orphan)]
    assert not orphan.exists() and mine.exists() and starting.exists()
