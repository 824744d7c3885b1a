#!/usr/bin/python3
"""Writes the non-PNG files the SkiaSharp codec must decode like Pillow (run with Debian's /usr/bin/python3).

usage: make_skia_samples.py OUT_DIR
JPEG: CMYK (Adobe, as Pillow/libjpeg write it), CMYK progressive, progressive 4:2:0, EXIF orientations 1-8 also on a
progressive file. WebP: lossy, lossless, lossy+alpha, lossless+alpha, EXIF orientation 6. GIF: palette, with a
transparent index, and an animated two-frame file (the first frame counts). BMP: 24-bit, 8-bit palette, 1-bit,
32-bit with alpha. Content: photo crops at odd, non-square sizes so codecs meet real image statistics.
"""
import os
import sys

import numpy as np
from PIL import Image
from skimage import data


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    photo = Image.fromarray(data.astronaut()).resize((67, 45), Image.LANCZOS)
    big = Image.fromarray(data.coffee()).resize((211, 139), Image.LANCZOS)
    h, w = big.height, big.width
    yy, xx = np.mgrid[0:h, 0:w]
    alpha = Image.fromarray(((np.hypot(xx - w / 2, yy - h / 2) < min(w, h) / 2.5) * 200 + (xx * 55 // w)).astype(np.uint8))
    big_rgba = big.convert("RGBA")
    big_rgba.putalpha(alpha)

    def save(name, im, **kw):
        im.save(os.path.join(out, name), **kw)

    save("s_cmyk.jpg", big.convert("CMYK"), quality=90)
    save("s_cmyk_prog.jpg", photo.convert("CMYK"), quality=80, progressive=True)
    save("s_prog420.jpg", big, quality=85, progressive=True, subsampling=2)
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        save(f"s_orient{o}.jpg", big, quality=85, exif=exif.tobytes())
    exif6 = Image.Exif()
    exif6[0x0112] = 6
    save("s_orient6_prog.jpg", photo, quality=85, progressive=True, exif=exif6.tobytes())
    save("s_lossy.webp", big, quality=80)
    save("s_lossless.webp", big, lossless=True)
    save("s_lossy_alpha.webp", big_rgba, quality=80)
    save("s_lossless_alpha.webp", big_rgba, lossless=True)
    save("s_orient6.webp", photo, quality=90, exif=exif6.tobytes())
    pal = big.convert("P", palette=Image.ADAPTIVE, colors=64)
    save("s_palette.gif", pal)
    save("s_transparent.gif", pal, transparency=5)
    frame2 = photo.resize(big.size).convert("P", palette=Image.ADAPTIVE, colors=32)
    save("s_animated.gif", pal, save_all=True, append_images=[frame2], duration=100, loop=0)
    save("s_rgb24.bmp", big)
    save("s_pal8.bmp", pal)
    save("s_bw1.bmp", photo.convert("1"))
    save("s_rgba32.bmp", big_rgba)


if __name__ == "__main__":
    main()
