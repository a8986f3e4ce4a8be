"""What runs on the "hosts" of ``notebooks/14_beyond_one_machine.ipynb``.

Two parts, run by ``tests/test_remote_hosts.py`` and ``tests/test_ray.py`` too:

* **A remote manager** (spec 16.6.2.7.3).  ``serve`` is the spec's server
  for one shared queue -- a ``BaseManager`` subclass, ``QueueManager``,
  registering ``get_queue`` -- listening on every address of its host.
  ``client`` is a small remote shell: it connects a ``QueueManager`` to a
  server, then reads one command a line from stdin (``["put", "hello"]``,
  ``["get", 5]``, ``["qsize"]``, ``["waiting"]``, ``["roundtrips", 200]``)
  and answers each with one JSON line on stdout (``["ok", value]`` or
  ``["error", "ExceptionName: message"]``).  The chapter starts both with
  ``python -m mpref.targets.beyond serve|client ...`` inside network
  namespaces (``mpref/targets/netns.py``) and prints what comes back, so
  nothing depends on a child's prints reaching the notebook.

* **One Pool program for every Pool.**  ``pool_program(namespace)`` is a
  faithful subset of the spec's pool program (16.6.4): ``apply_async``,
  ``imap``, ``imap_unordered``, ``map``, errors surfacing, timeouts and
  callbacks, written against ``namespace.Pool`` and
  ``namespace.TimeoutError`` only -- as the spec's program is written
  against whichever ``multiprocessing`` it is given.  The chapter runs it,
  unchanged, with mpref, the standard library and Ray's
  ``ray.util.multiprocessing``; ``pool_timings`` measures the three on the
  same work.  Tasks sleep for fixed times (not random ones) and
  unordered results are sorted, so the report is the same every run.
  ``start_local_ray`` and ``stop_local_ray`` start and stop the small local
  Ray cluster (Ray is imported only there: it is the optional ``cluster``
  extra, never a dependency of mpref).
"""

import json
import logging
import os
import queue
import shutil
import signal
import sys
import threading
import time

from mpref.managers import BaseManager

#: The spec's port and key for its remote queue (16.6.2.7.3).
PORT = 50000
AUTHKEY = b'abracadabra'


# ---------------------------------------------------------------------------
# The remote manager (16.6.2.7.3)
# ---------------------------------------------------------------------------

class QueueManager(BaseManager):
    """The spec's manager class for one remote queue; ``serve``/``client`` register ``get_queue``."""


class WatchedQueue(queue.Queue):
    """A ``queue.Queue`` that can also say how many ``get()`` calls are waiting.

    Lets a client see, through its proxy, that another client's call is in
    progress on the server -- the moment to pull that client's plug.
    """

    def __init__(self):
        super().__init__()
        self._waiting = 0
        self._count_lock = threading.Lock()

    def get(self, block=True, timeout=None):
        with self._count_lock:
            self._waiting += 1
        try:
            return super().get(block, timeout)
        finally:
            with self._count_lock:
                self._waiting -= 1

    def waiting(self):
        """The number of ``get()`` calls now blocked or running."""
        return self._waiting


def serve(port=PORT, authkey=AUTHKEY):
    """Serve one shared queue on every address of this host, forever.

    Prints ``["serving", [host, port]]`` (flushed) once listening.  Stops
    on SIGINT (or when killed).
    """
    shared = WatchedQueue()
    QueueManager.register('get_queue', callable=lambda: shared)
    manager = QueueManager(address=('', port), authkey=authkey)
    server = manager.get_server()
    _say('serving', list(server.address))
    server.serve_forever()


def client(host, port=PORT, authkey=AUTHKEY):
    """Connect to the queue served at ``(host, port)``; obey stdin commands.

    The first line printed is ``["ok", "connected"]`` or the error that
    stopped the connection (e.g. ``["error", "AuthenticationError: ..."]``,
    then exit status 1).  Each command line gets one answer line.
    """
    QueueManager.register('get_queue')
    manager = QueueManager(address=(host, port), authkey=authkey)
    try:
        manager.connect()
        shared = manager.get_queue()
    except Exception as exc:
        _say('error', '%s: %s' % (type(exc).__name__, exc))
        sys.exit(1)
    _say('ok', 'connected')
    for line in sys.stdin:
        command, *args = json.loads(line)
        try:
            _say('ok', _obey(shared, command, args))
        except Exception as exc:
            _say('error', '%s: %s' % (type(exc).__name__, exc))


