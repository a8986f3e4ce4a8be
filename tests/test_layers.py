"""Built from OS pieces, and the layering rule, checked mechanically (``docs/rules.md``).

* Nothing under ``mpref/`` imports the stdlib multiprocessing machinery
  (the benchmarks reach their yardstick only through ``benchmarks/yardstick.py``,
  by name).
* A module imports only from layers below it: no import circles.
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
    ['proxies', 'server', 'managers', 'pool_worker', 'pool_core', 'pool'],
    ['__init__', 'dummy'],
]
RANK = {name: (i, j) for i, layer in enumerate(LAYERS) for j, name in enumerate(layer)}


def _imports(path):
    """(module names imported absolutely, mpref sibling modules imported)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    absolute, siblings = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            absolute.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                absolute.add(node.module)
                if node.module == 'mpref' or node.module.startswith('mpref.'):
                    parts = node.module.split('.')
                    if len(parts) > 1:
                        siblings.add(parts[1])
                    else:
                        siblings.update(alias.name for alias in node.names)
            elif node.level == 1 and path.parent == PACKAGE:
                if node.module:
                    siblings.add(node.module.split('.')[0])
                else:
                    siblings.update(alias.name for alias in node.names)
    return absolute, siblings


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


@pytest.mark.parametrize('path', [p for p in _package_files() if p.parent == PACKAGE],
                         ids=lambda p: p.name)
def test_modules_import_only_from_lower_layers(path):
    name = path.stem
    if name not in RANK:
        pytest.fail('%s is not placed in a layer: add it to LAYERS (and to docs/)' % name)
    _, siblings = _imports(path)
    for other in siblings:
        if other not in RANK:
            continue            # e.g. `from . import examples` (top of the house)
        assert RANK[other] < RANK[name], (
            '%s (layer %d) imports %s (layer %d): upward or sideways import'
            % (name, RANK[name][0], other, RANK[other][0]))
