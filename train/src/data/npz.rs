//! NumPy's `.npz` archives (`np.savez`, `np.savez_compressed`): every array, as f64.
//!
//! An archive is a zip file of `.npy` entries, stored or deflated. Floats, integers and
//! booleans of either byte order are read, C or Fortran order (a Fortran array is transposed
//! to row-major); anything else (complex, strings, objects, pickles) is an error that names
//! the array. A damaged or truncated file is an error, never a panic: a header is believed
//! only as far as the bytes behind it go.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::Path;

use npyz::{DType, NpyFile, Order, TypeChar};

use super::DataError;

/// One array: its shape and its values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// The shape (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub values: Vec<f64>,
}

impl Array {
    /// The shape as NumPy prints it: `(3, 400, 2)`, `(5,)`, `()`.
    pub fn describe_shape(&self) -> String {
        shape_text(&self.shape)
    }
}

/// A shape as NumPy prints it: `(3, 400, 2)`, `(5,)`, `()`.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// Reads every array of the `.npz` file at `path`, by name.
pub fn read_npz(path: &Path) -> Result<BTreeMap<String, Array>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::file(path, format!("cannot read it: {e}")))?;
    parse_npz(path, &bytes)
}

/// The arrays of an `.npz` archive held in memory; `path` names it in errors.
pub fn parse_npz(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, Array>, DataError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        DataError::file(path, format!("not an .npz archive ({e}); write one with numpy.savez"))
    })?;
    let mut arrays = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| DataError::file(path, format!("entry {i} of the archive cannot be read: {e}")))?;
        let entry_name = entry
            .name()
            .map_err(|e| {
                DataError::file(path, format!("entry {i} of the archive has no readable name: {e}"))
            })?
            .into_owned();
        let Some(name) = entry_name.strip_suffix(".npy") else {
            return Err(DataError::file(
                path,
                format!("`{entry_name}` is not an array (an .npz archive holds only .npy files)"),
            ));
        };
        // The size the archive claims is not trusted further than the file's own size allows.
        let limit = entry.size().min(bytes.len() as u64 * 1032 + 1024);
        let mut data = Vec::new();
        (&mut entry).take(limit).read_to_end(&mut data).map_err(|e| {
            DataError::file(
                path,
                format!("array `{name}` cannot be read: {e} (a truncated or damaged file?)"),
            )
        })?;
        let array =
            parse_npy(&data).map_err(|why| DataError::file(path, format!("array `{name}`: {why}")))?;
        arrays.insert(name.to_owned(), array);
    }
    Ok(arrays)
}

/// Writes `arrays` (name, array) as an uncompressed `.npz` archive of float64 arrays, as
/// `numpy.savez` does.
pub fn write_npz(path: &Path, arrays: &[(&str, &Array)]) -> Result<(), DataError> {
    use npyz::WriterBuilder;
    use std::io::Write;
    let fail = |e: &dyn std::fmt::Display| DataError::file(path, format!("cannot write it: {e}"));
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for (name, array) in arrays {
        zip.start_file(format!("{name}.npy"), options).map_err(|e| fail(&e))?;
        let shape: Vec<u64> = array.shape.iter().map(|&n| n as u64).collect();
        let mut npy = Vec::new();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&shape)
            .writer(&mut npy)
            .begin_nd()
            .map_err(|e| fail(&e))?;
        w.extend(array.values.iter().copied()).map_err(|e| fail(&e))?;
        w.finish().map_err(|e| fail(&e))?;
        zip.write_all(&npy).map_err(|e| fail(&e))?;
    }
    zip.finish().map_err(|e| fail(&e))?.flush().map_err(|e| fail(&e))
}