def _obey(shared, command, args):
    if command == 'put':
        return shared.put(*args)
    if command == 'get':
        return shared.get(True, *args)
    if command == 'qsize':
        return shared.qsize()
    if command == 'waiting':
        return shared.waiting()
    if command == 'roundtrips':
        return roundtrips(shared, *args)
    raise ValueError('unknown command %r (put, get, qsize, waiting, roundtrips)' % command)


def roundtrips(shared, calls, payload_bytes=0):
    """Mean seconds per round trip through the proxy ``shared``.

    With ``payload_bytes == 0``: ``calls`` calls of ``qsize()`` (one small
    request, one small reply).  Otherwise ``calls`` pairs ``put(data)`` +
    ``get()`` of that many bytes, i.e. the data crosses twice.
    """
    data = b'x' * payload_bytes
    start = time.perf_counter()
    for _ in range(calls):
        if payload_bytes:
            shared.put(data)
            shared.get()
        else:
            shared.qsize()
    return (time.perf_counter() - start) / calls


class RemoteClient:
    """The parent's handle on one ``client`` shell running on a host of a ``netns.Lab``.

    Starts ``python -m mpref.targets.beyond client address PORT authkey``
    inside ``host``; ``greeting`` is its first answer (``['ok',
    'connected']`` or an error).  ``ask(*command)`` sends one command and
    returns its answer; ``send`` and ``answer`` do the two halves
    separately, for a call that blocks on the server.
    """

    def __init__(self, lab, host, address, authkey=AUTHKEY, port=PORT):
        argv = [sys.executable, '-m', 'mpref.targets.beyond', 'client',
                address, str(port), authkey.decode()]
        self.proc = lab.popen(host, argv)
        self.greeting = self.answer()

    def send(self, *command):
        self.proc.stdin.write(json.dumps(command) + '\n')
        self.proc.stdin.flush()

    def answer(self):
        line = self.proc.stdout.readline()
        if not line:
            raise EOFError('the client exited (status %r) without answering' % self.proc.wait(10))
        return json.loads(line)

    def ask(self, *command):
        self.send(*command)
        return self.answer()


def _say(*message):
    print(json.dumps(message), flush=True)


# ---------------------------------------------------------------------------
# One Pool program for every Pool (16.6.4, the pool program)
# ---------------------------------------------------------------------------

def describe(func, args):
    """``'mul(3, 7) = 21'``: the spec's ``calculate`` without the worker's name.

    (Which worker answered differs from run to run, and Ray's workers are
    not named ``PoolWorker-N``: the name is left out.)
    """
    return '%s%s = %s' % (func.__name__, args, func(*args))


def describestar(task):
    return describe(*task)


def mul(a, b):
    time.sleep(0.01 * (a % 3))
    return a * b


def plus(a, b):
    time.sleep(0.01 * (a % 3))
    return a + b


def f(x):
    """The spec's failing function: ``1/(x-5)``, ZeroDivisionError at 5."""
    return 1.0 / (x - 5.0)


def pow3(x):
    return x ** 3


def nap(seconds):
    """Sleep, then return the time slept: a task slow enough to time out on."""
    time.sleep(seconds)
    return seconds


