"""The plugin's operations on a Krita document: read pixels and selection, run a job on the
daemon, put the result on a new layer. Shared by the docker and the headless test, so the test
drives the same code path the button does.

Works on the libkis objects it is given (Document, Node, Selection) and never calls
Krita.instance().dockers() or relies on an active view: under kritarunner there is no window,
doc.activeNode() is None and there is no running event loop (callers wait with a local QEventLoop).
"""

from collections import namedtuple

from . import core

Prepared = namedtuple("Prepared", "operation region depth body source_node selection_box")


class JobOptions(object):
    """What the docker's controls say. Plain attributes, all optional."""

    def __init__(self, **kw):
        self.engine = ""
        self.prompt = ""
        self.negative_prompt = ""
        self.steps = 0
        self.scheduler = ""         # "" = the model's default
        self.seed = None            # None = random
        self.strength = None        # None = operation default
        self.source = "layer"       # "layer" (active layer) or "merged" (the visible image)
        self.feather = None         # px; None = daemon default (4)
        self.grow = None
        self.padding = None         # context padding around the selection; None = automatic
        self.outpaint_aspect = None   # (w, h)
        self.outpaint_extend = None   # (left, top, right, bottom)
        self.__dict__.update(kw)

    def settings(self):
        return core.generation_settings(engine=self.engine, prompt=self.prompt,
                                        negative_prompt=self.negative_prompt, steps=self.steps,
                                        seed=self.seed, strength=self.strength, scheduler=self.scheduler)

    def mask_options(self):
        return core.mask_options(grow=self.grow, feather=self.feather)


def source_node(doc):
    """The layer an operation reads: the active layer, else (kritarunner, no view) the topmost
    visible paint layer."""
    node = doc.activeNode()
    if node is not None and node.type() == "paintlayer":
        return node
    layers = [n for n in doc.topLevelNodes() if n.type() == "paintlayer" and n.visible()]
    if node is None and layers:
        return layers[-1]
    return node


def _read(doc, node, rect, merged):
    if merged:
        return bytes(doc.pixelData(rect.x, rect.y, rect.w, rect.h))
    if node.type() == "paintlayer":
        return bytes(node.pixelData(rect.x, rect.y, rect.w, rect.h))
    return bytes(node.projectionPixelData(rect.x, rect.y, rect.w, rect.h))


def selection_box(doc):
    sel = doc.selection()
    if sel is None or sel.width() <= 0 or sel.height() <= 0:
        return None, None
    return sel, core.Rect(sel.x(), sel.y(), sel.width(), sel.height())


def prepare(doc, operation, opts):
    """Reads what the operation needs from the document and builds the request body.
    Raises core.BridgeError with a message for the user when the document does not fit."""
    if doc is None:
        raise core.BridgeError("open a document first")
    if operation not in core.OPERATIONS:
        raise core.BridgeError("unknown operation %r" % operation)
    if doc.colorModel() != "RGBA":
        raise core.BridgeError("only RGB/Alpha documents are supported (this one is %s); use "
                               "Image > Convert Image Color Space" % doc.colorModel())
    depth = doc.colorDepth()
    if depth not in core.KRITA_DEPTHS:
        raise core.BridgeError("unsupported colour depth %s" % depth)
    merged = opts.source == "merged"
    node = None
    if merged:
        doc.refreshProjection()
        doc.waitForDone()
    else:
        node = source_node(doc)
        if node is None:
            raise core.BridgeError("select a paint layer to work on (or use the merged image)")

    width, height = doc.width(), doc.height()
    sel, box = selection_box(doc)
    if operation == "inpaint" and box is None:
        raise core.BridgeError("make a selection around the area to inpaint first")
    settings, mask_opts = opts.settings(), opts.mask_options()
    mask = None
    if operation == "outpaint" or box is None:
        region = core.Rect(0, 0, width, height)
    else:
        try:
            region = core.context_region(box, width, height, opts.padding)
        except ValueError as e:
            raise core.BridgeError(str(e))
        try:
            mask_bytes = core.mask_from_selection(
                sel.pixelData(region.x, region.y, region.w, region.h), region.w, region.h)
        except ValueError as e:
            raise core.BridgeError(str(e))
        mask = core.mask_message(region.w, region.h, mask_bytes)

    fmt, data = core.krita_to_wire(_read(doc, node, region, merged), depth, region.w, region.h)
    image = core.image_message(fmt, region.w, region.h, data)
    try:
        if operation == "inpaint":
            body = core.inpaint_request(image, mask, settings, mask_opts)
        elif operation == "outpaint":
            body = core.outpaint_request(image, extend=opts.outpaint_extend,
                                         aspect=None if opts.outpaint_extend else opts.outpaint_aspect,
                                         settings=settings, options=mask_opts)
        elif operation == "img2img":
            body = core.img2img_request(image, mask, settings, mask_opts)
        else:
            body = core.depth_request(image, mask, settings=settings, options=mask_opts)
    except ValueError as e:
        raise core.BridgeError(str(e))
    return Prepared(operation, region, depth, body, node, box)


