"""Built from OS pieces, and the layering rule, checked mechanically (``docs/rules.md``).

* Nothing under ``mpref/`` imports the stdlib multiprocessing machinery
  (the benchmarks reach their yardstick only through ``benchmarks/yardstick.py``,
  by name).
* Every file of the package has a place in the house (``docs/README.md``, "The
  layering rule"), and imports only from places below its own: the top-level
  modules stand in ``LAYERS``; ``dummy/`` is the last room of the namespace
  layer; the folders on top stand in ``FOLDERS_ON_TOP``, in the order they may
  import each other.  Inside one folder files may import each other, but the
  whole package has no import circle.
* Nothing under ``mpref/`` imports the lab equipment in ``lab/`` (it is not
  installed), and ``lab/`` imports nothing but mpref and itself.
"""

import ast
import importlib.metadata
import pathlib
import shutil
import subprocess
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'mpref'
PYPROJECT = PACKAGE.parent / 'pyproject.toml'
BANNED = ('multiprocessing', '_multiprocessing', 'concurrent')

#: The layers of ``docs/README.md``, ground floor first.  A module may import
#: mpref modules of its own layer's *earlier* entries or of lower layers.
LAYERS = [
    ['exceptions', 'util', 'signals'],
    ['spawn', 'popen_fork', 'popen_spawn'],
    ['process'],
    ['framing', 'connection', 'heap', 'semaphore_tracker', 'semlock', 'synchronize'],
    ['queues', 'sharedctypes'],
    ['serializers', 'proxies', 'proxytypes', 'server', 'pool_worker', 'pool_core', 'pool',
     'managers'],
    ['__init__', 'dummy'],
]
#: The folders on top of the house, lowest first: functions children run, then
#: the benchmarks (which run targets), then the spec's example programs (which
#: may use both).  Each imports only mpref's layers and the folders before it.
FOLDERS_ON_TOP = ['targets', 'benchmarks', 'examples']

LAB = PACKAGE.parent / 'lab'


def _place(path):
    """Where ``path`` (a file of the package) stands: a sortable rank and the
    name of its room (a top-level module, or a folder whose files may import
    each other).  None: not placed anywhere."""
    parts = path.relative_to(PACKAGE).with_suffix('').parts
    if len(parts) == 1:
        for i, layer in enumerate(LAYERS):
            if parts[0] in layer:
                return (i, layer.index(parts[0])), parts[0]
        return None
    folder = parts[0]
    if folder in LAYERS[-1]:
        return (len(LAYERS) - 1, LAYERS[-1].index(folder)), folder
    if folder in FOLDERS_ON_TOP:
        return (len(LAYERS) + FOLDERS_ON_TOP.index(folder), 0), folder
    return None


def _module_file(dotted):
    """The file of mpref module ``dotted`` ('mpref', 'mpref.pool', ...), or None."""
    base = PACKAGE.parent.joinpath(*dotted.split('.'))
    for candidate in (base.with_suffix('.py'), base / '__init__.py'):
        if candidate.is_file():
            return candidate
    return None


