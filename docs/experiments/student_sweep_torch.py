"""Torch sweep of Bi-LSTM student variants for ChnSentiCorp (hard labels), mirroring distill_lstm.py's recipe.

    PYTHONUNBUFFERED=1 python docs/experiments/student_sweep_torch.py --plan plan1 --workers 12 --limit_s 540 --out $OUT

Data: docs/experiments/data.json (prepare_sweep_data.py: raw texts, labels, jieba words of text.lower() with whitespace tokens dropped).
Vocabularies are built from train only. Dev picks the epoch; ood (online_shopping_dev) is only reported.
"""
import argparse
import json
import multiprocessing as mp
import os
import re
import time
from collections import Counter

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PAD, UNK, MASK = "[PAD]", "[UNK]", "[MASK]"
SPECIALS = (PAD, UNK, MASK)

# ---------------------------------------------------------------------------------------------------------------
# Variants: every key not given takes BASE's value.
BASE = dict(
    unit="word",          # word (jieba; OOV word -> its chars) | char (each non-space char of text.lower())
                          # | charw (a-z0-9 runs as one token, other non-space chars one each)
    max_len=128, min_freq=2, vocab_max=30000,
    emb=200, hidden=128, layers=1, mlp=None,          # mlp: hidden layer width (None: = hidden)
    bigram=None, bigram_emb=100, bigram_min=3, bigram_max=50000,   # bigram: None | concat | sum
    pool="maxmean",       # maxmean | max | attn | maxmeanattn
    bag=None, bag_dim=64, bag_n=(1, 3), bag_min=3, bag_max=80000, bag_chars=512, bag_drop=0.1,  # bag: None|concat|logit|only
    bag_pool="mean", bag_ln=False, bag_words=False,  # bag pooling: mean | meanmax | att | sqrt; words: add jieba words
    dropout=0.3, word_dropout=0.1, crop=0.0, label_smooth=0.0, ema=0.0,
    lr=1e-3, weight_decay=0.01, clip=5.0, batch=32, epochs=6,
)

V = {}


def var(name, **kw):
    V[name] = dict(BASE, **kw)


