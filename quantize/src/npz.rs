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
    let open = || -> Result<zip::ZipArchive<std::io::BufReader<std::fs::File>>> {
        let f = std::fs::File::open(path)?;
        Ok(zip::ZipArchive::new(std::io::BufReader::new(f))?)
    };
    let mut npz =
        open().with_context(|| format!("cannot open {} as an .npz archive", path.display()))?;
    let mut out = Vec::new();
    for i in 0..npz.len() {
        let member = npz
            .by_index(i)
            .with_context(|| format!("{}: cannot read member {i}", path.display()))?;
        let Some(name) = member.name().strip_suffix(".npy").map(str::to_string) else {
            continue; // not an array
        };
        let file = npyz::NpyFile::new(member)
            .with_context(|| format!("{}: array {name} is not a .npy file", path.display()))?;
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
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut npz = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let stored =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for a in arrays {
        let shape: Vec<u64> = a.shape.iter().map(|&d| d as u64).collect();
        npz.start_file(format!("{}.npy", a.name), stored)?;
        let mut w = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut npz)
            .begin_nd()?;
        w.extend(a.data.iter().copied())?;
        w.finish()?;
    }
    npz.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NamedArray {
        NamedArray {
            name: "x".into(),
            shape: vec![2, 3],
            data: vec![0.5, -1.0, 2.0, 3.25, 4.0, -5.5],
        }
    }

    #[test]
    fn written_arrays_read_back() {
        let path = std::env::temp_dir().join(format!("mote-npz-{}.npz", std::process::id()));
        write_npz(&path, &[sample()]).unwrap();
        assert_eq!(read_npz(&path).unwrap(), vec![sample()]);
        std::fs::remove_file(&path).ok();
    }

    /// `np.savez_compressed` deflates its members.
    #[test]
    fn deflated_members_read() {
        let path = std::env::temp_dir().join(format!("mote-npz-d{}.npz", std::process::id()));
        let mut npz = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let deflated =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        npz.start_file("x.npy", deflated).unwrap();
        let a = sample();
        let mut w = npyz::WriteOptions::<f32>::new()
            .default_dtype()
            .shape(&[2, 3])
            .writer(&mut npz)
            .begin_nd()
            .unwrap();
        w.extend(a.data.iter().copied()).unwrap();
        w.finish().unwrap();
        npz.finish().unwrap();
        assert_eq!(read_npz(&path).unwrap(), vec![a]);
        std::fs::remove_file(&path).ok();
    }
}
