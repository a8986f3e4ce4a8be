"""Chapter 1's exercises (``notebooks/exercises/ch01.py``): the reference solutions, taken from
the chapter itself, pass their checks, and typical wrong answers get the message meant for them."""

import pathlib

import pytest

from notebooks.exercises import ch01

from tests.exercise_cells import answer, chapter_cells

ROOT = pathlib.Path(__file__).resolve().parent.parent


CH01 = chapter_cells('01_process.ipynb')


@pytest.mark.parametrize('exercise, answers', [
    (ch01.endings, [('ch01-ex1-answer', 'predict_exit_codes'), ('ch01-ex1-program', 'exit_program')]),
    (ch01.views, [('ch01-ex2-answer', 'predict_views'), ('ch01-ex2-program', 'views_program')]),
    (ch01.bounded, [('ch01-ex3-answer', 'run_bounded')]),
    (ch01.daemon, [('ch01-ex4-answer', 'job')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_chapter_1s_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[answer(CH01[cell], name) for cell, name in answers])
    assert result.status == 'solved', str(result)


def test_signals_predicted_as_positive_codes_are_explained():
    predict = 'def predict_exit_codes():\n    return [0, 3, 1, 1, 15, 9]\n'
    result = ch01.endings.result(answer(predict, 'predict_exit_codes'),
                                 answer(CH01['ch01-ex1-program'], 'exit_program'))
    assert result.status == 'wrong'
    assert result.message.startswith('2 of your 6 predictions differ from the run:\n'
                                     'step 5 (terminate()): you predicted 15, the run gave -15')
    assert 'a child killed by signal N has exit code -N' in result.message


def test_a_spawned_child_seeing_the_parents_global_is_explained():
    predict = "def predict_views():\n    return [42, 42, 'stuck', 'took the lock', 21, 'PicklingError']\n"
    program = answer(CH01['ch01-ex2-program'], 'views_program')
    result = ch01.views.result(answer(predict, 'predict_views'), program)
    assert result.message.startswith('1 of your 6 predictions differ from the run:\nstep 2 ')
    assert 'imports mpref.targets.process afresh' in result.message


def test_a_run_that_never_terminates_returns_none():
    no_stop = '''
        def run_bounded(ctx, target, args, seconds):
            child = ctx.Process(target=target, args=args)
            child.start()
            child.join(seconds)
            return child.exitcode
    '''
    result = ch01.bounded.result(answer(no_stop, 'run_bounded'))
    assert result.status == 'wrong'
    assert result.message.startswith('Under mpref with fork, with a child that would sleep for a minute and '
                                     'seconds=1, run_bounded() returned None')
    assert 'then terminate() the child' in result.message


def test_a_join_without_timeout_after_terminate_is_caught():
    no_kill = '''
        def run_bounded(ctx, target, args, seconds):
            child = ctx.Process(target=target, args=args)
            child.start()
            child.join(seconds)
            if child.is_alive():
                child.terminate()
                child.join()
            return child.exitcode
    '''
    result = ch01.bounded.result(answer(no_kill, 'run_bounded'))
    assert result.status == 'wrong'
    assert 'ignores SIGTERM' in result.message and 'kill() the child' in result.message


def test_the_daemonic_supervisor_is_named():
    broken = answer(CH01['ch01-ex4-program'].replace('def broken_job', 'def job'), 'job')
    result = ch01.daemon.result(broken)
    assert result.status == 'wrong'
    assert result.message.startswith('Under mpref with fork, a child failed with "AssertionError: daemonic '
                                     'processes are not allowed to have children": the supervisor is still '
                                     'daemonic')
