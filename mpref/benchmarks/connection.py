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
has been received.  Each figure is the best of three batches.
"""

import time

import mpref
from mpref.benchmarks.yardstick import stdlib_multiprocessing

#: size -> (number of 256-byte objects, number of 1 MiB messages) per batch
SIZES = {'small': (20000, 64), 'large': (200000, 512)}
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
        objects, megabytes = 0.0, 0.0
        for _ in range(REPEAT):
            parent_end.send(('objects', n_objects))
            t0 = time.perf_counter()
            for _ in range(n_objects):
                parent_end.send(OBJECT)
            parent_end.recv()
            objects = max(objects, n_objects / (time.perf_counter() - t0))

            parent_end.send(('bytes', n_messages))
            t0 = time.perf_counter()
            for _ in range(n_messages):
                parent_end.send_bytes(MESSAGE)
            parent_end.recv()
            megabytes = max(megabytes, n_messages * len(MESSAGE) / 1e6 / (time.perf_counter() - t0))
        parent_end.send(None)
    finally:
        child.join(30)
        if child.is_alive():
            child.terminate()
            child.join(5)
        parent_end.close()
    return objects, megabytes


def run(size='small'):
    """Rows for 256-byte objects/s and 1 MiB send_bytes MB/s, mpref and stdlib."""
    n_objects, n_messages = SIZES[size]
    ours = _measure(mpref.get_context('fork'), n_objects, n_messages)
    theirs = _measure(stdlib_multiprocessing().get_context('fork'), n_objects, n_messages)
    return [
        {'name': 'Pipe send/recv 256-byte str', 'mpref': ours[0], 'stdlib': theirs[0],
         'unit': 'objects/s'},
        {'name': 'Pipe send_bytes/recv_bytes 1 MiB', 'mpref': ours[1], 'stdlib': theirs[1],
         'unit': 'MB/s'},
    ]
