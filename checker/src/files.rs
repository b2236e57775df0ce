//! File-system calls whose errors name the path (std's alone say only
//! "No such file or directory").

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The error of `action` ("write", "create directory", ...) on `path`.
pub fn error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |error| Error::File {
        action,
        path,
        error,
    }
}

pub fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(error("create directory", dir))
}

pub fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, contents).map_err(error("write", path))
}

pub fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(error("read", path))
}

/// Every `*.json` file in `dir`, in name order.
pub fn json_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(error("read directory", dir))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(error("read directory", dir))?.path();
        if path.extension().is_some_and(|x| x == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