/// One `.npy` file's bytes as an [`Array`].
fn parse_npy(bytes: &[u8]) -> Result<Array, String> {
    guard_shape(bytes)?;
    let npy = NpyFile::new(bytes).map_err(|e| format!("not a valid .npy array ({e})"))?;
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&n| usize::try_from(n).map_err(|_| format!("a dimension of {n} is too large")))
        .collect::<Result<_, _>>()?;
    let DType::Plain(ty) = npy.dtype() else {
        return Err("structured arrays are not read; save each field as its own array".into());
    };
    let size = ty.size_field() as usize;
    let kind = match (ty.type_char(), size) {
        (TypeChar::Float, 4 | 8) | (TypeChar::Int | TypeChar::Uint, 1 | 2 | 4 | 8) | (TypeChar::Bool, 1) => {
            ty.type_char()
        }
        _ => return Err(format!("its dtype `{ty}` is not a number this reads (float, int or bool)")),
    };
    let count = shape.iter().try_fold(1usize, |a, &n| a.checked_mul(n));
    let order = npy.order();
    let header = bytes.len() - npy.into_inner().len();
    let body = &bytes[header..];
    match count.and_then(|c| c.checked_mul(size)) {
        Some(need) if need <= body.len() => {}
        _ => {
            return Err(format!(
                "its header says shape {} of {size}-byte numbers, but only {} bytes follow (a truncated file?)",
                shape_text(&shape),
                body.len()
            ));
        }
    }
    let little = !matches!(ty.endianness(), npyz::Endianness::Big);
    let values: Vec<f64> =
        body.chunks_exact(size).take(count.unwrap_or(0)).map(|b| number(kind, b, little)).collect();
    let values = if order == Order::Fortran { transpose(&shape, &values) } else { values };
    Ok(Array { shape, values })
}

/// An error when the header's shape has more elements than any file could hold (npyz
/// multiplies the dimensions without checking for overflow). Only the `shape` tuple is
/// looked at; npyz parses the header itself.
fn guard_shape(bytes: &[u8]) -> Result<(), String> {
    let head = &bytes[..bytes.len().min(65536)];
    let text = String::from_utf8_lossy(head);
    let Some(at) = text.find("'shape'").or_else(|| text.find("\"shape\"")) else { return Ok(()) };
    let rest = &text[at..];
    let Some(tuple) = rest.find('(').and_then(|a| Some(&rest[a + 1..a + rest[a..].find(')')?])) else {
        return Ok(());
    };
    let mut elements: u64 = 1;
    for dim in tuple.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let n: u64 =
            dim.parse().map_err(|_| format!("its header's shape `({tuple})` is not a tuple of sizes"))?;
        elements = elements.saturating_mul(n.max(1));
    }
    if elements > 1 << 48 {
        return Err(format!("its header's shape `({tuple})` is larger than any file (a damaged file?)"));
    }
    Ok(())
}

/// One number of `size = bytes.len()` bytes.
fn number(kind: TypeChar, b: &[u8], little: bool) -> f64 {
    let mut w = [0u8; 8];
    if little {
        w[..b.len()].copy_from_slice(b);
    } else {
        for (i, &x) in b.iter().rev().enumerate() {
            w[i] = x;
        }
    }
    let bits = u64::from_le_bytes(w);
    let n = b.len() as u32 * 8;
    match kind {
        TypeChar::Float if n == 32 => f64::from(f32::from_bits(bits as u32)),
        TypeChar::Float => f64::from_bits(bits),
        // Sign-extend from n bits.
        TypeChar::Int => ((bits << (64 - n)) as i64 >> (64 - n)) as f64,
        _ => bits as f64,
    }
}

