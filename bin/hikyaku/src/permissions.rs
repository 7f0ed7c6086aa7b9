//! Who may read the data directory. Queued messages (addresses and content in clear), the
//! database and the keys are the service account's alone: new directories are made 0700 and
//! new files 0600 by the code that creates them. What already exists is the operator's choice,
//! so it is not changed behind their back; looser modes are warned about at start instead.

use hikyaku_config::Config;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Creates the data directory (and missing parents) readable by the owner only.
pub fn create_data_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Logs a warning for each private path that group or others may read or enter.
pub fn warn_if_others_can_read(config: &Config) {
    for (path, mode) in looser_than_private(config) {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "readable by other local users: queued mail and keys should be the service account's alone (chmod go-rwx)"
        );
    }
}

/// The private paths whose mode lets group or others in, with that mode.
fn looser_than_private(config: &Config) -> Vec<(PathBuf, u32)> {
    // The sealing key and the database file are checked by the store as it opens them.
    let mut paths = vec![
        config.data_dir.clone(),
        config.spool_dir(),
        config.tls_dir(),
        config.tls_dir().join("self-signed.key"),
    ];
    if let Some(key) = &config.relay.tls_key {
        paths.push(key.clone());
    }
    let url = config.database_url();
    if let Some(rest) = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))
    {
        let db = PathBuf::from(rest.split('?').next().unwrap_or(rest));
        for suffix in ["-wal", "-shm"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            paths.push(PathBuf::from(name));
        }
    }
    paths
        .into_iter()
        .filter_map(|path| {
            let mode = std::fs::metadata(&path).ok()?.permissions().mode() & 0o777;
            (mode & 0o077 != 0).then_some((path, mode))
        })
        .collect()
}
