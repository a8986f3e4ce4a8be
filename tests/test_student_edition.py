"""The student edition (``docs/course.md``), made from the repository as the README says, runs clean.

* The edition is written once for the module, into a temporary folder, by the
  same function as ``python -m notebooks.exercises``.
* In every student chapter, every cell is the teacher's, except the solution
  cells: those hold nbgrader's stubs, and no solution is left.
* Every student chapter's exercises run in a fresh kernel, from the
  ``## Exercises`` heading to the end: no cell fails or writes to stderr, every
  check says "not solved yet", nothing hangs (each cell is bounded) and
  nothing is left behind.

Only the exercise sections are run, not whole chapters: everything before them
is, cell for cell, the teacher's edition (the second test), which nbval runs
in full; running all fifteen chapters twice would double the suite's notebook
time for nothing.
"""

import json
import os
import pathlib

import pytest

from notebooks.exercises import edition
from tests import leakcheck

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = sorted(path.name for path in (ROOT / 'notebooks').glob('*.ipynb'))

#: How long one cell of a student chapter may run.
CELL_TIMEOUT = 120


@pytest.fixture(scope='module')
def student_edition(tmp_path_factory):
    folder = tmp_path_factory.mktemp('student') / 'edition'
    edition.write_student_edition(ROOT, folder)
    return folder


def _cells(path):
    return json.loads(pathlib.Path(path).read_text(encoding='utf-8'))['cells']


def _is_solution(cell):
    return cell['metadata'].get('nbgrader', {}).get('solution', False)


def _exercises_start(cells):
    """The index of the ``## Exercises`` heading, or None."""
    for index, cell in enumerate(cells):
        if cell['cell_type'] == 'markdown' and ''.join(cell['source']).startswith('## Exercises'):
            return index
    return None


def test_the_edition_is_a_copy_of_the_repository(student_edition):
    assert (student_edition / edition.MARKER).is_file()
    for name in ('README.md', 'docs/glossary.md', 'mpref/framing.py', 'notebooks/exercises/ch02.py'):
        assert (student_edition / name).is_file(), name
    assert not (student_edition / '.git').exists() and not (student_edition / 'build').exists()
    assert not (student_edition / 'tests').exists()     # the teacher's: they need the solutions
    with pytest.raises(FileExistsError):         # it never overwrites a folder that is not an edition
        edition.write_student_edition(ROOT, ROOT / 'docs', replace=True)


def test_an_earlier_edition_and_the_students_work_are_kept_unless_replace_is_asked(tmp_path, capsys):
    folder = tmp_path / 'edition'
    folder.mkdir()
    (folder / edition.MARKER).write_text('an earlier edition')
    answers = folder / 'my_answers.txt'
    answers.write_text('two hours of work')
    with pytest.raises(FileExistsError, match='perhaps with your answers in it.*--replace'):
        edition.write_student_edition(ROOT, folder)
    assert answers.read_text() == 'two hours of work'
    edition.write_student_edition(ROOT, folder, replace=True)
    assert not answers.exists() and (folder / 'notebooks' / '04_queues.ipynb').is_file()


@pytest.mark.parametrize('name', CHAPTERS)
def test_only_the_solutions_differ_from_the_teachers_edition(student_edition, name):
    teacher, student = _cells(ROOT / 'notebooks' / name), _cells(student_edition / 'notebooks' / name)
    assert [c['id'] for c in teacher] == [c['id'] for c in student]
    for mine, theirs in zip(teacher, student):
        source = ''.join(theirs['source'])
        assert not theirs.get('outputs'), 'cell %s still has outputs' % mine['id']
        if _is_solution(mine):
            assert 'BEGIN SOLUTION' not in source and 'END SOLUTION' not in source
            assert 'YOUR CODE HERE' in source or 'YOUR ANSWER HERE' in source, source
        else:
            assert source == ''.join(mine['source']), 'cell %s differs' % mine['id']


@pytest.mark.timeout(600)
@pytest.mark.parametrize('name', CHAPTERS)
def test_the_student_chapters_exercises_run_clean(student_edition, name):
    import nbclient
    import nbformat
    from jupyter_client.manager import KernelManager
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    path = student_edition / 'notebooks' / name
    chapter = nbformat.read(path, as_version=4)
    start = _exercises_start(chapter.cells)
    assert start is not None, '%s has no `## Exercises` section' % name
    chapter.cells = chapter.cells[start:]
    before = leakcheck.snapshot()
    kernel = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager())
    client = nbclient.NotebookClient(chapter, km=kernel, timeout=CELL_TIMEOUT, allow_errors=True,
                                     resources={'metadata': {'path': str(path.parent)}})
    try:
        client.execute()
    finally:
        if kernel.has_kernel:
            kernel.shutdown_kernel(now=True)
    checks = 0
    for cell in chapter.cells:
        if cell.cell_type != 'code':
            continue
        grade_id = cell.metadata.get('nbgrader', {}).get('grade_id', '')
        errors = [o for o in cell.outputs if o.output_type == 'error']
        assert not errors, '%s: %s raised %s: %s' % (name, grade_id, errors[0].ename, errors[0].evalue)
        stderr = ''.join(o.text for o in cell.outputs if o.output_type == 'stream' and o.name == 'stderr')
        assert not stderr, '%s: %s wrote to stderr:\n%s' % (name, grade_id, stderr)
        if grade_id.endswith('-check'):
            checks += 1
            printed = ''.join(o.text for o in cell.outputs if o.output_type == 'stream')
            assert ' -- not solved yet: ' in printed and printed.count('\n') == 1, (
                '%s: %s printed %r' % (name, grade_id, printed))
    assert checks >= 3, '%s: only %d check cells ran' % (name, checks)
    assert not leakcheck.live_children(os.getpid()), 'a process is left'
    assert not leakcheck.lasting(before, os.getpid(), 5), 'something is left in /dev/shm or the temp dir'
