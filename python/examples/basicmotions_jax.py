"""Train NonlinHRU inside a small JAX network on BasicMotions: the encoder, the blocks' linear
layers, layer norms, GLUs and the classifier are JAX; the recurrent layer of each block is the
hsc model, whose gradient is hsc's RHEL pass (hsc.jax.function). The network and the settings
are `hsc train`'s defaults (2 blocks, width 64, 40 epochs, batch 8, AdamW at 3e-3 with warm-up
and cosine decay, weight decay 0.01 on weight matrices, dropout 0.1, 20 % held out for
validation, the best validation epoch scored on the test set), so the accuracy can be compared
with `hsc train examples/nonlin_hru.ham --data examples/data/BasicMotions`.

Run from the repository root, with the wheel and jax installed:
    python3 python/examples/basicmotions_jax.py [--epochs 40] [--grad rhel] [--seed 0]
"""
import argparse
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

import hsc
import hsc.jax

jax.config.update("jax_enable_x64", True)
REPO = pathlib.Path(__file__).resolve().parents[2]
ap = argparse.ArgumentParser()
ap.add_argument("--data", default=str(REPO / "examples" / "data" / "BasicMotions"))
ap.add_argument("--epochs", type=int, default=40)
ap.add_argument("--grad", default="rhel", choices=["rhel", "tangent", "bptt"])
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--hidden", type=int, default=64)
ap.add_argument("--layers", type=int, default=2)
ap.add_argument("--lr", type=float, default=3e-3)
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--dropout", type=float, default=0.1)
args = ap.parse_args()


def read_ts(path):
    """A UEA `.ts` file of equal-length series: ([cases, steps, channels], labels, classes)."""
    classes, series, labels, data = None, [], [], False
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("@classlabel"):
            classes = line.split()[2:]
        elif line.lower() == "@data":
            data = True
        elif data:
            *dims, label = line.split(":")
            series.append([[float(v) for v in d.split(",")] for d in dims])
            labels.append(classes.index(label))
    return np.transpose(np.array(series), (0, 2, 1)), np.array(labels), classes


name = pathlib.Path(args.data).name
x_train, y_train, classes = read_ts(f"{args.data}/{name}_TRAIN.ts")
x_test, y_test, _ = read_ts(f"{args.data}/{name}_TEST.ts")
rng = np.random.default_rng(args.seed)
# A stratified 20 % of the training set held out for validation.
held = np.zeros(len(y_train), bool)
for c in range(len(classes)):
    idx = np.flatnonzero(y_train == c)
    held[rng.choice(idx, min(len(idx) - 1, round(0.2 * len(idx))), replace=False)] = True
x_val, y_val, x_train, y_train = x_train[held], y_train[held], x_train[~held], y_train[~held]
mean, std = x_train.mean(axis=(0, 1)), x_train.std(axis=(0, 1)) + 1e-8
x_train, x_val, x_test = [(x - mean) / std for x in (x_train, x_val, x_test)]

model = hsc.load(REPO / "examples" / "nonlin_hru.ham")
N = model.spec["inputs"][0]["shape"][0]
P = model.spec["states"][0]["shape"][0]
layer = hsc.jax.function(model, grad=args.grad, eps=0.05)
H, C = args.hidden, x_train.shape[2]
print(f"{name}: {len(y_train)} to train on, {len(y_val)} for validation, {len(y_test)} to test; "
      f"{args.layers} blocks of {model.name} (P {P}, N {N}) on hsc's {model.backend} backend, {args.grad} gradients")


def linear(key, n_in, n_out):
    k = 1 / np.sqrt(n_in)
    a, b = jax.random.split(key)
    return {"w": jax.random.uniform(a, (n_in, n_out), minval=-k, maxval=k),
            "b": jax.random.uniform(b, (n_out,), minval=-k, maxval=k)}


