#!/usr/bin/python3
"""Arranges complete, loadable tiny model folders (standard SD ONNX layout) for tests and demos.

The shared tiny diffusers components (random weights, real SD architecture and Optimum I/O names) have no
text encoder and no depth estimator, so this script generates tiny random-weight ONNX graphs with the real
I/O contracts:
  text_encoder:   input_ids int32|int64 [B,77] -> last_hidden_state float32 [B,77,32], pooler_output [B,32]
  depth_estimator: pixel_values float32 [B,3,H,W] -> predicted_depth float32 [B,H,W]
and writes, under OUT:
  tiny-sd-inpaint/  (9-channel UNet)       tiny-sd-base/ (4-channel UNet, img2img)
  tiny-sd-depth/    (5-channel UNet + depth_estimator/)
Each folder has model_index.json, text_encoder/ unet/ vae_encoder/ vae_decoder/ tokenizer/ scheduler/.

Needs Debian's python3-onnx and python3-numpy: /usr/bin/python3 tests/tools/make_tiny_models.py OUT [--shared DIR]
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HIDDEN = 32       # cross_attention_dim of the tiny UNets
SEQ = 77
VOCAB = 49408     # CLIP vocabulary (the shared tokenizer's vocab.json)


def text_encoder(ids_type: int, seed: int) -> onnx.ModelProto:
    """Token embedding + position embedding + tanh(MatMul): enough to make prompts matter."""
    rng = np.random.RandomState(seed)
    tok = numpy_helper.from_array((rng.standard_normal((VOCAB, HIDDEN)) * 0.5).astype(np.float32), "token_embedding")
    pos = numpy_helper.from_array((rng.standard_normal((1, SEQ, HIDDEN)) * 0.1).astype(np.float32), "position_embedding")
    w = numpy_helper.from_array((rng.standard_normal((HIDDEN, HIDDEN)) / np.sqrt(HIDDEN)).astype(np.float32), "proj")
    nodes = []
    ids = "input_ids"
    if ids_type != TensorProto.INT64:
        nodes.append(helper.make_node("Cast", [ids], ["ids64"], to=TensorProto.INT64))
        ids = "ids64"
    nodes += [
        helper.make_node("Gather", ["token_embedding", ids], ["emb"], axis=0),
        helper.make_node("Add", ["emb", "position_embedding"], ["h0"]),
        helper.make_node("MatMul", ["h0", "proj"], ["h1"]),
        helper.make_node("Tanh", ["h1"], ["last_hidden_state"]),
        helper.make_node("ReduceMean", ["last_hidden_state"], ["pooler_output"], axes=[1], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "tiny_clip_text_model",
        [helper.make_tensor_value_info("input_ids", ids_type, ["batch_size", "sequence_length"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", HIDDEN]),
         helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch_size", HIDDEN])],
        [tok, pos, w])
    return finish(graph)


def depth_estimator(seed: int) -> onnx.ModelProto:
    """A 3x3 conv to one channel, softplus (depth is positive), squeezed to [B,H,W] like DPT's predicted_depth."""
    rng = np.random.RandomState(seed)
    w = numpy_helper.from_array((rng.standard_normal((1, 3, 3, 3)) * 0.3).astype(np.float32), "conv_w")
    b = numpy_helper.from_array(np.array([0.5], np.float32), "conv_b")
    axes = numpy_helper.from_array(np.array([1], np.int64), "squeeze_axes")
    nodes = [
        helper.make_node("Conv", ["pixel_values", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Softplus", ["c"], ["d"]),
        helper.make_node("Squeeze", ["d", "squeeze_axes"], ["predicted_depth"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_depth_estimator",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch_size", 3, "height", "width"])],
        [helper.make_tensor_value_info("predicted_depth", TensorProto.FLOAT, ["batch_size", "height", "width"])],
        [w, b, axes])
    return finish(graph)


def finish(graph) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="inpaintsuite-tiny")
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def copy_component(src_dir: str, dst_dir: str) -> None:
    os.makedirs(dst_dir, exist_ok=True)
    for name in os.listdir(src_dir):
        shutil.copyfile(os.path.join(src_dir, name), os.path.join(dst_dir, name))


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    beside = os.path.normpath(os.path.join(here, "..", "..", "..", "shared"))
    vendored = os.path.normpath(os.path.join(here, "..", "data", "shared"))
    ap.add_argument("--shared", default=beside if os.path.isdir(os.path.join(beside, "reference")) else vendored)
    ap.add_argument("--ids-type", choices=["int32", "int64"], default="int32",
                    help="input_ids dtype of the text encoder (Optimum exports int32; some exports use int64)")
    args = ap.parse_args()
    tiny = os.path.join(args.shared, "reference", "diffusers", "tiny_models", "onnx")
    tok = os.path.join(args.shared, "reference", "diffusers", "tokenizer")
    if not os.path.isdir(tiny):
        print(f"make_tiny_models: {tiny} not found (pass --shared)", file=sys.stderr)
        return 2
    ids_type = TensorProto.INT32 if args.ids_type == "int32" else TensorProto.INT64
    te = text_encoder(ids_type, seed=1234)
    folders = {"tiny-sd-inpaint": "unet_inpaint", "tiny-sd-base": "unet", "tiny-sd-depth": "unet_depth"}
    for folder, unet in folders.items():
        root = os.path.join(args.out, folder)
        if os.path.isdir(root):
            shutil.rmtree(root)
        copy_component(os.path.join(tiny, unet), os.path.join(root, "unet"))
        copy_component(os.path.join(tiny, "vae_encoder_latent_parameters"), os.path.join(root, "vae_encoder"))
        copy_component(os.path.join(tiny, "vae_decoder"), os.path.join(root, "vae_decoder"))
        copy_component(os.path.join(tiny, "scheduler"), os.path.join(root, "scheduler"))
        os.makedirs(os.path.join(root, "tokenizer"))
        for name in ("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"):
            if os.path.exists(os.path.join(tok, name)):
                shutil.copyfile(os.path.join(tok, name), os.path.join(root, "tokenizer", name))
        os.makedirs(os.path.join(root, "text_encoder"))
        onnx.save(te, os.path.join(root, "text_encoder", "model.onnx"))
        with open(os.path.join(root, "text_encoder", "config.json"), "w") as f:
            json.dump({"_class_name": "CLIPTextModel", "hidden_size": HIDDEN, "max_position_embeddings": SEQ,
                       "vocab_size": VOCAB, "note": "tiny random-weight stand-in"}, f, indent=1)
        index = {
            "_class_name": "OnnxStableDiffusionInpaintPipeline" if unet == "unet_inpaint" else
                           "OnnxStableDiffusionPipeline" if unet == "unet" else "StableDiffusionDepth2ImgPipeline",
            "_diffusers_version": "0.40.0.dev0",
            "text_encoder": ["diffusers", "OnnxRuntimeModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "OnnxRuntimeModel"],
            "vae_encoder": ["diffusers", "OnnxRuntimeModel"],
            "vae_decoder": ["diffusers", "OnnxRuntimeModel"],
            "scheduler": ["diffusers", "PNDMScheduler"],
        }
        if unet == "unet_depth":
            os.makedirs(os.path.join(root, "depth_estimator"))
            onnx.save(depth_estimator(seed=99), os.path.join(root, "depth_estimator", "model.onnx"))
            index["depth_estimator"] = ["transformers", "DPTForDepthEstimation"]
        with open(os.path.join(root, "model_index.json"), "w") as f:
            json.dump(index, f, indent=1)
        print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
