"""Distillation-recipe sweep for the cb_wbag Bi-LSTM student (PyTorch prototype of distill_lstm.py's recipe).

    PYTHONUNBUFFERED=1 python docs/experiments/distill_sweep_torch.py --out $OUT --hard_s 380 --workers 20     # on the GPU machine
    python docs/experiments/distill_sweep_torch.py --summarize DIR                                             # rebuild summary.md

Data: distill_data.json.gz beside this file (from benchmark_distill.py's cache, see distill_sweep.md) ("transfer" = 9,600 ChnSentiCorp train texts + 91,625 augmented copies,
"teacher_logits" = 3 teachers' logits on it, "train"/"dev"/"ood").  Student = student_sweep_torch.py's `cb_wbag`
(characters of text.lower() -> emb 200 -> BiLSTM 128 -> masked max+mean pooling, + mean bag (dim 64) of char 1-3-grams
and "w:"+words), vocabularies from the 9,600 training texts only.  "[MASK]" is one char token (the vocabulary's [MASK]),
never part of a bag n-gram, and dropped from the bag's words (as ernie_distill/models/features.py does).

Speed: the driver encodes every split once (multiprocessing), saves the arrays in /dev/shm, then runs every
(variant, seed) as its own process.  A process never syncs with the GPU inside a training step: one pinned host->device
copy per batch, and the Bi-LSTM runs as two unidirectional cuDNN LSTMs on the padded batch, the backward one on each
sequence reversed within its length -- exactly what a packed bidirectional LSTM computes (outputs at padded positions
are masked out by the pooling), without pack_padded_sequence's host round trips.
Dev picks the epoch; ood (online_shopping_dev) is only reported.
"""
import argparse
import gzip
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from collections import Counter

import numpy as np

from student_sweep_torch import length_bucketed_batches, paddle_default_init  # beside this file: as that sweep

HERE = os.path.dirname(os.path.abspath(__file__))
PAD, UNK, MASK = "[PAD]", "[UNK]", "[MASK]"
SPECIALS = (PAD, UNK, MASK)
MASK_CHAR = "\ue000"
N_ORIG = 9600

# student (cb_wbag) and training defaults
BASE = dict(max_len=200, min_freq=2, vocab_max=30000, bag_min=5, bag_max=55000, bag_chars=512,
            emb=200, hidden=128, bag_dim=64, dropout=0.3, word_dropout=0.1, bag_drop=0.1,
            lr=1e-3, weight_decay=0.01, clip=5.0, batch=32, epochs=3,
            data="all",            # all: transfer set | orig: the 9,600 labelled texts | half: orig + 50% of augmented
            loss="mse", alpha=0.0, T=1.0)
VARIANTS = {
    "v0_hard_e6":   dict(data="orig", loss="ce", epochs=6),           # hard-label baseline
    "v1_mse_e3":    dict(),                                            # the project's default
    "v2_mse_e5":    dict(epochs=5),
    "v3_mse_e2":    dict(epochs=2),
    "v4_mse_a05":   dict(alpha=0.5),
    "v5_kl_t2":     dict(loss="kl", T=2.0),
    "v6_kl_t1":     dict(loss="kl", T=1.0),
    "v7_mse_half":  dict(data="half"),
    "v8_mse_lr2":   dict(lr=2e-3),
    "v9_mse_bs64":  dict(batch=64),
    "v10_kl_t2_a05": dict(loss="kl", T=2.0, alpha=0.5),
}
# priority order (jobs start in this order; seeds 1-3 of a variant together)
ORDER = ["v1_mse_e3", "v0_hard_e6", "v4_mse_a05", "v5_kl_t2", "v6_kl_t1", "v2_mse_e5", "v3_mse_e2", "v8_mse_lr2",
         "v9_mse_bs64", "v7_mse_half", "v10_kl_t2_a05"]
SPLIT_NAMES = ("transfer", "dev", "ood")


# ---------------------------------------------------------------------------------------------------------------
# Features (as ernie_distill/models/features.py; vocabularies as student_sweep_torch.py's Vocab.build)
def build_vocab(token_lists, min_freq, max_size):
    counts = Counter(t for ts in token_lists for t in ts if t not in SPECIALS)
    ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
    return {t: i for i, t in enumerate(list(SPECIALS) + ranked[: max_size - len(SPECIALS)])}


