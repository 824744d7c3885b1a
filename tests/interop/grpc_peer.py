#!/usr/bin/python3
"""A stock gRPC peer (Debian's python3-grpcio) for interop tests and the transfer benchmark.

Stubs are generated at run time from protos/ with grpc_tools.protoc into a temp folder, so what is
tested is the .proto contract, not a checked-in copy.

  grpc_peer.py client ADDR SCENARIO [args]   one JSON line on stdout: {"status": "OK"|"<CODE>", ...}
                                             (TLS when $INPAINTSUITE_PEER_CA names the trusted roots' PEM)
  grpc_peer.py server                        echo Inpainter + Health on 127.0.0.1:0; prints "PORT <n>"
  grpc_peer.py bench-client ADDR SIZE N      N Inpaint round trips of a SIZExSIZE RGBA8 layer; JSON timings
"""
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from concurrent import futures

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROTOS = os.path.join(ROOT, "protos")


def load_stubs():
    """Message classes from protoc (protobuf-compiler, the same 3.21 as python3-protobuf), service
    stubs from grpc_tools.protoc. Debian's grpc_tools bundles a protoc older than proto3 `optional`,
    so it reads a copy of the protos with the `optional` labels removed: that changes field
    presence only, which the service stubs (method paths and message class names) never see."""
    import re
    import shutil
    import subprocess
    from grpc_tools import protoc
    out = tempfile.mkdtemp(prefix="inpaintsuite-stubs-")
    files = ["inpaintsuite/v1/inpainter.proto", "grpc/health/v1/health.proto"]
    subprocess.run(["protoc", "-I" + PROTOS, "--python_out=" + out] + files, check=True)
    plain = tempfile.mkdtemp(prefix="inpaintsuite-protos-")
    for f in files:
        os.makedirs(os.path.dirname(os.path.join(plain, f)), exist_ok=True)
        with open(os.path.join(PROTOS, f)) as src, open(os.path.join(plain, f), "w") as dst:
            dst.write(re.sub(r"^(\s*)optional\s+", r"\1", src.read(), flags=re.M))
    if protoc.main(["grpc_tools.protoc", "-I" + plain, "--grpc_python_out=" + out] + files) != 0:
        raise SystemExit("grpc_tools.protoc failed")
    shutil.rmtree(plain, ignore_errors=True)
    sys.path.insert(0, out)
    # grpcio owns the "grpc" package: let it also find the generated grpc/health/v1 modules.
    import grpc
    grpc.__path__.append(os.path.join(out, "grpc"))
    from inpaintsuite.v1 import inpainter_pb2, inpainter_pb2_grpc
    from grpc.health.v1 import health_pb2, health_pb2_grpc
    return inpainter_pb2, inpainter_pb2_grpc, health_pb2, health_pb2_grpc


# grpc's own package is also called "grpc": import it before the generated grpc.health.v1 shadows nothing.
import grpc  # noqa: E402

pb, pb_grpc, hpb, hpb_grpc = load_stubs()

UNLIMITED = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


def image(w, h, seed=1):
    data = bytes((i * 31 + seed) & 0xFF for i in range(w * h * 4)) if w * h <= 65536 else os.urandom(w * h * 4)
    return pb.Image(width=w, height=h, format=pb.PIXEL_FORMAT_RGBA8, data=data)


