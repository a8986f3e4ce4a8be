"""pytest, with mpref standing in for ``multiprocessing`` from the first line.

The runner (``__main__.py``) starts pytest as ``python -m tests.cpython.run_pytest``
rather than ``python -m pytest``.  A child that a test *spawns* re-imports its
parent's main module (this one, under the name ``__mp_main__``) before it
unpickles anything, so it installs the stand-in and loads CPython's test file
the stand-in's way first -- before it unpickles, say, the target of a
manager's server process: ``MyManager._run_server``, a class of that file,
whose import would otherwise bring in the real ``multiprocessing``.
"""

import sys

from tests.cpython import stand_in

stand_in.load_cpython_tests()

if __name__ == '__main__':
    import pytest
    sys.exit(pytest.console_main())
