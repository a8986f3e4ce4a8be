"""The exercises' check library (``notebooks/exercises/``, ``docs/course.md``).

* A check runs an answer in a sandbox and says, in plain words, whether it is right:
  a right answer passes, a wrong one is told what is wrong, the student edition's
  stub is "not solved yet" without running anything, a crash names its line.
* A hanging answer ends in time, with a clear message, and leaves nothing behind:
  no process, no semaphore in /dev/shm, no temporary directory.
* An answer defined in a notebook cell reaches the sandbox (IPython keeps the
  cell's source in ``linecache``) and can be the target of a spawned child.
* Chapter 2's reference solutions, taken from the chapter itself, pass their
  checks; a few typical mistakes get the message meant for them.
"""

import json
import linecache
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from notebooks.exercises import Answer, Result, ch02, sandbox, selftest

from tests.exercise_cells import answer, chapter_cells

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_a_right_answer_is_solved():
    result = selftest.forty_two.result(answer('def answer():\n    return 42\n'))
    assert result.status == 'solved', result
    assert str(result) == 'Exercise 0.1 -- solved: answer() returned 42.'


def test_a_wrong_answer_is_told_what_is_wrong():
    result = selftest.forty_two.result(answer('''
        def answer():
            print('computing...')
            return 41
    '''))
    assert result.status == 'wrong'
    assert str(result).startswith('Exercise 0.1 -- not right yet: answer() returned 41, not 42.')
    assert 'What your code printed:\n    computing...' in str(result)


def test_the_student_editions_stub_is_not_solved_yet_and_is_not_run():
    stub = answer('''
        def answer():
            # YOUR CODE HERE
            raise NotImplementedError()
    ''')
    start = time.monotonic()
    result = selftest.runs.result(stub)
    assert time.monotonic() - start < 1, 'a stub needs no sandbox'
    assert result.status == 'unsolved'
    assert str(result).startswith('Exercise 0.2 -- not solved yet: replace `raise NotImplementedError()`')


def test_an_answer_that_raises_is_told_where():
    result = selftest.forty_two.result(answer('''
        def answer():
            x = 0
            return 1 / x
    '''))
    assert result.status == 'wrong'
    assert result.message == ('your code raised ZeroDivisionError: division by zero '
                              '(line 4 of the cell that defines `answer`).')


def test_a_missing_import_gets_a_hint():
    result = selftest.forty_two.result(answer('def answer():\n    return mpref.cpu_count()\n'))
    assert 'NameError' in result.message
    assert 'must import what it uses' in result.message


def test_only_imports_and_definitions_of_a_cell_are_run():
    source = '''
        import os
        LIMIT = 42

        def answer():
            return LIMIT - 1

        print(answer())         # the student trying it out
        answer()
    '''
    result = selftest.forty_two.result(answer(source))
    assert result.status == 'wrong'
    assert "it left out: `print(answer())`; `answer()`" in result.message
    assert 'What your code printed' not in str(result)          # the print never ran


def test_a_hanging_answer_ends_in_time_and_leaves_nothing(tmp_path):
    # The answer starts a child that sleeps, makes a named semaphore and a
    # temporary directory, tells us their names, and then hangs.
    report = tmp_path / 'report.json'
    source = '''
        import json, os, tempfile, time
        import mpref

        def answer():
            lock = mpref.Lock()
            child = mpref.Process(target=time.sleep, args=(600,))
            child.start()
            folder = tempfile.mkdtemp(prefix='mpref-leftover-')
            with open(%r, 'w') as f:
                json.dump({'child': child.pid, 'sandbox': os.getpid(), 'folder': folder,
                           'semaphore': lock._name}, f)
            time.sleep(600)
    ''' % str(report)
    start = time.monotonic()
    result = selftest.runs.result(answer(source))
    assert time.monotonic() - start < 15
    assert result.status == 'wrong'
    assert result.message.startswith('your answer was still running after 3 seconds, so the check stopped '
                                     'it and every process it started.')
    assert result.message.endswith('(A hint for a student whose answer hangs.)')
    made = json.loads(report.read_text())
    for pid in (made['child'], made['sandbox']):
        assert not _running(pid), 'process %d survived the check' % pid
    assert not os.path.exists(made['folder'])
    if os.path.isdir('/dev/shm'):
        assert not os.path.exists('/dev/shm/sem.' + made['semaphore'].lstrip('/'))


KERNEL = '''
import sys
from notebooks.exercises import Answer, selftest

SOURCE = """
import json, os, time
import mpref

def answer():
    child = mpref.Process(target=time.sleep, args=(600,))
    child.start()
    with open(%r, 'w') as f:
        json.dump({'child': child.pid, 'sandbox': os.getpid(), 'folder': os.getcwd()}, f)
    time.sleep(600)
"""
selftest.patient.result(Answer(name='answer', source=SOURCE, left_out=[]))
'''