def box_mask(w, h):
    m = bytearray(w * h)
    for y in range(h // 4, h * 3 // 4):
        for x in range(w // 4, w * 3 // 4):
            m[y * w + x] = 255
    return pb.Mask(width=w, height=h, data=bytes(m))


def status_of(err):
    return {"status": err.code().name, "details": err.details()}


def open_channel(addr, options):
    """TLS when INPAINTSUITE_PEER_CA names a PEM file of trusted roots (stock grpc.ssl_channel_credentials)."""
    ca = os.environ.get("INPAINTSUITE_PEER_CA")
    if not ca:
        return grpc.insecure_channel(addr, options=options)
    with open(ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    return grpc.secure_channel(addr, creds, options=options)


def client(addr, scenario, rest):
    options = list(UNLIMITED)
    md = []
    if scenario == "token":
        md = [("authorization", "Bearer " + rest[0])] if rest and rest[0] else []
    with open_channel(addr, options) as channel:
        stub = pb_grpc.InpainterStub(channel)
        try:
            if scenario in ("inpaint", "token", "gzip"):
                w, h = 37, 23
                req = pb.InpaintRequest(image=image(w, h), mask=box_mask(w, h),
                                        settings=pb.GenerationSettings(engine="fill", seed=5), client="python")
                kinds, job, patch = [], "", None
                kw = {"compression": grpc.Compression.Gzip} if scenario == "gzip" else {}
                for ev in stub.Inpaint(req, metadata=md, **kw):
                    kinds.append(ev.WhichOneof("event"))
                    job = job or ev.job_id
                    if ev.HasField("result"):
                        patch = ev.result.patches[0]
                expected = bytearray(req.image.data)
                for p in range(w * h):
                    expected[p * 4 + 3] = req.mask.data[p]
                return {"status": "OK", "kinds": kinds, "job_id": job,
                        "patch_ok": patch is not None and patch.image.data == bytes(expected) and patch.seed == 5}
            if scenario == "mismatch":
                req = pb.InpaintRequest(image=image(40, 30), mask=box_mask(30, 40))
                for _ in stub.Inpaint(req):
                    pass
                return {"status": "OK"}
            if scenario == "deadline":
                req = pb.InpaintRequest(image=image(16, 16), mask=box_mask(16, 16))
                for _ in stub.Inpaint(req, timeout=0.001):
                    pass
                return {"status": "OK"}
            if scenario == "unknown":
                call = channel.unary_unary("/inpaintsuite.v1.Inpainter/Teleport",
                                           request_serializer=lambda m: m.SerializeToString(),
                                           response_deserializer=pb.ListModelsResponse.FromString)
                call(pb.ListModelsRequest())
                return {"status": "OK"}
            if scenario == "cancel":
                req = pb.InpaintRequest(image=image(16, 16), mask=box_mask(16, 16))
                stream = stub.Inpaint(req)
                job = ""
                for ev in stream:
                    job = job or ev.job_id
                    if ev.HasField("progress"):
                        stream.cancel()
                return {"status": "OK", "job_id": job}
            if scenario == "big":
                size = int(rest[0]) if rest else 4096
                req = pb.InpaintRequest(image=image(size, size), settings=pb.GenerationSettings(engine="fill"))
                result = None
                for ev in stub.Inpaint(req):
                    if ev.HasField("result"):
                        result = ev.result
                data = result.patches[0].image.data
                return {"status": "OK", "bytes": len(data),
                        "same": hashlib.sha256(data).hexdigest() == hashlib.sha256(req.image.data).hexdigest()}
            if scenario == "health":
                r = hpb_grpc.HealthStub(channel).Check(hpb.HealthCheckRequest(service=""))
                return {"status": "OK", "serving": hpb.HealthCheckResponse.ServingStatus.Name(r.status)}
            if scenario == "reflection":
                # Stock grpcio calling the standard reflection service as grpcurl does (v1, then v1alpha). Debian ships
                # no grpc_reflection module, so the two tiny messages are encoded by hand: ServerReflectionRequest
                # {list_services = ""} is field 7 (string) = b"\x3a\x00".
                out = {"status": "OK"}
                for version in ("v1", "v1alpha"):
                    call = channel.stream_stream("/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" % version,
                                                 request_serializer=lambda b: b, response_deserializer=lambda b: b)
                    reply = next(iter(call(iter([b"\x3a\x00"]), metadata=md)))
                    out[version] = list_services(reply)
                return out
            if scenario == "capabilities":
                caps = stub.GetCapabilities(pb.GetCapabilitiesRequest(), metadata=md)
                return {"status": "OK", "engines": list(caps.engines)}
            raise SystemExit("unknown scenario " + scenario)
        except grpc.RpcError as err:
            out = status_of(err)
            if scenario == "cancel":
                out["job_id"] = locals().get("job", "")
            return out


def _fields(buf):
    """(field number, wire type, value) of a protobuf message: varints as int, length-delimited as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def list_services(reply):
    """ServerReflectionResponse.list_services_response (6) -> ListServiceResponse.service (1) -> ServiceResponse.name (1)."""
    names = []
    for num, _, v in _fields(reply):
        if num == 6:
            for n2, _, svc in _fields(v):
                if n2 == 1:
                    names += [name.decode() for n3, _, name in _fields(svc) if n3 == 1]
    return names


class EchoInpainter(pb_grpc.InpainterServicer):
    """Returns the input layer as the patch: the transport does all the work."""

    def Inpaint(self, request, context):
        if request.HasField("mask") and (request.mask.width != request.image.width or request.mask.height != request.image.height):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "mask: size differs from image")
        if request.settings.prompt == "slow":
            for _ in range(500):
                if not context.is_active():
                    return
                time.sleep(0.01)
        yield pb.JobEvent(job_id="py-1", queued=pb.Queued(position=0))
        yield pb.JobEvent(job_id="py-1", progress=pb.Progress(step=1, total=1, stage="echo"))
        patch = pb.Patch(x=0, y=0, image=request.image, seed=request.settings.seed)
        yield pb.JobEvent(job_id="py-1", result=pb.Result(patches=[patch], engine="echo",
                                                            canvas_width=request.image.width,
                                                            canvas_height=request.image.height))

    def GetCapabilities(self, request, context):
        return pb.Capabilities(version="python-echo", engines=["echo"])

    def CancelJob(self, request, context):
        return pb.CancelJobResponse(cancelled=False, previous_state="unknown")


class Health(hpb_grpc.HealthServicer):
    def Check(self, request, context):
        if request.service not in ("", "inpaintsuite.v1.Inpainter"):
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return hpb.HealthCheckResponse(status=hpb.HealthCheckResponse.SERVING)


def server():
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=UNLIMITED)
    pb_grpc.add_InpainterServicer_to_server(EchoInpainter(), s)
    hpb_grpc.add_HealthServicer_to_server(Health(), s)
    port = s.add_insecure_port("127.0.0.1:0")
    s.start()
    print("PORT %d" % port, flush=True)
    # Runs until stdin closes (the parent test/bench ends).
    try:
        sys.stdin.read()
    finally:
        s.stop(0)


def bench_client(addr, size, n):
    layer = image(size, size)
    req = pb.InpaintRequest(image=layer, settings=pb.GenerationSettings(engine="fill"))
    times = []
    with open_channel(addr, UNLIMITED) as channel:
        stub = pb_grpc.InpainterStub(channel)
        for i in range(n + 1):
            t0 = time.perf_counter()
            got = 0
            for ev in stub.Inpaint(req):
                if ev.HasField("result"):
                    got = len(ev.result.patches[0].image.data)
            dt = time.perf_counter() - t0
            if got != len(layer.data):
                raise SystemExit("wrong patch size %d" % got)
            if i > 0:  # the first call warms the connection
                times.append(dt)
    return {"status": "OK", "seconds": times, "bytes_each_way": len(layer.data)}


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "client":
        print(json.dumps(client(sys.argv[2], sys.argv[3], sys.argv[4:])), flush=True)
    elif cmd == "server":
        server()
    elif cmd == "bench-client":
        print(json.dumps(bench_client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))), flush=True)
    else:
        raise SystemExit(__doc__)
