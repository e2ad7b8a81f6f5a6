//! Full-text indexes (§A.13): one FTS5 table per indexed prefix, fed on `set`, queried by `search`.
