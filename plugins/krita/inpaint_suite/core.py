"""Pure-Python core of the Krita plugin: regions, pixel formats, masks, requests, NDJSON, patches.

No krita and no Qt import here, so this module runs (and is unit-tested) under any Python 3.
Wire format = the daemon's JSON bridge: proto3 JSON of protos/inpaintsuite/v1/inpainter.proto
(lowerCamelCase keys, bytes as base64, enums by name, 64-bit integers as strings).
"""

import base64
import json
import os
import struct
import sys
from array import array
from collections import namedtuple

DEFAULT_BRIDGE_URL = "http://127.0.0.1:50152"


def config_dir(environ, home, windows):
    """The user's InpaintSuite config folder, as the daemon and CLI use it (token, appsettings.json)."""
    if windows:
        base = environ.get("APPDATA") or os.path.join(home, "AppData", "Roaming")
    else:
        base = environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return os.path.join(base, "inpaintsuite")


def default_token(environ, home, windows, setting=""):
    """The bearer token to send, like the CLI: INPAINTSUITE_TOKEN, else the plugin setting, else the user's token
    file (the one a daemon creates on this machine, or a copy of a studio daemon's), else "" (loopback needs none)."""
    token = environ.get("INPAINTSUITE_TOKEN", "").strip() or (setting or "").strip()
    if token:
        return token
    try:
        with open(os.path.join(config_dir(environ, home, windows), "token"), "r") as f:
            return f.read().strip()
    except OSError:
        return ""
CLIENT_NAME = "krita"

# ----------------------------------------------------------------------------------------------
# Regions


