"""Running a student's answer where it cannot hurt the notebook: a sandbox.

The kernel side of every check.  An answer is a function or a class that the
student defined in a notebook cell (or in a file of their own).  The check never
calls it in the kernel: a deadlocked answer would freeze the notebook, and a
forked or spawned child would inherit or re-import the whole kernel.  Instead::

    kernel                                   sandbox: a new interpreter, a session of its own
    ------                                   ------------------------------------------------
    answer_of(swap)
      the source of the cell that defined
      it (IPython keeps every cell's source
      in linecache), its imports and
      definitions only
    run_in_sandbox(...)
      a fresh folder: cell_1.py, job.json,
      tmp/ (the sandbox's TMPDIR)          --> python -m exercises.runner FOLDER
                                                 import cell_1, take `swap` from it
                                                 call the test: test(swap)
                                                 write result.json, then os._exit
      wait, at most `timeout` seconds
      kill whatever is left in the session
      sweep /dev/shm of what it left
      remove the folder                    <-- status and message; its stdout and stderr

Because the answer is a module in a folder on the sandbox's ``sys.path``, a
spawned child can import it by name, exactly like a target in ``mpref/targets/``:
an answer is checked under ``spawn`` as well as ``fork`` with no effort from the
student.  Nothing is written into the repository: the folder is a temporary
directory, removed whatever happens.
"""

import ast
import dataclasses
import json
import linecache
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

#: The folder that holds the chapters and this package: a sandbox imports
#: ``exercises`` from there.
NOTEBOOKS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: What nbgrader's student edition puts where a solution was
#: (``ClearSolutions.code_stub``): an answer containing it is not solved yet.
STUB = 'raise NotImplementedError()'

#: Top-level statements of an answer cell that the sandbox runs: imports and
#: definitions.  Anything else (a call to try the answer out, a print) is left
#: out, so that importing the cell -- in the sandbox and in every spawned
#: child -- does nothing but define.
_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                ast.Assign, ast.AnnAssign)


class NotAnAnswer(Exception):
    """The object given to a check cannot be sent to a sandbox; the message says why."""


@dataclasses.dataclass
class Answer:
    """Where the sandbox finds one answer: ``name`` in a cell's source, or in a module."""

    name: str
    source: str = None          # the defining cell's definitions (None: ``module``)
    module: str = None          # an importable module of the student's own
    left_out: tuple = ()        # lines of the cell the sandbox does not run

    @property
    def unsolved(self):
        """Is this still the student edition's stub?  (Only its own definition counts: a
        helper the student chose not to use may keep its stub.)"""
        source = self.source if self.source is not None else _module_source(self.module)
        return STUB in _definition(source, self.name)


def answer_of(obj):
    """The ``Answer`` for a function or class ``obj``, defined in a cell or in the student's own file.

    Raises ``NotAnAnswer`` for anything the sandbox could not import by name
    (a lambda, a function defined inside another, something not callable).
    """
    if isinstance(obj, Answer):
        return obj
    name = getattr(obj, '__qualname__', None)
    if not callable(obj) or not isinstance(name, str):
        raise NotAnAnswer('expected a function or a class, got %r' % (obj,))
    if '<' in name or '.' in name:
        raise NotAnAnswer('%s is not defined at the top level of a cell: give it its own `def` '
                          '(or `class`), not a lambda or a function inside another' % name)
    module = getattr(obj, '__module__', None)
    if module and module != '__main__' and getattr(sys.modules.get(module), '__file__', None):
        return Answer(name=name, module=module)         # the student's own file
    lines = linecache.getlines(_defining_file(obj))
    if not lines:
        raise NotAnAnswer('cannot find the cell that defines %s: run that cell again, then this one' % name)
    source, left_out = cell_definitions(''.join(lines))
    return Answer(name=name, source=source, left_out=left_out)


def cell_definitions(source):
    """``source`` with every top-level statement that is not an import or a definition blanked out.

    Returns the new source (same line numbers, so tracebacks point at the
    student's lines) and the lines left out, to tell the student.
    """
    lines = source.splitlines(keepends=True)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source, ()       # the sandbox will report it
    left_out = []
    for statement in tree.body:
        if isinstance(statement, _DEFINITIONS):
            continue
        left_out.append(ast.get_source_segment(source, statement).splitlines()[0])
        for index in range(statement.lineno - 1, statement.end_lineno):
            lines[index] = '\n'
    return ''.join(lines), tuple(left_out)


