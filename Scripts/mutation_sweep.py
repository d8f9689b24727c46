#!/usr/bin/env python3
"""Runs mutated configs, paths and data files through `prunekit inspect, cost, eval, score, tokenize, studies,
search --dry-run, prune --dry-run` and reports every run that ended by a signal (a trap) or with exit code 1
(an unexpected failure). Bad input must give exit 2 (or 3 for a database, 4 for nothing feasible, 64 for usage).

    python3 Scripts/mutation_sweep.py .build/debug/prunekit

Standard library only. Prints one line per failing case and a summary; exit 1 if any case failed.
"""
import json, os, shutil, signal, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "Tests/Fixtures/nemo-tiny")
CFG12 = os.path.join(ROOT, "Tests/Fixtures/configs/nemotron-nano-12b-v2/config.json")

SIZE_KEYS = ["hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads", "head_dim", "mamba_num_heads",
             "mamba_head_dim", "ssm_state_size", "n_groups", "conv_kernel", "vocab_size", "num_hidden_layers"]
SIZE_VALUES = [0, -1, 1, 2 ** 31, 2 ** 62, 2 ** 63 - 1, 1e15, 1.5, "12", None, [], {}, True, 1e308]
FLOAT_KEYS = ["layer_norm_epsilon", "time_step_min", "rms_norm_eps"]
FLOAT_VALUES = [-1e-5, 0, 1e308, "x", None, -1e308]
OTHER = [("hybrid_override_pattern", v) for v in ["", "X", "M" * 100000, 5, None, "E-*"]] + \
        [("layers_block_type", v) for v in [[], ["moe"], [1], "mlp"]] + \
        [("model_type", v) for v in ["llama", 3]] + [("tie_word_embeddings", v) for v in ["yes", 1]]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="prunekit-sweep-")
    failures, runs = [], 0

    def run(args, label):
        nonlocal runs
        runs += 1
        try:
            p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=120, cwd=work,
                               env=dict(os.environ, PRUNEKIT_PROGRESS_INTERVAL="60"))
        except subprocess.TimeoutExpired:
            failures.append(f"{label}: timeout: {args}")
            return
        code = p.returncode
        if code < 0 or code == 1 or code >= 128:
            kind = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
            tail = (p.stderr.strip().splitlines() or [""])[-1][:200]
            failures.append(f"{label}: {kind}: prunekit {' '.join(args)[:160]} :: {tail}")

    base12 = json.load(open(CFG12))
    tiny_cfg = json.load(open(os.path.join(TINY, "config.json")))

    # 1. Mutated configs through inspect, cost, search --dry-run (config alone) and, on a copy of the tiny
    #    model folder, eval / score / prune --dry-run (the weights then disagree with the config).
    mutations = [(k, v) for k in SIZE_KEYS for v in SIZE_VALUES] + [(k, v) for k in FLOAT_KEYS for v in FLOAT_VALUES] + OTHER
    tiny_copy = os.path.join(work, "tiny")
    shutil.copytree(TINY, tiny_copy)
    calib = os.path.join(TINY, "calib-ids.jsonl")
    for i, (k, v) in enumerate(mutations):
        c = dict(base12)
        c[k] = v
        path = os.path.join(work, f"cfg{i}.json")
        with open(path, "w") as f:
            json.dump(c, f)
        label = f"config {k}={str(v)[:20]}"
        run(["inspect", path], label)
        run(["cost", path], label)
        recipe = os.path.join(work, f"r{i}.yaml")
        with open(recipe, "w") as f:
            f.write(f"model: {path}\nhardware: a10g\nsearch_space:\n  hidden_size: [4096, 4480]\n  num_layers: [56]\n")
        run(["search", recipe, "--dry-run", "--db", os.path.join(work, "s.sqlite")], label)
        if i % 3 == 0:  # a third of them on the weights too (slower)
            t = dict(tiny_cfg)
            t[k] = v
            with open(os.path.join(tiny_copy, "config.json"), "w") as f:
                json.dump(t, f)
            run(["eval", tiny_copy, "--data", calib, "--samples", "1", "--seq-len", "8", "--quiet"], label)
            run(["score", tiny_copy, "--data", calib, "--samples", "1", "--seq-len", "8", "--layers", "none",
                 "--db", os.path.join(work, "m.sqlite"), "--quiet"], label)
            run(["prune", tiny_copy, os.path.join(work, "never"), "--hidden-size", "64", "--random-seed", "1", "--dry-run"], label)
    shutil.copy(os.path.join(TINY, "config.json"), os.path.join(tiny_copy, "config.json"))

    # 2. Paths and data files through eval, score, tokenize.
    fifo = os.path.join(work, "fifo")
    os.mkfifo(fifo)
    data = {"dir": work, "root": "/", "devnull": "/dev/null", "procmem": "/proc/self/mem", "missing": os.path.join(work, "nope.jsonl"),
            "fifo": fifo}
    contents = {
        "empty.jsonl": b"", "blank.txt": b"\n \n", "binary.bin": bytes(range(256)) * 4, "badutf8.jsonl": b"{\"text\": \"\xff\xfe\"}\n",
        "nested.jsonl": b"{\"input_ids\": [[1, 2], 3]}\n", "negative.jsonl": b"{\"input_ids\": [-1, 2]}\n",
        "huge.jsonl": b"{\"input_ids\": [1, 99999999999999999999]}\n", "bigid.jsonl": b"{\"input_ids\": [1, 2147483647]}\n",
        "vocab.jsonl": b"{\"input_ids\": [1, 1024]}\n", "floats.jsonl": b"{\"input_ids\": [1.5, 2]}\n", "emptyids.jsonl": b"{\"input_ids\": []}\n",
        "emptytext.jsonl": b"{\"text\": \"\"}\n", "onetoken.jsonl": b"{\"input_ids\": [5]}\n", "mixed.jsonl": b"{\"text\": \"a\"}\n{\"input_ids\": [1]}\n",
        "notobj.jsonl": b"[1, 2]\n", "text-number.jsonl": b"{\"text\": 5}\n", "deep.jsonl": b"[" * 100000 + b"]" * 100000 + b"\n",
        "nan.jsonl": b"{\"input_ids\": [NaN]}\n", "dup.jsonl": b"{\"text\": \"a\", \"text\": \"b\"}\n",
    }
    for name, blob in contents.items():
        p = os.path.join(work, name)
        with open(p, "wb") as f:
            f.write(blob)
        data[name] = p
    for label, path in data.items():
        for opts in [[], ["--samples", "2", "--seq-len", "8"], ["--seq-len", "-5"], ["--samples", "0"], ["--skip", "99"]]:
            run(["eval", TINY, "--data", path, "--quiet"] + opts, f"data {label}")
            run(["score", TINY, "--data", path, "--layers", "none", "--db", os.path.join(work, "d.sqlite"), "--quiet"] + opts, f"data {label}")
            run(["tokenize", TINY, "--data", path] + opts, f"data {label}")
        if path.startswith(work):  # never aim an output at a system path (renaming over /dev/null replaces it)
            run(["tokenize", TINY, "--data", calib, "--out", path], f"tokenize --out {label}")
            run(["eval", TINY, "--data", calib, "--samples", "1", "--seq-len", "8", "--logits-out", path, "--quiet"], f"eval --logits-out {label}")
        run(["inspect", path], f"inspect {label}")
        run(["cost", path], f"cost {label}")

    # 3. Databases: studies / leaderboard on files that are not databases.
    for label, path in list(data.items()) + [("new", os.path.join(work, "new.sqlite"))]:
        run(["studies", "--db", path], f"db {label}")
        run(["leaderboard", "--db", path], f"db {label}")

    # 4. Options with absurd values.
    for opts in [["--context", "-1"], ["--context", "99999999999999"], ["--batch", "1048576", "--context", "4294967296"],
                 ["--reserved-gib", "1e300"], ["--reserved-gib", "nan"], ["--framework-fraction", "2"], ["--dtype", "int4"],
                 ["--isl", "0"], ["--hardware", "tpu"], ["--compute-efficiency", "0"]]:
        run(["cost", CFG12] + opts, f"cost {' '.join(opts)}")
    for opts in [["--hidden-size", "-5"], ["--hidden-size", "99999999999"], ["--drop-layers", "1,1"], ["--drop-layers", "99"],
                 ["--max-shard-size", "0"], ["--max-shard-size", "1e30GB"], ["--dtype", "int8"], ["--num-layers", "0"]]:
        run(["prune", TINY, os.path.join(work, "never"), "--random-seed", "1", "--dry-run"] + opts, f"prune {' '.join(opts)}")

    shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print(f)
    print(f"{runs} runs, {len(failures)} ended by a signal or exit 1")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
