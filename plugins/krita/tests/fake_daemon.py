"""A stand-in for the daemon's JSON bridge, for the client's unit tests only.

It speaks the same HTTP/NDJSON protocol with a trivial engine (a flat colour under the mask), so
the Qt client can be tested for streaming, errors and cancel without .NET. The headless Krita test
(run-headless.sh) uses the real daemon, never this.

Run alone: /usr/bin/python3 fake_daemon.py PORT
"""

import base64
import json
import os
import sys
import threading
import time
from array import array
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from inpaint_suite import core  # noqa: E402

FLAT = {"PIXEL_FORMAT_RGBA8": ("B", (200, 40, 40, 255)),
        "PIXEL_FORMAT_BGRA8": ("B", (40, 40, 200, 255)),
        "PIXEL_FORMAT_RGBA16": ("H", (51400, 10280, 10280, 65535)),
        "PIXEL_FORMAT_RGBA32F": ("f", (0.78, 0.16, 0.16, 1.0))}


def flat_patch(fmt, w, h, alpha):
    """w*h pixels of the flat colour with alpha from an 8-bit list."""
    code, colour = FLAT[fmt]
    top = {"B": 255, "H": 65535, "f": 1.0}[code]
    out = array(code, colour * (w * h))
    for i, a in enumerate(alpha):
        out[i * 4 + 3] = a * top // 255 if code != "f" else a / 255.0
    return out.tobytes()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v1/health":
            self._json(200, {"status": "SERVING"})
        elif self.path == "/v1/models":
            self._json(200, {"models": [{"name": "tiny-sd", "kind": "inpaint", "usable": True,
                                         "operations": ["inpaint", "outpaint", "img2img"]},
                                        {"name": "broken", "kind": "inpaint", "usable": False,
                                         "reason": "missing unet"}]})
        elif self.path == "/v1/capabilities":
            self._json(200, {"version": "fake", "engines": ["content-aware", "fill", "tiny-sd"]})
        else:
            self._json(404, {"code": 5, "status": "NOT_FOUND", "message": "no route " + self.path})

    def do_POST(self):
        if self.headers.get("Authorization", "Bearer secret") != "Bearer secret":
            self._json(401, {"code": 16, "status": "UNAUTHENTICATED", "message": "bad token"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/v1/cancel":
            self.server.cancelled.append(body.get("jobId"))
            self._json(200, {"cancelled": True, "previousState": "running"})
            return
        if self.path not in ("/v1/inpaint", "/v1/outpaint", "/v1/img2img", "/v1/depth"):
            self._json(404, {"code": 5, "status": "NOT_FOUND", "message": "no route"})
            return
        self.server.requests.append((self.path, body))
        img = body.get("image") or {}
        fmt, w, h = img.get("format"), int(img.get("width") or 0), int(img.get("height") or 0)
        if fmt not in FLAT or w <= 0 or h <= 0:
            self._json(400, {"code": 3, "status": "INVALID_ARGUMENT", "message": "bad image"})
            return
        settings = body.get("settings") or {}
        steps = int(settings.get("steps") or 3)
        seed = settings.get("seed", "1234")
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        job = "job-%d" % len(self.server.requests)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("x-job-id", job)
        self.end_headers()

        def send(obj):
            line = json.dumps(dict({"jobId": job}, **obj)).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()

        send({"queued": {}})
        send({"started": {"engine": settings.get("engine") or "fill"}})
        for i in range(1, steps + 1):
            if job in self.server.cancelled:
                self.wfile.write(b"0\r\n\r\n")
                return
            time.sleep(self.server.step_delay)
            send({"progress": {"step": i, "total": steps, "stage": "fill",
                               "preview": {"width": 1, "height": 1, "format": "PIXEL_FORMAT_RGBA8",
                                           "data": base64.b64encode(b"\x80\x80\x80\xff").decode()}}})
        result = {"engine": "fill", "canvasWidth": w, "canvasHeight": h}
        if self.path == "/v1/outpaint":
            cw, ch, ox, oy = core.outpaint_canvas(
                w, h, *(((body["aspect"]["width"], body["aspect"]["height"]) if "aspect" in body
                         else (0, 0))),
                **({k: int(body["extend"].get(k, 0)) for k in ("left", "top", "right", "bottom")}
                   if "extend" in body else {}))
            alpha = [0 if ox <= x < ox + w and oy <= y < oy + h else 255
                     for y in range(ch) for x in range(cw)]
            patch = {"x": 0, "y": 0, "seed": seed,
                     "image": core.image_message(fmt, cw, ch, flat_patch(fmt, cw, ch, alpha))}
            result.update(canvasWidth=cw, canvasHeight=ch, inputOffsetX=ox, inputOffsetY=oy)
        else:
            mask = base64.b64decode((body.get("mask") or {}).get("data") or "") or b"\xff" * (w * h)
            b = core.mask_bounds(mask, w, h) or core.Rect(0, 0, w, h)
            alpha = [mask[y * w + x] for y in range(b.y, b.bottom) for x in range(b.x, b.right)]
            patch = {"x": b.x, "y": b.y, "seed": seed,
                     "image": core.image_message(fmt, b.w, b.h, flat_patch(fmt, b.w, b.h, alpha))}
        result["patches"] = [patch]
        send({"result": result})
        self.wfile.write(b"0\r\n\r\n")


def start(port=0, step_delay=0.01, tls=None):
    """tls: (certfile, keyfile) to serve HTTPS, as the real bridge does with serve --tls-cert."""
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    server.requests, server.cancelled, server.step_delay = [], [], step_delay
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    tls = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else None
    srv = start(int(sys.argv[1]) if len(sys.argv) > 1 else 50152,
                step_delay=float(sys.argv[2]) if len(sys.argv) > 2 else 0.2, tls=tls)
    print("fake bridge on %s://127.0.0.1:%d" % ("https" if tls else "http", srv.server_address[1]), flush=True)
    threading.Event().wait()
