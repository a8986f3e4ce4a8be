"""Benchmark: throughput of a ``Pipe`` between two processes, mpref vs the stdlib.

Run with ``python -m mpref.benchmarks connection [--size large]``.
Chapter: ``notebooks/02_pipes_and_connections.ipynb``.

Two measurements, each for ``mpref.Pipe`` and the stdlib's
``multiprocessing.Pipe`` in the same run (forked children for both):

* **objects/s** -- the parent ``send()``\\ s 256-character strings, a forked
  child ``recv()``\\ s them; pickling, framing and two system calls per message.
* **MB/s** -- the parent ``send_bytes()``\\ s 1 MiB messages, the child
  ``recv_bytes()``\\ s them; here the copying through the kernel dominates.

The child acknowledges each batch, so the clock stops only when every message
has been received.  Each figure is the median of three batches, with its spread.

The floor of the first two rows is the same work with bare OS calls
(``floor.pipe_objects_rate``, ``floor.pipe_bytes_rate``: ``os.pipe``,
``struct`` framing, ``pickle``).

A third row is about memory, not speed: the receiver's peak memory while
``recv_bytes()`` takes one big message (256 MiB; ``--size large``: 2 GiB + 16
bytes, past the 4-byte header's limit), as a multiple of the payload.  Each
implementation is measured in a fresh interpreter (``receive_peak_memory``),
where ``tracemalloc``'s peak is what the receive held at its worst moment
(the growth of the resident set size, ``ru_maxrss``, is reported too, but the
kernel updates it lazily, so it can come out a little low).  mpref reads into
one buffer that becomes the returned bytes
(``Connection._read_into_new_bytes``): 1.0x.
"""

import hashlib
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

import mpref
from mpref.benchmarks import floor
from mpref.benchmarks.yardstick import Rate, stdlib_multiprocessing

#: size -> (number of 256-byte objects, number of 1 MiB messages) per batch
SIZES = {'tiny': (1000, 8), 'small': (20000, 64), 'large': (200000, 512)}
#: size -> (the length of the one big message of the memory row, how to say it)
BIG_MESSAGE = {'tiny': (16 << 20, '16 MiB'),
               'small': (256 << 20, '256 MiB'), 'large': ((2 << 30) + 16, '2 GiB + 16 B')}
OBJECT = 'x' * 256
MESSAGE = bytes(1 << 20)
REPEAT = 3


def consumer(conn):
    """The child: receive batches until told to stop, acknowledging each one.

    A batch starts with ``('objects', n)`` or ``('bytes', n)``; ``None`` ends.
    """
    while True:
        order = conn.recv()
        if order is None:
            break
        kind, count = order
        # Hold each message until the next arrives, as a consumer working on
        # its data would (dropping it at once makes the allocator hand the
        # memory back to the OS and fault it in again for every message).
        last = None
        if kind == 'objects':
            for _ in range(count):
                last = conn.recv()
        else:
            for _ in range(count):
                last = conn.recv_bytes()
        del last
        conn.send('done')
    conn.close()


def _measure(context, n_objects, n_messages):
    parent_end, child_end = context.Pipe()
    child = context.Process(target=consumer, args=(child_end,))
    child.start()
    child_end.close()
    try:
        objects, megabytes = [], []
        for _ in range(REPEAT):
            parent_end.send(('objects', n_objects))
            t0 = time.perf_counter()
            for _ in range(n_objects):
                parent_end.send(OBJECT)
            parent_end.recv()
            objects.append(n_objects / (time.perf_counter() - t0))

            parent_end.send(('bytes', n_messages))
            t0 = time.perf_counter()
            for _ in range(n_messages):
                parent_end.send_bytes(MESSAGE)
            parent_end.recv()
            megabytes.append(n_messages * len(MESSAGE) / 1e6 / (time.perf_counter() - t0))
        parent_end.send(None)
    finally:
        child.join(30)
        if child.is_alive():
            child.terminate()
            child.join(5)
        parent_end.close()
    return Rate.of(objects), Rate.of(megabytes)


def receive_peak_memory(nbytes, implementation='mpref'):
    """Receive one ``nbytes`` message in a fresh interpreter; report its memory.

    ``implementation`` is ``'mpref'`` or ``'stdlib'``.  Returns a dict:
    ``rss`` (growth of the receiver's peak resident set size, bytes),
    ``traced`` (``tracemalloc``'s peak, bytes) and ``intact`` (the SHA-256
    of what arrived matches what was sent).
    """
    command = [sys.executable, '-c',
               'import sys; from mpref.benchmarks.connection import _receive_one; '
               '_receive_one(sys.argv[1], int(sys.argv[2]))', implementation, str(nbytes)]
    result = subprocess.run(command, capture_output=True, text=True, check=True,
                            timeout=600)
    return json.loads(result.stdout)


def _receive_one(implementation, nbytes):
    # Runs in the fresh interpreter.  A forked child builds and sends the
    # payload, so only the receiving is in this process's memory peak.
    mp = mpref if implementation == 'mpref' else stdlib_multiprocessing()
    reader, writer = mp.Pipe(duplex=False)
    pid = os.fork()
    if pid == 0:
        reader.close()
        payload = bytes(range(256)) * (nbytes // 256) + bytes(nbytes % 256)
        writer.send_bytes(hashlib.sha256(payload).digest())
        writer.send_bytes(payload)
        writer.close()
        os._exit(0)
    writer.close()
    digest = reader.recv_bytes()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    data = reader.recv_bytes()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    os.waitpid(pid, 0)
    # ru_maxrss counts KiB on Linux, bytes on macOS.
    unit = 1 if sys.platform == 'darwin' else 1024
    print(json.dumps({'rss': (rss_after - rss_before) * unit, 'traced': traced,
                      'intact': len(data) == nbytes and hashlib.sha256(data).digest() == digest}))


def run(size='small'):
    """Rows for 256-byte objects/s, 1 MiB send_bytes MB/s and the memory
    receiving one big message takes, mpref and stdlib."""
    n_objects, n_messages = SIZES[size]
    ours = _measure(mpref.get_context('fork'), n_objects, n_messages)
    theirs = _measure(stdlib_multiprocessing().get_context('fork'), n_objects, n_messages)
    floors = (floor.pipe_objects_rate(n_objects, OBJECT),
              floor.pipe_bytes_rate(n_messages, MESSAGE) / 1e6)
    big, big_label = BIG_MESSAGE[size]
    peaks = {}
    for name in ('mpref', 'stdlib'):
        result = receive_peak_memory(big, name)
        if not result['intact']:
            raise RuntimeError('%s: the %d-byte message arrived damaged' % (name, big))
        peaks[name] = result['traced'] / big
    return [
        {'name': 'Pipe send/recv 256-byte str', 'mpref': ours[0], 'stdlib': theirs[0],
         'floor': floors[0], 'unit': 'objects/s'},
        {'name': 'Pipe send_bytes/recv_bytes 1 MiB', 'mpref': ours[1], 'stdlib': theirs[1],
         'floor': floors[1], 'unit': 'MB/s'},
        {'name': 'recv_bytes peak memory, ' + big_label, 'mpref': peaks['mpref'],
         'stdlib': peaks['stdlib'], 'unit': 'x payload (lower is better)'},
    ]
