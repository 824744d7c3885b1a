"""Runs inside a real Krita (kritarunner, QT_QPA_PLATFORM=offscreen): opens a photo, selects a
region, runs the plugin's own inpaint/outpaint code path (inpaint_suite.kritaops.KritaJob, what the
docker buttons call) against a running daemon, and checks the new layer's pixels.

    kritarunner -s headless_krita -f main BRIDGE_URL PHOTO OUT_DIR ENGINE

Writes OUT_DIR/results.json ({"passed": [...], "failed": [...]}) and PNGs; kritarunner's own exit
code does not carry the result, so run-headless.sh reads that file.
"""

import json
import os
import sys
import time
import traceback
from array import array

from krita import Krita, InfoObject, Selection
from PyQt5.QtCore import QEventLoop, QTimer

from inpaint_suite import core, kritaops
from inpaint_suite.bridge import BridgeClient

SELECTION = core.Rect(140, 88, 72, 56)   # chelsea's left eye
FEATHER = 4
BAND = 12          # px around the selection where blending may reach (feather + engine margin)
# Outpaint blends the generated canvas into the old one only through the blend band, 2 x feather px outside
# the new area (docs/masks-and-blending.md): deeper inside, the new layer must be transparent.
OUTPAINT_BAND = 2 * FEATHER
TIMEOUT_S = 300


class Results(object):
    def __init__(self):
        self.passed, self.failed = [], []

    def check(self, name, ok, detail=""):
        (self.passed if ok else self.failed).append(name + ("" if ok else ": " + detail))
        print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else " -- " + detail), flush=True)
        return ok


def channels(data, depth):
    """pixelData -> flat array of B,G,R,A channel values plus the value of 'opaque'."""
    if depth == "U8":
        return array("B", data), 255
    a = array("H" if depth == "U16" else "f")
    a.frombytes(data)
    return a, 65535 if depth == "U16" else 1.0


def run_job(client, doc, operation, opts):
    box = {}
    loop = QEventLoop()
    progress = []

    def on_progress(fraction, text, preview):
        progress.append((fraction, text))

    def on_done(nodes, error):
        box.update(done=True, nodes=nodes, error=error)
        loop.quit()
    job = kritaops.KritaJob(client, doc, operation, opts, on_progress, on_done)
    job.start()
    if not box.get("done"):
        QTimer.singleShot(TIMEOUT_S * 1000, loop.quit)
        loop.exec_()   # kritarunner has no running event loop: spin a local one
    if not box.get("done"):
        job.cancel()
        return None, core.BridgeError("timed out after %d s" % TIMEOUT_S), progress, job
    return box["nodes"], box["error"], progress, job


def open_photo(photo, depth):
    doc = Krita.instance().openDocument(photo)
    doc.setBatchmode(True)
    doc.waitForDone()
    if doc.colorModel() != "RGBA" or doc.colorDepth() != depth:
        doc.setColorSpace("RGBA", depth, doc.colorProfile())
        doc.waitForDone()
    return doc


def export(doc, path):
    doc.refreshProjection()
    doc.waitForDone()
    info = InfoObject()
    info.setProperty("alpha", True)
    info.setProperty("forceSRGB", False)
    doc.exportImage(path, info)


