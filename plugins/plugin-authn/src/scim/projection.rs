//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5, §3.9): which attributes of a
//! resource an answer carries. `id` and `schemas` are always returned; names are matched without
//! regard to case, may name sub-attributes (`name.givenName`, `emails.value`) and may carry their
//! schema URN (`urn:ietf:params:scim:schemas:core:2.0:User:userName`, or an extension's).

use serde_json::{Map, Value};

/// The schema URNs whose attributes sit at the top of a resource.
const CORE_SCHEMAS: [&str; 2] = ["urn:ietf:params:scim:schemas:core:2.0:user", "urn:ietf:params:scim:schemas:core:2.0:group"];
/// Attributes no projection removes.
const ALWAYS: [&str; 2] = ["id", "schemas"];

/// What an answer should carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// `attributes`: only these (plus the ones always returned); empty means all.
    include: Vec<Vec<String>>,
    /// `excludedAttributes`: all but these.
    exclude: Vec<Vec<String>>,
}

impl Projection {
    /// Reads `attributes` and `excludedAttributes` from a query string.
    pub fn from_query(query: Option<&str>) -> Self {
        let mut p = Self::default();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match k.as_ref() {
                "attributes" => p.include.extend(paths(v.split(','))),
                "excludedAttributes" => p.exclude.extend(paths(v.split(','))),
                _ => {}
            }
        }
        p
    }

    /// Reads them from a SearchRequest body, where each is a list of names (or one string).
    pub fn from_search(body: &Value) -> Self {
        let names = |key: &str| -> Vec<String> {
            match body.get(key) {
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                Some(Value::String(s)) => s.split(',').map(str::to_owned).collect(),
                _ => Vec::new(),
            }
        };
        Self { include: paths(names("attributes").iter().map(String::as_str)), exclude: paths(names("excludedAttributes").iter().map(String::as_str)) }
    }

    /// Whether the answer is left as it is.
    pub fn is_identity(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Applies the projection to one resource.
    pub fn resource(&self, resource: &Value) -> Value {
        let mut out = if self.include.is_empty() {
            resource.clone()
        } else {
            let mut picked = Value::Object(Map::new());
            for always in ALWAYS {
                if let Some(v) = resource.get(always) {
                    picked[always] = v.clone();
                }
            }
            for path in &self.include {
                if let Some(part) = pick(resource, path) {
                    merge(&mut picked, part);
                }
            }
            picked
        };
        for path in &self.exclude {
            if !(path.len() == 1 && ALWAYS.contains(&path[0].as_str())) {
                remove(&mut out, path);
            }
        }
        out
    }

    /// Applies the projection to a resource or to each resource of a ListResponse.
    pub fn answer(&self, body: &mut Value) {
        if self.is_identity() {
            return;
        }
        if let Some(resources) = body.get_mut("Resources").and_then(Value::as_array_mut) {
            for r in resources {
                *r = self.resource(r);
            }
        } else if body.get("meta").and_then(|m| m.get("resourceType")).is_some() {
            *body = self.resource(body);
        }
    }
}

/// Attribute names as lower-cased paths: `name.givenName` → `[name, givenname]`; a core schema's
/// URN prefix is dropped, an extension's kept as the first step.
fn paths<'a>(names: impl Iterator<Item = &'a str>) -> Vec<Vec<String>> {
    names
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .map(|n| {
            if n.starts_with("urn:") {
                // `urn:…:User:name.givenName`: the schema ends at the last `:`, unless the name is
                // the extension URN itself.
                match n.rsplit_once(':') {
                    Some((schema, attr)) if schema.contains(":2.0") || CORE_SCHEMAS.contains(&schema) => {
                        let mut path: Vec<String> = if CORE_SCHEMAS.contains(&schema) { Vec::new() } else { vec![schema.to_owned()] };
                        path.extend(attr.split('.').map(str::to_owned));
                        path
                    }
                    _ => vec![n],
                }
            } else {
                n.split('.').map(str::to_owned).collect()
            }
        })
        .collect()
}

/// The part of `v` at `path`, nested as in `v` (arrays keep one entry per element).
fn pick(v: &Value, path: &[String]) -> Option<Value> {
    let Some((first, rest)) = path.split_first() else { return Some(v.clone()) };
    match v {
        Value::Object(map) => {
            let (key, child) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(first))?;
            let part = pick(child, rest)?;
            let mut out = Map::new();
            out.insert(key.clone(), part);
            Some(Value::Object(out))
        }
        Value::Array(items) => Some(Value::Array(items.iter().map(|i| pick(i, path).unwrap_or_else(|| Value::Object(Map::new()))).collect())),
        _ => None,
    }
}

/// Merges a picked part into what has been picked so far.
fn merge(into: &mut Value, part: Value) {
    match (into, part) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (x, y) in a.iter_mut().zip(b) {
                merge(x, y);
            }
        }
        (slot, part) => *slot = part,
    }
}

/// Removes the attribute at `path` (from every element of a multi-valued attribute).
fn remove(v: &mut Value, path: &[String]) {
    let Some((first, rest)) = path.split_first() else { return };
    match v {
        Value::Object(map) => {
            let Some(key) = map.keys().find(|k| k.eq_ignore_ascii_case(first)).cloned() else { return };
            if rest.is_empty() {
                map.shift_remove(&key);
            } else if let Some(child) = map.get_mut(&key) {
                remove(child, rest);
            }
        }
        Value::Array(items) => {
            for i in items {
                remove(i, path);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u1", "userName": "ada@x",
            "name": {"givenName": "Ada", "familyName": "L"}, "emails": [{"value": "ada@x", "primary": true}, {"value": "a@y", "primary": false}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D", "manager": {"value": "u0"}},
            "meta": {"resourceType": "User", "version": "W/\"1\""}
        })
    }

    #[test]
    fn attributes_keep_only_the_named_ones_and_the_always_returned() {
        let p = Projection::from_query(Some("attributes=userName,NAME.givenName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"));
        assert_eq!(
            p.resource(&user()),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u1", "userName": "ada@x", "name": {"givenName": "Ada"},
                   "emails": [{"value": "ada@x"}, {"value": "a@y"}], "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}})
        );
        let p = Projection::from_query(Some("attributes=urn:ietf:params:scim:schemas:core:2.0:User:userName"));
        assert_eq!(p.resource(&user())["userName"], "ada@x");
    }

    #[test]
    fn excluded_attributes_drop_those_but_never_id_or_schemas() {
        let p = Projection::from_query(Some("excludedAttributes=emails,name.familyName,id,meta"));
        let u = p.resource(&user());
        assert!(u.get("emails").is_none() && u.get("meta").is_none() && u["name"] == json!({"givenName": "Ada"}), "{u}");
        assert_eq!(u["id"], "u1");
        let mut list = json!({"Resources": [user(), user()]});
        Projection::from_search(&json!({"attributes": ["userName"]})).answer(&mut list);
        assert_eq!(list["Resources"][1], json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u1", "userName": "ada@x"}));
    }
}
