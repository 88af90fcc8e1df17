//! The path rule for SQLite files.

use std::path::{Component, Path, PathBuf};

use super::{ConnectionPolicy, Trust};
use crate::ids::TenantId;

/// The only answer a refused path gets, whether or not the file exists,
/// so a plan cannot probe the host's file system.
const REFUSED: &str = "SQLite databases must be a relative path inside this tenant's SQLite \
                       directory (FREIGHT_SQLITE_ROOT/<tenant>/), without `..`";
const DISABLED: &str =
    "SQLite databases are disabled on this installation (FREIGHT_SQLITE_ROOT is not set)";

/// The file a tenant's SQLite path names, or why it may not be used.
pub(super) fn resolve(
    policy: &ConnectionPolicy,
    tenant: &TenantId,
    raw: &str,
) -> Result<PathBuf, &'static str> {
    if raw.is_empty() || raw.contains('\0') {
        return Err(REFUSED);
    }
    if policy.trust == Trust::LocalUser && policy.sqlite_root.is_none() {
        return Ok(PathBuf::from(raw));
    }
    if raw == ":memory:" {
        return Err(REFUSED);
    }
    let root = policy.sqlite_root.as_ref().ok_or(DISABLED)?;
    let relative = Path::new(raw);
    let plain = relative
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain {
        return Err(REFUSED);
    }
    let tenant_dir = root.join(tenant.as_str());
    std::fs::create_dir_all(&tenant_dir).map_err(|_| REFUSED)?;
    let tenant_dir = tenant_dir.canonicalize().map_err(|_| REFUSED)?;
    let candidate = tenant_dir.join(relative);
    // A symlink anywhere on the way could point outside: resolve what
    // exists and check where it really lands.
    let resolved = match candidate.canonicalize() {
        Ok(path) => path,
        Err(_) => {
            let parent = candidate.parent().ok_or(REFUSED)?;
            let name = candidate.file_name().ok_or(REFUSED)?;
            parent.canonicalize().map_err(|_| REFUSED)?.join(name)
        }
    };
    if !resolved.starts_with(&tenant_dir) || resolved == tenant_dir {
        return Err(REFUSED);
    }
    if resolved.is_symlink() {
        return Err(REFUSED);
    }
    Ok(resolved)
}
