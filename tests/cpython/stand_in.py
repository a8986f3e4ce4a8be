"""mpref standing in for ``multiprocessing``, in this process only.

``install()`` puts a finder at the front of ``sys.meta_path`` that answers
``import multiprocessing`` with the ``mpref`` package and
``import multiprocessing.X`` (``connection``, ``dummy``, ``dummy.connection``,
``managers``, ``pool``, ...) with the module ``mpref.X`` itself -- the same
module object, so ``multiprocessing.synchronize.Lock is mpref.synchronize.Lock``.
A module mpref does not have (``reduction``, ``shared_memory``, ``context``)
raises ``ModuleNotFoundError``, as an absent optional module would; CPython's
test file already copes with that.

CPython's test file also touches a few names at import time and in its
module and class fixtures that are the stdlib's own test plumbing, not API the
tests examine (``process._dangling``, ``util._cleanup_tests``,
``set_forkserver_preload``, ...).  Where mpref lacks one, ``install()`` lends
a stand-in (``LENT`` lists each, with why).  A lent name is only ever added,
never put over one mpref has: the day mpref grows the real thing, the tests
use it.  ``Barrier`` is lent as a callable that raises, so the module can
build its mixin classes; a selected test that really calls it fails.

``load_cpython_tests()`` then imports ``test._test_multiprocessing`` from the
standard library of the interpreter running this (it is never copied here).

A spawned child imports ``tests.cpython.suite`` to unpickle its target, and
that module calls ``install()`` first, so the child sees the same stand-in.
"""

import importlib
import importlib.abc
import importlib.util
import os
import sys
import threading
import weakref

import mpref

REAL_NAME = 'multiprocessing'
STAND_IN = 'mpref'


class _ExistingModuleLoader(importlib.abc.Loader):
    """Hands the import system a module that is already loaded."""

    def __init__(self, module):
        self.module = module
        self.own_spec = module.__spec__

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        # The module ran when mpref imported it.  The import system has just
        # set its __spec__ to the alias's: give it back its own, so that mpref
        # keeps its name for its relative imports and for pickle.
        module.__spec__ = self.own_spec


class _PlaceholderLoader(importlib.abc.Loader):
    """Makes an (almost) empty module for a name in ``PLACEHOLDER_MODULES``."""

    def create_module(self, spec):
        return None                     # the default: a plain new module

    def exec_module(self, module):
        why, attributes = PLACEHOLDER_MODULES[module.__name__]
        module.__doc__ = 'Placeholder lent by tests/cpython/stand_in.py: %s' % why
        module.__dict__.update(attributes)


#: Modules CPython's test file imports unconditionally but that mpref does not
#: have: (why, the attributes the file reads).  Only tests outside the
#: selection use them.
PLACEHOLDER_MODULES = {
    'multiprocessing.resource_tracker': (
        "imported at module level on POSIX for the shared_memory and "
        "resource tracker tests (post-2.6; mpref has semaphore_tracker instead)",
        {'_CLEANUP_FUNCS': {}}),
}