class Rect(namedtuple("Rect", "x y w h")):
    """Axis-aligned pixel rectangle in document coordinates (w, h exclusive extents)."""

    __slots__ = ()

    @property
    def right(self):
        return self.x + self.w

    @property
    def bottom(self):
        return self.y + self.h

    def is_empty(self):
        return self.w <= 0 or self.h <= 0

    def contains(self, other):
        return (self.x <= other.x and self.y <= other.y
                and other.right <= self.right and other.bottom <= self.bottom)

    def intersect(self, other):
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.right, other.right), min(self.bottom, other.bottom)
        return Rect(x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def default_padding(selection):
    """Context around the selection: half its longer side, at least 64 px.

    Enough surroundings for content-aware fill and for the model to see the scene, without
    sending a whole large canvas for a small hole (the daemon crops further as it needs)."""
    return max(64, max(selection.w, selection.h) // 2)


def _fit_axis(lo, hi, sel_lo, sel_hi, limit, multiple):
    """One axis of context_region: [lo, hi) clamped to [0, limit], sized to a multiple if possible."""
    lo, hi = max(0, lo), min(limit, hi)
    size = hi - lo
    target = -(-size // multiple) * multiple
    if target <= limit:
        extra = target - size
        grow_hi = min(extra, limit - hi)
        hi += grow_hi
        lo -= extra - grow_hi
        return lo, hi
    # The canvas itself is narrower than the next multiple: shrink to the previous multiple
    # when that still covers the selection; otherwise keep the clamped size (the daemon pads).
    target = (size // multiple) * multiple
    if target > 0 and target >= sel_hi - sel_lo:
        cut = size - target
        cut_hi = min(cut, hi - sel_hi)
        hi -= cut_hi
        lo += cut - cut_hi
    return lo, hi


def context_region(selection, canvas_w, canvas_h, padding=None, multiple=8):
    """The region sent to the daemon for a selection: its bounding box grown by `padding` on every
    side, clamped to the canvas, with width and height a multiple of `multiple` where the canvas
    allows. Always contains the selection's part that lies on the canvas."""
    canvas = Rect(0, 0, canvas_w, canvas_h)
    sel = Rect(*selection).intersect(canvas)
    if sel.is_empty():
        raise ValueError("the selection does not overlap the canvas")
    pad = default_padding(sel) if padding is None else max(0, int(padding))
    x0, x1 = _fit_axis(sel.x - pad, sel.right + pad, sel.x, sel.right, canvas_w, multiple)
    y0, y1 = _fit_axis(sel.y - pad, sel.bottom + pad, sel.y, sel.bottom, canvas_h, multiple)
    return Rect(x0, y0, x1 - x0, y1 - y0)


def outpaint_canvas(width, height, aspect_w=0, aspect_h=0, left=0, top=0, right=0, bottom=0):
    """Expected result canvas of an outpaint: (new_w, new_h, offset_x, offset_y).

    Mirrors the daemon (Pipelines OperationRunner.OutpaintCanvas): the short axis grows to the
    rounded aspect size (round half to even, as .NET's Math.Round), evenly, the odd pixel on the
    right/bottom. The plugin itself follows the canvas the daemon reports; this is for display
    and for the stand-in bridge."""
    if aspect_w and aspect_h:
        target = float(aspect_w) / aspect_h
        if float(width) / height < target:
            new_w = int(round(height * target))
            return max(new_w, width), height, max(0, (new_w - width) // 2), 0
        new_h = int(round(width / target))
        return width, max(new_h, height), 0, max(0, (new_h - height) // 2)
    return width + left + right, height + top + bottom, left, top


# ----------------------------------------------------------------------------------------------
# Pixel formats

# Krita's colour depth ids -> bytes per channel in pixelData (channels always B,G,R,A for RGBA).
KRITA_DEPTHS = {"U8": 1, "U16": 2, "F16": 2, "F32": 4}

WIRE_FORMATS = {
    "PIXEL_FORMAT_RGBA8": 4,
    "PIXEL_FORMAT_BGRA8": 4,
    "PIXEL_FORMAT_RGBA16": 8,
    "PIXEL_FORMAT_RGBA32F": 16,
}

_LITTLE = sys.byteorder == "little"


def _typed(data, code):
    """bytes -> array of `code` read as little-endian (the wire's and Krita's byte order on x86/ARM)."""
    a = array(code)
    a.frombytes(bytes(data))
    if not _LITTLE:
        a.byteswap()
    return a


def _to_le_bytes(a):
    if not _LITTLE:
        a = array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


def _swap_red_blue(a):
    """B,G,R,A <-> R,G,B,A in place on a flat sequence (array or bytearray), 4 elements per pixel."""
    first = a[0::4]
    a[0::4] = a[2::4]
    a[2::4] = first
    return a


def krita_bytes_per_pixel(depth):
    try:
        return 4 * KRITA_DEPTHS[depth]
    except KeyError:
        raise ValueError("unsupported colour depth %r (RGBA U8, U16, F16, F32 are supported)" % depth)


def krita_to_wire(data, depth, width, height):
    """Krita RGBA pixelData (B,G,R,A of `depth`) -> (wire format name, packed bytes).

    8-bit travels as BGRA8 unchanged (no copy work); 16-bit integer becomes RGBA16; half and
    single float become RGBA32F."""
    bpp = krita_bytes_per_pixel(depth)
    if len(data) != width * height * bpp:
        raise ValueError("pixel data has %d bytes, expected %d for %dx%d %s"
                         % (len(data), width * height * bpp, width, height, depth))
    if depth == "U8":
        return "PIXEL_FORMAT_BGRA8", bytes(data)
    if depth == "U16":
        return "PIXEL_FORMAT_RGBA16", _to_le_bytes(_swap_red_blue(_typed(data, "H")))
    if depth == "F16":
        n = len(data) // 2
        values = array("f", struct.unpack("<%de" % n, bytes(data)))
        return "PIXEL_FORMAT_RGBA32F", _to_le_bytes(_swap_red_blue(values))
    return "PIXEL_FORMAT_RGBA32F", _to_le_bytes(_swap_red_blue(_typed(data, "f")))


def _unstride(data, height, row_bytes, stride):
    if not stride or stride == row_bytes:
        return bytes(data[:row_bytes * height])
    return b"".join(bytes(data[r * stride:r * stride + row_bytes]) for r in range(height))


def wire_to_rgba_channels(fmt, width, height, data, stride=0):
    """Wire image -> (array of R,G,B,A channel values, kind) where kind is 'u8', 'u16' or 'f32'."""
    bpp = WIRE_FORMATS.get(fmt)
    if bpp is None:
        raise ValueError("unsupported pixel format %r" % (fmt,))
    packed = _unstride(data, height, width * bpp, stride)
    if len(packed) != width * height * bpp:
        raise ValueError("image data has %d bytes, expected %d for %dx%d %s"
                         % (len(packed), width * height * bpp, width, height, fmt))
    if fmt == "PIXEL_FORMAT_RGBA8":
        return bytearray(packed), "u8"
    if fmt == "PIXEL_FORMAT_BGRA8":
        return _swap_red_blue(bytearray(packed)), "u8"
    if fmt == "PIXEL_FORMAT_RGBA16":
        return _typed(packed, "H"), "u16"
    return _typed(packed, "f"), "f32"


def _convert_channels(values, kind, target):
    """Channel values of `kind` -> array/bytearray for Krita depth `target`."""
    if target == "U8":
        if kind == "u8":
            return bytearray(values)
        if kind == "u16":
            return bytearray((v + 128) // 257 for v in values)
        return bytearray(0 if v <= 0.0 else 255 if v >= 1.0 else int(v * 255.0 + 0.5)
                         for v in values)
    if target == "U16":
        if kind == "u16":
            return array("H", values)
        if kind == "u8":
            return array("H", (v * 257 for v in values))
        return array("H", (0 if v <= 0.0 else 65535 if v >= 1.0 else int(v * 65535.0 + 0.5)
                           for v in values))
    # float targets keep values as they are (no clamping: HDR stays HDR)
    if kind == "f32":
        return array("f", values)
    scale = 1.0 / (255.0 if kind == "u8" else 65535.0)
    return array("f", (v * scale for v in values))


def wire_to_krita(fmt, width, height, data, depth, stride=0):
    """Wire image -> Krita RGBA pixelData bytes (B,G,R,A) of colour depth `depth`."""
    krita_bytes_per_pixel(depth)
    values, kind = wire_to_rgba_channels(fmt, width, height, data, stride)
    out = _swap_red_blue(_convert_channels(values, kind, depth))
    if depth == "U8":
        return bytes(out)
    if depth == "F16":
        return struct.pack("<%de" % len(out), *out)
    return _to_le_bytes(out)


def wire_to_rgba8(fmt, width, height, data, stride=0):
    """Wire image -> packed R,G,B,A 8-bit bytes (for previews: QImage.Format_RGBA8888)."""
    values, kind = wire_to_rgba_channels(fmt, width, height, data, stride)
    out = _convert_channels(values, kind, "U8")
    return bytes(out)


# ----------------------------------------------------------------------------------------------
# Masks


def mask_from_selection(coverage, width, height):
    """Krita Selection.pixelData (8-bit coverage, 255 = selected) -> wire mask bytes (255 = repaint).

    Krita's selection coverage already is the wire convention, so this validates and copies."""
    data = bytes(coverage)
    if len(data) != width * height:
        raise ValueError("selection data has %d bytes, expected %d" % (len(data), width * height))
    if not any(data):
        raise ValueError("the selection is empty inside the region")
    return data


def mask_bounds(mask, width, height, threshold=1):
    """Bounding Rect of mask values >= threshold, or None."""
    rows = [y for y in range(height) if max(mask[y * width:(y + 1) * width]) >= threshold]
    if not rows:
        return None
    cols_hit = bytearray(width)
    for y in rows:
        row = mask[y * width:(y + 1) * width]
        for x in range(width):
            if row[x] >= threshold:
                cols_hit[x] = 1
    xs = [x for x in range(width) if cols_hit[x]]
    return Rect(xs[0], rows[0], xs[-1] - xs[0] + 1, rows[-1] - rows[0] + 1)


# ----------------------------------------------------------------------------------------------
# Requests (proto3 JSON mapping)

OPERATIONS = {
    # operation -> (bridge path, layer-name prefix)
    "inpaint": ("/v1/inpaint", "Inpaint"),
    "outpaint": ("/v1/outpaint", "Outpaint"),
    "img2img": ("/v1/img2img", "Img2Img"),
    "depth": ("/v1/depth", "Depth"),
}


def image_message(fmt, width, height, data):
    if fmt not in WIRE_FORMATS:
        raise ValueError("unsupported pixel format %r" % (fmt,))
    return {"width": int(width), "height": int(height), "format": fmt,
            "data": base64.b64encode(bytes(data)).decode("ascii")}


def mask_message(width, height, data):
    return {"width": int(width), "height": int(height),
            "data": base64.b64encode(bytes(data)).decode("ascii")}


# The daemon's scheduler names (Capabilities.schedulers); the docker offers these plus any newer ones a daemon reports.
SCHEDULERS = ("ddim", "euler", "euler_ancestral", "dpmpp_2m", "dpmpp_2m_karras", "lcm", "pndm", "unipc", "ddpm")


def generation_settings(engine="", prompt="", negative_prompt="", steps=0, seed=None,
                        strength=None, guidance_scale=None, scheduler="", batch_size=0):
    """GenerationSettings in proto3 JSON. Defaults are omitted (proto3 JSON omits default scalars);
    seed None = random (the field is `optional`), uint64 goes as a decimal string."""
    s = {}
    if engine:
        s["engine"] = engine
    if prompt:
        s["prompt"] = prompt
    if negative_prompt:
        s["negativePrompt"] = negative_prompt
    if steps:
        s["steps"] = int(steps)
    if guidance_scale is not None:
        s["guidanceScale"] = float(guidance_scale)
    if scheduler:
        s["scheduler"] = scheduler
    if seed is not None:
        seed = int(seed)
        if not 0 <= seed < 2 ** 64:
            raise ValueError("seed must be between 0 and 2^64-1")
        s["seed"] = str(seed)
    if strength is not None:
        strength = float(strength)
        if not 0.0 <= strength <= 1.0:
            raise ValueError("strength must be between 0 and 1")
        s["strength"] = strength
    if batch_size:
        s["batchSize"] = int(batch_size)
    return s


def mask_options(grow=None, feather=None, fill_mode=None, context_padding=None,
                 whole_image_context=False, color_match=False):
    m = {}
    if grow is not None:
        m["grow"] = int(grow)
    if feather is not None:
        m["feather"] = float(feather)
    if fill_mode:
        m["fillMode"] = fill_mode
    if context_padding is not None:
        m["contextPadding"] = int(context_padding)
    if whole_image_context:
        m["wholeImageContext"] = True
    if color_match:
        m["colorMatch"] = True
    return m


def _common(req, settings, options, priority, client):
    if settings:
        req["settings"] = settings
    if options:
        req["maskOptions"] = options
    if priority:
        req["priority"] = int(priority)
    req["client"] = client
    return req


def inpaint_request(image, mask, settings=None, options=None, priority=0, client=CLIENT_NAME):
    req = {"image": image}
    if mask is not None:
        req["mask"] = mask
    return _common(req, settings, options, priority, client)


def outpaint_request(image, extend=None, aspect=None, settings=None, options=None, priority=0,
                     client=CLIENT_NAME):
    """extend = (left, top, right, bottom) px, or aspect = (w, h); exactly one (a proto oneof)."""
    if (extend is None) == (aspect is None):
        raise ValueError("outpaint needs either px per side or an aspect ratio")
    req = {"image": image}
    if extend is not None:
        left, top, right, bottom = (int(v) for v in extend)
        if min(left, top, right, bottom) < 0 or left + top + right + bottom == 0:
            raise ValueError("outpaint needs a positive extension on at least one side")
        req["extend"] = {k: v for k, v in
                         (("left", left), ("top", top), ("right", right), ("bottom", bottom)) if v}
    else:
        aw, ah = (int(v) for v in aspect)
        if aw <= 0 or ah <= 0:
            raise ValueError("aspect ratio must be positive")
        req["aspect"] = {"width": aw, "height": ah}
    return _common(req, settings, options, priority, client)


def img2img_request(image, mask=None, settings=None, options=None, priority=0, client=CLIENT_NAME):
    req = {"image": image}
    if mask is not None:
        req["mask"] = mask
    return _common(req, settings, options, priority, client)


def depth_request(image, mask=None, depth_map=None, settings=None, options=None, priority=0,
                  client=CLIENT_NAME):
    req = {"image": image}
    if depth_map is not None:
        req["depthMap"] = depth_map
    if mask is not None:
        req["mask"] = mask
    return _common(req, settings, options, priority, client)


def encode_json(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


# ----------------------------------------------------------------------------------------------
# Responses


class BridgeError(Exception):
    """A failure to show the user: HTTP/daemon error, protocol problem, or bad input."""

    def __init__(self, message, status="", http_status=0):
        Exception.__init__(self, message)
        self.status = status
        self.http_status = http_status


class NdjsonDecoder(object):
    """Incremental NDJSON: feed() arbitrary byte chunks, get the complete JSON lines so far."""

    def __init__(self):
        self._buffer = bytearray()

    def feed(self, chunk):
        self._buffer.extend(chunk)
        out = []
        while True:
            nl = self._buffer.find(b"\n")
            if nl < 0:
                return out
            line = bytes(self._buffer[:nl])
            del self._buffer[:nl + 1]
            obj = self._parse(line)
            if obj is not None:
                out.append(obj)

    def finish(self):
        """End of stream: a last line without newline still counts."""
        line = bytes(self._buffer)
        self._buffer = bytearray()
        obj = self._parse(line)
        return [obj] if obj is not None else []

    @staticmethod
    def _parse(line):
        line = line.strip()
        if not line:
            return None
        try:
            obj = json.loads(line.decode("utf-8"))
        except ValueError as e:
            raise BridgeError("the daemon sent a malformed progress line (%s): %r"
                              % (e, line[:120]))
        if not isinstance(obj, dict):
            raise BridgeError("the daemon sent a progress line that is not an object: %r" % line[:120])
        return obj


def error_message(body, http_status=0, fallback=""):
    """Text for an error body {"code":3,"status":"INVALID_ARGUMENT","message":"..."} (or whatever
    came back). Returns a BridgeError."""
    status, message = "", ""
    obj = None
    if isinstance(body, dict):
        obj = body
    elif body:
        try:
            obj = json.loads(bytes(body).decode("utf-8", "replace"))
        except ValueError:
            message = bytes(body).decode("utf-8", "replace").strip()[:300]
    if isinstance(obj, dict):
        inner = obj.get("error") if isinstance(obj.get("error"), dict) else obj
        status = str(inner.get("status") or "")
        message = str(inner.get("message") or "")
    if not message:
        message = fallback or ("HTTP %d" % http_status if http_status else "unknown error")
    text = "%s: %s" % (status, message) if status else message
    return BridgeError(text, status=status, http_status=http_status)


class JobEvent(namedtuple("JobEvent", "job_id kind data")):
    """kind: 'queued' | 'started' | 'progress' | 'result' | 'error'; data: that member's dict."""
    __slots__ = ()


def parse_event(obj):
    job_id = str(obj.get("jobId", ""))
    for kind in ("queued", "started", "progress", "result"):
        if kind in obj:
            data = obj.get(kind)
            return JobEvent(job_id, kind, data if isinstance(data, dict) else {})
    if "error" in obj or "message" in obj:
        return JobEvent(job_id, "error", {"error": error_message(obj)})
    # proto3 JSON omits an empty message's fields but keeps its key, so an unknown line is
    # something newer than this plugin: ignore it rather than fail the job.
    return JobEvent(job_id, "unknown", obj)


def progress_fraction(progress):
    total = int(progress.get("total") or 0)
    step = int(progress.get("step") or 0)
    return 0.0 if total <= 0 else max(0.0, min(1.0, step / float(total)))


def decode_image(msg):
    """Wire Image dict -> (fmt, width, height, stride, data bytes)."""
    if not isinstance(msg, dict):
        raise BridgeError("the result has no image")
    fmt = msg.get("format") or "PIXEL_FORMAT_UNSPECIFIED"
    if isinstance(fmt, int):
        names = ["PIXEL_FORMAT_UNSPECIFIED", "PIXEL_FORMAT_RGBA8", "PIXEL_FORMAT_BGRA8",
                 "PIXEL_FORMAT_RGBA16", "PIXEL_FORMAT_RGBA32F"]
        fmt = names[fmt] if 0 <= fmt < len(names) else str(fmt)
    data = base64.b64decode(msg.get("data") or "")
    return fmt, int(msg.get("width") or 0), int(msg.get("height") or 0), int(msg.get("stride") or 0), data


class PlacedPatch(namedtuple("PlacedPatch", "x y width height pixels seed")):
    """A result patch ready for a Krita layer: document position, size, pixelData bytes, seed."""
    __slots__ = ()


def place_patches(result, region, depth, doc_shift=(0, 0)):
    """Result message -> list of PlacedPatch in document coordinates after the operation.

    region: the Rect of the document the request image was read from. The result canvas puts the
    input's top-left at (inputOffsetX, inputOffsetY); a patch at (x, y) on that canvas therefore
    lands at region + patch - inputOffset in the old document, plus doc_shift when the document
    itself was grown (outpaint grows it by exactly the input offset)."""
    off_x = int(result.get("inputOffsetX") or 0)
    off_y = int(result.get("inputOffsetY") or 0)
    out = []
    for p in result.get("patches") or []:
        fmt, w, h, stride, data = decode_image(p.get("image"))
        if w <= 0 or h <= 0:
            continue
        pixels = wire_to_krita(fmt, w, h, data, depth, stride)
        x = region.x + doc_shift[0] - off_x + int(p.get("x") or 0)
        y = region.y + doc_shift[1] - off_y + int(p.get("y") or 0)
        seed = p.get("seed")
        out.append(PlacedPatch(x, y, w, h, pixels, None if seed in (None, "") else int(seed)))
    return out


def layer_name(operation, seed, engine=""):
    prefix = OPERATIONS.get(operation, (None, operation.title()))[1]
    parts = [prefix]
    if engine:
        parts.append(engine)
    if seed is not None:
        parts.append("seed %d" % seed)
    return " ".join(parts[:1]) + (" (" + ", ".join(parts[1:]) + ")" if len(parts) > 1 else "")
