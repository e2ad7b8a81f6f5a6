//! SCIM Users over `authn_user`: the mapping both ways, list/get/create/replace/patch/delete;
//! deactivating a user ends its sessions.

use std::sync::Arc;

use buntime_plugin_database::{Statement, Value};
use http::StatusCode;
use serde_json::json;

use super::filter::{Column, Kind};
use super::{ListQuery, Reply, base_url, boolean, patch_ops, time};
use crate::Authn;
use crate::store::{CREDENTIAL, int, is_unique_violation, now_ms, text};

/// The User schema URN.
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// Filterable (and sortable) User attributes.
pub fn attribute(name: &str) -> Option<Column> {
    let c = |sql, kind| Some(Column { sql, kind });
    match name {
        "username" | "emails" | "emails.value" => c("u.email", Kind::Text),
        "displayname" | "name" | "name.formatted" | "name.givenname" | "name.familyname" => {
            c("u.name", Kind::Text)
        }
        "externalid" => c("u.external_id", Kind::ExactText),
        "active" => c("u.active", Kind::Bool),
        "id" => c("u.id", Kind::ExactText),
        "meta.created" => c("u.created_at", Kind::Time),
        "meta.lastmodified" => c("u.updated_at", Kind::Time),
        _ => None,
    }
}

const COLS: &str =
    "u.id, u.email, u.name, u.active, u.external_id, u.roles_json, u.created_at, u.updated_at";

/// The writable fields of a user, as SCIM sets them.
#[derive(Debug, Clone, PartialEq)]
struct Fields {
    user_name: String,
    name: String,
    active: bool,
    external_id: Option<String>,
    roles: Vec<String>,
    password: Option<String>,
}

#[derive(Debug, Clone)]
struct Row {
    id: String,
    fields: Fields,
    created: i64,
    updated: i64,
}

fn row_from(r: &[Value]) -> Row {
    Row {
        id: text(&r[0]).unwrap_or_default(),
        fields: Fields {
            user_name: text(&r[1]).unwrap_or_default(),
            name: text(&r[2]).unwrap_or_default(),
            active: int(&r[3]) != 0,
            external_id: text(&r[4]),
            roles: text(&r[5])
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default(),
            password: None,
        },
        created: int(&r[6]),
        updated: int(&r[7]),
    }
}

async fn to_json(st: &Authn, row: &Row) -> Result<serde_json::Value, Reply> {
    let base = base_url(st);
    let groups = st
        .store
        .run(st.store.stmt(
            "SELECT g.id, g.display_name FROM authn_scim_member m JOIN authn_scim_group g ON g.id = m.group_id WHERE m.user_id = ? ORDER BY g.display_name",
            [row.id.clone().into()],
        ))
        .await
        .map_err(|e| Reply::db(st, &e))?;
    let groups: Vec<_> = groups
        .rows
        .iter()
        .map(|g| {
            let id = text(&g[0]).unwrap_or_default();
            json!({"value": id, "display": text(&g[1]), "$ref": format!("{base}/Groups/{id}"), "type": "direct"})
        })
        .collect();
    let f = &row.fields;
    let mut v = json!({
        "schemas": [SCHEMA],
        "id": row.id,
        "userName": f.user_name,
        "name": {"formatted": f.name},
        "displayName": f.name,
        "active": f.active,
        "emails": [{"value": f.user_name, "type": "work", "primary": true}],
        "roles": f.roles.iter().map(|r| json!({"value": r})).collect::<Vec<_>>(),
        "groups": groups,
        "meta": {
            "resourceType": "User",
            "created": time(row.created),
            "lastModified": time(row.updated),
            "location": format!("{base}/Users/{}", row.id),
        },
    });
    if let Some(e) = &f.external_id {
        v["externalId"] = e.clone().into();
    }
    Ok(v)
}

async fn load(st: &Authn, id: &str) -> Result<Option<Row>, Reply> {
    let res = st
        .store
        .run(st.store.stmt(
            &format!("SELECT {COLS} FROM authn_user u WHERE u.id = ?"),
            [id.into()],
        ))
        .await
        .map_err(|e| Reply::db(st, &e))?;
    Ok(res.rows.first().map(|r| row_from(r)))
}

