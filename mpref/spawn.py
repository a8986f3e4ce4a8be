"""How a *spawned* child comes to life (spec 16.6.2.3, 16.6.3.2).

Chapter: ``notebooks/01_process.ipynb``.  The parent's half is
``popen_spawn.py``; this module holds what both halves share and the child's
entry point, ``spawn_main``.

A spawned child is a brand-new interpreter (``sys.executable`` unless
``set_executable()`` chose another).  It shares no memory with its parent, so
the parent sends it, down a pipe, two pickles:

1. *preparation data* -- the child's name and authkey, ``sys.path``,
   ``sys.argv``, the working directory and how to import the parent's main
   module; and
2. the ``Process`` object itself, with its target and arguments.

The child replays the preparation (taking on its name and authkey first, so
code run while importing the main module already sees them), imports the
parent's main module under the name ``__mp_main__`` (so its
``if __name__ == '__main__':`` block does *not* run again -- the spec's "safe
importing of main module"), unpickles the process object and calls its
``_bootstrap()``.

This is the spec's Windows model, shown for real on Linux: everything a child
needs must be picklable, and objects that can only be shared by inheritance
(locks, pipes, shared memory) make themselves picklable *only while a child is
being spawned* -- see ``get_spawning_popen`` and ``assert_spawning``.
"""

import os
import pickle
import runpy
import subprocess
import sys
import threading
import types

from . import util

__all__ = ['set_executable', 'get_executable', 'get_spawning_popen',
           'assert_spawning', 'duplicate_for_child', 'importing_main',
           'set_identity_setter', 'spawn_main']

# --------------------------------------------------------------------------
# Which interpreter to start
# --------------------------------------------------------------------------

_executable = sys.executable


def set_executable(executable):
    """Use ``executable`` as the Python interpreter for spawned children.

    By default ``sys.executable``.  (The spec's note about ``pythonw.exe`` is
    for Windows embedders; on POSIX any Python >= 3.10 with mpref importable
    will do.)
    """
    global _executable
    _executable = os.fspath(executable)


def get_executable():
    return _executable


# --------------------------------------------------------------------------
# "Is a child being spawned right now, by this thread?"
# --------------------------------------------------------------------------

_spawning = threading.local()


def get_spawning_popen():
    """Return the Popen currently pickling a process object, or None."""
    return getattr(_spawning, 'popen', None)


def set_spawning_popen(popen):
    _spawning.popen = popen


def assert_spawning(obj):
    """Raise ``RuntimeError`` unless a child is being spawned by this thread.

    Objects that live in the operating system (semaphores, pipes, shared
    memory) call this from their ``__reduce__``: they may travel to a child
    as ``Process`` arguments, but pickling them into a queue or pipe would
    only copy a name or a number, not the thing itself.
    """
    if get_spawning_popen() is None:
        raise RuntimeError(
            '%s objects should only be shared between processes through '
            'inheritance: pass it to the child as a Process argument (or let a '
            'forked child inherit it) instead of sending it through a queue '
            'or pipe -- "better to inherit than pickle" (spec 16.6.3.1)'
            % type(obj).__name__)


def duplicate_for_child(fd):
    """Arrange for file descriptor ``fd`` to reach the child being spawned.

    The descriptor keeps its number in the child, so the pickle may simply
    record ``fd``.  Only valid while spawning (see ``assert_spawning``).
    """
    popen = get_spawning_popen()
    if popen is None:
        raise RuntimeError('file descriptors can only be passed to a child '
                           'while it is being spawned')
    return popen.duplicate_for_child(fd)


# --------------------------------------------------------------------------
# The main module
# --------------------------------------------------------------------------

_importing_main = False


def importing_main():
    """True while a spawned child is importing its parent's main module.

    Starting a process then would start one more child per child, forever;
    ``Process.start()`` checks this and refuses with an explanation.
    """
    return _importing_main


def main_module_is_importable():
    """Can a spawned child import the parent's ``__main__`` again?

    Not when ``__main__`` is an interactive session (the REPL, a Jupyter
    kernel): it has no file and no module name to import.
    """
    main = sys.modules.get('__main__')
    spec = getattr(main, '__spec__', None)
    if spec is not None and getattr(spec, 'name', None):
        return True
    path = getattr(main, '__file__', None)
    return bool(path) and os.path.exists(path)


# --------------------------------------------------------------------------
# The preparation data
# --------------------------------------------------------------------------

_identity_setter = None


