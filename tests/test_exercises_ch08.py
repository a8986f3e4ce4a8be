"""Chapter 8's exercises: the reference solutions pass their checks, typical mistakes get their message."""

import functools

import pytest

from notebooks.exercises import ch08

from tests.exercise_cells import answer, chapter_cells, edited_answer

CELLS = chapter_cells('08_listeners_clients_auth.ipynb')
cell = functools.partial(edited_answer, CELLS)     # cell(grade_id, name, *replacements)


PROGRAM = ('ch08-ex1-program', 'handshake_program')


@pytest.mark.parametrize('exercise, answers', [
    (ch08.handshake, [('ch08-ex1-answer', 'predict_handshake'), PROGRAM]),
    (ch08.ask, [('ch08-ex2-answer', 'ask')]),
    (ch08.slow_listener, [('ch08-ex3-answer', 'SlowListener')]),
], ids=lambda x: getattr(x, 'number', ''))
def test_the_reference_solutions_pass(exercise, answers):
    result = exercise.result(*[cell(grade_id, name) for grade_id, name in answers])
    assert result.status == 'solved', str(result)


def test_a_wrong_prediction_is_explained_case_by_case():
    wrong = cell('ch08-ex1-answer', 'predict_handshake',
                 ("'key only at the listener': ('UnpicklingError', 'AuthenticationError')",
                  "'key only at the listener': ('AuthenticationError', 'AuthenticationError')"))
    result = ch08.handshake.result(wrong, cell(*PROGRAM))
    assert result.status == 'wrong'
    assert result.message.startswith('1 of your 4 predictions differ from the run:\n'
                                     "key only at the listener: you predicted client 'AuthenticationError'")
    assert 'a Client without a key runs no handshake' in result.message


def test_a_prediction_of_the_wrong_shape_is_told_so():
    wrong = answer('def predict_handshake():\n    return ["hello"]\n', 'predict_handshake')
    result = ch08.handshake.result(wrong, cell(*PROGRAM))
    assert result.status == 'wrong'
    assert result.message.startswith('predict_handshake() should return a dict with the four cases as keys')


def test_the_broken_ask_is_stopped_and_explained():
    broken = cell('ch08-ex2-program', 'ask', ('def broken_ask(address, authkey, request):',
                                              'def ask(address, authkey, request, timeout):'))
    result = ch08.ask.result(broken)
    assert result.status == 'wrong'
    assert result.message.startswith('ask() with a timeout of 1 s was still waiting after 10 s for a server '
                                     'that never answers.')


def test_an_ask_that_returns_none_on_timeout_is_told_so():
    quiet = cell('ch08-ex2-answer', 'ask',
                 ("            raise TimeoutError('no reply from %r after %s s' % (address, timeout))",
                  '            return None'))
    result = ch08.ask.result(quiet)
    assert result.status == 'wrong'
    assert 'returned instead of raising TimeoutError' in result.message


def test_an_ask_that_leaves_its_connection_open_is_told_so():
    leaky = answer('''
        from mpref.connection import Client

        def ask(address, authkey, request, timeout):
            conn = Client(address, authkey=authkey)
            conn.send(request)
            if not conn.poll(timeout):
                raise TimeoutError()
            return conn.recv()
    ''', 'ask')
    result = ch08.ask.result(leaky)
    assert result.status == 'wrong'
    assert 'left its connection open' in result.message


def test_a_listener_that_stops_at_the_first_wrong_key_is_told_so():
    gives_up = cell('ch08-ex3-answer', 'SlowListener',
                    ('            except AuthenticationError:\n', '            except ValueError:\n'))
    result = ch08.slow_listener.result(gives_up)
    assert result.status == 'wrong'
    assert 'does accept() go on accepting after a failed handshake?' in result.message


def test_a_listener_that_never_waits_is_told_how_long_to_wait():
    hasty = cell('ch08-ex3-answer', 'SlowListener',
                 ('                time.sleep(min(self.delay * 2 ** (self._in_a_row - 1), self.max_delay))',
                  '                pass'))
    result = ch08.slow_listener.result(hasty)
    assert result.status == 'wrong'
    assert result.message.startswith('Client 2 (a wrong key) connected after')
    assert 'accept() should wait about 0.2 s before accepting it' in result.message
