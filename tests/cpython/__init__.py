"""CPython's own multiprocessing tests, run with mpref standing in for ``multiprocessing``.

``python -m tests.cpython`` (``__main__.py``); how it works: ``README.md`` here.
Not part of the suite ``python -m pytest`` runs (no ``test_*.py`` here).
"""
