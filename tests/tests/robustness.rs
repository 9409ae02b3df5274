//! Hostile inputs: truncated and corrupted model files (with and without a fixed-up checksum, so
//! corruption reaches the deep validators), wrong-sized arenas and tensors. Nothing may panic.

use mote::format::checksum;
use mote::{Error, Interpreter, Model};
use mote_quantize::{quantize_file, Options};
use mote_tests::{noise, scratch_dir, tiny_cnn_files};

fn model_bytes() -> Vec<u8> {
    // one directory per call: the tests run on parallel threads, and one writing the files
    // while another read them (a directory per process) saw a half-written ONNX file
    let dir = scratch_dir("mote-robust");
    let (onnx, calib) = tiny_cnn_files(&dir, 8, 5, 1.0);
    quantize_file(
        &onnx,
        &Options {
            calib: Some(calib),
            ..Options::default()
        },
    )
    .unwrap()
    .bytes
}

fn fix_crc(b: &mut [u8]) {
    if b.len() >= 64 {
        let len = (u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize)
            .min(b.len())
            .max(16);
        let c = checksum(&b[16..len]);
        b[12..16].copy_from_slice(&c.to_le_bytes());
    }
}

/// Parse and, when it validates, run: must return, never panic.
fn exercise(bytes: &[u8]) -> bool {
    let Ok(model) = Model::parse(bytes) else {
        return false;
    };
    if model.arena_bytes() > 64 << 20 {
        return true; // a valid but huge plan: allocating it proves nothing
    }
    let mut arena = vec![0u8; model.arena_bytes()];
    let Ok(mut it) = Interpreter::new(model, &mut arena) else {
        return true;
    };
    for i in 0..model.num_inputs() {
        let n = it.input_info(i).map(|t| t.num_elements()).unwrap_or(0);
        let _ = it.set_input_f32(i, &noise(i as u64, n));
    }
    let _ = it.invoke();
    true
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn every_truncation_is_an_error() {
    let b = model_bytes();
    assert!(exercise(&b));
    for len in 0..b.len() {
        match Model::parse(&b[..len]) {
            Err(Error::Truncated { .. }) | Err(Error::BadLayout(_)) => {}
            other => panic!("truncated to {len}: {other:?}"),
        }
    }
}

#[test]
fn bit_flips_are_caught_by_the_checksum() {
    let b = model_bytes();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..2000 {
        let mut c = b.clone();
        let pos = 16 + (rng.next() as usize) % (c.len() - 16);
        c[pos] ^= 1 << (rng.next() % 8);
        assert!(matches!(
            Model::parse(&c),
            Err(Error::ChecksumMismatch { .. })
        ));
    }
}

#[test]
fn corruption_behind_a_valid_checksum_never_panics() {
    let b = model_bytes();
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let (mut parsed, mut rejected) = (0, 0);
    for round in 0..6000 {
        let mut c = b.clone();
        let flips = 1 + (rng.next() % 4) as usize;
        for _ in 0..flips {
            // bias towards the header, tensor table and op list, where the structure lives
            let span = if round % 2 == 0 {
                c.len().min(2048)
            } else {
                c.len()
            };
            let pos = (rng.next() as usize) % span;
            c[pos] = match rng.next() % 4 {
                0 => c[pos] ^ (1 << (rng.next() % 8)),
                1 => 0xFF,
                2 => 0,
                _ => rng.next() as u8,
            };
        }
        fix_crc(&mut c);
        if exercise(&c) {
            parsed += 1;
        } else {
            rejected += 1;
        }
    }
    assert!(
        rejected > 1000,
        "validators should reject most corruptions ({parsed} parsed, {rejected} rejected)"
    );
}

#[test]
fn small_arenas_and_wrong_tensors_are_rejected() {
    let b = model_bytes();
    let model = Model::parse(&b).unwrap();
    let need = model.arena_bytes();
    let mut small = vec![0u8; need - 1];
    assert_eq!(
        Interpreter::new(model, &mut small).err(),
        Some(Error::ArenaTooSmall {
            needed: need,
            available: need - 1
        })
    );
    let mut arena = vec![0u8; need];
    let mut it = Interpreter::new(model, &mut arena).unwrap();
    assert!(matches!(
        it.set_input_f32(0, &[0.0; 3]),
        Err(Error::BadArgument(_))
    ));
    assert!(matches!(
        it.set_input_f32(7, &[0.0; 432]),
        Err(Error::BadArgument(_))
    ));
    let mut out = [0f32; 4];
    assert!(matches!(
        it.output_f32(0, &mut out),
        Err(Error::BadArgument(_))
    ));
    it.set_input_f32(0, &noise(1, 432)).unwrap();
    it.invoke().unwrap();
    let mut out = [0f32; 5];
    it.output_f32(0, &mut out).unwrap();
    assert!(
        (out.iter().sum::<f32>() - 1.0).abs() < 0.05,
        "softmax output sums to 1: {out:?}"
    );
}

#[test]
fn a_bigger_arena_and_repeated_invokes_give_identical_results() {
    let b = model_bytes();
    let model = Model::parse(&b).unwrap();
    let run = |extra: usize, times: usize| {
        let mut arena = vec![0xA5u8; model.arena_bytes() + extra];
        let mut it = Interpreter::new(model, &mut arena).unwrap();
        let mut out = [0f32; 5];
        for _ in 0..times {
            it.set_input_f32(0, &noise(9, 432)).unwrap();
            it.invoke().unwrap();
        }
        it.output_f32(0, &mut out).unwrap();
        out
    };
    assert_eq!(run(0, 1), run(4096, 3));
}

#[test]
fn blocked_weights_with_nonzero_padding_are_rejected() {
    let b = model_bytes();
    let model = Model::parse(&b).unwrap();
    let mut tampered = 0;
    for t in 0..model.num_tensors() as u16 {
        let info = model.tensor(t).unwrap();
        if info.layout != mote::Layout::Blocked {
            continue;
        }
        let data = model.constant_data(&info);
        let shape = info.blocked();
        let Some(at) = (0..data.len()).find(|&i| shape.is_padding(i)) else {
            continue;
        };
        let offset = data.as_ptr() as usize - b.as_ptr() as usize + at;
        let mut bad = b.clone();
        bad[offset] = 1;
        fix_crc(&mut bad);
        match Model::parse(&bad) {
            Err(Error::BadTensor { tensor, reason }) => {
                assert_eq!(tensor, t);
                assert!(reason.contains("padding"), "{reason}");
            }
            other => panic!("tensor {t}: padding byte set, parse gave {other:?}"),
        }
        tampered += 1;
    }
    assert!(tampered > 0, "the model has blocked weights with padding");
}
