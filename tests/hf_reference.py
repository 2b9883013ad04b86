#!/usr/bin/env python3
"""PyTorch references for tests/hf_*_test.ts: Hugging Face vision towers written from the
published architecture (transformers' MLCDVisionModel: a CLIP-style pre-norm ViT with 2D RoPE
on q and k and a learned class_pos_emb; CLIPVisionModel: a learned absolute position
embedding, quick_gelu or gelu, optional visual_projection), with explicit attention (torch
1.13 has no scaled_dot_product_attention), in float64.

  hf_reference.py make <cases.json>
      For every case: random weights saved as a Hugging Face model directory (config.json,
      preprocessor_config.json, model.safetensors or shards + model.safetensors.index.json, in
      F32/F16/BF16), and <expected>: the inputs, the pooled outputs, and for a loss case the
      MLCD loss and its gradient with respect to every parameter and the centers.
  hf_reference.py forward <model dir> <io.safetensors>
      Loads a directory the way a PyTorch user would (every expected tensor, no other, the
      "pt" format metadata) and prints the relative error of io["y"] against its pooled
      output of io["x"].
  hf_reference.py pil <cases.json>
      The CLIP image processor steps with PIL's resize (BICUBIC) on PNG files: writes each
      case's float32 HWC pixels.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import mlcd_loss, read_safetensors, rel  # noqa: E402

PREFIX = "vision_model."


def param_shapes(kind, c, projection):
    """The state-dict of MLCDVisionModel / CLIPVisionModel(WithProjection): name -> shape."""
    D, I, P, C = c["hidden_size"], c["intermediate_size"], c["patch_size"], c["num_channels"]
    out = {
        PREFIX + "embeddings.class_embedding": [D],
        PREFIX + "embeddings.patch_embedding.weight": [D, C, P, P],
        PREFIX + "pre_layrnorm.weight": [D],
        PREFIX + "pre_layrnorm.bias": [D],
        PREFIX + "post_layernorm.weight": [D],
        PREFIX + "post_layernorm.bias": [D],
    }
    if kind == "clip":
        g = c["image_size"] // P
        out[PREFIX + "embeddings.position_embedding.weight"] = [g * g + 1, D]
    else:
        out[PREFIX + "class_pos_emb"] = [1, D // c["num_attention_heads"] // 2]
    for i in range(c["num_hidden_layers"]):
        l = f"{PREFIX}encoder.layers.{i}."
        for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out[l + f"self_attn.{p}.weight"] = [D, D]
            out[l + f"self_attn.{p}.bias"] = [D]
        for n in ("layer_norm1", "layer_norm2"):
            out[l + n + ".weight"] = [D]
            out[l + n + ".bias"] = [D]
        out[l + "mlp.fc1.weight"] = [I, D]
        out[l + "mlp.fc1.bias"] = [I]
        out[l + "mlp.fc2.weight"] = [D, I]
        out[l + "mlp.fc2.bias"] = [D]
    if projection:
        out["visual_projection.weight"] = [c["projection_dim"], D]
    return out


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def pooled(kind, c, p, x):
    """The pooled output of NCHW pixels x."""
    D, nh, P = c["hidden_size"], c["num_attention_heads"], c["patch_size"]
    hd, eps = D // nh, c["layer_norm_eps"]
    B = x.shape[0]
    t = F.conv2d(x, p[PREFIX + "embeddings.patch_embedding.weight"], stride=P)
    gh, gw = t.shape[2], t.shape[3]
    t = t.flatten(2).transpose(1, 2)
    h = torch.cat([p[PREFIX + "embeddings.class_embedding"].expand(B, 1, D), t], dim=1)
    if kind == "clip":
        h = h + p[PREFIX + "embeddings.position_embedding.weight"].unsqueeze(0)
    T = h.shape[1]

    def ln(v, name):
        return F.layer_norm(v, (D,), p[PREFIX + name + ".weight"], p[PREFIX + name + ".bias"], eps)

    h = ln(h, "pre_layrnorm")
    if kind == "mlcd":
        dim = hd // 2  # vision rotary over head_dim / 2, theta 10000
        inv = 1.0 / (10000.0 ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
        hpos = torch.arange(gh).unsqueeze(1).expand(gh, gw).flatten()
        wpos = torch.arange(gw).unsqueeze(0).expand(gh, gw).flatten()
        full = torch.outer(torch.arange(max(gh, gw), dtype=torch.float64), inv)
        rpe = torch.cat([full[hpos], full[wpos]], dim=1)
        rpe = torch.cat([p[PREFIX + "class_pos_emb"], rpe], dim=0)
        emb = torch.cat([rpe, rpe], dim=-1)
        cos, sin = emb.cos()[None, :, None, :], emb.sin()[None, :, None, :]
    act = (lambda v: v * torch.sigmoid(1.702 * v)) if c["hidden_act"] == "quick_gelu" else F.gelu
    for i in range(c["num_hidden_layers"]):
        l = f"encoder.layers.{i}."

        def lin(v, name):
            return F.linear(v, p[PREFIX + l + name + ".weight"], p[PREFIX + l + name + ".bias"])

        y = ln(h, l + "layer_norm1")
        q = lin(y, "self_attn.q_proj").reshape(B, T, nh, hd)
        k = lin(y, "self_attn.k_proj").reshape(B, T, nh, hd)
        v = lin(y, "self_attn.v_proj").reshape(B, T, nh, hd)
        if kind == "mlcd":
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
        q, k, v = (z.permute(0, 2, 1, 3) for z in (q, k, v))
        a = torch.softmax((q @ k.transpose(-1, -2)) * hd ** -0.5, dim=-1)
        o = (a @ v).permute(0, 2, 1, 3).reshape(B, T, D)
        h = h + lin(o, "self_attn.out_proj")
        h = h + lin(act(lin(ln(h, l + "layer_norm2"), "mlp.fc1")), "mlp.fc2")
    out = ln(h[:, 0], "post_layernorm")
    if "visual_projection.weight" in p:
        out = out @ p["visual_projection.weight"].t()
    return out


def to_bytes(t, dtype):
    if dtype == "F32":
        return t.float().numpy().tobytes()
    if dtype == "F16":
        return t.half().numpy().tobytes()
    return t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()


def round_to(t, dtype):
    if dtype == "F16":
        return t.half().double()
    if dtype == "BF16":
        return t.to(torch.bfloat16).double()
    return t.float().double()


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, tensor)."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, dtype, t in tensors:
        b = to_bytes(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_np(path, arrays):
    """Float arrays as F32, unsigned integer arrays as U32."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, v in arrays.items():
        a = np.ascontiguousarray(v, np.uint32 if np.asarray(v).dtype.kind == "u" else np.float32)
        b = a.tobytes()
        dtype = "U32" if a.dtype == np.uint32 else "F32"
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def make(case):
    kind, c = case["kind"], case["config"]
    g = torch.Generator().manual_seed(case["seed"])
    shapes = param_shapes(kind, c, case.get("projection", False))
    dtypes = ["F32", "F16", "BF16"]
    p, written = {}, []
    for j, (name, shape) in enumerate(shapes.items()):
        r = torch.randn(shape, generator=g, dtype=torch.float64)
        if name.endswith("norm1.weight") or name.endswith("norm2.weight") or "layernorm.weight" in name or "layrnorm.weight" in name:
            t = 1 + 0.2 * r
        elif name.endswith(".bias"):
            t = 0.1 * r
        elif name.endswith("class_pos_emb"):
            t = r
        elif name.endswith("class_embedding"):
            t = 0.5 * r
        else:
            t = 0.15 * r
        dtype = case["dtype"] if case["dtype"] != "mixed" else dtypes[j % 3]
        p[name] = round_to(t, dtype).requires_grad_(True)
        written.append((name, dtype, p[name].detach()))
    d = case["dir"]
    os.makedirs(d, exist_ok=True)
    cfg = dict(case.get("config_json", {}))
    cfg.update(c)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
        json.dump(case["preprocessor"], f)
    n = case["shards"]
    if n == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), written)
    else:
        per = math.ceil(len(written) / n)
        wmap = {}
        for s in range(n):
            part = written[s * per:(s + 1) * per]
            fname = f"model-{s + 1:05d}-of-{n:05d}.safetensors"
            write_safetensors(os.path.join(d, fname), part)
            wmap.update({name: fname for name, _, _ in part})
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": wmap}, f)
    S, B = case["image"], case["batch"]
    x = torch.randn(B, S, S, c["num_channels"], generator=g, dtype=torch.float64).float().double()
    y = pooled(kind, c, p, x.permute(0, 3, 1, 2))
    out = {"x": x.reshape(B, -1).numpy(), "y": y.detach().numpy()}
    lo = case.get("loss")
    if lo:
        C, l = lo["classes"], lo["l"]
        W = (torch.randn(C, y.shape[1], generator=g, dtype=torch.float64)).float().double()
        W.requires_grad_(True)
        pos = np.stack([torch.randperm(C, generator=g)[:l].numpy() for _ in range(B)])
        rest = [k for k in range(C) if k not in set(pos.ravel().tolist())]
        extra = torch.randperm(len(rest), generator=g)[: lo["negatives"]].tolist()
        sampled = sorted(set(pos.ravel().tolist()) | {rest[k] for k in extra})
        L = mlcd_loss(y, W, pos, torch.tensor(sampled), lo["scale"], lo["margin"], lo["marginType"], lo["loss"])
        L.backward()
        out.update({
            "centers": W.detach().numpy(),
            "loss": np.array([float(L)]),
            "gradCenters": W.grad.numpy(),
        })
        for name, t in p.items():
            out["grad." + name] = t.grad.numpy()
        out["positives"] = pos.astype(np.uint32)
        out["sampled"] = np.array(sampled, np.uint32)
    write_np(case["expected"], out)


