"""Unit tests of the plugin's pure-Python core (no Krita, no Qt)."""

import base64
import json
import os
import random
import struct
import sys
import unittest
from array import array

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from inpaint_suite import core  # noqa: E402
from inpaint_suite.core import Rect  # noqa: E402


class ContextRegionTests(unittest.TestCase):
    def check(self, sel, cw, ch, padding=None):
        r = core.context_region(sel, cw, ch, padding)
        on_canvas = Rect(*sel).intersect(Rect(0, 0, cw, ch))
        self.assertTrue(r.contains(on_canvas), (sel, r))
        self.assertGreaterEqual(r.x, 0)
        self.assertGreaterEqual(r.y, 0)
        self.assertLessEqual(r.right, cw)
        self.assertLessEqual(r.bottom, ch)
        return r

    def test_padding_and_multiple_of_8_in_the_middle(self):
        r = self.check(Rect(200, 150, 50, 30), 1000, 700, padding=20)
        self.assertEqual((r.w % 8, r.h % 8), (0, 0))
        self.assertLessEqual(r.x, 180)
        self.assertLessEqual(r.y, 130)
        self.assertEqual(r.w, 96)   # 90 -> 96
        self.assertEqual(r.h, 72)   # 70 -> 72

    def test_clamped_at_canvas_corner(self):
        r = self.check(Rect(0, 0, 10, 10), 300, 200, padding=64)
        self.assertEqual((r.x, r.y), (0, 0))
        self.assertEqual((r.w, r.h), (80, 80))

    def test_clamped_at_far_edge_grows_inwards(self):
        r = self.check(Rect(290, 190, 10, 10), 300, 200, padding=3)
        self.assertEqual((r.right, r.bottom), (300, 200))
        self.assertEqual((r.w % 8, r.h % 8), (0, 0))

    def test_canvas_not_multiple_of_8_shrinks_when_selection_allows(self):
        # canvas 100 wide: the whole-canvas region would be 100 -> 96 still covers the selection
        r = self.check(Rect(10, 10, 50, 50), 100, 100, padding=200)
        self.assertEqual((r.w, r.h), (96, 96))

    def test_selection_wider_than_any_multiple_keeps_canvas_size(self):
        r = self.check(Rect(0, 0, 99, 99), 99, 99, padding=0)
        self.assertEqual((r.w, r.h), (99, 99))

    def test_selection_partly_off_canvas(self):
        r = self.check(Rect(-20, -20, 60, 60), 500, 400, padding=8)
        self.assertEqual((r.x, r.y), (0, 0))

    def test_selection_off_canvas_raises(self):
        with self.assertRaises(ValueError):
            core.context_region(Rect(600, 0, 10, 10), 500, 400)

    def test_random_regions_always_valid(self):
        rng = random.Random(7)
        for _ in range(2000):
            cw, ch = rng.randint(1, 300), rng.randint(1, 300)
            x, y = rng.randint(0, cw - 1), rng.randint(0, ch - 1)
            sel = Rect(x, y, rng.randint(1, cw - x), rng.randint(1, ch - y))
            r = self.check(sel, cw, ch, padding=rng.choice([None, 0, 5, 64]))
            if r.w % 8:
                # only when no multiple of 8 fits the canvas while covering the selection
                self.assertTrue(-(-r.w // 8) * 8 > cw and (r.w // 8) * 8 < sel.w, (sel, cw, r))

    def test_default_padding(self):
        self.assertEqual(core.default_padding(Rect(0, 0, 10, 10)), 64)
        self.assertEqual(core.default_padding(Rect(0, 0, 400, 100)), 200)


class OutpaintCanvasTests(unittest.TestCase):
    def test_aspect_grows_short_axis_evenly(self):
        self.assertEqual(core.outpaint_canvas(400, 300, 16, 9), (533, 300, 66, 0))
        self.assertEqual(core.outpaint_canvas(451, 300, 16, 9), (533, 300, 41, 0))   # chelsea.png
        self.assertEqual(core.outpaint_canvas(300, 300, 3, 2), (450, 300, 75, 0))
        self.assertEqual(core.outpaint_canvas(100, 100, 1, 1), (100, 100, 0, 0))
        self.assertEqual(core.outpaint_canvas(400, 300, 1, 1), (400, 400, 0, 50))

    def test_px_per_side(self):
        self.assertEqual(core.outpaint_canvas(10, 20, left=1, top=2, right=3, bottom=4),
                         (14, 26, 1, 2))


def bgra8(pixels):
    return bytes(c for p in pixels for c in p)


class FormatTests(unittest.TestCase):
    W, H = 3, 2   # non-square

    def pixels16(self):
        return [(100 * i + 1, 200 * i + 2, 300 * i + 3, 65535 - i) for i in range(self.W * self.H)]

    def test_u8_goes_as_bgra8_unchanged(self):
        data = bytes(range(self.W * self.H * 4))
        fmt, out = core.krita_to_wire(data, "U8", self.W, self.H)
        self.assertEqual(fmt, "PIXEL_FORMAT_BGRA8")
        self.assertEqual(out, data)

    def test_u16_bgra_becomes_rgba16_little_endian(self):
        px = self.pixels16()   # as B,G,R,A
        data = struct.pack("<%dH" % (len(px) * 4), *[c for p in px for c in p])
        fmt, out = core.krita_to_wire(data, "U16", self.W, self.H)
        self.assertEqual(fmt, "PIXEL_FORMAT_RGBA16")
        vals = struct.unpack("<%dH" % (len(px) * 4), out)
        self.assertEqual(vals[0:4], (px[0][2], px[0][1], px[0][0], px[0][3]))
        self.assertEqual(vals[-4:], (px[-1][2], px[-1][1], px[-1][0], px[-1][3]))

    def test_f32_and_f16_become_rgba32f(self):
        vals = [0.1 * i for i in range(self.W * self.H * 4)]
        for depth, code in (("F32", "f"), ("F16", "e")):
            data = struct.pack("<%d%s" % (len(vals), code), *vals)
            fmt, out = core.krita_to_wire(data, depth, self.W, self.H)
            self.assertEqual(fmt, "PIXEL_FORMAT_RGBA32F")
            got = struct.unpack("<%df" % len(vals), out)
            self.assertAlmostEqual(got[0], vals[2], places=2)
            self.assertAlmostEqual(got[2], vals[0], places=2)
            self.assertAlmostEqual(got[5], vals[5], places=2)

    def test_wrong_size_raises(self):
        with self.assertRaises(ValueError):
            core.krita_to_wire(b"\0" * 10, "U8", self.W, self.H)
        with self.assertRaises(ValueError):
            core.krita_to_wire(b"", "U32", 0, 0)

    def test_round_trip_every_depth(self):
        rng = random.Random(3)
        for depth, code, n in (("U8", "B", 255), ("U16", "H", 65535)):
            vals = [rng.randint(0, n) for _ in range(self.W * self.H * 4)]
            data = struct.pack("<%d%s" % (len(vals), code), *vals)
            fmt, wire = core.krita_to_wire(data, depth, self.W, self.H)
            back = core.wire_to_krita(fmt, self.W, self.H, wire, depth)
            self.assertEqual(back, data, depth)
        vals = [rng.random() for _ in range(self.W * self.H * 4)]
        data = struct.pack("<%df" % len(vals), *vals)
        fmt, wire = core.krita_to_wire(data, "F32", self.W, self.H)
        self.assertEqual(core.wire_to_krita(fmt, self.W, self.H, wire, "F32"), data)

    def test_rgba8_into_u16_layer_scales_by_257(self):
        wire = bytes([10, 20, 30, 255] * (self.W * self.H))
        out = core.wire_to_krita("PIXEL_FORMAT_RGBA8", self.W, self.H, wire, "U16")
        vals = struct.unpack("<%dH" % (self.W * self.H * 4), out)
        self.assertEqual(vals[0:4], (30 * 257, 20 * 257, 10 * 257, 65535))

    def test_rgba16_into_u8_layer_rounds(self):
        vals = [257 * 7 + 100, 257 * 200, 128, 65535] * (self.W * self.H)
        wire = struct.pack("<%dH" % len(vals), *vals)
        out = core.wire_to_krita("PIXEL_FORMAT_RGBA16", self.W, self.H, wire, "U8")
        self.assertEqual(out[0:4], bytes([0, 200, 7, 255]))   # B,G,R,A

    def test_float_into_u8_clamps(self):
        vals = [-0.5, 0.5, 2.0, 1.0] * (self.W * self.H)
        wire = struct.pack("<%df" % len(vals), *vals)
        out = core.wire_to_krita("PIXEL_FORMAT_RGBA32F", self.W, self.H, wire, "U8")
        self.assertEqual(out[0:4], bytes([255, 128, 0, 255]))

    def test_stride_is_honoured(self):
        w, h, stride = 2, 3, 12
        rows = [bytes([r, 0, 0, 255, r, 1, 1, 255]) + b"\xee" * 4 for r in range(h)]
        out = core.wire_to_krita("PIXEL_FORMAT_RGBA8", w, h, b"".join(rows), "U8", stride)
        self.assertEqual(len(out), w * h * 4)
        self.assertEqual(out[8:12], bytes([0, 0, 1, 255]))    # row 1, pixel 0 as B,G,R,A

    def test_wire_to_rgba8_from_bgra8(self):
        out = core.wire_to_rgba8("PIXEL_FORMAT_BGRA8", 1, 1, bytes([1, 2, 3, 4]))
        self.assertEqual(out, bytes([3, 2, 1, 4]))


class MaskTests(unittest.TestCase):
    def test_coverage_is_mask(self):
        cov = bytes([0, 128, 255, 0, 0, 0])
        self.assertEqual(core.mask_from_selection(cov, 3, 2), cov)

    def test_empty_and_wrong_size_raise(self):
        with self.assertRaises(ValueError):
            core.mask_from_selection(bytes(6), 3, 2)
        with self.assertRaises(ValueError):
            core.mask_from_selection(bytes(5), 3, 2)

    def test_bounds(self):
        w, h = 5, 4
        m = bytearray(w * h)
        m[1 * w + 2] = 255
        m[3 * w + 4] = 10
        self.assertEqual(core.mask_bounds(m, w, h), Rect(2, 1, 3, 3))
        self.assertIsNone(core.mask_bounds(bytearray(w * h), w, h))


class RequestTests(unittest.TestCase):
    def test_inpaint_request_is_proto3_json(self):
        img = core.image_message("PIXEL_FORMAT_BGRA8", 2, 1, b"\x01\x02\x03\x04\x05\x06\x07\x08")
        mask = core.mask_message(2, 1, b"\x00\xff")
        settings = core.generation_settings(engine="content-aware", prompt="a cat",
                                            negative_prompt="dog", steps=20, seed=2 ** 63 + 5,
                                            strength=0.5)
        req = core.inpaint_request(img, mask, settings, core.mask_options(feather=4, grow=2))
        obj = json.loads(core.encode_json(req).decode())
        self.assertEqual(obj["image"]["format"], "PIXEL_FORMAT_BGRA8")
        self.assertEqual(base64.b64decode(obj["image"]["data"]), b"\x01\x02\x03\x04\x05\x06\x07\x08")
        self.assertEqual(base64.b64decode(obj["mask"]["data"]), b"\x00\xff")
        self.assertEqual(obj["settings"]["negativePrompt"], "dog")
        self.assertEqual(obj["settings"]["seed"], str(2 ** 63 + 5))   # uint64 -> string
        self.assertEqual(obj["maskOptions"], {"grow": 2, "feather": 4.0})
        self.assertEqual(obj["client"], "krita")
        self.assertNotIn("priority", obj)

    def test_random_seed_and_defaults_are_omitted(self):
        s = core.generation_settings(engine="fill")
        self.assertEqual(s, {"engine": "fill"})

    def test_scheduler_list_and_setting(self):
        self.assertIn("ddpm", core.SCHEDULERS)
        self.assertEqual(len(set(core.SCHEDULERS)), 9)
        self.assertEqual(core.generation_settings(scheduler="ddpm"), {"scheduler": "ddpm"})

    def test_settings_validation(self):
        with self.assertRaises(ValueError):
            core.generation_settings(strength=1.5)
        with self.assertRaises(ValueError):
            core.generation_settings(seed=-1)

    def test_outpaint_oneof(self):
        img = core.image_message("PIXEL_FORMAT_RGBA8", 1, 1, b"\0\0\0\0")
        r = core.outpaint_request(img, aspect=(16, 9))
        self.assertEqual(r["aspect"], {"width": 16, "height": 9})
        self.assertNotIn("extend", r)
        r = core.outpaint_request(img, extend=(0, 8, 16, 0))
        self.assertEqual(r["extend"], {"top": 8, "right": 16})
        for bad in ({}, {"extend": (0, 0, 0, 0)}, {"aspect": (0, 1)},
                    {"extend": (1, 1, 1, 1), "aspect": (1, 1)}):
            with self.assertRaises(ValueError):
                core.outpaint_request(img, **bad)

    def test_img2img_and_depth(self):
        img = core.image_message("PIXEL_FORMAT_RGBA8", 1, 1, b"\0\0\0\0")
        self.assertNotIn("mask", core.img2img_request(img))
        d = core.depth_request(img, mask=core.mask_message(1, 1, b"\xff"))
        self.assertIn("mask", d)
        self.assertNotIn("depthMap", d)

    def test_bad_format_raises(self):
        with self.assertRaises(ValueError):
            core.image_message("PIXEL_FORMAT_XYZ", 1, 1, b"")


class NdjsonTests(unittest.TestCase):
    def test_partial_lines_across_chunks(self):
        text = (b'{"jobId":"j1","queued":{"position":0}}\n'
                b'{"jobId":"j1","progress":{"step":1,"total":4}}\n'
                b'\n'
                b'{"jobId":"j1","result":{"patches":[]}}')
        for cut in range(1, len(text)):
            d = core.NdjsonDecoder()
            got = d.feed(text[:cut]) + d.feed(text[cut:]) + d.finish()
            self.assertEqual([list(o.keys())[1] for o in got], ["queued", "progress", "result"], cut)

    def test_byte_by_byte_with_utf8(self):
        text = '{"jobId":"j","started":{"engine":"caf\u00e9"}}\r\n'.encode("utf-8")
        d = core.NdjsonDecoder()
        got = []
        for i in range(len(text)):
            got += d.feed(text[i:i + 1])
        self.assertEqual(got[0]["started"]["engine"], "caf\u00e9")
        self.assertEqual(d.finish(), [])

    def test_malformed_line_raises(self):
        d = core.NdjsonDecoder()
        with self.assertRaises(core.BridgeError):
            d.feed(b'{"jobId": nope}\n')
        with self.assertRaises(core.BridgeError):
            core.NdjsonDecoder().feed(b'[1,2]\n')

    def test_parse_event_kinds(self):
        self.assertEqual(core.parse_event({"jobId": "a", "queued": {}}).kind, "queued")
        ev = core.parse_event({"jobId": "a", "progress": {"step": 3, "total": 4}})
        self.assertEqual((ev.kind, ev.job_id), ("progress", "a"))
        self.assertAlmostEqual(core.progress_fraction(ev.data), 0.75)
        self.assertEqual(core.progress_fraction({}), 0.0)
        err = core.parse_event({"jobId": "a", "error": {"status": "CANCELLED", "message": "gone"}})
        self.assertEqual(err.kind, "error")
        self.assertEqual(str(err.data["error"]), "CANCELLED: gone")
        self.assertEqual(core.parse_event({"jobId": "a", "later": {}}).kind, "unknown")

    def test_error_body(self):
        e = core.error_message(b'{"code":3,"status":"INVALID_ARGUMENT","message":"mask size"}', 400)
        self.assertEqual(str(e), "INVALID_ARGUMENT: mask size")
        self.assertEqual(e.http_status, 400)
        self.assertEqual(str(core.error_message(b"<html>bad gateway", 502)), "<html>bad gateway")
        self.assertEqual(str(core.error_message(b"", 503)), "HTTP 503")


class PatchTests(unittest.TestCase):
    def result(self, fmt, w, h, data, x=0, y=0, seed="42", **extra):
        r = {"patches": [{"x": x, "y": y, "seed": seed,
                          "image": {"width": w, "height": h, "format": fmt,
                                    "data": base64.b64encode(data).decode()}}]}
        r.update(extra)
        return r

    def test_inpaint_patch_lands_at_region_plus_patch(self):
        w, h = 3, 2
        data = bytes([1, 2, 3, 128] * (w * h))      # R,G,B, alpha = blend weight
        placed = core.place_patches(self.result("PIXEL_FORMAT_RGBA8", w, h, data, x=5, y=7),
                                    Rect(100, 200, 64, 48), "U8")
        self.assertEqual(len(placed), 1)
        p = placed[0]
        self.assertEqual((p.x, p.y, p.width, p.height, p.seed), (105, 207, 3, 2, 42))
        self.assertEqual(p.pixels[:4], bytes([3, 2, 1, 128]))   # B,G,R kept alpha

    def test_outpaint_patch_after_document_grew(self):
        data = bytes(4 * 2 * 2)
        r = self.result("PIXEL_FORMAT_BGRA8", 2, 2, data, x=0, y=0, seed="18446744073709551615",
                        inputOffsetX=30, inputOffsetY=10, canvasWidth=100, canvasHeight=80)
        # whole image sent (region at 0,0), document grown by the input offset
        p = core.place_patches(r, Rect(0, 0, 40, 60), "U8", doc_shift=(30, 10))[0]
        self.assertEqual((p.x, p.y), (0, 0))
        self.assertEqual(p.seed, 2 ** 64 - 1)
        # same result placed without growing the document: canvas origin is off the document
        p = core.place_patches(r, Rect(0, 0, 40, 60), "U8")[0]
        self.assertEqual((p.x, p.y), (-30, -10))

    def test_patch_16bit_and_missing_seed(self):
        vals = [1000, 2000, 3000, 40000] * 2
        data = struct.pack("<8H", *vals)
        r = self.result("PIXEL_FORMAT_RGBA16", 2, 1, data, seed=None)
        p = core.place_patches(r, Rect(0, 0, 8, 8), "U16")[0]
        self.assertIsNone(p.seed)
        self.assertEqual(struct.unpack("<8H", p.pixels)[:4], (3000, 2000, 1000, 40000))

    def test_enum_as_number_is_accepted(self):
        r = self.result("PIXEL_FORMAT_RGBA8", 1, 1, b"\1\2\3\4")
        r["patches"][0]["image"]["format"] = 1
        self.assertEqual(core.place_patches(r, Rect(0, 0, 8, 8), "U8")[0].pixels, b"\3\2\1\4")

    def test_layer_name(self):
        self.assertEqual(core.layer_name("inpaint", 42), "Inpaint (seed 42)")
        self.assertEqual(core.layer_name("outpaint", None, "content-aware"), "Outpaint (content-aware)")
        self.assertEqual(core.layer_name("depth", 7, "sd2-depth"), "Depth (sd2-depth, seed 7)")

    def test_core_imports_neither_krita_nor_qt(self):
        with open(core.__file__) as f:
            src = f.read()
        self.assertNotIn("import krita", src)
        self.assertNotIn("PyQt5", src)


if __name__ == "__main__":
    unittest.main()


class DefaultTokenTests(unittest.TestCase):
    """The token the plugin sends, resolved like the CLI's: env, then the plugin setting, then the token file."""

    def test_order_and_token_file(self):
        import tempfile
        home = tempfile.mkdtemp(prefix="inpaintsuite-krita-token-")
        try:
            env = {"XDG_CONFIG_HOME": os.path.join(home, "cfg")}
            self.assertEqual(core.default_token(env, home, False), "")
            os.makedirs(os.path.join(home, "cfg", "inpaintsuite"))
            with open(os.path.join(home, "cfg", "inpaintsuite", "token"), "w") as f:
                f.write("from-file\n")
            self.assertEqual(core.default_token(env, home, False), "from-file")
            self.assertEqual(core.default_token(env, home, False, setting="from-setting"), "from-setting")
            env["INPAINTSUITE_TOKEN"] = "from-env"
            self.assertEqual(core.default_token(env, home, False, setting="from-setting"), "from-env")
            # Without XDG_CONFIG_HOME: ~/.config; on Windows %APPDATA%.
            self.assertEqual(core.config_dir({}, home, False), os.path.join(home, ".config", "inpaintsuite"))
            self.assertEqual(core.config_dir({"APPDATA": "C:/Users/u/AppData/Roaming"}, home, True),
                             os.path.join("C:/Users/u/AppData/Roaming", "inpaintsuite"))
        finally:
            import shutil
            shutil.rmtree(home, ignore_errors=True)
