#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (Tests/Fuzz/Corpus/<target>/) from the fixtures plus crafted
bad files. Standard library only. Rerun after a fixture format changes; the output is committed (a few KB a
target). Usage: python3 Tests/Fuzz/make-seeds.py"""
import json, os, struct, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "Fixtures")
OUT = os.path.join(HERE, "Corpus")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(*p):
    with open(os.path.join(FIX, *p), "rb") as f:
        return f.read()


def safetensors(entries, meta=None, pad=True, data=None):
    """entries: [(name, dtype, shape, nbytes)] laid out in order; returns the whole file."""
    h, off = {}, 0
    if meta is not None:
        h["__metadata__"] = meta
    for name, dtype, shape, n in entries:
        h[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + n]}
        off += n
    hb = json.dumps(h, separators=(",", ":")).encode()
    if pad:
        hb += b" " * ((8 - (8 + len(hb)) % 8) % 8)
    body = data if data is not None else bytes((i * 37) & 255 for i in range(off))
    return struct.pack("<Q", len(hb)) + hb + body


def main():
    shutil.rmtree(OUT, ignore_errors=True)

    # --- JSON reader
    for name, text in {
        "object": '{"a": 1, "b": [true, false, null], "c": {"d": "e\\u00e9\\ud83d\\ude00"}}',
        "numbers": '[0, -0, 1.5e-05, 1E+300, -12.25, 131072, 9223372036854775807, 1e999]',
        "nonfinite": '{"time_step_limit": [0.0, Infinity], "x": -Infinity, "y": NaN}',
        "escapes": '"\\b\\f\\n\\r\\t\\"\\\\\\/\\u0000\\u001f"',
        "dupkey": '{"a": 1, "a": 2}',
        "deep": "[" * 40 + "]" * 40,
        "bad-surrogate": '"\\ud800"',
        "trailing": '{"a": 1} x',
        "float-obj": '{"__float__": "Infinity"}',
    }.items():
        put("FuzzJSON", name, text)
    put("FuzzJSON", "config", read("nemo-tiny", "config.json"))
    put("FuzzJSON", "tokenizer_config", read("nemo-tiny", "tokenizer_config.json"))

    # --- safetensors files
    S = "FuzzSafetensorsHeader"
    put(S, "f32", safetensors([("a", "F32", [2, 3], 24), ("b", "BF16", [4], 8)], meta={"format": "pt"}))
    put(S, "empty-tensor", safetensors([("z", "F16", [0, 5], 0), ("w", "F16", [1], 2)]))
    put(S, "scalar", safetensors([("s", "F32", [], 4)]))
    put(S, "int-dtypes", safetensors([("i", "I64", [2], 16), ("u", "U8", [3], 3), ("f4", "F4", [2], 1)]))
    put(S, "no-tensors", safetensors([], meta={"k": "v"}))
    put(S, "gap", safetensors([("a", "F32", [1], 4)], data=b"\0" * 8))
    put(S, "overflow-shape", safetensors([("a", "F32", [4611686018427387904, 4], 4)]))
    put(S, "dup-name", struct.pack("<Q", 80) + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'[:80] + b"\0" * 8)
    put(S, "bad-length", struct.pack("<Q", 1 << 40) + b"{}")
    put(S, "short", b"\x02\0\0")
    put(S, "reserved", safetensors([("__metadata__", "F32", [1], 4)]))
    # A real header: the smallest fixture shard's tensor table with a zero-filled data section cut to fit.
    real = read("nemo-tiny-bf16-sharded", "model-00001-of-00003.safetensors")
    n = struct.unpack("<Q", real[:8])[0]
    hdr = json.loads(real[8:8 + n])
    small = [(k, v["dtype"], v["shape"], v["data_offsets"][1] - v["data_offsets"][0]) for k, v in hdr.items()
             if k != "__metadata__" and v["data_offsets"][1] - v["data_offsets"][0] <= 256][:6]
    put(S, "fixture-norms", safetensors(small, meta=hdr.get("__metadata__")))

    # --- sharded index
    I = "FuzzShardIndex"
    index = read("nemo-tiny-bf16-sharded", "model.safetensors.index.json")
    put(I, "fixture", index)
    idx = json.loads(index)
    wm = idx["weight_map"]
    first = next(iter(wm))
    for name, change in {
        "traversal": lambda m: m.__setitem__(first, "../decoy.safetensors"),
        "absolute": lambda m: m.__setitem__(first, "/etc/passwd"),
        "missing-tensor": lambda m: m.pop(first),
        "wrong-shard": lambda m: m.__setitem__(first, "model-00003-of-00003.safetensors" if m[first] != "model-00003-of-00003.safetensors" else "model-00001-of-00003.safetensors"),
        "extra-tensor": lambda m: m.__setitem__("backbone.extra.weight", "model-00001-of-00003.safetensors"),
        "config-as-shard": lambda m: m.__setitem__(first, "config.json"),
    }.items():
        m = dict(wm)
        change(m)
        put(I, name, json.dumps({"metadata": idx.get("metadata", {}), "weight_map": m}, indent=2))
    put(I, "no-map", '{"metadata": {}}')
    put(I, "empty-map", '{"weight_map": {}}')
    put(I, "non-string", '{"weight_map": {"a": 1}}')

    # --- config.json
    C = "FuzzConfig"
    for p in ["nemo-tiny/config.json", "configs/nemotron-nano-9b-v2/config.json", "configs/nemotron-nano-12b-v2/config.json",
              "configs/qwen3-8b-like/config.json"]:
        put(C, p.split("/")[-2], read(*p.split("/")))
    cfg = json.loads(read("nemo-tiny", "config.json"))
    def variant(name, **kv):
        c = dict(cfg)
        for k, v in kv.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        put(C, name, json.dumps(c, indent=2))
    variant("layers-block-type", hybrid_override_pattern=None, layers_block_type=["mamba", "full_attention", "mlp"], num_hidden_layers=3)
    variant("moe", hybrid_override_pattern="M*E")
    variant("huge-hidden", hidden_size=9223372036854775807)
    variant("huge-heads", mamba_num_heads=4611686018427387904, n_groups=1)
    variant("zero-heads", num_attention_heads=0)
    variant("float-size", hidden_size=64.0)
    variant("bad-kv", num_key_value_heads=3)
    put(C, "infinity", json.dumps(dict(cfg, time_step_limit=[0.0, float("inf")]), indent=2))

    # --- tokenizer: mode byte 0 = tokenizer.json, 1 = text for the fixture tokenizers
    T = "FuzzTokenizer"
    tok = json.loads(read("nemo-tiny", "tokenizer.json"))
    vocab = tok["model"]["vocab"]
    keep = {k: v for k, v in vocab.items() if v < 300}
    merges = [m for m in tok["model"]["merges"]
              if (m[0] if isinstance(m, list) else m.split(" ")[0]) in keep
              and (m[1] if isinstance(m, list) else m.split(" ")[1]) in keep
              and ("".join(m) if isinstance(m, list) else m.replace(" ", "")) in keep]
    small = dict(tok, model=dict(tok["model"], vocab=keep, merges=merges))
    put(T, "small-bytelevel", b"\0" + json.dumps(small, ensure_ascii=False).encode())
    split = json.loads(read("split-bpe", "tokenizer.json"))
    small2 = dict(split, model=dict(split["model"], vocab={k: v for k, v in split["model"]["vocab"].items() if v < 300}, merges=[]))
    put(T, "small-split", b"\0" + json.dumps(small2, ensure_ascii=False).encode())
    put(T, "normalizer", b"\0" + json.dumps(dict(small, normalizer={"type": "NFC"})).encode())
    put(T, "bad-merge", b"\0" + json.dumps(dict(small, model=dict(small["model"], merges=[["zz", "qq"]]))).encode())
    put(T, "bad-special-id", b"\0" + json.dumps(dict(small, post_processor=dict(tok["post_processor"], special_tokens={"<s>": {"id": "<s>", "ids": [99999], "tokens": ["<s>"]}}))).encode())
    for i, line in enumerate(read("split-bpe", "texts.jsonl").decode().splitlines()[:6]):
        put(T, f"text-{i}", b"\x01" + json.loads(line)["text"].encode())
    put(T, "text-special", b"\x01<s>Hello</s> <unk>\n\n  \t x\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80 '''s 1234567")
    put(T, "text-invalid-utf8", b"\x01abc\xff\xfe\xc3")

    # --- calibration: byte 0 = ext bit | (T-1) << 1
    K = "FuzzCalibration"
    calib = read("nemo-tiny", "calib.jsonl").decode().splitlines()
    put(K, "text-jsonl", bytes([0 | (7 << 1)]) + "\n".join(calib[:4]).encode() + b"\n")
    ids = read("nemo-tiny", "calib-ids.jsonl").decode().splitlines()
    put(K, "ids-jsonl", bytes([0 | (15 << 1)]) + "\n".join(l if len(l) < 400 else json.dumps({"input_ids": json.loads(l)["input_ids"][:40]}) for l in ids[:3]).encode())
    put(K, "plain-text", bytes([1 | (3 << 1)]) + b"first document\nline two\n\n  \nsecond document\n")
    put(K, "mixed", b"\0" + b'{"text": "a"}\n{"input_ids": [1, 2]}\n')
    put(K, "bad-id", b"\0" + b'{"input_ids": [1, -2, 4294967296]}\n')
    put(K, "big-id", b"\0" + b'{"input_ids": [1, 2, 99999]}\n')
    put(K, "empty-text", b"\0" + b'{"text": ""}\n')
    put(K, "blank", b"\0" + b"\n \n\t\n")
    put(K, "malformed", b"\0" + b'{"text": "a"\n')

    # --- recipe YAML
    R = "FuzzRecipe"
    put(R, "nemo-tiny", read("..", "..", "Searches", "nemo-tiny.yaml"))
    put(R, "nano-12b-to-9b", read("..", "..", "Searches", "nano-12b-to-9b.yaml"))
    base = "model: m\nhardware: a10g\n"
    for name, extra in {
        "minimal": "search_space: {num_layers: [1, 2]}\n",
        "range": "search_space:\n  hidden_size: {min: 256, max: 2048, step: 256}\n",
        "huge-range": "search_space:\n  hidden_size: {min: 1, max: 9223372036854775807, step: 1}\n",
        "snap-overflow": "search_space: {hidden_size: [9223372036854775807]}\n",
        "typo": "search_space: {hiden_size: [1]}\n",
        "params": "search_space: {num_layers: [1]}\nselection: params\n",
        "anchors": "search_space: &a {num_layers: [1]}\nsnap: *a\n",
        "negative": "search_space: {num_layers: [-1]}\nseed: -3\n",
        "budget": "search_space: {num_layers: [4]}\nbudget: {context: 0x7fffffffffffffff, batch: 1_000}\n",
    }.items():
        put(R, name, base + extra)
    put(R, "inline-hw", "model: m\nsearch_space: {num_layers: [2]}\nhardware: {name: x, memory_gib: .inf, memory_bandwidth_gbps: 1, bf16_dense_tflops: 1}\n")


main()
