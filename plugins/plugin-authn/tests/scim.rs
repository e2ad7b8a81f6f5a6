//! SCIM 2.0 under `/auth/api/scim/v2`, replayed as a provisioning client sends it: discovery,
//! bearer tokens (created by a runtime admin), Users and Groups with filters, pagination and PATCH,
//! Bulk, deactivation, and provisioned users' `X-Identity`; on SQLite and on a real PostgreSQL.

mod support;

use std::sync::Arc;

use buntime_auth::{AccessControl, KeyStore};
use buntime_core::access::AccessGate;
use buntime_testkit::{PgServer, TestResponse};
use http::{Method, header};
use serde_json::{Value, json};
use support::{Auth, ORIGIN, PASSWORD, session_cookie, start_pg_with, start_with};

const MASTER: &str = "master-key-for-the-scim-tests-0123456789";
const SCIM: &str = "scim:\n  enabled: true\n  maxResults: 50\n  maxBulkOperations: 5\n";
const V2: &str = "/auth/api/scim/v2";

/// A started plugin with SCIM on, the runtime's real access model and a SCIM token.
struct Scim {
    a: Auth,
    access: Arc<AccessControl>,
    token: String,
}

async fn start_scim(extra: &str) -> Scim {
    finish(start_with(&format!("{SCIM}{extra}"), &[]).await).await
}

