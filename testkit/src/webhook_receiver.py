"""A real HTTP endpoint for jitgate's webhook tests: every POST is saved as one JSON file
(headers and body) in the directory given, and answered with the status in the file
`status` there (200 when absent), so a test can make the receiver fail and recover."""
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

directory = sys.argv[2]
lock = threading.Lock()
counter = [0]


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length).decode("utf-8", "replace")
        try:
            with open(os.path.join(directory, "status")) as f:
                status = int(f.read().strip())
        except OSError:
            status = 200
        if status == 200:
            with lock:
                counter[0] += 1
                name = os.path.join(directory, "%06d.json" % counter[0])
            record = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
            with open(name + ".tmp", "w") as f:
                json.dump(record, f)
            os.rename(name + ".tmp", name)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
