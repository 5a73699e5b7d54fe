"""A real HTTP/1.1 upstream for jitgate's tests: answers every request with a JSON echo of
what it received (method, path, headers), so a test sees exactly what the proxy forwarded.
/stream sends a chunk every 100 ms for 30 s (or ?ticks=N chunks), for tests of long responses.
A WebSocket upgrade gets a proper 101 handshake, after which every byte received is sent back."""
import base64
import hashlib
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the body waits for the
    # proxy's delayed ACK (about 40 ms) on every keep-alive request.
    disable_nagle_algorithm = True

    def _websocket(self):
        key = self.headers.get("sec-websocket-key", "")
        digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        self.send_response(101, "Switching Protocols")
        self.send_header("upgrade", "websocket")
        self.send_header("connection", "Upgrade")
        self.send_header("sec-websocket-accept", base64.b64encode(digest).decode())
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        try:
            while True:
                data = self.connection.recv(65536)
                if not data:
                    break
                self.connection.sendall(data)
        except OSError:
            pass

    def _echo(self):
        if self.headers.get("upgrade", "").lower() == "websocket":
            self._websocket()
            return
        if self.path.startswith("/stream"):
            query = parse_qs(urlparse(self.path).query)
            ticks = int(query.get("ticks", ["300"])[0])
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                for i in range(ticks):
                    chunk = f"tick {i}\n".encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                    time.sleep(0.1)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        body = json.dumps({"method": self.command, "path": self.path, "headers": headers}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _echo

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
