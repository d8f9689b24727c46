"""Reader of a PruneKit teacher cache (`prunekit teacher-cache`): cache.json + safetensors shards.

Tensors per shard (n samples, T tokens, K kept tokens):
  input_ids        [n, T]    int32
  target_token_ids [n, T, K] int32   row j: the teacher's top-K tokens for input_ids[j + 1], most likely first
  target_logprobs  [n, T, K] f16|f32 log softmax(teacher logits / temperature) of those tokens
  target_mask      [n, T]    int32   1 for j < T - 1; 0 at the last position (its ids/log-probs are 0)
"""
import json
import os

import numpy as np
from safetensors.numpy import load_file


class TeacherCache:
    """All shards of a complete cache, concatenated (numpy arrays)."""

    def __init__(self, path):
        self.path = path
        manifest_path = os.path.join(path, "cache.json")
        if not os.path.exists(manifest_path):
            raise SystemExit(f"error: {manifest_path}: no such file (is {path} a `prunekit teacher-cache --out` folder?)")
        try:
            with open(manifest_path) as fh:
                self.manifest = json.load(fh)
        except (OSError, ValueError) as e:
            raise SystemExit(f"error: {manifest_path}: cannot read the cache manifest: {e}")
        if not isinstance(self.manifest, dict):
            raise SystemExit(f"error: {manifest_path}: expected a JSON object")
        if self.manifest.get("format") != "prunekit-teacher-topk":
            raise SystemExit(f"error: {manifest_path}: format {self.manifest.get('format')!r}, expected 'prunekit-teacher-topk'")
        if not self.manifest.get("complete"):
            raise SystemExit(f"error: {manifest_path}: the cache is incomplete (rerun the same `prunekit teacher-cache` command to finish it)")
        parts = {k: [] for k in ("input_ids", "target_token_ids", "target_logprobs", "target_mask")}
        for shard in self.manifest["shards"]:
            f = os.path.join(path, shard["file"])
            try:
                t = load_file(f)
            except Exception as e:  # safetensors raises its own SafetensorError, OSError for a missing file
                raise SystemExit(f"error: {f}: cannot read the shard: {e}")
            for k in parts:
                if k not in t:
                    raise SystemExit(f"error: {f}: tensor {k!r} missing")
                parts[k].append(t[k])
        self.input_ids = np.concatenate(parts["input_ids"])
        self.target_token_ids = np.concatenate(parts["target_token_ids"])
        self.target_logprobs = np.concatenate(parts["target_logprobs"]).astype(np.float32)
        self.target_mask = np.concatenate(parts["target_mask"])
        self.temperature = float(self.manifest["temperature"])
        self.top_k = int(self.manifest["top_k"])
        n, t = self.input_ids.shape
        if self.target_token_ids.shape != (n, t, self.top_k):
            raise SystemExit(f"error: {path}: target_token_ids has shape {self.target_token_ids.shape}, expected {(n, t, self.top_k)}")

    def __len__(self):
        return self.input_ids.shape[0]
