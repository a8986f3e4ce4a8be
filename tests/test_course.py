"""The course conventions of ``docs/course.md``, checked in every chapter that has exercises.

* The header: spec sections with the spec's public address, the modules as
  relative links, the start method, the first pass in minutes, the chapters it
  assumes, and 3 to 5 objectives, each naming an exercise that exists.
* The exercises: 3 to 5, numbered ``N.1``... in the chapter ``N``, each headed
  with its kind and level, levels in order, at least two kinds, listed in the
  section's table; after ``## Nothing left behind``, before the way on (``**Previous:** ... · **Next:** ...``).
* The cells of each exercise: nbgrader metadata on every cell of the section,
  grade ids that say what a cell is, one check cell whose stored output says
  "solved", solution regions only in solution cells (inside a function's body
  in code; inside ``<details>`` in markdown), code solutions hidden on the site.
* The chapter's module of checks, ``notebooks/exercises/chNN.py``, has an
  ``Exercise`` for each exercise, with the same number.
* The glossary: a definition, and a link to the chapter that teaches it, for
  every term; the chapters that have exercises link it.

Every chapter must have its ``## Exercises`` section: a chapter without one fails.
"""

import importlib
import json
import pathlib
import re

import pytest

from notebooks.exercises import Exercise

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / 'notebooks').glob('*.ipynb'))
SPEC = 'https://docs.python.org/2.6/library/multiprocessing.html'
KINDS = ('predict, then run', 'break it, fix it', 'extend mpref')
LEVELS = ('warm-up', 'medium', 'project')
#: ``### Exercise 2.1 — When does end of file come? (predict, then run · warm-up)``
EXERCISE_HEADING = re.compile(r'^### Exercise (\d+)\.(\d+) — (.+) \((%s) · (%s)\)$'
                              % ('|'.join(map(re.escape, KINDS)), '|'.join(LEVELS)), re.M)
#: What a grade id may be: ``ch02-exercises``, ``ch02-exercises-setup``, ``ch02-ex1``, ``ch02-ex1-check``...
GRADE_ID = re.compile(r'^ch(\d\d)-(exercises|exercises-setup|ex(\d+)(-[a-z]+)*)$')


def _chapter(path):
    return json.loads(path.read_text(encoding='utf-8'))


def _source(cell):
    return ''.join(cell['source'])


def _number(path):
    return int(path.name[:2])


def _section(path):
    """The cells of the ``## Exercises`` section (to the end of the chapter); every chapter has one."""
    cells = _chapter(path)['cells']
    starts = [i for i, c in enumerate(cells) if c['cell_type'] == 'markdown'
              and _source(c).startswith('## Exercises')]
    assert starts, '%s has no `## Exercises` section: every chapter ends with exercises' % path.name
    return cells, starts[0]


def _exercises(cells, start):
    """``(number, title, kind, level)`` of each exercise heading in the section."""
    found = []
    for cell in cells[start:]:
        if cell['cell_type'] == 'markdown':
            for match in EXERCISE_HEADING.finditer(_source(cell)):
                found.append((match.group(1), match.group(2), match.group(3), match.group(4), match.group(5)))
    return found


def _nbgrader(cell):
    return cell['metadata'].get('nbgrader')


chapters = pytest.mark.parametrize('path', CHAPTERS, ids=lambda p: p.name)


@chapters
def test_the_header(path):
    cells, _ = _section(path)
    header = _source(cells[0])
    assert header.startswith('# Chapter %d — ' % _number(path))
    for label in ('Spec', 'Modules', 'Start method', 'First pass', 'Assumes'):
        assert re.search(r'^\* \*\*%s:\*\* ' % label, header, re.M), 'the header has no **%s:** line' % label
    spec = re.search(r'^\* \*\*Spec:\*\* (.*?)(?=^\* )', header, re.M | re.S).group(1)
    assert re.search(r'\[16\.6\.[\d.]+ [^\]]+\]\(%s#[a-z0-9-]+\)' % re.escape(SPEC), spec), (
        'cite each spec section as [16.6.x Title](%s#anchor)' % SPEC)
    modules = re.search(r'^\* \*\*Modules:\*\* (.*?)(?=^\* )', header, re.M | re.S).group(1)
    assert re.search(r'\[`mpref/[\w/]+\.py`\]\(\.\./mpref/[\w/]+\.py\)', modules) \
        or 'no module' in modules, 'link each module: [`mpref/x.py`](../mpref/x.py)'
    assert re.search(r'^\* \*\*First pass:\*\* about \d+ minutes.*; deep dives are optional\.$', header, re.M)


