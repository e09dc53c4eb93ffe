//! One tar file of an OCI image layout: written from a layout directory and unpacked into one,
//! in the POSIX ustar format (with the pax and GNU long-name extensions understood on reading).
//! Both directions hash every blob against its file name as it passes, so a tampered blob is
//! refused on the way out and on the way in. Only `oci-layout`, `index.json` and
//! `blobs/<alg>/<hex>` are unpacked; links, devices and paths leaving the directory are refused.

use crate::error::{Error, InputError, RegistryError};
use crate::reference::Digest;
use crate::registry::remote::StreamingDigest;
use std::fs;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const BLOCK: usize = 512;
/// Largest index.json or oci-layout accepted from a tar.
const MAX_METADATA: u64 = 16 << 20;
/// Largest pax or GNU long-name record.
const MAX_EXTENSION: u64 = 1 << 20;

fn tar_error(path: &Path, reason: impl std::fmt::Display) -> Error {
    RegistryError::Layout { path: path.display().to_string(), reason: reason.to_string() }.into()
}

/// Writes the layout `dir` as the tar `target` (through a temporary file renamed at the end).
pub(super) fn write_layout(dir: &Path, target: &Path) -> Result<(), Error> {
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut b = [0u8; 8];
    let _ = aws_lc_rs::rand::fill(&mut b);
    let tmp = parent.join(format!(".ironsign-tar-{}", hex::encode(b)));
    let result = (|| {
        let file = fs::File::create(&tmp).map_err(|e| InputError::io(&tmp, e))?;
        let mut out = BufWriter::with_capacity(256 << 10, file);
        let io = |e: std::io::Error| InputError::io(target, e);
        for name in ["oci-layout", "index.json"] {
            let path = dir.join(name);
            let size = fs::metadata(&path).map_err(|e| InputError::io(&path, e))?.len();
            out.write_all(&header(name, size, false)).map_err(io)?;
            copy_file(&path, size, None, &mut out, target)?;
        }
        out.write_all(&header("blobs/", 0, true)).map_err(io)?;
        let mut algorithms: Vec<_> = fs::read_dir(dir.join("blobs"))
            .map_err(|e| InputError::io(dir.join("blobs"), e))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        algorithms.sort();
        for alg in algorithms {
            out.write_all(&header(&format!("blobs/{alg}/"), 0, true)).map_err(io)?;
            let alg_dir = dir.join("blobs").join(&alg);
            let mut names: Vec<String> = fs::read_dir(&alg_dir)
                .map_err(|e| InputError::io(&alg_dir, e))?
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .filter(|n| !n.starts_with('.'))
                .collect();
            names.sort();
            for name in names {
                let digest = Digest::parse(&format!("{alg}:{name}"))
                    .map_err(|_| tar_error(dir, format!("blobs/{alg}/{name} is not named by a digest")))?;
                let path = alg_dir.join(&name);
                let size = fs::metadata(&path).map_err(|e| InputError::io(&path, e))?.len();
                out.write_all(&header(&format!("blobs/{alg}/{name}"), size, false)).map_err(io)?;
                copy_file(&path, size, Some(&digest), &mut out, target)?;
            }
        }
        out.write_all(&[0u8; 2 * BLOCK]).map_err(io)?;
        let file = out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, target).map_err(io)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Copies `size` bytes of a file into the tar with its padding, hashing it against `digest`.
fn copy_file(
    path: &Path,
    size: u64,
    digest: Option<&Digest>,
    out: &mut impl Write,
    target: &Path,
) -> Result<(), Error> {
    let mut input = fs::File::open(path).map_err(|e| InputError::io(path, e))?.take(size);
    let mut hasher = StreamingDigest::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = input.read(&mut buf).map_err(|e| InputError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| InputError::io(target, e))?;
    }
    if hasher.size != size {
        return Err(tar_error(path, format!("changed size while being written ({} of {size} bytes)", hasher.size)));
    }
    if let Some(d) = digest.filter(|d| d.algorithm() == "sha256") {
        hasher.check(d, &format!("blob {d} in {}", path.parent().and_then(Path::parent).unwrap_or(path).display()))?;
    }
    out.write_all(&vec![0u8; padding(size)]).map_err(|e| InputError::io(target, e))?;
    Ok(())
}

fn padding(size: u64) -> usize {
    (BLOCK - (size % BLOCK as u64) as usize) % BLOCK
}

/// A ustar header (reproducible: owner 0, time 0).
fn header(name: &str, size: u64, directory: bool) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], if directory { 0o755 } else { 0o644 });
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    if size < 1 << 33 {
        octal(&mut h[124..136], size);
    } else {
        // GNU base-256 for sizes of 8 GiB and more.
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    octal(&mut h[136..148], 0);
    h[156] = if directory { b'5' } else { b'0' };
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let field = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(field.as_bytes());
    h
}

fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    field[..width].copy_from_slice(text.as_bytes());
    field[width] = 0;
}

fn parse_number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let text: String =
        field.iter().take_while(|&&b| b != 0).map(|&b| b as char).filter(|c| !c.is_whitespace()).collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(&text, 8).ok()
}

fn field_str(field: &[u8]) -> String {
    String::from_utf8_lossy(&field[..field.iter().position(|&b| b == 0).unwrap_or(field.len())]).into_owned()
}

/// Where an entry of a layout tar goes, or `None` for an entry that is not part of a layout.
fn layout_path(name: &str) -> Result<Option<(PathBuf, Option<Digest>)>, String> {
    let trimmed = name.trim_start_matches("./").trim_end_matches('/');
    if trimmed.starts_with('/') || trimmed.split('/').any(|c| c == "..") {
        return Err(format!("entry {name:?} leaves the layout"));
    }
    let parts: Vec<&str> = trimmed.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    Ok(match parts.as_slice() {
        ["oci-layout"] | ["index.json"] => Some((PathBuf::from(parts[0]), None)),
        ["blobs", alg, hex] => match Digest::parse(&format!("{alg}:{hex}")) {
            Ok(d) => Some((PathBuf::from("blobs").join(alg).join(hex), Some(d))),
            Err(_) => None,
        },
        _ => None,
    })
}

