#!/usr/bin/python3
"""Per-kind table (strokes, blob, rect, outpaint, all) of score.py's metrics for one or more result folders.
usage: kinds.py CASEDIR NAME=OUTDIR [NAME=OUTDIR ...]   (means of psnr/ssim, medians of texture/seam, as score.py)"""
import sys, os, json, statistics
sys.path.insert(0, os.path.join(sys.argv[1], ".."))
import score as sc  # ../shared/eval/score.py
cdir = sys.argv[1]
cases = [c["id"] for c in json.load(open(f"{cdir}/cases.json"))]
kinds = ["strokes", "blob", "rect", "outpaint"]
print("| method | kind | n | psnr | ssim | texture | seam | outside_max |")
print("|---|---|---|---|---|---|---|---|")
for arg in sys.argv[2:]:
    name, odir = arg.split("=", 1)
    rows = [r for r in (sc.score(cdir, odir, c) for c in cases) if r and "error" not in r]
    for k in kinds + ["all"]:
        rs = [r for r in rows if k == "all" or r["id"].endswith("-" + k)]
        if not rs: continue
        print(f"| {name} | {k} | {len(rs)} | {statistics.mean(r['psnr'] for r in rs):.2f} | "
              f"{statistics.mean(r['ssim'] for r in rs):.4f} | {statistics.median(r['texture'] for r in rs):.3f} | "
              f"{statistics.median(r['seam'] for r in rs):.3f} | {max(r['outside_max'] for r in rs):g} |")
