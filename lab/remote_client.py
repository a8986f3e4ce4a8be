"""The parent's handle on one remote-queue client shell running on a host of a ``netns.Lab``.

Lab equipment (``lab/``) for ``notebooks/14_beyond_one_machine.ipynb`` and
``tests/test_remote_hosts.py``.  The shell itself is ``mpref.targets.beyond.client``
(a child, started inside the host's network namespace): it connects the spec's
``QueueManager`` (16.6.2.7.3) to a server and answers one JSON command a line.
This side writes the commands and reads the answers, so the parent prints what
came back and nothing depends on a child's prints reaching a notebook.
"""

import json
import sys

from mpref.targets.beyond import AUTHKEY, PORT


class RemoteClient:
    """The parent's handle on one ``client`` shell running on a host of a ``netns.Lab``.

    Starts ``python -m mpref.targets.beyond client address PORT authkey``
    inside ``host``; ``greeting`` is its first answer (``['ok',
    'connected']`` or an error).  ``ask(*command)`` sends one command and
    returns its answer; ``send`` and ``answer`` do the two halves
    separately, for a call that blocks on the server.
    """

    def __init__(self, lab, host, address, authkey=AUTHKEY, port=PORT):
        argv = [sys.executable, '-m', 'mpref.targets.beyond', 'client',
                address, str(port), authkey.decode()]
        self.proc = lab.popen(host, argv)
        self.greeting = self.answer()

    def send(self, *command):
        self.proc.stdin.write(json.dumps(command) + '\n')
        self.proc.stdin.flush()

    def answer(self):
        line = self.proc.stdout.readline()
        if not line:
            raise EOFError('the client exited (status %r) without answering' % self.proc.wait(10))
        return json.loads(line)

    def ask(self, *command):
        self.send(*command)
        return self.answer()
