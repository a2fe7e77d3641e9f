//! Reading a `.net` file from disk, bounded: only regular files, at most
//! [`MAX_SOURCE_BYTES`].
//!
//! A `use` path is the user's text and may name anything: `/dev/zero` would be read
//! without end, and opening a FIFO blocks until a writer appears. The file is opened
//! without blocking and its type checked on the open handle (so nothing can be swapped
//! in between a check and the read), and the read stops one byte past the cap.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The largest source file netc reads: the seed's models are a few KiB each.
pub const MAX_SOURCE_BYTES: u64 = 16 << 20;

/// The text of the regular file at `path`; an error, never a hang, for anything else.
pub fn read(path: &Path) -> io::Result<String> {
    let file = open_nonblocking(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", kind(&meta)),
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {} MiB limit", MAX_SOURCE_BYTES >> 20),
        ));
    }
    String::from_utf8(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<File> {
    File::open(path)
}

/// What a path that is not a regular file is, in words.
fn kind(meta: &std::fs::Metadata) -> &'static str {
    if meta.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_and_refuses_a_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("m.net");
        std::fs::write(&path, "model M() {}").expect("write");
        assert_eq!(read(&path).expect("a regular file"), "model M() {}");
        let e = read(dir.path()).expect_err("a directory");
        assert!(e.to_string().contains("a directory"), "{e}");
    }

    #[test]
    fn stops_one_byte_past_the_cap() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("big.net");
        let f = File::create(&path).expect("create");
        // Sparse: no disk is written.
        f.set_len(MAX_SOURCE_BYTES + 1).expect("set_len");
        let e = read(&path).expect_err("over the cap");
        assert!(e.to_string().contains("16 MiB"), "{e}");
    }
}