var("w_base")                                           # today's student
var("w_wd2_d5", word_dropout=0.2, dropout=0.5)
var("w_bag", bag="concat")
var("w_bag_logit", bag="logit")
var("c128", unit="char", max_len=128)
var("c200", unit="char", max_len=200)
var("c256", unit="char", max_len=256)
var("cw200", unit="charw", max_len=200)
var("c200_attn", unit="char", max_len=200, pool="attn")
var("c200_max", unit="char", max_len=200, pool="max")
var("c200_d5", unit="char", max_len=200, dropout=0.5)
var("c200_wd2", unit="char", max_len=200, word_dropout=0.2)
var("c200_e10", unit="char", max_len=200, epochs=10)
var("c200_lr2", unit="char", max_len=200, lr=2e-3)
var("c200_h192", unit="char", max_len=200, hidden=192)
var("c200_crop", unit="char", max_len=200, crop=0.5)
var("cb200", unit="char", max_len=200, bigram="concat")
var("cb200_sum", unit="char", max_len=200, bigram="sum", bigram_emb=200)
var("c200_bag", unit="char", max_len=200, bag="concat")
var("c200_bag_logit", unit="char", max_len=200, bag="logit")
var("cb200_bag", unit="char", max_len=200, bigram="concat", bag="concat")
var("bag_only", unit="char", max_len=8, bag="only")      # fastText-like reference, no LSTM (not a candidate)
var("c200_e100", unit="char", max_len=200, emb=100)
var("cb200_wd2_d5", unit="char", max_len=200, bigram="concat", word_dropout=0.2, dropout=0.5)
var("c200_bag32", unit="char", max_len=200, bag="concat", bag_dim=32)
var("c200_bag128", unit="char", max_len=200, bag="concat", bag_dim=128, bag_min=5)
var("cb200_b5e64", unit="char", max_len=200, bigram="concat", bigram_min=5, bigram_emb=64)
var("c200_2l", unit="char", max_len=200, layers=2)
var("c200_bs64", unit="char", max_len=200, batch=64, lr=2e-3)
var("cb200_bag_wd2_d5", unit="char", max_len=200, bigram="concat", bag="concat", word_dropout=0.2, dropout=0.5)
var("c200_mma", unit="char", max_len=200, pool="maxmeanattn")
var("c200_e8", unit="char", max_len=200, epochs=8)
var("cb200_bag_attn", unit="char", max_len=200, bigram="concat", bag="concat", pool="attn")
var("c200_bag_d5", unit="char", max_len=200, bag="concat", dropout=0.5, bag_drop=0.3)
var("cb200_crop", unit="char", max_len=200, bigram="concat", crop=0.5)
var("w_crop", crop=0.5)
# round 2: everything within 5M parameters
CB = dict(unit="char", max_len=200, bag="concat", bag_min=5, bag_max=55000, bag_dim=64)
var("cb5_64", **CB)
var("cb5_64_e4", **dict(CB, epochs=4))
var("cb5_64_lr2", **dict(CB, lr=2e-3))
var("cb5_64_bd3", **dict(CB, bag_drop=0.3))
var("wb5_32", emb=128, bag="concat", bag_min=5, bag_max=55000, bag_dim=32)
var("cb5_64_crop", **dict(CB, crop=0.5))
var("cb5_64_bag14", **dict(CB, bag_n=(1, 4)))
var("bag_only5_64", **dict(CB, bag="only", max_len=8))
var("cb5_64_mlp256", **dict(CB, mlp=256))
var("cb5_64_c128", **dict(CB, max_len=128))
var("cb5_64_d5", **dict(CB, dropout=0.5))
var("cb5_64_e4_lr2", **dict(CB, epochs=4, lr=2e-3))
# round 3
var("cb_mm", **dict(CB, bag_pool="meanmax"))
var("cb_ls", **dict(CB, label_smooth=0.1))
var("cb_ema", **dict(CB, ema=0.998))
var("cb_att", **dict(CB, bag_pool="att"))
var("cb_wbag", **dict(CB, bag_words=True))
var("cb_wd1", **dict(CB, weight_decay=0.1))
var("cb_h160", **dict(CB, hidden=160))
var("cb_ln", **dict(CB, bag_ln=True))
var("cb_sqrt", **dict(CB, bag_pool="sqrt"))
var("cb_bd3_e4", **dict(CB, bag_drop=0.3, epochs=4))
var("cb_bd3_ema", **dict(CB, bag_drop=0.3, ema=0.998))
var("cb_mm_bd3", **dict(CB, bag_pool="meanmax", bag_drop=0.3))
var("cb_wbag_bd3", **dict(CB, bag_words=True, bag_drop=0.3))
var("cb_b14_bd3", **dict(CB, bag_n=(1, 4), bag_drop=0.3))
var("cb_ls_ema_bd3", **dict(CB, label_smooth=0.1, ema=0.998, bag_drop=0.3))
var("cb_b32m3_bd3", unit="char", max_len=200, bag="concat", bag_dim=32, bag_drop=0.3)
var("cb_wd1_bd3", **dict(CB, weight_decay=0.1, bag_drop=0.3))
var("cb_mm_wbag_bd3", **dict(CB, bag_pool="meanmax", bag_words=True, bag_drop=0.3))
# round 4: combinations with the word+char bag
CBW = dict(CB, bag_words=True)
var("cb_wbag_ema", **dict(CBW, ema=0.998))
var("cb_wbag_h160", **dict(CBW, hidden=160))
var("cb_wbag_mm", **dict(CBW, bag_pool="meanmax"))
var("cb_wbag_d32m3", **dict(CBW, bag_dim=32, bag_min=3, bag_max=80000))