/// Unpacks the layout tar `source` into `dir`, checking every blob against its name.
pub(super) fn unpack_layout(source: &Path, dir: &Path) -> Result<(), Error> {
    let file = fs::File::open(source).map_err(|e| InputError::io(source, e))?;
    let mut input = BufReader::with_capacity(256 << 10, file);
    let io = |e: std::io::Error| InputError::io(source, e);
    let mut long_name: Option<String> = None;
    let mut saw_layout = false;
    loop {
        let mut h = [0u8; BLOCK];
        match input.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(io(e).into()),
        }
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let stored = parse_number(&h[148..156]).ok_or_else(|| tar_error(source, "bad header checksum field"))?;
        let mut sum = h;
        sum[148..156].fill(b' ');
        if u64::from(sum.iter().map(|&b| u32::from(b)).sum::<u32>()) != stored {
            return Err(tar_error(source, "header checksum mismatch (not a tar, or damaged)"));
        }
        let size = parse_number(&h[124..136]).ok_or_else(|| tar_error(source, "bad size field"))?;
        let kind = h[156];
        let mut name = field_str(&h[0..100]);
        let prefix = field_str(&h[345..500]);
        if &h[257..262] == b"ustar" && !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        if let Some(n) = long_name.take() {
            name = n;
        }
        match kind {
            b'x' | b'L' => {
                if size > MAX_EXTENSION {
                    return Err(tar_error(source, format!("extended header of {size} bytes")));
                }
                let mut data = vec![0u8; size as usize];
                input.read_exact(&mut data).map_err(io)?;
                skip(&mut input, padding(size) as u64).map_err(io)?;
                long_name = if kind == b'L' { Some(field_str(&data)) } else { pax_path(&data) };
                continue;
            }
            b'g' | b'5' => {
                skip(&mut input, size + padding(size) as u64).map_err(io)?;
                continue;
            }
            b'0' | 0 | b'7' => {}
            other => {
                return Err(tar_error(
                    source,
                    format!("entry {name:?} is of type {:?}: only files and directories are unpacked", other as char),
                ));
            }
        }
        let Some((relative, digest)) = layout_path(&name).map_err(|r| tar_error(source, r))? else {
            skip(&mut input, size + padding(size) as u64).map_err(io)?;
            continue;
        };
        if digest.is_none() && size > MAX_METADATA {
            return Err(tar_error(source, format!("{name} is {size} bytes")));
        }
        saw_layout |= relative == Path::new("oci-layout");
        let target = dir.join(&relative);
        if let Some(p) = target.parent() {
            fs::create_dir_all(p).map_err(|e| InputError::io(p, e))?;
        }
        let mut out =
            BufWriter::with_capacity(256 << 10, fs::File::create(&target).map_err(|e| InputError::io(&target, e))?);
        let mut hasher = StreamingDigest::new();
        let mut remaining = size;
        let mut buf = vec![0u8; 256 << 10];
        while remaining > 0 {
            let want = remaining.min(buf.len() as u64) as usize;
            let n = input.read(&mut buf[..want]).map_err(io)?;
            if n == 0 {
                return Err(tar_error(source, format!("{name} is cut short")));
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| InputError::io(&target, e))?;
            remaining -= n as u64;
        }
        out.flush().map_err(|e| InputError::io(&target, e))?;
        skip(&mut input, padding(size) as u64).map_err(io)?;
        if let Some(d) = digest.filter(|d| d.algorithm() == "sha256") {
            hasher.check(&d, &format!("blob {d} in {}", source.display()))?;
        }
    }
    if !saw_layout {
        return Err(tar_error(source, "the tar holds no oci-layout file: not an OCI image layout"));
    }
    Ok(())
}

fn skip(input: &mut impl Read, n: u64) -> std::io::Result<()> {
    let copied = std::io::copy(&mut input.take(n), &mut std::io::sink())?;
    if copied != n {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "tar cut short"));
    }
    Ok(())
}

/// The `path` record of a pax extended header.
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    let mut rest: &str = &text;
    while !rest.is_empty() {
        let (len, _) = rest.split_once(' ')?;
        let len: usize = len.parse().ok()?;
        let record = rest.get(..len)?;
        rest = &rest[len..];
        let (_, kv) = record.split_once(' ')?;
        if let Some(v) = kv.trim_end_matches('\n').strip_prefix("path=") {
            return Some(v.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_size_and_checksum() {
        for size in [0u64, 1, 511, 512, 1 << 32, (1 << 33) + 5] {
            let h = header("blobs/sha256/ab", size, false);
            assert_eq!(parse_number(&h[124..136]), Some(size));
            let mut sum = h;
            sum[148..156].fill(b' ');
            assert_eq!(u64::from(sum.iter().map(|&b| u32::from(b)).sum::<u32>()), parse_number(&h[148..156]).unwrap());
        }
    }

    #[test]
    fn only_layout_paths_are_taken() {
        let hex = "a".repeat(64);
        assert!(layout_path("./index.json").unwrap().is_some());
        assert!(layout_path(&format!("blobs/sha256/{hex}")).unwrap().unwrap().1.is_some());
        assert!(layout_path("blobs/sha256/not-a-digest").unwrap().is_none());
        assert!(layout_path("manifest.json").unwrap().is_none());
        assert!(layout_path("../index.json").is_err());
        assert!(layout_path("/etc/passwd").is_err());
    }

    #[test]
    fn pax_path_record() {
        assert_eq!(pax_path(b"30 path=blobs/sha256/abcdefgh\n").as_deref(), Some("blobs/sha256/abcdefgh"));
    }
}
