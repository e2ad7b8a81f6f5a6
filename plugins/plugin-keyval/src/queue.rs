//! The durable job queue and its dead-letter queue (§A.10) over `kv_queue` / `kv_dlq`.
