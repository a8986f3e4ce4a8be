"""Functions that the chapters and tests run in child processes (their targets).

A spawned child imports its target by module and name, and a notebook cell's
functions live in an interactive ``__main__`` that a new interpreter cannot
import; so each chapter keeps the functions its children run here, in one module
named after the mpref module the chapter teaches (``targets/queues.py`` for
``notebooks/04_queues.ipynb``).  Spec section 16.6.3 (picklability and the safe
importing of the main module) is why this package exists.
"""
