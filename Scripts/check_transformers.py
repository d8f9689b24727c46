#!/usr/bin/env python3
"""Interop check of a pruned folder written by `prunekit prune`: transformers must load it and agree with
PruneKit's logits.

Loads OUT_DIR with NemotronHForCausalLM.from_pretrained(OUT_DIR, torch_dtype=torch.float32) (fp32, CPU,
transformers' default dt floor on, as the fixtures' goldens were made), runs it on the ids, and compares its
logits to a PruneKit logits file (`logits` [N, T, V] F32, `input_ids` [N, T] I32). Passes when
max |difference| <= tol * max(1, max |logits|) (default tol 1e-4).

Usage:
  check_transformers.py OUT_DIR --logits FILE.safetensors       # ids taken from the file's input_ids
  check_transformers.py OUT_DIR --ids FILE.jsonl [--logits F]   # {"input_ids": [...]} per line; without
                                                                # --logits only checks loading and prints
Exit codes: 0 agree, 1 mismatch, 2 bad input or load failure.
"""
import argparse, json, sys

import torch
from safetensors.torch import load_file
import transformers
from transformers import NemotronHForCausalLM


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--ids", help="JSONL of {\"input_ids\": [...]} (default: input_ids of --logits)")
    ap.add_argument("--logits", help="PruneKit logits safetensors: logits [N,T,V] F32, input_ids [N,T] I32")
    ap.add_argument("--len", type=int, default=None, help="truncate --ids samples to this many tokens")
    ap.add_argument("--tol", type=float, default=1e-4, help="relative tolerance (times max(1, max |logits|))")
    a = ap.parse_args()
    if not a.ids and not a.logits:
        ap.error("give --logits, --ids or both")

    ref = load_file(a.logits) if a.logits else None
    if a.ids:
        samples = [json.loads(l)["input_ids"] for l in open(a.ids) if l.strip()]
        if a.len:
            samples = [s[:a.len] for s in samples]
        if ref is not None:
            n, t = ref["input_ids"].shape
            samples = [s[:t] for s in samples[:n]]
            if torch.tensor(samples, dtype=torch.int32).tolist() != ref["input_ids"].tolist():
                print(f"error: --ids do not match input_ids of {a.logits}", file=sys.stderr)
                return 2
    else:
        samples = ref["input_ids"].long().tolist()

    try:
        model = NemotronHForCausalLM.from_pretrained(a.out_dir, torch_dtype=torch.float32).eval()
    except Exception as e:  # noqa: BLE001 - report any load failure as bad input
        print(f"error: transformers {transformers.__version__} cannot load {a.out_dir}: {e}", file=sys.stderr)
        return 2
    cfg = model.config
    print(f"{a.out_dir}: transformers {transformers.__version__}, torch {torch.__version__}; "
          f"{sum(p.numel() for p in model.parameters())} parameters, hidden {cfg.hidden_size}, "
          f"layers {cfg.num_hidden_layers}, mamba heads {cfg.mamba_num_heads} x {cfg.mamba_head_dim}, "
          f"attention heads {cfg.num_attention_heads}")
    outs = []
    with torch.no_grad():
        for s in samples:  # one sequence at a time, unpadded
            # use_cache=False: transformers 5.24 cannot build its cache for a model with no attention layers
            outs.append(model(input_ids=torch.tensor([s]), use_cache=False).logits[0].float())
    # Mean next-token loss in transformers on the same ids (nats/token), comparable with `prunekit eval`.
    nll, count = 0.0, 0
    for s, lg in zip(samples, outs):
        if len(s) > 1:
            nll += torch.nn.functional.cross_entropy(lg[:-1], torch.tensor(s[1:]), reduction="sum").item()
            count += len(s) - 1
    if count:
        print(f"transformers loss {nll / count:.4f} nats/token over {count} predicted tokens")
    if ref is None:
        print(f"loaded and ran {len(samples)} samples; no --logits to compare")
        return 0
    mine = ref["logits"].float()
    theirs = torch.stack(outs)
    if mine.shape != theirs.shape:
        print(f"error: logits shape {tuple(mine.shape)} in {a.logits}, transformers gives {tuple(theirs.shape)}", file=sys.stderr)
        return 1
    diff = (mine - theirs).abs()
    scale = max(1.0, theirs.abs().max().item())
    worst = diff.max().item()
    print(f"logits {tuple(theirs.shape)}: max |diff| {worst:.3e}, mean |diff| {diff.mean().item():.3e}, "
          f"max |logit| {theirs.abs().max().item():.3f}, relative {worst / scale:.3e} (tol {a.tol:g})")
    if worst > a.tol * scale:
        print("MISMATCH", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