def test_inpaint(res, client, photo, out, engine, depth, source="layer"):
    tag = "inpaint-%s%s" % (depth.lower(), "-merged" if source == "merged" else "")
    doc = open_photo(photo, depth)
    res.check(tag + " document depth", doc.colorDepth() == depth, doc.colorDepth())
    w, h = doc.width(), doc.height()
    src = kritaops.source_node(doc)
    before, top = channels(bytes(src.pixelData(0, 0, w, h)), depth)
    sel = Selection()
    sel.select(SELECTION.x, SELECTION.y, SELECTION.w, SELECTION.h, 255)
    doc.setSelection(sel)
    opts = kritaops.JobOptions(engine=engine, feather=FEATHER, seed=1234, source=source)
    t0 = time.time()
    nodes, error, progress, job = run_job(client, doc, "inpaint", opts)
    if not res.check(tag + " job finished", error is None and nodes, str(error)):
        doc.close()
        return
    res.check(tag + " progress events", any(t.startswith(("running", "queued")) for f, t in progress),
              repr(progress[:5]))
    layer = nodes[0]
    names = [n.name() for n in doc.topLevelNodes()]
    layers = [n.name() for n in doc.topLevelNodes() if n.type() == "paintlayer"]
    res.check(tag + " new layer right above the source",
              layers[layers.index(src.name()) + 1:][:1] == [layer.name()]
              and layer.name().startswith("Inpaint"), repr(names))
    res.check(tag + " layer depth", layer.colorDepth() == depth, layer.colorDepth())
    after, _ = channels(bytes(layer.pixelData(0, 0, w, h)), depth)
    outer = core.Rect(SELECTION.x - BAND, SELECTION.y - BAND, SELECTION.w + 2 * BAND, SELECTION.h + 2 * BAND)
    inner = core.Rect(SELECTION.x + BAND, SELECTION.y + BAND, SELECTION.w - 2 * BAND, SELECTION.h - 2 * BAND)
    leaks, inside, opaque_inside, differ = 0, 0, 0, 0
    threshold = 4.0 * top / 255   # 4/255 in any depth
    for y in range(h):
        for x in range(w):
            i = (y * w + x) * 4
            in_outer = outer.x <= x < outer.right and outer.y <= y < outer.bottom
            if not in_outer:
                if after[i + 3] != 0:
                    leaks += 1
            elif inner.x <= x < inner.right and inner.y <= y < inner.bottom:
                inside += 1
                if after[i + 3] > 0:
                    opaque_inside += 1
                    if max(abs(after[i + c] - before[i + c]) for c in range(3)) > threshold:
                        differ += 1
    res.check(tag + " transparent outside the selection's feather band", leaks == 0,
              "%d px outside have alpha" % leaks)
    res.check(tag + " covers the selection", opaque_inside == inside,
              "%d of %d px inside have alpha" % (opaque_inside, inside))
    res.check(tag + " differs from the original inside", differ >= inside // 5,
              "only %d of %d px inside differ" % (differ, inside))
    res.check(tag + " source layer untouched",
              channels(bytes(src.pixelData(0, 0, w, h)), depth)[0] == before, "source changed")
    print("%s: %.1f s, layer %r" % (tag, time.time() - t0, layer.name()), flush=True)
    export(doc, os.path.join(out, tag + ".png"))
    layer.save(os.path.join(out, tag + "-layer.png"), 72.0, 72.0, InfoObject())
    res.check(tag + " exported", os.path.getsize(os.path.join(out, tag + ".png")) > 1000, "no PNG")
    doc.close()


def test_outpaint(res, client, photo, out, engine, depth, aspect=(16, 9)):
    tag = "outpaint-%s" % depth.lower()
    doc = open_photo(photo, depth)
    w0, h0 = doc.width(), doc.height()
    src = kritaops.source_node(doc)
    before, top = channels(bytes(src.pixelData(0, 0, w0, h0)), depth)
    opts = kritaops.JobOptions(engine=engine, outpaint_aspect=aspect, seed=99, feather=FEATHER)
    nodes, error, progress, job = run_job(client, doc, "outpaint", opts)
    if not res.check(tag + " job finished", error is None and nodes, str(error)):
        doc.close()
        return
    w, h = doc.width(), doc.height()
    res.check(tag + " document grew to %d:%d" % aspect,
              (w > w0 or h > h0) and w >= w0 and h >= h0 and abs(w * aspect[1] - h * aspect[0]) <= max(aspect),
              "%dx%d -> %dx%d" % (w0, h0, w, h))
    res.check(tag + " document grew to the daemon's canvas",
              (w, h) == (job.stream.result["canvasWidth"], job.stream.result["canvasHeight"]),
              "%dx%d vs %r" % (w, h, job.stream.result.get("canvasWidth")))
    ox, oy = int(job.stream.result.get("inputOffsetX") or 0), int(job.stream.result.get("inputOffsetY") or 0)
    moved, _ = channels(bytes(src.pixelData(ox, oy, w0, h0)), depth)
    res.check(tag + " original layer moved with the canvas", moved == before,
              "source pixels at the input offset (%d,%d) differ from the original" % (ox, oy))
    layer = nodes[0]
    res.check(tag + " new layer named", layer.name().startswith("Outpaint"), layer.name())
    after, _ = channels(bytes(layer.pixelData(0, 0, w, h)), depth)
    new_area = covered = inner = inner_clear = 0
    for y in range(h):
        for x in range(w):
            a = after[(y * w + x) * 4 + 3]
            if not (ox <= x < ox + w0 and oy <= y < oy + h0):
                new_area += 1
                covered += a > 0
            elif (ox + OUTPAINT_BAND <= x < ox + w0 - OUTPAINT_BAND
                  and oy + OUTPAINT_BAND <= y < oy + h0 - OUTPAINT_BAND):
                inner += 1
                inner_clear += a == 0
    res.check(tag + " new area filled", new_area > 0 and covered == new_area,
              "%d of %d new px have alpha" % (covered, new_area))
    res.check(tag + " original area left transparent beyond the %d px blend band" % OUTPAINT_BAND,
              inner_clear == inner,
              "%d of %d px inside the old canvas have alpha" % (inner - inner_clear, inner))
    export(doc, os.path.join(out, tag + ".png"))
    res.check(tag + " exported", os.path.getsize(os.path.join(out, tag + ".png")) > 1000, "no PNG")
    doc.close()