def _definition(source, name):
    """The source of the top-level ``def`` or ``class`` called ``name`` in ``source`` (else all of it)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and statement.name == name:
            return ast.get_source_segment(source, statement)
    return source


def _defining_file(obj):
    """The file name of the code that defines ``obj`` (a class: one of its methods)."""
    if hasattr(obj, '__code__'):
        return obj.__code__.co_filename
    for member in vars(obj).values() if isinstance(obj, type) else ():
        for function in (member, getattr(member, '__func__', None), getattr(member, 'fget', None)):
            if hasattr(function, '__code__'):
                return function.__code__.co_filename
    return ''


def _module_source(module):
    path = getattr(sys.modules.get(module), '__file__', None)
    try:
        with open(path, encoding='utf-8') as f:
            return f.read()
    except (OSError, TypeError):
        return ''


@dataclasses.dataclass
class Outcome:
    """How a sandbox run ended.

    ``status``: ``'solved'`` (the test returned), ``'wrong'`` (it raised
    ``Wrong``, or the answer raised), ``'unsolved'`` (the answer raised
    ``NotImplementedError``), ``'timeout'`` (still running after the time
    limit: stopped), ``'broken'`` (the sandbox itself failed: a bug in the
    check).  ``message`` is in plain words; ``output`` is everything the
    sandbox and its children wrote to stdout and stderr.
    """

    status: str
    message: str
    output: str


def run_in_sandbox(module, function, answers, timeout):
    """Run ``module.function(*answers)`` in a new interpreter; return an ``Outcome``.

    ``module`` is a module of this package (``'exercises.ch02'``), ``answers``
    a list of ``Answer``.  The sandbox runs in a session of its own, in a
    temporary folder that is also its ``TMPDIR``.  After ``timeout`` seconds
    it is killed.  Either way every process left in its session is killed,
    the POSIX semaphores and shared memory it left in ``/dev/shm`` are
    removed, and so is the folder.
    """
    before = _shm_entries()
    folder = tempfile.mkdtemp(prefix='mpref-exercise-')
    seen = set()
    try:
        job = {'module': _importable(module), 'function': function, 'answers': [], 'timeout': timeout}
        for index, answer in enumerate(answers, 1):
            if answer.source is not None:
                name = 'cell_%d' % index
                with open(os.path.join(folder, name + '.py'), 'w', encoding='utf-8') as f:
                    f.write(answer.source)
            else:
                name = answer.module
            job['answers'].append({'module': name, 'name': answer.name,
                                   'in_cell': answer.source is not None})
        with open(os.path.join(folder, 'job.json'), 'w') as f:
            json.dump(job, f)
        os.mkdir(os.path.join(folder, 'tmp'))
        path = [folder, NOTEBOOKS, os.getcwd()]
        path += [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(path), TMPDIR=os.path.join(folder, 'tmp'),
                   PYTHONDONTWRITEBYTECODE='1', PYTHONUNBUFFERED='1', PYTHON_COLORS='0')
        # The output goes to a file, not a pipe: a process the answer left
        # running would hold a pipe open after the sandbox itself has ended.
        with open(os.path.join(folder, 'output.txt'), 'wb') as output:
            sandbox = subprocess.Popen([sys.executable, '-m', 'exercises.runner', folder], cwd=folder,
                                       env=env, stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        timed_out = False
        try:
            sandbox.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            seen = _kill_session(sandbox.pid)
            sandbox.wait()
        with open(os.path.join(folder, 'output.txt'), 'rb') as f:
            output = f.read().decode('utf-8', 'replace')
        if timed_out:
            return Outcome('timeout', 'still running after %g seconds, so the check stopped it '
                           'and every process it started' % timeout, output)
        try:
            with open(os.path.join(folder, 'result.json')) as f:
                result = json.load(f)
        except (OSError, ValueError):
            return Outcome('broken', 'the sandbox ended (exit status %s) without a result'
                           % sandbox.returncode, output)
        return Outcome(result['status'], result['message'], output)
    finally:
        _sweep_shm(before, seen)
        shutil.rmtree(folder, ignore_errors=True)


def _importable(module):
    """The name the sandbox imports ``module`` by (tests see this package as ``notebooks.exercises``)."""
    return re.sub(r'^notebooks\.', '', module)


def _kill_session(session):
    """SIGKILL every process of ``session`` (the sandbox's); return their pids."""
    pids = {session} | set(_session_members(session))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        os.killpg(session, signal.SIGKILL)      # where there is no /proc (macOS)
    except (ProcessLookupError, PermissionError):
        pass
    return pids


def _session_members(session):
    members = []
    for entry in _listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(')') + 2:].split()
            if len(fields) > 3 and fields[3] == str(session):
                members.append(int(entry))
    return members


#: A named semaphore (``sem.mpref-<pid>-...``) or other entry that mpref's
#: creator ``<pid>`` put in /dev/shm.
_MPREF_ENTRY = re.compile(r'^(?:sem\.)?mpref-(\d+)-')


def _shm_entries():
    return set(_listdir('/dev/shm'))


def _sweep_shm(before, pids, grace=2.0):
    """Remove the new mpref entries in /dev/shm whose creator was in the sandbox or is dead.

    A killed creator's semaphore tracker (a process of its own, outside the
    session) unlinks them within moments; give it ``grace`` seconds first.
    """
    def leftovers():
        found = []
        for name in _shm_entries() - before:
            match = _MPREF_ENTRY.match(name)
            if match and (int(match.group(1)) in pids or not _alive(int(match.group(1)))):
                found.append(name)
        return found

    deadline = time.monotonic() + grace
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.05)
    for name in leftovers():
        try:
            os.unlink(os.path.join('/dev/shm', name))
        except OSError:
            pass


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except OSError:
        return True             # no /proc: kill(0) said it exists


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []
