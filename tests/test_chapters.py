"""The chapters and the source point at each other, and every citation resolves.

Chapters cite code by module and function name (``docs/rules.md``, "Chapters";
as xv6's book cites code by pattern), so the prose survives edits -- and this test catches a
citation whose target was renamed or removed.  Each module's docstring names
its chapter; each chapter that exists must name a module that exists.
"""

import importlib
import json
import pathlib
import pkgutil
import re

import pytest

import mpref

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / 'notebooks').glob('*.ipynb'))
MODULES = sorted(name for _, name, _ in pkgutil.iter_modules(mpref.__path__))

#: `module.name` or `module.Class.method` in backquotes, module being an mpref
#: module (file names such as `process.py` are not citations of names).
CITATION = re.compile(r'`(?:mpref\.)?(%s)((?:\.(?!py`|ipynb`)[A-Za-z_]\w*)+)(?:\(\))?`'
                      % '|'.join(MODULES))


def _markdown(path):
    cells = json.loads(path.read_text())['cells']
    return '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')


def _citations(path):
    return sorted(set(CITATION.findall(_markdown(path))))


@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.name)
def test_every_citation_in_a_chapter_resolves(path):
    missing = []
    for module_name, attributes in _citations(path):
        obj = importlib.import_module('mpref.' + module_name)
        for attribute in attributes.strip('.').split('.'):
            if not hasattr(obj, attribute) and hasattr(obj, '__path__'):
                try:            # a module inside a package: `targets.queues`
                    importlib.import_module('%s.%s' % (obj.__name__, attribute))
                except ImportError:
                    pass
            if not hasattr(obj, attribute):
                missing.append('%s%s' % (module_name, attributes))
                break
            obj = getattr(obj, attribute)
    assert not missing, '%s cites names that do not exist: %s' % (path.name, missing)


@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.name)
def test_every_chapter_cites_some_code(path):
    if path.name.startswith('00_'):
        return          # the introduction names chapters, not functions
    assert _citations(path), '%s cites no mpref module.function' % path.name


@pytest.mark.parametrize('name', [m for m in MODULES if m not in ('examples', 'targets', 'benchmarks')])
def test_every_module_docstring_names_its_spec_sections_or_chapter(name):
    doc = importlib.import_module('mpref.' + name).__doc__ or ''
    assert re.search(r'16\.6\.\d', doc), 'mpref/%s.py docstring names no spec section' % name
    chapters = re.findall(r'notebooks/(\d\d_\w+\.ipynb)', doc)
    assert chapters, 'mpref/%s.py docstring names no chapter' % name
