"""Writes LongSines, a synthetic UEA-format classification set with long sequences, for timing
`hsc train` at about 1500 steps per sequence (no such set ships with hsc):

    python3 benches/cpu/long_sines.py OUT_DIR [--steps 1500] [--cases 40]

Three channels of noisy sines; the class (0, 1, 2) sets the frequency of the first channel
(0.010, 0.013, 0.016 cycles per step). Writes OUT_DIR/LongSines/LongSines_{TRAIN,TEST}.ts.
"""
import argparse
import math
import os
import random

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--steps", type=int, default=1500)
ap.add_argument("--cases", type=int, default=40)
args = ap.parse_args()
root = os.path.join(args.out, "LongSines")
os.makedirs(root, exist_ok=True)
for split, seed in (("TRAIN", 1), ("TEST", 2)):
    rng = random.Random(seed)
    lines = [
        "@problemName LongSines", "@timeStamps false", "@missing false", "@univariate false",
        "@dimensions 3", "@equalLength true", f"@seriesLength {args.steps}", "@classLabel true 0 1 2", "@data",
    ]
    for case in range(args.cases):
        label = case % 3
        freqs = (0.010 + 0.003 * label, 0.005 + 0.01 * rng.random(), 0.02 * rng.random())
        channels = []
        for f in freqs:
            phase = 2 * math.pi * rng.random()
            channels.append(",".join(
                f"{math.sin(2 * math.pi * f * t + phase) + 0.3 * rng.gauss(0, 1):.5f}" for t in range(args.steps)))
        lines.append(":".join(channels) + f":{label}")
    with open(os.path.join(root, f"LongSines_{split}.ts"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