def _imports(path):
    """(module names imported absolutely, files of mpref imported)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    # The package a relative import starts from: the file's own folder.
    package = '.'.join(path.relative_to(PACKAGE.parent).parent.parts)
    absolute, files = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
            absolute.update(names)
            modules = names
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                absolute.add(node.module)
                base = node.module
            else:
                base = '.'.join(package.split('.')[:len(package.split('.')) - node.level + 1])
                if node.module:
                    base += '.' + node.module
            # `from X import Y`: Y is a module of X, or a name defined by X.
            modules = [base + '.' + alias.name if _module_file(base + '.' + alias.name) else base
                       for alias in node.names]
        else:
            continue
        for module in modules:
            if module == 'mpref' or module.startswith('mpref.') or module == 'lab' \
                    or module.startswith('lab.'):
                found = _module_file(module)
                files.add(found if found is not None else module)
    return absolute, files


def _package_files():
    return sorted(PACKAGE.rglob('*.py'))


@pytest.mark.parametrize('path', _package_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_stdlib_multiprocessing_inside_mpref(path):
    absolute, _ = _imports(path)
    bad = [name for name in absolute if name.split('.')[0] in BANNED]
    assert not bad, '%s imports %s' % (path.name, bad)


def _ruff():
    """The ruff executable of this environment, or None if ruff is not installed.

    ``pip install -e '.[test]'`` puts ruff in the venv's ``bin/`` (next to the
    running interpreter), which is not on ``PATH`` when the suite runs as
    ``.venv/bin/python -m pytest``: look there first.  If the test extra is
    installed (ruff's distribution is present) but no executable is found,
    that is a broken install, and the test fails rather than skips.
    """
    beside = pathlib.Path(sys.executable).parent / 'ruff'
    found = str(beside) if beside.is_file() else shutil.which('ruff')
    if found is None:
        try:
            importlib.metadata.distribution('ruff')
        except importlib.metadata.PackageNotFoundError:
            return None
        pytest.fail('the ruff package is installed but its executable is neither in %s nor '
                    'on PATH' % beside.parent)
    return found


def _ruff_check(ruff, *paths):
    return subprocess.run([ruff, 'check', '--no-cache', '--config', str(PYPROJECT),
                           '--select', 'TID251', *map(str, paths)],
                          capture_output=True, text=True, timeout=60, cwd=PYPROJECT.parent)


def test_the_ban_is_also_a_ruff_rule(tmp_path):
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]' installs it)")
    # The rule can fail: a file that imports the stdlib machinery is caught...
    offender = tmp_path / 'offender.py'
    offender.write_text('import multiprocessing\nfrom concurrent.futures import Future\n')
    caught = _ruff_check(ruff, offender)
    assert caught.returncode == 1, caught.stdout + caught.stderr
    assert caught.stdout.count('TID251') == 2, caught.stdout
    # ... and mpref/ passes it.
    result = _ruff_check(ruff, PACKAGE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize('path', _package_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_file_imports_only_from_places_below_its_own(path):
    place = _place(path)
    if place is None:
        pytest.fail('%s has no place in the house: add its module to LAYERS, or its folder to '
                    'FOLDERS_ON_TOP (and say where in docs/README.md)' % path.relative_to(PACKAGE))
    rank, room = place
    _, files = _imports(path)
    for other in files:
        assert isinstance(other, pathlib.Path) and PACKAGE in other.parents, (
            '%s imports %s, which is not a file of the installed package' % (path.name, other))
        other_rank, other_room = _place(other)
        if other_room == room and other_rank[0] >= len(LAYERS) - 1:
            continue            # files of one folder: checked for circles below
        assert other_rank < rank, (
            '%s (%s) imports %s (%s): an upward or sideways import'
            % (path.relative_to(PACKAGE), room, other.relative_to(PACKAGE), other_room))


def _import_graph(root):
    return {path: {f for f in _imports(path)[1] if isinstance(f, pathlib.Path)}
            for path in sorted(root.rglob('*.py'))}


def _circle(graph):
    """One import circle of ``graph`` (a list of files), or None."""
    state = {}

    def visit(node, trail):
        state[node] = 'open'
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 'open':
                return trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt]
            if nxt not in state:
                found = visit(nxt, trail + [nxt])
                if found:
                    return found
        state[node] = 'done'
        return None

    for node in graph:
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_the_package_has_no_import_circle():
    circle = _circle(_import_graph(PACKAGE))
    assert circle is None, 'import circle: ' + ' -> '.join(
        str(p.relative_to(PACKAGE.parent)) for p in circle)


def test_the_layer_check_can_fail(tmp_path):
    # An upward import and a circle are both caught.
    upward = {PACKAGE / 'util.py': {PACKAGE / 'pool.py'}}
    util_rank, pool_rank = _place(PACKAGE / 'util.py')[0], _place(PACKAGE / 'pool.py')[0]
    assert pool_rank > util_rank
    assert _circle({**upward, PACKAGE / 'pool.py': {PACKAGE / 'util.py'}}) is not None
    assert _circle(upward) is None
    assert _place(PACKAGE / 'no_such_module.py') is None
    assert _place(PACKAGE / 'targets' / 'tasks.py')[0] > _place(PACKAGE / 'dummy' / 'pool.py')[0]
    assert _place(PACKAGE / 'examples' / 'pool.py')[0] > _place(PACKAGE / 'benchmarks' / 'pool.py')[0]


def test_lab_equipment_stays_outside_the_package():
    assert LAB.is_dir()
    for path in _package_files():
        _, files = _imports(path)
        assert not any(isinstance(f, pathlib.Path) and LAB in f.parents for f in files) \
            and not any(isinstance(f, str) and f.startswith('lab') for f in files), (
                '%s imports the lab equipment, which is not installed' % path)
    for path in sorted(LAB.rglob('*.py')):
        _, files = _imports(path)
        for other in files:
            assert isinstance(other, pathlib.Path) and (PACKAGE in other.parents or LAB in other.parents), (
                '%s imports %s' % (path, other))
