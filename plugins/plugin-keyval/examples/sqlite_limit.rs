//! The in-process limit for `bench/keyval.sh`: the same get / set / list-100 / atomic-3 statements
//! the plugin runs, straight on rusqlite (WAL, `synchronous=NORMAL`, cached statements), with no
//! HTTP, no pool and no async hops. `get` and `list-100` use two threads, writes one (SQLite
//! serialises writers). Prints `LIMIT <name> <ops/s>` lines.
//!
//! Run: `cargo run --release -p buntime-plugin-keyval --example sqlite_limit -- [seconds]`.

use std::time::{Duration, Instant};

use buntime_plugin_keyval::keys::Key;
use rusqlite::{Connection, params};
use serde_json::json;

fn open(path: &std::path::Path) -> Connection {
    let c = Connection::open(path).expect("open");
    c.pragma_update(None, "journal_mode", "WAL").expect("wal");
    c.pragma_update(None, "synchronous", "NORMAL")
        .expect("sync");
    c.busy_timeout(Duration::from_secs(5)).expect("busy");
    c
}

fn key(parts: serde_json::Value) -> Vec<u8> {
    Key::from_json(&parts).expect("key").encode()
}

fn now() -> i64 {
    buntime_plugin_keyval::value::now_ms()
}

fn run(name: &str, threads: usize, secs: f64, path: &std::path::Path, op: fn(&Connection, u64)) {
    let stop = Instant::now() + Duration::from_secs_f64(secs);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let path = path.to_owned();
            std::thread::spawn(move || {
                let c = open(&path);
                let mut n = 0u64;
                while Instant::now() < stop {
                    op(&c, n * threads as u64 + t as u64);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
    println!("LIMIT {name} {:.0}", total as f64 / secs);
}

fn get(c: &Connection, n: u64) {
    let mut st = c.prepare_cached("SELECT key, value, versionstamp FROM kv_entries WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)").expect("prepare");
    let k = key(json!(["bench", "get", (n % 1000) + 1]));
    let row: (Vec<u8>, String, String) = st
        .query_row(params![k, now()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("row");
    let v: serde_json::Value = serde_json::from_str(&row.1).expect("json");
    std::hint::black_box((Key::decode(&row.0).expect("key").to_json(), v));
}

fn upsert(c: &Connection, k: &[u8], v: &str) {
    c.prepare_cached("INSERT INTO kv_entries (key, value, versionstamp, expires_at) VALUES (?, ?, ?, NULL) ON CONFLICT(key) DO UPDATE SET value = excluded.value, versionstamp = excluded.versionstamp, expires_at = excluded.expires_at")
        .expect("prepare")
        .execute(params![k, v, uuid::Uuid::now_v7().to_string()])
        .expect("upsert");
}

fn set(c: &Connection, n: u64) {
    c.execute_batch("BEGIN IMMEDIATE").expect("begin");
    upsert(
        c,
        &key(json!(["bench", "set", n])),
        &format!("{{\"n\":{n},\"name\":\"x\"}}"),
    );
    c.execute_batch("COMMIT").expect("commit");
}

fn list(c: &Connection, _: u64) {
    let p = Key::from_json(&json!(["bench", "list"])).expect("prefix");
    let (lo, hi) = buntime_plugin_keyval::keys::descendants_range(&p);
    let mut st = c.prepare_cached("SELECT key, value, versionstamp FROM kv_entries WHERE (expires_at IS NULL OR expires_at > ?) AND key >= ? AND key < ? ORDER BY key LIMIT 100").expect("prepare");
    let rows: Vec<(Vec<u8>, String, String)> = st
        .query_map(params![now(), lo, hi], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("query")
        .map(|r| r.expect("row"))
        .collect();
    let out: Vec<serde_json::Value> = rows.iter().map(|(k, v, vs)| json!({"key": Key::decode(k).expect("key").to_json(), "value": serde_json::from_str::<serde_json::Value>(v).expect("json"), "versionstamp": vs})).collect();
    std::hint::black_box(serde_json::to_vec(&out).expect("json"));
}

fn atomic(c: &Connection, n: u64) {
    c.execute_batch("BEGIN IMMEDIATE").expect("begin");
    let k = key(json!(["bench", "atomic", n]));
    let mut check = c.prepare_cached("SELECT versionstamp FROM kv_entries WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)").expect("prepare");
    let exists = check.exists(params![k, now()]).expect("check");
    assert!(!exists);
    upsert(c, &k, &format!("{{\"n\":{n}}}"));
    let counter = key(json!(["bench", "counter", n % 16]));
    let cur: Option<String> = check.query_row(params![counter, now()], |r| r.get(0)).ok();
    let _ = cur;
    upsert(c, &counter, &(n + 1).to_string());
    c.prepare_cached("DELETE FROM kv_entries WHERE key = ?")
        .expect("prepare")
        .execute(params![key(json!(["bench", "atomic", "gone", n]))])
        .expect("delete");
    c.execute_batch("COMMIT").expect("commit");
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("limit.db");
    let c = open(&path);
    for sql in
        buntime_plugin_keyval::schema::statements(buntime_plugin_keyval::dialect::Dialect::Sqlite)
    {
        c.execute_batch(&sql).expect("schema");
    }
    for i in 1..=1000 {
        upsert(
            &c,
            &key(json!(["bench", "get", i])),
            &format!("{{\"n\":{i},\"name\":\"user-{i}\",\"tags\":[\"a\",\"b\"]}}"),
        );
    }
    for i in 1..=100 {
        upsert(
            &c,
            &key(json!(["bench", "list", i])),
            &format!("{{\"i\":{i},\"payload\":\"{}\"}}", "x".repeat(64)),
        );
    }
    run("get", 2, secs, &path, get);
    run("set", 1, secs, &path, set);
    run("list-100", 2, secs, &path, list);
    run("atomic-3", 1, secs, &path, atomic);
}
