"""The spec's task functions, each written once: what its examples hand a child or a worker.

The spec's examples give their processes and pools small functions -- ``f``,
``mul``, ``plus``, ``pow3``, the list put on a queue or sent down a pipe, the
shared value negated -- and several chapters, example programs, benchmarks and
tests run the same ones.  They live here, importable by name (a spawned child
or a pool worker imports its function by module and name), and everyone
imports them from here.  A chapter's own targets stay in its module
(``targets/pool.py`` for ``notebooks/07_pool.ipynb``); a function whose body
differs on purpose (another sleep, another report) is a different function
and stays with its program, saying why.

Spec sections 16.6.1 (the introduction's examples), 16.6.2.9 and 16.6.4 (the
pool examples and programs), 16.6.3.1 (joining processes that use queues).
"""

import random
import time


# -- the introduction's examples (16.6.1) ----------------------------------------

def put_list(q):
    """16.6.1.2, queues: put the spec's small list on the queue."""
    q.put([42, None, 'hello'])


def send_list(conn):
    """16.6.1.2, pipes: send the spec's small list down the pipe and close this end."""
    conn.send([42, None, 'hello'])
    conn.close()


def negate(n, a):
    """16.6.1.4, shared memory: set a shared double, negate a shared int array in place."""
    n.value = 3.1415927
    for i in range(len(a)):
        a[i] = -a[i]


def fill(d, lst):
    """16.6.1.4, server process: store three items in a dict proxy, reverse a list proxy."""
    d[1] = '1'
    d['2'] = 2
    d[0.25] = None
    lst.reverse()


# -- the pool's tasks (16.6.1.5, 16.6.2.9, 16.6.4) -------------------------------

def f(x):
    """The spec's first pool example: ``x*x``."""
    return x * x


def mul(a, b):
    """The pool and workers programs' task, with their sleep shortened from the spec's 0.5 s."""
    time.sleep(0.05 * random.random())
    return a * b


def plus(a, b):
    """As ``mul``, for ``a + b``."""
    time.sleep(0.05 * random.random())
    return a + b


def reciprocal(x):
    """The spec's ``f`` of the pool program's error handling: ``ZeroDivisionError`` at 5."""
    return 1.0 / (x - 5.0)


def pow3(x):
    return x ** 3


def noop(x):
    pass


def burn(n):
    """A CPU-bound task: the sum of i*i for i < n, the slow way.  Holds the GIL throughout."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def nap(seconds):
    """Sleep, as a task waiting for I/O does (the GIL is released), then return the time slept."""
    time.sleep(seconds)
    return seconds


# -- queues (16.6.1.2, 16.6.3.1) -------------------------------------------------

def put_item(q, item):
    """Put ``item`` and return (the process then waits for its feeder thread)."""
    q.put(item)


def put_big(q, size=1_000_000):
    """Put a string bigger than the pipe holds: the spec's deadlock example (16.6.3.1)."""
    q.put('X' * size)
