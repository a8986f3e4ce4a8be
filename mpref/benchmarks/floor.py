"""The floor: the same work done with bare operating-system calls.

Used by the benchmark rows that have one (``floor`` in a row).  No library
stands between the program and the kernel here, so no implementation of
``multiprocessing`` -- mpref's in Python, the stdlib's with its C
accelerator -- can be expected to beat these figures; how close each comes
is the question ``notebooks/13_benchmarks.ipynb`` asks.

* ``pipe_objects_rate`` -- a forked child reads pickled objects framed by a
  4-byte ``struct`` length from an ``os.pipe``: what ``Connection.send`` /
  ``recv`` must do at least (pickle, frame, write; read, unpickle);
* ``pipe_bytes_rate`` -- the same with raw byte messages, no pickling;
* ``fork_waitpid_rate`` -- ``os.fork`` a child that ``os._exit``\\ s at once,
  then ``os.waitpid``: what starting and joining a process costs at least;
* ``semaphore_pairs_rate`` -- ``sem_wait`` + ``sem_post`` on a process-shared
  (named) POSIX semaphore through bare ``ctypes`` calls: what a lock built
  from ``ctypes`` calls, as mpref's is, costs at least.

Spec section 16.6.4 (the benchmark program).
"""

import ctypes
import fcntl
import os
import pickle
import struct
import time

from mpref.benchmarks.yardstick import median_rate

HEADER = struct.Struct('!i')


def _read_exactly(fd, n):
    """Read exactly ``n`` bytes from ``fd`` into one new buffer."""
    buffer = bytearray(n)
    view = memoryview(buffer)
    got = 0
    while got < n:
        count = os.readv(fd, [view[got:]])
        if not count:
            raise EOFError('the pipe closed mid-message')
        got += count
    return buffer


def _write_message(fd, payload):
    """Write a 4-byte length and ``payload`` with one ``writev`` (more only if
    the kernel takes part of it)."""
    header = HEADER.pack(len(payload))
    written = os.writev(fd, [header, payload])
    rest = memoryview(payload)[max(0, written - HEADER.size):]
    while rest:
        rest = rest[os.write(fd, rest):]


def _widen(fd):
    """Give the pipe a 1 MiB buffer where Linux allows it (``F_SETPIPE_SZ``):
    a socket pair, which ``Pipe()`` uses, buffers that much by itself, and a
    64 KiB pipe would make the floor a measure of context switches."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (AttributeError, OSError):
        pass        # not Linux, or over the user's pipe-buffer quota: keep the default


def _fork_reader(count, unpickle):
    """Fork a child that reads ``count`` framed messages from a new pipe, then
    writes one byte back; return (write fd, ack read fd, pid)."""
    data_r, data_w = os.pipe()
    _widen(data_w)
    ack_r, ack_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(data_w)
            os.close(ack_r)
            message = None
            for _ in range(count):
                (length,) = HEADER.unpack(_read_exactly(data_r, HEADER.size))
                # Holding the last message until the next is read keeps the
                # allocator from returning big buffers to the OS each time
                # (the connection benchmark's consumer does the same).
                last, message = message, _read_exactly(data_r, length)
                del last
                if unpickle:
                    pickle.loads(message)
            os.write(ack_w, b'!')
            status = 0
        finally:
            os._exit(status)
    os.close(data_r)
    os.close(ack_w)
    return data_w, ack_r, pid


def _pipe_rate(count, message, pickled):
    def once():
        data_w, ack_r, pid = _fork_reader(count, pickled)
        try:
            t0 = time.perf_counter()
            for _ in range(count):
                payload = pickle.dumps(message) if pickled else message
                _write_message(data_w, payload)
            os.read(ack_r, 1)
            return count, time.perf_counter() - t0
        finally:
            os.close(data_w)
            os.close(ack_r)
            os.waitpid(pid, 0)
    return median_rate(once)


def pipe_objects_rate(count, obj):
    """Objects per second (median of 3, with its spread): ``count`` pickled ``obj`` through an os.pipe."""
    return _pipe_rate(count, obj, pickled=True)


def pipe_bytes_rate(count, message):
    """Bytes per second (median of 3, with its spread): ``count`` copies of ``message`` through an os.pipe."""
    return _pipe_rate(count, message, pickled=False) * len(message)


def fork_waitpid_rate(count):
    """Children per second (median of 3, with its spread): ``os.fork`` + ``os._exit(0)`` + ``os.waitpid``."""
    def once():
        t0 = time.perf_counter()
        for _ in range(count):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
        return count, time.perf_counter() - t0
    return median_rate(once)


def semaphore_pairs_rate(calls):
    """``sem_wait`` + ``sem_post`` pairs per second (median of 3, with its
    spread) on a new process-shared POSIX semaphore, nobody else using it.

    The calls keep the GIL (``ctypes.PyDLL``) and save no ``errno``: the
    cheapest way Python has to reach them, and the way mpref makes its own
    calls that never block.  Nothing is checked or counted: an upper bound
    for any lock built from ``ctypes`` calls.
    """
    from mpref.semaphore_tracker import LIBRARY_PATH     # which library has sem_open
    libc = ctypes.PyDLL(LIBRARY_PATH, use_errno=True)
    sem_open = libc.sem_open
    sem_open.restype = ctypes.c_void_p
    sem_open.argtypes = [ctypes.c_char_p, ctypes.c_int]
    sem_wait, sem_post, sem_close, sem_unlink = (libc.sem_wait, libc.sem_post,
                                                 libc.sem_close, libc.sem_unlink)
    for function in (sem_wait, sem_post, sem_close):
        function.restype = ctypes.c_int
        function.argtypes = [ctypes.c_void_p]
    sem_unlink.restype = ctypes.c_int
    sem_unlink.argtypes = [ctypes.c_char_p]
    name = ('/mpref-floor-%d-%d' % (os.getpid(), time.monotonic_ns() % 10 ** 9)).encode()
    handle = sem_open(name, os.O_CREAT | os.O_EXCL, ctypes.c_uint(0o600), ctypes.c_uint(1))
    if handle in (None, ctypes.c_void_p(-1).value):
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    sem_unlink(name)                # nothing left in /dev/shm, whatever happens next

    def once():
        t0 = time.perf_counter()
        for _ in range(calls):
            sem_wait(handle)
            sem_post(handle)
        return calls, time.perf_counter() - t0
    try:
        return median_rate(once)
    finally:
        sem_close(handle)
