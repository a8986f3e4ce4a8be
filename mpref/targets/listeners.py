"""Process targets for ``notebooks/08_listeners_clients_auth.ipynb``.

They live in an importable module because a spawned child imports its target
by name, and a notebook's ``__main__`` cannot be imported by a new interpreter.
Every child reports through a Connection; the notebook's parent prints.
"""

from array import array

from mpref.connection import Client, Listener


def spec_server(report, authkey):
    """The spec's server (16.6.2.10): listen, accept one client, send it three things.

    Listens on 127.0.0.1 with a port the OS picks, so ``report`` first
    carries the address to the parent (who plays the client), then the
    line the spec's server prints.
    """
    with Listener(('127.0.0.1', 0), authkey=authkey) as listener:
        report.send(listener.address)
        conn = listener.accept()
        report.send(('connection accepted from', listener.last_accepted))
        conn.send([2.25, None, 'junk', float])
        conn.send_bytes(b'hello')
        conn.send_bytes(array('i', [42, 1729]))
        conn.close()
    report.close()


def client_with_inherited_key(address, report):
    """Connect with ``authenticate=True``: the key is ``current_process().authkey``,
    inherited from the parent; report what the server sent."""
    with Client(address, authenticate=True) as conn:
        report.send(conn.recv())
    report.close()
