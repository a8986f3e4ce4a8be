"""Starting a child with ``spawn``: a fresh interpreter (spec 16.6.3.2).

Chapter: ``notebooks/01_process.ipynb``.  The child's half is ``spawn.py``.

The parent pickles the preparation data and the ``Process`` object *before*
starting anything, so an unpicklable target fails early, in the parent, with
an explanation.  It then starts ``sys.executable`` with ``os.posix_spawn``
(no Python code runs between fork and exec, which is what makes it safe in a
process that has threads), handing over exactly the file descriptors the
child needs, and writes the pickles down a pipe.
"""

import io
import os
import pickle

from . import spawn, util
from .popen_fork import Popen as _ForkPopen

__all__ = ['Popen', 'ChildPickler']


class Popen(_ForkPopen):
    """Like ``popen_fork.Popen``, but the child is a new interpreter."""

    method = 'spawn'

    def _launch(self, process_obj):
        self._fds = []
        data = self._pickle_for_child(process_obj)
        with util.start_lock:
            parent_r, child_w = os.pipe()       # the sentinel
            child_r, parent_w = os.pipe()       # the pickles travel here
            try:
                argv = spawn.get_command_line(child_r, child_w)
                self.pid = _spawn_with_fds(argv, self._fds + [child_r, child_w])
            except BaseException:
                # No child (e.g. set_executable() named a missing file): the
                # parent's ends have no one to talk to.
                os.close(parent_r)
                os.close(parent_w)
                raise
            finally:
                os.close(child_r)
                os.close(child_w)
        self.sentinel = parent_r
        with open(parent_w, 'wb', closefd=True) as pipe:
            try:
                pipe.write(data)
            except BrokenPipeError:
                # The child died at once; wait() will report how.
                util.sub_warning('%s died before it read its start-up data', process_obj.name)

    def duplicate_for_child(self, fd):
        """Called by objects being pickled for this child: pass ``fd`` along."""
        self._fds.append(fd)
        return fd

    def _pickle_for_child(self, process_obj):
        buffer = io.BytesIO()
        spawn.set_spawning_popen(self)
        try:
            # Two separate pickles: the child must run the preparation
            # (import __main__ ...) before it can unpickle the process.
            ChildPickler(buffer, pickle.HIGHEST_PROTOCOL).dump(
                spawn.get_preparation_data(process_obj.name, process_obj.authkey))
            ChildPickler(buffer, pickle.HIGHEST_PROTOCOL).dump(process_obj)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise pickle.PicklingError(
                "cannot start %s with the 'spawn' start method: %s.\n"
                "A spawned child is a new interpreter that receives the Process "
                "object by pickle, so its target, args and kwargs must be "
                "picklable: define the target at the top level of an importable "
                "module (not a lambda, a nested function, or a function defined "
                "only in an interactive session), or use the 'fork' start method."
                % (process_obj.name, exc)) from exc
        finally:
            spawn.set_spawning_popen(None)
        return buffer.getvalue()


class ChildPickler(pickle.Pickler):
    """A pickler that refuses what the child could not unpickle.

    Pickle stores a function or class *by name* (``__main__.f``).  When the
    parent's ``__main__`` is an interactive session, the child cannot import
    it, and would fail later with a confusing ``AttributeError``.  We catch
    that here instead, while the parent can still explain.  A pool checks the
    function of its tasks with it too (``pool_core.Core.check_picklable``).
    """

    _main_importable = None

    def reducer_override(self, obj):
        if getattr(obj, '__module__', None) == '__main__' and isinstance(obj, (type, _FunctionTypes)):
            if self._main_importable is None:
                self._main_importable = spawn.main_module_is_importable()
            if not self._main_importable:
                raise pickle.PicklingError(
                    '%r is defined in the interactive __main__ module, which a '
                    'spawned child cannot import' % (obj,))
        return NotImplemented


_FunctionTypes = (type(len), type(lambda: None))


def _spawn_with_fds(argv, fds):
    """Start ``argv`` with ``os.posix_spawn``, passing exactly ``fds`` along.

    Python opens descriptors non-inheritable, so exec closes them; we mark the
    ones the child needs inheritable just for the spawn.  The caller holds
    ``util.start_lock``, so no other thread of ours starts a child meanwhile.
    """
    for fd in fds:
        os.set_inheritable(fd, True)
    try:
        return os.posix_spawn(argv[0], argv, os.environ)
    finally:
        for fd in fds:
            os.set_inheritable(fd, False)


