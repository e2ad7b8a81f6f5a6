//! The public-route service authn asks: a path is public when the enabled rule that would proxy
//! it lists it in its `publicRoutes`.

use std::sync::Arc;

use buntime_core::public_routes::PublicRouteOracle;

use crate::rules::Rules;

/// Answers from the live rules, so API changes apply at once.
#[derive(Debug)]
pub struct RulePublic(pub Arc<Rules>);

impl PublicRouteOracle for RulePublic {
    fn is_public(&self, method: &http::Method, path: &str) -> bool {
        // Only the rule that would serve the request decides: a later rule's globs must not open
        // a path an earlier rule proxies.
        let set = self.0.load();
        set.find(path)
            .and_then(|r| r.public.as_ref())
            .is_some_and(|p| p.matches(method.as_str(), path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::compile_static;
    use serde_json::json;

    #[test]
    fn only_the_matching_rules_globs_count_per_method() {
        let fixed = compile_static(Some(&json!([
            {"pattern": "^/api/", "target": "http://a", "publicRoutes": {"GET": ["/api/public/**"]}},
            {"pattern": "^/", "target": "http://b", "publicRoutes": ["/api/**", "/open"]},
            {"pattern": "^/off", "target": "http://c", "enabled": false, "publicRoutes": ["/off"]},
        ])))
        .unwrap();
        let oracle = RulePublic(Arc::new(Rules::new(fixed, None)));
        assert!(oracle.is_public(&http::Method::GET, "/api/public/x/y"));
        assert!(
            !oracle.is_public(&http::Method::POST, "/api/public/x"),
            "GET only"
        );
        assert!(
            !oracle.is_public(&http::Method::GET, "/api/private"),
            "the second rule's globs do not open the first rule's paths"
        );
        assert!(oracle.is_public(&http::Method::DELETE, "/open"));
        assert!(!oracle.is_public(&http::Method::GET, "/closed"));
        assert!(
            !oracle.is_public(&http::Method::GET, "/offline"),
            "a disabled rule never serves, so never opens"
        );
    }
}