def load_dir(d):
    """A PyTorch user's load: config, every expected tensor and no other, any float dtype."""
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    kind = "clip" if cfg["model_type"].startswith("clip") else "mlcd"
    idx = os.path.join(d, "model.safetensors.index.json")
    files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) else ["model.safetensors"]
    p = {}
    for fn in files:
        raw = open(os.path.join(d, fn), "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
        if header.get("__metadata__", {}).get("format") != "pt":
            raise SystemExit(f"{fn}: no format=pt metadata (transformers refuses it)")
        for name, info in header.items():
            if name == "__metadata__":
                continue
            a, b = info["data_offsets"]
            buf = raw[8 + n + a:8 + n + b]
            if info["dtype"] == "F32":
                arr = torch.from_numpy(np.frombuffer(buf, np.float32).copy())
            elif info["dtype"] == "F16":
                arr = torch.from_numpy(np.frombuffer(buf, np.float16).copy())
            else:
                arr = torch.from_numpy(np.frombuffer(buf, np.int16).copy()).view(torch.bfloat16)
            p[name] = arr.reshape(info["shape"]).double()
    c = {k: cfg[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                             "num_channels", "image_size", "patch_size", "hidden_act", "layer_norm_eps")}
    proj = "visual_projection.weight" in p
    if proj:
        c["projection_dim"] = cfg["projection_dim"]
    want = param_shapes(kind, c, proj)
    if set(want) != set(p):
        raise SystemExit(f"state dict mismatch: missing {sorted(set(want) - set(p))[:3]}, unexpected {sorted(set(p) - set(want))[:3]}")
    for k, s in want.items():
        if list(p[k].shape) != s:
            raise SystemExit(f"{k}: shape {list(p[k].shape)}, expected {s}")
    return kind, c, p


def forward(d, io_path):
    kind, c, p = load_dir(d)
    io = read_safetensors(io_path)
    S = c["image_size"] if "S" not in io else int(io["S"][0])
    x = torch.from_numpy(io["x"].astype(np.float64))
    B = x.shape[0]
    side = int(round((x.shape[1] / c["num_channels"]) ** 0.5))
    y = pooled(kind, c, p, x.reshape(B, side, side, c["num_channels"]).permute(0, 3, 1, 2))
    print(json.dumps({"forward": rel(io["y"], y), "params": len(p), "kind": kind}))


def pil(cases):
    """transformers' CLIPImageProcessor steps: PIL resize, centre crop, rescale, normalise."""
    from PIL import Image
    for case in cases:
        im = Image.open(case["png"]).convert("RGB")
        p = dict(case["pp"])
        # transformers' get_size_dict: an integer size is the shortest edge, an integer crop a square
        if isinstance(p["size"], int):
            p["size"] = {"shortest_edge": p["size"]}
        if isinstance(p["crop_size"], int):
            p["crop_size"] = {"height": p["crop_size"], "width": p["crop_size"]}
        w, h = im.size
        if p["do_resize"]:
            if "shortest_edge" in p["size"]:
                s = p["size"]["shortest_edge"]
                short, long = (w, h) if w <= h else (h, w)
                ns, nl = s, int(s * long / short)
                oh, ow = (nl, ns) if w <= h else (ns, nl)
            else:
                oh, ow = p["size"]["height"], p["size"]["width"]
            im = im.resize((ow, oh), resample=Image.BILINEAR if p.get("resample", 3) == 2 else Image.BICUBIC)
        a = np.array(im)
        if p["do_center_crop"]:
            ch, cw = p["crop_size"]["height"], p["crop_size"]["width"]
            H, W = a.shape[:2]
            top, left = (H - ch) // 2, (W - cw) // 2
            if top >= 0 and left >= 0 and top + ch <= H and left + cw <= W:
                a = a[top:top + ch, left:left + cw]
            else:
                nh, nw = max(ch, H), max(cw, W)
                z = np.zeros((nh, nw, 3), a.dtype)
                tp, lp = math.ceil((nh - H) / 2), math.ceil((nw - W) / 2)
                z[tp:tp + H, lp:lp + W] = a
                top, left = top + tp, left + lp
                a = z[max(0, top):min(nh, top + ch), max(0, left):min(nw, left + cw)]
        x = (a.astype(np.float64) * p["rescale_factor"]).astype(np.float32)
        x = (x - np.array(p["image_mean"], np.float32)) / np.array(p["image_std"], np.float32)
        write_np(case["out"], {"x": x.astype(np.float32), "u8": a.astype(np.float32)})


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    cmd = sys.argv[1]
    if cmd == "make":
        for case in json.load(open(sys.argv[2])):
            make(case)
        print(json.dumps({"ok": True}))
    elif cmd == "forward":
        forward(sys.argv[2], sys.argv[3])
    elif cmd == "pil":
        pil(json.load(open(sys.argv[2])))
        print(json.dumps({"ok": True}))
    else:
        raise SystemExit(f"unknown command {cmd}")