def set_identity_setter(setter):
    """Install the function with which a spawned child takes on its identity.

    ``prepare`` calls ``setter(name, authkey)`` before it imports the
    parent's main module, so code run at import time sees the child's own
    name and authkey.  ``process.py`` installs it: the current process is
    its business, and this module sits below it in mpref's layers, so it
    cannot import it.
    """
    global _identity_setter
    _identity_setter = setter


def get_preparation_data(name, authkey):
    """Everything a spawned child needs before it can unpickle its process.

    ``name`` and ``authkey`` are the child's own (its ``Process`` object's);
    pickle this only while spawning (the authkey refuses otherwise).
    """
    data = {
        'name': name,
        'authkey': authkey,
        'sys_path': list(sys.path),
        'sys_argv': list(sys.argv),
        'dir': os.getcwd(),
        # The logger as log_to_stderr() and setLevel() left it: the child's
        # records then reach its stderr in the same format (a fork copies it).
        'log_to_stderr': util.stderr_logging_settings()[0],
        'log_level': util.stderr_logging_settings()[1],
    }
    main = sys.modules.get('__main__')
    spec = getattr(main, '__spec__', None)
    if spec is not None and getattr(spec, 'name', None):
        data['init_main_from_name'] = spec.name
    elif main_module_is_importable():
        data['init_main_from_path'] = os.path.abspath(main.__file__)
    return data


def prepare(data):
    """Replay the parent's preparation data in the child."""
    global _importing_main
    _identity_setter(data['name'], data['authkey'])
    sys.path[:] = data['sys_path']
    sys.argv[:] = data['sys_argv']
    os.chdir(data['dir'])
    if data['log_to_stderr']:
        util.log_to_stderr()
    if data['log_level'] is not None:
        util.get_logger().setLevel(data['log_level'])
    _importing_main = True
    try:
        if 'init_main_from_name' in data:
            _import_main_by_name(data['init_main_from_name'])
        elif 'init_main_from_path' in data:
            _import_main_by_path(data['init_main_from_path'])
    finally:
        _importing_main = False


def _import_main_by_name(mod_name):
    # `python -m package` runs package.__main__, which usually *is* the
    # program's entry point and has no __name__ guard: do not run it again.
    if mod_name == '__main__' or mod_name.endswith('.__main__'):
        return
    util.debug("importing the parent's main module %s as __mp_main__", mod_name)
    main = types.ModuleType('__mp_main__')
    namespace = runpy.run_module(mod_name, run_name='__mp_main__', alter_sys=True)
    main.__dict__.update(namespace)
    sys.modules['__main__'] = sys.modules['__mp_main__'] = main


def _import_main_by_path(path):
    # Run the parent's script under the name __mp_main__ so that its
    # `if __name__ == '__main__':` block stays silent, then make the result
    # answer to '__main__' too, where pickle looks for the parent's functions.
    util.debug("importing the parent's main module %s as __mp_main__", path)
    main = types.ModuleType('__mp_main__')
    main.__file__ = path
    sys.modules['__mp_main__'] = main
    namespace = runpy.run_path(path, run_name='__mp_main__')
    main.__dict__.update(namespace)
    sys.modules['__main__'] = main


# --------------------------------------------------------------------------
# The child's entry point
# --------------------------------------------------------------------------

def get_command_line(data_fd, sentinel_fd):
    """The argv of a spawned child: run ``spawn_main`` in a fresh interpreter.

    The directory holding the ``mpref`` package goes first on ``sys.path`` so
    the child can import mpref even when it is not installed;
    ``prepare()`` then restores the parent's ``sys.path`` exactly.
    """
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = ('import sys; sys.path.insert(0, %r); '
            'from mpref.spawn import spawn_main; spawn_main(%d, %d)'
            % (package_parent, data_fd, sentinel_fd))
    # The parent's interpreter options (-O, -X dev, -W error, ...) apply to
    # the child too, as they would to a forked one.  The standard library
    # keeps the list of options that matter in this (private) helper, which
    # CPython's own multiprocessing uses for the same purpose.
    flags = subprocess._args_from_interpreter_flags()
    return [get_executable(), *flags, '-c', code]


def spawn_main(data_fd, sentinel_fd):
    """Run in a spawned child: read the two pickles, then run the process."""
    # The sentinel's write end is held, unused, until this interpreter dies.
    os.set_inheritable(sentinel_fd, False)
    util.adopt_sentinel(sentinel_fd)
    with open(data_fd, 'rb', closefd=True) as pipe:
        preparation_data = pickle.load(pipe)
        prepare(preparation_data)
        process_obj = pickle.load(pipe)
    exitcode = process_obj._bootstrap()     # Process's hook for the start methods
    util.flush_std_streams()
    sys.exit(exitcode)
