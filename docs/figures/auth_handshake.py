"""The authentication handshake as a sequence of messages: two challenges, one each way.

Shown in chapter 08 (the challenge, step by step) and in docs/authentication.md.
"""

from draw import Drawing

LEFT, RIGHT = 206, 454          # the two lifelines
FIRST, GAP = 128, 34            # the first message's height, and the step between messages


def draw():
    d = Drawing(660, 462, 'The authentication handshake: each end proves it knows the key')
    bottom = FIRST + 6 * GAP + 10
    d.lifeline(LEFT, 34, bottom, '`connection.Listener.accept`', w=236, lines=[
        '`connection.run_handshake`',
        '  deliver_first=True',
    ])
    d.lifeline(RIGHT, 34, bottom, '`connection.Client(address)`', w=236, lines=[
        '`connection.run_handshake`',
        '  deliver_first=False',
    ])
    messages = [
        (LEFT, RIGHT, '`#CHALLENGE#{sha256}` + 40 random bytes', '59 bytes'),
        (RIGHT, LEFT, '`{sha256}` + HMAC-SHA256(key, challenge)', '40 bytes: 8 + 32'),
        (LEFT, RIGHT, '`#WELCOME#`', 'or #FAILURE#: AuthenticationError'),
        (RIGHT, LEFT, '`#CHALLENGE#{sha256}` + 40 random bytes', '59 bytes: now the client asks'),
        (LEFT, RIGHT, '`{sha256}` + HMAC-SHA256(key, challenge)', '40 bytes'),
        (RIGHT, LEFT, '`#WELCOME#`', 'both ends have proved it'),
    ]
    for i, (start, end, label, note) in enumerate(messages):
        y = FIRST + i * GAP
        d.message(y, start, end, label, note=note)
        d.step(start + (10 if start < end else -10), y, i + 1)

    # Which function each end runs, phase by phase.
    phases = [(0, '`connection.deliver_challenge`', '`connection.answer_challenge`'),
              (3, '`connection.answer_challenge`', '`connection.deliver_challenge`')]
    for first, left, right in phases:
        top, end = FIRST + first * GAP - 12, FIRST + (first + 2) * GAP + 8
        for x in (LEFT, RIGHT):
            d.activation(x, top, end)
        middle = (top + end) / 2 + 3
        d.text(LEFT - 10, middle, left, ha='right', within=(12, top, LEFT - 8, end))
        d.text(RIGHT + 10, middle, right, within=(RIGHT + 8, top, 648, end))

    d.box(12, 354, 306, kind='mpref', heading='checked at each end', lines=[
        '`connection._verify_answer`: the same HMAC,',
        'compared in constant time (compare_digest)',
        'every read: at most 256 bytes',
        '(`connection.HANDSHAKE_MAX_MESSAGE`)',
    ])
    d.box(342, 354, 306, kind='data', heading='on the wire', lines=[
        'each message framed: a 4-byte length first;',
        'the key never travels. A Python <= 3.11 peer:',
        '#CHALLENGE# + 20 bytes, a raw HMAC-MD5',
        'answer (16 bytes): mpref speaks both',
    ])
    d.legend()
    return d

