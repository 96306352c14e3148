//! The outbox's durable store: one SQLite database (WAL, `synchronous = FULL`: a committed
//! record survives kill -9 and power loss) holding records in arrival order under a sequence
//! number that is never reused. It is bounded by bytes (the database and its write-ahead log
//! together) and by age: over a bound the oldest records are deleted and counted. The batch being
//! uploaded is written down before its upload ([`OutboxStore::next_batch`]) and is neither
//! changed nor dropped until the upload is confirmed, so a retried upload (after a failure or a
//! restart) sends the same records under the same key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::OutboxError;

/// The bounds of the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Most bytes on disk: the database file and its write-ahead log together.
    pub max_bytes: u64,
    /// Records older than this are dropped.
    pub max_age: Duration,
}

/// One answered request, as its JSON object and when it was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The record: a JSON object.
    pub json: String,
}

/// Records taken for one upload: their sequence numbers run from `first` to `last`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The first record's sequence number.
    pub first: i64,
    /// The last record's sequence number.
    pub last: i64,
    /// When the first record was answered (milliseconds since the Unix epoch).
    pub first_at_ms: i64,
    /// Each record's sequence number and JSON object.
    pub records: Vec<(i64, String)>,
}

/// What is waiting to be uploaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Records.
    pub records: u64,
    /// Their bytes.
    pub bytes: u64,
    /// When the oldest was answered (milliseconds since the Unix epoch).
    pub oldest_at_ms: Option<i64>,
}

/// The database and its bounds.
#[derive(Debug)]
pub struct OutboxStore {
    connection: Connection,
    path: PathBuf,
    bounds: Bounds,
    page_size: u64,
    /// Records in the store and their bytes: counted once at open, then kept up to date by
    /// every insert and delete (a scrape or a bound check never scans the table).
    records: u64,
    bytes: u64,
}

fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> OutboxError + '_ {
    move |source| OutboxError::Database {
        path: path.to_path_buf(),
        source,
    }
}