def test_img2img_depth(res, client, photo, out, engine):
    """Img2Img and Depth: the request the buttons build (selection -> region + mask, none -> whole
    layer), then a run against the daemon, which either returns a layer or an error shown as text
    (the classical engines may not serve these operations)."""
    doc = open_photo(photo, "U8")
    w, h = doc.width(), doc.height()
    for op in ("img2img", "depth"):
        doc.setSelection(Selection())   # nothing selected
        p = kritaops.prepare(doc, op, kritaops.JobOptions(engine=engine, strength=0.6))
        res.check("%s without selection sends the whole layer" % op,
                  p.region == core.Rect(0, 0, w, h) and "mask" not in p.body
                  and p.body["settings"]["strength"] == 0.6, repr((p.region, sorted(p.body))))
        sel = Selection()
        sel.select(SELECTION.x, SELECTION.y, SELECTION.w, SELECTION.h, 255)
        doc.setSelection(sel)
        p = kritaops.prepare(doc, op, kritaops.JobOptions(engine=engine))
        res.check("%s with selection sends region + mask" % op,
                  p.region.contains(SELECTION) and p.region.w < w and p.body["mask"]["width"] == p.region.w,
                  repr(p.region))
        nodes, error, progress, job = run_job(client, doc, op, kritaops.JobOptions(engine=engine, seed=5))
        ok = (nodes and nodes[0].name().startswith(core.OPERATIONS[op][1])) or (nodes is None and str(error))
        res.check("%s against the daemon: a layer or a readable error" % op, bool(ok),
                  "nodes=%r error=%r" % (nodes, error))
        print("%s: %s" % (op, nodes[0].name() if nodes else "error: %s" % error), flush=True)
    doc.close()


def test_errors(res, client, photo):
    doc = open_photo(photo, "U8")
    doc.setSelection(Selection())     # empty selection
    try:
        kritaops.prepare(doc, "inpaint", kritaops.JobOptions(engine="fill"))
        res.check("inpaint without selection is refused", False, "no error raised")
    except core.BridgeError as e:
        res.check("inpaint without selection is refused", "selection" in str(e), str(e))
    sel = Selection()
    sel.select(10, 10, 20, 20, 255)
    doc.setSelection(sel)
    nodes, error, progress, job = run_job(client, doc, "inpaint",
                                          kritaops.JobOptions(engine="no-such-engine-xyz"))
    res.check("daemon error reported, no layer", nodes is None and error is not None and str(error),
              "nodes=%r error=%r" % (nodes, error))
    print("daemon error text: %s" % error, flush=True)
    doc.close()


def main(args):
    res = Results()
    out = "."
    try:
        url, photo, out, engine = args[0], args[1], args[2], args[3]
        depths = args[4].split(",") if len(args) > 4 else ["U8", "U16"]
        os.makedirs(out, exist_ok=True)
        # Work on a copy: Krita autosaves next to the file it opened.
        import shutil
        work = os.path.join(out, "work-" + os.path.basename(photo))
        shutil.copyfile(photo, work)
        photo = work
        # No dialogs (autosave recovery, profile warnings): offscreen they would wait forever.
        Krita.instance().setBatchmode(True)
        client = BridgeClient(url)
        for depth in depths:
            test_inpaint(res, client, photo, out, engine, depth)
            test_outpaint(res, client, photo, out, engine, depth)
        test_inpaint(res, client, photo, out, engine, "F32")
        test_inpaint(res, client, photo, out, engine, "U8", source="merged")
        test_img2img_depth(res, client, photo, out, engine)
        test_errors(res, client, photo)
    except Exception:
        traceback.print_exc()
        res.check("headless run completed", False, traceback.format_exc().splitlines()[-1])
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"passed": res.passed, "failed": res.failed}, f, indent=1)
    print("headless: %d passed, %d failed" % (len(res.passed), len(res.failed)), flush=True)
    return 0
