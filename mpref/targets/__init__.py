"""Functions that the chapters and tests run in child processes (their targets).

A spawned child imports its target by module and name, and a notebook cell's
functions live in an interactive ``__main__`` that a new interpreter cannot
import; so each chapter keeps the functions its children run here, in one module
named after the mpref module the chapter teaches (``targets/queues.py`` for
``notebooks/04_queues.ipynb``), beside the parent's half of how they report
back.  The spec's task functions that several chapters, example programs and
benchmarks run (``f``, ``mul``, ``plus``, ``pow3``, ...) are written once, in
``targets/tasks.py``.  Spec section 16.6.3 (picklability and the safe importing
of the main module) is why this package exists.

The top folders stand in this order: ``targets/`` imports only mpref's own
modules, ``benchmarks/`` may import ``targets/``, ``examples/`` may import
both.  The lab equipment of chapter 14 and the tests (network namespaces, a
local Ray cluster, ``/proc``) is not here: it lives in ``lab/`` at the
repository's root and is not installed with mpref.
"""