PLANS = {
    "plan4": ["cb_wbag_ema", "cb_wbag_h160", "cb_wbag_mm", "cb_wbag_d32m3"],
    "plan3": ["cb_mm", "cb_ls", "cb_ema", "cb_att", "cb_wbag", "cb_wd1", "cb_bd3_ema", "cb_mm_bd3", "cb_wbag_bd3",
              "cb_ln", "cb_sqrt", "cb_ls_ema_bd3", "cb_b14_bd3", "cb_bd3_e4", "cb_b32m3_bd3", "cb_h160",
              "cb_wd1_bd3", "cb_mm_wbag_bd3"],
    "plan2": ["cb5_64", "cb5_64_e4", "cb5_64_lr2", "cb5_64_bd3", "wb5_32", "cb5_64_crop", "cb5_64_bag14",
              "bag_only5_64", "c200_bag32", "cb5_64_mlp256", "cb5_64_c128", "cb5_64_d5", "cb5_64_e4_lr2"],
    "smoke": ["w_base", "cb200_bag", "c200_attn", "bag_only", "c200_crop", "c200_bag_logit"],
    "plan1": ["w_base", "c200", "cb200", "c200_bag", "cb200_bag", "w_bag", "c128", "c256", "cw200", "c200_attn",
              "c200_d5", "c200_wd2", "c200_e10", "c200_lr2", "c200_h192", "c200_crop", "cb200_sum",
              "c200_bag_logit", "w_bag_logit", "bag_only", "c200_max", "w_wd2_d5", "c200_e100", "cb200_wd2_d5",
              "c200_bag32", "c200_bag128", "cb200_b5e64", "c200_2l", "c200_bs64", "cb200_bag_wd2_d5", "c200_mma",
              "c200_e8", "cb200_bag_attn", "c200_bag_d5", "cb200_crop", "w_crop"],
}


# ---------------------------------------------------------------------------------------------------------------
# Features
class Vocab:
    def __init__(self, tokens):
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, token_lists, min_freq, max_size):
        counts = Counter(t for ts in token_lists for t in ts if t not in SPECIALS)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls(list(SPECIALS) + ranked[: max_size - len(SPECIALS)])

    def __len__(self):
        return len(self.tokens)


def units(text, unit):
    t = text.lower()
    if unit == "char":
        return [c for c in t if not c.isspace()]
    if unit == "charw":
        return re.findall(r"[a-z0-9]+|\S", t)
    raise ValueError(unit)


def encode_words(vocab, words, max_len):
    """distill_lstm.py's Vocab.encode: OOV word -> its chars (each char or [UNK])."""
    ids = []
    for w in words:
        if w in vocab.index:
            ids.append(vocab.index[w])
        else:
            ids.extend(vocab.index.get(ch, 1) for ch in w)
        if len(ids) >= max_len:
            break
    return ids[:max_len] or [1]


def bigrams(toks):
    return [toks[i] + "\t" + (toks[i + 1] if i + 1 < len(toks) else "</s>") for i in range(len(toks))]


def char_ngrams(text, n_lo, n_hi, max_chars):
    cs = "".join(c for c in text.lower() if not c.isspace())[:max_chars]
    return [cs[i : i + n] for n in range(n_lo, n_hi + 1) for i in range(len(cs) - n + 1)]


def pad_matrix(lists, width=None):
    lens = np.array([len(x) for x in lists], dtype=np.int64)
    width = width or int(lens.max())
    m = np.zeros((len(lists), width), dtype=np.int64)
    for r, x in enumerate(lists):
        m[r, : len(x)] = x[:width]
    return m, np.minimum(lens, width)


