#!/usr/bin/python3
"""Side-by-side image codec timings: InpaintSuite's ImageCodec (SkiaSharp for JPEG/WebP, own PNG) vs OpenCV.

usage: /usr/bin/python3 tests/bench/image_codecs_vs_opencv.py [--runs N] [--size PX]
Writes, from the benchmark photo (make_bench_photo.py, RGB part, SIZE x SIZE, default 2048): baseline JPEG q90,
progressive JPEG, CMYK JPEG (Pillow), WebP lossy q90, WebP lossless, PNG. Times cv2.imdecode / cv2.imencode
(IMREAD_UNCHANGED; same quality settings) before and after the .NET run (the machine may be shared) and reports
the median of both sets beside ours, with the ratio ours / OpenCV. Figures from a shared machine are "loaded machine".
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import make_bench_photo  # noqa: E402


def make_files(d, size):
    rgb = make_bench_photo.make(size)[:, :, :3]
    im = Image.fromarray(rgb)
    files = {
        "baseline.jpg": lambda p: im.save(p, quality=90),
        "progressive.jpg": lambda p: im.save(p, quality=90, progressive=True),
        "cmyk.jpg": lambda p: im.convert("CMYK").save(p, quality=90),
        "lossy.webp": lambda p: im.save(p, quality=90),
        "lossless.webp": lambda p: im.save(p, lossless=True),
        "photo.png": lambda p: cv2.imwrite(p, rgb[:, :, ::-1].copy(), [cv2.IMWRITE_PNG_COMPRESSION, 1]),
    }
    paths = []
    for name, write in files.items():
        p = os.path.join(d, name)
        if not os.path.exists(p):
            write(p)
        paths.append(p)
    return paths


def encode_params(path):
    if path.endswith(".jpg"):
        return ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90]
    if path.endswith(".webp"):
        return ".webp", [cv2.IMWRITE_WEBP_QUALITY, 101 if "lossless" in path else 90]
    return ".png", [cv2.IMWRITE_PNG_COMPRESSION, 1]


def time_opencv(paths, runs):
    out = {}
    for p in paths:
        data = np.fromfile(p, np.uint8)
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        ext, params = encode_params(p)
        dec, enc = [], []
        for i in range(runs + 1):
            t = time.perf_counter()
            cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
            d = time.perf_counter() - t
            t = time.perf_counter()
            ok, _ = cv2.imencode(ext, img, params)
            e = time.perf_counter() - t
            if i:
                dec.append(d * 1000)
                enc.append(e * 1000)
        out[p] = (dec, enc)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--size", type=int, default=2048)
    a = ap.parse_args()
    d = os.path.join(tempfile.gettempdir(), "inpaintsuite-bench", f"codecs{a.size}")
    os.makedirs(d, exist_ok=True)
    paths = make_files(d, a.size)
    proj = os.path.join(ROOT, "tests", "InpaintSuite.Benchmarks")
    subprocess.run(["dotnet", "build", "-c", "Release", "-nologo", "-v", "quiet", proj], check=True, capture_output=True)
    # Per file: OpenCV, ours, OpenCV again, so both sides of a ratio see the same minute of a shared machine's load.
    cv1, cv2_, ours = {}, {}, {}
    for p in paths:
        cv1.update(time_opencv([p], a.runs))
        r = subprocess.run(["dotnet", "run", "-c", "Release", "--no-build", "--project", proj, "--", "codec-times", str(a.runs), p],
                           check=True, capture_output=True, text=True)
        ours.update({j["file"]: j for j in (json.loads(line) for line in r.stdout.splitlines() if line.startswith("{"))})
        cv2_.update(time_opencv([p], a.runs))
    print(f"\n{a.size}x{a.size} photo, {a.runs} runs each, medians in ms; OpenCV {cv2.__version__} timed before and after ours, per file "
          f"(loaded machine: ratios are what counts)")
    print(f"{'file':<18}{'decode ours':>12}{'OpenCV':>9}{'ratio':>7}   {'encode ours':>12}{'OpenCV':>9}{'ratio':>7}")
    for p in paths:
        o = ours[p]
        cd = statistics.median(cv1[p][0] + cv2_[p][0])
        ce = statistics.median(cv1[p][1] + cv2_[p][1])
        print(f"{os.path.basename(p):<18}{o['decode_ms']:>12.1f}{cd:>9.1f}{o['decode_ms'] / cd:>7.2f}   "
              f"{o['encode_ms']:>12.1f}{ce:>9.1f}{o['encode_ms'] / ce:>7.2f}")


if __name__ == "__main__":
    main()
