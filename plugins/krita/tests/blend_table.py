"""Runs inside a real Krita (kritarunner, QT_QPA_PLATFORM=offscreen): the blend table of issue 15.

    kritarunner -s blend_table -f main TABLE_JSON OUT_JSON

TABLE_JSON: {"source": [r, g, b, a, ...], "patch": [r, g, b, w, ...]} (RGBA8, one pixel per case, w = blend
weight). The source pixels become an 8-bit RGBA document's layer; the patch is put on the document exactly as
the docker does it (kritaops.apply_result with a daemon-style result message: a new paint layer above the source);
OUT_JSON gets {"pixels": [r, g, b, a, ...]}, the document's projection, i.e. what the user sees. The C# test
(PaintDotNet.Core.Tests BlendTableTests) compares it with Imaging's Compositor and the Paint.NET renderer.
"""

import base64
import json
import traceback

from krita import Krita
from inpaint_suite import core, kritaops


def _bgra(rgba):
    out = bytearray(rgba)
    out[0::4], out[2::4] = rgba[2::4], rgba[0::4]
    return bytes(out)


def main(args):
    table_path, out_path = args[0], args[1]
    try:
        Krita.instance().setBatchmode(True)
        table = json.load(open(table_path))
        src, patch = bytes(table["source"]), bytes(table["patch"])
        n = len(src) // 4
        doc = Krita.instance().createDocument(n, 1, "blend-table", "RGBA", "U8", "", 72.0)
        node = doc.createNode("source", "paintlayer")
        node.setPixelData(_bgra(src), 0, 0, n, 1)   # Krita's 8-bit RGBA is B, G, R, A in memory
        doc.rootNode().addChildNode(node, None)
        for other in doc.topLevelNodes():          # the new document's own background layer would show through
            if other.name() != "source":
                other.remove()
        prepared = kritaops.Prepared("inpaint", core.Rect(0, 0, n, 1), "U8", None, node, None)
        result = {"engine": "table", "patches": [{"x": 0, "y": 0, "seed": "1", "image": {
            "width": n, "height": 1, "format": "PIXEL_FORMAT_RGBA8", "data": base64.b64encode(patch).decode()}}]}
        kritaops.apply_result(doc, prepared, result)
        doc.refreshProjection()
        doc.waitForDone()
        seen = bytes(doc.pixelData(0, 0, n, 1))
        json.dump({"pixels": list(_bgra(seen))}, open(out_path, "w"))
        doc.close()
    except Exception:
        json.dump({"error": traceback.format_exc()}, open(out_path, "w"))
