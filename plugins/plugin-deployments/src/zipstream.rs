//! A zip writer that never seeks, so a directory streams to the client as it is read: each entry
//! is followed by a data descriptor (its CRC and sizes), and the central directory comes last.
//! Zip64 fields are written for entries, offsets and counts past the classic limits.
//!
//! The `zip` crate's writer patches local headers in place (it needs `Seek`), which would mean
//! building the archive in a temp file or in memory first.

use std::io::{self, Read, Write};
use std::time::SystemTime;

use flate2::Compression;
use flate2::write::DeflateEncoder;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL: u32 = 0x0605_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
/// Bit 3 (sizes in a data descriptor) and bit 11 (UTF-8 names).
const FLAG_DESCRIPTOR: u16 = 0x0008;
const FLAG_UTF8: u16 = 0x0800;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;
/// Sizes at or past this get zip64 fields (kept below `u32::MAX` so a file growing a little while
/// it is read still fits).
const ZIP64_FROM: u64 = 0xFFFF_0000;

/// Counts the bytes written through it (offsets in the central directory).
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What the central directory repeats about an entry.
struct Entry {
    name: String,
    method: u16,
    flags: u16,
    time: u16,
    date: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    offset: u64,
    external: u32,
    zip64: bool,
}

/// Streams a zip archive into `W`.
pub struct ZipStream<W: Write> {
    out: Counting<W>,
    entries: Vec<Entry>,
}

impl<W: Write> std::fmt::Debug for ZipStream<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZipStream").field("entries", &self.entries.len()).field("written", &self.out.written).finish()
    }
}

/// File names whose content is already compressed: stored as is, not deflated again.
pub fn already_compressed(name: &str) -> bool {
    const EXT: &[&str] = &[
        "zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "png", "jpg", "jpeg", "gif", "webp", "avif", "woff", "woff2", "mp3", "mp4", "webm", "br",
    ];
    name.rsplit_once('.').is_some_and(|(_, ext)| EXT.iter().any(|e| ext.eq_ignore_ascii_case(e)))
}

impl<W: Write> ZipStream<W> {
    /// Starts an archive.
    pub fn new(inner: W) -> Self {
        Self { out: Counting { inner, written: 0 }, entries: Vec::new() }
    }

    /// Adds a directory entry (`name` without the trailing `/`).
    ///
    /// # Errors
    /// Writing failed (the client went away).
    pub fn add_dir(&mut self, name: &str, modified: SystemTime) -> io::Result<()> {
        let name = format!("{}/", name.trim_end_matches('/'));
        let (time, date) = dos_time(modified);
        let offset = self.out.written;
        self.local_header(&name, STORED, FLAG_UTF8, time, date, false)?;
        self.entries.push(Entry { name, method: STORED, flags: FLAG_UTF8, time, date, crc: 0, compressed: 0, size: 0, offset, external: (0o040_755 << 16) | 0x10, zip64: false });
        Ok(())
    }

    /// Adds a file read from `reader` to its end; `size_hint` (its length when it was listed)
    /// decides whether it gets zip64 fields, `deflate` whether it is compressed.
    ///
    /// # Errors
    /// Reading or writing failed, or a file listed under 4 GiB grew past it.
    pub fn add_file(&mut self, name: &str, modified: SystemTime, size_hint: u64, deflate: bool, reader: &mut dyn Read) -> io::Result<()> {
        let (time, date) = dos_time(modified);
        let zip64 = size_hint >= ZIP64_FROM;
        let method = if deflate { DEFLATED } else { STORED };
        let flags = FLAG_UTF8 | FLAG_DESCRIPTOR;
        let offset = self.out.written;
        self.local_header(name, method, flags, time, date, zip64)?;
        let start = self.out.written;
        let mut crc = crc32fast::Hasher::new();
        let size = if deflate {
            let mut enc = DeflateEncoder::new(&mut self.out, Compression::fast());
            let n = pump(reader, &mut enc, &mut crc)?;
            enc.finish()?;
            n
        } else {
            pump(reader, &mut self.out, &mut crc)?
        };
        let compressed = self.out.written - start;
        if !zip64 && (size > u64::from(u32::MAX) || compressed > u64::from(u32::MAX)) {
            return Err(io::Error::other(format!("`{name}` grew past 4 GiB while it was archived")));
        }
        let crc = crc.finalize();
        self.put_u32(DATA_DESCRIPTOR)?;
        self.put_u32(crc)?;
        if zip64 {
            self.put_u64(compressed)?;
            self.put_u64(size)?;
        } else {
            self.put_u32(u32::try_from(compressed).unwrap_or(u32::MAX))?;
            self.put_u32(u32::try_from(size).unwrap_or(u32::MAX))?;
        }
        self.entries.push(Entry { name: name.to_owned(), method, flags, time, date, crc, compressed, size, offset, external: 0o100_644 << 16, zip64 });
        Ok(())
    }

