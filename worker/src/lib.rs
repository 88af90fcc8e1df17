//! Freight's migration engine and its workers.
//!
//! - [`engine`]: connectors, planning and idempotent batch copies (no Freight database).
//! - `dispatch`: leases, the queue (apalis on Redis, or on a SQLite file of its own for
//!   `freight dev`), the reconciler, heartbeats, through the store traits of
//!   `freight_core::store::dispatch` (no SQL on Freight's database, no source/target).
//! - [`webhooks`]: sends the webhook outbox, signed, through the connection policy.

pub mod dispatch;
pub mod engine;
pub mod webhooks;

#[cfg(test)]
mod tests {
    /// Architecture invariant: dispatch and the webhook sender reach
    /// Freight's database only through the store traits.
    #[test]
    fn no_sql_in_dispatch_or_webhooks() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        let mut dirs = vec![root.join("dispatch"), root.join("webhooks")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("source dir") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        assert!(files.len() > 10, "found the sources: {files:?}");
        // The embedded queue's SQL runs on the queue's own file (apalis
        // tables), never on Freight's database.
        let queue_file = root.join("dispatch").join("queue").join("sqlite.rs");
        assert!(
            files.contains(&queue_file),
            "found {}",
            queue_file.display()
        );
        for file in files.into_iter().filter(|f| *f != queue_file) {
            let text = std::fs::read_to_string(&file).expect("source file");
            for needle in ["sqlx", "PgPool", "PgListener"] {
                assert!(
                    !text.contains(needle),
                    "{} mentions {needle}",
                    file.display()
                );
            }
        }
    }
}
