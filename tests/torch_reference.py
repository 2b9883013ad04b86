#!/usr/bin/env python3
"""Independent PyTorch references for tests/vit_torch_test.ts.

Reads safetensors files written by the toolkit (parsed by hand: torch 1.13 has no safetensors
package), rebuilds the model or loss with plain torch ops in float64, and prints one JSON object
of relative errors: max |toolkit - torch| / max |torch| per tensor.

  torch_reference.py vit  <weights.safetensors> <prefix> <io.safetensors> <spec-json>
  torch_reference.py loss <io.safetensors> <options-json> [<io> <options> ...]  (a JSON list)
"""
import json
import math
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "U32": np.uint32, "F64": np.float64, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(raw[base + a : base + b], dtype=DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"]).copy()
    return out


def rel(ours, ref):
    ours = np.asarray(ours, dtype=np.float64)
    ref = ref.detach().double().numpy() if torch.is_tensor(ref) else np.asarray(ref, np.float64)
    if ours.shape != ref.shape:
        raise SystemExit(f"shape mismatch {ours.shape} vs {ref.shape}")
    scale = max(float(np.max(np.abs(ref))), 1e-30)
    return float(np.max(np.abs(ours - ref))) / scale


class Vit(torch.nn.Module):
    """timm-layout ViT (pre-norm, class token, learned position embeddings) + projection."""

    def __init__(self, spec, weights, prefix):
        super().__init__()
        self.spec = spec
        self.p = torch.nn.ParameterDict()
        self.names = {}
        for name, arr in weights.items():
            if not name.startswith(prefix):
                continue
            short = name[len(prefix) :]
            key = short.replace(".", "__")
            t = torch.from_numpy(arr.astype(np.float64))
            # toolkit layouts -> torch layouts
            if short == "patch_embed.weight":  # [P, P, C, W] -> [W, C, P, P]
                t = t.permute(3, 2, 0, 1).contiguous()
            elif short.endswith(".weight") and t.dim() == 2:  # [in, out] -> [out, in]
                t = t.t().contiguous()
            self.p[key] = torch.nn.Parameter(t)
            self.names[key] = short

    def w(self, short):
        return self.p[short.replace(".", "__")]

    def forward(self, x):
        s = self.spec
        H, W, C = s["inputShape"]
        P, D, nh = s["patch"], s["width"], s["heads"]
        hd = D // nh
        B = x.shape[0]
        img = x.reshape(B, H, W, C).permute(0, 3, 1, 2)  # NCHW
        t = F.conv2d(img, self.w("patch_embed.weight"), self.w("patch_embed.bias"), stride=P)
        gh, gw = t.shape[2], t.shape[3]
        t = t.flatten(2).transpose(1, 2)  # [B, N, D]
        cls = self.w("cls_token").reshape(1, 1, D).expand(B, 1, D)
        h = torch.cat([cls, t], dim=1)
        pos = self.w("pos_embed")
        g0 = s["imageSize"] // P
        if (gh, gw) != (g0, g0):
            grid = pos[1:].reshape(1, g0, g0, D).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(gh, gw), mode="bilinear", align_corners=False)
            pos = torch.cat([pos[:1], grid.permute(0, 2, 3, 1).reshape(gh * gw, D)], dim=0)
        h = h + pos.unsqueeze(0)
        T = h.shape[1]
        eps = 1e-6
        for i in range(s["depth"]):
            b = f"blocks.{i}."
            y = F.layer_norm(h, (D,), self.w(b + "norm1.weight"), self.w(b + "norm1.bias"), eps)
            qkv = F.linear(y, self.w(b + "attn.qkv.weight"), self.w(b + "attn.qkv.bias"))
            qkv = qkv.reshape(B, T, 3, nh, hd).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd), dim=-1)
            ctx = (attn @ v).transpose(1, 2).reshape(B, T, D)
            h = h + F.linear(ctx, self.w(b + "attn.proj.weight"), self.w(b + "attn.proj.bias"))
            y = F.layer_norm(h, (D,), self.w(b + "norm2.weight"), self.w(b + "norm2.bias"), eps)
            y = F.gelu(F.linear(y, self.w(b + "mlp.fc1.weight"), self.w(b + "mlp.fc1.bias")))
            h = h + F.linear(y, self.w(b + "mlp.fc2.weight"), self.w(b + "mlp.fc2.bias"))
        h = F.layer_norm(h[:, 0], (D,), self.w("norm.weight"), self.w("norm.bias"), eps)
        return F.linear(h, self.w("proj.weight"))