@chapters
def test_the_objectives_are_practised_by_exercises(path):
    cells, start = _section(path)
    header = _source(cells[0])
    assert '\n**After this chapter you can:**\n' in header
    listed = header.split('**After this chapter you can:**', 1)[1]
    objectives = re.findall(r'^\d+\. (.*?)(?=^\d+\. |^\s*$|\Z)', listed.lstrip('\n'), re.M | re.S)
    assert 3 <= len(objectives) <= 5, 'a chapter has 3 to 5 objectives, not %d' % len(objectives)
    numbers = {'%s.%s' % (chapter, exercise) for chapter, exercise, *_ in _exercises(cells, start)}
    for objective in objectives:
        named = set(re.findall(r'\b(\d+\.\d+)\b', objective))
        assert re.search(r'\(exercises? ', objective) and named, (
            'an objective says which exercises practise it, "(exercise N.K)": %r' % objective)
        assert named <= numbers, 'objective %r names exercises that do not exist' % objective


@chapters
def test_the_exercises(path):
    cells, start = _section(path)
    exercises = _exercises(cells, start)
    assert 3 <= len(exercises) <= 5, 'a chapter ends with 3 to 5 exercises, not %d' % len(exercises)
    assert [e[:2] for e in exercises] == [(str(_number(path)), str(k)) for k in range(1, len(exercises) + 1)]
    levels = [LEVELS.index(e[4]) for e in exercises]
    assert levels == sorted(levels) and levels[0] == 0, 'from warm-up to project, in order'
    assert len({e[3] for e in exercises}) >= 2, 'at least two kinds of exercise'
    table = _source(cells[start])
    for chapter, number, title, kind, level in exercises:
        row = '| %s.%s | %s | %s | %s |' % (chapter, number, title, kind, level)
        assert row in table, 'the table of the Exercises section lacks the row %s' % row


@chapters
def test_the_exercises_come_after_nothing_left_behind(path):
    cells, start = _section(path)
    headings = [_source(c).split('\n', 1)[0] for c in cells if c['cell_type'] == 'markdown']
    assert '## Nothing left behind' in headings[:headings.index('## Exercises')]
    way_on = _source(cells[-1])
    assert way_on.startswith('**Previous:**') or way_on.startswith('**Next:**'), way_on


@chapters
def test_every_cell_of_the_exercises_has_its_nbgrader_metadata(path):
    cells, start = _section(path)
    ids = [_nbgrader(c)['grade_id'] for c in cells if _nbgrader(c)]
    assert len(ids) == len(set(ids)), 'grade ids must be unique'
    for cell in cells[start:-1]:
        meta = _nbgrader(cell)
        assert meta, 'every cell of the Exercises section has nbgrader metadata: %r' % _source(cell)[:60]
        assert meta['schema_version'] == 3
        match = GRADE_ID.match(meta['grade_id'])
        assert match and int(match.group(1)) == _number(path), 'grade id %r' % meta['grade_id']
        if meta['solution']:
            assert not meta['locked']
        else:
            assert meta['locked'], '%s: a cell that is not a solution is read-only' % meta['grade_id']
        if meta['grade']:
            assert meta.get('points', 0) > 0, '%s: a graded cell has points' % meta['grade_id']
    setup = [c for c in cells if _nbgrader(c) and _nbgrader(c)['grade_id'].endswith('-exercises-setup')]
    assert setup and 'from exercises import ch%02d' % _number(path) in _source(setup[0])


