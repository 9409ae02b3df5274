"""Build the Cortex-M firmware for one model and one input sample, run it in QEMU, check its
output bytes against `mote run` on the host, and print its figures (last line: JSON).

Usage: tools/firmware-run MODEL.mote INPUT.npz [--cpu cortex-m4|cortex-m7|cortex-m33] [--plain]
                          [--profile N]
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEBIAN = {"RUSTC": "/usr/bin/rustc", "RUSTC_BOOTSTRAP": "1"}
CPUS = {
    "cortex-m4": ("mps2-an386", "thumbv7em-none-eabihf"),
    "cortex-m7": ("mps2-an500", "thumbv7em-none-eabihf"),
    "cortex-m33": ("mps2-an505", "thumbv8m.main-none-eabihf"),
}
FORBIDDEN = ("__rust_alloc", "__rust_dealloc", "__rust_realloc", "__rg_alloc", "__rdl_alloc")
# panic messages formatted with core::fmt (defmt formats on the host instead), and libm pulled in
# by accident (micromath covers the float functions)
BLOAT = ("4core3fmt", "core..fmt")
LIBM = {"expf", "exp", "logf", "log", "powf", "pow", "sqrtf", "tanhf", "sinf", "cosf"}


def die(msg):
    print(f"firmware-run: error: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd, **kw):
    r = subprocess.run(cmd, **kw)
    if r.returncode != 0:
        die(f"command failed ({r.returncode}): {' '.join(map(str, cmd))}")
    return r


class Elf:
    """Just enough of ELF32 little-endian: sections and the symbol table."""

    def __init__(self, path):
        self.data = open(path, "rb").read()
        d = self.data
        if d[:4] != b"\x7fELF" or d[4] != 1:
            die(f"{path} is not a 32-bit ELF file")
        shoff, = struct.unpack_from("<I", d, 0x20)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x2E)
        raw = [struct.unpack_from("<IIIIIIIIII", d, shoff + i * shentsize) for i in range(shnum)]
        names = raw[shstrndx]
        self.sections = {}
        for s in raw:
            self.sections[self._str(names[4], s[0])] = s
        self.symbols = {}
        symtab, strtab = self.sections.get(".symtab"), self.sections.get(".strtab")
        if symtab:
            for off in range(symtab[4], symtab[4] + symtab[5], 16):
                name, value, size, info, _, _ = struct.unpack_from("<IIIBBH", d, off)
                if name:
                    self.symbols[self._str(strtab[4], name)] = (value, size, info & 0xF)

    def _str(self, base, off):
        end = self.data.index(b"\0", base + off)
        return self.data[base + off:end].decode()

    def size(self, *names):
        return sum(self.sections[n][5] for n in names if n in self.sections)

    def functions(self):
        """(start, end, name) of every function symbol, sorted."""
        f = [(v & ~1, (v & ~1) + s, n) for n, (v, s, t) in self.symbols.items() if t == 2 and s]
        return sorted(f)


def demangle(name):
    try:
        r = subprocess.run(["c++filt", "-n", name], capture_output=True, text=True)
        return r.stdout.strip() or name
    except OSError:
        return name


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("--cpu", default="cortex-m4", choices=sorted(CPUS))
    ap.add_argument("--plain", action="store_true", help="force the plain (non-DSP) kernels")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also print the N functions that execute the most instructions")
    a = ap.parse_args()
    for p in (a.model, a.input):
        if not os.path.isfile(p):
            die(f"{p}: no such file")
    machine, target = CPUS[a.cpu]
    mote = os.path.join(ROOT, "target", "debug", "mote")
    run(["cargo", "build", "-q", "-p", "mote-cli", "--bin", "mote"], cwd=ROOT)
    info = json.loads(run([mote, "inspect", "--json", a.model], capture_output=True,
                          text=True).stdout)
    if len(info["inputs"]) != 1 or len(info["outputs"]) != 1:
        die(f"{a.model}: the firmware runs models with one input and one output")
    name, shape = info["inputs"][0]["name"], info["inputs"][0]["shape"]
    with np.load(a.input) as z:
        if name not in z:
            die(f"{a.input}: no array named '{name}' (the model's input)")
        sample = z[name][:1].astype("<f4").reshape(shape)
    work = tempfile.mkdtemp(prefix="mote-fw-")
    try:
        frame = os.path.join(work, "input.bin")
        sample.tofile(frame)
        np.savez(os.path.join(work, "in.npz"), **{name: sample.reshape([1] + list(shape))})
        run([mote, "run", a.model, "--input", os.path.join(work, "in.npz"),
             "--output", os.path.join(work, "host.npz")], cwd=ROOT, stdout=subprocess.DEVNULL)
        with np.load(os.path.join(work, "host.npz")) as z:
            host = z[z.files[0]].astype("<f4").tobytes()

        # build
        env = dict(os.environ, **DEBIAN, MOTE_MODEL=os.path.abspath(a.model), MOTE_INPUT=frame)
        cmd = ["/usr/bin/cargo", "build", "--release", "-q", "--target", target,
               "-Zbuild-std=core"]
        if a.plain:
            cmd += ["--features", "plain"]
        run(cmd, cwd=os.path.join(ROOT, "firmware"), env=env)
        elf_path = os.path.join(ROOT, "target", "firmware", target, "release", "mote-firmware")
        elf = Elf(elf_path)
        bad = [s for s in elf.symbols if any(f in s for f in FORBIDDEN)]
        if bad:
            die(f"the firmware links an allocator: {', '.join(bad)}")
        bloat = [s for s in elf.symbols if any(b in s for b in BLOAT) or s in LIBM]
        if bloat:
            die(f"the firmware links core::fmt or libm: {', '.join(sorted(bloat)[:5])}")

        # run
        plugin = build_plugin()
        start = elf.symbols["mote_bench_start"][0]
        end = elf.symbols["mote_bench_end"][0]
        counts = os.path.join(work, "insns.txt")
        popt = f"{plugin},start={start:#x},end={end:#x},out={counts}"
        if a.profile:
            popt += ",profile=on"
        qemu = ["timeout", "900", "qemu-system-arm", "-M", machine, "-cpu", a.cpu, "-nographic",
                "-monitor", "none", "-serial", "none",
                "-semihosting-config", "enable=on,target=native", "-kernel", elf_path,
                "-plugin", popt]
        decoder = os.path.join(ROOT, "target", "tools", "bin", "defmt-print")
        q = subprocess.Popen(qemu, cwd=work, stdout=subprocess.PIPE)
        d = subprocess.run([decoder, "-e", elf_path, "--show-skipped-frames"], stdin=q.stdout,
                           stdout=sys.stderr) if os.path.exists(decoder) else None
        rc = q.wait()
        if d is None:
            print("firmware-run: defmt-print not installed (tools/setup); logs not decoded",
                  file=sys.stderr)
        if rc != 0:
            die(f"the firmware failed in QEMU (exit status {rc}); its log is above")
        figures = dict(
            line.split("=", 1)
            for line in open(os.path.join(work, "mote-figures.txt")).read().split("\n") if line)
        got = open(os.path.join(work, "mote-output.bin"), "rb").read()
        counted = dict(l.split(" ", 1) for l in open(counts).read().splitlines()
                       if not l.startswith("block"))
        if got != host:
            die(f"output bytes differ from `mote run` on the host:\n  firmware {got.hex()}\n"
                f"  host     {host.hex()}")
        print(f"output matches `mote run` on the host ({len(got)} bytes)", file=sys.stderr)
        if a.profile:
            print_profile(elf, counts, a.profile)

        model_bytes = os.path.getsize(a.model)
        flash = elf.size(".vector_table", ".text", ".rodata", ".data")
        fig = {
            "model": os.path.basename(a.model), "cpu": a.cpu,
            "flash_bytes": flash,
            "code_bytes": flash - model_bytes - os.path.getsize(frame),
            "model_bytes": model_bytes,
            "ram_bytes": elf.size(".data", ".bss", ".uninit"),
            "arena_bytes": int(figures["arena_bytes"]),
            "stack_bytes": int(figures["stack_bytes"]),
            "instructions": int(counted["region"]),
            "kernels": "plain" if figures["kernels"] == "reference" else figures["kernels"],
        }
        sys.stderr.flush()
        print(json.dumps(fig), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build_plugin():
    src = os.path.join(ROOT, "tools", "qemu-plugin", "insn_count.c")
    out_dir = os.path.join(ROOT, "target", "qemu-plugin")
    so = os.path.join(out_dir, "insn_count.so")
    if not os.path.exists(so) or os.path.getmtime(so) < os.path.getmtime(src):
        os.makedirs(out_dir, exist_ok=True)
        run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-o", so, src])
    return so


def print_profile(elf, counts, n):
    funcs = elf.functions()
    starts = [f[0] for f in funcs]
    import bisect
    per = {}
    total = 0
    for line in open(counts):
        if not line.startswith("block"):
            continue
        _, addr, c = line.split()
        addr, c = int(addr, 16), int(c)
        total += c
        i = bisect.bisect_right(starts, addr) - 1
        name = funcs[i][2] if i >= 0 and addr < funcs[i][1] else f"{addr:#x}"
        per[name] = per.get(name, 0) + c
    print(f"instructions per function (of {total:,} in the measured region):", file=sys.stderr)
    for name, c in sorted(per.items(), key=lambda kv: -kv[1])[:n]:
        print(f"  {c:>12,}  {100 * c / total:5.1f}%  {demangle(name)[:100]}", file=sys.stderr)


if __name__ == "__main__":
    main()
