"""The exercises of chapter 8, listeners, clients and authentication.

The chapter: ``notebooks/08_listeners_clients_auth.ipynb``.

* 8.1 ``handshake`` -- who trusts whom? (predict, then run; warm-up)
* 8.2 ``ask`` -- a server that never answers (break it, fix it; medium)
* 8.3 ``slow_listener`` -- slow down a guesser (extend mpref; project)

Everything below the ``Exercise`` objects runs in the sandbox, never in the
notebook's kernel.  The servers the checks talk to are threads of the sandbox:
a listener and a client in two threads of one process talk over a real socket
just as two processes would.
"""

import threading
import time

from mpref.connection import AuthenticationError, Client, Listener

from . import Exercise, Wrong
from .tools import exception_name, within

KEY = b'the right key'


# -- 8.1: who trusts whom? ---------------------------------------------------------------

#: The four cases of ``handshake_program``, in order, and why each ends as it does.
HANDSHAKE_CASES = [
    ('same key',
     'both ends run the handshake with the same key: each proves itself to the other, then the '
     "listener's 'hello' arrives"),
    ('wrong key',
     "the listener's challenge is answered with an HMAC under the wrong key: the listener raises "
     'AuthenticationError and sends #FAILURE#, so the client raises AuthenticationError too'),
    ('key only at the listener',
     'a Client without a key runs no handshake: it returns a Connection at once. The first message '
     "it reads is the listener's #CHALLENGE#, which is not a pickle, so recv() raises "
     'UnpicklingError; the client then closes, and the listener, still waiting for an answer, '
     'raises AuthenticationError'),
    ('key only at the client',
     "a Listener without a key runs no handshake: accept() returns at once and it sends 'hello'. "
     "The client, waiting for a #CHALLENGE#, gets a pickle instead and raises AuthenticationError: "
     'it never unpickles anything from a peer that has not proved it knows the key'),
]


def _handshake_trial(program):
    for case, (client, listener) in program().items():
        print('%-26s client: %-22s listener: %s' % (case, client, listener))


def _outcome(value):
    """An exception class predicted counts as its name: AuthenticationError == 'AuthenticationError'."""
    if isinstance(value, type) and issubclass(value, BaseException):
        return value.__name__
    return value


def _handshake_test(predict, program):
    predicted = predict()
    cases = [case for case, _ in HANDSHAKE_CASES]
    if not isinstance(predicted, dict) or sorted(predicted) != sorted(cases):
        raise Wrong('predict_handshake() should return a dict with the four cases as keys (%s); it '
                    'returned %r.' % (', '.join(repr(c) for c in cases), predicted))
    actual = program()
    mistakes = []
    for case, why in HANDSHAKE_CASES:
        guess = predicted[case]
        if not isinstance(guess, (tuple, list)) or len(guess) != 2:
            raise Wrong('predict_handshake()[%r] should be a pair (what the client got, what the listener '
                        'got); it is %r.' % (case, guess))
        guess = tuple(_outcome(g) for g in guess)
        if guess != tuple(actual[case]):
            mistakes.append('%s: you predicted client %r, listener %r; the run gave client %r, listener %r '
                            '-- %s.' % (case, guess[0], guess[1], actual[case][0], actual[case][1], why))
    if mistakes:
        raise Wrong('%d of your 4 predictions differ from the run:\n' % len(mistakes) + '\n'.join(mistakes))
    return 'your prediction matches the run, case by case.'


handshake = Exercise('8.1', 'Who trusts whom?', test=_handshake_test, trial=_handshake_trial, timeout=60)


# -- 8.2: a server that never answers ----------------------------------------------------------