fn str_list(v: &serde_json::Value, at: &str) -> Result<Vec<String>, Reply> {
    let Some(items) = v.as_array() else {
        return Err(Reply::invalid(format!("`{at}` must be a list")));
    };
    items
        .iter()
        .map(|i| match i {
            serde_json::Value::String(s) => Ok(s.clone()),
            o => o
                .get("value")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Reply::invalid(format!("`{at}[]` entries need a string `value`"))),
        })
        .collect()
}

fn string(v: &serde_json::Value, at: &str) -> Result<String, Reply> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| Reply::invalid(format!("`{at}` must be a string")))
}

/// Applies one attribute (`path` lower-cased, `None` value = remove) to `f`.
fn set(f: &mut Fields, path: &str, v: Option<&serde_json::Value>) -> Result<(), Reply> {
    let lower = path.to_ascii_lowercase();
    let short = lower
        .strip_prefix("urn:ietf:params:scim:schemas:core:2.0:user:")
        .unwrap_or(&lower);
    let required = |what: &str| {
        Reply::error(
            StatusCode::BAD_REQUEST,
            Some("mutability"),
            format!("`{what}` is required and cannot be removed"),
        )
    };
    match (short, v) {
        ("username", Some(v)) => f.user_name = string(v, "userName")?.trim().to_lowercase(),
        ("emails", Some(v)) => {
            if let Some(first) = str_list(v, "emails")?.first() {
                f.user_name = first.trim().to_lowercase();
            }
        }
        ("emails[type eq \"work\"].value" | "emails.value", Some(v)) => {
            f.user_name = string(v, path)?.trim().to_lowercase();
        }
        ("displayname" | "name.formatted", Some(v)) => f.name = string(v, path)?,
        ("name", Some(v)) => {
            if let Some(n) = name_of(v) {
                f.name = n;
            }
        }
        ("name.givenname" | "name.familyname", Some(v)) => {
            // Without a stored split, the display name becomes what was given.
            f.name = string(v, path)?;
        }
        ("active", Some(v)) => {
            f.active =
                boolean(v).ok_or_else(|| Reply::invalid("`active` must be true or false"))?;
        }
        ("externalid", Some(v)) => f.external_id = Some(string(v, "externalId")?),
        ("externalid", None) => f.external_id = None,
        ("roles", Some(v)) => {
            for r in str_list(v, "roles")? {
                if !f.roles.contains(&r) {
                    f.roles.push(r);
                }
            }
        }
        ("roles", None) => f.roles.clear(),
        ("password", Some(v)) => f.password = Some(string(v, "password")?),
        ("username" | "emails" | "displayname" | "name", None) => return Err(required(path)),
        ("schemas" | "id" | "meta" | "groups", _) => {}
        _ => {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                Some("invalidPath"),
                format!("unknown or unsupported User attribute `{path}`"),
            ));
        }
    }
    Ok(())
}

fn name_of(v: &serde_json::Value) -> Option<String> {
    if let Some(f) = v.get("formatted").and_then(serde_json::Value::as_str) {
        return Some(f.to_owned());
    }
    let parts: Vec<&str> = ["givenName", "familyName"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(serde_json::Value::as_str))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Reads a full User resource (POST, PUT).
fn fields_of(body: &serde_json::Value) -> Result<Fields, Reply> {
    let user_name = match body.get("userName").and_then(serde_json::Value::as_str) {
        Some(u) => u.trim().to_lowercase(),
        None => return Err(Reply::invalid("`userName` (the email) is required")),
    };
    if user_name.is_empty() || !user_name.contains('@') {
        return Err(Reply::invalid("`userName` must be an email address"));
    }
    let name = body
        .get("displayName")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .or_else(|| body.get("name").and_then(name_of))
        .unwrap_or_else(|| user_name.clone());
    let active = match body.get("active") {
        None | Some(serde_json::Value::Null) => true,
        Some(v) => boolean(v).ok_or_else(|| Reply::invalid("`active` must be true or false"))?,
    };
    let external_id = match body.get("externalId") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(string(v, "externalId")?),
    };
    let roles = match body.get("roles") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(v) => str_list(v, "roles")?,
    };
    let password = match body.get("password") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(string(v, "password")?),
    };
    Ok(Fields {
        user_name,
        name,
        active,
        external_id,
        roles,
        password,
    })
}