def chars_of(text):
    return [c for c in text.replace(MASK, MASK_CHAR).lower() if not c.isspace()]


def char_units(text):
    return [MASK if c == MASK_CHAR else c for c in chars_of(text)]


def bag_of(text, words, max_chars=512):
    cs = "".join(chars_of(text))[:max_chars]
    bag = [cs[i: i + n] for n in (1, 2, 3) for i in range(len(cs) - n + 1) if MASK_CHAR not in cs[i: i + n]]
    return bag + ["w:" + w for w in words if w != MASK]


_V = {}


def _encode_chunk(args):
    texts, words = args
    cv, gv, max_len, max_chars = _V["chars"], _V["bag"], _V["max_len"], _V["bag_chars"]
    m = np.zeros((len(texts), max_len), dtype=np.int32)
    lens = np.zeros(len(texts), dtype=np.int64)
    blen = np.zeros(len(texts), dtype=np.int64)
    bags = []
    for r, (t, ws) in enumerate(zip(texts, words)):
        ids = [cv.get(u, 1) for u in char_units(t)[:max_len]] or [1]
        m[r, : len(ids)] = ids
        lens[r] = len(ids)
        b = [gv[g] for g in bag_of(t, ws, max_chars) if g in gv] or [1]
        blen[r] = len(b)
        bags.append(np.array(b, dtype=np.int32))
    return m, lens, blen, np.concatenate(bags)


