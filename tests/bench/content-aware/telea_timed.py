#!/usr/bin/python3
"""cv2.inpaint on every eval case, exactly as ../shared/eval/baseline_cv2.py calls it, but timing each case.
usage: telea_timed.py CASEDIR OUTDIR [telea|ns] [radius]   -> OUTDIR/ID.png, prints "ID seconds cpu-seconds" lines"""
import sys, json, time, os
import cv2
cdir, odir = sys.argv[1], sys.argv[2]
how = sys.argv[3] if len(sys.argv) > 3 else "telea"
rad = float(sys.argv[4]) if len(sys.argv) > 4 else 5
os.makedirs(odir, exist_ok=True)
flag = cv2.INPAINT_TELEA if how == "telea" else cv2.INPAINT_NS
for c in json.load(open(f"{cdir}/cases.json")):
    im = cv2.imread(f"{cdir}/{c['id']}.image.png"); m = cv2.imread(f"{cdir}/{c['id']}.mask.png", 0)
    t0, c0 = time.perf_counter(), time.process_time()
    r = cv2.inpaint(im, m, rad, flag)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    cv2.imwrite(f"{odir}/{c['id']}.png", r)
    print(f"{c['id']} {dt:.4f} {dc:.4f}", flush=True)
