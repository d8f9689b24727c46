#!/usr/bin/env python3
"""Distil a student Hugging Face folder from a PruneKit teacher cache (offline knowledge distillation, CPU).

Loss: forward KL(teacher || student) on the teacher's stored top-K next-token distribution (the paper's KD
loss, arXiv 2508.14444 §4, restricted to what the cache holds). At position j the student's
log softmax(logits_j / tau) is gathered at the K cached ids. The probability mass outside the top K is
handled with --tail:
  bucket       (default) the teacher's remaining mass r_t = 1 - sum_k p_t(k) and the student's r_s =
               1 - sum_k q(k) are compared as one extra outcome "any other token":
               KL = sum_k p_t(k) log(p_t(k)/q(k)) + r_t log(r_t/r_s). This is the exact KL between the two
               distributions coarsened to K+1 outcomes (a lower bound of the full-vocabulary KL, zero only
               when the student matches the teacher's top K and its total tail mass).
  renormalize  both top-K slices are renormalised to sum to 1 and compared (Axolotl's kd_normalize_topk); the
               tail is ignored.
The loss is multiplied by tau^2 (Hinton et al.); --ce-weight adds the usual next-token cross-entropy.
Positions with target_mask 0 (the last of each sample) are ignored.

Evaluation on a held-out teacher cache (--heldout): the student's held-out next-token loss (nats/token,
cross-entropy on the held-out input_ids) and its KL to the teacher (the same top-K + tail-bucket KL at the
cache's tau, nats/token), before training, at every --budgets step count and at the end. One run with a
constant learning rate is evaluated at the intermediate budgets, so "loss after 50 steps" is the state of
the same run after its first 50 steps (same data order and seed for every student).

Writes the distilled student to --out (safetensors, config, tokenizer files and pruning.json copied, plus
distillation.json with the settings and the curve) and prints a table; --json writes the same record.

Usage:
  distill.py --student DIR --cache TRAIN_CACHE --heldout HELDOUT_CACHE --out DIR [--steps 400]
             [--budgets 0,25,50,100,200,400] [--batch 8] [--lr 1e-3] [--seed 0] [--tail bucket|renormalize]
             [--ce-weight 0] [--threads N] [--json FILE]
"""
import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prunekit_cache import TeacherCache  # noqa: E402


def topk_kl(student_logits, tgt_ids, tgt_lp, mask, tau, tail):
    """Mean forward KL(teacher || student) over masked positions, nats/token (before the tau^2 factor)."""
    s_lp = torch.log_softmax(student_logits.float() / tau, dim=-1)
    s_k = s_lp.gather(-1, tgt_ids)  # [B, T, K]
    if tail == "renormalize":
        t_n = tgt_lp - torch.logsumexp(tgt_lp, -1, keepdim=True)
        s_n = s_k - torch.logsumexp(s_k, -1, keepdim=True)
        kl = (t_n.exp() * (t_n - s_n)).sum(-1)
    else:
        p_t = tgt_lp.exp()
        kl = (p_t * (tgt_lp - s_k)).sum(-1)
        r_t = (1 - p_t.sum(-1)).clamp(min=0)
        log_r_s = torch.log((-torch.expm1(torch.logsumexp(s_k, -1).clamp(max=0))).clamp(min=1e-12))
        tail_term = r_t * (torch.log(r_t.clamp(min=1e-12)) - log_r_s)
        kl = kl + torch.where(r_t > 0, tail_term, torch.zeros_like(tail_term))
    m = mask.float()
    return (kl * m).sum() / m.sum().clamp(min=1)


def next_token_ce(logits, ids):
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1))


def tensors(cache, idx):
    return (torch.from_numpy(cache.input_ids[idx].astype(np.int64)), torch.from_numpy(cache.target_token_ids[idx].astype(np.int64)),
            torch.from_numpy(cache.target_logprobs[idx]), torch.from_numpy(cache.target_mask[idx]))


