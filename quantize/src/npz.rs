//! Reading and writing `.npz` archives of named arrays (as NumPy's `np.savez` writes them).

use anyhow::{bail, Context, Result};
use npyz::WriterBuilder;
use std::path::Path;

/// One named array, converted to f32, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArray {
    /// Array name inside the archive.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Values.
    pub data: Vec<f32>,
}

impl NamedArray {
    /// Number of samples (axis 0), 1 for a scalar.
    pub fn samples(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }
    /// Sample `i` along axis 0.
    pub fn sample(&self, i: usize) -> &[f32] {
        let per = self.data.len() / self.samples().max(1);
        &self.data[i * per..(i + 1) * per]
    }
}

/// Read every array of an `.npz` file as f32 (f32, f64, integer and bool arrays are accepted).
pub fn read_npz(path: &Path) -> Result<Vec<NamedArray>> {
    let mut npz = npyz::npz::NpzArchive::open(path)
        .with_context(|| format!("cannot open {} as an .npz archive", path.display()))?;
    let names: Vec<String> = npz.array_names().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    for name in names {
        let file = npz
            .by_name(&name)?
            .with_context(|| format!("{}: array {name} vanished", path.display()))?;
        let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
        let dtype = file.dtype();
        let descr = match &dtype {
            npyz::DType::Plain(t) => t.to_string(),
            _ => bail!(
                "{}: array '{name}' has a structured dtype; only numeric arrays are supported",
                path.display()
            ),
        };
        let data: Vec<f32> = match &descr[1..] {
            "f4" => file.into_vec::<f32>()?,
            "f8" => file
                .into_vec::<f64>()?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            "u1" | "b1" => file
                .into_vec::<u8>()?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            "i1" => file
                .into_vec::<i8>()?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            "i4" => file
                .into_vec::<i32>()?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            "i8" => file
                .into_vec::<i64>()?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            other => bail!(
                "{}: array '{name}' has dtype {other}; use float32",
                path.display()
            ),
        };
        out.push(NamedArray { name, shape, data });
    }
    Ok(out)
}

/// Write f32 arrays to an `.npz` file.
pub fn write_npz(path: &Path, arrays: &[NamedArray]) -> Result<()> {
    let mut npz = npyz::npz::NpzWriter::create(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    for a in arrays {
        let shape: Vec<u64> = a.shape.iter().map(|&d| d as u64).collect();
        let mut w = npz
            .array::<f32>(&a.name, Default::default())?
            .default_dtype()
            .shape(&shape)
            .begin_nd()?;
        w.extend(a.data.iter().copied())?;
        w.finish()?;
    }
    Ok(())
}