def prepare(data_path, fdir, workers, tiny=0):
    t0 = time.time()
    with gzip.open(data_path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    if tiny:  # smoke test: the first `tiny` transfer rows only
        data["transfer"] = {k: v[:tiny] for k, v in data["transfer"].items()}
        data["teacher_logits"] = [t[:tiny] for t in data["teacher_logits"]]
    tr = data["transfer"]
    assert tr["text"][:N_ORIG] == data["train"]["text"] and tr["label"][:N_ORIG] == data["train"]["label"]
    cfg = BASE
    cv = build_vocab([char_units(t) for t in data["train"]["text"]], cfg["min_freq"], cfg["vocab_max"])
    gv = build_vocab([bag_of(t, w, cfg["bag_chars"]) for t, w in zip(data["train"]["text"], data["train"]["words"])],
                     cfg["bag_min"], cfg["bag_max"])
    _V.update(chars=cv, bag=gv, max_len=cfg["max_len"], bag_chars=cfg["bag_chars"])
    print(f"[prep] loaded + vocab {time.time()-t0:.1f}s: chars {len(cv)}, bag {len(gv)}", flush=True)
    os.makedirs(fdir, exist_ok=True)
    with mp.get_context("fork").Pool(workers) as pool:
        for s in SPLIT_NAMES:
            texts, words = data[s]["text"], data[s]["words"]
            step = max(1, -(-len(texts) // (workers * 4)))
            parts = pool.map(_encode_chunk, [(texts[i: i + step], words[i: i + step])
                                             for i in range(0, len(texts), step)])
            m = np.concatenate([p[0] for p in parts])
            lens = np.concatenate([p[1] for p in parts])
            blen = np.concatenate([p[2] for p in parts])
            bflat = np.concatenate([p[3] for p in parts])
            boff = np.concatenate([[0], np.cumsum(blen)]).astype(np.int64)
            assert boff[-1] == len(bflat)
            np.save(f"{fdir}/{s}_ids.npy", m)
            np.save(f"{fdir}/{s}_lens.npy", lens)
            np.save(f"{fdir}/{s}_boff.npy", boff)
            np.save(f"{fdir}/{s}_bflat.npy", bflat)
            np.save(f"{fdir}/{s}_y.npy", np.array(data[s]["label"], dtype=np.int64))
            print(f"[prep] {s}: {len(m)} rows, avg len {lens.mean():.1f}, avg bag {blen.mean():.1f}, "
                  f"max bag {blen.max()} ({time.time()-t0:.1f}s)", flush=True)
    teach = np.asarray(data["teacher_logits"], dtype=np.float32)
    assert teach.shape == (3, len(tr["text"]), 2), teach.shape
    np.save(f"{fdir}/teacher.npy", teach.mean(0))
    with open(f"{fdir}/info.json", "w") as f:
        json.dump({"vocab": len(cv), "bag_vocab": len(gv)}, f)
    print(f"[prep] done {time.time()-t0:.1f}s", flush=True)


class Split:
    def __init__(self, fdir, s):
        ld = lambda k: np.load(f"{fdir}/{s}_{k}.npy", mmap_mode="r")
        self.ids, self.lens, self.boff, self.bflat, self.y = ld("ids"), ld("lens"), ld("boff"), ld("bflat"), ld("y")
        self.blen = self.boff[1:] - self.boff[:-1]

    def batch(self, g, rng=None, word_dropout=0.0, bag_drop=0.0):
        """Rows g -> one int64 buffer [ids B*T | gids B*G | lens B | g B] and (B, T, G)."""
        L = self.lens[g]
        T = int(L.max())
        ids = self.ids[g, :T].astype(np.int64)
        gl = self.blen[g]
        G = int(gl.max())
        gids = np.zeros((len(g), G), dtype=np.int64)
        for r, row in enumerate(g):
            gids[r, : gl[r]] = self.bflat[self.boff[row]: self.boff[row + 1]]
        if rng is not None:  # same draws, in the same order, as student_sweep_torch.py
            if word_dropout:
                dropped = (rng.random(ids.shape) < word_dropout) & (ids != 0)
                ids = np.where(dropped, 1, ids)
            if bag_drop:
                gids = np.where(rng.random(gids.shape) < bag_drop, 0, gids)
        buf = np.concatenate([ids.ravel(), gids.ravel(), L.astype(np.int64), np.asarray(g, dtype=np.int64)])
        return buf, (len(g), T, G)


# ---------------------------------------------------------------------------------------------------------------
# One (variant, seed) job, in its own process
def run_job(name, seed, fdir, out, deadline):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(1)
    cfg = dict(BASE, **VARIANTS[name])
    t_start = time.time()
    info = json.load(open(f"{fdir}/info.json"))
    tr, dv, od = (Split(fdir, s) for s in SPLIT_NAMES)
    dev = torch.device("cuda")
    teacher = torch.from_numpy(np.load(f"{fdir}/teacher.npy")).to(dev)
    ylab = torch.from_numpy(np.array(tr.y)).to(dev)
    N = len(tr.lens)
    if cfg["data"] == "orig":
        pool = np.arange(N_ORIG)
    elif cfg["data"] == "half":
        aug = np.arange(N_ORIG, N)
        pool = np.concatenate([np.arange(N_ORIG), np.sort(np.random.default_rng(12345).choice(aug, len(aug) // 2,
                                                                                                replace=False))])
    else:
        pool = np.arange(N)
    lengths = tr.lens[pool]

    class Student(nn.Module):
        def __init__(self):
            super().__init__()
            E, H, D = cfg["emb"], cfg["hidden"], cfg["bag_dim"]
            self.emb = nn.Embedding(info["vocab"], E, padding_idx=0)
            self.fwd = nn.LSTM(E, H, batch_first=True)
            self.bwd = nn.LSTM(E, H, batch_first=True)
            self.gemb = nn.Embedding(info["bag_vocab"], D, padding_idx=0)
            self.hidden = nn.Linear(4 * H + D, H)
            self.cls = nn.Linear(H, 2)
            self.drop = nn.Dropout(cfg["dropout"])
            paddle_default_init(self)

        def forward(self, ids, gids, lens):
            B, T = ids.shape
            x = self.drop(self.emb(ids))
            t = torch.arange(T, device=ids.device)[None, :]
            valid = t < lens[:, None]
            rev = torch.where(valid, lens[:, None] - 1 - t, t)  # reverse within length; padding stays in place
            o_f, _ = self.fwd(x)
            o_r, _ = self.bwd(x.gather(1, rev[:, :, None].expand(-1, -1, x.shape[2])))
            o_b = o_r.gather(1, rev[:, :, None].expand(-1, -1, o_r.shape[2]))
            o = torch.cat([o_f, o_b], 2)
            mask = valid.unsqueeze(2).float()
            pmax = (o * mask - (1 - mask) * 1e4).max(1).values
            pmean = (o * mask).sum(1) / lens[:, None].float()
            gm = (gids != 0).float()
            g = (self.gemb(gids) * gm.unsqueeze(2)).sum(1) / gm.sum(1, keepdim=True).clamp(min=1.0)
            pooled = self.drop(torch.cat([pmax, pmean, g], 1))
            return self.cls(self.drop(F.relu(self.hidden(pooled))))

    torch.manual_seed(seed)
    np.random.seed(seed)
    model = Student().to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    steps_per_epoch = len(length_bucketed_batches(lengths, cfg["batch"], np.random.default_rng(0)))
    total = steps_per_epoch * cfg["epochs"]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"], eps=1e-8, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / total))

    def to_dev(split, g, rng=None):
        buf, (B, T, G) = split.batch(g, rng, cfg["word_dropout"] if rng is not None else 0.0,
                                     cfg["bag_drop"] if rng is not None else 0.0)
        d = torch.from_numpy(buf).pin_memory().to(dev, non_blocking=True)
        ids = d[: B * T].view(B, T)
        gids = d[B * T: B * T + B * G].view(B, G)
        lens = d[B * T + B * G: B * T + B * G + B]
        rows = d[B * T + B * G + B:]
        return ids, gids, lens, rows

    def loss_fn(logits, rows):
        y = ylab[rows]
        if cfg["loss"] == "ce":
            return F.cross_entropy(logits, y)
        t = teacher[rows]
        if cfg["loss"] == "mse":
            soft = F.mse_loss(logits, t)
        else:
            T = cfg["T"]
            soft = F.kl_div(F.log_softmax(logits / T, -1), F.softmax(t / T, -1), reduction="batchmean") * T * T
        if not cfg["alpha"]:
            return soft
        lab = (y >= 0).float()
        ce = F.cross_entropy(logits, y.clamp(min=0), reduction="none")
        hard = (ce * lab).sum() / lab.sum().clamp(min=1.0)
        return cfg["alpha"] * hard + (1 - cfg["alpha"]) * soft

    @torch.no_grad()
    def evaluate(split):
        model.eval()
        order = np.argsort(split.lens, kind="stable")
        preds = []
        for st in range(0, len(order), 256):
            g = order[st: st + 256]
            ids, gids, lens, _ = to_dev(split, g)
            preds.append(model(ids, gids, lens).argmax(1))
        pred = torch.cat(preds).cpu().numpy()
        model.train()
        return float((pred == split.y[order]).mean())

    hist, t0 = [], time.time()
    model.train()
    params = list(model.parameters())
    for epoch in range(1, cfg["epochs"] + 1):
        rng = np.random.default_rng(seed * 1000 + epoch)
        for b in length_bucketed_batches(lengths, cfg["batch"], rng):
            g = pool[np.asarray(b)]
            ids, gids, lens, rows = to_dev(tr, g, rng)
            loss = loss_fn(model(ids, gids, lens), rows)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg["clip"], foreach=True)
            opt.step()
            sched.step()
        da, oa = evaluate(dv), evaluate(od)
        hist.append((da, oa))
        with open(f"{out}/progress.jsonl", "a") as f:
            f.write(json.dumps({"name": name, "seed": seed, "epoch": epoch, "dev": da, "ood": oa,
                                "t": round(time.time() - t0, 1), "loss_last": float(loss.detach())}) + "\n")
        if time.time() > deadline:
            print(f"[job] {name} seed {seed}: deadline after epoch {epoch}", flush=True)
            return
    devs = [h[0] for h in hist]
    best = int(np.argmax(devs))  # first epoch with the highest dev accuracy
    r = {"name": name, "seed": seed, "dev": devs[best], "ood": hist[best][1], "best_epoch": best + 1,
         "dev_last": devs[-1], "ood_last": hist[-1][1], "hist": hist, "params": int(n_params), "steps": total,
         "train_s": round(time.time() - t0, 1), "job_s": round(time.time() - t_start, 1),
         "steps_per_s": round(total / (time.time() - t0), 1), "rows": int(len(pool))}
    with open(f"{out}/results.jsonl", "a") as f:
        f.write(json.dumps(r) + "\n")
    print(f"[job] {name} seed {seed}: dev {r['dev']:.4f} ood {r['ood']:.4f} ep {r['best_epoch']} "
          f"{r['train_s']}s {r['steps_per_s']} steps/s", flush=True)


# ---------------------------------------------------------------------------------------------------------------
def summarize(out):
    res = [json.loads(l) for l in open(f"{out}/results.jsonl")] if os.path.exists(f"{out}/results.jsonl") else []
    lines = ["| variant | recipe (diff from BASE) | dev mean ± sd | ood mean ± sd | best epochs | seeds | s/run | steps/s |",
             "|---|---|---|---|---|---|---|---|"]
    for n in ORDER:
        rs = sorted((r for r in res if r["name"] == n), key=lambda r: r["seed"])
        if not rs:
            lines.append(f"| {n} | {json.dumps(VARIANTS[n])} | not finished | | | 0 | | |")
            continue
        d, o = np.array([r["dev"] for r in rs]) * 100, np.array([r["ood"] for r in rs]) * 100
        lines.append(f"| {n} | {json.dumps(VARIANTS[n])} | {d.mean():.2f} ± {d.std():.2f} | {o.mean():.2f} ± "
                     f"{o.std():.2f} | {','.join(str(r['best_epoch']) for r in rs)} | "
                     f"{','.join(str(r['seed']) for r in rs)} | {np.mean([r['train_s'] for r in rs]):.0f} | "
                     f"{np.mean([r['steps_per_s'] for r in rs]):.0f} |")
    text = "\n".join(lines) + "\n(sd: population sd over seeds, ddof=0, as in docs/experiments/student_sweep.md)\n"
    with open(f"{out}/summary.md", "w") as f:
        f.write(text)
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.environ.get("OUT", os.path.join(HERE, "out")))
    ap.add_argument("--data", default=os.path.join(HERE, "distill_data.json.gz"))
    ap.add_argument("--fdir", default="/dev/shm/dexp")
    ap.add_argument("--variants", default=",".join(ORDER))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--workers", type=int, default=20, help="jobs at a time")
    ap.add_argument("--hard_s", type=float, default=380, help="kill everything this many seconds after start")
    ap.add_argument("--job", default="")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--deadline", type=float, default=0)
    ap.add_argument("--summarize", default="")
    ap.add_argument("--tiny", type=int, default=0, help="smoke test: first N transfer rows")
    ap.add_argument("--prep_only", action="store_true")
    a = ap.parse_args()
    if a.summarize:
        print(summarize(a.summarize))
        return
    if a.job:
        run_job(a.job, a.seed, a.fdir, a.out, a.deadline or time.time() + 1e9)
        return
    t0 = time.time()
    os.makedirs(a.out, exist_ok=True)
    prepare(a.data, a.fdir, min(16, os.cpu_count() or 4), a.tiny)
    if a.prep_only:
        return
    names = a.variants.split(",")
    jobs = [(n, int(s)) for n in names for s in a.seeds.split(",")]
    running, failed, done = {}, [], []
    hard = t0 + a.hard_s
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    while jobs or running:
        now = time.time()
        while jobs and len(running) < a.workers:
            n, s = jobs.pop(0)
            cmd = [sys.executable, os.path.abspath(__file__), "--job", n, "--seed", str(s), "--fdir", a.fdir,
                   "--out", a.out, "--deadline", str(hard - 5)]
            running[(n, s)] = (subprocess.Popen(cmd, env=env), now)
            print(f"[{now-t0:5.0f}s] start {n} seed {s}", flush=True)
        for k, (p, ts) in list(running.items()):
            rc = p.poll()
            if rc is not None:
                del running[k]
                (done if rc == 0 else failed).append(k)
                print(f"[{now-t0:5.0f}s] end {k} rc {rc} after {now-ts:.0f}s", flush=True)
        if len(failed) >= 3 and not done and not os.path.exists(f"{a.out}/progress.jsonl"):
            print("[driver] 3 jobs failed, none progressed: aborting", flush=True)
            break
        if now > hard:
            print("[driver] hard deadline: killing", [k for k in running], flush=True)
            break
        time.sleep(0.5)
    for k, (p, ts) in running.items():
        p.kill()
    print(summarize(a.out))
    print(f"[driver] total {time.time()-t0:.0f}s; failed {failed}; unfinished {list(running)}; not started {jobs}")


if __name__ == "__main__":
    main()
