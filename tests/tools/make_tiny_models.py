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

With --set sdxl (or all), the tiny SDXL components (shared/reference/sdxl) become SDXL folders in the Optimum layout:
  tiny-sdxl-inpaint/ (9-channel UNet)      tiny-sdxl-base/ (4-channel UNet: img2img, latent-blend inpaint)
with text_encoder/ text_encoder_2/ tokenizer/ tokenizer_2/ unet/ vae_encoder/ vae_decoder/ scheduler/ model_index.json
and two generated CLIP-like text encoders with Optimum's SDXL I/O (output_hidden_states):
  text_encoder:   input_ids int32 [B,77] -> last_hidden_state [B,77,16], pooler_output [B,16], hidden_states.0..2 [B,77,16]
  text_encoder_2: input_ids int32 [B,77] -> text_embeds [B,32] (projected pooled output), last_hidden_state [B,77,32],
                  hidden_states.0..2 [B,77,32]
(16 + 32 = the tiny UNets' cross-attention dim 48; text_embeds 32 = their pooled size). Each layer is a residual
tanh(MatMul) so the penultimate layer differs from the last; the pooled output is taken at the first EOS (argmax of
the ids), as CLIP does. tokenizer_2 pads with "!" (id 0), like SDXL's.

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


def sdxl_text_encoder(hidden: int, projection: int, seed: int) -> onnx.ModelProto:
    """CLIP-like: embeddings, two residual tanh layers, final tanh; pooled at argmax(ids); optional projection."""
    rng = np.random.RandomState(seed)
    inits = [
        numpy_helper.from_array((rng.standard_normal((VOCAB, hidden)) * 0.5).astype(np.float32), "token_embedding"),
        numpy_helper.from_array((rng.standard_normal((1, SEQ, hidden)) * 0.1).astype(np.float32), "position_embedding"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array(0, np.int64), "zero"),
        numpy_helper.from_array(np.array(1, np.int64), "one"),
        numpy_helper.from_array(np.array([1], np.int64), "idx1"),
    ]
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids64"], to=TensorProto.INT64),
        helper.make_node("Gather", ["token_embedding", "ids64"], ["emb"], axis=0),
        helper.make_node("Add", ["emb", "position_embedding"], ["hidden_states.0"]),
    ]
    for layer in (1, 2):
        inits.append(numpy_helper.from_array((rng.standard_normal((hidden, hidden)) / np.sqrt(hidden)).astype(np.float32), f"w{layer}"))
        nodes += [
            helper.make_node("MatMul", [f"hidden_states.{layer - 1}", f"w{layer}"], [f"m{layer}"]),
            helper.make_node("Tanh", [f"m{layer}"], [f"t{layer}"]),
            helper.make_node("Add", [f"t{layer}", f"hidden_states.{layer - 1}"], [f"hidden_states.{layer}"]),
        ]
    nodes += [
        helper.make_node("Tanh", ["hidden_states.2"], ["last_hidden_state"]),
        # pooled = last_hidden_state[b, argmax(ids[b])] via a one-hot over the sequence
        helper.make_node("ArgMax", ["ids64"], ["eos"], axis=1, keepdims=1),
        helper.make_node("Shape", ["ids64"], ["ids_shape"]),
        helper.make_node("Gather", ["ids_shape", "one"], ["seq_len"], axis=0),
        helper.make_node("Range", ["zero", "seq_len", "one"], ["positions"]),
        helper.make_node("Equal", ["positions", "eos"], ["onehot_b"]),
        helper.make_node("Cast", ["onehot_b"], ["onehot"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["onehot", "axis2"], ["onehot3"]),
        helper.make_node("Mul", ["last_hidden_state", "onehot3"], ["picked"]),
        helper.make_node("ReduceSum", ["picked", "axis1"], ["pooler_output"], keepdims=0),
    ]
    inits.append(numpy_helper.from_array(np.array([2], np.int64), "axis2"))
    outputs = []
    if projection:
        inits.append(numpy_helper.from_array((rng.standard_normal((hidden, projection)) / np.sqrt(hidden)).astype(np.float32), "text_projection"))
        nodes.append(helper.make_node("MatMul", ["pooler_output", "text_projection"], ["text_embeds"]))
        outputs.append(helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["batch_size", projection]))
    outputs.append(helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch_size", "sequence_length", hidden]))
    if not projection:
        outputs.append(helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, ["batch_size", hidden]))
    for layer in range(3):
        outputs.append(helper.make_tensor_value_info(f"hidden_states.{layer}", TensorProto.FLOAT, ["batch_size", "sequence_length", hidden]))
    graph = helper.make_graph(
        nodes, "tiny_clip_text_model_with_hidden_states",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT32, ["batch_size", "sequence_length"])],
        outputs, inits)
    return finish(graph)


def to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A float16 copy of a float32 graph, the way fp16 exports look: fp16 weights, inputs, outputs and Casts."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph

    # Resize's roi/scales stay float32 whatever the data type (the operator's contract).
    keep = {i for n in g.node if n.op_type == "Resize" for i in n.input[1:]}

    def tensor16(t, name=None):
        if t.data_type == TensorProto.FLOAT and (name or t.name) not in keep:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))

    for t in g.initializer:
        tensor16(t)
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT and vi.name not in keep:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    for node in g.node:
        for a in node.attribute:
            if node.op_type == "Cast" and a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
            if a.type == onnx.AttributeProto.TENSOR:
                tensor16(a.t, node.output[0] if node.op_type == "Constant" else "")
    return m


