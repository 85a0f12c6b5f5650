//! Reading an AuthConfig file from disk, for `check` and the file reloader alike. The loader's size limit is applied
//! while reading, so an oversized file is refused without being read whole.

use std::io::Read;
use std::path::Path;

use super::load::MAX_CONFIG_BYTES;
use super::{LoadError, LoadErrors, LoadOptions, Loaded, load_str};

/// Read a config file, refusing oversized ones without reading them whole.
pub fn read_config_file(path: &Path) -> Result<String, LoadErrors> {
    let fail = |msg: String| {
        LoadErrors(vec![LoadError {
            path: String::new(),
            location: None,
            message: msg,
        }])
    };
    let file = std::fs::File::open(path)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    let mut buf = Vec::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    if buf.len() > MAX_CONFIG_BYTES {
        return Err(fail(format!(
            "{} is larger than {MAX_CONFIG_BYTES} bytes",
            path.display()
        )));
    }
    String::from_utf8(buf).map_err(|e| fail(format!("{} is not UTF-8: {e}", path.display())))
}

/// Load one file exactly as `serve` does.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Loaded, LoadErrors> {
    load_str(&read_config_file(path)?, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in the temp directory, removed when dropped.
    struct Temp(std::path::PathBuf);

    impl Temp {
        fn with(name: &str, bytes: &[u8]) -> Self {
            let path = std::env::temp_dir().join(format!("authgate-{}-{name}", std::process::id()));
            std::fs::write(&path, bytes).expect("write a temp file");
            Self(path)
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn message(e: &LoadErrors) -> &str {
        &e.0[0].message
    }

    #[test]
    fn a_file_is_read_within_the_limit_and_refused_past_it() {
        let fits = Temp::with("fits.yaml", &vec![b'#'; MAX_CONFIG_BYTES]);
        assert_eq!(
            read_config_file(&fits.0).expect("at the limit").len(),
            MAX_CONFIG_BYTES
        );
        let big = Temp::with("big.yaml", &vec![b'#'; MAX_CONFIG_BYTES + 1]);
        let e = read_config_file(&big.0).expect_err("past the limit");
        assert_eq!(
            message(&e),
            format!(
                "{} is larger than {MAX_CONFIG_BYTES} bytes",
                big.0.display()
            )
        );
    }

    #[test]
    fn unreadable_and_non_utf8_files_say_which_file() {
        let missing = std::env::temp_dir().join("authgate-no-such-file.yaml");
        let e = read_config_file(&missing).expect_err("missing");
        assert!(
            message(&e).starts_with(&format!("cannot read {}: ", missing.display())),
            "{}",
            message(&e)
        );
        let latin1 = Temp::with("latin1.yaml", b"kind: \xe9\n");
        let e = read_config_file(&latin1.0).expect_err("not UTF-8");
        assert!(
            message(&e).starts_with(&format!("{} is not UTF-8: ", latin1.0.display())),
            "{}",
            message(&e)
        );
    }
}