    /// Writes the central directory and returns the inner writer.
    ///
    /// # Errors
    /// Writing failed.
    pub fn finish(mut self) -> io::Result<W> {
        let cd_start = self.out.written;
        let entries = std::mem::take(&mut self.entries);
        for e in &entries {
            self.central_header(e)?;
        }
        let cd_size = self.out.written - cd_start;
        let count = entries.len() as u64;
        let needs64 = count >= 0xFFFF || cd_start >= u64::from(u32::MAX) || cd_size >= u64::from(u32::MAX);
        if needs64 {
            let end64 = self.out.written;
            self.put_u32(ZIP64_END)?;
            self.put_u64(44)?;
            self.put_u16(0x031E)?;
            self.put_u16(45)?;
            self.put_u32(0)?;
            self.put_u32(0)?;
            self.put_u64(count)?;
            self.put_u64(count)?;
            self.put_u64(cd_size)?;
            self.put_u64(cd_start)?;
            self.put_u32(ZIP64_LOCATOR)?;
            self.put_u32(0)?;
            self.put_u64(end64)?;
            self.put_u32(1)?;
        }
        self.put_u32(END_OF_CENTRAL)?;
        self.put_u16(0)?;
        self.put_u16(0)?;
        let short_count = u16::try_from(count).unwrap_or(u16::MAX);
        self.put_u16(short_count)?;
        self.put_u16(short_count)?;
        self.put_u32(u32::try_from(cd_size).unwrap_or(u32::MAX))?;
        self.put_u32(u32::try_from(cd_start).unwrap_or(u32::MAX))?;
        self.put_u16(0)?;
        self.out.flush()?;
        Ok(self.out.inner)
    }

    fn local_header(&mut self, name: &str, method: u16, flags: u16, time: u16, date: u16, zip64: bool) -> io::Result<()> {
        let name_len = u16::try_from(name.len()).map_err(|_| io::Error::other(format!("name too long for a zip entry: `{name}`")))?;
        self.put_u32(LOCAL_HEADER)?;
        self.put_u16(if zip64 { 45 } else { 20 })?;
        self.put_u16(flags)?;
        self.put_u16(method)?;
        self.put_u16(time)?;
        self.put_u16(date)?;
        self.put_u32(0)?;
        let unknown = if zip64 { u32::MAX } else { 0 };
        self.put_u32(unknown)?;
        self.put_u32(unknown)?;
        self.put_u16(name_len)?;
        self.put_u16(if zip64 { 20 } else { 0 })?;
        self.out.write_all(name.as_bytes())?;
        if zip64 {
            self.put_u16(0x0001)?;
            self.put_u16(16)?;
            self.put_u64(0)?;
            self.put_u64(0)?;
        }
        Ok(())
    }