def vit(weights_path, prefix, io_path, spec_json):
    spec = json.loads(spec_json)
    model = Vit(spec, read_safetensors(weights_path), prefix)
    io = read_safetensors(io_path)
    x = torch.from_numpy(io["x"].astype(np.float64))
    y = model(x)
    out = {"params": len(model.names), "forward": rel(io["y"], y)}
    if "R" in io:
        (y * torch.from_numpy(io["R"].astype(np.float64))).sum().backward()
        grads = {}
        for key, short in model.names.items():
            g = model.p[key].grad
            if g is None:
                raise SystemExit(f"no torch gradient for {short}")
            if short == "patch_embed.weight":
                g = g.permute(2, 3, 1, 0)
            elif short.endswith(".weight") and g.dim() == 2:
                g = g.t()
            grads[short] = rel(io["grad." + short], g)
        out["grads"] = grads
    print(json.dumps(out))


def mlcd_loss(E, W, positives, sampled, s, m, margin_type, kind):
    """The MLCD loss (README "The MLCD loss", paper Eq. 5) written directly in torch."""
    f = E / E.norm(dim=1, keepdim=True)
    w = W / W.norm(dim=1, keepdim=True)
    cos = f @ w[sampled].t()  # [n, S]
    n, S = cos.shape
    local = {int(c): j for j, c in enumerate(sampled.tolist())}
    losses = []
    cm, sm = math.cos(m), math.sin(m)
    for i in range(n):
        pos = [local[int(c)] for c in positives[i]]
        neg = [j for j in range(S) if j not in pos]
        cp = cos[i, pos]
        cn = cos[i, neg]
        if kind == "mlc":
            logits = torch.cat([s * cp, s * cn])
            losses.append(torch.logsumexp(logits, 0) - s * cp.mean())
            continue
        if margin_type == "cosine":
            phi = cp - m
        else:
            sin_t = torch.sqrt(torch.clamp(1 - cp * cp, min=1e-12))
            phi = torch.where(cp > -cm, cp * cm - sin_t * sm, cp - m * sm)
        lp = F.softplus(torch.logsumexp(-s * phi, 0))
        ln = F.softplus(torch.logsumexp(s * cn, 0)) if len(neg) else torch.zeros((), dtype=E.dtype)
        losses.append(lp + ln)
    return torch.stack(losses).mean()


def loss(io_path, options_json):
    """Errors of one toolkit loss evaluation against torch autograd."""
    o = json.loads(options_json)
    io = read_safetensors(io_path)
    E = torch.from_numpy(io["embeddings"].astype(np.float64)).requires_grad_(True)
    W = torch.from_numpy(io["centers"].astype(np.float64)).requires_grad_(True)
    L = mlcd_loss(
        E,
        W,
        io["positives"].astype(np.int64),
        torch.from_numpy(io["sampled"].astype(np.int64)),
        o["scale"],
        o["margin"],
        o["marginType"],
        o["loss"],
    )
    L.backward()
    out = {
        "loss": rel(io["loss"], L.reshape(1)),
        "gradEmbeddings": rel(io["gradEmbeddings"], E.grad),
        "gradCenters": rel(io["gradCenters"], W.grad),
        "torchLoss": float(L),
    }
    return out


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    if sys.argv[1] == "vit":
        vit(*sys.argv[2:6])
    elif sys.argv[1] == "loss":
        args = sys.argv[2:]
        print(json.dumps([loss(args[i], args[i + 1]) for i in range(0, len(args), 2)]))
    else:
        raise SystemExit(f"unknown command {sys.argv[1]}")