async fn finish(a: Auth) -> Scim {
    let access = Arc::new(AccessControl::new(
        Arc::new(KeyStore::new(a.state.path())),
        Some(MASTER.to_owned()),
        false,
    ));
    let mut s = Scim {
        a,
        access,
        token: String::new(),
    };
    let res = s
        .admin(
            Method::POST,
            "/auth/api/scim/tokens",
            Some(json!({"name": "okta"})),
            Some(MASTER),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    s.token = res.json()["token"].as_str().unwrap().to_owned();
    s
}

impl Scim {
    /// A token-admin call, with the runtime's access gate as the server adds it.
    async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> TestResponse {
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        let mut req = req
            .body(body.map_or_else(axum::body::Body::empty, |b| {
                axum::body::Body::from(b.to_string())
            }))
            .unwrap();
        req.extensions_mut().insert(AccessGate(self.access.clone()));
        self.a.h.send(req).await
    }

    /// A SCIM call with `auth` as the `Authorization` value (None: no header).
    async fn call_as(
        &self,
        auth: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> TestResponse {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{V2}{path}"))
            .header(header::CONTENT_TYPE, "application/scim+json");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let req = req
            .body(body.map_or_else(axum::body::Body::empty, |b| {
                axum::body::Body::from(b.to_string())
            }))
            .unwrap();
        self.a.h.send(req).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        let auth = format!("Bearer {}", self.token);
        self.call_as(Some(&auth), method, path, body).await
    }

    /// A SCIM call with the token and extra headers (`If-Match`, `If-None-Match`).
    async fn call_with(&self, method: Method, path: &str, body: Option<Value>, headers: &[(&str, &str)]) -> TestResponse {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{V2}{path}"))
            .header(header::CONTENT_TYPE, "application/scim+json")
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = body.map_or_else(axum::body::Body::empty, |b| axum::body::Body::from(b.to_string()));
        self.a.h.send(req.body(body).unwrap()).await
    }

    async fn get(&self, path: &str) -> TestResponse {
        self.call(Method::GET, path, None).await
    }

    /// Creates a user; returns its id.
    async fn user(&self, email: &str, extra: Value) -> String {
        let mut body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email, "name": {"givenName": "Pat", "familyName": "Lee"}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let res = self.call(Method::POST, "/Users", Some(body)).await;
        assert_eq!(res.status, 201, "{}", res.text());
        res.json()["id"].as_str().unwrap().to_owned()
    }

    /// The `userName`s a filtered list returns, in order (by `userName` unless the query sorts:
    /// users created within one millisecond have no creation order).
    async fn names(&self, query: &str) -> Vec<String> {
        let query = if query.contains("sortBy=") {
            query.to_owned()
        } else {
            format!("{query}&sortBy=userName")
        };
        let res = self.get(&format!("/Users?{query}")).await;
        assert_eq!(res.status, 200, "{query}: {}", res.text());
        res.json()["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn q(filter: &str) -> String {
    format!(
        "filter={}",
        url::form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
    )
}

fn assert_error(res: &TestResponse, status: u16, scim_type: Option<&str>) {
    assert_eq!(res.status, status, "{}", res.text());
    let v = res.json();
    assert_eq!(
        v["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{v}"
    );
    assert_eq!(v["status"], status.to_string(), "{v}");
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
    if let Some(t) = scim_type {
        assert_eq!(v["scimType"], t, "{v}");
    }
}

#[tokio::test]
async fn scim_is_off_unless_enabled() {
    let a = support::start().await;
    let res = a.get(&format!("{V2}/ServiceProviderConfig"), &[]).await;
    assert_eq!(res.status, 404, "{}", res.text());
}

#[tokio::test]
async fn discovery_needs_no_token_and_advertises_the_limits() {
    let s = start_scim("").await;
    let res = s
        .call_as(None, Method::GET, "/ServiceProviderConfig", None)
        .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers[header::CONTENT_TYPE], "application/scim+json");
    let c = res.json();
    assert_eq!(c["patch"]["supported"], true);
    assert_eq!(c["bulk"]["maxOperations"], 5);
    assert_eq!(c["bulk"]["maxPayloadSize"], 1_048_576);
    assert_eq!(c["filter"]["maxResults"], 50);
    assert_eq!(c["etag"]["supported"], true);
    let types = s.call_as(None, Method::GET, "/ResourceTypes", None).await;
    assert_eq!(types.json()["totalResults"], 2);
    assert_eq!(types.json()["Resources"][1]["endpoint"], "/Groups");
    let schemas = s.call_as(None, Method::GET, "/Schemas", None).await;
    assert_eq!(schemas.json()["totalResults"], 2);
    let user = s
        .call_as(
            None,
            Method::GET,
            "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
            None,
        )
        .await;
    assert_eq!(user.status, 200);
    assert_eq!(user.json()["name"], "User");
    let unknown = s
        .call_as(None, Method::GET, "/Schemas/urn:example:nope", None)
        .await;
    assert_error(&unknown, 404, None);
    // Everything else needs the token.
    let users = s.call_as(None, Method::GET, "/Users", None).await;
    assert_error(&users, 401, None);
}

#[tokio::test]
async fn bearer_tokens_are_checked_expire_record_use_and_are_revocable() {
    let s = start_scim("").await;
    let missing = s.call_as(None, Method::GET, "/Users", None).await;
    assert_error(&missing, 401, None);
    assert_eq!(
        missing.headers[header::WWW_AUTHENTICATE],
        "Bearer realm=\"scim\""
    );
    let wrong = s
        .call_as(Some("Bearer scim_not-a-token"), Method::GET, "/Users", None)
        .await;
    assert_error(&wrong, 401, None);
    let basic = s
        .call_as(Some("Basic dXNlcjpwdw=="), Method::GET, "/Users", None)
        .await;
    assert_error(&basic, 401, None);

    // Only a runtime admin manages tokens; the token itself is never listed.
    let anon = s
        .admin(
            Method::POST,
            "/auth/api/scim/tokens",
            Some(json!({"name": "x"})),
            None,
        )
        .await;
    assert_eq!(anon.status, 401, "{}", anon.text());
    let bad_key = s
        .admin(
            Method::GET,
            "/auth/api/scim/tokens",
            None,
            Some("wrong-key"),
        )
        .await;
    assert_eq!(bad_key.status, 401, "{}", bad_key.text());
    let list = s
        .admin(Method::GET, "/auth/api/scim/tokens", None, Some(MASTER))
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()[0]["lastUsedAt"], Value::Null);
    assert!(list.json()[0].get("token").is_none());
    assert!(!list.text().contains(&s.token));

    let ok = s.get("/Users").await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let list = s
        .admin(Method::GET, "/auth/api/scim/tokens", None, Some(MASTER))
        .await;
    let used = list.json()[0]["lastUsedAt"]
        .as_i64()
        .expect("lastUsedAt set");
    assert!(used >= list.json()[0]["createdAt"].as_i64().unwrap());

    // An expired token is refused with a reason.
    let short = s
        .admin(
            Method::POST,
            "/auth/api/scim/tokens",
            Some(json!({"name": "short", "expiresIn": "1s"})),
            Some(MASTER),
        )
        .await;
    assert_eq!(short.status, 201, "{}", short.text());
    let short_token = format!("Bearer {}", short.json()["token"].as_str().unwrap());
    assert_eq!(
        s.call_as(Some(&short_token), Method::GET, "/Users", None)
            .await
            .status,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let expired = s
        .call_as(Some(&short_token), Method::GET, "/Users", None)
        .await;
    assert_error(&expired, 401, None);
    assert!(expired.text().contains("expired"), "{}", expired.text());

    let bad = s
        .admin(
            Method::POST,
            "/auth/api/scim/tokens",
            Some(json!({"name": "", "expiresIn": "soon"})),
            Some(MASTER),
        )
        .await;
    assert_eq!(bad.status, 400);

    // Revoked: refused at once.
    let id = list.json()[0]["id"].as_str().unwrap().to_owned();
    let del = s
        .admin(
            Method::DELETE,
            &format!("/auth/api/scim/tokens/{id}"),
            None,
            Some(MASTER),
        )
        .await;
    assert_eq!(del.status, 204, "{}", del.text());
    assert_error(&s.get("/Users").await, 401, None);
    let again = s
        .admin(
            Method::DELETE,
            &format!("/auth/api/scim/tokens/{id}"),
            None,
            Some(MASTER),
        )
        .await;
    assert_eq!(again.status, 404);
}

/// Users: create, 409, get, 404, replace, filters, sort, pagination, delete (any engine).
async fn users_crud_filters_and_pages(s: &Scim) {
    let ann = s
        .user(
            "Ann@Example.com",
            json!({"externalId": "ext-1", "roles": [{"value": "admin"}]}),
        )
        .await;
    let got = s.get(&format!("/Users/{ann}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.headers[header::CONTENT_TYPE], "application/scim+json");
    let u = got.json();
    assert_eq!(u["userName"], "ann@example.com");
    assert_eq!(u["displayName"], "Pat Lee");
    assert_eq!(u["active"], true);
    assert_eq!(u["externalId"], "ext-1");
    assert_eq!(u["roles"], json!([{"value": "admin"}]));
    assert_eq!(u["meta"]["resourceType"], "User");
    assert_eq!(
        u["meta"]["location"],
        format!("http://localhost:8000/auth/api/scim/v2/Users/{ann}")
    );
    assert!(u.get("password").is_none());

    let dup = s
        .call(
            Method::POST,
            "/Users",
            Some(json!({"userName": "ANN@example.com"})),
        )
        .await;
    assert_error(&dup, 409, Some("uniqueness"));
    let no_name = s
        .call(Method::POST, "/Users", Some(json!({"active": true})))
        .await;
    assert_error(&no_name, 400, Some("invalidValue"));
    let not_json = s
        .call_as(
            Some(&format!("Bearer {}", s.token)),
            Method::POST,
            "/Users",
            None,
        )
        .await;
    assert_error(&not_json, 400, Some("invalidSyntax"));
    assert_error(&s.get("/Users/nope").await, 404, None);

    for (email, ext, active) in [
        ("bob@example.com", "ext-2", true),
        ("carol@corp.test", "ext-3", false),
        ("dan_x@example.com", "EXT-4", true),
        ("eve%@example.com", "ext-5", true),
    ] {
        s.user(email, json!({"externalId": ext, "active": active}))
            .await;
    }
    let all = s.get("/Users").await.json();
    assert_eq!(all["totalResults"], 5);
    assert_eq!(
        all["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );

    // Operators, case rules, escaping and precedence.
    assert_eq!(
        s.names(&q(r#"userName eq "BOB@example.com""#)).await,
        ["bob@example.com"]
    );
    assert_eq!(
        s.names(&q(r#"emails.value sw "car""#)).await,
        ["carol@corp.test"]
    );
    assert_eq!(
        s.names(&q(r#"userName ew "corp.test""#)).await,
        ["carol@corp.test"]
    );
    assert_eq!(
        s.names(&q(r#"userName co "_x""#)).await,
        ["dan_x@example.com"],
        "`_` is literal"
    );
    assert_eq!(
        s.names(&q(r#"userName co "%""#)).await,
        ["eve%@example.com"],
        "`%` is literal"
    );
    assert_eq!(
        s.names(&q(r#"externalId eq "ext-4""#)).await,
        Vec::<String>::new(),
        "externalId is caseExact"
    );
    assert_eq!(s.names(&q("active eq false")).await, ["carol@corp.test"]);
    assert_eq!(
        s.names(&q(
            r#"not (active eq true) or userName eq "bob@example.com""#
        ))
        .await,
        ["bob@example.com", "carol@corp.test"]
    );
    assert_eq!(
        s.names(&q(
            r#"userName sw "a" or userName sw "b" and active eq false"#
        ))
        .await,
        ["ann@example.com"],
        "and binds tighter than or"
    );
    assert_eq!(
        s.names(&q(
            r#"(userName sw "a" or userName sw "b") and externalId pr"#
        ))
        .await,
        ["ann@example.com", "bob@example.com"]
    );
    assert_eq!(
        s.names(&q(r#"userName gt "d" and userName lt "e""#)).await,
        ["dan_x@example.com"]
    );
    assert_eq!(
        s.names(&q(r#"meta.created gt "2000-01-01T00:00:00Z""#))
            .await
            .len(),
        5
    );
    assert_eq!(
        s.names(&q(r#"meta.created lt "2000-01-01T00:00:00Z""#))
            .await
            .len(),
        0
    );
    assert_eq!(
        s.names(&q(&format!(r#"id eq "{ann}""#))).await,
        ["ann@example.com"]
    );
    // Injection attempts are data.
    assert_eq!(
        s.names(&q(r#"userName eq "x' OR '1'='1""#)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        s.names(&q(r#"userName eq "a\"); DROP TABLE authn_user; --""#))
            .await,
        Vec::<String>::new()
    );
    for bad in [
        r#"nickName eq "x""#,
        r#"userName eq"#,
        r#"userName eq "x" or"#,
        r#"userName zz "x""#,
        "active gt true",
        r#"userName eq "x") OR (1=1"#,
    ] {
        let res = s.get(&format!("/Users?{}", q(bad))).await;
        assert_error(&res, 400, Some("invalidFilter"));
    }

    // Sorting and 1-based pages.
    let desc = s.names("sortBy=userName&sortOrder=descending").await;
    assert_eq!(desc[0], "eve%@example.com");
    assert_eq!(desc[4], "ann@example.com");
    let page = s
        .get("/Users?sortBy=userName&startIndex=2&count=2")
        .await
        .json();
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["Resources"][0]["userName"], "bob@example.com");
    assert_eq!(page["Resources"][1]["userName"], "carol@corp.test");
    let none = s.get("/Users?count=0").await.json();
    assert_eq!(
        (none["totalResults"].clone(), none["itemsPerPage"].clone()),
        (json!(5), json!(0))
    );
    let capped = s.get("/Users?count=100000").await.json();
    assert_eq!(capped["itemsPerPage"], 5);
    assert_error(&s.get("/Users?count=many").await, 400, Some("invalidValue"));
    assert_error(
        &s.get("/Users?sortOrder=sideways").await,
        400,
        Some("invalidValue"),
    );
    assert_error(
        &s.get("/Users?sortBy=nickName").await,
        400,
        Some("invalidValue"),
    );

    // PUT replaces; a taken userName is 409; DELETE is 204 then 404.
    let put = s
        .call(
            Method::PUT,
            &format!("/Users/{ann}"),
            Some(json!({"userName": "ann@example.com", "displayName": "Ann Z", "active": true})),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text());
    assert_eq!(put.json()["displayName"], "Ann Z");
    assert!(
        put.json().get("externalId").is_none(),
        "PUT replaces: externalId cleared"
    );
    assert_eq!(put.json()["roles"], json!([]));
    let taken = s
        .call(
            Method::PUT,
            &format!("/Users/{ann}"),
            Some(json!({"userName": "bob@example.com"})),
        )
        .await;
    assert_error(&taken, 409, Some("uniqueness"));
    assert_error(
        &s.call(
            Method::PUT,
            "/Users/nope",
            Some(json!({"userName": "z@example.com"})),
        )
        .await,
        404,
        None,
    );
    assert_eq!(
        s.call(Method::DELETE, &format!("/Users/{ann}"), None)
            .await
            .status,
        204
    );
    assert_error(&s.get(&format!("/Users/{ann}")).await, 404, None);
    assert_error(
        &s.call(Method::DELETE, &format!("/Users/{ann}"), None).await,
        404,
        None,
    );
}

/// PATCH of users and groups, members, and the groups/roles provisioned users get (any engine).
async fn patch_groups_and_identity(s: &Scim) {
    let id = s
        .user("pat@example.com", json!({"password": PASSWORD}))
        .await;
    let other = s.user("sam@example.com", json!({})).await;
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let res = s
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(json!([
                {"op": "replace", "path": "displayName", "value": "Pat L"},
                {"op": "add", "path": "roles", "value": [{"value": "editor"}]},
                {"op": "Add", "value": {"externalId": "p-1", "roles": [{"value": "viewer"}]}},
            ]))),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let u = res.json();
    assert_eq!(u["displayName"], "Pat L");
    assert_eq!(u["externalId"], "p-1");
    assert_eq!(
        u["roles"],
        json!([{"value": "editor"}, {"value": "viewer"}])
    );
    let res = s
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(json!([
                {"op": "remove", "path": "externalId"},
                {"op": "replace", "path": "roles", "value": [{"value": "deployer"}]},
            ]))),
        )
        .await;
    assert!(res.json().get("externalId").is_none(), "{}", res.text());
    assert_eq!(res.json()["roles"], json!([{"value": "deployer"}]));
    for (ops, kind) in [
        (
            json!([{"op": "move", "path": "displayName"}]),
            "invalidValue",
        ),
        (json!([{"op": "remove"}]), "noTarget"),
        (
            json!([{"op": "replace", "path": "nickName", "value": "x"}]),
            "invalidPath",
        ),
        (json!([{"op": "remove", "path": "userName"}]), "mutability"),
        (
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            "invalidValue",
        ),
    ] {
        let res = s
            .call(
                Method::PATCH,
                &format!("/Users/{id}"),
                Some(patch(ops.clone())),
            )
            .await;
        assert_error(&res, 400, Some(kind));
    }
    assert_error(
        &s.call(Method::PATCH, "/Users/nope", Some(patch(json!([]))))
            .await,
        404,
        None,
    );

    // Groups.
    let res = s
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Engineering", "externalId": "g-1", "members": [{"value": id}]})),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let eng = res.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        res.headers[header::LOCATION],
        format!("http://localhost:8000/auth/api/scim/v2/Groups/{eng}")
    );
    assert_eq!(res.json()["members"][0]["value"], id.as_str());
    assert_eq!(res.json()["members"][0]["display"], "pat@example.com");
    let dup = s
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Engineering"})),
        )
        .await;
    assert_error(&dup, 409, Some("uniqueness"));
    let ghost = s
        .call(
            Method::POST,
            "/Groups",
            Some(json!({"displayName": "Ghosts", "members": [{"value": "nobody"}]})),
        )
        .await;
    assert_error(&ghost, 400, Some("invalidValue"));
    let ops = s
        .call(Method::POST, "/Groups", Some(json!({"displayName": "Ops"})))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The user's groups show on the User and in X-Identity at sign-in.
    let u = s.get(&format!("/Users/{id}")).await.json();
    assert_eq!(u["groups"][0]["display"], "Engineering");
    let signed = s.a.sign_in("pat@example.com", PASSWORD).await;
    assert_eq!(signed.status, 200, "{}", signed.text());
    let cookie = session_cookie(&signed).unwrap();
    let who = s.a.echo(&cookie).await.json();
    assert_eq!(who["identity"]["sub"], id.as_str());
    assert_eq!(who["identity"]["groups"], json!(["Engineering"]));
    assert_eq!(who["identity"]["roles"], json!(["deployer"]));

    // PATCH members: add, remove by filter, replace; X-Identity follows at once.
    let res = s
        .call(
            Method::PATCH,
            &format!("/Groups/{ops}"),
            Some(patch(json!([{"op": "add", "path": "members", "value": [{"value": id}, {"value": other}]}]))),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["members"].as_array().unwrap().len(), 2);
    assert_eq!(
        s.a.echo(&cookie).await.json()["identity"]["groups"],
        json!(["Engineering", "Ops"])
    );
    let res = s
        .call(
            Method::PATCH,
            &format!("/Groups/{eng}"),
            Some(patch(json!([
                {"op": "remove", "path": format!("members[value eq \"{id}\"]")},
                {"op": "replace", "value": {"displayName": "Eng"}},
            ]))),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["members"], json!([]));
    assert_eq!(res.json()["displayName"], "Eng");
    assert_eq!(
        s.a.echo(&cookie).await.json()["identity"]["groups"],
        json!(["Ops"])
    );
    let filtered = s
        .get(&format!("/Groups?{}", q(r#"displayName eq "eng""#)))
        .await
        .json();
    assert_eq!(filtered["totalResults"], 1);
    assert_eq!(filtered["Resources"][0]["id"], eng.as_str());
    assert_error(
        &s.get(&format!("/Groups?{}", q(r#"members eq "x""#))).await,
        400,
        Some("invalidFilter"),
    );
    let bad_member = s
        .call(
            Method::PATCH,
            &format!("/Groups/{eng}"),
            Some(patch(
                json!([{"op": "remove", "path": "members[display eq \"x\"]"}]),
            )),
        )
        .await;
    assert_error(&bad_member, 400, Some("invalidFilter"));
    let put = s
        .call(
            Method::PUT,
            &format!("/Groups/{ops}"),
            Some(json!({"displayName": "Ops", "members": [{"value": other}]})),
        )
        .await;
    assert_eq!(
        put.json()["members"][0]["value"],
        other.as_str(),
        "{}",
        put.text()
    );
    assert_eq!(
        s.a.echo(&cookie).await.json()["identity"]["groups"],
        json!([])
    );
    assert_eq!(
        s.call(Method::DELETE, &format!("/Groups/{ops}"), None)
            .await
            .status,
        204
    );
    assert_error(&s.get(&format!("/Groups/{ops}")).await, 404, None);
    assert_eq!(s.get("/Groups").await.json()["totalResults"], 1);

    // Deactivation ends the session at once and refuses sign-in.
    let res = s
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(
                json!([{"op": "replace", "path": "active", "value": "False"}]),
            )),
        )
        .await;
    assert_eq!(res.json()["active"], false, "{}", res.text());
    let after = s.a.echo(&cookie).await;
    assert_eq!(
        after.status,
        401,
        "the cached session ended: {}",
        after.text()
    );
    let again = s.a.sign_in("pat@example.com", PASSWORD).await;
    assert_eq!(again.status, 401, "{}", again.text());
    let back = s
        .call(
            Method::PATCH,
            &format!("/Users/{id}"),
            Some(patch(json!([{"op": "replace", "value": {"active": true}}]))),
        )
        .await;
    assert_eq!(back.json()["active"], true);
    assert_eq!(s.a.sign_in("pat@example.com", PASSWORD).await.status, 200);
}

/// Bulk with bulkId references, errors and the cap (any engine).
async fn bulk(s: &Scim) {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "bulk1@example.com"}},
            {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {"displayName": "Bulkers", "members": [{"value": "bulkId:u1"}]}},
            {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {"Operations": [{"op": "replace", "path": "displayName", "value": "B One"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"userName": "bulk1@example.com"}},
            {"method": "DELETE", "path": "/Groups/bulkId:nope"},
        ]
    });
    let res = s.call(Method::POST, "/Bulk", Some(body)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let v = res.json();
    assert_eq!(
        v["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"])
    );
    let ops = v["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "200", "409", "409"]);
    assert_eq!(ops[0]["bulkId"], "u1");
    let user_loc = ops[0]["location"].as_str().unwrap();
    let uid = user_loc.rsplit('/').next().unwrap();
    let gid = ops[1]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(ops[3]["response"]["scimType"], "uniqueness");
    let g = s.get(&format!("/Groups/{gid}")).await.json();
    assert_eq!(g["members"][0]["value"], uid);
    assert_eq!(
        s.get(&format!("/Users/{uid}")).await.json()["displayName"],
        "B One"
    );

    // failOnErrors stops the run.
    let res = s
        .call(
            Method::POST,
            "/Bulk",
            Some(json!({"failOnErrors": 1, "Operations": [
                {"method": "DELETE", "path": "/Users/missing"},
                {"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "never@example.com"}},
            ]})),
        )
        .await;
    assert_eq!(
        res.json()["Operations"].as_array().unwrap().len(),
        1,
        "{}",
        res.text()
    );
    assert_eq!(
        s.names(&q(r#"userName eq "never@example.com""#))
            .await
            .len(),
        0
    );

    // Above maxBulkOperations (5): 413, nothing run.
    let many: Vec<Value> = (0..6)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("m{i}"), "data": {"userName": format!("m{i}@example.com")}}))
        .collect();
    let res = s
        .call(Method::POST, "/Bulk", Some(json!({"Operations": many})))
        .await;
    assert_error(&res, 413, Some("tooMany"));
    assert_eq!(s.names(&q(r#"userName sw "m0""#)).await.len(), 0);
}

#[tokio::test]
async fn attributes_searches_and_versions() {
    let s = start_scim("").await;
    let ada = s.user("ada@example.com", json!({"emails": [{"value": "ada@example.com", "primary": true}], "displayName": "Ada"})).await;
    s.user("bob@example.com", json!({})).await;

    // `attributes` keeps the named ones (and id, schemas); `excludedAttributes` drops them.
    let full = s.get(&format!("/Users/{ada}")).await.json();
    assert_eq!(full["name"]["formatted"], "Ada", "{full}");
    let res = s.get(&format!("/Users/{ada}?attributes=userName,NAME.formatted,emails.value")).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json(),
        json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": ada, "userName": "ada@example.com",
               "name": {"formatted": "Ada"}, "emails": [{"value": "ada@example.com"}]})
    );
    let u = s.get(&format!("/Users/{ada}?excludedAttributes=emails,meta,id")).await.json();
    assert!(u.get("emails").is_none() && u.get("meta").is_none(), "{u}");
    assert_eq!((u["id"].as_str(), u["displayName"].as_str()), (Some(ada.as_str()), Some("Ada")), "id is always returned");
    let list = s.get(&format!("/Users?{}&attributes=userName", q(r#"userName sw "ada""#))).await.json();
    assert_eq!(list["Resources"], json!([{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": ada, "userName": "ada@example.com"}]), "{list}");

    // POST /.search takes the same parameters in a body.
    let search = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName ew \"example.com\"",
                        "sortBy": "userName", "sortOrder": "descending", "startIndex": 1, "count": 1, "attributes": ["userName"]});
    let res = s.call(Method::POST, "/Users/.search", Some(search)).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let page = res.json();
    assert_eq!((page["totalResults"].clone(), page["itemsPerPage"].clone()), (json!(2), json!(1)), "{page}");
    assert_eq!(page["Resources"][0]["userName"], "bob@example.com");
    assert!(page["Resources"][0].get("name").is_none());
    let res = s.call(Method::POST, "/Groups/.search", Some(json!({"filter": "displayName eq \"nobody\""}))).await;
    assert_eq!(res.json()["totalResults"], 0, "{}", res.text());
    assert_error(&s.call(Method::POST, "/.search", Some(json!({}))).await, 400, Some("invalidPath"));

    // Versions: `meta.version` and `ETag`, 304 when unchanged, 412 for a stale write.
    let res = s.get(&format!("/Users/{ada}")).await;
    let etag = res.headers[header::ETAG].to_str().unwrap().to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(res.json()["meta"]["version"], etag.as_str());
    let res = s.call_with(Method::GET, &format!("/Users/{ada}"), None, &[("if-none-match", &etag)]).await;
    assert_eq!((res.status.as_u16(), res.text()), (304, String::new()));
    let patch = |name: &str| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "displayName", "value": name}]});
    let res = s.call_with(Method::PATCH, &format!("/Users/{ada}"), Some(patch("Ada L")), &[("if-match", &etag)]).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let newer = res.headers[header::ETAG].to_str().unwrap().to_owned();
    assert_ne!(newer, etag, "the version follows the change");
    let res = s.call_with(Method::PATCH, &format!("/Users/{ada}"), Some(patch("Stale")), &[("if-match", &etag)]).await;
    assert_error(&res, 412, None);
    assert_eq!(s.get(&format!("/Users/{ada}")).await.json()["displayName"], "Ada L", "the stale write changed nothing");
    let res = s.call_with(Method::GET, &format!("/Users/{ada}"), None, &[("if-none-match", &etag)]).await;
    assert_eq!(res.status, 200, "an old version is not a match");
    let res = s.call_with(Method::DELETE, &format!("/Users/{ada}"), None, &[("if-match", "W/\"0000\"")]).await;
    assert_error(&res, 412, None);
    let ops = json!({"Operations": [{"method": "PATCH", "path": format!("/Users/{ada}"), "version": etag, "data": patch("Bulk")}]});
    let res = s.call(Method::POST, "/Bulk", Some(ops)).await;
    assert_eq!(res.json()["Operations"][0]["status"], "412", "{}", res.text());
    let ops = json!({"Operations": [{"method": "PATCH", "path": format!("/Users/{ada}"), "version": newer, "data": patch("Bulk")}]});
    let res = s.call(Method::POST, "/Bulk", Some(ops)).await;
    assert_eq!(res.json()["Operations"][0]["status"], "200", "{}", res.text());
    assert!(res.json()["Operations"][0]["version"].as_str().is_some_and(|v| v != newer), "{}", res.text());
    let res = s.call_with(Method::DELETE, &format!("/Users/{ada}"), None, &[("if-match", "*")]).await;
    assert_eq!(res.status, 204);
    let cfg = s.call_as(None, Method::GET, "/ServiceProviderConfig", None).await;
    assert_eq!(cfg.json()["etag"]["supported"], true);
}

#[tokio::test]
async fn users_on_sqlite() {
    users_crud_filters_and_pages(&start_scim("").await).await;
}

#[tokio::test]
async fn patch_groups_and_identity_on_sqlite() {
    patch_groups_and_identity(&start_scim("").await).await;
}

#[tokio::test]
async fn bulk_on_sqlite() {
    bulk(&start_scim("").await).await;
}

#[tokio::test]
async fn bulk_can_be_disabled() {
    let off = finish(start_with("scim:\n  enabled: true\n  bulkEnabled: false\n", &[]).await).await;
    let res = off
        .call(Method::POST, "/Bulk", Some(json!({"Operations": []})))
        .await;
    assert_error(&res, 501, None);
    let cfg = off
        .call_as(None, Method::GET, "/ServiceProviderConfig", None)
        .await;
    assert_eq!(cfg.json()["bulk"]["supported"], false);
}

#[tokio::test]
async fn everything_works_on_postgres() {
    let Some(pg) = PgServer::start_or_skip() else {
        return;
    };
    let s = finish(start_pg_with(&pg.url(), SCIM).await).await;
    users_crud_filters_and_pages(&s).await;
    patch_groups_and_identity(&s).await;
    bulk(&s).await;
}

#[tokio::test]
async fn a_provisioned_user_signs_in_with_the_login_form() {
    let s = start_scim("").await;
    s.user(
        "form@example.com",
        json!({"password": PASSWORD, "roles": ["ops"]}),
    )
    .await;
    let res =
        s.a.form(
            "/auth/api/auth/sign-in/email",
            &[("email", "form@example.com"), ("password", PASSWORD)],
            &[("origin", ORIGIN)],
        )
        .await;
    let cookie = session_cookie(&res).expect("signed in");
    assert_eq!(
        s.a.echo(&cookie).await.json()["identity"]["roles"],
        json!(["ops"])
    );
}
