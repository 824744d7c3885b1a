#!/usr/bin/python3
"""Synthetic ONNX graphs and LoRA files for the LoRA merge tests (tests/InpaintSuite.Runtime.Tests/Lora).

Writes, under OUT, one small graph per variant with the weight layouts a diffusers export has:
  Conv 3x3  "/unet/conv_in/Conv"          weight "unet.conv_in.weight" [8, 4, 3, 3]        (LoCon target)
  MatMul    ".../attn1/to_q/MatMul"       weight "onnx::MatMul_7" = W^T [8, 6]             (Linear on 3-D input)
  Gemm      "/unet/time_embedding/linear_1/Gemm" transB=1, weight "unet.time_embedding.linear_1.weight" [5, 3]
  MatMul    ".../attn2/to_k/MatMul"       weight "onnx::MatMul_9" [768, 16]               (SD 1.x cross-attention width, no LoRA)
variants: fp32/ (inline), fp16/ (every tensor float16), external/ (fp32, all weights in weights.pb);
each variant also as *_merged/ with the LoRA merged by numpy (float64, rounded once) as the oracle.
lora.safetensors is kohya format (rank 2, alpha 1), hand-written like the shared reference files.

Needs Debian's python3-onnx and python3-numpy: /usr/bin/python3 tests/tools/make_lora_test_models.py OUT
"""
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def graph(weights, dtype):
    t = TensorProto.FLOAT16 if dtype == np.float16 else TensorProto.FLOAT
    inits = [numpy_helper.from_array(w.astype(dtype), n) for n, w in weights.items()]
    inits.append(numpy_helper.from_array(np.array([1, 8, -1], np.int64), "shape3"))
    nodes = [
        helper.make_node("Conv", ["sample", "unet.conv_in.weight"], ["c"], name="/unet/conv_in/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Reshape", ["c", "shape3"], ["r"], name="/unet/Reshape"),
        helper.make_node("Transpose", ["r"], ["tr"], name="/unet/Transpose", perm=[0, 2, 1]),
        helper.make_node("MatMul", ["tr", "onnx::MatMul_7"], ["out_sample"],
                         name="/unet/mid_block/attentions.0/transformer_blocks.0/attn1/to_q/MatMul"),
        helper.make_node("Gemm", ["temb", "unet.time_embedding.linear_1.weight"], ["out_temb"],
                         name="/unet/time_embedding/linear_1/Gemm", transB=1),
        # SD 1.x's cross-attention width (768): the merger reads the base architecture from this weight's shape.
        helper.make_node("MatMul", ["context", "onnx::MatMul_9"], ["out_k"],
                         name="/unet/down_blocks.0/attentions.0/transformer_blocks.0/attn2/to_k/MatMul"),
        # A CLIP-style name (as Optimum exports text encoders) for the text-encoder key routing test.
        helper.make_node("MatMul", ["words", "onnx::MatMul_11"], ["out_te"],
                         name="/text_model/encoder/layers.0/self_attn/q_proj/MatMul"),
    ]
    g = helper.make_graph(nodes, "lora_test", [
        helper.make_tensor_value_info("sample", t, [1, 4, 5, 7]),
        helper.make_tensor_value_info("temb", t, [2, 3]),
        helper.make_tensor_value_info("context", t, [1, 3, 768]),
        helper.make_tensor_value_info("words", t, [1, 3, 4]),
    ], [
        helper.make_tensor_value_info("out_sample", t, [1, 35, 6]),
        helper.make_tensor_value_info("out_temb", t, [2, 5]),
        helper.make_tensor_value_info("out_k", t, [1, 3, 16]),
        helper.make_tensor_value_info("out_te", t, [1, 3, 4]),
    ], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)], producer_name="inpaintsuite-lora-test")
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m


def save(model, folder, external):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    if external:
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location="weights.pb", size_threshold=80)  # getsizeof(bytes) adds ~33: the 24-byte shape stays inline
    else:
        onnx.save(model, path)


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.RandomState(21)
    conv = rng.standard_normal((8, 4, 3, 3)) * 0.3
    lin = rng.standard_normal((6, 8)) * 0.3          # torch Linear weight [out, in]; the MatMul holds its transpose
    gemm = rng.standard_normal((5, 3)) * 0.3
    rank, alpha = 2, 1.0
    lora = {
        "lora_unet_conv_in.lora_down.weight": rng.standard_normal((rank, 4, 3, 3)) * 0.5,
        "lora_unet_conv_in.lora_up.weight": rng.standard_normal((8, rank, 1, 1)) * 0.5,
        "lora_unet_conv_in.alpha": np.array(alpha),
        "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight": rng.standard_normal((rank, 8)) * 0.5,
        "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight": rng.standard_normal((6, rank)) * 0.5,
        "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q.alpha": np.array(alpha),
        "lora_unet_time_embedding_linear_1.lora_down.weight": rng.standard_normal((rank, 3)) * 0.5,
        "lora_unet_time_embedding_linear_1.lora_up.weight": rng.standard_normal((5, rank)) * 0.5,
        "lora_unet_time_embedding_linear_1.alpha": np.array(alpha),
    }
    lora = {k: v.astype(np.float32) for k, v in lora.items()}
    write_safetensors(os.path.join(out, "lora.safetensors"), lora, {"ss_network_module": "networks.lora", "ss_base_model_version": "sd_v1"})
    multiplier = float(sys.argv[2]) if len(sys.argv) > 2 else 0.8
    scale = alpha / rank
    def delta(key, shape):
        d = lora[f"lora_unet_{key}.lora_down.weight"].astype(np.float64)
        u = lora[f"lora_unet_{key}.lora_up.weight"].astype(np.float64)
        return (scale * (u.reshape(u.shape[0], rank) @ d.reshape(rank, -1))).reshape(shape)
    to_k = rng.standard_normal((16, 768)) * 0.05
    base = {"unet.conv_in.weight": conv, "onnx::MatMul_7": lin.T, "unet.time_embedding.linear_1.weight": gemm, "onnx::MatMul_9": to_k.T,
            "onnx::MatMul_11": rng.standard_normal((4, 4)) * 0.3}
    merged = {
        "unet.conv_in.weight": conv + multiplier * delta("conv_in", conv.shape),
        "onnx::MatMul_7": (lin + multiplier * delta("mid_block_attentions_0_transformer_blocks_0_attn1_to_q", lin.shape)).T,
        "unet.time_embedding.linear_1.weight": gemm + multiplier * delta("time_embedding_linear_1", gemm.shape),
        "onnx::MatMul_9": to_k.T,
        "onnx::MatMul_11": base["onnx::MatMul_11"],
    }
    # The fp32 base and oracle are built from float32 weights (what a file holds); the merge is exact in float64.
    base32 = {k: v.astype(np.float32) for k, v in base.items()}
    merged32 = {k: (base32[k].astype(np.float64) + (merged[k] - base[k])).astype(np.float32) for k in base}
    base16 = {k: v.astype(np.float16) for k, v in base.items()}
    merged16 = {k: (base16[k].astype(np.float64) + (merged[k] - base[k])).astype(np.float16) for k in base}
    save(graph(base32, np.float32), os.path.join(out, "fp32"), False)
    save(graph(merged32, np.float32), os.path.join(out, "fp32_merged"), False)
    save(graph(base16, np.float16), os.path.join(out, "fp16"), False)
    save(graph(merged16, np.float16), os.path.join(out, "fp16_merged"), False)
    save(graph(base32, np.float32), os.path.join(out, "external"), True)
    save(graph(merged32, np.float32), os.path.join(out, "external_merged"), False)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
