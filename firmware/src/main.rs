//! The inference firmware: runs the model embedded at build time on every recorded frame,
//! reports the top classes through defmt, and hands the last output's bytes and the figures
//! (peak stack, arena, kernel path) to the board's result sink.
//!
//! Build it with `tools/firmware-run`, which sets `MOTE_MODEL` and `MOTE_INPUT`.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use heapless::{HistoryBuffer, Vec};
use micromath::F32Ext;
use mote::{DType, Interpreter, KernelPath, Model};
use mote_firmware::board::{qemu, DelayNs, ResultSink, SampleSource};
use mote_firmware::{bench, stack};

mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}

/// Constants in the model must sit on 16-byte boundaries, as in the file.
#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

static MODEL: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.mote")));
static FRAMES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/input.bin"));
/// The arena, sized at build time from the model header: no guessing, no heap.
static mut ARENA: Aligned<[u8; config::ARENA_BYTES]> = Aligned([0; config::ARENA_BYTES]);

/// How many top classes to report.
const TOP_K: usize = 3;

#[entry]
fn main() -> ! {
    stack::paint();
    // SAFETY: `main` runs once and is the only place that touches the arena.
    let arena: &'static mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
    let mut sink = qemu::HostFiles::new();
    let ok = run(
        arena,
        &mut qemu::Recorded::new(FRAMES),
        &mut qemu::SpinDelay,
        &mut sink,
    );
    let mut buf = [0u8; 10];
    sink.figure("stack_bytes", decimal(stack::peak_bytes() as u32, &mut buf));
    mote_firmware::board::exit(ok)
}

/// The application, written against the board traits only.
fn run(
    arena: &mut [u8],
    source: &mut impl SampleSource,
    delay: &mut impl DelayNs,
    sink: &mut impl ResultSink,
) -> bool {
    let model = match Model::parse(&MODEL.0) {
        Ok(m) => m,
        Err(_) => {
            defmt::error!("the embedded model does not validate (build with tools/firmware-run)");
            return false;
        }
    };
    let mut it = match Interpreter::new(model, arena) {
        Ok(it) => it,
        Err(_) => {
            defmt::error!("arena too small");
            return false;
        }
    };
    if cfg!(feature = "plain") && it.set_kernel_path(KernelPath::Reference).is_err() {
        return false;
    }
    let path = it.kernel_path().name();
    defmt::info!(
        "model {=usize} B, arena {=usize} B, kernels {=str}",
        MODEL.0.len(),
        config::ARENA_BYTES,
        path
    );
    let mut recent: HistoryBuffer<u16, 4> = HistoryBuffer::new();
    let mut frames = 0u32;
    loop {
        let Ok(input) = it.input_bytes_mut(0) else {
            return false;
        };
        if !source.next_frame(input) {
            break;
        }
        bench::mote_bench_start();
        let r = it.invoke();
        bench::mote_bench_end();
        if r.is_err() {
            defmt::error!("inference failed");
            return false;
        }
        frames += 1;
        let Ok(out) = it.output_bytes(0) else {
            return false;
        };
        let top = top_classes(out, it.output_info(0).map(|i| i.dtype).unwrap_or(DType::I8));
        if let Some(&(class, p)) = top.first() {
            recent.write(class);
            defmt::info!("frame {=u32}: class {=u16} p={=f32}", frames, class, p);
        }
        for &(class, p) in top.iter().skip(1) {
            defmt::info!("    then class {=u16} p={=f32}", class, p);
        }
        sink.output(out);
        delay.delay_ms(0);
    }
    if frames == 0 {
        defmt::error!("no input frames");
        return false;
    }
    let stable = recent
        .oldest_ordered()
        .all(|&c| Some(&c) == recent.recent());
    defmt::info!(
        "{=u32} frames; last {=usize} agree: {=bool}",
        frames,
        recent.len(),
        stable
    );
    let mut buf = [0u8; 10];
    sink.figure("kernels", path);
    sink.figure("arena_bytes", decimal(config::ARENA_BYTES as u32, &mut buf));
    true
}

/// The `TOP_K` most likely classes of an f32 output, as probabilities: used as they are when
/// they already sum to one (a softmax output), else passed through a softmax.
fn top_classes(out: &[u8], dtype: DType) -> Vec<(u16, f32), TOP_K> {
    let mut top: Vec<(u16, f32), TOP_K> = Vec::new();
    if dtype != DType::F32 {
        return top;
    }
    let values = out
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (mut max, mut sum, mut in_unit) = (f32::NEG_INFINITY, 0.0f32, true);
    for v in values.clone() {
        max = max.max(v);
        sum += v;
        in_unit &= (0.0..=1.0).contains(&v);
    }
    let is_prob = in_unit && (sum - 1.0).abs() < 0.02;
    let denom: f32 = if is_prob {
        1.0
    } else {
        values.clone().map(|v| (v - max).exp()).sum()
    };
    for (i, v) in values.enumerate() {
        let p = if is_prob { v } else { (v - max).exp() / denom };
        let pos = top.iter().position(|&(_, q)| p > q).unwrap_or(top.len());
        if pos < TOP_K {
            if top.is_full() {
                top.pop();
            }
            let _ = top.insert(pos, (i as u16, p));
        }
    }
    top
}

/// `v` in decimal, without `core::fmt`.
fn decimal(mut v: u32, buf: &mut [u8; 10]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    core::str::from_utf8(&buf[i..]).unwrap_or("?")
}
