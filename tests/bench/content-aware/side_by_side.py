#!/usr/bin/python3
"""Side-by-side picture: one row per case, columns input | Telea | content-aware [| more] | truth.
usage: side_by_side.py CASEDIR TELEADIR OURDIR OUT.png ID [ID ...]
OURDIR may be LABEL=DIR,LABEL=DIR (e.g. before=/tmp/a,after=/tmp/b) for several columns."""
import sys
import cv2, numpy as np
cdir, tdir, odir, out, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
W = 200  # column width
def fit(im):
    return cv2.resize(im, (W, round(im.shape[0] * W / im.shape[1])), interpolation=cv2.INTER_AREA)
def label(im, text):
    im = im.copy()
    cv2.putText(im, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(im, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return im
rows = []
for cid in ids:
    inp = cv2.imread(f"{cdir}/{cid}.image.png"); m = cv2.imread(f"{cdir}/{cid}.mask.png", 0) > 127
    shown = inp.copy(); shown[m] = (255, 0, 255)  # hole in magenta so it is visible
    ours = [d.split("=", 1) for d in odir.split(",")] if "=" in odir else [("content-aware", odir)]
    cols = [(shown, cid + ": input"), (cv2.imread(f"{tdir}/{cid}.png"), "cv2 Telea")] + \
           [(cv2.imread(f"{d}/{cid}.png"), name) for name, d in ours] + [(cv2.imread(f"{cdir}/{cid}.truth.png"), "truth")]
    row = np.hstack([label(fit(c), t) for c, t in cols])
    rows.append(np.vstack([row, np.full((4, row.shape[1], 3), 255, np.uint8)]))
cv2.imwrite(out, np.vstack(rows), [cv2.IMWRITE_PNG_COMPRESSION, 9])