def apply_result(doc, prepared, result):
    """Result -> new paint layer(s) above the source layer. Outpaint first grows the document to
    the result canvas (existing layers move with the old canvas). Returns the new nodes.

    Undo: the patch is written into the new layer before it joins the layer stack, so adding
    the layer is the only change to undo for inpaint/img2img/depth (one step). Outpaint is two
    steps in Krita 5.1's scripting API: the canvas resize and the layer."""
    shift = (0, 0)
    if prepared.operation == "outpaint":
        cw = int(result.get("canvasWidth") or 0)
        ch = int(result.get("canvasHeight") or 0)
        ox = int(result.get("inputOffsetX") or 0)
        oy = int(result.get("inputOffsetY") or 0)
        if cw <= 0 or ch <= 0:
            raise core.BridgeError("the daemon's outpaint result has no canvas size")
        if (cw, ch) != (doc.width(), doc.height()) or ox or oy:
            doc.resizeImage(-ox, -oy, cw, ch)
            doc.waitForDone()
        shift = (ox, oy)
    placed = core.place_patches(result, prepared.region, prepared.depth, shift)
    if not placed:
        raise core.BridgeError("the daemon returned no patch")
    engine = str(result.get("engine") or "")
    above = prepared.source_node
    if above is None or above.parentNode() is None:
        tops = doc.topLevelNodes()
        above = tops[-1] if tops else None
    parent = above.parentNode() if above is not None else doc.rootNode()
    if parent is None:
        parent = doc.rootNode()
    nodes = []
    for patch in placed:
        node = doc.createNode(core.layer_name(prepared.operation, patch.seed, engine), "paintlayer")
        node.setPixelData(patch.pixels, patch.x, patch.y, patch.width, patch.height)
        parent.addChildNode(node, above)
        above = node
        nodes.append(node)
    doc.refreshProjection()
    return nodes


class KritaJob(object):
    """One operation from button press to new layer, asynchronous.

    on_progress(fraction, text, preview) with preview = (w, h, rgba8 bytes) or None;
    on_done(nodes, error) once, error a core.BridgeError (or None)."""

    def __init__(self, client, doc, operation, opts, on_progress, on_done):
        self.client = client
        self.doc = doc
        self.operation = operation
        self.opts = opts
        self.on_progress = on_progress
        self.on_done = on_done
        self.prepared = None
        self.stream = None
        self.finished = False

    def start(self):
        """Raises core.BridgeError when the document/selection does not fit (nothing started)."""
        self.prepared = prepare(self.doc, self.operation, self.opts)
        self.on_progress(0.0, "sending %dx%d px..." % (self.prepared.region.w, self.prepared.region.h),
                         None)
        self.stream = self.client.start_job(self.operation, self.prepared.body,
                                            self._event, self._finished)

    def cancel(self):
        if self.stream is not None and not self.finished:
            self.stream.cancel()

    def _event(self, ev):
        try:
            if ev.kind == "queued":
                pos = int(ev.data.get("position") or 0)
                self.on_progress(0.0, "queued" + (" (%d ahead)" % pos if pos else ""), None)
            elif ev.kind == "started":
                self.on_progress(0.0, "running on %s" % (ev.data.get("engine") or "daemon"), None)
            elif ev.kind == "progress":
                preview = None
                msg = ev.data.get("preview")
                if isinstance(msg, dict) and msg.get("data"):
                    fmt, w, h, stride, data = core.decode_image(msg)
                    preview = (w, h, core.wire_to_rgba8(fmt, w, h, data, stride))
                stage = ev.data.get("stage") or "step"
                self.on_progress(core.progress_fraction(ev.data), "%s %s/%s" % (
                    stage, ev.data.get("step") or 0, ev.data.get("total") or "?"), preview)
        except Exception as e:    # a bad preview must not end the job
            self.on_progress(None, "preview not shown: %s" % e, None)

    def _finished(self, result, error):
        self.finished = True
        nodes = None
        if error is None:
            try:
                nodes = apply_result(self.doc, self.prepared, result)
            except core.BridgeError as e:
                error = e
            except Exception as e:
                error = core.BridgeError("could not apply the result: %s" % e)
        self.on_done(nodes, error)
