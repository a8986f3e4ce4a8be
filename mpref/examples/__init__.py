"""The spec's example programs (16.6.4), re-created, and the benchmarks.

Chapters: ``notebooks/12_examples.ipynb`` and ``notebooks/13_benchmarks.ipynb``.

Functions that a spawned child must import (targets used by the chapters)
live in ``mpref.examples.targets``: a notebook's own functions sit in an
interactive ``__main__`` that a spawned child cannot import.
"""
