"""The student edition: the course with every solution taken out and every output cleared.

From the repository root (``pip install -e '.[course]'`` first)::

    python -m notebooks.exercises                    # writes build/student/
    python -m notebooks.exercises SOME/FOLDER        # or there
    python -m notebooks.exercises --replace          # over an earlier edition (its answers are lost)

The edition is a copy of the repository (the chapters' links to ``mpref/``
and ``docs/`` keep working in it) in which each chapter went through two
preprocessors, as nbgrader's ``generate_assignment`` would put it through them:

* nbgrader's ``ClearSolutions`` replaces each region between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` -- with the stub
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` in a code cell, and
  ``YOUR ANSWER HERE`` in a markdown cell -- and refuses a solution region in a
  cell not marked as a solution cell;
* nbconvert's ``ClearOutputPreprocessor`` clears every output.

Everything else stays as it is, the checks included: in the student edition
each check says "not solved yet" until its answer is written.  Left out: the
project's ``tests/`` (the teacher's: they check the reference solutions, which
the edition does not have).

An earlier edition may hold a student's answers, so it is replaced only when
asked to (``--replace``); otherwise the command refuses and says so.
"""

import os
import shutil

#: Folders that are not part of the course: version control, environments, caches, builds,
#: and the project's tests (they check the reference solutions the edition leaves out).
NOT_COPIED = {'.git', 'build', '__pycache__', '.ipynb_checkpoints', '.pytest_cache', '.ruff_cache',
              'tests'}

#: The file that marks a folder as a student edition (so that writing a new one may replace it).
MARKER = 'STUDENT_EDITION.md'

_MARKER_TEXT = """\
# The student edition of the mpref course

The chapters in `notebooks/` are the course's, with the reference solutions taken out and
the outputs cleared: fill in each `# YOUR CODE HERE` and `YOUR ANSWER HERE`, then run the
exercise's check cell. Everything else is the repository as it was when this edition was
written (`python -m notebooks.exercises`, from the repository root). Open the course as the
README says, from this folder.
"""


def write_student_edition(root, folder, replace=False):
    """Write the student edition of the repository at ``root`` into ``folder``; return the chapters written.

    ``folder`` must not exist, or be empty, or -- with ``replace`` -- hold an
    earlier student edition, which is then deleted with whatever a student
    wrote in it.  Anything else raises ``FileExistsError`` and touches nothing.
    """
    root, folder = os.path.abspath(root), os.path.abspath(folder)
    if os.path.isdir(folder) and os.listdir(folder):
        if not os.path.exists(os.path.join(folder, MARKER)):
            raise FileExistsError('%s is not empty and holds no student edition: not touching it' % folder)
        if not replace:
            raise FileExistsError('%s already holds a student edition, perhaps with your answers in it: '
                                  'move it away, or pass --replace to write a new one over it (what is '
                                  'in it now is then lost)' % folder)
        shutil.rmtree(folder)
    shutil.copytree(root, folder, ignore=_not_copied(root, folder))
    with open(os.path.join(folder, MARKER), 'w', encoding='utf-8') as f:
        f.write(_MARKER_TEXT)
    notebooks = os.path.join(folder, 'notebooks')
    chapters = sorted(os.path.join(notebooks, name) for name in os.listdir(notebooks)
                      if name.endswith('.ipynb'))
    for path in chapters:
        student_chapter(path, path)
    return chapters


def student_chapter(source, destination):
    """Write the student version of the chapter ``source`` to ``destination``."""
    import nbformat
    from nbconvert.preprocessors import ClearOutputPreprocessor
    from nbgrader.preprocessors import ClearSolutions

    notebook = nbformat.read(source, as_version=4)
    notebook, _ = ClearSolutions(enforce_metadata=True).preprocess(notebook, {})
    notebook, _ = ClearOutputPreprocessor().preprocess(notebook, {})
    for cell in notebook.cells:
        cell.metadata.pop('execution', None)        # when the teacher's edition last ran
    nbformat.write(notebook, destination)


def _not_copied(root, folder):
    def ignore(directory, names):
        skipped = {name for name in names if name in NOT_COPIED or name.startswith('.venv')
                   or name.endswith('.egg-info')}
        # The edition itself, if it is written inside the repository somewhere else than build/.
        skipped |= {name for name in names if os.path.join(directory, name) == folder}
        return skipped
    return ignore


def main(argv):
    root = os.getcwd()
    if not os.path.isdir(os.path.join(root, 'notebooks', 'exercises')):
        raise SystemExit('run this from the repository root: python -m notebooks.exercises [FOLDER]')
    replace = '--replace' in argv
    folders = [arg for arg in argv if arg != '--replace']
    folder = folders[0] if folders else os.path.join('build', 'student')
    try:
        chapters = write_student_edition(root, folder, replace=replace)
    except FileExistsError as error:
        raise SystemExit(str(error))
    print('The student edition of %d chapters is in %s (open %s)'
          % (len(chapters), folder, os.path.join(folder, 'notebooks')))