class StandInFinder(importlib.abc.MetaPathFinder):
    """``multiprocessing[.X]`` -> ``mpref[.X]``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != REAL_NAME and not fullname.startswith(REAL_NAME + '.'):
            return None
        target_name = STAND_IN + fullname[len(REAL_NAME):]
        if fullname in PLACEHOLDER_MODULES and importlib.util.find_spec(target_name) is None:
            return importlib.util.spec_from_loader(fullname, _PlaceholderLoader())
        try:
            module = importlib.import_module(target_name)
        except ModuleNotFoundError as exc:
            if exc.name != target_name:
                raise                   # a real import error inside mpref
            raise ModuleNotFoundError('mpref has no module %r (asked for %r)'
                                      % (target_name, fullname), name=fullname) from None
        return importlib.util.spec_from_loader(fullname, _ExistingModuleLoader(module))


def _raises(what, why):
    def absent(*args, **kwargs):
        raise NotImplementedError('mpref has no %s (%s)' % (what, why))
    absent.__name__ = what.rsplit('.', 1)[-1]
    return absent


_own = {}                               # mpref's functions, before they were wrapped


def _get_start_method(allow_none=False):
    return _own['get_start_method']()


def _set_start_method(method, force=False):
    if method is not None:
        _own['set_start_method'](method)


def _lent_names():
    """(module, name, stand-in, why) for every name the test plumbing needs."""
    from mpref import dummy, process, util
    return [
        (process, '_dangling', weakref.WeakSet(),
         "the fixtures compare it before and after a class to warn of dangling "
         "processes (stdlib bookkeeping); an empty set never warns"),
        (util, '_cleanup_tests', lambda: None,
         "tearDownModule resets the stdlib's forkserver and resource tracker; "
         "mpref has neither"),
        (util, 'abstract_sockets_supported', sys.platform == 'linux',
         "a skipUnless() on test_abstract_socket reads it at import time; "
         "on Linux the test then runs (and says whether mpref takes such an address)"),
        (mpref, 'set_forkserver_preload', lambda modules: None,
         "setUpModule calls it; mpref has no forkserver"),
        (mpref, 'Barrier', _raises('Barrier', 'post-2.6: Python 3.3'),
         "ProcessesMixin reads it when the class is made"),
        (dummy, 'Barrier', _raises('dummy.Barrier', 'post-2.6: Python 3.3'),
         "ThreadsMixin reads it when the class is made"),
    ]


#: The signatures the fixtures call with; mpref's own functions take the
#: method only.  These wrap them, for the fixtures' calls only.
WRAPPED = {
    'get_start_method': (_get_start_method, "setUpModule asks get_start_method(allow_none=True)"),
    'set_start_method': (_set_start_method, "setUpModule/tearDownModule pass force=True "
                                            "(and restore None)"),
}

LENT = []                               # (module name, name, why), filled by install()
_installed = False
_lock = threading.Lock()


def install():
    """Make ``multiprocessing`` mean mpref in this process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        for name in [n for n in sys.modules if n == REAL_NAME or n.startswith(REAL_NAME + '.')]:
            del sys.modules[name]       # imported before us: forget the real one
        sys.meta_path.insert(0, StandInFinder())
        for module, name, value, why in _lent_names():
            if not hasattr(module, name):
                setattr(module, name, value)
                LENT.append((module.__name__, name, why))
        for name, (why, _) in PLACEHOLDER_MODULES.items():
            if importlib.util.find_spec(STAND_IN + name[len(REAL_NAME):]) is None:
                # Imported now, so that it is an attribute of the package too:
                # `from multiprocessing import X` looks for mpref.X.
                importlib.import_module(name)
                LENT.append((name, '(module)', why))
        for name, (function, why) in WRAPPED.items():
            # Only the namespace's name is wrapped: mpref's modules keep theirs.
            _own[name] = getattr(mpref, name)
            setattr(mpref, name, function)
            LENT.append(('mpref', name, why))
        _installed = True


def load_cpython_tests():
    """Import ``test._test_multiprocessing`` of this interpreter, over mpref.

    At import time the file calls ``support.skip_if_broken_multiprocessing_synchronize()``,
    which makes ``multiprocessing.synchronize.Lock(ctx=None)`` (the stdlib's
    private ``ctx`` argument); for that call only, the check makes an mpref
    ``Lock()`` instead, the same test of /dev/shm.
    """
    install()
    name = 'test._test_multiprocessing'
    if name in sys.modules:
        return sys.modules[name]
    from test import support

    def semaphores_work():
        try:
            mpref.Lock()
        except OSError as exc:
            import unittest
            raise unittest.SkipTest('POSIX semaphores do not work here: %r' % (exc,))

    original = support.skip_if_broken_multiprocessing_synchronize
    support.skip_if_broken_multiprocessing_synchronize = semaphores_work
    try:
        module = importlib.import_module(name)
    finally:
        support.skip_if_broken_multiprocessing_synchronize = original
    assert module.multiprocessing is mpref, 'the stand-in did not take'
    return module


def describe():
    """One line per thing lent, for the run's header."""
    import test
    where = os.path.dirname(test.__file__)
    lines = ['multiprocessing -> mpref (%s); CPython tests from %s' % (mpref.__file__, where)]
    lines += ['lent %s.%s: %s' % (module, name, why) for module, name, why in LENT]
    return lines