def burn(n):
    """A CPU-bound task: the sum of the first ``n`` squares, the slow way."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def nbytes(data):
    """A task whose argument is big: its length."""
    return len(data)


TASKS = [(mul, (i, 7)) for i in range(6)] + [(plus, (i, 8)) for i in range(6)]


def pool_program(namespace, processes=2):
    """Run the pool program on ``namespace.Pool``; return its report lines.

    ``namespace`` is anything with ``Pool`` and ``TimeoutError`` (the mpref
    package, the stdlib's ``multiprocessing``, or one made for
    ``ray.util.multiprocessing``).  Raises AssertionError if a result is
    wrong, as the spec's program does; how errors surface is reported,
    not asserted, since that is where the Pools differ.
    """
    out = []
    pool = namespace.Pool(processes)
    try:
        results = [pool.apply_async(describe, task) for task in TASKS]
        imap_it = pool.imap(describestar, TASKS)
        imap_unordered_it = pool.imap_unordered(describestar, TASKS)
        out.append('Ordered results using pool.apply_async():')
        out += ['\t' + r.get(60) for r in results]
        out.append('Ordered results using pool.imap():')
        out += ['\t' + x for x in imap_it]
        out.append('Unordered results using pool.imap_unordered() (sorted to print):')
        out += ['\t' + x for x in sorted(imap_unordered_it, key=_task_order)]
        out.append('Ordered results using pool.map():')
        out += ['\t' + x for x in pool.map(describestar, TASKS)]

        N = 10000
        assert list(map(pow3, range(N))) == pool.map(pow3, range(N)) \
            == list(pool.imap(pow3, range(N), chunksize=N // 8))
        out.append('map(pow3, range(%d)) == pool.map(...) == list(pool.imap(..., chunksize=%d))'
                   % (N, N // 8))

        out.append('Testing error handling (f(5) divides by zero):')
        out.append('\t' + _outcome(lambda: pool.apply(f, (5,)), 'pool.apply(f, (5,))'))
        out.append('\t' + _outcome(lambda: pool.map(f, range(10)), 'pool.map(f, range(10))'))
        out.append('\t' + _outcome(lambda: list(pool.imap(f, range(10))),
                                    'list(pool.imap(f, range(10)))'))
        it = pool.imap(f, range(10))
        odd = []
        for i in range(10):
            try:
                value = next(it)
            except ZeroDivisionError:
                odd.append('raised ZeroDivisionError at item %d' % i)
            else:
                if isinstance(value, BaseException):
                    odd.append('returned a %s at item %d' % (type(value).__name__, i))
        out.append('\tnext() on pool.imap(f, range(10)) ' + ', '.join(odd))

        out.append('Testing AsyncResult.get() with timeout:')
        res = pool.apply_async(nap, (0.5,))
        timeouts = 0
        while True:
            try:
                value = res.get(0.02)
                break
            except namespace.TimeoutError:
                timeouts += 1
        assert timeouts > 0
        out.append('\tTimeoutError at least once, then the result %r' % value)

        out.append('Testing next(timeout) on an imap iterator:')
        it = pool.imap(nap, [0.5, 0.0])
        values, timeouts = [], 0
        while len(values) < 2:
            try:
                values.append(it.next(0.02))
            except namespace.TimeoutError:
                timeouts += 1
        assert timeouts > 0
        out.append('\tTimeoutError at least once, then the results %r' % values)

        out.append('Testing callbacks:')
        A = []
        pool.apply_async(mul, (7, 8), callback=A.append).wait(60)
        pool.map_async(pow3, range(10), callback=A.extend).wait(60)
        errors = []
        pool.apply_async(f, (5,), error_callback=errors.append).wait(60)
        _settle(lambda: len(A) == 11 and errors)
        assert sorted(A) == sorted([56, 0, 1, 8, 27, 64, 125, 216, 343, 512, 729]), A
        out.append('\tcallbacks succeeded')
        out.append('\terror_callback got a %s' % _kind(errors[0], ZeroDivisionError))
        # The order a map_async callback sees: the first task is the slow one.
        order = []
        pool.map_async(nap, [0.5, 0.0], chunksize=1, callback=order.extend).wait(60)
        _settle(lambda: len(order) == 2)
        out.append('\tmap_async(nap, [0.5, 0.0], chunksize=1) gave its callback %r' % order)

        out.append('Testing close() and join():')
        result = pool.apply_async(nap, (0.1,))
        pool.close()
        pool.join()
        out.append('\tthe task sent before close() finished: %r' % result.get(0))
    finally:
        pool.terminate()
    return out


def _task_order(line):
    name, rest = line.split('(', 1)
    return name != 'mul', int(rest.split(',')[0])


def _outcome(call, what):
    """Say how ``call()`` ended: what it raised, or where an exception came back as a value."""
    try:
        value = call()
    except Exception as exc:
        return '%s raised %s' % (what, type(exc).__name__)
    for i, item in enumerate(value):
        if isinstance(item, BaseException):
            return '%s returned a %s as item %d instead of raising' % (what, type(item).__name__, i)
    return '%s returned without an error: %r' % (what, value)


def _kind(exc, expected):
    return expected.__name__ if isinstance(exc, expected) else type(exc).__name__


def _settle(done, timeout=10.0):
    """Wait until ``done()`` (callbacks may run just after ``wait()`` returns)."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)


