"""What a child runs in ``notebooks/10_dummy.ipynb``: a function whose effect
depends on whether it runs in a process or in a thread.

The spec's pool and synchronization programs (16.6.4), which the chapter and
``tests/test_dummy.py`` run on processes *or* threads, are functions of a
*namespace* -- ``mpref`` or ``mpref.dummy`` -- in ``mpref/examples/pool.py`` and
``mpref/examples/synchronize.py``; run one as a script::

    python -m mpref.examples.pool threads
    python -m mpref.examples.synchronize processes

The GIL measurements of the chapter use the spec's task functions ``burn``
(pure-Python computing) and ``nap`` (sleeping, as I/O does) from
``mpref/targets/tasks.py``.
"""


def append_to(items, value):
    """Append ``value`` to ``items``: a thread changes the caller's list, a
    process only its own copy."""
    items.append(value)