impl OutboxStore {
    /// Opens (or creates) the outbox database at `path`.
    pub fn open(path: &Path, bounds: Bounds) -> Result<OutboxStore, OutboxError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| OutboxError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let e = sql(path);
        let connection = Connection::open(path).map_err(&e)?;
        // auto_vacuum must be chosen before the first table exists: freed pages can then be
        // handed back to the file system, so the file shrinks when records are removed.
        connection
            .execute_batch(
                "PRAGMA auto_vacuum = INCREMENTAL;
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 CREATE TABLE IF NOT EXISTS records (
                     seq INTEGER PRIMARY KEY AUTOINCREMENT,
                     at_ms INTEGER NOT NULL,
                     bytes INTEGER NOT NULL,
                     json TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS pending_batch (
                     id INTEGER PRIMARY KEY CHECK (id = 1),
                     first INTEGER NOT NULL,
                     last INTEGER NOT NULL);",
            )
            .map_err(&e)?;
        let page_size: u64 = connection
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(&e)?;
        // The write-ahead log is folded into the database every 4 MiB (SQLite's default: short,
        // frequent checkpoints rather than long stalls), and at most every quarter of the bound.
        let wal_pages = (bounds.max_bytes / 4 / page_size).clamp(16, 1000);
        connection
            .execute_batch(&format!(
                "PRAGMA wal_autocheckpoint = {wal_pages};
                 PRAGMA journal_size_limit = {};",
                wal_pages * page_size
            ))
            .map_err(&e)?;
        let (records, bytes) = connection
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM records",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(&e)?;
        Ok(OutboxStore {
            connection,
            path: path.to_path_buf(),
            bounds,
            page_size,
            records,
            bytes,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `records` in one transaction (one sync to disk for all of them), then keeps the
    /// bounds (checked after each append: a single append may pass them for a moment): answers
    /// how many old records were dropped to do so.
    pub fn append(&mut self, records: &[Record], now_ms: i64) -> Result<u64, OutboxError> {
        let path = self.path.clone();
        let e = sql(&path);
        let transaction = self.connection.transaction().map_err(&e)?;
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO records (at_ms, bytes, json) VALUES (?1, ?2, ?3)")
                .map_err(&e)?;
            for record in records {
                insert
                    .execute(params![record.at_ms, record.json.len() as i64, record.json])
                    .map_err(&e)?;
            }
        }
        transaction.commit().map_err(&e)?;
        self.records += records.len() as u64;
        self.bytes += records.iter().map(|r| r.json.len() as u64).sum::<u64>();
        let dropped = self.keep_bounds(now_ms)?;
        // The log is folded into the database and cut short once it passes its quarter.
        let log = std::fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len());
        if log > self.bounds.max_bytes / 4 {
            self.connection
                .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
                .map_err(&e)?;
        }
        Ok(dropped)
    }

    /// The sequence number below which records may be dropped: those of the pending batch
    /// are kept until their upload is confirmed.
    fn pending(&self) -> Result<Option<(i64, i64)>, OutboxError> {
        self.connection
            .query_row(
                "SELECT first, last FROM pending_batch WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql(&self.path))
    }

    /// Runs a `DELETE ... RETURNING bytes` statement and takes what it removed off the counts:
    /// answers the records removed.
    fn delete(
        &mut self,
        statement: &str,
        values: impl rusqlite::Params,
    ) -> Result<u64, OutboxError> {
        let e = sql(&self.path);
        let mut statement = self.connection.prepare_cached(statement).map_err(&e)?;
        let removed = statement
            .query_map(values, |r| r.get::<_, i64>(0))
            .map_err(&e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&e)?;
        drop(statement);
        self.records -= removed.len() as u64;
        self.bytes -= removed.iter().map(|b| *b as u64).sum::<u64>();
        Ok(removed.len() as u64)
    }

    /// Bytes the database uses (pages in use).
    fn used_bytes(&self) -> Result<u64, OutboxError> {
        let e = sql(&self.path);
        let pages: u64 = self
            .connection
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .map_err(&e)?;
        let free: u64 = self
            .connection
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .map_err(&e)?;
        Ok((pages - free) * self.page_size)
    }

    /// Drops the oldest records (never the pending batch's) until the data fits in three
    /// quarters of the byte bound (the rest is the write-ahead log's) and none is older than
    /// the age bound; then hands freed pages back.
    fn keep_bounds(&mut self, now_ms: i64) -> Result<u64, OutboxError> {
        let path = self.path.clone();
        let e = sql(&path);
        let keep_from = self.pending()?.map_or(0, |(_, last)| last);
        let oldest_kept = now_ms - self.bounds.max_age.as_millis() as i64;
        // Records are appended in time order: look at the oldest droppable one (by its key),
        // and only when it is too old delete by age.
        let oldest: Option<i64> = self
            .connection
            .query_row(
                "SELECT at_ms FROM records WHERE seq > ?1 ORDER BY seq LIMIT 1",
                params![keep_from],
                |r| r.get(0),
            )
            .optional()
            .map_err(&e)?;
        let mut dropped = 0;
        if oldest.is_some_and(|at| at < oldest_kept) {
            dropped += self.delete(
                "DELETE FROM records WHERE seq > ?1 AND at_ms < ?2 RETURNING bytes",
                params![keep_from, oldest_kept],
            )?;
        }
        let data_bound = self.bounds.max_bytes / 4 * 3;
        loop {
            let used = self.used_bytes()?;
            if used <= data_bound {
                break;
            }
            // About the records that hold the excess, at least a page's worth.
            let average = self.bytes / self.records.max(1) + 16;
            let excess = (used - data_bound).max(self.page_size);
            let count = (excess / average).max(1);
            let removed = self.delete(
                "DELETE FROM records WHERE seq IN
                     (SELECT seq FROM records WHERE seq > ?1 ORDER BY seq LIMIT ?2)
                 RETURNING bytes",
                params![keep_from, count as i64],
            )?;
            dropped += removed;
            self.connection
                .execute_batch("PRAGMA incremental_vacuum")
                .map_err(&e)?;
            if removed == 0 {
                break;
            }
        }
        if dropped > 0 {
            // Hand the freed pages back and fold the log into the file, which then shrinks.
            self.connection
                .execute_batch("PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);")
                .map_err(&e)?;
        }
        Ok(dropped)
    }

    /// The batch to upload: the pending one when an upload did not finish, else the oldest
    /// records (at most `max_records` and, past the first, `max_bytes`), written down as pending
    /// before they are handed out. `None` when the outbox is empty.
    pub fn next_batch(
        &mut self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Option<Batch>, OutboxError> {
        let e = sql(&self.path);
        if let Some((first, last)) = self.pending()? {
            return self.read_batch(first, last).map(Some);
        }
        let mut statement = self
            .connection
            .prepare_cached("SELECT seq, bytes FROM records ORDER BY seq LIMIT ?1")
            .map_err(&e)?;
        let mut rows = statement.query(params![max_records as i64]).map_err(&e)?;
        let (mut first, mut last, mut bytes) = (None, 0, 0usize);
        while let Some(row) = rows.next().map_err(&e)? {
            let seq: i64 = row.get(0).map_err(&e)?;
            let length: usize = row.get::<_, i64>(1).map_err(&e)? as usize;
            if first.is_some() && bytes + length > max_bytes {
                break;
            }
            first.get_or_insert(seq);
            last = seq;
            bytes += length;
        }
        drop(rows);
        drop(statement);
        let Some(first) = first else {
            return Ok(None);
        };
        self.connection
            .execute(
                "INSERT INTO pending_batch (id, first, last) VALUES (1, ?1, ?2)",
                params![first, last],
            )
            .map_err(&e)?;
        self.read_batch(first, last).map(Some)
    }

    fn read_batch(&self, first: i64, last: i64) -> Result<Batch, OutboxError> {
        let e = sql(&self.path);
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT seq, at_ms, json FROM records WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
            )
            .map_err(&e)?;
        let mut first_at_ms = None;
        let records = statement
            .query_map(params![first, last], |r| {
                let at: i64 = r.get(1)?;
                first_at_ms.get_or_insert(at);
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(2)?))
            })
            .map_err(&e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&e)?;
        Ok(Batch {
            first,
            last,
            first_at_ms: first_at_ms.unwrap_or_default(),
            records,
        })
    }

