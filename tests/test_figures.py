"""The course's pictures: current, made by their source, naming real code, used, described.

Each picture in ``docs/figures/`` is ``NAME.svg``, made from ``NAME.py`` by
``python docs/figures/make.py`` (the folder's README says how to draw one).
This file checks that

* every picture is current: the hash of its source that its SVG carries is the
  hash of the source now (else: run ``make.py``);
* making it again gives the same bytes (with the matplotlib that made it), so
  the SVG is what its source draws, not an edited copy, and its text fits;
* every mpref name it shows (``popen_fork.Popen._launch``) exists, as
  ``tests/test_chapters.py`` checks the chapters' citations, and it shows some;
* every picture is shown by a chapter or a page of ``docs/``, and every image
  there has alt text that says what the picture shows.
"""

import importlib.util
import json
import pathlib
import re
import xml.etree.ElementTree as ElementTree

import pytest

from tests.test_chapters import MODULES, _unresolved

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIGURES = ROOT / 'docs' / 'figures'
DOCUMENTS = ([ROOT / 'README.md'] + sorted((ROOT / 'docs').glob('*.md'))
             + sorted((ROOT / 'notebooks').glob('*.ipynb')))

#: ``module.name`` or ``module.Class.method`` in a picture's text (no backquotes
#: there: the code is set in its own font); file names like ``heap.py`` are not names.
NAME = re.compile(r'(?<![\w.])(?:mpref\.)?(%s)((?:\.[A-Za-z_]\w*)+)' % '|'.join(MODULES))
FILE_SUFFIXES = {'.py', '.md', '.ipynb', '.svg'}
#: ``![alt](target)``.
IMAGE = re.compile(r'!\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
#: Alt text that only says "there is a picture here".
VAGUE = re.compile(r'^\W*(an? )?(the )?(figure|diagram|image|picture|drawing|svg|png)\b', re.I)
MIN_ALT_WORDS = 6


def _load_make():
    spec = importlib.util.spec_from_file_location('figures_make', FIGURES / 'make.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make = _load_make()
NAMES = make.names()


def svg_text(svg):
    """Every line of text a picture shows, as a list of strings."""
    tree = ElementTree.fromstring(svg.encode('utf-8'))
    return [''.join(t.itertext()) for t in tree.iter('{http://www.w3.org/2000/svg}text')]


def shown_names(lines):
    """The ``(module, .attributes)`` an mpref picture's text names."""
    found = set()
    for line in lines:
        for module, attributes in NAME.findall(line):
            if attributes not in FILE_SUFFIXES:
                found.add((module, attributes))
    return sorted(found)


def _markdown(path):
    if path.suffix != '.ipynb':
        return path.read_text(encoding='utf-8')
    cells = json.loads(path.read_text(encoding='utf-8'))['cells']
    return '\n\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')


def images(path):
    """The ``(alt, target)`` of every image in a document."""
    return IMAGE.findall(_markdown(path))


def alt_problem(alt, target):
    """What is wrong with ``alt`` as the description of the image ``target``, or None."""
    words = alt.split()
    if len(words) < MIN_ALT_WORDS:
        return 'alt text %r has %d words: say what the picture shows (%d words or more)' % (
            alt, len(words), MIN_ALT_WORDS)
    if VAGUE.match(alt) or pathlib.PurePosixPath(target).name in alt:
        return 'alt text %r names the picture instead of saying what it shows' % alt
    return None


def test_there_are_pictures():
    assert NAMES, 'docs/figures/ holds no picture'
    assert {'draw', 'make'}.isdisjoint(NAMES)


@pytest.mark.parametrize('name', NAMES)
def test_every_picture_is_current(name):
    svg = FIGURES / ('%s.svg' % name)
    assert svg.exists(), 'docs/figures/%s.svg is missing: run python docs/figures/make.py %s' % (
        name, name)
    recorded = make.recorded_source(svg.read_text(encoding='utf-8'))
    assert recorded == make.draw.source_line(name), (
        'docs/figures/%s.svg was made from another source than docs/figures/%s.py and draw.py '
        'are now: run python docs/figures/make.py %s' % (name, name, name))


@pytest.mark.parametrize('name', NAMES)
def test_making_a_picture_again_gives_the_same_bytes(name):
    import matplotlib
    made = make.render(name)         # also checks that every text fits (draw.Drawing.check_fit)
    committed = (FIGURES / ('%s.svg' % name)).read_text(encoding='utf-8')
    if 'matplotlib %s<' % matplotlib.__version__ in committed:
        assert made == committed, 'docs/figures/%s.svg is not what %s.py draws' % (name, name)
    else:
        # Another matplotlib made the committed file: the same source must at
        # least draw the same bytes twice.
        assert make.render(name) == made


@pytest.mark.parametrize('name', NAMES)
def test_every_name_a_picture_shows_exists(name):
    shown = shown_names(svg_text((FIGURES / ('%s.svg' % name)).read_text(encoding='utf-8')))
    assert shown, 'docs/figures/%s.svg names no function of mpref' % name
    missing = _unresolved(shown)
    assert not missing, 'docs/figures/%s.svg shows names that do not exist: %s' % (name, missing)


@pytest.mark.parametrize('name', NAMES)
def test_every_picture_is_shown_somewhere(name):
    target = 'figures/%s.svg' % name
    users = [p for p in DOCUMENTS if any(t.endswith(target) for _, t in images(p))]
    assert users, 'no chapter and no docs page shows docs/figures/%s.svg' % name


@pytest.mark.parametrize('path', DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_image_has_alt_text(path):
    problems = [p for p in (alt_problem(alt, target) for alt, target in images(path)) if p]
    assert not problems, '%s: %s' % (path.relative_to(ROOT), '; '.join(problems))


def test_the_checks_can_fail():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><text>popen_fork.Popen._launch</text>'
           '<text>read <tspan>heap.py</tspan>, then <tspan>queues.Queue.no_such</tspan></text></svg>')
    lines = svg_text(svg)
    assert lines == ['popen_fork.Popen._launch', 'read heap.py, then queues.Queue.no_such']
    assert _unresolved(shown_names(lines)) == ['queues.Queue.no_such']
    assert make.recorded_source('<dc:source>docs/figures/x.py sha256:00</dc:source>') == \
        'docs/figures/x.py sha256:00'
    assert alt_problem('A picture', 'x.svg')
    assert alt_problem('figure: the pool, its pipes and its threads', 'pool_map.svg')
    assert alt_problem('pool_map.svg: the pool, its pipes and its threads', 'pool_map.svg')
    assert alt_problem('diagram of the pool, its pipes and its threads', 'pool_map.svg')
    assert alt_problem('the pool, its task pipes, result thread and sentinels', 'pool_map.svg') is None