async fn password_stmt(st: &Authn, user_id: &str, password: &str) -> Result<Statement, Reply> {
    if password.chars().count() < st.config.password.min_length {
        return Err(Reply::invalid(format!(
            "`password` must be at least {} characters",
            st.config.password.min_length
        )));
    }
    let hasher = st.hasher.clone();
    let pw = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || hasher.hash(&pw))
        .await
        .map_err(|e| Reply::invalid(e.to_string()))?
        .map_err(Reply::invalid)?;
    let now = now_ms();
    // Delete-then-insert: one statement shape for both engines (no upsert dialects).
    Ok(st.store.stmt(
        "INSERT INTO authn_account (id, user_id, provider_id, account_id, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            uuid::Uuid::new_v4().to_string().into(),
            user_id.into(),
            CREDENTIAL.into(),
            user_id.into(),
            hash.into(),
            now.into(),
            now.into(),
        ],
    ))
}

fn conflict(user_name: &str) -> Reply {
    Reply::error(
        StatusCode::CONFLICT,
        Some("uniqueness"),
        format!("userName `{user_name}` is already taken"),
    )
}

/// `GET /Users`.
pub async fn list(st: &Arc<Authn>, query: Option<&str>) -> Reply {
    let q = match ListQuery::parse(query, st.config.scim.max_results) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let (total, rows) = match q.page(st, "authn_user u", "u", COLS, attribute).await {
        Ok(page) => page,
        Err(r) => return r,
    };
    let mut resources = Vec::new();
    for r in rows {
        match to_json(st, &row_from(&r)).await {
            Ok(v) => resources.push(v),
            Err(r) => return r,
        }
    }
    q.answer(total, resources)
}

/// `GET /Users/:id`.
pub async fn get(st: &Arc<Authn>, id: &str) -> Reply {
    match load(st, id).await {
        Ok(Some(row)) => match to_json(st, &row).await {
            Ok(v) => Reply::json(StatusCode::OK, v),
            Err(r) => r,
        },
        Ok(None) => Reply::not_found("User", id),
        Err(r) => r,
    }
}