def test_a_sandbox_whose_checker_died_ends_by_itself_and_leaves_nothing(tmp_path):
    # A kernel restarted or killed in the middle of a check cannot clean up its
    # sandbox: the sandbox notices that its parent is gone and ends itself.
    report = tmp_path / 'report.json'
    kernel = subprocess.Popen([sys.executable, '-c', KERNEL % str(report)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not report.exists() or not report.read_text().endswith('}'):
            assert time.monotonic() < deadline and kernel.poll() is None, 'the answer never started'
            time.sleep(0.1)
        made = json.loads(report.read_text())
    finally:
        kernel.kill()
        kernel.wait()
    for pid in (made['sandbox'], made['child']):
        assert not _running(pid, patience=10), 'process %d outlived the kernel that checked it' % pid
    assert not os.path.exists(made['folder'])


def _running(pid, patience=5):
    """Is ``pid`` still a live process (not a zombie) after up to ``patience`` seconds?"""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            with open('/proc/%d/stat' % pid) as f:
                if f.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X'):
                    return False
        except OSError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True


def test_an_answer_can_be_the_target_of_a_spawned_child():
    result = selftest.spawned.result(answer('def answer():\n    return 42\n'))
    assert result.status == 'solved', result


def test_an_answer_is_found_by_the_cell_that_defined_it():
    # What IPython does for every cell: compile it under a file name and keep
    # its source in linecache.  Classes are found through their methods.
    cell = 'import math\n\nclass Circle:\n    def area(self):\n        return math.pi\n\nprint(Circle)\n'
    filename = '<cell-for-test_exercises>'
    linecache.cache[filename] = (len(cell), None, cell.splitlines(True), filename)
    namespace = {'__name__': '__main__'}
    try:
        exec(compile(cell, filename, 'exec'), namespace)
        found = sandbox.answer_of(namespace['Circle'])
    finally:
        del linecache.cache[filename]
    assert found.name == 'Circle'
    assert 'def area(self)' in found.source and 'print(Circle)' not in found.source
    assert found.left_out == ('print(Circle)',)


def test_an_answer_in_the_students_own_module(tmp_path, monkeypatch):
    (tmp_path / 'my_answer.py').write_text('def answer():\n    return 42\n')
    monkeypatch.chdir(tmp_path)             # the kernel's folder is on the sandbox's path
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_answer
    assert sandbox.answer_of(my_answer.answer) == Answer(name='answer', module='my_answer')
    assert selftest.spawned.result(my_answer.answer).status == 'solved'


def test_what_cannot_be_an_answer_is_said_plainly():
    assert 'not a lambda' in selftest.forty_two.result(lambda: 42).message
    assert 'expected a function or a class' in selftest.forty_two.result(42).message


def test_a_check_prints_and_never_raises_except_for_nbgrader(capsys, monkeypatch):
    wrong = answer('def answer():\n    return 41\n')
    monkeypatch.delenv('NBGRADER_EXECUTION', raising=False)
    assert selftest.forty_two.check(wrong) is None
    assert capsys.readouterr().out.startswith('Exercise 0.1 -- not right yet: answer() returned 41')
    monkeypatch.setenv('NBGRADER_EXECUTION', 'autograde')     # nbgrader's autograder is running it
    with pytest.raises(AssertionError, match='not right yet'):
        selftest.forty_two.check(wrong)


def test_a_result_shows_only_the_end_of_a_long_output():
    result = Result('0.1', 'wrong', 'no.', '\n'.join('line %d' % i for i in range(100)))
    text = str(result)
    assert '(the last 15 lines)' in text and 'line 99' in text and 'line 84' not in text


# -- chapter 2: the reference solutions, from the chapter itself ----------------------------


CH02 = chapter_cells('02_pipes_and_connections.ipynb')


@pytest.mark.parametrize('exercise, answers', [
    (ch02.eof, [('ch02-ex1-answer', 'predict_eof'), ('ch02-ex1-program', 'eof_program')]),
    (ch02.swap, [('ch02-ex2-answer', 'swap')]),
    (ch02.wire, [('ch02-ex3-answer', 'write_message'), ('ch02-ex3-answer', 'read_message')]),
    (ch02.pipeline, [('ch02-ex4-answer', 'pipeline')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_chapter_2s_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[answer(CH02[cell], name) for cell, name in answers])
    assert result.status == 'solved', str(result)


def test_chapter_2_a_wrong_prediction_is_explained_step_by_step():
    predict = 'def predict_eof():\n    return [True, "one", "two", True, True, None]\n'
    result = ch02.eof.result(answer(predict, 'predict_eof'), answer(CH02['ch02-ex1-program'], 'eof_program'))
    assert result.status == 'wrong'
    assert result.message.startswith('2 of your 6 predictions differ from the run:\n'
                                     'step 4 (`r.poll(1)`): you predicted True, the run gave False')
    assert 'the parent itself still holds the write end `w`' in result.message
    assert "step 6 (`r.recv()`): you predicted None, the run gave 'EOFError'" in result.message


def test_chapter_2_typical_mistakes_get_their_message():
    reference = CH02['ch02-ex3-answer']
    little_endian = answer(reference.replace("'!i'", "'<i'"), 'write_message')
    result = ch02.wire.result(little_endian, answer(reference, 'read_message'))
    assert 'a Connection expects 00 00 00 05 68 65 6c 6c 6f' in result.message
    one_read = answer(reference.replace('        chunks, got = [], 0', '        return os.read(fd, size)'),
                      'read_message')
    result = ch02.wire.result(answer(reference, 'write_message'), one_read)
    assert 'os.read(fd, n) returns whatever has arrived' in result.message
    no_join = answer(CH02['ch02-ex4-answer'].replace('        process.join()', '        pass'), 'pipeline')
    result = ch02.pipeline.result(no_join)
    assert 'join every process before returning' in result.message


def test_chapter_2_broken_swap_is_stopped_and_explained():
    broken = answer(CH02['ch02-ex2-program'].replace('def broken_swap', 'def swap'), 'swap')
    result = ch02.swap.result(broken)
    assert result.status == 'wrong'
    assert result.message.startswith('With messages of 1 MiB each way, under mpref with fork, swap() was '
                                     'still running after 10 seconds at both ends.')


def test_only_the_answers_own_stub_counts():
    # A helper the student chose not to use may keep the student edition's stub.
    cell = '''
        def helper():
            # YOUR CODE HERE
            raise NotImplementedError()

        def answer():
            return 42
    '''
    assert selftest.forty_two.result(answer(cell)).status == 'solved'
    assert selftest.forty_two.result(answer(cell, 'helper')).status == 'unsolved'