def build_features(data, cfg):
    """Per split: ids [N, W], lens [N], optional bigram ids [N, W], optional bag ids [N, G]; plus sizes."""
    out, info = {}, {}
    unit = cfg["unit"]
    if unit == "word":
        vocab = Vocab.build(data["train"]["words"], cfg["min_freq"], cfg["vocab_max"])
        seqs = {s: [encode_words(vocab, ws, cfg["max_len"]) for ws in data[s]["words"]] for s in data}
        full_toks = None
    else:
        full_toks = {s: [units(t, unit) for t in data[s]["text"]] for s in data}
        vocab = Vocab.build(full_toks["train"], cfg["min_freq"], cfg["vocab_max"])
        seqs = {s: [[vocab.index.get(t, 1) for t in ts[: cfg["max_len"]]] or [1] for ts in full_toks[s]] for s in data}
    info["vocab"] = len(vocab)
    bvocab = gvocab = None
    if cfg["bigram"]:
        assert full_toks is not None, "bigrams need a char unit"
        bvocab = Vocab.build([bigrams(ts) for ts in full_toks["train"]], cfg["bigram_min"], cfg["bigram_max"])
        info["bigram_vocab"] = len(bvocab)
    if cfg["bag"]:
        lo, hi = cfg["bag_n"]
        def bag_tokens(s, i):
            g = char_ngrams(data[s]["text"][i], lo, hi, cfg["bag_chars"])
            return g + ["w:" + w for w in data[s]["words"][i]] if cfg["bag_words"] else g
        gvocab = Vocab.build([bag_tokens("train", i) for i in range(len(data["train"]["text"]))],
                             cfg["bag_min"], cfg["bag_max"])
        info["bag_vocab"] = len(gvocab)
    for s in data:
        ids, lens = pad_matrix(seqs[s])
        d = {"ids": ids, "lens": lens, "y": np.array(data[s]["label"], dtype=np.int64)}
        if bvocab is not None:
            bl = [[bvocab.index.get(b, 1) for b in bigrams(ts)[: cfg["max_len"]]] or [1] for ts in full_toks[s]]
            d["bids"], _ = pad_matrix(bl, ids.shape[1])
        if gvocab is not None:
            gl = [[gvocab.index[g] for g in bag_tokens(s, i) if g in gvocab.index] or [1]
                  for i in range(len(data[s]["text"]))]
            d["gids"], _ = pad_matrix(gl)
        out[s] = d
    info["avg_len"] = {s: float(out[s]["lens"].mean()) for s in out}
    return out, info


# ---------------------------------------------------------------------------------------------------------------
# Model (torch imported lazily in workers)
def make_model(cfg, info):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Student(nn.Module):
        def __init__(self):
            super().__init__()
            H, E = cfg["hidden"], cfg["emb"]
            self.use_lstm = cfg["bag"] != "only"
            feat = 0
            if self.use_lstm:
                self.emb = nn.Embedding(info["vocab"], E, padding_idx=0)
                lstm_in = E
                if cfg["bigram"]:
                    self.bemb = nn.Embedding(info["bigram_vocab"], cfg["bigram_emb"], padding_idx=0)
                    if cfg["bigram"] == "concat":
                        lstm_in += cfg["bigram_emb"]
                    else:
                        assert cfg["bigram_emb"] == E
                self.lstm = nn.LSTM(lstm_in, H, cfg["layers"], batch_first=True, bidirectional=True,
                                    dropout=cfg["dropout"] if cfg["layers"] > 1 else 0.0)
                feat = {"maxmean": 4, "max": 2, "attn": 2, "maxmeanattn": 6}[cfg["pool"]] * H
                if "attn" in cfg["pool"]:
                    self.att1 = nn.Linear(2 * H, H)
                    self.att2 = nn.Linear(H, 1)
            if cfg["bag"]:
                self.gemb = nn.Embedding(info["bag_vocab"], cfg["bag_dim"], padding_idx=0)
                bd = cfg["bag_dim"] * (2 if cfg["bag_pool"] == "meanmax" else 1)
                if cfg["bag_pool"] == "att":
                    self.gatt = nn.Linear(cfg["bag_dim"], 1)
                if cfg["bag_ln"]:
                    self.gln = nn.LayerNorm(bd)
                if cfg["bag"] in ("concat", "only"):
                    feat += bd
                else:
                    self.glin = nn.Linear(cfg["bag_dim"], 2)
            M = cfg["mlp"] or H
            self.hidden = nn.Linear(feat, M)
            self.cls = nn.Linear(M, 2)
            self.drop = nn.Dropout(cfg["dropout"])
            paddle_default_init(self)
            if cfg["bag_pool"] == "att":
                nn.init.zeros_(self.gatt.weight)  # starts as the plain mean

        def forward(self, ids, lens, bids=None, gids=None):
            parts = []
            if self.use_lstm:
                x = self.emb(ids)
                if cfg["bigram"] == "concat":
                    x = torch.cat([x, self.bemb(bids)], -1)
                elif cfg["bigram"] == "sum":
                    x = x + self.bemb(bids)
                x = self.drop(x)
                T = ids.shape[1]
                packed = nn.utils.rnn.pack_padded_sequence(x, lens.cpu(), batch_first=True, enforce_sorted=False)
                o, _ = self.lstm(packed)
                o, _ = nn.utils.rnn.pad_packed_sequence(o, batch_first=True, total_length=T)
                mask = (torch.arange(T, device=ids.device)[None, :] < lens[:, None]).unsqueeze(2).float()
                if "max" in cfg["pool"]:
                    parts.append((o * mask - (1 - mask) * 1e4).max(1).values)
                if "mean" in cfg["pool"]:
                    parts.append((o * mask).sum(1) / lens[:, None].float())
                if "attn" in cfg["pool"]:
                    sc = self.att2(torch.tanh(self.att1(o))).squeeze(2) - (1 - mask.squeeze(2)) * 1e4
                    parts.append((torch.softmax(sc, 1).unsqueeze(2) * o).sum(1))
            g = None
            if cfg["bag"]:
                gm = (gids != 0).float()
                ge = self.gemb(gids)
                bp = cfg["bag_pool"]
                if bp == "att":
                    sc = self.gatt(ge).squeeze(2) - (1 - gm) * 1e4
                    g = (torch.softmax(sc, 1).unsqueeze(2) * ge).sum(1)
                elif bp == "sqrt":
                    g = (ge * gm.unsqueeze(2)).sum(1) / gm.sum(1, keepdim=True).clamp(min=1.0).sqrt()
                else:
                    g = (ge * gm.unsqueeze(2)).sum(1) / gm.sum(1, keepdim=True).clamp(min=1.0)
                    if bp == "meanmax":
                        g = torch.cat([g, (ge * gm.unsqueeze(2) - (1 - gm.unsqueeze(2)) * 1e4).max(1).values], 1)
                if cfg["bag_ln"]:
                    g = self.gln(g)
                if cfg["bag"] in ("concat", "only"):
                    parts.append(g)
            pooled = self.drop(torch.cat(parts, 1))
            logits = self.cls(self.drop(F.relu(self.hidden(pooled))))
            if cfg["bag"] == "logit":
                logits = logits + self.glin(self.drop(g))
            return logits

    return Student()


