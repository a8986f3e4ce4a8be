"""A duplex Pipe as a socket pair, and the bytes of one framed message.

Shown in chapter 02 (the bytes on the wire).
"""

from draw import SMALL, Drawing

HEADER_FILL = '#c4e6c4'


def draw():
    d = Drawing(660, 400, 'A duplex Pipe is a socket pair; a message is a length and a payload')
    d.process(12, 34, 236, 116, 'parent process')
    d.process(412, 34, 236, 116, 'child process')
    conn1 = d.box(24, 60, 212, heading='conn1: `framing.Connection`', lines=[
        'wraps descriptor 5',
        '`send(obj)`: pickles, then frames',
        '`recv()`: reads one frame, unpickles',
        '`send_bytes`, `recv_bytes`: raw bytes',
    ])
    conn2 = d.box(424, 60, 212, heading='conn2: `framing.Connection`', lines=[
        'wraps descriptor 6: inherited (fork),',
        'or handed over at the same number',
        '(spawn: `spawn.duplicate_for_child`)',
        'both ends send and receive',
    ])
    kernel = d.box(262, 70, 136, kind='os', heading='the kernel', lines=[
        '`socket.socketpair()`',
        'two connected Unix',
        'stream sockets: a',
        'buffer each way',
    ])
    d.arrow(conn1.right(0.3), (kernel.x, conn1.right(0.3)[1]), kind='data')
    d.arrow((kernel.x + kernel.w, conn1.right(0.3)[1]), (conn2.x, conn1.right(0.3)[1]), kind='data')
    d.arrow(conn2.left(0.8), (kernel.x + kernel.w, conn2.left(0.8)[1]), kind='data')
    d.arrow((kernel.x, conn2.left(0.8)[1]), (conn1.x + conn1.w, conn2.left(0.8)[1]), kind='data')
    d.text(330, 170, '`framing.Pipe()`; with duplex=False, an `os.pipe()`:', ha='center', size=SMALL)
    d.text(330, 183, 'conn1 can only receive, conn2 can only send', ha='center', size=SMALL)

    # One message on the wire: conn1.send_bytes(b'thank you').
    d.text(12, 212, "`conn1.send_bytes(b'thank you')` writes 13 bytes:")
    hex_bytes = ['00', '00', '00', '09'] + b'thank you'.hex(' ').split()
    x0, w = 96, 36
    cells = [('`%s`' % b, w, HEADER_FILL) for b in hex_bytes[:4]]
    cells += [('`%s`' % b, w) for b in hex_bytes[4:]]
    starts = d.cells(x0, 224, cells, h=22)
    for i, ch in enumerate('thank you'):
        d.text(starts[4 + i] + w / 2, 261, "'%s'" % ch, ha='center', size=SMALL, color='#555555')
    d.span(starts[0], starts[4], 268, 'length 9: 4 bytes, big-endian (!i)')
    d.span(starts[4], starts[-1], 268, 'payload: the 9 bytes, untouched')

    d.box(12, 302, 312, kind='mpref', heading='writing', lines=[
        '`framing.Connection.send_bytes`, `send`:',
        '`framing.Connection._send_message` packs the',
        'length; up to 16 KiB, one `os.write` of both',
    ])
    d.box(336, 302, 312, kind='mpref', heading='reading', lines=[
        '`framing.Connection.recv_bytes`, `recv`:',
        '`framing.Connection._read_header`: 4 bytes,',
        'then `_read_payload`: exactly 9, nothing more',
    ])
    d.legend()
    return d
