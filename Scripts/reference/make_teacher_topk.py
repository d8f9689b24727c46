#!/usr/bin/env python3
"""Reference for `prunekit teacher-cache`: transformers' top-K of log_softmax(logits / tau) on a model folder
(fp32, CPU), for the first samples of an {"input_ids": [...]} JSONL file.

Writes GOLDEN.safetensors with input_ids [N, T] I32 and, for every tau in --temperatures,
target_token_ids_tau{tau} [N, T, K] I32 and target_logprobs_tau{tau} [N, T, K] F32 (row j: the K most likely
tokens after position j), plus GOLDEN.json with the settings. Ties are broken by the lower token id
(a stable descending sort), which is PruneKit's rule; torch.topk leaves tie order unspecified, so the script
also reports whether topk and the stable sort agree on these ids.

Usage: make_teacher_topk.py MODEL_DIR IDS.jsonl GOLDEN.safetensors [--samples 2] [--len 32] [--k 16]
                            [--temperatures 1,2]
"""
import argparse, json

import torch
from safetensors.torch import save_file
from transformers import NemotronHForCausalLM


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("ids")
    ap.add_argument("out")
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--len", type=int, default=32)
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--temperatures", default="1,2")
    a = ap.parse_args()
    rows = [json.loads(l)["input_ids"] for l in open(a.ids) if l.strip()][: a.samples]
    x = torch.tensor([r[: a.len] for r in rows])
    model = NemotronHForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(input_ids=x).logits.float()  # [N, T, V]
    out = {"input_ids": x.to(torch.int32).contiguous()}
    meta = {"model": a.model, "ids": a.ids, "samples": a.samples, "len": a.len, "k": a.k, "temperatures": [],
            "torch": torch.__version__, "tie_rule": "lower id first (stable descending sort)"}
    for tau_s in a.temperatures.split(","):
        tau = float(tau_s)
        lp = torch.log_softmax(logits / tau, dim=-1)
        top = torch.topk(lp, a.k, dim=-1)
        sorted_lp, sorted_ids = torch.sort(lp, dim=-1, descending=True, stable=True)
        ids, vals = sorted_ids[..., : a.k], sorted_lp[..., : a.k]
        agree = bool(torch.equal(top.indices, ids))
        tag = tau_s.replace(".", "_")
        out[f"target_token_ids_tau{tag}"] = ids.to(torch.int32).contiguous()
        out[f"target_logprobs_tau{tag}"] = vals.contiguous()
        meta["temperatures"].append({"tau": tau, "tag": tag, "topk_equals_stable_sort": agree})
        print(f"tau {tau}: topk == stable sort: {agree}; top-1 logprob range {vals[..., 0].min():.4f}..{vals[..., 0].max():.4f}")
    save_file(out, a.out)
    json.dump(meta, open(a.out.replace(".safetensors", ".json"), "w"), indent=1)


if __name__ == "__main__":
    main()