def make_sdxl_folders(shared: str, out: str) -> None:
    xl = os.path.join(shared, "reference", "sdxl", "onnx")
    tok = os.path.join(shared, "reference", "diffusers", "tokenizer")
    te1 = sdxl_text_encoder(16, 0, seed=2024)
    te2 = sdxl_text_encoder(32, 32, seed=2025)
    for folder, unet in {"tiny-sdxl-inpaint": "unet_inpaint", "tiny-sdxl-base": "unet"}.items():
        root = os.path.join(out, folder)
        if os.path.isdir(root):
            shutil.rmtree(root)
        copy_component(os.path.join(xl, unet), os.path.join(root, "unet"))
        copy_component(os.path.join(xl, "vae_encoder_latent_parameters"), os.path.join(root, "vae_encoder"))
        copy_component(os.path.join(xl, "vae_decoder"), os.path.join(root, "vae_decoder"))
        copy_component(os.path.join(xl, "scheduler"), os.path.join(root, "scheduler"))
        for sub, pad in (("tokenizer", "<|endoftext|>"), ("tokenizer_2", "!")):
            os.makedirs(os.path.join(root, sub))
            for name in ("vocab.json", "merges.txt"):
                shutil.copyfile(os.path.join(tok, name), os.path.join(root, sub, name))
            special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": pad}
            with open(os.path.join(root, sub, "special_tokens_map.json"), "w") as f:
                json.dump(special, f, indent=1)
            with open(os.path.join(root, sub, "tokenizer_config.json"), "w") as f:
                json.dump(dict(special, tokenizer_class="CLIPTokenizer", model_max_length=SEQ, do_lower_case=True), f, indent=1)
        for sub, model, cls, hidden in (("text_encoder", te1, "CLIPTextModel", 16), ("text_encoder_2", te2, "CLIPTextModelWithProjection", 32)):
            os.makedirs(os.path.join(root, sub))
            onnx.save(model, os.path.join(root, sub, "model.onnx"))
            cfg = {"_class_name": cls, "hidden_size": hidden, "num_hidden_layers": 2, "max_position_embeddings": SEQ,
                   "vocab_size": VOCAB, "note": "tiny random-weight stand-in with Optimum's SDXL outputs"}
            if sub == "text_encoder_2":
                cfg["projection_dim"] = 32
            with open(os.path.join(root, sub, "config.json"), "w") as f:
                json.dump(cfg, f, indent=1)
        index = {
            "_class_name": "ORTStableDiffusionXLInpaintPipeline" if unet == "unet_inpaint" else "ORTStableDiffusionXLPipeline",
            "_diffusers_version": "0.40.0.dev0",
            "force_zeros_for_empty_prompt": True,
            "requires_aesthetics_score": False,
            "text_encoder": ["transformers", "CLIPTextModel"],
            "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "tokenizer_2": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae_encoder": ["diffusers", "AutoencoderKL"],
            "vae_decoder": ["diffusers", "AutoencoderKL"],
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        }
        with open(os.path.join(root, "model_index.json"), "w") as f:
            json.dump(index, f, indent=1)
        print(root)
    # The inpaint folder with an fp16 VAE that is not marked fp16-safe (force_upcast true, like SDXL's own VAE), and
    # one marked fp16-safe (force_upcast false, like madebyollin/sdxl-vae-fp16-fix).
    for folder, upcast in (("tiny-sdxl-fp16vae", True), ("tiny-sdxl-fp16vae-safe", False)):
        root = os.path.join(out, folder)
        if os.path.isdir(root):
            shutil.rmtree(root)
        shutil.copytree(os.path.join(out, "tiny-sdxl-inpaint"), root)
        for sub in ("vae_encoder", "vae_decoder"):
            onnx.save(to_float16(onnx.load(os.path.join(root, sub, "model.onnx"))), os.path.join(root, sub, "model.onnx"))
            cfg_path = os.path.join(root, sub, "config.json")
            with open(cfg_path) as f:
                cfg = json.load(f)
            cfg["force_upcast"] = upcast
            with open(cfg_path, "w") as f:
                json.dump(cfg, f, indent=1)
        print(root)


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
    ap.add_argument("--shared", default=os.path.normpath(os.path.join(here, "..", "..", "..", "shared")))
    ap.add_argument("--ids-type", choices=["int32", "int64"], default="int32",
                    help="input_ids dtype of the text encoder (Optimum exports int32; some exports use int64)")
    ap.add_argument("--set", choices=["sd", "sdxl", "all"], default="sd",
                    help="which folders: the SD 1.x ones (default), the SDXL ones, or both")
    args = ap.parse_args()
    if args.set in ("sdxl", "all"):
        if not os.path.isdir(os.path.join(args.shared, "reference", "sdxl", "onnx")):
            print(f"make_tiny_models: {args.shared}/reference/sdxl/onnx not found (pass --shared)", file=sys.stderr)
            return 2
        make_sdxl_folders(args.shared, args.out)
        if args.set == "sdxl":
            return 0
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
