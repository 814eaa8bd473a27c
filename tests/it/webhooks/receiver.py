"""A webhook receiver for the integration tests: HTTPS on 127.0.0.1 with the test's
certificate, checks X-Tundra-Signature with Python's own hmac module (an implementation
independent of the appliance's), appends what it got to a JSON-lines log, and answers the
statuses of its plan in turn (the last one from then on).

usage: receiver.py CERT KEY SECRET_FILE LOG_FILE PORT_FILE PLAN   (PLAN e.g. 500,500,200)
"""

import hashlib
import hmac
import http.server
import json
import os
import ssl
import sys

cert, key, secret_file, log_file, port_file, plan = sys.argv[1:7]
statuses = [int(s) for s in plan.split(",")]
seen = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(secret_file) as f:
            secret = bytes.fromhex(f.read().strip())
        parts = dict(
            p.split("=", 1) for p in self.headers.get("X-Tundra-Signature", "").split(",") if "=" in p
        )
        signed = parts.get("t", "").encode() + b"." + body
        expected = hmac.new(secret, signed, hashlib.sha256).hexdigest()
        status = statuses[min(seen, len(statuses) - 1)]
        seen += 1
        entry = {
            "n": seen,
            "valid": hmac.compare_digest(expected, parts.get("v1", "")),
            "t": parts.get("t"),
            "event": self.headers.get("X-Tundra-Event"),
            "delivery": self.headers.get("X-Tundra-Delivery"),
            "content_type": self.headers.get("Content-Type"),
            "path": self.path,
            "body": json.loads(body),
            "answered": status,
        }
        with open(log_file, "a") as f:
            f.write(json.dumps(entry) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
