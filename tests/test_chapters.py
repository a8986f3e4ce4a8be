"""The chapters and the source point at each other, and every citation resolves.

Chapters cite code by module and function name (``docs/rules.md``, "Chapters";
as xv6's book cites code by pattern), so the prose survives edits -- and this test catches a
citation whose target was renamed or removed.  The reading guide (``docs/*.md``)
and the README cite code the same way and are checked the same way.  Each
module's docstring names its chapter; each chapter that exists must name a
module that exists.
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
DOCS = [ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('*.md'))
MODULES = sorted(name for _, name, _ in pkgutil.iter_modules(mpref.__path__))

#: `module.name` or `module.Class.method` in backquotes, module being an mpref
#: module (file names such as `process.py` or `queues.md` are not citations of names).
CITATION = re.compile(r'`(?:mpref\.)?(%s)((?:\.(?!py`|ipynb`|md`)[A-Za-z_]\w*)+)(?:\(\))?`'
                      % '|'.join(MODULES))


def _markdown(path):
    cells = json.loads(path.read_text())['cells']
    return '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')


def _citations(path):
    text = _markdown(path) if path.suffix == '.ipynb' else path.read_text(encoding='utf-8')
    return sorted(set(CITATION.findall(text)))


@pytest.mark.parametrize('path', NOTEBOOKS + DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_citation_in_a_chapter_or_docs_page_resolves(path):
    missing = _unresolved(_citations(path))
    assert not missing, '%s cites names that do not exist: %s' % (path.name, missing)


def test_the_citation_check_can_fail():
    text = '`queues.Queue.put`, `mpref.process.Process.start()`, `queues.md`, `pool.Pool.no_such_method`'
    citations = CITATION.findall(text)
    assert len(citations) == 3
    assert _unresolved(citations) == ['pool.Pool.no_such_method']


def _unresolved(citations):
    """The ``module.name...`` citations that do not lead to an object."""
    missing = []
    for module_name, attributes in citations:
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
    return missing


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


#: nbval's comment markers (``# NBVAL_IGNORE_OUTPUT``, ``# NBVAL_SKIP``, ...): test
#: plumbing that a student would read in the code.  nbval reads the same instructions
#: from cell tags (``nbval-ignore-output``, ``nbval-skip``, ``raises-exception``), which
#: neither JupyterLab's code view nor the site shows.
NBVAL_COMMENT = re.compile(r'^\s*#\s*(NBVAL_\w+|PYTEST_VALIDATE_\w+)', flags=re.M)


def nbval_comments(notebook):
    """``(cell index, marker)`` for each nbval comment marker in a notebook's code cells."""
    return [(index, marker)
            for index, cell in enumerate(notebook['cells']) if cell['cell_type'] == 'code'
            for marker in NBVAL_COMMENT.findall(''.join(cell['source']))]


@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.name)
def test_no_chapter_shows_test_plumbing(path):
    found = nbval_comments(json.loads(path.read_text(encoding='utf-8')))
    assert not found, ('%s: cells %s carry nbval comment markers; use the cell tag instead '
                       '(e.g. nbval-ignore-output)' % (path.name, found))


def test_the_plumbing_check_can_fail():
    cells = [{'cell_type': 'code', 'source': ['# NBVAL_IGNORE_OUTPUT\n', 'print(1)\n']},
             {'cell_type': 'markdown', 'source': ['`# NBVAL_SKIP` in prose is not code\n']},
             {'cell_type': 'code', 'source': ['x = 1  # a comment\n', '#NBVAL_SKIP\n']}]
    assert nbval_comments({'cells': cells}) == [(0, 'NBVAL_IGNORE_OUTPUT'), (2, 'NBVAL_SKIP')]


def stored_stderr(notebook):
    """``(cell index, text)`` for each stored stderr output or exception of a cell that does
    not say, with the tag ``shows-stderr`` (or nbval's ``raises-exception``), that it means it."""
    found = []
    for index, cell in enumerate(notebook['cells']):
        tags = cell.get('metadata', {}).get('tags', [])
        if 'shows-stderr' in tags or 'raises-exception' in tags:
            continue
        for output in cell.get('outputs', []):
            if output.get('name') == 'stderr' or output['output_type'] == 'error':
                found.append((index, ''.join(output.get('text', output.get('ename', '')))[:300]))
    return found


@pytest.mark.parametrize('path', NOTEBOOKS, ids=lambda p: p.name)
def test_no_chapter_stores_an_unexpected_traceback_or_warning(path):
    # The run that refreshes a chapter's outputs (jupyter nbconvert --execute) captures what
    # children write, as JupyterLab does: a child's exit traceback would be stored, and then
    # compared as if it were meant.  A cell that means to show stderr says so with a tag.
    found = stored_stderr(json.loads(path.read_text(encoding='utf-8')))
    assert not found, ('%s stores output on stderr (tag the cell shows-stderr if it is meant): %s'
                       % (path.name, found))


def test_the_stderr_check_can_fail():
    stream = {'output_type': 'stream', 'name': 'stderr', 'text': ['Exception ignored in: ...\n']}
    cells = [{'cell_type': 'code', 'metadata': {}, 'outputs': [stream]},
             {'cell_type': 'code', 'metadata': {'tags': ['shows-stderr']}, 'outputs': [stream]},
             {'cell_type': 'code', 'metadata': {}, 'outputs': [{'output_type': 'stream', 'name': 'stdout',
                                                                 'text': ['fine\n']}]}]
    assert stored_stderr({'cells': cells}) == [(0, 'Exception ignored in: ...\n')]
