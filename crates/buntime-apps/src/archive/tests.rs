#![allow(clippy::type_complexity)]

use std::io::Write;

use super::*;

/// One entry of a test archive.
#[derive(Debug, Clone, Copy)]
pub(crate) enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    Device(&'a str),
    Fifo(&'a str),
}

/// Builds a `.tgz` with raw names (no validation, so malicious names can be written).
pub(crate) fn tgz(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (name, kind, data, link): (&str, tar::EntryType, &[u8], Option<&str>) = match *e {
            E::File(n, d) => (n, tar::EntryType::Regular, d, None),
            E::Dir(n) => (n, tar::EntryType::Directory, b"", None),
            E::Symlink(n, t) => (n, tar::EntryType::Symlink, b"", Some(t)),
            E::HardLink(n, t) => (n, tar::EntryType::Link, b"", Some(t)),
            E::Device(n) => (n, tar::EntryType::Char, b"", None),
            E::Fifo(n) => (n, tar::EntryType::Fifo, b"", None),
        };
        let raw = &mut h.as_old_mut().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = link {
            h.as_old_mut().linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// Builds a `.zip`.
pub(crate) fn zip_of(entries: &[E<'_>]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for e in entries {
        match *e {
            E::File(n, d) => {
                w.start_file(n, opts).unwrap();
                w.write_all(d).unwrap();
            }
            E::Dir(n) => w.add_directory(n, opts).unwrap(),
            E::Symlink(n, t) | E::HardLink(n, t) => w.add_symlink(n, t, opts).unwrap(),
            E::Device(n) | E::Fifo(n) => {
                w.start_file(n, opts.unix_permissions(0o020_644)).unwrap();
            }
        }
    }
    w.finish().unwrap().into_inner()
}

fn run(data: &[u8], kind: ArchiveKind, limits: Limits) -> (tempfile::TempDir, Result<PathBuf, ArchiveError>) {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let r = extract(data, kind, &dest, limits);
    (tmp, r)
}

#[test]
fn file_names_pick_the_format() {
    let cases: &[(&str, Option<ArchiveKind>)] = &[
        ("a.tgz", Some(ArchiveKind::TarGz)),
        ("a.TAR.GZ", Some(ArchiveKind::TarGz)),
        ("a.zip", Some(ArchiveKind::Zip)),
        ("a.tar", None),
        ("a.gz", None),
        ("a", None),
    ];
    for (name, kind) in cases {
        assert_eq!(ArchiveKind::from_file_name(name), *kind, "{name}");
    }
}

#[test]
fn good_archives_extract_and_unwrap_a_single_top_folder() {
    let wrapped = [E::Dir("package/"), E::File("package/package.json", b"{}"), E::File("package/src/index.ts", b"x")];
    let flat = [E::File("package.json", b"{}"), E::File("index.ts", b"x")];
    for (data, kind, wrapped_root) in [
        (tgz(&wrapped), ArchiveKind::TarGz, true),
        (zip_of(&wrapped), ArchiveKind::Zip, true),
        (tgz(&flat), ArchiveKind::TarGz, false),
        (zip_of(&flat), ArchiveKind::Zip, false),
    ] {
        let (tmp, r) = run(&data, kind, Limits::default());
        let root = r.unwrap();
        assert_eq!(root.ends_with("package"), wrapped_root, "{kind:?}");
        assert!(root.join("package.json").is_file());
        drop(tmp);
    }
}

#[test]
fn malicious_archives_are_rejected_and_write_nothing_outside() {
    let big = vec![0u8; 2048];
    let many: Vec<String> = (0..20).map(|i| format!("f{i}.txt")).collect();
    let many_entries: Vec<E<'_>> = many.iter().map(|n| E::File(n, b"x")).collect();
    let small = Limits { max_bytes: 1024, max_entries: 10 };
    let cases: Vec<(&str, Vec<E<'_>>)> = vec![
        ("zip-slip", vec![E::File("ok.txt", b"x"), E::File("../evil.txt", b"pwned")]),
        ("nested zip-slip", vec![E::File("a/../../evil.txt", b"pwned")]),
        ("absolute", vec![E::File("/tmp/evil.txt", b"pwned")]),
        ("backslash", vec![E::File("..\\evil.txt", b"pwned")]),
        ("symlink", vec![E::Symlink("link", "/etc/passwd")]),
        ("hardlink", vec![E::File("a.txt", b"x"), E::HardLink("link", "../evil.txt")]),
        ("device", vec![E::Device("dev")]),
        ("fifo", vec![E::Fifo("fifo")]),
        ("too many files", many_entries.clone()),
        ("too large", vec![E::File("big.bin", &big)]),
        ("duplicate", vec![E::File("a.txt", b"1"), E::File("a.txt", b"2")]),
        ("empty", vec![]),
    ];
    for (what, entries) in cases {
        for kind in [ArchiveKind::TarGz, ArchiveKind::Zip] {
            // The zip writer cannot produce duplicates, devices, FIFOs or hard links.
            if kind == ArchiveKind::Zip && matches!(what, "duplicate" | "fifo" | "hardlink" | "device") {
                continue;
            }
            let data = if kind == ArchiveKind::TarGz { tgz(&entries) } else { zip_of(&entries) };
            let (tmp, r) = run(&data, kind, small);
            assert!(r.is_err(), "{what} {kind:?} was accepted");
            assert!(!tmp.path().join("evil.txt").exists(), "{what} {kind:?} escaped");
            assert!(!Path::new("/tmp/evil.txt").exists(), "{what} {kind:?} wrote an absolute path");
        }
    }
}

#[test]
fn garbage_is_corrupt() {
    for kind in [ArchiveKind::TarGz, ArchiveKind::Zip] {
        let (_tmp, r) = run(b"definitely not an archive", kind, Limits::default());
        assert!(matches!(r, Err(ArchiveError::Corrupt(_))), "{kind:?}: {r:?}");
    }
}

#[test]
fn a_zip_bomb_stops_at_the_cap() {
    let zeros = vec![0u8; 4 * 1024 * 1024];
    let data = zip_of(&[E::File("bomb.bin", &zeros)]);
    assert!(data.len() < 64 * 1024);
    let (tmp, r) = run(&data, ArchiveKind::Zip, Limits { max_bytes: 1024 * 1024, max_entries: 10 });
    assert_eq!(r, Err(ArchiveError::TooLarge { limit: 1024 * 1024 }));
    drop(tmp);
}
