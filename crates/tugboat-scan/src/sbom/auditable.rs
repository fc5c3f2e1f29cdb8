//! Rust binaries built with cargo-auditable: the `.dep-v0` section holds zlib-compressed JSON of the crates
//! linked in (`{"packages":[{"name","version","source","kind","dependencies","root"}]}`).
//!
//! The ELF reader is tug's own (section headers and their string table, nothing else): only ELF64
//! little-endian files (x86-64, aarch64) are read; the magic and class are checked, other files are not
//! binaries tug looks into.

use std::io::{Read, Seek, SeekFrom};

use super::{lockfiles, Package, PackageKind, SbomError};
use crate::Ecosystem;

/// The section cargo-auditable writes.
const SECTION: &[u8] = b".dep-v0";
/// The compressed section and its JSON are a few KiB for hundreds of crates; these bound a hostile file.
const MAX_SECTION: u64 = 8 << 20;
const MAX_JSON: u64 = 64 << 20;
/// ELF header fields read (ELF64).
const EHDR_LEN: usize = 64;
const SHDR_LEN: u64 = 64;

/// How many bytes from the start of the file the section header table ends at: what must be read to find
/// `.dep-v0` (the table is usually last). None when `head` (the first 64 bytes) is no ELF64 little-endian
/// header or has no section headers.
pub(crate) fn needed_len(head: &[u8]) -> Option<u64> {
    if head.len() < EHDR_LEN || &head[..4] != b"\x7fELF" || head[4] != 2 || head[5] != 1 {
        return None;
    }
    let shoff = u64_at(head, 0x28)?;
    let shentsize = u64::from(u16_at(head, 0x3A)?);
    let shnum = u64::from(u16_at(head, 0x3C)?);
    if shoff == 0 || shnum == 0 || shentsize != SHDR_LEN {
        return None;
    }
    shoff.checked_add(shnum * SHDR_LEN)
}

/// Why `.dep-v0` could not be read.
#[derive(Debug)]
pub(crate) enum DepError {
    /// The ELF structure (header, section headers, name table) does not hold together: no binary tug reads.
    Elf,
    /// The section is there but is not what cargo-auditable writes.
    Section(String),
}

/// The decompressed `.dep-v0` JSON of the ELF file in `r` (read from offset 0), None when it has none.
pub(crate) fn dep_v0<R: Read + Seek>(r: &mut R) -> Result<Option<Vec<u8>>, DepError> {
    use DepError::{Elf, Section};
    let mut head = [0u8; EHDR_LEN];
    r.seek(SeekFrom::Start(0)).map_err(|_| Elf)?;
    r.read_exact(&mut head).map_err(|_| Elf)?;
    if needed_len(&head).is_none() {
        return Ok(None);
    }
    let shoff = u64_at(&head, 0x28).unwrap_or(0);
    let shnum = u64::from(u16_at(&head, 0x3C).unwrap_or(0));
    let shstrndx = u64::from(u16_at(&head, 0x3E).unwrap_or(0));
    let mut table = vec![0u8; (shnum * SHDR_LEN) as usize];
    r.seek(SeekFrom::Start(shoff)).map_err(|_| Elf)?;
    r.read_exact(&mut table).map_err(|_| Elf)?;
    let shdr = |i: u64| -> Option<(u32, u32, u64, u64)> {
        let s = table.get((i * SHDR_LEN) as usize..((i + 1) * SHDR_LEN) as usize)?;
        Some((u32_at(s, 0)?, u32_at(s, 4)?, u64_at(s, 0x18)?, u64_at(s, 0x20)?))
    };
    let Some((_, _, str_off, str_size)) = shdr(shstrndx) else {
        return Err(Elf);
    };
    if str_size > MAX_SECTION {
        return Err(Elf);
    }
    let names = read_at(r, str_off, str_size).map_err(|_| Elf)?;
    for i in 0..shnum {
        let Some((name, kind, off, size)) = shdr(i) else { continue };
        let name = names.get(name as usize..).unwrap_or(&[]);
        // SHT_NOBITS (8) occupies no bytes in the file.
        if kind == 8 || !name.starts_with(SECTION) || name.get(SECTION.len()) != Some(&0) {
            continue;
        }
        if size > MAX_SECTION {
            return Err(Section(format!(".dep-v0 section of {size} bytes")));
        }
        let compressed = read_at(r, off, size).map_err(Section)?;
        let mut json = Vec::new();
        flate2::read::ZlibDecoder::new(compressed.as_slice())
            .take(MAX_JSON)
            .read_to_end(&mut json)
            .map_err(|e| Section(format!(".dep-v0 is not zlib data: {e}")))?;
        return Ok(Some(json));
    }
    Ok(None)
}

