#!/usr/bin/python3
"""Reference decodes for the codec tests (run with Debian's /usr/bin/python3).

usage: reference_decode.py OUT_DIR FILE...
For each FILE writes OUT_DIR/<n>.rgba (raw RGBA, 8-bit, or 16-bit little-endian) and prints one JSON line
{"index": n, "file": ..., "ok": bool, "width", "height", "depth": 8|16, "decoder": ..., "error": ...}.
8-bit PNG, JPEG (CMYK too), WebP, GIF (first frame), BMP: Pillow (JPEG/WebP with EXIF orientation applied). 16-bit PNG: OpenCV IMREAD_UNCHANGED
(libpng; Pillow narrows 16-bit colour to 8 bits), BGR(A) reordered to RGBA.
"""
import json
import os
import struct
import sys

import numpy as np
from PIL import Image, ImageOps
import cv2


def png_bit_depth(path):
    with open(path, "rb") as f:
        head = f.read(33)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return head[24]


def decode_cv16(path):
    a = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if a is None:
        raise ValueError("cv2 could not decode")
    if a.ndim == 2:
        a = np.stack([a, a, a, np.full_like(a, 65535)], axis=-1)
    elif a.shape[2] == 3:
        a = np.concatenate([a[:, :, ::-1], np.full(a.shape[:2] + (1,), 65535, a.dtype)], axis=-1)
    else:
        a = a[:, :, [2, 1, 0, 3]]
    return a.astype("<u2")


def decode_pil(path):
    with Image.open(path) as im:
        im.load()
        if im.format in ("JPEG", "WEBP"):
            im = ImageOps.exif_transpose(im)  # GIF/BMP carry no EXIF; an animated file stays on its first frame
        return np.asarray(im.convert("RGBA"), dtype=np.uint8)


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    for n, path in enumerate(sys.argv[2:]):
        rec = {"index": n, "file": path}
        try:
            if png_bit_depth(path) == 16:
                a, rec["decoder"], rec["depth"] = decode_cv16(path), "cv2.IMREAD_UNCHANGED", 16
            else:
                a, rec["decoder"], rec["depth"] = decode_pil(path), "PIL", 8
            rec["height"], rec["width"] = int(a.shape[0]), int(a.shape[1])
            with open(os.path.join(out_dir, f"{n}.rgba"), "wb") as f:
                f.write(np.ascontiguousarray(a).tobytes())
            rec["ok"] = True
        except Exception as e:  # noqa: BLE001 - a reference failure is data: our decoder must fail too
            rec["ok"] = False
            rec["error"] = f"{type(e).__name__}: {e}"
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
