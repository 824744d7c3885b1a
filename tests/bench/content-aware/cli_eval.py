#!/usr/bin/python3
"""The eval cases through the user's path: one daemon (`inpaintsuite serve`, default settings, no models), the CLI
with --daemon per case (inpaint cases: `inpaint --mask`; outpaint cases: `outpaint` of the kept crop with
--left/--right/--top/--bottom), seed 0. Writes OUTDIR/ID.png for score.py and OUTDIR/times.txt lines
"ID engine-seconds cli-wall-seconds" (engine seconds as the daemon reports them for the fill; the CLI wall time
includes the CLI process start). The first case is run once before timing (warm daemon).
usage: cli_eval.py CASEDIR OUTDIR [CLI_DLL]"""
import sys, os, json, subprocess, tempfile, time
import cv2
root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
cdir, odir = sys.argv[1], sys.argv[2]
cli = sys.argv[3] if len(sys.argv) > 3 else os.path.join(root, "src/InpaintSuite.Cli/bin/Release/net10.0/inpaintsuite.dll")
os.makedirs(odir, exist_ok=True)
tmp = tempfile.mkdtemp(prefix="caf-cli-")
models = os.path.join(tmp, "models"); os.makedirs(models)
pf = os.path.join(tmp, "ports.json")
d = subprocess.Popen(["dotnet", cli, "serve", "--port", "0", "--bridge-port", "-1", "--port-file", pf,
                      "--models", models, "--warm-up", "none"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=open(os.path.join(tmp, "daemon.log"), "w"))
try:
    for _ in range(3000):
        if os.path.exists(pf) or d.poll() is not None: break
        time.sleep(0.1)
    if d.poll() is not None: raise SystemExit("daemon exited: " + open(os.path.join(tmp, "daemon.log")).read())
    url = f"http://127.0.0.1:{json.load(open(pf))['grpc']}"
    def run(c, out):
        cid = c["id"]
        if c["op"] == "outpaint":
            x, y, w, h = c["keep"]
            im = cv2.imread(f"{cdir}/{cid}.image.png")
            crop = os.path.join(tmp, cid + ".keep.png"); cv2.imwrite(crop, im[y:y + h, x:x + w])
            args = ["outpaint", crop, "--left", str(x), "--top", str(y),
                    "--right", str(im.shape[1] - x - w), "--bottom", str(im.shape[0] - y - h)]
        else:
            args = ["inpaint", f"{cdir}/{cid}.image.png", "--mask", f"{cdir}/{cid}.mask.png"]
        t0 = time.perf_counter()
        p = subprocess.run(["dotnet", cli] + args + ["-o", out, "--seed", "0", "--daemon", url, "--json"],
                           capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if p.returncode != 0: raise SystemExit(f"{cid}: {p.stderr}")
        return json.loads(p.stdout.strip().splitlines()[-1])["seconds"], wall
    cases = json.load(open(f"{cdir}/cases.json"))
    run(cases[0], os.path.join(tmp, "warm.png"))
    with open(os.path.join(odir, "times.txt"), "w") as f:
        for c in cases:
            s, wall = run(c, os.path.join(odir, c["id"] + ".png"))
            f.write(f"{c['id']} {s:.4f} {wall:.4f}\n"); f.flush()
finally:
    d.terminate(); d.wait(30)