@torch.no_grad()
def evaluate(model, cache, batch, tail):
    model.eval()
    n = len(cache)
    ce_sum = kl_sum = 0.0
    tokens = positions = 0
    for s in range(0, n, batch):
        idx = np.arange(s, min(n, s + batch))
        ids, t_ids, t_lp, mask = tensors(cache, idx)
        logits = model(input_ids=ids).logits
        k = (ids.shape[1] - 1) * ids.shape[0]
        ce_sum += next_token_ce(logits, ids).item() * k
        tokens += k
        p = int(mask.sum())
        kl_sum += topk_kl(logits, t_ids, t_lp, mask, cache.temperature, "bucket").item() * p
        positions += p
    model.train()
    return ce_sum / tokens, kl_sum / positions


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--student", required=True, help="student Hugging Face folder (e.g. from `prunekit prune`)")
    ap.add_argument("--cache", required=True, help="training teacher cache (`prunekit teacher-cache --out`)")
    ap.add_argument("--heldout", required=True, help="held-out teacher cache (other text)")
    ap.add_argument("--out", required=True, help="folder for the distilled student")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--budgets", default="0,25,50,100,200,400", help="steps at which to evaluate (those <= --steps)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tail", choices=["bucket", "renormalize"], default="bucket")
    ap.add_argument("--ce-weight", type=float, default=0.0, help="weight of the next-token cross-entropy added to the KD loss")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--json", help="also write the record (settings and curve) to this file")
    a = ap.parse_args()
    if a.steps < 0 or a.batch <= 0 or not a.lr > 0:
        ap.error("--steps must be >= 0, --batch > 0 and --lr > 0")
    if os.path.abspath(a.out) == os.path.abspath(a.student):
        ap.error("--out must differ from --student (the input folder is never modified)")
    budgets = sorted({int(b) for b in a.budgets.split(",") if b.strip()} | {0, a.steps})
    budgets = [b for b in budgets if b <= a.steps]

    from transformers import AutoModelForCausalLM  # imported late so --help works without transformers
    import transformers

    torch.manual_seed(a.seed)
    if a.threads:
        torch.set_num_threads(a.threads)
    train, held = TeacherCache(a.cache), TeacherCache(a.heldout)
    for name, c in (("--cache", train), ("--heldout", held)):
        if c.manifest["teacher"]["fingerprint"] != train.manifest["teacher"]["fingerprint"]:
            sys.exit(f"error: {name} {c.path} was made with another teacher than --cache {train.path}")
    model = AutoModelForCausalLM.from_pretrained(a.student, dtype=torch.float32)
    vocab = model.config.vocab_size
    if vocab != train.manifest["teacher"]["vocab_size"]:
        sys.exit(f"error: the student's vocab_size {vocab} differs from the teacher's {train.manifest['teacher']['vocab_size']} ({a.cache}/cache.json)")
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=a.weight_decay)
    rng = np.random.default_rng(a.seed)
    order, pos = rng.permutation(len(train)), 0
    tau = train.temperature
    curve = []
    t0 = time.time()

    def record(step):
        loss, kl = evaluate(model, held, a.batch, a.tail)
        curve.append({"steps": step, "heldout_loss": loss, "kl_to_teacher": kl, "train_tokens": step * a.batch * train.input_ids.shape[1],
                      "seconds": time.time() - t0})
        print(f"  step {step:5d}: held-out loss {loss:.4f} nats/token, KL to teacher {kl:.4f} nats/token", flush=True)

    print(f"{a.student}: {sum(p.numel() for p in model.parameters()):,} parameters; train cache {len(train)} x {train.input_ids.shape[1]} tokens "
          f"(K {train.top_k}, tau {tau}); held-out cache {len(held)} x {held.input_ids.shape[1]}; {a.steps} steps of {a.batch} samples, "
          f"lr {a.lr}, seed {a.seed}, tail {a.tail}", flush=True)
    if 0 in budgets:
        record(0)
    for step in range(1, a.steps + 1):
        if pos + a.batch > len(order):
            order, pos = rng.permutation(len(train)), 0
        idx = np.sort(order[pos:pos + a.batch])
        pos += a.batch
        ids, t_ids, t_lp, mask = tensors(train, idx)
        logits = model(input_ids=ids).logits
        loss = topk_kl(logits, t_ids, t_lp, mask, tau, a.tail) * tau * tau
        if a.ce_weight:
            loss = loss + a.ce_weight * next_token_ce(logits, ids)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step in budgets:
            record(step)
    seconds = time.time() - t0

    os.makedirs(a.out, exist_ok=True)
    model.save_pretrained(a.out, safe_serialization=True)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "pruning.json"):
        if os.path.exists(os.path.join(a.student, f)) and not os.path.exists(os.path.join(a.out, f)):
            shutil.copy(os.path.join(a.student, f), os.path.join(a.out, f))
    rec = {"student": a.student, "out": a.out, "teacher": train.manifest["teacher"], "train_cache": a.cache, "heldout_cache": a.heldout,
           "train_data_fingerprint": train.manifest["data"]["ids_fingerprint"], "heldout_data_fingerprint": held.manifest["data"]["ids_fingerprint"],
           "top_k": train.top_k, "temperature": tau, "tail": a.tail, "ce_weight": a.ce_weight, "steps": a.steps, "batch": a.batch,
           "seq_len": int(train.input_ids.shape[1]), "lr": a.lr, "seed": a.seed, "optimizer": "AdamW(0.9, 0.95), constant lr, grad clip 1.0",
           "seconds": seconds, "torch": torch.__version__, "transformers": transformers.__version__, "curve": curve,
           "before": curve[0] if curve and curve[0]["steps"] == 0 else None, "after": curve[-1] if curve else None}
    json.dump(rec, open(os.path.join(a.out, "distillation.json"), "w"), indent=1)
    if a.json:
        json.dump(rec, open(a.json, "w"), indent=1)
    if rec["before"] and rec["after"]:
        b, f = rec["before"], rec["after"]
        print(f"{a.out}: held-out loss {b['heldout_loss']:.4f} -> {f['heldout_loss']:.4f}, KL to teacher {b['kl_to_teacher']:.4f} -> "
              f"{f['kl_to_teacher']:.4f} after {a.steps} steps ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
