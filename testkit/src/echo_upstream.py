"""A real HTTP/1.1 upstream for jitgate's tests: answers every request with a JSON echo of
what it received (method, path, headers), so a test sees exactly what the proxy forwarded.
/stream sends a chunk every 100 ms for 30 s (or ?ticks=N chunks), for tests of long responses.
A WebSocket upgrade gets a proper 101 handshake. On /frames the connection is then an RFC 6455
echo a browser accepts (each frame comes back unmasked, pings are answered); on any other path
every byte received is sent back as it came, for raw test clients that check the proxy's pipe."""
import base64
import hashlib
import json
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


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


def echo_frames(sock):
    while True:
        first, payload = read_frame(sock)
        opcode = first & 0x0F
        if opcode == CLOSE:
            sock.sendall(frame(0x80 | CLOSE, payload[:2]))
            return
        if opcode == PING:
            sock.sendall(frame(0x80 | PONG, payload))
        elif opcode != PONG:
            sock.sendall(frame(first, payload))


def echo_bytes(sock):
    while True:
        data = sock.recv(65536)
        if not data:
            return
        sock.sendall(data)


# How often each /delay id was received: a request the proxy resent shows up twice.
HITS = {}


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
        echo = echo_frames if self.path.startswith("/frames") else echo_bytes
        try:
            echo(self.connection)
        except (OSError, ConnectionError):
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
        if self.path.startswith("/delay") or self.path.startswith("/hits"):
            # /delay?id=X&seconds=N answers after N seconds (nothing sent before);
            # /hits?id=X says how often /delay?id=X arrived.
            query = parse_qs(urlparse(self.path).query)
            key = query.get("id", [""])[0]
            if self.path.startswith("/delay"):
                HITS[key] = HITS.get(key, 0) + 1
                time.sleep(float(query.get("seconds", ["5"])[0]))
                body = b"delayed\n"
            else:
                body = json.dumps({"hits": HITS.get(key, 0)}).encode()
            try:
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        if self.path.startswith("/hold"):
            # A long poll: one chunk, then silence for `seconds`, then the end.
            query = parse_qs(urlparse(self.path).query)
            seconds = float(query.get("seconds", ["30"])[0])
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            try:
                self.wfile.write(b"5\r\nheld\n\r\n")
                self.wfile.flush()
                time.sleep(seconds)
                self.wfile.write(b"5\r\ndone\n\r\n0\r\n\r\n")
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
