//! SCIM Groups over `authn_scim_group` and `authn_scim_member`; a member's sessions are re-read
//! after a change so its `X-Identity.groups` follows at once.

use std::sync::Arc;

use buntime_plugin_database::{Statement, Value};
use http::StatusCode;
use serde_json::json;

use super::filter::{self, Column, Kind};
use super::{ListQuery, Reply, base_url, patch_ops, time};
use crate::Authn;
use crate::store::{int, is_unique_violation, now_ms, text};

/// The Group schema URN.
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Filterable (and sortable) Group attributes.
pub fn attribute(name: &str) -> Option<Column> {
    let c = |sql, kind| Some(Column { sql, kind });
    match name {
        "displayname" => c("g.display_name", Kind::Text),
        "externalid" => c("g.external_id", Kind::ExactText),
        "id" => c("g.id", Kind::ExactText),
        "meta.created" => c("g.created_at", Kind::Time),
        "meta.lastmodified" => c("g.updated_at", Kind::Time),
        _ => None,
    }
}

const COLS: &str = "g.id, g.display_name, g.external_id, g.created_at, g.updated_at";

#[derive(Debug, Clone, PartialEq)]
struct Fields {
    display_name: String,
    external_id: Option<String>,
    members: Vec<String>,
}

async fn load(st: &Authn, id: &str) -> Result<Option<(Fields, i64, i64)>, Reply> {
    let res = st
        .store
        .run(st.store.stmt(
            &format!("SELECT {COLS} FROM authn_scim_group g WHERE g.id = ?"),
            [id.into()],
        ))
        .await
        .map_err(|e| Reply::db(st, &e))?;
    let Some(r) = res.rows.first() else {
        return Ok(None);
    };
    let members = st
        .store
        .run(st.store.stmt(
            "SELECT user_id FROM authn_scim_member WHERE group_id = ? ORDER BY user_id",
            [id.into()],
        ))
        .await
        .map_err(|e| Reply::db(st, &e))?;
    Ok(Some((
        Fields {
            display_name: text(&r[1]).unwrap_or_default(),
            external_id: text(&r[2]),
            members: members.rows.iter().filter_map(|m| text(&m[0])).collect(),
        },
        int(&r[3]),
        int(&r[4]),
    )))
}

async fn to_json(st: &Authn, id: &str) -> Result<Option<serde_json::Value>, Reply> {
    let Some((f, created, updated)) = load(st, id).await? else {
        return Ok(None);
    };
    let base = base_url(st);
    let names = st
        .store
        .run(st.store.stmt(
            "SELECT u.id, u.email FROM authn_scim_member m JOIN authn_user u ON u.id = m.user_id WHERE m.group_id = ? ORDER BY u.email",
            [id.into()],
        ))
        .await
        .map_err(|e| Reply::db(st, &e))?;
    let members: Vec<_> = names
        .rows
        .iter()
        .map(|m| {
            let uid = text(&m[0]).unwrap_or_default();
            json!({"value": uid, "display": text(&m[1]), "type": "User", "$ref": format!("{base}/Users/{uid}")})
        })
        .collect();
    let mut v = json!({
        "schemas": [SCHEMA],
        "id": id,
        "displayName": f.display_name,
        "members": members,
        "meta": {
            "resourceType": "Group",
            "created": time(created),
            "lastModified": time(updated),
            "location": format!("{base}/Groups/{id}"),
        },
    });
    if let Some(e) = f.external_id {
        v["externalId"] = e.into();
    }
    Ok(Some(v))
}

fn member_ids(v: &serde_json::Value) -> Result<Vec<String>, Reply> {
    let items: Vec<&serde_json::Value> = match v {
        serde_json::Value::Array(a) => a.iter().collect(),
        serde_json::Value::Object(_) => vec![v],
        _ => return Err(Reply::invalid("`members` must be a list of {value}")),
    };
    items
        .iter()
        .map(|m| {
            m.get("value")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| Reply::invalid("each member needs a string `value` (a User id)"))
        })
        .collect()
}