/// `POST /Users`.
pub async fn create(st: &Arc<Authn>, body: serde_json::Value) -> Reply {
    let f = match fields_of(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let mut stmts = vec![st.store.stmt(
        "INSERT INTO authn_user (id, email, email_verified, name, image, active, external_id, roles_json, groups_json, metadata_json, created_at, updated_at) VALUES (?, ?, 0, ?, NULL, ?, ?, ?, '[]', '{}', ?, ?)",
        [
            id.clone().into(),
            f.user_name.clone().into(),
            f.name.clone().into(),
            i64::from(f.active).into(),
            f.external_id.clone().map_or(Value::Null, Value::Text),
            serde_json::to_string(&f.roles).unwrap_or_default().into(),
            now.into(),
            now.into(),
        ],
    )];
    if let Some(pw) = &f.password {
        match password_stmt(st, &id, pw).await {
            Ok(s) => stmts.push(s),
            Err(r) => return r,
        }
    }
    match st.store.batch(stmts).await {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return conflict(&f.user_name),
        Err(e) => return Reply::db(st, &e),
    }
    st.logger
        .info(format!("SCIM: created user {} ({id})", f.user_name));
    match load(st, &id).await {
        Ok(Some(row)) => match to_json(st, &row).await {
            Ok(v) => Reply::created(v),
            Err(r) => r,
        },
        Ok(None) => Reply::not_found("User", &id),
        Err(r) => r,
    }
}

/// Writes `f` over user `id`, ending its sessions when it is deactivated.
async fn write(st: &Arc<Authn>, id: &str, before: &Fields, f: Fields) -> Reply {
    let mut stmts = vec![st.store.stmt(
        "UPDATE authn_user SET email = ?, name = ?, active = ?, external_id = ?, roles_json = ?, updated_at = ? WHERE id = ?",
        [
            f.user_name.clone().into(),
            f.name.clone().into(),
            i64::from(f.active).into(),
            f.external_id.clone().map_or(Value::Null, Value::Text),
            serde_json::to_string(&f.roles).unwrap_or_default().into(),
            now_ms().into(),
            id.into(),
        ],
    )];
    if let Some(pw) = &f.password {
        stmts.push(st.store.stmt(
            "DELETE FROM authn_account WHERE user_id = ? AND provider_id = ?",
            [id.into(), CREDENTIAL.into()],
        ));
        match password_stmt(st, id, pw).await {
            Ok(s) => stmts.push(s),
            Err(r) => return r,
        }
    }
    match st.store.batch(stmts).await {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return conflict(&f.user_name),
        Err(e) => return Reply::db(st, &e),
    }
    if before.active && !f.active {
        match st.sessions.revoke_all(id).await {
            Ok(n) => st.logger.info(format!(
                "SCIM: deactivated user {} ({id}); ended {n} sessions",
                f.user_name
            )),
            Err(e) => return Reply::db(st, &e),
        }
    } else {
        // New roles or names show in X-Identity on the next request, not after the cache TTL.
        st.sessions.forget_user(id);
    }
    get(st, id).await
}

/// `PUT /Users/:id`.
pub async fn replace(st: &Arc<Authn>, id: &str, body: serde_json::Value) -> Reply {
    let before = match load(st, id).await {
        Ok(Some(r)) => r,
        Ok(None) => return Reply::not_found("User", id),
        Err(r) => return r,
    };
    match fields_of(&body) {
        Ok(f) => write(st, id, &before.fields, f).await,
        Err(r) => r,
    }
}

/// `PATCH /Users/:id`.
pub async fn patch(st: &Arc<Authn>, id: &str, body: serde_json::Value) -> Reply {
    let ops = match patch_ops(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let before = match load(st, id).await {
        Ok(Some(r)) => r,
        Ok(None) => return Reply::not_found("User", id),
        Err(r) => return r,
    };
    let mut f = before.fields.clone();
    for (op, path, value) in ops {
        let result = match (op.as_str(), path) {
            ("remove", Some(p)) => set(&mut f, &p, None),
            (op, Some(p)) => {
                // `replace` of a list replaces it; `add` appends (RFC 7644 §3.5.2.1/3).
                if op == "replace" && p.eq_ignore_ascii_case("roles") {
                    f.roles.clear();
                }
                set(&mut f, &p, Some(&value))
            }
            (op, None) => {
                let mut r = Ok(());
                for (k, v) in value.as_object().into_iter().flatten() {
                    if op == "replace" && k.eq_ignore_ascii_case("roles") {
                        f.roles.clear();
                    }
                    r = set(&mut f, k, Some(v));
                    if r.is_err() {
                        break;
                    }
                }
                r
            }
        };
        if let Err(r) = result {
            return r;
        }
    }
    if f.user_name.is_empty() || !f.user_name.contains('@') {
        return Reply::invalid("`userName` must be an email address");
    }
    write(st, id, &before.fields, f).await
}

/// `DELETE /Users/:id`: the user, its accounts, sessions and memberships.
pub async fn delete(st: &Arc<Authn>, id: &str) -> Reply {
    let stmts: Vec<Statement> = [
        "DELETE FROM authn_session WHERE user_id = ?",
        "DELETE FROM authn_account WHERE user_id = ?",
        "DELETE FROM authn_scim_member WHERE user_id = ?",
        "DELETE FROM authn_user WHERE id = ?",
    ]
    .iter()
    .map(|sql| st.store.stmt(sql, [id.into()]))
    .collect();
    match st.store.batch(stmts).await {
        Ok(res) if res.last().is_some_and(|r| r.affected_row_count > 0) => {
            st.sessions.forget_user(id);
            st.logger.info(format!("SCIM: deleted user {id}"));
            Reply::no_content()
        }
        Ok(_) => Reply::not_found("User", id),
        Err(e) => Reply::db(st, &e),
    }
}