/// Column-major values to row-major.
fn transpose(shape: &[usize], values: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; values.len()];
    let mut index = vec![0usize; shape.len()];
    for &v in values {
        // `index` walks the array in column-major order (the first index fastest).
        let row_major = index.iter().zip(shape).fold(0, |a, (&i, &n)| a * n + i);
        out[row_major] = v;
        for (i, &n) in index.iter_mut().zip(shape) {
            *i += 1;
            if *i < n {
                break;
            }
            *i = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An .npy file written by hand: `descr`, `fortran`, `shape`, then `body`.
    fn npy(descr: &str, fortran: bool, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(body);
        out
    }

    /// An .npz archive of `entries`, stored (`deflate = false`) or deflated.
    fn npz(entries: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let method = if deflate { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        for (name, bytes) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn f64s(values: &[f64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn reads_floats_ints_and_both_orders() {
        let ints: Vec<u8> = [-3i32, 7].iter().flat_map(|v| v.to_be_bytes()).collect();
        let halfs: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = npz(
            &[
                ("a.npy", npy("<f8", false, "(2, 3)", &f64s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))),
                ("f.npy", npy("<f8", true, "(2, 3)", &f64s(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]))),
                ("i.npy", npy(">i4", false, "(2,)", &ints)),
                ("s.npy", npy("<f4", false, "()", &halfs[..4])),
                ("h.npy", npy("<f4", false, "(2,)", &halfs)),
            ],
            true,
        );
        let arrays = parse_npz(Path::new("x.npz"), &bytes).unwrap();
        assert_eq!(arrays["a"], Array { shape: vec![2, 3], values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] });
        let path = std::env::temp_dir().join(format!("hsc-npz-{}.npz", std::process::id()));
        write_npz(&path, &[("a", &arrays["a"]), ("s", &arrays["s"])]).unwrap();
        let back = read_npz(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert_eq!((back.len(), &back["a"], &back["s"]), (2, &arrays["a"], &arrays["s"]));
        assert_eq!(arrays["f"], arrays["a"]);
        assert_eq!(arrays["i"].values, vec![-3.0, 7.0]);
        assert_eq!(arrays["s"], Array { shape: vec![], values: vec![1.5] });
        assert_eq!(arrays["h"].values, vec![1.5, -2.0]);
        assert_eq!(arrays["a"].describe_shape(), "(2, 3)");
        assert_eq!(arrays["h"].describe_shape(), "(2,)");
    }

    #[test]
    fn errors_name_the_file_and_the_array() {
        let path = Path::new("traj.npz");
        let short = npz(&[("q.npy", npy("<f8", false, "(4,)", &f64s(&[1.0, 2.0])))], false);
        let e = parse_npz(path, &short).unwrap_err().to_string();
        assert!(e.starts_with("traj.npz: array `q`:") && e.contains("only 16 bytes follow"), "{e}");
        let complex = npz(&[("z.npy", npy("<c16", false, "(1,)", &[0; 16]))], false);
        let e = parse_npz(path, &complex).unwrap_err().to_string();
        assert!(e.contains("array `z`") && e.contains("<c16"), "{e}");
        let other = npz(&[("notes.txt", b"hello".to_vec())], false);
        assert!(parse_npz(path, &other).unwrap_err().to_string().contains("`notes.txt` is not an array"));
        let e = parse_npz(path, b"PK\x03\x04 not really").unwrap_err().to_string();
        assert!(e.contains("not an .npz archive"), "{e}");
        let huge = npz(&[("q.npy", npy("<f8", false, "(4611686018427387904, 8)", &[]))], false);
        assert!(parse_npz(path, &huge).unwrap_err().to_string().contains("array `q`"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 400, failure_persistence: None, ..Default::default() })]

        /// Every prefix of an archive, and every archive with bytes changed, is read or refused,
        /// never a panic.
        #[test]
        fn damaged_archives_never_panic(cut in 0usize..2000, flips in proptest::collection::vec((0usize..2000, 0u8..=255), 0..6), deflate: bool) {
            let values: Vec<f64> = (0..40).map(f64::from).collect();
            let mut bytes = npz(&[
                ("q.npy", npy("<f8", false, "(5, 8)", &f64s(&values))),
                ("y.npy", npy("<f4", true, "(2, 2)", &[0; 16])),
            ], deflate);
            for (at, b) in flips {
                let n = bytes.len();
                bytes[at % n] = b;
            }
            bytes.truncate(cut.min(bytes.len()));
            let _ = parse_npz(Path::new("f.npz"), &bytes);
        }

        /// The same for an `.npy` entry itself (inside an archive, the checksum refuses most
        /// changed bytes before they reach the parser), with headers of any shape.
        #[test]
        fn damaged_arrays_never_panic(dims in proptest::collection::vec(proptest::prop_oneof![0u64..40, proptest::num::u64::ANY], 0..4), cut in 0usize..500, flips in proptest::collection::vec((0usize..500, 0u8..=255), 0..4), fortran: bool) {
            let shape = format!("({})", dims.iter().map(|d| format!("{d}, ")).collect::<String>());
            let mut bytes = npy("<f8", fortran, &shape, &f64s(&[1.0; 24]));
            for (at, b) in flips {
                let n = bytes.len();
                bytes[at % n] = b;
            }
            bytes.truncate(cut.min(bytes.len()));
            let _ = parse_npy(&bytes);
        }
    }
}
