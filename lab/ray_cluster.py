"""A local Ray cluster, small and tidy: started for one process, stopped with nothing left.

Lab equipment (``lab/``) for ``notebooks/14_beyond_one_machine.ipynb`` and
``tests/test_ray.py``, which run the same Pool program on Ray's
``ray.util.multiprocessing`` (``lab/pool_program.py``).  Ray is the optional
``cluster`` extra (``pip install 'mpref[cluster]'``), never a dependency of
mpref: the caller imports it and passes the module in.

* ``start_local_ray`` / ``stop_local_ray`` -- start a one-machine cluster;
  shut it down, wait until none of its processes is left (``procfs``), put
  back the signal handlers ``ray.init`` replaced, remove its directory;
* ``sweep_orphan_ray_dirs`` -- remove what a killed driver left behind.
"""

import logging
import os
import shutil
import signal
import time

from lab.procfs import is_alive, processes_mentioning

#: The signal handlers ``start_local_ray`` found, for ``stop_local_ray`` to restore.
_handlers_before_ray = {}


def start_local_ray(ray, temp_dir, num_cpus=2):
    """Start a one-machine Ray cluster for this process; return ``ray.init``'s context.

    ``ray`` is the Ray module, imported by the caller, who decides what to do
    where Ray is missing (and a test can pass a stand-in).

    Small and private: ``num_cpus`` worker slots, no dashboard, every file
    under ``temp_dir``, every port on the loopback address only (Ray's
    single-machine mode), no usage statistics sent anywhere, workers' logs
    not copied to this process's output.  Ray comes with the ``cluster``
    extra (``pip install 'mpref[cluster]'``).  If the start fails or is cut
    short (Ray turns SIGTERM into ``SystemExit``, ^C is ``KeyboardInterrupt``),
    what was started is stopped with ``stop_local_ray`` before the exception
    goes on: a cluster left half-started would outlive this process.
    """
    os.environ['RAY_USAGE_STATS_ENABLED'] = '0'
    # Ray's switch for a one-machine cluster: bind to 127.0.0.1 rather than
    # to this machine's network address (its name mentions macOS and Windows,
    # where this is the default).
    os.environ['RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER'] = '0'
    # ray.init installs a SIGTERM handler of its own (and keeps it after
    # shutdown): remember this process's handlers so stop_local_ray can put
    # them back -- children forked later must not inherit Ray's.
    _handlers_before_ray.update((signum, signal.getsignal(signum))
                                for signum in (signal.SIGTERM, signal.SIGINT))
    try:
        return ray.init(num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp_dir,
                        log_to_driver=False, logging_level=logging.ERROR)
    except BaseException:
        stop_local_ray(ray, temp_dir)
        raise


def stop_local_ray(ray, temp_dir, timeout=20.0):
    """Shut Ray down, wait until none of its processes is left, remove ``temp_dir``.

    Returns the ``'pid command'`` lines of the processes still running
    from ``temp_dir``'s cluster after ``timeout`` seconds (they are then
    killed): empty when Ray cleaned up after itself.
    """
    ray.shutdown()
    for signum, handler in _handlers_before_ray.items():
        if handler is not None:
            signal.signal(signum, handler)
    _handlers_before_ray.clear()
    deadline = time.monotonic() + timeout
    left = processes_mentioning(temp_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = processes_mentioning(temp_dir)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(temp_dir, ignore_errors=True)
    return ['%d %s' % (pid, command) for pid, command in left.items()]


def sweep_orphan_ray_dirs(parent='/tmp'):
    """Remove the ``ray-*`` directories in ``parent`` whose driver is dead; return them.

    ``stop_local_ray`` removes its directory, but a driver killed by SIGTERM
    or SIGKILL stops nothing: Ray's own processes follow it out, its
    directory stays.  Ray names each session directory after its driver's
    pid (``session_<date>_<time>_<pid>``); a directory is removed only when
    it has sessions, all their drivers are dead and no live process mentions
    it.  The test session sweeps at its start.
    """
    swept = []
    for name in sorted(os.listdir(parent)):
        path = os.path.join(parent, name)
        if not name.startswith('ray-') or not os.path.isdir(path):
            continue
        pids = [entry.rsplit('_', 1)[-1] for entry in os.listdir(path)
                if entry.startswith('session_2')]
        if not pids or not all(pid.isdigit() and not is_alive(int(pid)) for pid in pids):
            continue
        if processes_mentioning(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        swept.append(path)
    return swept
