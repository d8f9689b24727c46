#!/usr/bin/env python3
"""Convert a PruneKit teacher cache (`prunekit teacher-cache --out DIR`) to Parquet in the column layout of
Axolotl's knowledge-distillation plugin (axolotl.integrations.kd), one row per sample:

  input_ids        list<int32>          [T]
  attention_mask   list<int8>           [T]     all 1 (samples are T tokens, no padding)
  labels           list<int64>          [T]     = input_ids (the trainer shifts for the next-token loss)
  target_token_ids list<list<int32>>    [T][K]  teacher's top-K ids for input_ids[j + 1]
  target_logprobs  list<list<float32>>  [T][K]  their log-probs at the cache's temperature
  target_mask      list<list<int8>>     [T][K]  1 where the row is a real target, 0 at the last position

Alignment (Axolotl's KD README, "Target alignment"): target_*[j] is the distribution over input_ids[j + 1];
the last row of every sequence is padding. Padded rows get log-prob -1e9 (a large negative value, as
Axolotl's collator uses, never -inf), ids 0 and mask 0. In the Axolotl config give the dataset's
`temperature:` as the cache's temperature (cache.json).

Usage: cache_to_parquet.py CACHE_DIR OUT.parquet [--rows-per-group 256]
"""
import argparse
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prunekit_cache import TeacherCache  # noqa: E402

PAD_LOGPROB = -1e9


def nested(values, dtype):
    """[n, T, K] numpy -> list<list<dtype>> array without Python loops."""
    n, t, k = values.shape
    inner = pa.ListArray.from_arrays(pa.array(np.arange(0, n * t * k + 1, k, dtype=np.int32)), pa.array(values.reshape(-1).astype(dtype)))
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * t + 1, t, dtype=np.int32)), inner)


def flat(values, dtype):
    n, t = values.shape
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * t + 1, t, dtype=np.int32)), pa.array(values.reshape(-1).astype(dtype)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cache")
    ap.add_argument("out")
    ap.add_argument("--rows-per-group", type=int, default=256)
    a = ap.parse_args()
    if a.rows_per_group < 1:
        ap.error(f"--rows-per-group must be >= 1, got {a.rows_per_group}")
    c = TeacherCache(a.cache)
    n, t, k = c.target_token_ids.shape
    mask = c.target_mask.astype(np.int8)
    lp = np.where(mask[..., None] == 1, c.target_logprobs, np.float32(PAD_LOGPROB)).astype(np.float32)
    ids = np.where(mask[..., None] == 1, c.target_token_ids, 0).astype(np.int32)
    table = pa.table({
        "input_ids": flat(c.input_ids, np.int32),
        "attention_mask": flat(np.ones((n, t), dtype=np.int8), np.int8),
        "labels": flat(c.input_ids, np.int64),
        "target_token_ids": nested(ids, np.int32),
        "target_logprobs": nested(lp, np.float32),
        "target_mask": nested(np.broadcast_to(mask[..., None], (n, t, k)), np.int8),
    })
    meta = {b"prunekit_teacher_cache": open(os.path.join(a.cache, "cache.json"), "rb").read()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **meta})
    # Written next to OUT and renamed into place: an interrupted run never leaves a partial file under OUT's name.
    partial = a.out + ".partial"
    try:
        pq.write_table(table, partial, row_group_size=a.rows_per_group)
        os.replace(partial, a.out)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    print(f"{a.out}: {n} rows x {t} tokens, K {k}, temperature {c.temperature} ({os.path.getsize(a.out):,} bytes)")


if __name__ == "__main__":
    try:
        main()
    except (OSError, ValueError, KeyError, pa.ArrowException) as e:
        # Unreadable or malformed cache files, an unwritable OUT: one line naming the file, not a traceback.
        name = getattr(e, "filename", None)
        sys.exit(f"error: {name + ': ' if name else ''}{e.strerror if isinstance(e, OSError) and e.strerror else e}")
