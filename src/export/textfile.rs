//! node_exporter's textfile collector: the exposition written to a `.prom` file atomically, so the
//! collector never reads half of one. The text goes to a temporary file in the same directory
//! (a name the collector skips: it reads `*.prom` only), is flushed to disk, and is renamed over the
//! target; the directory is synced so the rename survives a crash.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Replaces the file at `path` with `text` in one step: readers see the old text or the new one.
pub fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let temp = temp_path(path)?;
    let written = write_synced(&temp, text).and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        // Best effort: the temporary file is ours, and the error that matters is the write's.
        let _ = fs::remove_file(&temp);
    }
    written?;
    File::open(directory(path))?.sync_all()
}

/// `.NAME.PID.tmp` beside `path`.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the textfile path names no file",
        )
    })?;
    let mut temp = std::ffi::OsString::from(".");
    temp.push(name);
    temp.push(format!(".{}.tmp", std::process::id()));
    Ok(directory(path).join(temp))
}

fn directory(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn write_synced(path: &Path, text: &str) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = std::env::temp_dir().join(format!("portradar-textfile-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("portradar.prom");
        write_atomically(&path, "a 1\n").unwrap();
        write_atomically(&path, "a 2\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "a 2\n");
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["portradar.prom"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_that_does_not_exist_is_an_error() {
        let path = Path::new("/nonexistent-portradar-dir/portradar.prom");
        assert!(write_atomically(path, "a 1\n").is_err());
        assert!(temp_path(Path::new("/")).is_err(), "no file name");
    }
}
