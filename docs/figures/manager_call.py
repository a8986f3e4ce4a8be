"""One proxy call, l[4] on a manager's list: the caller's thread, the server's threads, and back.

Shown in chapter 06 (one proxy call) and in docs/managers.md.
"""

from draw import Drawing


def draw():
    d = Drawing(660, 466, "One proxy call, l[4], to the manager's server and back")
    d.process(12, 34, 636, 124, 'the calling process', note='a proxy holds a Token, not a connection')
    t = d.box(22, 58, 330, heading="thread T: `l[4]`, l a `proxies.ListProxy`", lines=[
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

    server = d.process(12, 240, 636, 190, "the manager's server process",
                       note='`managers.BaseManager._run_server`, in SyncManager-1')
    serving = d.box(22, 264, 262, heading="thread 'MainProcess' (serves T)", lines=[
        '`server.Server.serve_client`, a loop:',
        '  `recv_in_turn`: the request',
        '  id_to_obj[id]: the referent; is',
        "  '__getitem__' exposed?",
        '  `server._find_method`, then call',
        '  `send((RETURN, result))`',
    ])
    for n, line in ((2, 1), (3, 2), (4, 5)):
        d.step(18, serving.line(line), n)
    serving_u = d.box(296, 264, 120, heading="'MainProcess|U'", lines=[
        "serves U's calls",
    ])
    referent = d.box(22, 372, 394, kind='user', heading='the referents: `server.Server` tables', lines=[
        "id_to_obj['7f3a...'] = (the list, exposed names, method_to_typeid)",
        "id_to_refcount['7f3a...']: proxies alive, in all processes",
    ])
    d.arrow(serving.bottom(0.3), (serving.bottom(0.3)[0], referent.y), kind='user', both=True)
    others = d.box(428, 264, 210, heading='and three more threads', lines=[
        'main: `server.Server.serve_forever`',
        '  waits for shutdown',
        'accepter: `server.Server._accepter`',
        '  starts a thread per connection:',
        '  `server.Server._handle_request`',
        '  (handshake, `accept_connection`)',
        'lifeline: `server.Server._watch_lifeline`',
        '  its creator gone: stop',
    ])
    del server, others

    # The two messages on T's connection: one request, one reply.
    down_x, up_x = 150, 236
    d.arrow((down_x, t.y + t.h), (down_x, serving.y), kind='data')
    d.arrow((up_x, serving.y), (up_x, t.y + t.h), kind='data')
    d.text(down_x - 6, 186, "request: `('7f3a...',`", ha='right', size=8.2)
    d.text(down_x - 6, 198, "`'__getitem__', (4,), {})`", ha='right')
    d.text(up_x + 6, 186, 'reply:', size=8.2)
    d.text(up_x + 6, 198, "`('#RETURN', 16)`")
    d.text(up_x + 6, 216, 'each a pickle, framed, on a Unix socket', size=7.8, color='#444444')
    d.arrow((500, u.y + u.h), (500, 222), (356, 222), (356, serving_u.y), kind='data',
            both=True)
    d.legend()
    return d
