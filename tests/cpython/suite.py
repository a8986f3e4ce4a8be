"""The module pytest collects: CPython's multiprocessing test classes, built over mpref.

CPython runs ``Lib/test/_test_multiprocessing.py`` through small modules
(``test_multiprocessing_fork``, ``..._spawn``) that each call
``install_tests_in_module_dict(globals(), start_method)``: it makes, from each
``_TestX`` base class, the ``WithProcessesTestX``, ``WithManagerTestX`` and
``WithThreadsTestX`` variants its ``ALLOWED_TYPES`` name, plus
``setUpModule``/``tearDownModule``.  This module does the same, with mpref
standing in for ``multiprocessing`` (``stand_in.py``); which of the classes'
tests run is ``selection.py``'s business (``plugin.py`` deselects the rest).

The start method is ``MPREF_CPYTHON_START_METHOD`` (``fork`` unless set); the
runner sets it, and a spawned child inherits it with the environment, so it
rebuilds the same classes when it imports this module to unpickle its target.
"""

import os

from tests.cpython import stand_in

START_METHOD = os.environ.get('MPREF_CPYTHON_START_METHOD', 'fork')

stand_in.install()
cpython_tests = stand_in.load_cpython_tests()
cpython_tests.install_tests_in_module_dict(globals(), START_METHOD)
