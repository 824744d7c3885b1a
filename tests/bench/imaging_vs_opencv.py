#!/usr/bin/python3
"""OpenCV side of the imaging benchmark: same image recipe and ops as ImagingBenchTool; prints `name median_ms`.

Run with Debian's python (python3-opencv): /usr/bin/python3 tests/bench/imaging_vs_opencv.py [runs]
"""
import sys
import time

import cv2
import numpy as np


def make_image(n=4096):
    img = np.zeros((n, n, 4), np.uint8)
    rng = np.random.default_rng(1234)
    x = np.arange(n)[None, :]
    y = np.arange(n)[:, None]
    img[:, :, 0] = ((x * 255 // n + rng.integers(0, 32, (n, n))) & 255).astype(np.uint8)
    img[:, :, 1] = ((y * 255 // n + rng.integers(0, 32, (n, n))) & 255).astype(np.uint8)
    img[:, :, 2] = (((x ^ y) >> 4) & 255).astype(np.uint8)
    img[:, :, 3] = 255
    return img


def median_ms(fn, runs):
    fn()
    t = []
    for _ in range(runs):
        s = time.perf_counter()
        fn()
        t.append((time.perf_counter() - s) * 1000)
    t.sort()
    return t[len(t) // 2]


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    img = make_image()
    mask = np.zeros((4096, 4096), np.uint8)
    mask[1000:3000, 800:3300] = 255
    # sigma 16 with OpenCV's own kernel size choice for 8-bit (round(6*sigma+1)|1 = 97), like ours (radius ceil(3 sigma)).
    print("gaussian_sigma16 %.1f" % median_ms(lambda: cv2.GaussianBlur(img, (0, 0), 16), runs))
    print("lanczos_4096_to_1024 %.1f" % median_ms(lambda: cv2.resize(img, (1024, 1024), interpolation=cv2.INTER_LANCZOS4), runs))
    print("mask_feather_sigma16 %.1f" % median_ms(lambda: cv2.GaussianBlur(mask, (0, 0), 16), runs))
    print("# opencv %s, threads %d" % (cv2.__version__, cv2.getNumThreads()))


if __name__ == "__main__":
    main()
