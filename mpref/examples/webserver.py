"""The spec's pool of HTTP servers sharing one listening socket (16.6.4).

Run it with ``python -m mpref.examples.webserver [demo|serve]``.  The parent
creates one ``HTTPServer`` -- one listening socket on 127.0.0.1, on a port the
OS chooses -- and forks four worker processes, each running the server's
``serve_forever()`` on that inherited socket: the kernel hands each incoming
connection to whichever worker is waiting in ``accept()``.  Every page says
which worker served it (also in the ``X-Worker`` header).

* ``demo`` (the default) fetches ``REQUESTS`` pages with ``urllib``, prints
  what came back, then stops the workers and exits;
* ``serve`` prints the address and serves until its standard input closes
  (or Ctrl-C), like the spec's program, which waits for a key press.

The workers are forked (the server object is inherited, not pickled), so the
program uses the fork context.  Spec section 16.6.2.1 (the ``Process``
class); chapter ``notebooks/12_examples.ipynb``.
"""

import http.server
import sys
import urllib.request

import mpref

USAGE = 'usage: python -m mpref.examples.webserver [demo|serve]'
NUMBER_OF_PROCESSES = 4
REQUESTS = 8


class Handler(http.server.BaseHTTPRequestHandler):
    """Answer every GET with a short page naming the worker that served it."""

    def do_GET(self):
        name = mpref.current_process().name
        body = ('<p>Hello from %s, path %s</p>\n' % (name, self.path)).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'text/html; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('X-Worker', name)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass        # keep the output to what the parent prints


def serve_forever(server):
    """A worker: serve connections on the inherited listening socket."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def start_pool(server, number_of_processes=NUMBER_OF_PROCESSES):
    """Fork ``number_of_processes`` daemon workers serving ``server``; return them."""
    context = mpref.get_context('fork')
    workers = [context.Process(target=serve_forever, args=(server,), daemon=True)
               for _ in range(number_of_processes)]
    for worker in workers:
        worker.start()
    return workers


def stop_pool(workers):
    """Terminate and join the workers; return their exit codes."""
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join(10)
    return [worker.exitcode for worker in workers]


def main(argv):
    """Run the program; return the exit status (2 and the usage for an unknown mode)."""
    if len(argv) > 1 or (argv and argv[0] not in ('demo', 'serve')):
        print(USAGE, file=sys.stderr)
        return 2
    mode = argv[0] if argv else 'demo'
    server = http.server.HTTPServer(('127.0.0.1', 0), Handler)
    url = 'http://127.0.0.1:%d/' % server.server_address[1]
    workers = start_pool(server)
    names = {worker.name for worker in workers}
    try:
        if mode == 'serve':
            print('Serving at %s using %d worker processes' % (url, len(workers)), flush=True)
            print('To exit close standard input or press Ctrl-C', flush=True)
            try:
                sys.stdin.read()
            except KeyboardInterrupt:
                pass
        else:
            print('%d worker processes share one listening socket' % len(workers))
            for i in range(REQUESTS):
                with urllib.request.urlopen(url + 'page%d' % i, timeout=10) as response:
                    body = response.read().decode()
                    worker = response.headers['X-Worker']
                print('GET /page%d -> %d, served by one of the workers: %s, body names it: %s'
                      % (i, response.status, worker in names, worker in body), flush=True)
    finally:
        server.server_close()        # the parent's copy of the socket
        codes = stop_pool(workers)
    print('workers stopped: %s' % all(code is not None for code in codes), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
