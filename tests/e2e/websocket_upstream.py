"""An app that speaks WebSocket as browsers require, for the end-to-end tests: every HTTP
request gets a JSON echo of what arrived (method, path, headers), like testkit's echo upstream,
and a WebSocket upgrade gets a proper RFC 6455 echo: each frame the client sends comes back
unmasked (testkit's echo upstream returns the client's bytes as they came, still masked, which
a browser refuses: Chromium fails such a connection with code 1006)."""
import base64
import hashlib
import json
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLOSE, PING, PONG = 0x8, 0x9, 0xA


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the peer went away")
        data += chunk
    return data


def read_frame(sock):
    """(first byte: FIN and opcode, unmasked payload)."""
    first, second = read_exact(sock, 2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack(">H", read_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack(">Q", read_exact(sock, 8))[0]
    mask = read_exact(sock, 4) if second & 0x80 else b"\0\0\0\0"
    payload = read_exact(sock, length)
    return first, bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def frame(first, payload):
    """A server frame: never masked."""
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", first, n)
    elif n < 65536:
        head = struct.pack(">BBH", first, 126, n)
    else:
        head = struct.pack(">BBQ", first, 127, n)
    return head + payload


class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle holds the body for
    # the proxy's delayed ACK (about 40 ms) on every keep-alive request.
    disable_nagle_algorithm = True

    def _websocket(self):
        key = self.headers.get("sec-websocket-key", "")
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("upgrade", "websocket")
        self.send_header("connection", "Upgrade")
        self.send_header("sec-websocket-accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        sock = self.connection
        try:
            while True:
                first, payload = read_frame(sock)
                opcode = first & 0x0F
                if opcode == CLOSE:
                    sock.sendall(frame(0x80 | CLOSE, payload[:2]))
                    break
                if opcode == PING:
                    sock.sendall(frame(0x80 | PONG, payload))
                elif opcode != PONG:
                    sock.sendall(frame(first, payload))
        except (OSError, ConnectionError):
            pass

    def do_GET(self):
        if self.headers.get("upgrade", "").lower() == "websocket":
            self._websocket()
            return
        headers = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        body = json.dumps({"method": self.command, "path": self.path, "headers": headers}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), App).serve_forever()
