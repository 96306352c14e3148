//! Reading a float array from a NumPy `.npy` file (little-endian `<f4` or `<f8`, C order), as
//! SSD anchor files are shipped.

use std::path::Path;

use crate::error::VisionError;

/// The array's shape and its values as `f32`.
pub(crate) fn read_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>), VisionError> {
    let bytes = std::fs::read(path)
        .map_err(|e| VisionError::Config(format!("cannot read {}: {e}", path.display())))?;
    parse_f32(&bytes).map_err(|m| VisionError::Config(format!("{}: {m}", path.display())))
}

fn parse_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), String> {
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return Err("not a .npy file".into());
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let data_start = header_start + header_len;
    let header = bytes
        .get(header_start..data_start)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated .npy header")?;
    if header.contains("'fortran_order': True") {
        return Err("Fortran-order arrays are not supported".into());
    }
    let width = if header.contains("'<f4'") {
        4
    } else if header.contains("'<f8'") {
        8
    } else {
        return Err(format!(
            "only little-endian float arrays are supported: {header}"
        ));
    };
    let shape_text = header
        .split("'shape':")
        .nth(1)
        .and_then(|rest| rest.split('(').nth(1))
        .and_then(|rest| rest.split(')').next())
        .ok_or("no shape in .npy header")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<usize>()
                .map_err(|_| format!("bad dimension '{d}'"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let count: usize = shape.iter().product();
    let data = &bytes[data_start..];
    if data.len() != count * width {
        return Err(format!(
            "{} data bytes for shape {shape:?} of {width}-byte floats",
            data.len()
        ));
    }
    let values = if width == 4 {
        data.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    } else {
        data.chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect()
    };
    Ok((shape, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_a_float_array_and_refuses_others() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let file = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }\n",
            &data,
        );
        let (shape, values) = parse_f32(&file).unwrap();
        assert_eq!(shape, vec![3, 2]);
        assert_eq!(values[5], 6.0);
        let ints = npy(
            "{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }\n",
            &data,
        );
        assert!(parse_f32(&ints).is_err());
        assert!(parse_f32(&data[..8]).is_err());
        let short = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }\n",
            &data,
        );
        assert!(parse_f32(&short).is_err());
    }
}