keys = iter(jax.random.split(jax.random.PRNGKey(args.seed), 64))
params = {"encoder": linear(next(keys), C, H), "classifier": linear(next(keys), H, len(classes)), "blocks": []}
for layer_index in range(args.layers):
    params["blocks"].append({
        "norm": {"gain": jnp.ones(H), "bias": jnp.zeros(H)},
        "in": linear(next(keys), H, N), "out": linear(next(keys), P, H),
        "skip": jax.random.normal(next(keys), (H,)),
        "glu1": linear(next(keys), H, H), "glu2": linear(next(keys), H, H),
        "model": {k: jnp.asarray(v) for k, v in model.init(args.seed + 1 + layer_index).items()},
    })


def apply(params, x, key=None):
    """Logits of a batch `[B, T, C]`; dropout when `key` is given."""
    def dropout(v, key):
        if key is None or args.dropout == 0:
            return v
        return jnp.where(jax.random.uniform(key, v.shape) < args.dropout, 0.0, v / (1 - args.dropout))

    h = x @ params["encoder"]["w"] + params["encoder"]["b"]
    for i, blk in enumerate(params["blocks"]):
        mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
        normed = (h - mu) / jnp.sqrt(var + 1e-5) * blk["norm"]["gain"] + blk["norm"]["bias"]
        u = normed @ blk["in"]["w"] + blk["in"]["b"]
        q = layer(blk["model"], {"u": u})["q"]
        y = q @ blk["out"]["w"] + blk["out"]["b"] + blk["skip"] * normed
        k1, k2 = (None, None) if key is None else jax.random.split(jax.random.fold_in(key, i))
        g = dropout(jax.nn.gelu(y, approximate=True), k1)
        glu = (g @ blk["glu1"]["w"] + blk["glu1"]["b"]) * jax.nn.sigmoid(g @ blk["glu2"]["w"] + blk["glu2"]["b"])
        h = h + dropout(glu, k2)
    return h.mean(axis=1) @ params["classifier"]["w"] + params["classifier"]["b"]


def loss_fn(params, x, y, key):
    logits = apply(params, x, key)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


grad_fn = jax.jit(jax.value_and_grad(loss_fn))
predict = jax.jit(lambda params, x: jnp.argmax(apply(params, x), axis=1))
# Weight decay on weight matrices only, as hsc train.
decay = jax.tree_util.tree_map_with_path(lambda path, v: getattr(path[-1], "key", None) == "w", params)
m_state = jax.tree_util.tree_map(jnp.zeros_like, params)
v_state = jax.tree_util.tree_map(jnp.zeros_like, params)
steps_per_epoch = -(-len(y_train) // args.batch)
total = args.epochs * steps_per_epoch
warmup = max(total // 20, 1)


def rate(step):
    if step < warmup:
        return args.lr * step / warmup
    t = min(step - warmup, total - warmup) / max(total - warmup, 1)
    return args.lr * (0.1 + 0.9 * (1 + np.cos(np.pi * t)) / 2)


def accuracy(params, x, y):
    return float(np.mean(np.asarray(predict(params, x)) == y))


best, best_params, step, start = -1.0, params, 0, time.perf_counter()
for epoch in range(args.epochs):
    order = rng.permutation(len(y_train))
    losses = []
    for i in range(0, len(order), args.batch):
        idx = order[i:i + args.batch]
        step += 1
        loss, grads = grad_fn(params, x_train[idx], y_train[idx], jax.random.PRNGKey(step))
        losses.append(float(loss))
        lr = rate(step)
        m_state = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m_state, grads)
        v_state = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v_state, grads)
        c1, c2 = 1 - 0.9 ** step, 1 - 0.999 ** step
        params = jax.tree_util.tree_map(
            lambda p, m, v, d: p * (1 - lr * 0.01 * d) - lr * (m / c1) / (jnp.sqrt(v / c2) + 1e-8),
            params, m_state, v_state, decay)
    val = accuracy(params, x_val, y_val)
    if val > best:
        best, best_params = val, params
    print(f"epoch {epoch + 1:3d}  loss {np.mean(losses):.4f}  validation accuracy {100 * val:5.1f} %")
test = accuracy(best_params, x_test, y_test)
print(f"test accuracy {100 * test:.1f} % (best validation {100 * best:.1f} %), {time.perf_counter() - start:.1f} s")