    fn central_header(&mut self, e: &Entry) -> io::Result<()> {
        let big = |v: u64| v >= u64::from(u32::MAX) || e.zip64;
        let mut extra: Vec<u8> = Vec::new();
        for v in [e.size, e.compressed] {
            if big(v) {
                extra.extend_from_slice(&v.to_le_bytes());
            }
        }
        let big_offset = e.offset >= u64::from(u32::MAX);
        if big_offset {
            extra.extend_from_slice(&e.offset.to_le_bytes());
        }
        let extra_len = if extra.is_empty() { 0 } else { extra.len() + 4 };
        self.put_u32(CENTRAL_HEADER)?;
        self.put_u16(0x0300 | 45)?;
        self.put_u16(if e.zip64 || big_offset { 45 } else { 20 })?;
        self.put_u16(e.flags)?;
        self.put_u16(e.method)?;
        self.put_u16(e.time)?;
        self.put_u16(e.date)?;
        self.put_u32(e.crc)?;
        self.put_u32(if big(e.compressed) { u32::MAX } else { u32::try_from(e.compressed).unwrap_or(u32::MAX) })?;
        self.put_u32(if big(e.size) { u32::MAX } else { u32::try_from(e.size).unwrap_or(u32::MAX) })?;
        self.put_u16(u16::try_from(e.name.len()).unwrap_or(u16::MAX))?;
        self.put_u16(u16::try_from(extra_len).unwrap_or(u16::MAX))?;
        self.put_u16(0)?;
        self.put_u16(0)?;
        self.put_u16(0)?;
        self.put_u32(e.external)?;
        self.put_u32(if big_offset { u32::MAX } else { u32::try_from(e.offset).unwrap_or(u32::MAX) })?;
        self.out.write_all(e.name.as_bytes())?;
        if !extra.is_empty() {
            self.put_u16(0x0001)?;
            self.put_u16(u16::try_from(extra.len()).unwrap_or(u16::MAX))?;
            self.out.write_all(&extra)?;
        }
        Ok(())
    }

    fn put_u16(&mut self, v: u16) -> io::Result<()> {
        self.out.write_all(&v.to_le_bytes())
    }
    fn put_u32(&mut self, v: u32) -> io::Result<()> {
        self.out.write_all(&v.to_le_bytes())
    }
    fn put_u64(&mut self, v: u64) -> io::Result<()> {
        self.out.write_all(&v.to_le_bytes())
    }
}

/// Copies `reader` to `sink`, hashing what passes; returns the bytes copied.
fn pump(reader: &mut dyn Read, sink: &mut dyn Write, crc: &mut crc32fast::Hasher) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(size),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        crc.update(&buf[..n]);
        size += n as u64;
        sink.write_all(&buf[..n])?;
    }
}

/// The UTC date (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// MS-DOS time and date (UTC; clamped to 1980–2107).
fn dos_time(t: SystemTime) -> (u16, u16) {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (year, month, day) = civil(days);
    if year < 1980 {
        return (0, (1 << 5) | 1);
    }
    let year = year.min(2107);
    let time = ((rem / 3600) << 11) | (((rem % 3600) / 60) << 5) | ((rem % 60) / 2);
    let date = ((year - 1980) << 9) | (month << 5) | day;
    (u16::try_from(time).unwrap_or(0), u16::try_from(date).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::time::Duration;

    #[test]
    fn the_zip_crate_reads_back_what_was_streamed() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut z = ZipStream::new(Vec::new());
        z.add_dir("src", t).unwrap();
        let text = "hello ".repeat(1000);
        z.add_file("src/a.txt", t, text.len() as u64, true, &mut Cursor::new(text.as_bytes())).unwrap();
        z.add_file("b.png", t, 3, false, &mut Cursor::new(b"png")).unwrap();
        z.add_file("empty", t, 0, true, &mut Cursor::new(b"")).unwrap();
        let bytes = z.finish().unwrap();
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 4);
        let mut s = String::new();
        archive.by_name("src/a.txt").unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, text);
        let png = archive.by_name("b.png").unwrap();
        assert_eq!(png.compression(), zip::CompressionMethod::Stored);
        drop(png);
        assert!(archive.by_name("src/").unwrap().is_dir());
        let m = archive.by_name("src/a.txt").unwrap().last_modified().unwrap();
        assert_eq!((m.year(), m.month(), m.day(), m.hour(), m.minute()), (2023, 11, 14, 22, 13));
    }

    #[test]
    fn compressed_formats_are_stored() {
        assert!(already_compressed("a.ZIP") && already_compressed("x.tar.gz") && !already_compressed("index.ts") && !already_compressed("README"));
    }
}