def lstm_flops_per_token(cfg):
    if cfg["bag"] == "only":
        return 0
    H, E = cfg["hidden"], cfg["emb"]
    if cfg["bigram"] == "concat":
        E += cfg["bigram_emb"]
    f, inp = 0, E
    for _ in range(cfg["layers"]):
        f += 2 * 4 * H * (inp + H)  # two directions, four gates
        inp = 2 * H
    return f


def paddle_default_init(module):
    """Paddle's defaults on a torch module: Xavier-uniform weights and zero biases; an LSTM keeps U(+-1/sqrt(H))."""
    import torch.nn as nn

    for m in module.modules():
        if isinstance(m, (nn.Embedding, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)


def length_bucketed_batches(lengths, batch_size, rng, window=50):
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), batch_size * window):
        chunk = sorted(order[start : start + batch_size * window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


_DATA, _FEATS = None, {}
FEAT_KEYS = ("unit", "max_len", "min_freq", "vocab_max", "bigram", "bigram_min", "bigram_max", "bag", "bag_n",
             "bag_min", "bag_max", "bag_chars", "bag_words")  # NB: calls 1-3 lacked bag_words here (cache bug)


def run_job(job):
    name, seed, deadline = job
    if time.time() > deadline:
        return {"name": name, "seed": seed, "skipped": True}
    import torch
    import torch.nn.functional as F

    global _DATA
    torch.set_num_threads(1)
    cfg = V[name]
    if _DATA is None:
        with open(os.path.join(HERE, "data.json"), encoding="utf-8") as f:
            _DATA = json.load(f)
        if os.environ.get("SWEEP_TINY"):
            _DATA = {k: {f: v[f][:200] for f in v} for k, v in _DATA.items()}
    fk = tuple(str(cfg[k]) if cfg["bag"] or not k.startswith("bag") else "" for k in FEAT_KEYS)
    if fk not in _FEATS:
        _FEATS[fk] = build_features(_DATA, cfg)
    feats, info = _FEATS[fk]
    t0 = time.time()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = make_model(cfg, info).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    tr = feats["train"]
    lengths = tr["lens"]
    steps_per_epoch = len(length_bucketed_batches(lengths, cfg["batch"], np.random.default_rng(0)))
    total = steps_per_epoch * cfg["epochs"]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"], eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / total))

    def batch_tensors(d, rows, rng=None):
        lens = d["lens"][rows].copy()
        W = int(lens.max())
        ids = d["ids"][rows, :W].copy()
        bids = d["bids"][rows, :W].copy() if "bids" in d else None
        gids = None
        if "gids" in d:
            gl = (d["gids"][rows] != 0).sum(1)
            gids = d["gids"][rows, : int(gl.max())].copy()
        if rng is not None:  # training augmentation
            if cfg["crop"]:
                for r in range(len(rows)):
                    L = int(lens[r])
                    if L > 8 and rng.random() < cfg["crop"]:
                        nl = int(rng.integers(max(8, L // 3), L + 1))
                        st = int(rng.integers(0, L - nl + 1))
                        ids[r, :nl] = ids[r, st : st + nl].copy()
                        ids[r, nl:] = 0
                        if bids is not None:
                            bids[r, :nl] = bids[r, st : st + nl].copy()
                            bids[r, nl:] = 0
                        lens[r] = nl
            if cfg["word_dropout"]:
                dropped = (rng.random(ids.shape) < cfg["word_dropout"]) & (ids != 0)
                ids = np.where(dropped, 1, ids)
                if bids is not None:
                    bids = np.where(dropped, 1, bids)
            if gids is not None and cfg["bag_drop"]:
                gids = np.where(rng.random(gids.shape) < cfg["bag_drop"], 0, gids)
        T = lambda a: None if a is None else torch.from_numpy(a).to(dev, non_blocking=True)
        return T(ids), T(lens), T(bids), T(gids)

    import copy
    ema_model = copy.deepcopy(model) if cfg["ema"] else None
    ema_src = list(model.parameters())
    ema_dst = list(ema_model.parameters()) if ema_model is not None else None
    step = [0]

    @torch.no_grad()
    def evaluate(d):
        m = ema_model if ema_model is not None else model
        m.eval()
        order = np.argsort(d["lens"], kind="stable")
        correct, pos = 0, 0
        for st in range(0, len(order), 256):
            rows = order[st : st + 256]
            pred = m(*batch_tensors(d, rows)).argmax(1).cpu().numpy()
            correct += int((pred == d["y"][rows]).sum())
            pos += int(pred.sum())
        model.train()
        return correct / len(order), pos / len(order)

    hist = []
    model.train()
    for epoch in range(1, cfg["epochs"] + 1):
        rng = np.random.default_rng(seed * 1000 + epoch)
        for rows in length_bucketed_batches(lengths, cfg["batch"], rng):
            rows = np.asarray(rows)
            logits = model(*batch_tensors(tr, rows, rng))
            loss = F.cross_entropy(logits, torch.from_numpy(tr["y"][rows]).to(dev), label_smoothing=cfg["label_smooth"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
            opt.step()
            sched.step()
            step[0] += 1
            if ema_model is not None:  # EMA of the weights (with the usual warm-up), evaluated instead of the raw ones
                with torch.no_grad():
                    dcy = min(cfg["ema"], (1 + step[0]) / (10 + step[0]))
                    torch._foreach_lerp_(ema_dst, ema_src, 1 - dcy)
        (da, _), (oa, op) = evaluate(feats["dev"]), evaluate(feats["ood"])
        hist.append((da, oa, op))
        if time.time() > deadline + float(os.environ.get("SWEEP_GRACE", 150)):
            break
    devs = [h[0] for h in hist]
    best = int(np.argmax(devs))  # first epoch with the highest dev accuracy
    return {"name": name, "seed": seed, "dev": devs[best], "ood": hist[best][1], "best_epoch": best + 1,
            "ood_last": hist[-1][1], "ood_pos_rate": hist[best][2], "dev_last": hist[-1][0], "hist": hist, "params": int(n_params),
            "avg_len": info["avg_len"]["train"], "avg_len_ood": info["avg_len"]["ood"],
            "vocab": {k: v for k, v in info.items() if k.endswith("vocab")},
            "flops_tok": lstm_flops_per_token(cfg), "train_s": round(time.time() - t0, 1), "epochs_run": len(hist)}


def summarize(results, path):
    base = next((r for r in results if r.get("name") == "w_base" and "dev" in r), None)
    b_len = base["avg_len"] if base else 60.0
    b_cost_tok = b_len * 128
    b_flops = b_len * lstm_flops_per_token(V["w_base"])
    names = list(dict.fromkeys(r["name"] for r in results if "dev" in r))
    lines = ["| variant | config (diff from w_base) | params | avg len (train/ood) | H | cost tok*H | cost flops | "
             "dev mean ± sd [min-max] | ood mean ± sd [min-max] | best epochs | n | s/run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    rows = []
    for n in names:
        rs = [r for r in results if r["name"] == n and "dev" in r]
        cfg = V[n]
        diff = {k: v for k, v in cfg.items() if BASE[k] != v}
        d = np.array([r["dev"] for r in rs]) * 100
        o = np.array([r["ood"] for r in rs]) * 100
        r0 = rs[0]
        ct = r0["avg_len"] * cfg["hidden"] * cfg["layers"] / b_cost_tok if cfg["bag"] != "only" else 0
        cf = r0["avg_len"] * r0["flops_tok"] / b_flops
        rows.append((d.mean(), f"| {n} | {json.dumps(diff, ensure_ascii=False)} | {r0['params']/1e6:.2f}M | "
                     f"{r0['avg_len']:.1f}/{r0['avg_len_ood']:.1f} | {cfg['hidden']} | {ct:.2f} | {cf:.2f} | "
                     f"{d.mean():.2f} ± {d.std():.2f} [{d.min():.2f}-{d.max():.2f}] | "
                     f"{o.mean():.2f} ± {o.std():.2f} [{o.min():.2f}-{o.max():.2f}] | "
                     f"{','.join(str(r['best_epoch']) for r in rs)} | {len(rs)} | "
                     f"{np.mean([r['train_s'] for r in rs]):.0f} |"))
    lines += [r[1] for r in sorted(rows, key=lambda x: -x[0])]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--plan", default="plan1")
    ap.add_argument("--variants", default="", help="comma list instead of --plan")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--extra", default="", help="more jobs: NAME:SEED,SEED;NAME:SEED")
    ap.add_argument("--workers", type=int, default=12)
    ap.add_argument("--limit_s", type=float, default=540, help="no new job starts after this many seconds")
    ap.add_argument("--out", default=os.environ.get("OUT", os.path.join(HERE, "out")))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    names = a.variants.split(",") if a.variants else PLANS[a.plan]
    for n in names:
        assert n in V, n
    seeds = [int(s) for s in a.seeds.split(",")]
    deadline = time.time() + a.limit_s
    jobs = [(n, s, deadline) for n in names for s in seeds]  # priority order: variant by variant
    for item in filter(None, a.extra.split(";")):
        n, ss = item.split(":")
        assert n in V, n
        jobs += [(n, int(x), deadline) for x in ss.split(",")]
    results, t0 = [], time.time()
    res_path = os.path.join(a.out, "results.jsonl")
    ctx = mp.get_context("spawn")
    with ctx.Pool(a.workers, maxtasksperchild=None) as pool, open(res_path, "a", encoding="utf-8") as f:
        for r in pool.imap_unordered(run_job, jobs):
            results.append(r)
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            f.flush()
            if "dev" in r:
                print(f"[{time.time()-t0:6.0f}s] {r['name']:16s} seed {r['seed']} dev {r['dev']:.4f} ood {r['ood']:.4f} "
                      f"ep {r['best_epoch']} {r['train_s']}s", flush=True)
            summarize(results, os.path.join(a.out, "summary.md"))
    print(summarize(results, os.path.join(a.out, "summary.md")))
    print("skipped:", [(r["name"], r["seed"]) for r in results if r.get("skipped")])
    print(f"total {time.time()-t0:.0f}s")


if __name__ == "__main__":
    main()
