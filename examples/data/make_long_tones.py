"""Writes a long-sequence classification set in the UEA/UCR `.ts` format: each univariate
series is a tone of one of two periods (100 or 300 steps, random phase and amplitude
0.5 to 1) buried in Gaussian noise of standard deviation 1; the class is the period. No
single step tells the classes apart: a model has to integrate over thousands of steps.

    python3 examples/data/make_long_tones.py OUT_DIR [STEPS] [CASES]

writes OUT_DIR/LongTones_TRAIN.ts and OUT_DIR/LongTones_TEST.ts (default 10000 steps, 40
cases each, seeded).
"""

import math
import os
import random
import sys

PERIODS = {"p100": 100.0, "p300": 300.0}


def write(path, cases, steps, rng):
    with open(path, "w") as f:
        f.write("@problemName LongTones\n@timeStamps false\n@missing false\n@univariate true\n")
        f.write(f"@equalLength true\n@seriesLength {steps}\n@classLabel true p100 p300\n@data\n")
        for i in range(cases):
            label = "p300" if i % 2 else "p100"
            period = PERIODS[label]
            phase = rng.uniform(0, 2 * math.pi)
            amplitude = rng.uniform(0.5, 1.0)
            values = (
                amplitude * math.sin(2 * math.pi * t / period + phase) + rng.gauss(0, 1) for t in range(steps)
            )
            f.write(",".join(f"{v:.3f}" for v in values) + f":{label}\n")


def main():
    out = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    cases = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    os.makedirs(out, exist_ok=True)
    rng = random.Random(7)
    write(os.path.join(out, "LongTones_TRAIN.ts"), cases, steps, rng)
    write(os.path.join(out, "LongTones_TEST.ts"), cases, steps, rng)


if __name__ == "__main__":
    main()