def _server(listener, behaviour, seen):
    """Serve one connection of ``listener``: 'answer' (after 0.3 s), 'silent' or 'hang up'.

    ``seen['closed']`` is set when the client has closed its end (end of file).
    """
    conn = listener.accept()
    try:
        request = conn.recv()
        if behaviour == 'answer':
            time.sleep(0.3)
            conn.send(('reply to', request))
        elif behaviour == 'hang up':
            conn.close()
            return
        while True:                         # silent, or done: wait until the client closes
            try:
                conn.recv()
            except EOFError:
                seen['closed'] = True
                return
    except (EOFError, OSError):
        seen['closed'] = True
    finally:
        conn.close()


def _serve(behaviour):
    listener = Listener(('127.0.0.1', 0), authkey=KEY)
    seen = {}
    thread = threading.Thread(target=_server, args=(listener, behaviour, seen), daemon=True)
    thread.start()
    return listener, thread, seen


def _ask_trial(ask):
    for behaviour in ('answer', 'silent'):
        listener, _thread, _seen = _serve(behaviour)
        box = {}

        def call():
            try:
                box['value'] = ask(listener.address, KEY, 'ping')
            except BaseException as exc:
                box['error'] = exc
        caller = threading.Thread(target=call, daemon=True)
        caller.start()
        caller.join(3)
        server = 'a server that answers' if behaviour == 'answer' else 'a server that never answers'
        if caller.is_alive():
            print('with %s: after 3 seconds the client was still waiting, so the trial stopped it.' % server)
        elif 'error' in box:
            print('with %s: the client raised %s.' % (server, exception_name(box['error'])))
        else:
            print('with %s: the client got %r.' % (server, box['value']))
        listener.close()


def _ask_test(ask):
    # A server that answers within the timeout.
    listener, thread, seen = _serve('answer')
    reply = within(10, 'ask() with a timeout of 5 s was still running after 10 s, against a server that '
                       'answers after 0.3 s. Wait with conn.poll(timeout), not with a bare recv().',
                   ask, listener.address, KEY, 'ping', 5)
    if reply != ('reply to', 'ping'):
        raise Wrong('Against a server that answers after 0.3 s, ask(..., timeout=5) returned %r, not the '
                    "server's reply %r." % (reply, ('reply to', 'ping')))
    thread.join(5)
    if not seen.get('closed'):
        raise Wrong('ask() returned the reply but left its connection open: the server never saw it closed. '
                    'Close the connection before returning (a `with Client(...) as conn:` block does).')
    listener.close()

    # A silent server.
    listener, thread, seen = _serve('silent')
    start = time.monotonic()
    try:
        within(10, 'ask() with a timeout of 1 s was still waiting after 10 s for a server that never '
                   'answers. A bare recv() waits for ever: ask the connection with poll(timeout) first.',
               ask, listener.address, KEY, 'ping', 1)
    except TimeoutError:
        pass
    else:
        raise Wrong('Against a server that never answers, ask(..., timeout=1) returned instead of raising '
                    'TimeoutError. Returning None (or anything) would look like a reply to the caller.')
    waited = time.monotonic() - start
    if waited < 0.8:
        raise Wrong('Against a server that never answers, ask(..., timeout=1) gave up after %.1f s: wait the '
                    'whole timeout before raising TimeoutError.' % waited)
    thread.join(5)
    if not seen.get('closed'):
        raise Wrong('ask() raised TimeoutError but left its connection open: the silent server never saw it '
                    'closed. Close it whatever happens (`with`, or try/finally).')
    listener.close()

    # A server that hangs up without answering.
    listener, thread, seen = _serve('hang up')
    try:
        within(10, 'ask() was still running 10 s after the server hung up without answering: poll() '
                   'answers True at end of file, and recv() then raises EOFError.',
               ask, listener.address, KEY, 'ping', 5)
    except EOFError:
        pass
    except TimeoutError:
        raise Wrong('Against a server that hangs up without answering, ask() raised TimeoutError: that is '
                    'not a timeout. poll() answers True at end of file; let recv() raise its EOFError.')
    else:
        raise Wrong('Against a server that hangs up without answering, ask() returned instead of raising '
                    'EOFError.')
    listener.close()
    return ('ask() returned the reply of a server that answers, raised TimeoutError after the timeout '
            'against one that never answers, let EOFError through from one that hangs up, and closed its '
            'connection every time.')


