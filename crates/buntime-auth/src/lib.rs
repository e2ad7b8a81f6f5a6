//! Access control for Buntime's REST API: permissions and roles, the SQLite API-key store, the
//! master key, CSRF checks, the `/keys` endpoints and the `buntime keys` CLI.
//!
//! It does not own routing, the API middleware itself or `/.well-known/buntime`: the server calls
//! [`AccessControl::authorize`] and nests [`keys_router`].
#![forbid(unsafe_code)]

pub mod access;
pub mod api;
pub mod cli;
pub mod csrf;
pub mod expires;
pub mod extract;
pub mod input;
pub mod permission;
pub mod routes;
pub mod secret;
pub mod store;
pub mod worker_token;

pub use access::{AccessControl, Caller, Denied, Principal};
pub use api::{keys_api, keys_router};
pub use csrf::{CsrfError, check_origin};
pub use extract::extract_key;
pub use permission::{Permission, Role};
pub use store::{ApiKey, CreatedKey, KeyStore, NewKey, StoreError};
pub use worker_token::{WORKER_TOKEN_ENV, WORKER_TOKEN_HEADER, WorkerToken};