    /// The pending batch was uploaded: its records leave the outbox.
    pub fn confirm(&mut self, batch: &Batch) -> Result<(), OutboxError> {
        let path = self.path.clone();
        let e = sql(&path);
        self.connection.execute_batch("BEGIN").map_err(&e)?;
        let deleted = self
            .delete(
                "DELETE FROM records WHERE seq <= ?1 RETURNING bytes",
                params![batch.last],
            )
            .and_then(|_| {
                self.connection
                    .execute_batch("DELETE FROM pending_batch; COMMIT;")
                    .map_err(&e)
            });
        if let Err(error) = deleted {
            let _ = self.connection.execute_batch("ROLLBACK");
            // The counts may have been taken off for rows the rollback kept: count again.
            self.recount()?;
            return Err(error);
        }
        self.connection
            .execute_batch("PRAGMA incremental_vacuum")
            .map_err(&e)
    }

    /// Counts the records and their bytes from the table (after a failed transaction).
    fn recount(&mut self) -> Result<(), OutboxError> {
        (self.records, self.bytes) = self
            .connection
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM records",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .map_err(sql(&self.path))?;
        Ok(())
    }

    /// What waits to be uploaded: the kept counts, and the oldest record's time (by its key).
    pub fn backlog(&self) -> Result<Backlog, OutboxError> {
        let oldest_at_ms = self
            .connection
            .query_row("SELECT at_ms FROM records ORDER BY seq LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql(&self.path))?;
        Ok(Backlog {
            records: self.records,
            bytes: self.bytes,
            oldest_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at_ms: i64, n: usize) -> Record {
        Record {
            at_ms,
            json: format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(200)),
        }
    }

    fn disk_bytes(path: &Path) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        std::fs::metadata(path).map_or(0, |m| m.len())
            + std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    #[test]
    fn batches_are_stable_until_confirmed_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        let bounds = Bounds {
            max_bytes: 64 << 20,
            max_age: Duration::from_secs(3600),
        };
        let mut store = OutboxStore::open(&path, bounds).unwrap();
        let records: Vec<_> = (0..10).map(|n| record(1000 + n as i64, n)).collect();
        assert_eq!(store.append(&records, 2000).unwrap(), 0);
        let batch = store.next_batch(4, 1 << 20).unwrap().unwrap();
        assert_eq!((batch.first, batch.last, batch.first_at_ms), (1, 4, 1000));
        // More records arrive; the pending batch does not change, also after a reopen.
        store.append(&[record(1010, 10)], 2000).unwrap();
        drop(store);
        let mut store = OutboxStore::open(&path, bounds).unwrap();
        assert_eq!(store.next_batch(100, 1 << 20).unwrap().unwrap(), batch);
        store.confirm(&batch).unwrap();
        let next = store.next_batch(100, 1 << 20).unwrap().unwrap();
        assert_eq!((next.first, next.last), (5, 11));
        assert_eq!(store.backlog().unwrap().records, 7);
        store.confirm(&next).unwrap();
        assert_eq!(store.next_batch(100, 1 << 20).unwrap(), None);
        // Sequence numbers are never reused.
        store.append(&[record(1020, 12)], 2000).unwrap();
        assert_eq!(store.next_batch(100, 1 << 20).unwrap().unwrap().first, 12);
    }

    #[test]
    fn over_its_bounds_it_drops_the_oldest_and_stays_on_disk_within_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        let bounds = Bounds {
            max_bytes: 256 << 10,
            max_age: Duration::from_secs(60),
        };
        let mut store = OutboxStore::open(&path, bounds).unwrap();
        let mut dropped = 0;
        for chunk in 0..40 {
            let records: Vec<_> = (0..100).map(|n| record(100_000, chunk * 100 + n)).collect();
            dropped += store.append(&records, 100_000).unwrap();
            let wal = std::fs::metadata(format!("{}-wal", path.display())).map_or(0, |m| m.len());
            assert!(
                disk_bytes(&path) <= bounds.max_bytes,
                "{} bytes, wal {wal}, chunk {chunk}, dropped {dropped}",
                disk_bytes(&path)
            );
        }
        let backlog = store.backlog().unwrap();
        assert!(dropped > 0 && backlog.records > 0);
        assert_eq!(dropped + backlog.records, 4000);
        // The newest records are the ones kept.
        let batch = store.next_batch(1, 1 << 20).unwrap().unwrap();
        assert_eq!(batch.first, 4000 - backlog.records as i64 + 1);
        // Age: a minute later every record not pending is dropped.
        let aged = store.append(&[], 100_000 + 61_000).unwrap();
        assert_eq!(
            aged,
            backlog.records - 1,
            "all but the pending batch's record"
        );
    }
}
