#!/usr/bin/env python3
"""Builds the fill-quality eval folder (the layout of ../shared/eval) from the copy vendored in
tests/data/shared/eval, for clones without ../shared beside them.

The vendored copy keeps one truth photo per scene and one mask per case (2 MB instead of 15 MB):
every case's ID.truth.png is its scene's photo, and ID.image.png is that photo with the masked pixels
zeroed, exactly as ../shared/eval was made (checked pixel for pixel against it when it exists).
Usage: materialize_eval.py VENDORED_EVAL_DIR OUT_DIR   (run with Debian's /usr/bin/python3: needs PIL, numpy)
"""
import json, os, shutil, sys
import numpy as np
from PIL import Image

src, out = sys.argv[1], sys.argv[2]
cases_out = os.path.join(out, "cases")
os.makedirs(cases_out, exist_ok=True)
for name in ("README.md", "score.py", "baseline_cv2.py"):
    shutil.copyfile(os.path.join(src, name), os.path.join(out, name))
shutil.copyfile(os.path.join(src, "cases.json"), os.path.join(cases_out, "cases.json"))
with open(os.path.join(src, "cases.json")) as f:
    cases = json.load(f)
for case in cases:
    cid = case["id"]
    scene = cid.rsplit("-", 1)[0]
    truth_path = os.path.join(src, "photos", scene + ".truth.png")
    mask_path = os.path.join(src, "masks", cid + ".mask.png")
    truth = np.array(Image.open(truth_path).convert("RGB"))
    mask = np.array(Image.open(mask_path))
    if mask.ndim == 3:
        mask = mask[..., 0]
    image = truth.copy()
    image[mask > 0] = 0
    shutil.copyfile(truth_path, os.path.join(cases_out, cid + ".truth.png"))
    shutil.copyfile(mask_path, os.path.join(cases_out, cid + ".mask.png"))
    Image.fromarray(image).save(os.path.join(cases_out, cid + ".image.png"))
print(f"materialized {len(cases)} eval cases into {cases_out}")
