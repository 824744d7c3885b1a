"""The Qt client (bridge.py) against the stand-in bridge (fake_daemon.py): streaming, errors, cancel.

Needs PyQt5 for /usr/bin/python3 (Debian: python3-pyqt5); fails with that hint when missing."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

try:
    from PyQt5.QtCore import QCoreApplication, QEventLoop, QTimer
except ImportError:  # a failing test, not a skip: the suite must not pass without its tool
    QCoreApplication = None

from inpaint_suite import core  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BridgeClientTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if QCoreApplication is None:
            raise AssertionError("PyQt5 is missing for %s: apt-get install python3-pyqt5" % sys.executable)
        from inpaint_suite.bridge import BridgeClient
        cls.app = QCoreApplication.instance() or QCoreApplication([])
        # A separate process: Qt's event loop holds the GIL, so an in-process server thread starves.
        port = free_port()
        cls.server = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_daemon.py"),
             str(port), "0.02"], stdout=subprocess.PIPE)
        cls.server.stdout.readline()   # "fake bridge on ..." once listening
        cls.url = "http://127.0.0.1:%d" % port
        cls.client = BridgeClient(cls.url)

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()
        cls.server.wait()
        cls.server.stdout.close()

    def wait(self, box, timeout_ms=10000):
        loop = QEventLoop()
        box["loop"] = loop
        if not box.get("done"):
            QTimer.singleShot(timeout_ms, loop.quit)
            loop.exec_()
        self.assertTrue(box.get("done"), "timed out")

    def call(self, fn, *args):
        box = {}

        def done(obj, err):
            box.update(done=True, obj=obj, err=err)
            if "loop" in box:
                box["loop"].quit()
        fn(*args, done)
        self.wait(box)
        return box["obj"], box["err"]

    def test_health_models_capabilities(self):
        obj, err = self.call(self.client.health)
        self.assertIsNone(err)
        self.assertEqual(obj["status"], "SERVING")
        obj, err = self.call(self.client.models)
        self.assertEqual([m["name"] for m in obj["models"]], ["tiny-sd", "broken"])
        obj, err = self.call(self.client.capabilities)
        self.assertIn("content-aware", obj["engines"])

    def test_http_error_body_is_reported(self):
        obj, err = self.call(self.client.get_json, "/v1/nope")
        self.assertIsNone(obj)
        self.assertEqual(err.status, "NOT_FOUND")
        self.assertEqual(err.http_status, 404)

    def test_daemon_down_is_a_clear_error(self):
        from inpaint_suite.bridge import BridgeClient
        down = BridgeClient("http://127.0.0.1:%d" % free_port())
        obj, err = self.call(down.health)
        self.assertIn("not reachable", str(err))

    def run_job(self, operation, body, cancel_after=None):
        box, events = {}, []

        def on_event(ev):
            events.append(ev)
            if cancel_after is not None and ev.kind == "progress" and ev.data["step"] == cancel_after:
                box["job"].cancel()

        def on_finished(result, err):
            box.update(done=True, obj=result, err=err)
            if "loop" in box:
                box["loop"].quit()
        box["job"] = self.client.start_job(operation, body, on_event, on_finished)
        self.wait(box)
        return box["obj"], box["err"], events, box["job"]

    def inpaint_body(self, steps=4):
        w, h = 16, 8
        mask = bytearray(w * h)
        for y in range(2, 6):
            for x in range(4, 10):
                mask[y * w + x] = 255
        img = core.image_message("PIXEL_FORMAT_BGRA8", w, h, bytes(w * h * 4))
        return core.inpaint_request(img, core.mask_message(w, h, mask),
                                    core.generation_settings(engine="fill", steps=steps, seed=9))

    def test_inpaint_streams_events_in_order(self):
        result, err, events, job = self.run_job("inpaint", self.inpaint_body())
        self.assertIsNone(err)
        self.assertEqual([e.kind for e in events],
                         ["queued", "started"] + ["progress"] * 4 + ["result"])
        self.assertEqual(job.job_id, events[0].job_id)
        placed = core.place_patches(result, core.Rect(100, 50, 16, 8), "U8")
        self.assertEqual((placed[0].x, placed[0].y, placed[0].width, placed[0].height),
                         (104, 52, 6, 4))
        self.assertEqual(placed[0].seed, 9)

    def test_cancel_mid_stream(self):
        result, err, events, job = self.run_job("inpaint", self.inpaint_body(steps=50), cancel_after=2)
        self.assertEqual(err.status, "CANCELLED")
        self.assertIsNone(result)
        self.assertLess(len(events), 50)

    def test_invalid_request_error(self):
        body = self.inpaint_body()
        body["image"]["format"] = "PIXEL_FORMAT_UNSPECIFIED"
        result, err, events, job = self.run_job("inpaint", body)
        self.assertEqual(err.status, "INVALID_ARGUMENT")
        self.assertEqual(events, [])

    def test_job_id_from_header_and_token(self):
        from inpaint_suite.bridge import BridgeClient
        seen = []
        box = {}

        def on_event(ev):
            if not seen:
                seen.append(box["job"].job_id)

        def on_finished(result, err):
            box.update(done=True, err=err)
            if "loop" in box:
                box["loop"].quit()
        client = BridgeClient(self.url, token="secret")
        box["job"] = client.start_job("inpaint", self.inpaint_body(), on_event, on_finished)
        self.wait(box)
        self.assertIsNone(box["err"])
        self.assertTrue(seen[0].startswith("job-"))
        wrong = BridgeClient(self.url, token="wrong")
        box2 = {}

        def fin2(result, err):
            box2.update(done=True, err=err)
            if "loop" in box2:
                box2["loop"].quit()
        wrong.start_job("inpaint", self.inpaint_body(), lambda ev: None, fin2)
        self.wait(box2)
        self.assertEqual(box2["err"].status, "UNAUTHENTICATED")

    def test_outpaint_result_canvas(self):
        img = core.image_message("PIXEL_FORMAT_RGBA16", 12, 6, bytes(12 * 6 * 8))
        result, err, events, job = self.run_job(
            "outpaint", core.outpaint_request(img, aspect=(1, 1), settings={"engine": "fill"}))
        self.assertIsNone(err)
        self.assertEqual((result["canvasWidth"], result["canvasHeight"]), (12, 12))
        self.assertEqual((result["inputOffsetX"], result["inputOffsetY"]), (0, 3))


if __name__ == "__main__":
    unittest.main()


class BridgeTlsTests(unittest.TestCase):
    """The client against an HTTPS bridge (what `serve --tls-cert` gives): trusted with the daemon's certificate as
    its CA file it works; with the system store only it fails with a TLS message, not a hang."""

    @classmethod
    def setUpClass(cls):
        if QCoreApplication is None:
            raise AssertionError("PyQt5 is missing for %s: apt-get install python3-pyqt5" % sys.executable)
        if shutil.which("openssl") is None:
            raise AssertionError("openssl is missing: apt-get install openssl")
        cls.app = QCoreApplication.instance() or QCoreApplication([])
        cls.dir = tempfile.mkdtemp(prefix="inpaintsuite-krita-tls-")
        cls.cert, cls.key = os.path.join(cls.dir, "cert.pem"), os.path.join(cls.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", cls.key, "-out", cls.cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        port = free_port()
        cls.server = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_daemon.py"),
             str(port), "0.02", cls.cert, cls.key], stdout=subprocess.PIPE)
        line = cls.server.stdout.readline().decode()
        assert line.startswith("fake bridge on https://"), line
        cls.url = "https://127.0.0.1:%d" % port

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()
        cls.server.wait()
        cls.server.stdout.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def health(self, client):
        from PyQt5.QtCore import QEventLoop, QTimer
        box, loop = {}, QEventLoop()

        def done(obj, err):
            box.update(done=True, obj=obj, err=err)
            loop.quit()
        client.health(done)
        if not box.get("done"):
            QTimer.singleShot(10000, loop.quit)
            loop.exec_()
        self.assertTrue(box.get("done"), "timed out")
        return box["obj"], box["err"]

    def test_trusted_ca_file_works(self):
        from inpaint_suite.bridge import BridgeClient
        obj, err = self.health(BridgeClient(self.url, ca_file=self.cert))
        self.assertIsNone(err)
        self.assertEqual(obj["status"], "SERVING")

    def test_untrusted_certificate_is_a_tls_error(self):
        from inpaint_suite.bridge import BridgeClient
        obj, err = self.health(BridgeClient(self.url))
        self.assertIsNone(obj)
        self.assertIn("TLS", str(err))
        self.assertIn("INPAINTSUITE_TLS_CA", str(err))

    def test_unreadable_ca_file_is_said_at_once(self):
        from inpaint_suite.bridge import BridgeClient
        bad = os.path.join(self.dir, "not-a-cert.pem")
        with open(bad, "w") as f:
            f.write("hello")
        with self.assertRaises(core.BridgeError) as e:
            BridgeClient(self.url, ca_file=bad)
        self.assertIn("not-a-cert.pem", str(e.exception))