ask = Exercise('8.2', 'A server that never answers', test=_ask_test, trial=_ask_trial, timeout=90)


# -- 8.3: slow down a guesser ------------------------------------------------------------------

#: The delays the check asks for: after k failures in a row, delay * 2**(k-1), at most max_delay.
DELAY, MAX_DELAY = 0.2, 0.8


def _serve_slowly(listener, stop):
    """Accept connections from the student's listener; send each a welcome."""
    while not stop.is_set():
        try:
            conn = listener.accept()
        except Exception:
            if stop.is_set():
                return
            raise
        conn.send('welcome')
        conn.close()


def _attempt(address, key):
    """One client: (seconds it took, 'welcome' or the exception's name)."""
    start = time.monotonic()
    try:
        with Client(address, authkey=key) as conn:
            got = conn.recv() if conn.poll(10) else 'nothing'
    except AuthenticationError:
        got = 'AuthenticationError'
    return time.monotonic() - start, got


def _slow_listener_test(SlowListener):
    listener = within(10, 'SlowListener(...) did not return within 10 s.',
                      SlowListener, ('127.0.0.1', 0), KEY, DELAY, MAX_DELAY)
    stop = threading.Event()
    server = threading.Thread(target=_serve_slowly, args=(listener, stop), daemon=True)
    server.start()
    plan = [(b'a wrong key', 0.0), (b'a wrong key', DELAY), (b'a wrong key', 2 * DELAY),
            (b'a wrong key', 4 * DELAY), (KEY, MAX_DELAY), (KEY, 0.0)]
    for number, (key, expected) in enumerate(plan, 1):
        who = 'the right key' if key == KEY else 'a wrong key'
        seconds, got = within(20, 'Client %d (%s) was still connecting after 20 s: does accept() go on '
                                  'accepting after a failed handshake? It must catch AuthenticationError '
                                  'and accept the next connection.' % (number, who),
                              _attempt, listener.address, key)
        if key == KEY and got != 'welcome':
            raise Wrong('Client %d had the right key but got %r instead of the welcome.' % (number, got))
        if key != KEY and got != 'AuthenticationError':
            raise Wrong('Client %d had a wrong key but got %r: the handshake must still refuse it.'
                        % (number, got))
        if seconds < 0.75 * expected:
            raise Wrong('Client %d (%s) connected after %.2f s; after %s, with delay=%s and max_delay=%s, '
                        'accept() should wait about %.1f s before accepting it.'
                        % (number, who, seconds, _history(number), DELAY, MAX_DELAY, expected))
        if seconds > expected + 1.5:
            raise Wrong('Client %d (%s) waited %.1f s; after %s, with delay=%s and max_delay=%s, the wait '
                        'should be about %.1f s (doubling after each failure in a row, never more than '
                        'max_delay).' % (number, who, seconds, _history(number), DELAY, MAX_DELAY, expected))
    failures = getattr(listener, 'failures', None)
    if failures != 4:
        raise Wrong('After four clients with a wrong key, listener.failures is %r, not 4.' % (failures,))
    stop.set()
    within(10, 'close() did not return within 10 s.', listener.close)
    server.join(5)
    return ('accept() waited 0, 0.2, 0.4 and 0.8 s before the clients after 0 to 3 wrong keys in a row, '
            'never more than max_delay, and not at all once a client had the right key; every wrong key '
            'was refused and counted.')


def _history(number):
    failed = min(number - 1, 4)
    if number == 6:
        return 'a client with the right key'
    return 'no failure' if failed == 0 else '%d failure%s in a row' % (failed, 's' * (failed > 1))


slow_listener = Exercise('8.3', 'Slow down a guesser', test=_slow_listener_test, timeout=90,
                         on_timeout='Does accept() go on accepting after a failed handshake?')
