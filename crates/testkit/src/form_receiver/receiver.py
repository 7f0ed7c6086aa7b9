# A receiver for the hosted service's webhook formats, written against the documented shapes
# with Python's own parsers, not ours: JSON with `json`, form-encoded bodies with
# `urllib.parse.parse_qs` (strict), multipart/form-data with the `email` package. Each request is
# one JSON line in the log: its path, content type, ID header, what the parser read (`fields`,
# and `files` for multipart), or why it could not be read (`error`). Paths under /flaky answer
# 500 to the first attempt of each request ID; everything else is answered 200.
import email.parser, email.policy, json, sys, threading, urllib.parse
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

log_file = sys.argv[1]
lock = threading.Lock()
attempts = {}

def parse(content_type, body):
    if content_type.startswith("application/json"):
        return {"fields": json.loads(body.decode("utf-8"))}
    if content_type.startswith("application/x-www-form-urlencoded"):
        pairs = urllib.parse.parse_qs(body.decode("ascii"), keep_blank_values=True,
                                      strict_parsing=True, encoding="utf-8", errors="strict")
        return {"fields": {k: v[0] if len(v) == 1 else v for k, v in pairs.items()}}
    if content_type.startswith("multipart/form-data"):
        head = b"Content-Type: " + content_type.encode("ascii") + b"\r\n\r\n"
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        if not message.is_multipart() or message.defects:
            raise ValueError("not a well-formed multipart body: %r" % message.defects)
        fields, files, order = {}, {}, []
        for part in message.iter_parts():
            if part.defects:
                raise ValueError("a part has defects: %r" % part.defects)
            if part.get_content_disposition() != "form-data":
                raise ValueError("a part is not form-data")
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            order.append(name)
            filename = part.get_filename()
            if filename is None:
                fields[name] = payload.decode("utf-8")
            else:
                files[name] = {"filename": filename, "content_type": part.get_content_type(),
                               "hex": payload.hex()}
        return {"fields": fields, "files": files, "order": order}
    raise ValueError("unexpected content type %r" % content_type)

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        content_type = self.headers.get("Content-Type", "")
        request_id = self.headers.get("webhook-id") or self.headers.get("x-hikyaku-id")
        entry = {"path": self.path, "content_type": content_type, "id": request_id}
        try:
            entry.update(parse(content_type, body))
        except Exception as e:
            entry["error"] = repr(e)
        with lock:
            attempts[request_id] = attempts.get(request_id, 0) + 1
            entry["attempt"] = attempts[request_id]
            status = 500 if self.path.startswith("/flaky") and entry["attempt"] == 1 else 200
            entry["status"] = status
            with open(log_file, "a") as f:
                f.write(json.dumps(entry) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
