//! Snapshot tests of every stage of hsc (naga's snapshot matrix, run through insta).
//!
//! - `tests/stages.rs`: every model in `examples/` at every stage, as `{example}@{stage}`.
//! - `tests/errors.rs`: every bad model in `errors/`, with its rendered diagnostics.
//!
//! Accept a change you meant with `INSTA_UPDATE=always cargo test -p hsc-snapshot-tests`, then
//! read the diff of `snapshots/` as you would read code.

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("snapshot-tests sits in the workspace").to_owned()
}

/// insta settings that write snapshots named exactly as given into `snapshots/{sub}`.
pub fn settings(sub: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(root().join("snapshot-tests/snapshots").join(sub));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

/// [`settings`] for an assertion inside insta's `glob!`, which would name each snapshot
/// `{name}@{file}` and record the file: here it is named as given and records none.
pub fn glob_settings(sub: &str) -> insta::Settings {
    let mut settings = settings(sub);
    settings.remove_snapshot_suffix();
    settings.remove_input_file();
    settings
}

/// The `.ham` files of a folder, sorted by name.
pub fn ham_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "ham"))
        .collect();
    files.sort();
    files
}

/// The `-D` overrides a test file asks for in a first line `# args: -D P=0 -D N=3`.
pub fn overrides_of(source: &[u8]) -> Vec<hsc::Override> {
    let first = source.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(args) = std::str::from_utf8(first).ok().and_then(|l| l.strip_prefix("# args:")) else {
        return Vec::new();
    };
    args.split("-D")
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let (name, value) = a.split_once('=').unwrap_or((a, ""));
            hsc::Override { name: name.to_owned(), value: value.to_owned() }
        })
        .collect()
}