@chapters
def test_each_exercise_has_one_check_that_is_solved(path):
    cells, start = _section(path)
    for chapter, number, *_ in _exercises(cells, start):
        prefix = 'ch%02d-ex%s-' % (int(chapter), number)
        mine = [c for c in cells if _nbgrader(c) and _nbgrader(c)['grade_id'].startswith(prefix)]
        checks = [c for c in mine if _nbgrader(c)['grade_id'] == prefix + 'check']
        assert len(checks) == 1, 'exercise %s.%s has no check cell %scheck' % (chapter, number, prefix)
        check = checks[0]
        assert check['cell_type'] == 'code' and _nbgrader(check)['grade'] and not _nbgrader(check)['solution']
        assert re.match(r'^ch%02d\.\w+\.check\(' % int(chapter), _source(check))
        printed = ''.join(''.join(o.get('text', '')) for o in check.get('outputs', []))
        assert printed.startswith('Exercise %s.%s -- solved: ' % (chapter, number)), (
            'the stored output of %scheck should say solved, not %r' % (prefix, printed))
        assert any(_nbgrader(c)['solution'] for c in mine), (
            'exercise %s.%s has no solution cell' % (chapter, number))


@chapters
def test_solutions_are_marked_hidden_and_only_in_solution_cells(path):
    cells, _ = _section(path)
    for cell in cells:
        source, meta = _source(cell), _nbgrader(cell) or {}
        if '### BEGIN SOLUTION' not in source:
            assert not meta.get('solution'), 'solution cell %s has no ### BEGIN SOLUTION' % meta['grade_id']
            continue
        assert meta.get('solution'), 'a solution region outside a solution cell: %r' % source[:60]
        assert source.count('### BEGIN SOLUTION') == source.count('### END SOLUTION')
        if cell['cell_type'] == 'code':
            for line in source.splitlines():
                if 'BEGIN SOLUTION' in line:
                    assert line.startswith((' ', '\t')), (
                        '%s: put a code solution inside a function body: the stub must not raise '
                        'when the cell runs' % meta['grade_id'])
            assert 'hide-input' in cell['metadata'].get('tags', []), (
                '%s: tag it hide-input' % meta['grade_id'])
            assert cell['metadata'].get('mystnb', {}).get('code_prompt_show') == 'Show the reference solution'
        else:
            assert re.search(r'<!-- ### BEGIN SOLUTION -->\n<details><summary>Reference answer</summary>\n',
                             source), '%s: wrap a written answer in <details>' % meta['grade_id']
            assert source.rstrip().endswith('</details>\n<!-- ### END SOLUTION -->')


@chapters
def test_the_chapters_checks_exist(path):
    cells, start = _section(path)
    module = importlib.import_module('notebooks.exercises.ch%02d' % _number(path))
    defined = {obj.number for obj in vars(module).values() if isinstance(obj, Exercise)}
    numbers = {'%s.%s' % e[:2] for e in _exercises(cells, start)}
    assert defined == numbers, 'exercises/ch%02d.py defines %s for the exercises %s' % (
        _number(path), sorted(defined), sorted(numbers))


@chapters
def test_the_chapter_links_the_glossary(path):
    cells, _ = _section(path)
    text = '\n'.join(_source(c) for c in cells if c['cell_type'] == 'markdown')
    assert '](../docs/glossary.md#' in text, 'link the terms of art to the glossary where first used'


def test_every_glossary_term_has_its_chapter():
    glossary = (ROOT / 'docs' / 'glossary.md').read_text(encoding='utf-8')
    entries = re.split(r'^## ', glossary, flags=re.M)[1:]
    terms = [entry.split('\n', 1)[0] for entry in entries]
    assert len(terms) >= 24
    assert terms == sorted(terms, key=str.lower), 'the glossary is in alphabetical order'
    for entry in entries:
        assert re.search(r'\[chapter \d+\]\(\.\./notebooks/\d\d_\w+\.ipynb\)', entry), (
            'the glossary entry %r names no chapter' % entry.split('\n', 1)[0])
