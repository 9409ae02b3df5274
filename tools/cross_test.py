"""The Arm Linux test rig: cross-build the runtime's kernel checks and the `mote` CLI (without
the quantizer) with Debian's rustc for aarch64 and for 32-bit armv7 (whose std is built from
source with -Zbuild-std), run them under qemu-aarch64 on three CPU models and under qemu-arm,
check that both real models give byte-identical outputs on every kernel path (Arm and x86), and
print instructions per inference for every Arm path (QEMU TCG plugin, tools/qemu-plugin).

Usage: tools/cross-test [--cases N] [--no-figures]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, "models", "cache")
MODELS = os.path.join(ROOT, "target", "firmware-models")
HOST_MOTE = os.path.join(ROOT, "target", "debug", "mote")


class Arch:
    """One Arm Linux target: how to build for it and run it under qemu-user."""

    def __init__(self, name, target, qemu, sysroot, cpus, env, cargo_flags):
        self.name, self.target, self.qemu_bin, self.sysroot = name, target, qemu, sysroot
        # (qemu CPU model, kernel paths it must run)
        self.cpus = cpus
        self.env = dict(os.environ, RUSTC="/usr/bin/rustc", **env)
        self.cargo_flags = cargo_flags
        self.target_dir = os.path.join(ROOT, "target", f"cross-{name}")

    def qemu(self, cpu, *extra):
        return [self.qemu_bin, "-L", self.sysroot, "-cpu", cpu, *extra]


ARCHES = [
    Arch("aarch64", "aarch64-unknown-linux-gnu", "qemu-aarch64", "/usr/aarch64-linux-gnu",
         [("cortex-a53", ["neon"]), ("cortex-a76", ["neon", "dotprod"]),
          ("max", ["neon", "dotprod", "i8mm"])],
         {"CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER": "aarch64-linux-gnu-gcc"}, []),
    # Debian packages no armhf std for its rustc: build it (RUSTC_BOOTSTRAP enables -Zbuild-std).
    # Cortex-A7 is the Raspberry Pi 2's core. Built with NEON (every Raspberry Pi from the 2 on
    # has it; the 32-bit NEON kernels need it at compile time), which rustc warns is an
    # unstable target feature on this target: `thumbv7neon-unknown-linux-gnueabihf` has it
    # built in.
    Arch("armv7", "armv7-unknown-linux-gnueabihf", "qemu-arm", "/usr/arm-linux-gnueabihf",
         [("cortex-a7", ["neon"])],
         {"CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER": "arm-linux-gnueabihf-gcc",
          "CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS": "-C target-feature=+neon",
          "RUSTC_BOOTSTRAP": "1"},
         ["-Zbuild-std=std,panic_abort"]),
]


def die(msg):
    print(f"cross-test: error: {msg}", file=sys.stderr)
    sys.exit(1)


def cargo_executables(arch, args):
    """Build with Debian's cargo for `arch`; return the executables cargo reports."""
    cmd = ["/usr/bin/cargo", *args, *arch.cargo_flags, "--target", arch.target, "--target-dir",
           arch.target_dir, "--message-format=json-render-diagnostics"]
    r = subprocess.run(cmd, cwd=ROOT, env=arch.env, stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        die(f"build failed: {' '.join(cmd)}")
    exes = []
    for line in r.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            exes.append(msg["executable"])
    return exes


def quantized(name, onnx, calib, *extra):
    model = os.path.join(MODELS, f"{name}.mote")
    if not os.path.exists(model):
        os.makedirs(MODELS, exist_ok=True)
        subprocess.run([HOST_MOTE, "quantize", onnx, "--calib", calib, "-o", model, *extra],
                       check=True, stdout=subprocess.DEVNULL)
    return model


def subset(test, n, work, name):
    with np.load(test) as z:
        arrays = {k: z[k][:n] for k in z.files if k != "labels"}
    path = os.path.join(work, f"{name}.npz")
    np.savez(path, **arrays)
    return path


def outputs(path):
    with np.load(path) as z:
        return b"".join(z[k].astype("<f4").tobytes() for k in sorted(z.files))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=300)
    ap.add_argument("--no-figures", action="store_true")
    ap.add_argument("--host-x86-paths", action="store_true",
                    help="print the x86 kernel paths this CPU runs (comma-separated) and stop")
    a = ap.parse_args()
    if a.host_x86_paths:
        print(",".join(host_x86_paths()))
        return
    subprocess.run(["cargo", "build", "-q", "-p", "mote-cli"], cwd=ROOT, check=True)

    arm_mote = {}
    for arch in ARCHES:
        print(f"== kernel checks under {arch.qemu_bin}")
        checks = [e for e in cargo_executables(arch, ["test", "-p", "mote", "--test",
                                                      "kernel_cross", "--no-run"])
                  if "kernel_cross" in e]
        if not checks:
            die("no kernel_cross executable was built")
        for cpu, paths in arch.cpus:
            env = dict(os.environ, MOTE_TEST_CASES=str(a.cases),
                       MOTE_REQUIRE_PATHS=",".join(paths))
            r = subprocess.run(arch.qemu(cpu, checks[0]), env=env, stdout=subprocess.PIPE,
                               text=True, timeout=1800)
            last = r.stdout.strip().splitlines()
            print(f"  {cpu:11} {last[0] if last else ''} -> {last[-1] if last else 'no output'}")
            if r.returncode != 0:
                print(r.stdout)
                die(f"kernel checks failed on {cpu}")

        print(f"== mote CLI for {arch.name} (no quantizer)")
        exes = [e for e in cargo_executables(arch, ["build", "-p", "mote-cli",
                                                    "--no-default-features", "--bin", "mote"])
                if e.endswith("/mote")]
        if not exes:
            die("no mote executable was built")
        arm_mote[arch.name] = exes[0]
        cpu = arch.cpus[0][0]
        r = subprocess.run(arch.qemu(cpu, exes[0], "quantize", "x.onnx", "-o", "x.mote"),
                           stderr=subprocess.PIPE, text=True)
        if r.returncode != 1 or "no ONNX quantizer" not in r.stderr:
            die(f"`mote quantize` on {arch.name} should explain it is host-only; "
                f"said: {r.stderr}")
        print(f"  `mote quantize` on {arch.name}: " + r.stderr.strip().splitlines()[0][:80]
              + "...")

    models = [
        ("mnist", quantized("mnist", os.path.join(CACHE, "mnist", "model.onnx"),
                            os.path.join(CACHE, "mnist", "calib.npz")),
         os.path.join(CACHE, "mnist", "test.npz"), 40),
        ("textcls", quantized("textcls", os.path.join(CACHE, "textcls", "cls.onnx"),
                              os.path.join(CACHE, "textcls", "calib.npz"),
                              "--input-shape", "x=1,3,48,192"),
         os.path.join(CACHE, "textcls", "test.npz"), 12),
    ]
    work = tempfile.mkdtemp(prefix="mote-cross-")
    print("== end to end: outputs byte-identical on every path")
    for name, model, test, n in models:
        data = subset(test, n, work, name)
        ref = os.path.join(work, f"{name}-ref.npz")
        subprocess.run([HOST_MOTE, "run", model, "--input", data, "--output", ref], check=True,
                       stdout=subprocess.DEVNULL, env=dict(os.environ, MOTE_ISA="reference"))
        want = outputs(ref)
        runs = [("x86-64", p, [HOST_MOTE]) for p in host_x86_paths()]
        runs += [(cpu, p, arch.qemu(cpu, arm_mote[arch.name])) for arch in ARCHES
                 for cpu, paths in arch.cpus for p in ["reference", *paths]]
        for where, path, cmd in runs:
            out = os.path.join(work, f"{name}-{where}-{path}.npz")
            r = subprocess.run([*cmd, "run", model, "--input", data, "--output", out],
                               env=dict(os.environ, MOTE_ISA=path), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            if r.returncode != 0:
                die(f"{name} on {where}/{path}: {r.stderr.strip()}")
            if outputs(out) != want:
                die(f"{name}: outputs on {where}/{path} differ from the reference path")
        print(f"  {name}: {n} samples, identical on reference, " +
              "".join(f"{p}, " for p in host_x86_paths()) +
              ", ".join(f"{cpu}/{p}" for arch in ARCHES for cpu, paths in arch.cpus
                        for p in ["reference", *paths]))

    if a.no_figures:
        return
    plugin = build_plugin()
    print("== instructions per inference under qemu-user (TCG plugin; (N=20) - (N=10) runs / 10)")
    rows = []
    for name, model, test, _ in models:
        data = subset(test, 1, work, name + "-one")
        for arch in ARCHES:
            for cpu, paths in arch.cpus:
                for path in ["reference", *paths]:
                    counts = []
                    for iters in (10, 20):
                        out = os.path.join(work, "insns.txt")
                        cmd = arch.qemu(cpu, "-plugin", f"{plugin},out={out}",
                                        arm_mote[arch.name], "bench", model, "--input", data,
                                        "--iterations", str(iters))
                        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                                       env=dict(os.environ, MOTE_ISA=path))
                        counts.append(int(open(out).read().split()[1]))
                    per = (counts[1] - counts[0]) / 10
                    rows.append((name, f"{arch.name} {cpu}", path, per))
                    print(f"  {name:8} {arch.name:8} {cpu:11} {path:10} {per / 1e6:8.2f} M",
                          flush=True)
    print()
    print("| model | CPU | path | instructions/inference | vs reference |")
    print("|---|---|---|---|---|")
    ref = {(m, c): v for m, c, p, v in rows if p == "reference"}
    for m, c, p, v in rows:
        print(f"| {m} | {c} | {p} | {v / 1e6:.2f} M | {v / ref[(m, c)]:.3f} |")


def host_x86_paths():
    """The x86 kernel paths this host's CPU runs (from /proc/cpuinfo's flags)."""
    try:
        flags = next((l.split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
    except OSError:
        return []
    paths = ["avx2"] if "avx2" in flags else []
    if "avx2" in flags and "avx_vnni" in flags:
        paths.append("avxvnni")
    avx512 = ("avx2", "avx512f", "avx512bw", "avx512vl", "avx512vbmi", "avx512_vnni")
    if all(f in flags for f in avx512):
        paths.append("avx512")
    return paths


def build_plugin():
    src = os.path.join(ROOT, "tools", "qemu-plugin", "insn_count.c")
    so = os.path.join(ROOT, "target", "qemu-plugin", "insn_count.so")
    if not os.path.exists(so) or os.path.getmtime(so) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(so), exist_ok=True)
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-o", so, src], check=True)
    return so


if __name__ == "__main__":
    main()
