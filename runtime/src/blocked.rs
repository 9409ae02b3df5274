//! The blocked weight layout of Conv2d (`groups == 1`) and FullyConnected: the quantizer packs
//! weights offline into the order the vector kernels stream, so a model stays zero-copy and no
//! kernel reorders weights at run time.
//!
//! A weight matrix of `rows` output channels × `k` inputs (a convolution's row is its
//! `kh·kw·cin` weights in that order) is stored as
//!
//! ```text
//! [ceil(rows / 8) blocks][ceil(k / 4) groups][8 rows][4 k]
//! ```
//!
//! int8, with zeros where a row or a `k` index is past the end. Element (`row`, `i`) is at
//! `(row / 8 · groups + i / 4) · 32 + (row % 8) · 4 + i % 4`. Every 32-byte cell is eight output
//! channels' next four weights, which is what each instruction set wants without shuffles:
//! - `SDOT` by element: each 16-byte half is four channels × four `k` (one `.4s` lane per channel).
//! - `SMMLA`: the words of one channel in two neighbouring cells are its next eight `k`.
//! - NEON baseline: `LD4` of a cell gives four vectors of eight channels, one per `k`.
//! - AVX2: a widened half multiplies a broadcast run of four activations with `VPMADDWD`,
//!   two lanes per channel, summed at the end of the row.
//! - Cortex-M `SMLAD`: two neighbouring channels' words are one `LDRD`, the next four `k` 32
//!   bytes on.
//!
//! The padding must be zero (the model validator checks it): kernels that read whole cells add
//! padding products.

/// Output channels per block.
pub const ROWS: usize = 8;
/// `k` per group (bytes per channel in a cell).
pub const DEPTH: usize = 4;
/// Bytes per cell (one group of one block).
pub const CELL: usize = ROWS * DEPTH;

/// The shape of a blocked weight matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    /// Output channels.
    pub rows: usize,
    /// Inputs per output channel.
    pub k: usize,
}

impl Blocked {
    /// Blocks of eight output channels.
    pub const fn blocks(&self) -> usize {
        self.rows.div_ceil(ROWS)
    }
    /// Groups of four `k` per block.
    pub const fn groups(&self) -> usize {
        self.k.div_ceil(DEPTH)
    }
    /// Bytes between blocks.
    pub const fn block_stride(&self) -> usize {
        self.groups() * CELL
    }
    /// Stored bytes, padding included (`None` if that overflows `usize`).
    pub fn byte_len(&self) -> Option<usize> {
        self.blocks().checked_mul(self.groups())?.checked_mul(CELL)
    }
    /// Byte index of element (`row`, `i`).
    pub const fn index(&self, row: usize, i: usize) -> usize {
        (row / ROWS * self.groups() + i / DEPTH) * CELL + (row % ROWS) * DEPTH + i % DEPTH
    }
    /// Byte index of the first word of `row` (its next words follow every [`CELL`] bytes).
    pub const fn row_start(&self, row: usize) -> usize {
        self.index(row, 0)
    }
    /// Whether byte `at` of the stored matrix is padding.
    pub const fn is_padding(&self, at: usize) -> bool {
        let cell = at / CELL;
        let (block, group) = (cell / self.groups(), cell % self.groups());
        let within = at % CELL;
        let row = block * ROWS + within / DEPTH;
        let i = group * DEPTH + within % DEPTH;
        row >= self.rows || i >= self.k
    }
    /// Whether every padding byte of `data` (the stored matrix) is zero. Per cell, a word mask
    /// covers the padded `k` of live rows and all of padded rows (small code: this runs on
    /// microcontrollers when a model is opened).
    pub fn padding_is_zero(&self, data: &[u8]) -> bool {
        let groups = self.groups();
        for (at, cell) in data.chunks_exact(CELL).enumerate() {
            let (block, group) = (at / groups, at % groups);
            let live_rows = self.rows.saturating_sub(block * ROWS);
            let live_k = self.k.saturating_sub(group * DEPTH);
            let k_mask = if live_k >= DEPTH {
                0
            } else {
                u32::MAX << (8 * live_k)
            };
            if live_rows >= ROWS && k_mask == 0 {
                continue;
            }
            for (r, word) in cell.chunks_exact(DEPTH).enumerate() {
                let v = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
                let mask = if r < live_rows { k_mask } else { u32::MAX };
                if v & mask != 0 {
                    return false;
                }
            }
        }
        true
    }
    /// Pack `dense` (`rows × k`, row-major) into `out` (`byte_len` bytes, padding zeroed).
    ///
    /// # Panics
    /// If the slices are shorter than the shape needs.
    pub fn pack(&self, dense: &[i8], out: &mut [i8]) {
        let len = self.byte_len().expect("blocked shape overflows");
        out[..len].fill(0);
        for r in 0..self.rows {
            for (i, &v) in dense[r * self.k..(r + 1) * self.k].iter().enumerate() {
                out[self.index(r, i)] = v;
            }
        }
    }
    /// `Σ x[i] · w(row, i)` for `i < k`, wrapping like the kernels: the reference dot product.
    pub fn dot(&self, w: &[i8], row: usize, x: &[i8]) -> i32 {
        let mut acc = 0i32;
        let mut at = self.row_start(row);
        for word in x[..self.k].chunks(DEPTH) {
            for (&xv, &wv) in word.iter().zip(&w[at..at + word.len()]) {
                acc = acc.wrapping_add(xv as i32 * wv as i32);
            }
            at += CELL;
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_places_every_element_once_and_pads_with_zeros() {
        for (rows, k) in [(1, 1), (3, 5), (8, 4), (9, 7), (16, 27), (20, 64)] {
            let b = Blocked { rows, k };
            let len = b.byte_len().unwrap();
            assert_eq!(len, rows.div_ceil(8) * 8 * k.div_ceil(4) * 4);
            let dense: Vec<i8> = (0..rows * k).map(|v| (v % 251) as i8 - 120).collect();
            let mut out = vec![99i8; len];
            b.pack(&dense, &mut out);
            let mut seen = vec![false; len];
            for r in 0..rows {
                for i in 0..k {
                    let at = b.index(r, i);
                    assert!(!seen[at] && !b.is_padding(at));
                    seen[at] = true;
                    assert_eq!(out[at], dense[r * k + i]);
                }
            }
            for (at, s) in seen.iter().enumerate() {
                assert_eq!(!s, b.is_padding(at), "{rows}x{k} byte {at}");
                if !s {
                    assert_eq!(out[at], 0);
                }
            }
            let bytes: Vec<u8> = out.iter().map(|&v| v as u8).collect();
            assert!(b.padding_is_zero(&bytes));
            for at in 0..len {
                let mut flipped = bytes.clone();
                flipped[at] ^= 0x10;
                assert_eq!(
                    b.padding_is_zero(&flipped),
                    !b.is_padding(at),
                    "{rows}x{k} byte {at}"
                );
            }
            let x: Vec<i8> = (0..k).map(|v| (v * 7 % 256) as u8 as i8).collect();
            for r in 0..rows {
                let want: i32 = (0..k).map(|i| x[i] as i32 * dense[r * k + i] as i32).sum();
                assert_eq!(b.dot(&out, r, &x), want);
            }
        }
    }
}
