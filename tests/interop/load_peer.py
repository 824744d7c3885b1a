#!/usr/bin/python3
"""python3-grpcio load clients for the daemon load test and bench (tests/InpaintSuite.Daemon.Tests/LoadScenario.cs).

  load_peer.py SPEC.json

SPEC: {"address": "host:port", "clients": [{"client": n, "name": s, "jobs": [{"index", "width", "height",
"image" (base64 RGBA8), "mask" (base64), "seed", "cancel" (CancelPlan name), "delay_ms"}]}]}.
One thread and one channel (own connection) per client; each client runs its jobs one after another.
Prints "READY" once every channel is connected, starts on a "GO" line on stdin, then prints one JSON line:
{"jobs": [{"client", "index", "job_id", "status" (OK | CANCELLED | DROPPED | <code>), "details", "sha",
"outside_ok", "queue_seconds", "cancel_state", "cancel_ok"}]}. "sha" hashes the result patches exactly as
LoadScenario.ResultHash does.
"""
import base64
import hashlib
import json
import os
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402
import grpc_peer  # noqa: E402  (generates and loads the stubs)

pb, pb_grpc = grpc_peer.pb, grpc_peer.pb_grpc

# Own subchannel pool: otherwise grpc-core shares one connection between channels with the same target.
# A job the daemon never ends shows up as DEADLINE_EXCEEDED instead of a hang (same as LoadScenario.CallDeadline).
CALL_DEADLINE_SECONDS = 60

CHANNEL_OPTIONS = grpc_peer.UNLIMITED + [("grpc.use_local_subchannel_pool", 1)]


def result_hash(result):
    h = hashlib.sha256()
    for p in result.patches:
        h.update(struct.pack("<iiIII", p.x, p.y, p.image.width, p.image.height, p.image.format))
        h.update(p.image.data)
    return h.hexdigest()


def outside_mask_unchanged(result, width, height, mask):
    """Compositing leaves unmasked pixels byte-identical: blend weight (alpha) 0 wherever the mask is 0."""
    changed = False
    for p in result.patches:
        pw, ph, data = p.image.width, p.image.height, p.image.data
        if p.image.format != pb.PIXEL_FORMAT_RGBA8 or p.x < 0 or p.y < 0 or p.x + pw > width or p.y + ph > height:
            return False
        if len(data) != pw * ph * 4:
            return False
        for y in range(ph):
            alpha = data[y * pw * 4 + 3:(y + 1) * pw * 4:4]
            row = mask[(p.y + y) * width + p.x:(p.y + y) * width + p.x + pw]
            for a, m in zip(alpha, row):
                if a:
                    changed = True
                    if not m:
                        return False
    return changed


def run_job(channel, stub, name, client, job):
    w, h = job["width"], job["height"]
    mask = base64.b64decode(job["mask"])
    req = pb.InpaintRequest(
        image=pb.Image(width=w, height=h, format=pb.PIXEL_FORMAT_RGBA8, data=base64.b64decode(job["image"])),
        mask=pb.Mask(width=w, height=h, data=mask),
        settings=pb.GenerationSettings(engine="content-aware", seed=job["seed"]),
        client=name)
    out = {"client": client, "index": job["index"], "job_id": "", "status": "", "details": "", "sha": None,
           "outside_ok": False, "queue_seconds": 0.0, "cancel_state": None, "cancel_ok": False}
    plan = job["cancel"]
    dropped = threading.Event()
    timer = None
    call = stub.Inpaint(req, timeout=CALL_DEADLINE_SECONDS)

    def cancel_by_id():
        r = stub.CancelJob(pb.CancelJobRequest(job_id=out["job_id"]))
        out["cancel_state"], out["cancel_ok"] = r.previous_state, r.cancelled

    def drop():
        dropped.set()
        call.cancel()

    acted = False
    try:
        for ev in call:
            kind = ev.WhichOneof("event")
            if not out["job_id"]:
                out["job_id"] = ev.job_id
                if plan in ("CancelAfterDelay", "DropAfterDelay"):
                    timer = threading.Timer(job["delay_ms"] / 1000.0, cancel_by_id if plan == "CancelAfterDelay" else drop)
                    timer.start()
            if not acted and ((plan == "CancelWhenQueued" and kind == "queued") or (plan == "CancelWhenStarted" and kind == "started")):
                acted = True
                cancel_by_id()
            elif not acted and ((plan == "DropWhenQueued" and kind == "queued") or (plan == "DropWhenStarted" and kind == "started")):
                acted = True
                drop()
            elif kind == "result":
                out["sha"] = result_hash(ev.result)
                out["outside_ok"] = outside_mask_unchanged(ev.result, w, h, mask)
                out["queue_seconds"] = ev.result.timings.queue_seconds
        out["status"] = "OK" if out["sha"] else "NO_RESULT"
    except grpc.RpcError as err:
        if dropped.is_set() and err.code() == grpc.StatusCode.CANCELLED:
            out["status"] = "DROPPED"
        else:
            out["status"], out["details"] = err.code().name, err.details() or ""
    if timer is not None:
        timer.join()
    return out


def main(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    clients = spec["clients"]
    channels = [grpc.insecure_channel(spec["address"], options=CHANNEL_OPTIONS) for _ in clients]
    for ch in channels:
        grpc.channel_ready_future(ch).result(timeout=30)
    results = [[] for _ in clients]
    go = threading.Event()

    def client_thread(i):
        c = clients[i]
        stub = pb_grpc.InpainterStub(channels[i])
        go.wait()
        for job in c["jobs"]:
            results[i].append(run_job(channels[i], stub, c["name"], c["client"], job))

    threads = [threading.Thread(target=client_thread, args=(i,), daemon=True) for i in range(len(clients))]
    for t in threads:
        t.start()
    print("READY", flush=True)
    if sys.stdin.readline().strip() != "GO":
        raise SystemExit("expected GO")
    go.set()
    for t in threads:
        t.join()
    for ch in channels:
        ch.close()
    print(json.dumps({"jobs": [o for r in results for o in r]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