fn fields_of(body: &serde_json::Value) -> Result<Fields, Reply> {
    let display_name = body
        .get("displayName")
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| Reply::invalid("`displayName` is required"))?
        .to_owned();
    let external_id = match body.get("externalId") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(Reply::invalid("`externalId` must be a string")),
    };
    let members = match body.get("members") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(m) => member_ids(m)?,
    };
    Ok(Fields {
        display_name,
        external_id,
        members,
    })
}

/// Refuses member ids that are not users (RFC 7644: `invalidValue`).
async fn check_members(st: &Authn, members: &[String]) -> Result<(), Reply> {
    for m in members {
        let res = st
            .store
            .run(
                st.store
                    .stmt("SELECT 1 FROM authn_user WHERE id = ?", [m.clone().into()]),
            )
            .await
            .map_err(|e| Reply::db(st, &e))?;
        if res.rows.is_empty() {
            return Err(Reply::invalid(format!("member `{m}` is not a User id")));
        }
    }
    Ok(())
}

fn conflict(name: &str) -> Reply {
    Reply::error(
        StatusCode::CONFLICT,
        Some("uniqueness"),
        format!("a Group named `{name}` already exists"),
    )
}

fn member_stmts(st: &Authn, id: &str, members: &[String]) -> Vec<Statement> {
    let mut seen = std::collections::BTreeSet::new();
    members
        .iter()
        .filter(|m| seen.insert(m.as_str()))
        .map(|m| {
            st.store.stmt(
                "INSERT INTO authn_scim_member (group_id, user_id) VALUES (?, ?)",
                [id.into(), m.clone().into()],
            )
        })
        .collect()
}

/// `GET /Groups`.
pub async fn list(st: &Arc<Authn>, query: Option<&str>) -> Reply {
    let q = match ListQuery::parse(query, st.config.scim.max_results) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let (total, rows) = match q
        .page(st, "authn_scim_group g", "g", "g.id", attribute)
        .await
    {
        Ok(page) => page,
        Err(r) => return r,
    };
    let mut resources = Vec::new();
    for r in rows {
        match to_json(st, &text(&r[0]).unwrap_or_default()).await {
            Ok(Some(v)) => resources.push(v),
            Ok(None) => {}
            Err(r) => return r,
        }
    }
    q.answer(total, resources)
}

/// `GET /Groups/:id`.
pub async fn get(st: &Arc<Authn>, id: &str) -> Reply {
    match to_json(st, id).await {
        Ok(Some(v)) => Reply::json(StatusCode::OK, v),
        Ok(None) => Reply::not_found("Group", id),
        Err(r) => r,
    }
}

/// `POST /Groups`.
pub async fn create(st: &Arc<Authn>, body: serde_json::Value) -> Reply {
    let f = match fields_of(&body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Err(r) = check_members(st, &f.members).await {
        return r;
    }
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_ms();
    let mut stmts = vec![st.store.stmt(
        "INSERT INTO authn_scim_group (id, display_name, external_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        [
            id.clone().into(),
            f.display_name.clone().into(),
            f.external_id.clone().map_or(Value::Null, Value::Text),
            now.into(),
            now.into(),
        ],
    )];
    stmts.extend(member_stmts(st, &id, &f.members));
    match st.store.batch(stmts).await {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return conflict(&f.display_name),
        Err(e) => return Reply::db(st, &e),
    }
    for m in &f.members {
        st.sessions.forget_user(m);
    }
    match to_json(st, &id).await {
        Ok(Some(v)) => Reply::created(v),
        Ok(None) => Reply::not_found("Group", &id),
        Err(r) => r,
    }
}

async fn write(st: &Arc<Authn>, id: &str, before: &Fields, f: Fields) -> Reply {
    if let Err(r) = check_members(st, &f.members).await {
        return r;
    }
    let mut stmts = vec![
        st.store.stmt(
            "UPDATE authn_scim_group SET display_name = ?, external_id = ?, updated_at = ? WHERE id = ?",
            [
                f.display_name.clone().into(),
                f.external_id.clone().map_or(Value::Null, Value::Text),
                now_ms().into(),
                id.into(),
            ],
        ),
        st.store.stmt("DELETE FROM authn_scim_member WHERE group_id = ?", [id.into()]),
    ];
    stmts.extend(member_stmts(st, id, &f.members));
    match st.store.batch(stmts).await {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return conflict(&f.display_name),
        Err(e) => return Reply::db(st, &e),
    }
    for m in before.members.iter().chain(&f.members) {
        st.sessions.forget_user(m);
    }
    get(st, id).await
}

