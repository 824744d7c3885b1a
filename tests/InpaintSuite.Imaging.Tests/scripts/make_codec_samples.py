#!/usr/bin/python3
"""Writes small PNG/JPEG variants the Debian corpora lack, for reference comparison and as fuzz seeds.

usage: make_codec_samples.py OUT_DIR
JPEG (Pillow/libjpeg-turbo): baseline 4:4:4 / 4:2:2 / 4:2:0, greyscale, progressive, restart markers (OpenCV),
EXIF orientations 1-8. PNG: 1/2/4/8-bit palette (with and without tRNS), 1-bit, grey+alpha, 16-bit grey
(Pillow), 16-bit RGB/RGBA (OpenCV). Content is a smooth photo crop so it resembles real images.
"""
import io
import os
import sys

import cv2
import numpy as np
from PIL import Image
from skimage import data


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    photo = Image.fromarray(data.astronaut()).resize((61, 47), Image.LANCZOS)  # odd, non-square size
    big = Image.fromarray(data.coffee()).resize((203, 137), Image.LANCZOS)

    def save(name, im, **kw):
        im.save(os.path.join(out, name), **kw)

    for sub, tag in ((0, "444"), (1, "422"), (2, "420")):
        save(f"j_{tag}.jpg", photo, quality=90, subsampling=sub)
        save(f"j_{tag}_big.jpg", big, quality=75, subsampling=sub)
        save(f"j_{tag}_prog.jpg", big, quality=85, subsampling=sub, progressive=True)
    save("j_grey.jpg", photo.convert("L"), quality=90)
    save("j_grey_prog.jpg", big.convert("L"), quality=90, progressive=True)
    bgr = cv2.cvtColor(np.asarray(big), cv2.COLOR_RGB2BGR)
    for rst in (1, 7):
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 80, cv2.IMWRITE_JPEG_RST_INTERVAL, rst])
        assert ok
        buf.tofile(os.path.join(out, f"j_rst{rst}.jpg"))
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 3])
    buf.tofile(os.path.join(out, "j_prog_rst3.jpg"))
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        save(f"j_orient{o}.jpg", photo, quality=90, exif=exif.tobytes())

    pal = photo.convert("P", palette=Image.ADAPTIVE, colors=200)
    save("p_pal8.png", pal)
    trns = bytes(range(0, 200))
    save("p_pal8_trns.png", pal, transparency=trns)
    for bits, colors in ((1, 2), (2, 4), (4, 16)):
        p = photo.convert("P", palette=Image.ADAPTIVE, colors=colors)
        save(f"p_pal{bits}.png", p, bits=bits)
        save(f"p_pal{bits}_trns.png", p, bits=bits, transparency=bytes(range(0, 256, 256 // colors))[:colors])
    save("p_bw1.png", photo.convert("1"))
    save("p_grey8_trns.png", photo.convert("L"), transparency=77)
    save("p_rgb8_trns.png", photo.convert("RGB"), transparency=tuple(int(v) for v in np.asarray(photo)[5, 7]))
    save("p_la8.png", photo.convert("LA"))
    save("p_rgba8.png", photo.convert("RGBA"))
    g16 = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257 + np.arange(61, dtype=np.uint16)[None, :]).astype(np.uint16)
    cv2.imwrite(os.path.join(out, "p_grey16.png"), g16)
    rgb16 = np.asarray(big, dtype=np.uint16) * 257 + 3
    cv2.imwrite(os.path.join(out, "p_rgb16.png"), rgb16[:, :, ::-1].copy())
    a16 = np.linspace(0, 65535, rgb16.shape[1], dtype=np.uint16)[None, :].repeat(rgb16.shape[0], 0)
    cv2.imwrite(os.path.join(out, "p_rgba16.png"), np.dstack([rgb16[:, :, ::-1], a16]).copy())


if __name__ == "__main__":
    main()
