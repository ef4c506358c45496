//! The bounds a cluster file is checked against beyond its own fields: how much of a
//! file is read, and the range of each client-port setting.

use super::ConfigError;
use crate::host::ClientLimits;
use std::path::Path;

/// The largest config file read: a cluster of thousands of nodes fits many times.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The largest secret file read (a secret is 64 hex digits).
pub const MAX_SECRET_FILE_BYTES: u64 = 4096;

/// The most client connections or requests in flight a node may be configured for:
/// far above any file-descriptor limit, far below what would overflow a semaphore.
pub const MAX_CLIENT_LIMIT: u64 = 1 << 20;

/// The longest client idle timeout (ms): an hour, like every timer setting.
pub const MAX_IDLE_TIMEOUT_MS: u64 = 3_600_000;

/// Reads a text file of at most `max` bytes; a longer one (or an endless one, such as
/// `/dev/zero`) is refused after reading `max + 1` bytes, never read whole.
pub(super) fn read_bounded(
    path: &Path,
    max: u64,
    what: &'static str,
) -> Result<String, ConfigError> {
    use std::io::Read;
    let read_error = |source| ConfigError::Read {
        path: path.into(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut text = String::new();
    file.take(max + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > max {
        return Err(ConfigError::FileTooLarge {
            path: path.into(),
            what,
            max,
        });
    }
    Ok(text)
}

/// Refuses client-port bounds a node could not run with: no connection or request at
/// all, an instant or endless idle timeout, or counts so large that the semaphores
/// enforcing them would panic (tokio refuses more than `usize::MAX >> 3` permits).
pub(super) fn check_client_limits(limits: &ClientLimits) -> Result<(), ConfigError> {
    for (name, value, max) in [
        (
            "max_connections",
            limits.max_connections as u64,
            MAX_CLIENT_LIMIT,
        ),
        (
            "max_in_flight",
            limits.max_in_flight as u64,
            MAX_CLIENT_LIMIT,
        ),
        (
            "idle_timeout_ms",
            limits.idle_timeout_ms,
            MAX_IDLE_TIMEOUT_MS,
        ),
    ] {
        if !(1..=max).contains(&value) {
            return Err(ConfigError::ClientLimit {
                name,
                value,
                min: 1,
                max,
            });
        }
    }
    Ok(())
}