/// `PUT /Groups/:id`.
pub async fn replace(st: &Arc<Authn>, id: &str, body: serde_json::Value) -> Reply {
    let before = match load(st, id).await {
        Ok(Some((f, _, _))) => f,
        Ok(None) => return Reply::not_found("Group", id),
        Err(r) => return r,
    };
    match fields_of(&body) {
        Ok(f) => write(st, id, &before, f).await,
        Err(r) => r,
    }
}

fn apply(f: &mut Fields, op: &str, path: &str, value: &serde_json::Value) -> Result<(), Reply> {
    let lower = path.to_ascii_lowercase();
    if let Some(inner) = lower
        .strip_prefix("members[")
        .and_then(|rest| rest.strip_suffix(']'))
    {
        // `members[value eq "<id>"]`: the one form clients send (remove a member).
        let original = &path["members[".len()..path.len() - 1];
        let Some(target) = filter::value_eq(original).filter(|_| inner.starts_with("value")) else {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                Some("invalidFilter"),
                format!("unsupported member filter `{original}`: use value eq \"<id>\""),
            ));
        };
        return match op {
            "remove" => {
                f.members.retain(|m| *m != target);
                Ok(())
            }
            _ => Err(Reply::error(
                StatusCode::BAD_REQUEST,
                Some("invalidPath"),
                "a filtered members path can only be removed",
            )),
        };
    }
    match (op, lower.as_str()) {
        ("remove", "members") => {
            if value.is_null() {
                f.members.clear();
            } else {
                let gone = member_ids(value)?;
                f.members.retain(|m| !gone.contains(m));
            }
        }
        ("add", "members") => {
            for m in member_ids(value)? {
                if !f.members.contains(&m) {
                    f.members.push(m);
                }
            }
        }
        ("replace", "members") => f.members = member_ids(value)?,
        ("add" | "replace", "displayname") => {
            f.display_name = value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Reply::invalid("`displayName` must be a string"))?;
        }
        ("add" | "replace", "externalid") => {
            f.external_id = Some(
                value
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Reply::invalid("`externalId` must be a string"))?,
            );
        }
        ("remove", "externalid") => f.external_id = None,
        ("remove", "displayname") => {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                Some("mutability"),
                "`displayName` is required and cannot be removed",
            ));
        }
        (_, "id" | "schemas" | "meta") => {}
        _ => {
            return Err(Reply::error(
                StatusCode::BAD_REQUEST,
                Some("invalidPath"),
                format!("unknown or unsupported Group attribute `{path}`"),
            ));
        }
    }
    Ok(())
}

/// `PATCH /Groups/:id`.
pub async fn patch(st: &Arc<Authn>, id: &str, body: serde_json::Value) -> Reply {
    let ops = match patch_ops(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let before = match load(st, id).await {
        Ok(Some((f, _, _))) => f,
        Ok(None) => return Reply::not_found("Group", id),
        Err(r) => return r,
    };
    let mut f = before.clone();
    for (op, path, value) in ops {
        let result = match path {
            Some(p) => apply(&mut f, &op, &p, &value),
            None => value
                .as_object()
                .into_iter()
                .flatten()
                .try_for_each(|(k, v)| apply(&mut f, &op, k, v)),
        };
        if let Err(r) = result {
            return r;
        }
    }
    write(st, id, &before, f).await
}

/// `DELETE /Groups/:id`.
pub async fn delete(st: &Arc<Authn>, id: &str) -> Reply {
    let members = match load(st, id).await {
        Ok(Some((f, _, _))) => f.members,
        Ok(None) => return Reply::not_found("Group", id),
        Err(r) => return r,
    };
    let stmts = vec![
        st.store.stmt(
            "DELETE FROM authn_scim_member WHERE group_id = ?",
            [id.into()],
        ),
        st.store
            .stmt("DELETE FROM authn_scim_group WHERE id = ?", [id.into()]),
    ];
    match st.store.batch(stmts).await {
        Ok(_) => {
            for m in &members {
                st.sessions.forget_user(m);
            }
            Reply::no_content()
        }
        Err(e) => Reply::db(st, &e),
    }
}