def pool_timings(namespace, processes=2, size='small'):
    """Seconds each kind of work takes on ``namespace.Pool(processes)``.

    Returns a dict: ``start`` (make the pool, get one trivial result back),
    ``small tasks`` (``map(pow3, range(N))``, many tiny tasks: overhead per
    task and per chunk), ``large tasks`` (``map(burn, ...)``, a few
    CPU-heavy tasks: the work itself), ``large arguments`` (``map(nbytes,
    ...)`` over 1 MiB blocks: moving data).  ``size='large'`` scales the
    work up.
    """
    scale = 4 if size == 'large' else 1
    timings = {}
    start = time.perf_counter()
    pool = namespace.Pool(processes)
    try:
        pool.apply(pow3, (2,))
        timings['start'] = time.perf_counter() - start
        work = {
            'small tasks': (pow3, range(20000 * scale)),
            'large tasks': (burn, [300000] * (4 * scale)),
            'large arguments': (nbytes, [bytes(1 << 20)] * (8 * scale)),
        }
        for name, (func, items) in work.items():
            start = time.perf_counter()
            pool.map(func, items)
            timings[name] = time.perf_counter() - start
        pool.close()
        pool.join()
    finally:
        pool.terminate()
    return timings


# ---------------------------------------------------------------------------
# A local Ray cluster, small and tidy (the ``cluster`` extra: Ray itself)
# ---------------------------------------------------------------------------

#: The signal handlers ``start_local_ray`` found, for ``stop_local_ray`` to restore.
_handlers_before_ray = {}


def start_local_ray(ray, temp_dir, num_cpus=2):
    """Start a one-machine Ray cluster for this process; return ``ray.init``'s context.

    ``ray`` is the Ray module, imported by the caller: nothing under ``mpref/``
    imports a third-party package, not even this optional chapter helper.

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
        if not pids or not all(pid.isdigit() and not _alive(int(pid)) for pid in pids):
            continue
        if processes_mentioning(path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        swept.append(path)
    return swept


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def processes_mentioning(text):
    """``{pid: command line}`` of the live processes whose command line
    contains ``text``, and of all their descendants.

    Ray's raylet and GCS server carry the cluster's temp dir on their
    command lines; its workers (children of the raylet) rename themselves
    (``ray::PoolActor``) and are found as descendants.
    """
    table = {}                              # pid: (parent pid, command line)
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                command = f.read().replace(b'\0', b' ').decode(errors='replace').strip()
            with open('/proc/%s/stat' % entry) as f:
                state, parent = f.read().rsplit(')', 1)[1].split()[:2]
        except OSError:
            continue
        if state not in ('Z', 'X'):
            table[int(entry)] = (int(parent), command)
    found = {pid for pid, (_, command) in table.items() if text in command}
    grew = True
    while grew:
        children = {pid for pid, (parent, _) in table.items() if parent in found} - found
        found |= children
        grew = bool(children)
    return {pid: table[pid][1][:100] for pid in sorted(found)}


if __name__ == '__main__':
    role, *rest = sys.argv[1:] or ['']
    if role == 'serve' and len(rest) == 2:
        serve(int(rest[0]), rest[1].encode())
    elif role == 'serve':
        serve()
    elif role == 'client':
        client(rest[0], int(rest[1]), rest[2].encode())
    else:
        sys.exit('usage: python -m mpref.targets.beyond serve [PORT AUTHKEY]'
                 ' | client HOST PORT AUTHKEY')
