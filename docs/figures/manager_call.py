"""One proxy call, l[4] on a manager's list: the caller's thread, the server's threads, and back.

Shown in chapter 06 (one proxy call) and in docs/managers.md.
"""

from draw import SMALL, Drawing


def draw():
    d = Drawing(660, 488, "One proxy call, l[4], to the manager's server and back")
    d.process(12, 34, 636, 124, 'the calling process', note='a proxy holds a Token, not a connection')
    t = d.box(22, 58, 330, heading="thread T: `l[4]`, l a `proxytypes.ListProxy`", lines=[
        "`proxies.BaseProxy._callmethod('__getitem__', (4,), {})`",
        "  this thread's connection, `_tls.connection`; the first",
        '  call makes it: `proxies.BaseProxy._connect`',
        '  `send` the request, `recv_in_turn` the reply',
        'returns 16: a copy of the result',
    ])
    d.step(18, t.line(0), 1)
    d.step(18, t.line(4), 5)
    u = d.box(364, 58, 274, heading='thread U, calling too', lines=[
        'its own connection, made on its own',
        "first call: one per thread, for every",
        'proxy of this server',
        '(`proxies._ThreadConnection`)',
    ])

    d.process(12, 240, 636, 214, "the manager's server process",
              note='a child: SyncManager-1')
    serving = d.box(22, 264, 330, heading="thread 'MainProcess': it serves T", lines=[
        '`server.Server.serve_client`, a loop:',
        '  `recv_in_turn`: the request',
        "  id_to_obj[id]: the referent; is '__getitem__'",
        '  exposed? `server._find_method`',
        '  result = the list.__getitem__(4)',
        '  `send((RETURN, result))`',
    ])
    for n, line in ((2, 1), (3, 2), (4, 5)):
        d.step(18, serving.line(line), n)
    serving_u = d.box(364, 264, 274, heading="thread 'MainProcess|U'", lines=[
        "it serves U's calls",
    ])
    referent = d.box(22, 384, 330, kind='user', heading='the referents: `server.Server` tables', lines=[
        "id_to_obj['7f3a...']: the list, its exposed",
        '  names and method_to_typeid',
        "id_to_refcount['7f3a...']: its proxies",
    ])
    d.arrow(serving.bottom(0.5), referent.top(0.5), kind='user', both=True)
    d.box(364, 314, 274, heading='and three more threads', lines=[
        'main: `managers.BaseManager._run_server`',
        '  runs `server.Server.serve_forever`:',
        '  it waits for shutdown',
        'accepter: `server.Server._accepter`: a',
        '  thread per new connection runs',
        '  `server.Server._handle_request`',
        'lifeline: `server.Server._watch_lifeline`',
        '  its creator gone: stop',
    ])

    # The two messages on T's connection: one request, one reply.
    down_x, up_x = 290, 334
    d.arrow((down_x, t.y + t.h), (down_x, serving.y), kind='data')
    d.arrow((up_x, serving.y), (up_x, t.y + t.h), kind='data')
    d.text(down_x - 6, 190, "request: `('7f3a...',`", ha='right', size=SMALL)
    d.text(down_x - 6, 203, "`'__getitem__', (4,), {})`", ha='right')
    d.text(up_x + 6, 190, 'reply:', size=SMALL)
    d.text(up_x + 6, 203, "`('#RETURN', 16)`")
    d.text(up_x + 6, 221, 'each a pickle, framed,', size=SMALL, color='#444444')
    d.text(up_x + 6, 233, 'on a Unix socket', size=SMALL, color='#444444')
    d.arrow((serving_u.x + 136, u.y + u.h), (serving_u.x + 136, serving_u.y), kind='data', both=True)
    d.legend()
    return d