/// The crates.io packages of a `.dep-v0` JSON document (the root crate, path and git crates left out).
pub(crate) fn packages(path: &str, json: &[u8]) -> Result<Vec<Package>, SbomError> {
    let doc: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| SbomError::parse(path, format!(".dep-v0 is not JSON: {e}")))?;
    let Some(list) = doc.get("packages").and_then(|p| p.as_array()) else {
        return Err(SbomError::parse(path, ".dep-v0 JSON has no `packages` array"));
    };
    let mut out = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let field = |k: &str| p.get(k).and_then(|v| v.as_str());
        if field("source") != Some("crates.io") || p.get("root").and_then(|r| r.as_bool()) == Some(true) {
            continue;
        }
        let (Some(name), Some(version)) = (field("name"), field("version")) else {
            return Err(SbomError::parse(path, format!(".dep-v0 packages[{i}]: no name or version")));
        };
        out.push(Package {
            kind: PackageKind::Crate,
            name: name.to_string(),
            version: version.to_string(),
            ecosystem: Some(Ecosystem::CratesIo),
            source: None,
            location: path.to_string(),
            purl: lockfiles::purl(&PackageKind::Crate, name, version),
        });
    }
    Ok(out)
}

fn read_at<R: Read + Seek>(r: &mut R, off: u64, len: u64) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; len as usize];
    r.seek(SeekFrom::Start(off)).map_err(|e| e.to_string())?;
    r.read_exact(&mut buf).map_err(|e| format!("{len} bytes at {off}: {e}"))?;
    Ok(buf)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A minimal ELF64 little-endian file with the given sections (and the section name table), laid out as
/// linkers do: header, section contents, section header table last.
#[cfg(test)]
pub(crate) fn synthetic_elf(sections: &[(&str, &[u8])]) -> Vec<u8> {
    let mut names = vec![0u8];
    let mut name_offs = Vec::new();
    for (n, _) in sections.iter().chain([&(".shstrtab", &[][..])]) {
        name_offs.push(names.len() as u32);
        names.extend_from_slice(n.as_bytes());
        names.push(0);
    }
    let mut body = vec![0u8; EHDR_LEN];
    let mut shdrs = vec![[0u8; 64]]; // index 0: the null section
    let contents: Vec<&[u8]> = sections.iter().map(|(_, c)| *c).chain([names.as_slice()]).collect();
    for (i, c) in contents.iter().enumerate() {
        let mut h = [0u8; 64];
        h[0..4].copy_from_slice(&name_offs[i].to_le_bytes());
        h[4..8].copy_from_slice(&(if i == contents.len() - 1 { 3u32 } else { 1u32 }).to_le_bytes());
        h[0x18..0x20].copy_from_slice(&(body.len() as u64).to_le_bytes());
        h[0x20..0x28].copy_from_slice(&(c.len() as u64).to_le_bytes());
        body.extend_from_slice(c);
        shdrs.push(h);
    }
    let shoff = body.len() as u64;
    body[..4].copy_from_slice(b"\x7fELF");
    body[4] = 2;
    body[5] = 1;
    body[6] = 1;
    body[0x10..0x12].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    body[0x12..0x14].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    body[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
    body[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
    body[0x3C..0x3E].copy_from_slice(&(shdrs.len() as u16).to_le_bytes());
    body[0x3E..0x40].copy_from_slice(&((shdrs.len() - 1) as u16).to_le_bytes());
    for h in shdrs {
        body.extend_from_slice(&h);
    }
    body
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    const JSON: &str = r#"{"packages":[
        {"name":"app","version":"0.1.0","source":"local","kind":"runtime","dependencies":[1,2],"root":true},
        {"name":"itoa","version":"1.0.11","source":"crates.io","kind":"runtime"},
        {"name":"mine","version":"0.3.0","source":"git"},
        {"name":"serde","version":"1.0.200","source":"crates.io","kind":"build"}]}"#;

    #[test]
    fn finds_dep_v0_among_other_sections() {
        let dep = zlib(JSON.as_bytes());
        let elf = synthetic_elf(&[(".text", b"\x90\x90\x90"), (".dep-v0", &dep), (".dep-v0x", b"not it")]);
        assert_eq!(needed_len(&elf[..64]), Some(elf.len() as u64));
        let json = dep_v0(&mut Cursor::new(&elf)).unwrap().unwrap();
        let pkgs = packages("usr/local/bin/app", &json).unwrap();
        let names: Vec<_> = pkgs.iter().map(|p| format!("{}@{}", p.name, p.version)).collect();
        assert_eq!(names, ["itoa@1.0.11", "serde@1.0.200"]);
        assert_eq!(pkgs[0].purl, "pkg:cargo/itoa@1.0.11");
        assert_eq!(pkgs[0].location, "usr/local/bin/app");
    }

    #[test]
    fn no_section_not_elf64_le_and_corrupt_data() {
        let elf = synthetic_elf(&[(".text", b"\x90")]);
        assert_eq!(dep_v0(&mut Cursor::new(&elf)).unwrap(), None);
        let mut be = elf.clone();
        be[5] = 2; // big-endian
        assert_eq!(needed_len(&be[..64]), None);
        assert_eq!(dep_v0(&mut Cursor::new(&be)).unwrap(), None);
        let mut elf32 = elf.clone();
        elf32[4] = 1;
        assert_eq!(needed_len(&elf32[..64]), None);
        let bad = synthetic_elf(&[(".dep-v0", b"not zlib")]);
        assert!(matches!(dep_v0(&mut Cursor::new(&bad)), Err(DepError::Section(e)) if e.contains("not zlib")));
        let truncated = &elf[..elf.len() - 10];
        assert!(matches!(dep_v0(&mut Cursor::new(truncated)), Err(DepError::Elf)));
        assert!(packages("bin/x", b"{}").unwrap_err().to_string().contains("no `packages` array"));
    }
}
