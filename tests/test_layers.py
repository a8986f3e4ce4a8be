"""Ground rule 1 and the layering rule, checked mechanically (GUIDE sections 1-2).

* Nothing under ``mpref/`` imports the stdlib multiprocessing machinery
  (the benchmarks reach their yardstick only through ``benchmarks/yardstick.py``,
  by name).
* A module imports only from layers below it: no import circles.
"""

import ast
import pathlib
import shutil
import subprocess

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'mpref'
BANNED = ('multiprocessing', '_multiprocessing', 'concurrent')

#: The layers of GUIDE section 2, ground floor first.  A module may import
#: mpref modules of its own layer's *earlier* entries or of lower layers.
LAYERS = [
    ['exceptions', 'util'],
    ['spawn', 'popen_fork', 'popen_spawn'],
    ['process'],
    ['connection', 'heap', 'synchronize'],
    ['queues', 'sharedctypes'],
    ['proxies', 'managers', 'pool'],
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


def test_the_ban_is_also_a_ruff_rule():
    ruff = shutil.which('ruff')
    if ruff is None:
        pytest.skip('ruff is not installed')
    result = subprocess.run([ruff, 'check', '--select', 'TID251', str(PACKAGE)],
                            capture_output=True, text=True, timeout=60,
                            cwd=PACKAGE.parent)
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
