#!/usr/bin/env python3
"""Latency of mote next to ONNX Runtime fp32 and int8 and tract fp32 on the same machine, in the
same run, single thread. Usage: bench_peers.py MOTE_BIN NAME ONNX MOTE_MODEL CALIB.npz TEST.npz INPUT [NAME ...]

ONNX Runtime int8 is its own static quantizer (QDQ, S8S8, per-channel weights) calibrated on the
same calibration set; models below opset 13 are upgraded first, which its quantizer needs.

mote and ONNX Runtime fp32 are measured in alternating rounds (ROUNDS of each, one after the
other) and the ratio is the median of the rounds' ratios: a machine whose speed drifts during
the run (a shared VM) then moves both sides of each ratio alike.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import version_converter
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


# Short rounds, many of them: on a shared VM the machine's speed moves within seconds, and
# seven rounds of this length left the ratio anywhere between 0.5 and 1.3 run to run.
ROUNDS = 25


def median_ms(sess, feed, seconds=2.0):
    for _ in range(5):
        sess.run(None, feed)
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 20:
        t = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


class Reader(CalibrationDataReader):
    def __init__(self, name, data):
        self.it = iter([{name: d[None]} for d in data])

    def get_next(self):
        return next(self.it, None)


def ort_int8(path, name, calib, shape):
    m = onnx.load(path)
    opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    tmp = tempfile.mkdtemp()
    src = os.path.join(tmp, "in.onnx")
    if opset < 13:
        m = version_converter.convert_version(m, 13)
    onnx.save(m, src)
    out = os.path.join(tmp, "int8.onnx")
    data = calib.reshape((-1,) + tuple(shape[1:]))[:200].astype(np.float32)
    quantize_static(src, out, Reader(name, data), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, per_channel=True)
    return out


def main():
    mote, rows = sys.argv[1], []
    args = sys.argv[2:]
    for i in range(0, len(args), 6):
        name, path, mote_model, calib_path, test_path, inp = args[i:i + 6]
        test = np.load(test_path)[inp]
        model_shape = json.loads(subprocess.check_output([mote, "inspect", mote_model, "--json"]))["inputs"][0]["shape"]
        x = test[:1].reshape(model_shape).astype(np.float32)
        fp32_session = session(path)
        mote_ms, fp32_ms = [], []
        for _ in range(ROUNDS):
            mote_json = json.loads(subprocess.check_output(
                [mote, "bench", mote_model, "--input", test_path, "--iterations", "200", "--json"]))
            mote_ms.append(mote_json["median_ms"])
            fp32_ms.append(median_ms(fp32_session, {inp: x}, seconds=0.3))
        mote_med, fp32 = float(np.median(mote_ms)), float(np.median(fp32_ms))
        ratio = float(np.median([m / f for m, f in zip(mote_ms, fp32_ms)]))
        shape_arg = f"{inp}=" + ",".join(str(d) for d in model_shape)
        tract = json.loads(subprocess.check_output(
            [mote, "bench-onnx", path, "--input", test_path, "--input-shape", shape_arg, "--json"]))["median_ms"]
        try:
            q = ort_int8(path, inp, np.load(calib_path)[inp], model_shape)
            int8 = f"{median_ms(session(q), {inp: x}):.3f}"
        except Exception as e:  # report, do not hide, a peer failure
            int8 = f"failed: {type(e).__name__}"
        rows.append((name, mote_med, mote_json["kernels"], fp32, int8, tract, ratio, mote_json["arena_bytes"], mote_json["model_bytes"]))
    print(f"\nLatency, single thread, median ms (onnxruntime {ort.__version__}; mote and ORT fp32: "
          f"medians of {ROUNDS} alternating rounds, ratio the median of the rounds' ratios):")
    print(f"{'model':<10} {'mote int8':>10} {'kernels':>10} {'ORT fp32':>10} {'ORT int8':>12} {'tract fp32':>11} {'mote/ORT fp32':>14} {'arena B':>9} {'model B':>9}")
    for r in rows:
        print(f"{r[0]:<10} {r[1]:>10.3f} {r[2]:>10} {r[3]:>10.3f} {r[4]:>12} {r[5]:>11.3f} {r[6]:>14.2f} {r[7]:>9} {r[8]:>9}")


if __name__ == "__main__":
    main()
