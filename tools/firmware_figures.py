"""Cortex-M figures for the closing note: for each model (MNIST CNN, PP-OCR text-direction
classifier, and MLPerf Tiny ResNet-8 when ../shared/models/resnet8 is present) run
tools/firmware-run on a Cortex-M4 with the DSP kernels and with the plain kernels, and print
flash, static RAM, arena (with the planner's lower bound), peak stack and instructions per
inference side by side, plus the ResNet-8 race against TFLite Micro + CMSIS-NN.

Every run also checks the firmware's output bytes against `mote run` on the host; the script
exits non-zero if any run fails. The figures themselves are reported, not asserted.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, "models", "cache")
OUT = os.path.join(ROOT, "target", "firmware-models")
RESNET8 = os.path.normpath(os.path.join(ROOT, "..", "shared", "models", "resnet8"))
MOTE = os.path.join(ROOT, "target", "debug", "mote")
# TFLite Micro + CMSIS-NN on the same network and QEMU machine (../shared/models/resnet8/README.md)
TFLM = {"instructions": 29_864_932, "arena_bytes": 54_996, "code_bytes": 52_264}


def quantize(name, onnx, calib, *extra):
    model = os.path.join(OUT, f"{name}.mote")
    side = model + ".json"
    if not (os.path.exists(side) and os.path.getmtime(model) >= os.path.getmtime(onnx)):
        r = subprocess.run([MOTE, "quantize", onnx, "--calib", calib, "-o", model, *extra],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"firmware-figures: quantizing {onnx} failed:\n{r.stderr}")
        m = re.search(r"arena (\d+) bytes \(lower bound (\d+)\)", r.stdout)
        json.dump({"arena": int(m.group(1)), "lower_bound": int(m.group(2))}, open(side, "w"))
    return model, json.load(open(side))


def models():
    yield ("mnist", *quantize("mnist", os.path.join(CACHE, "mnist", "model.onnx"),
                              os.path.join(CACHE, "mnist", "calib.npz")),
           os.path.join(CACHE, "mnist", "test.npz"))
    yield ("textcls", *quantize("textcls", os.path.join(CACHE, "textcls", "cls.onnx"),
                                os.path.join(CACHE, "textcls", "calib.npz"),
                                "--input-shape", "x=1,3,48,192"),
           os.path.join(CACHE, "textcls", "test.npz"))
    onnx = os.path.join(RESNET8, "resnet8.onnx")
    if not os.path.exists(onnx):
        print(f"firmware-figures: {RESNET8} not present; ResNet-8 skipped", file=sys.stderr)
        return
    images = os.path.join(OUT, "resnet8_images.npz")
    if not os.path.exists(images):
        x = np.load(os.path.join(RESNET8, "test_images_u8_nhwc.npy"))
        np.savez(images, input_1=x.transpose(0, 3, 1, 2).astype(np.float32))
    # calibration: the 8 provided (synthetic) images; they are all the data there is
    yield ("resnet8", *quantize("resnet8", onnx, images), images)


def firmware_run(model, data, plain):
    cmd = [os.path.join(ROOT, "tools", "firmware-run"), model, data, "--cpu", "cortex-m4"]
    if plain:
        cmd.append("--plain")
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        sys.exit(f"firmware-figures: {' '.join(cmd[1:])} failed")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    os.makedirs(OUT, exist_ok=True)
    subprocess.run(["cargo", "build", "-q", "-p", "mote-cli", "--bin", "mote"], cwd=ROOT,
                   check=True)
    rows = []
    for name, model, plan, data in models():
        for plain in (False, True):
            f = firmware_run(model, data, plain)
            f["name"], f["lower_bound"] = name, plan["lower_bound"]
            rows.append(f)
            print(f"  {name:8} {f['kernels']:5} {f['instructions']:>13,} instructions", file=sys.stderr)
    print("Cortex-M4 (qemu-system-arm -M mps2-an386), instructions per inference from the QEMU "
          "TCG plugin; output bytes identical to `mote run` on the host in every row")
    print("| model | kernels | flash (text+rodata+data) | of which runtime code | static RAM "
          "(data+bss) | arena (plan lower bound) | peak stack | instructions/inference |")
    print("|---|---|---|---|---|---|---|---|")
    for f in rows:
        print(f"| {f['name']} | {f['kernels']} | {f['flash_bytes']:,} | {f['code_bytes']:,} | "
              f"{f['ram_bytes']:,} | {f['arena_bytes']:,} ({f['lower_bound']:,}) | "
              f"{f['stack_bytes']:,} | {f['instructions']:,} |")
    print()
    by = {(f["name"], f["kernels"]): f for f in rows}
    for name in dict.fromkeys(f["name"] for f in rows):
        d, p = by[(name, "dsp")], by[(name, "plain")]
        print(f"{name}: DSP path = {d['instructions'] / p['instructions']:.3f} x plain "
              f"(target <= 0.5)")
    if ("resnet8", "dsp") in by:
        d = by[("resnet8", "dsp")]
        print()
        print("ResNet-8 race, Cortex-M4, mote DSP vs TFLite Micro + CMSIS-NN (peer figures from "
              "../shared/models/resnet8/README.md):")
        for key, target in (("instructions", 0.9), ("arena_bytes", 0.9), ("code_bytes", 1.0)):
            ratio = d[key] / TFLM[key]
            ok = "meets" if ratio <= target else "MISSES"
            print(f"  {key:13} mote {d[key]:>12,}  TFLM {TFLM[key]:>12,}  = {ratio:.3f} x "
                  f"({ok} target <= {target})")


if __name__ == "__main__":
    main()
