"""The chapters' nbval run sees what a student sees (``tests/student_run.py``).

Small notebooks, written here with their stored outputs, are run by pytest and nbval
exactly as the chapters are (this repository's ``pyproject.toml``): a spawned child
whose interpreter prints a traceback as it shuts down must fail the run, in a compared
cell and in a cell tagged ``nbval-ignore-output``; so must output that arrives after
a chapter's last cell and a warning; a clean notebook, and one whose stored output
has the same stderr, must pass.  The same exit traceback passes plain nbval (the
plugin switched off): the blind spot this plugin closes.
"""

import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

#: A spawned child that registers an exit handler which raises: as its interpreter
#: shuts down it prints "Exception ignored in atexit callback" and a traceback on
#: descriptor 2, after its work is done and while the parent waits in join().
EXIT_TRACEBACK = '''\
child = mpref.get_context('spawn').Process(
    target=exec, args=('import atexit; atexit.register(lambda: 1 / 0)',))
child.start()
child.join(60)
print('exit code', child.exitcode)'''

#: A child of the kernel that writes to descriptor 2 a moment after the cell ends.
LATE_OUTPUT = '''\
subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(0.3); print("late", flush=True)'])
print('started')'''

#: A spawned child that reports through a queue, as the chapters' children do.
CLEAN = '''\
q = mpref.Queue()
child = mpref.get_context('spawn').Process(target=put_list, args=(q,))
child.start()
print(q.get(timeout=60))
child.join(60)
q.close()
print('exit code', child.exitcode)'''

SETUP = 'import subprocess, sys, warnings\nimport mpref\nfrom mpref.targets.tasks import put_list'


def _stdout(text):
    return nbformat.v4.new_output('stream', name='stdout', text=text)


def _notebook(*cells):
    """A notebook of code cells ``(source, stored outputs[, tags])``, stored as run."""
    nb = nbformat.v4.new_notebook()
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    for count, (source, outputs, *tags) in enumerate(((SETUP, []),) + cells, start=1):
        cell = nbformat.v4.new_code_cell(source, execution_count=count, outputs=outputs)
        if tags:
            cell.metadata['tags'] = tags
        nb.cells.append(cell)
    return nb


NOTEBOOKS = {
    'exit_traceback': _notebook((EXIT_TRACEBACK, [_stdout('exit code 0\n')])),
    'exit_traceback_ignored': _notebook((EXIT_TRACEBACK, [_stdout('exit code 0\n')], 'nbval-ignore-output')),
    'late_output': _notebook((LATE_OUTPUT, [_stdout('started\n')])),
    'warning': _notebook(("warnings.warn('mind the gap')", [])),
    'clean': _notebook((CLEAN, [_stdout("[42, None, 'hello']\nexit code 0\n")]),
                       ("print('to stderr, as stored', file=sys.stderr)",
                        [nbformat.v4.new_output('stream', name='stderr', text='to stderr, as stored\n')])),
}


def _run(folder, names, *options):
    """Run the named notebooks as the chapters are run: {notebook: {cell: failure text or None}}."""
    report = folder / ('report%d.xml' % len(list(folder.glob('report*.xml'))))
    env = {k: v for k, v in os.environ.items() if k != 'PYTEST_ADDOPTS'}
    subprocess.run([sys.executable, '-m', 'pytest', '-c', str(ROOT / 'pyproject.toml'),
                    '--rootdir', str(folder), '-q', '--junitxml', str(report),
                    '-o', 'junit_logging=system-err', *options,
                    *[str(folder / (name + '.ipynb')) for name in names]],
                   cwd=ROOT, env=env, capture_output=True, timeout=240)
    results = {name: {} for name in names}
    for case in ElementTree.parse(report).iter('testcase'):
        problem = case.find('failure') if case.find('failure') is not None else case.find('error')
        cells = results[case.get('classname').removesuffix('.ipynb')]
        if problem is not None:             # a teardown error is a second entry for the last cell
            shown = [problem.get('message', ''), problem.text or '',
                     ''.join(err.text or '' for err in case.iter('system-err'))]
            cells[case.get('name')] = (cells.get(case.get('name')) or '') + '\n'.join(shown)
        else:
            cells.setdefault(case.get('name'), None)
    return results


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp('student_run')
    for name, nb in NOTEBOOKS.items():
        nbformat.write(nb, str(folder / ('%s.ipynb' % name)))
    return folder


@pytest.fixture(scope='module')
def results(folder):
    return _run(folder, list(NOTEBOOKS))


@pytest.mark.timeout(300)
def test_a_childs_exit_traceback_fails_the_cell(results):
    failed = results['exit_traceback']
    assert failed['Cell 0'] is None
    assert failed['Cell 1'] and 'ZeroDivisionError' in failed['Cell 1'], failed


@pytest.mark.timeout(300)
def test_a_childs_exit_traceback_fails_a_cell_whose_output_is_not_compared(results):
    failed = results['exit_traceback_ignored']['Cell 1']
    assert failed and 'ZeroDivisionError' in failed and 'stderr' in failed, failed


@pytest.mark.timeout(300)
def test_output_after_the_last_cell_fails(results):
    failed = [problem for problem in results['late_output'].values() if problem]
    assert len(failed) == 1 and 'late' in failed[0] and 'after it had finished' in failed[0], \
        results['late_output']


@pytest.mark.timeout(300)
def test_a_warning_fails(results):
    failed = results['warning']['Cell 1']
    assert failed and 'mind the gap' in failed, failed


@pytest.mark.timeout(300)
def test_a_clean_notebook_passes(results):
    assert results['clean'] == {'Cell 0': None, 'Cell 1': None, 'Cell 2': None}, results['clean']


@pytest.mark.timeout(300)
def test_plain_nbval_misses_the_exit_traceback(folder):
    results = _run(folder, ['exit_traceback'], '-p', 'no:tests.student_run')
    assert results['exit_traceback'] == {'Cell 0': None, 'Cell 1': None}, results
