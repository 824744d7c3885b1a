#!/usr/bin/python3
"""Writes the 4096x4096 RGBA8 benchmark image: skimage's astronaut photo upscaled (bicubic) with a soft radial
alpha vignette, so the content is photo-like (not noise) and every channel carries data.
usage: make_bench_photo.py OUT.png"""
import sys

import cv2
import numpy as np
from skimage import data


def make(size=4096):
    rgb = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1) - 0.5
    alpha = np.clip(1.35 - 2.0 * np.sqrt(xx * xx + yy * yy), 0, 1) * 255
    return np.dstack([rgb, alpha.round().astype(np.uint8)])  # RGBA


if __name__ == "__main__":
    rgba = make()
    bgra = rgba[:, :, [2, 1, 0, 3]]
    ok, buf = cv2.imencode(".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ok
    with open(sys.argv[1], "wb") as f:
        f.write(buf.tobytes())
