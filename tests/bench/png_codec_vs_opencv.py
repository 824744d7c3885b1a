#!/usr/bin/python3
"""Side-by-side PNG codec benchmark: InpaintSuite (BenchmarkDotNet) vs OpenCV (cv2.imdecode / cv2.imencode).

usage: /usr/bin/python3 tests/bench/png_codec_vs_opencv.py [--runs N] [--skip-dotnet]
Both sides use the same 4096x4096 RGBA8 photo (tests/bench/make_bench_photo.py; path INPAINTSUITE_BENCH_PNG or
$TMPDIR/inpaintsuite-bench/photo4096.png). OpenCV is timed before and after the BenchmarkDotNet run (the machine
may be shared) and its median over both sets is used. Prints medians and the ratio ours/OpenCV (target <= 2).
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
IMAGE = os.environ.get("INPAINTSUITE_BENCH_PNG") or os.path.join(tempfile.gettempdir(), "inpaintsuite-bench", "photo4096.png")


def time_opencv(runs):
    data = np.fromfile(IMAGE, np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    assert img.shape == (4096, 4096, 4) and img.dtype == np.uint8, img.shape
    dec, enc, size = [], [], 0
    for i in range(runs + 1):
        t = time.perf_counter()
        cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if i: dec.append(time.perf_counter() - t)
        t = time.perf_counter()
        ok, buf = cv2.imencode(".png", img)
        if i: enc.append(time.perf_counter() - t)
        size = len(buf)
    return dec, enc, size


def run_dotnet():
    art = os.path.join(tempfile.gettempdir(), "inpaintsuite-bench", "bdn")
    for f in glob.glob(os.path.join(art, "results", "*PngCodecBenchmarks*")):
        os.remove(f)
    cmd = ["dotnet", "run", "-c", "Release", "--project", os.path.join(ROOT, "tests", "InpaintSuite.Benchmarks"), "--",
           "--filter", "*PngCodecBenchmarks*", "--exporters", "json", "--artifacts", art]
    subprocess.run(cmd, check=True, env=dict(os.environ, INPAINTSUITE_BENCH_PNG=IMAGE))
    files = glob.glob(os.path.join(art, "results", "*PngCodecBenchmarks*.json"))
    if not files:
        sys.exit("BenchmarkDotNet wrote no JSON report")
    with open(files[0]) as f:
        report = json.load(f)
    medians = {b["Method"]: b["Statistics"]["Median"] / 1e9 for b in report["Benchmarks"] if b.get("Statistics")}
    size = subprocess.run(["dotnet", "run", "-c", "Release", "--no-build", "--project", os.path.join(ROOT, "tests", "InpaintSuite.Benchmarks"),
                           "--", "png-size", IMAGE], check=True, capture_output=True, text=True).stdout.strip()
    medians["size"] = int(size.splitlines()[-1])
    return medians


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--skip-dotnet", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(IMAGE):
        os.makedirs(os.path.dirname(IMAGE), exist_ok=True)
        subprocess.run([sys.executable, os.path.join(HERE, "make_bench_photo.py"), IMAGE], check=True)
    dec1, enc1, cv_size = time_opencv(a.runs)
    ours = {} if a.skip_dotnet else run_dotnet()
    dec2, enc2, _ = time_opencv(a.runs)
    cv = {"PngDecode": statistics.median(dec1 + dec2), "PngEncode": statistics.median(enc1 + enc2)}
    print(f"\nimage: {IMAGE} (4096x4096 RGBA8, {os.path.getsize(IMAGE)} bytes); OpenCV {cv2.__version__} PNG output {cv_size} bytes")
    if "size" in ours:
        print(f"InpaintSuite PNG output {ours['size']} bytes (default options: adaptive filter, zlib level 1, RLE; lossless round trip checked)")
    print(f"OpenCV runs: decode {[round(x * 1000) for x in dec1 + dec2]} ms, encode {[round(x * 1000) for x in enc1 + enc2]} ms")
    print(f"{'operation':<12}{'InpaintSuite':>14}{'OpenCV':>12}{'ratio':>8}  (median ms; ratio = ours / OpenCV, target <= 2.00)")
    worst = 0.0
    for op in ("PngDecode", "PngEncode"):
        if op in ours:
            r = ours[op] / cv[op]
            worst = max(worst, r)
            print(f"{op:<12}{ours[op] * 1000:>14.0f}{cv[op] * 1000:>12.0f}{r:>8.2f}")
        else:
            print(f"{op:<12}{'-':>14}{cv[op] * 1000:>12.0f}")
    if ours:
        print(f"worst ratio {worst:.2f}: {'meets' if worst <= 2.0 else 'MISSES'} the 2x target")


if __name__ == "__main__":
    main()
