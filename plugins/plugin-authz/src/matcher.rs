//! Policies compiled once per change (patterns, regexes, CIDR ranges, time zones), and matching one
//! compiled policy against a context without allocating on the common paths.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use regex::Regex;
use serde_json::Value;

use crate::context::{ANONYMOUS, EvaluationContext};
use crate::policy::{
    ActionMatch, ClaimMatch, ClaimOperator, Condition, Effect, Policy, PolicyError, ResourceMatch,
    SubjectMatch,
};

/// The largest compiled regex accepted from a policy (claim `regex`), so one policy cannot make
/// every request slow or exhaust memory.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// A wildcard pattern (`*` = anything) compiled to its cheapest form.
#[derive(Debug, Clone)]
enum Pattern {
    Any,
    Exact(String),
    Prefix(String),
    Regex(Regex),
}

impl Pattern {
    fn compile(raw: &str, field: &str) -> Result<Self, PolicyError> {
        if raw.chars().all(|c| c == '*') && !raw.is_empty() {
            return Ok(Self::Any);
        }
        let stars = raw.matches('*').count();
        if stars == 0 {
            return Ok(Self::Exact(raw.to_owned()));
        }
        let body = raw.trim_end_matches('*');
        if !body.contains('*') {
            return Ok(Self::Prefix(body.to_owned()));
        }
        let re = format!(
            "^{}$",
            raw.split('*')
                .map(regex::escape)
                .collect::<Vec<_>>()
                .join(".*")
        );
        Regex::new(&re)
            .map(Self::Regex)
            .map_err(|e| PolicyError::new(field, format!("cannot be compiled: {e}")))
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(e) => e == s,
            Self::Prefix(p) => s.starts_with(p.as_str()),
            Self::Regex(r) => r.is_match(s),
        }
    }
}

/// A path pattern; with a `{owner}` segment it captures the resource's owner.
#[derive(Debug, Clone)]
enum PathPattern {
    Plain(Pattern),
    Owner(Regex),
}

impl PathPattern {
    fn compile(raw: &str, field: &str) -> Result<Self, PolicyError> {
        if !raw.contains("{owner}") {
            return Pattern::compile(raw, field).map(Self::Plain);
        }
        if raw.matches("{owner}").count() > 1 {
            return Err(PolicyError::new(field, "may hold `{owner}` only once"));
        }
        let re = raw
            .split("{owner}")
            .map(|part| {
                part.split('*')
                    .map(regex::escape)
                    .collect::<Vec<_>>()
                    .join(".*")
            })
            .collect::<Vec<_>>()
            .join("(?P<owner>[^/]+)");
        Regex::new(&format!("^{re}$"))
            .map(Self::Owner)
            .map_err(|e| PolicyError::new(field, format!("cannot be compiled: {e}")))
    }

    /// `None` when the path does not match; `Some(owner)` otherwise.
    fn matches<'p>(&self, path: &'p str) -> Option<Option<&'p str>> {
        match self {
            Self::Plain(p) => p.matches(path).then_some(None),
            Self::Owner(r) => r
                .captures(path)
                .map(|c| c.name("owner").map(|m| m.as_str())),
        }
    }
}

#[derive(Debug, Clone)]
struct CompiledSubject {
    id: Option<String>,
    role: Option<Pattern>,
    group: Option<String>,
    claim: Option<CompiledClaim>,
}

#[derive(Debug, Clone)]
struct CompiledClaim {
    name: String,
    value: Value,
    operator: ClaimOperator,
    number: f64,
    regex: Option<Regex>,
}

#[derive(Debug, Clone)]
struct CompiledResource {
    app: Option<Pattern>,
    path: Option<PathPattern>,
    kind: Option<String>,
    owner_self: bool,
}

#[derive(Debug, Clone)]
struct CompiledAction {
    /// Upper-case; `None` = any method.
    method: Option<String>,
    operation: Option<String>,
}

#[derive(Debug, Clone)]
enum CompiledCondition {
    Time {
        after: Option<u16>,
        before: Option<u16>,
        days: Option<u8>,
        zone: TimeZone,
    },
    Ip {
        allow: Vec<IpNet>,
        block: Vec<IpNet>,
    },
}

/// A policy ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    /// The document it was compiled from.
    pub policy: Arc<Policy>,
    subjects: Vec<CompiledSubject>,
    resources: Vec<CompiledResource>,
    actions: Vec<CompiledAction>,
    conditions: Vec<CompiledCondition>,
}

/// Why a policy did or did not apply to a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It applies with its effect.
    Applies(Effect),
    /// No subject matcher matched.
    SubjectMismatch,
    /// No resource matcher matched.
    ResourceMismatch,
    /// No action matcher matched.
    ActionMismatch,
    /// Condition `n` (0-based) does not hold.
    ConditionFailed(usize),
}

impl Outcome {
    /// A sentence for `explain`.
    pub fn describe(self) -> String {
        match self {
            Self::Applies(e) => format!("applies: {}", e.as_str()),
            Self::SubjectMismatch => "no subject matcher matches".to_owned(),
            Self::ResourceMismatch => "no resource matcher matches".to_owned(),
            Self::ActionMismatch => "no action matcher matches".to_owned(),
            Self::ConditionFailed(i) => format!("condition {i} does not hold"),
        }
    }
}

/// What one evaluation needs beyond the context, computed at most once per evaluation.
#[derive(Debug)]
pub struct Facts<'c> {
    ctx: &'c EvaluationContext,
    now: Option<Timestamp>,
    ip: Option<Option<IpAddr>>,
}

impl<'c> Facts<'c> {
    /// Facts about `ctx`; its `environment.time` (RFC 3339), else the current time, is the instant.
    pub fn new(ctx: &'c EvaluationContext) -> Self {
        Self {
            ctx,
            now: None,
            ip: None,
        }
    }

    fn now(&mut self) -> Timestamp {
        *self.now.get_or_insert_with(|| {
            self.ctx
                .environment
                .time
                .as_deref()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(Timestamp::now)
        })
    }

    fn ip(&mut self) -> Option<IpAddr> {
        *self.ip.get_or_insert_with(|| {
            self.ctx
                .environment
                .ip
                .parse::<IpAddr>()
                .ok()
                .map(canonical_ip)
        })
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack listener reports) as IPv4.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

impl CompiledPolicy {
    /// Validates and compiles `policy`; `zone` is the time zone of time conditions without their own.
    ///
    /// # Errors
    /// The first field that cannot be used.
    pub fn compile(policy: Policy, zone: &TimeZone) -> Result<Self, PolicyError> {
        check_id(&policy.id)?;
        let subjects = policy
            .subjects
            .iter()
            .enumerate()
            .map(|(i, s)| compile_subject(s, &format!("subjects[{i}]")))
            .collect::<Result<_, _>>()?;
        let resources = policy
            .resources
            .iter()
            .enumerate()
            .map(|(i, r)| compile_resource(r, &format!("resources[{i}]")))
            .collect::<Result<_, _>>()?;
        let actions = policy
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| compile_action(a, &format!("actions[{i}]")))
            .collect::<Result<_, _>>()?;
        let conditions = policy
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| compile_condition(c, &format!("conditions[{i}]"), zone))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            policy: Arc::new(policy),
            subjects,
            resources,
            actions,
            conditions,
        })
    }

    /// Whether, and why (not), this policy applies to the context behind `facts`.
    pub fn evaluate(&self, facts: &mut Facts<'_>) -> Outcome {
        let ctx = facts.ctx;
        if !self.subjects.is_empty() && !self.subjects.iter().any(|s| s.matches(ctx)) {
            return Outcome::SubjectMismatch;
        }
        if !self.resources.is_empty() && !self.resources.iter().any(|r| r.matches(ctx)) {
            return Outcome::ResourceMismatch;
        }
        if !self.actions.is_empty() && !self.actions.iter().any(|a| a.matches(ctx)) {
            return Outcome::ActionMismatch;
        }
        for (i, c) in self.conditions.iter().enumerate() {
            if !c.holds(facts) {
                return Outcome::ConditionFailed(i);
            }
        }
        Outcome::Applies(self.policy.effect)
    }
}

fn check_id(id: &str) -> Result<(), PolicyError> {
    if id.trim().is_empty() {
        return Err(PolicyError::new("id", "must not be empty"));
    }
    if id.len() > 200 {
        return Err(PolicyError::new("id", "must be at most 200 bytes"));
    }
    if id.chars().any(|c| c.is_control() || c == '/') {
        return Err(PolicyError::new(
            "id",
            "must not contain `/` or control characters (it is used in URLs)",
        ));
    }
    Ok(())
}

fn non_empty<'a>(v: Option<&'a String>, field: &str) -> Result<Option<&'a String>, PolicyError> {
    match v {
        Some(s) if s.is_empty() => Err(PolicyError::new(
            field,
            "must not be empty (omit it to match anything)",
        )),
        other => Ok(other),
    }
}

fn compile_subject(s: &SubjectMatch, at: &str) -> Result<CompiledSubject, PolicyError> {
    let id = non_empty(s.id.as_ref(), &format!("{at}.id"))?.cloned();
    let role = non_empty(s.role.as_ref(), &format!("{at}.role"))?
        .map(|r| Pattern::compile(r, &format!("{at}.role")))
        .transpose()?;
    let group = non_empty(s.group.as_ref(), &format!("{at}.group"))?.cloned();
    let claim = s
        .claim
        .as_ref()
        .map(|c| compile_claim(c, &format!("{at}.claim")))
        .transpose()?;
    Ok(CompiledSubject {
        id,
        role,
        group,
        claim,
    })
}

fn compile_claim(c: &ClaimMatch, at: &str) -> Result<CompiledClaim, PolicyError> {
    if c.name.is_empty() {
        return Err(PolicyError::new(format!("{at}.name"), "must not be empty"));
    }
    let mut number = 0.0;
    let mut regex = None;
    match c.operator {
        ClaimOperator::Gt | ClaimOperator::Lt => {
            number = c.value.as_f64().ok_or_else(|| {
                PolicyError::new(format!("{at}.value"), "must be a number for `gt` and `lt`")
            })?;
        }
        ClaimOperator::Regex => {
            let pattern = c.value.as_str().ok_or_else(|| {
                PolicyError::new(
                    format!("{at}.value"),
                    "must be a string (a regex) for `regex`",
                )
            })?;
            let re = regex::RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| {
                    PolicyError::new(format!("{at}.value"), format!("is not a valid regex: {e}"))
                })?;
            regex = Some(re);
        }
        ClaimOperator::Eq | ClaimOperator::Neq | ClaimOperator::Contains => {}
    }
    Ok(CompiledClaim {
        name: c.name.clone(),
        value: c.value.clone(),
        operator: c.operator,
        number,
        regex,
    })
}

fn compile_resource(r: &ResourceMatch, at: &str) -> Result<CompiledResource, PolicyError> {
    let app = non_empty(r.app.as_ref(), &format!("{at}.app"))?
        .map(|a| Pattern::compile(a, &format!("{at}.app")))
        .transpose()?;
    let path = non_empty(r.path.as_ref(), &format!("{at}.path"))?
        .map(|p| PathPattern::compile(p, &format!("{at}.path")))
        .transpose()?;
    let kind = non_empty(r.kind.as_ref(), &format!("{at}.type"))?.cloned();
    let owner_self = match r.owner.as_deref() {
        None => false,
        Some("self") => true,
        Some(other) => {
            return Err(PolicyError::new(
                format!("{at}.owner"),
                format!("must be `self`, found `{other}`"),
            ));
        }
    };
    Ok(CompiledResource {
        app,
        path,
        kind,
        owner_self,
    })
}

fn compile_action(a: &ActionMatch, at: &str) -> Result<CompiledAction, PolicyError> {
    let method = match non_empty(a.method.as_ref(), &format!("{at}.method"))? {
        None => None,
        Some(m) if m == "*" => None,
        Some(m) if m.bytes().all(|b| b.is_ascii_alphabetic()) => Some(m.to_ascii_uppercase()),
        Some(m) => {
            return Err(PolicyError::new(
                format!("{at}.method"),
                format!("must be an HTTP method or `*`, found `{m}`"),
            ));
        }
    };
    let operation = non_empty(a.operation.as_ref(), &format!("{at}.operation"))?.cloned();
    Ok(CompiledAction { method, operation })
}

fn compile_condition(
    c: &Condition,
    at: &str,
    zone: &TimeZone,
) -> Result<CompiledCondition, PolicyError> {
    match c {
        Condition::Time {
            after,
            before,
            day_of_week,
            time_zone,
        } => {
            let after = after
                .as_deref()
                .map(|t| minutes(t, &format!("{at}.after")))
                .transpose()?;
            let before = before
                .as_deref()
                .map(|t| minutes(t, &format!("{at}.before")))
                .transpose()?;
            let days = match day_of_week {
                None => None,
                Some(days) => {
                    let mut mask = 0u8;
                    for (i, d) in days.iter().enumerate() {
                        if *d > 6 {
                            return Err(PolicyError::new(
                                format!("{at}.dayOfWeek[{i}]"),
                                format!("must be 0 (Sunday) to 6 (Saturday), found {d}"),
                            ));
                        }
                        mask |= 1 << d;
                    }
                    Some(mask)
                }
            };
            let zone = match time_zone {
                None => zone.clone(),
                Some(name) => time_zone_named(name)
                    .map_err(|m| PolicyError::new(format!("{at}.timeZone"), m))?,
            };
            Ok(CompiledCondition::Time {
                after,
                before,
                days,
                zone,
            })
        }
        Condition::Ip {
            allowlist,
            blocklist,
            cidr,
        } => {
            let nets = |list: &Option<Vec<String>>, key: &str| -> Result<Vec<IpNet>, PolicyError> {
                list.iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, s)| {
                        net(s).map_err(|m| PolicyError::new(format!("{at}.{key}[{i}]"), m))
                    })
                    .collect()
            };
            let mut allow = nets(allowlist, "allowlist")?;
            allow.extend(nets(cidr, "cidr")?);
            Ok(CompiledCondition::Ip {
                allow,
                block: nets(blocklist, "blocklist")?,
            })
        }
    }
}

/// Looks up an IANA time zone (`Europe/Berlin`, `UTC`).
///
/// # Errors
/// A message naming the zone.
pub fn time_zone_named(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("`{name}` is not a known IANA time zone (such as `UTC` or `Europe/Berlin`)")
    })
}

fn minutes(t: &str, field: &str) -> Result<u16, PolicyError> {
    let bad = || {
        PolicyError::new(
            field,
            format!("must be a time `HH:mm` from 00:00 to 23:59, found `{t}`"),
        )
    };
    let (h, m) = t.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    s.parse::<IpAddr>()
        .map(|ip| IpNet::from(canonical_ip(ip)))
        .map_err(|_| format!("`{s}` is not an IP address or CIDR range (such as `10.0.0.0/8`)"))
}

impl CompiledSubject {
    fn matches(&self, ctx: &EvaluationContext) -> bool {
        let s = &ctx.subject;
        self.id.as_ref().is_none_or(|id| *id == s.id)
            && self
                .role
                .as_ref()
                .is_none_or(|p| s.roles.iter().any(|r| p.matches(r)))
            && self
                .group
                .as_ref()
                .is_none_or(|g| s.groups.iter().any(|x| x == g))
            && self
                .claim
                .as_ref()
                .is_none_or(|c| c.matches(s.claims.get(&c.name)))
    }
}

impl CompiledClaim {
    fn matches(&self, actual: Option<&Value>) -> bool {
        match self.operator {
            ClaimOperator::Eq => actual.is_some_and(|a| json_eq(a, &self.value)),
            ClaimOperator::Neq => actual.is_none_or(|a| !json_eq(a, &self.value)),
            ClaimOperator::Gt => actual
                .and_then(Value::as_f64)
                .is_some_and(|a| a > self.number),
            ClaimOperator::Lt => actual
                .and_then(Value::as_f64)
                .is_some_and(|a| a < self.number),
            ClaimOperator::Contains => match (actual, &self.value) {
                (Some(Value::String(a)), Value::String(v)) => a.contains(v.as_str()),
                (Some(Value::Array(items)), v) => items.iter().any(|i| json_eq(i, v)),
                _ => false,
            },
            ClaimOperator::Regex => match (actual, &self.regex) {
                (Some(Value::String(a)), Some(re)) => re.is_match(a),
                _ => false,
            },
        }
    }
}

/// JSON equality where `3` and `3.0` are the same number (as in JS, which the original ran on).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

impl CompiledResource {
    fn matches(&self, ctx: &EvaluationContext) -> bool {
        let r = &ctx.resource;
        if !self.app.as_ref().is_none_or(|p| p.matches(&r.app))
            || self
                .kind
                .as_ref()
                .is_some_and(|k| r.kind.as_ref() != Some(k))
        {
            return false;
        }
        let captured = match &self.path {
            None => None,
            Some(p) => match p.matches(&r.path) {
                None => return false,
                Some(owner) => owner,
            },
        };
        if self.owner_self {
            // The owner named by the path wins over one the caller put in the context.
            let owner = captured.or(r.owner.as_deref());
            return ctx.subject.id != ANONYMOUS && owner == Some(ctx.subject.id.as_str());
        }
        true
    }
}

impl CompiledAction {
    fn matches(&self, ctx: &EvaluationContext) -> bool {
        let a = &ctx.action;
        self.method
            .as_ref()
            .is_none_or(|m| m.eq_ignore_ascii_case(&a.method))
            && self
                .operation
                .as_ref()
                .is_none_or(|o| a.operation.as_ref() == Some(o))
    }
}

impl CompiledCondition {
    fn holds(&self, facts: &mut Facts<'_>) -> bool {
        match self {
            Self::Time {
                after,
                before,
                days,
                zone,
            } => {
                let local = facts.now().to_zoned(zone.clone());
                let now = u16::from(local.hour().unsigned_abs()) * 60
                    + u16::from(local.minute().unsigned_abs());
                let in_window = match (after, before) {
                    (Some(a), Some(b)) if a > b => now >= *a || now < *b,
                    (a, b) => a.is_none_or(|a| now >= a) && b.is_none_or(|b| now < b),
                };
                let day = local.weekday().to_sunday_zero_offset().unsigned_abs();
                in_window && days.is_none_or(|mask| mask & (1 << day) != 0)
            }
            Self::Ip { allow, block } => {
                let Some(ip) = facts.ip() else {
                    // An unknown address can be in no list: it passes only where nothing is required.
                    return allow.is_empty() && block.is_empty();
                };
                (allow.is_empty() || allow.iter().any(|n| n.contains(&ip)))
                    && !block.iter().any(|n| n.contains(&ip))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Action, Environment, Resource, Subject};
    use serde_json::json;

    fn policy(v: Value) -> CompiledPolicy {
        let mut doc =
            json!({"id": "p", "effect": "permit", "subjects": [], "resources": [], "actions": []});
        doc.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        CompiledPolicy::compile(crate::policy::from_json(doc).unwrap(), &TimeZone::UTC).unwrap()
    }

    fn compile_err(v: Value) -> PolicyError {
        let mut doc =
            json!({"id": "p", "effect": "permit", "subjects": [], "resources": [], "actions": []});
        doc.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        CompiledPolicy::compile(crate::policy::from_json(doc).unwrap(), &TimeZone::UTC).unwrap_err()
    }

    fn ctx(id: &str, roles: &[&str], path: &str, method: &str) -> EvaluationContext {
        EvaluationContext {
            subject: Subject {
                id: id.into(),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                ..Subject::default()
            },
            resource: Resource {
                app: "notes".into(),
                path: path.into(),
                ..Resource::default()
            },
            action: Action {
                method: method.into(),
                operation: None,
            },
            environment: Environment::default(),
        }
    }

    fn applies(p: &CompiledPolicy, c: &EvaluationContext) -> bool {
        p.evaluate(&mut Facts::new(c)) == Outcome::Applies(Effect::Permit)
    }

    #[test]
    fn subjects_roles_with_wildcards_groups_and_claims() {
        let p = policy(json!({"subjects": [{"role": "team-*"}]}));
        assert!(applies(&p, &ctx("u", &["team-a"], "/", "GET")));
        assert!(
            !applies(&p, &ctx("u", &["xteam-a"], "/", "GET")),
            "anchored"
        );
        let p = policy(json!({"subjects": [{"role": "admin", "group": "ops"}]}));
        let mut c = ctx("u", &["admin"], "/", "GET");
        assert!(!applies(&p, &c), "fields of one matcher are AND-ed");
        c.subject.groups = vec!["ops".into()];
        assert!(applies(&p, &c));
        let p = policy(
            json!({"subjects": [{"claim": {"name": "tier", "value": 2, "operator": "gt"}}, {"id": "root"}]}),
        );
        let mut c = ctx("u", &[], "/", "GET");
        c.subject.claims.insert("tier".into(), json!(3));
        assert!(applies(&p, &c));
        c.subject.claims.insert("tier".into(), json!(1));
        assert!(!applies(&p, &c));
        assert!(
            applies(&p, &ctx("root", &[], "/", "GET")),
            "matchers in a list are OR-ed"
        );
        let p = policy(
            json!({"subjects": [{"claim": {"name": "email", "value": "@example\\.com$", "operator": "regex"}}]}),
        );
        c.subject
            .claims
            .insert("email".into(), json!("a@example.com"));
        assert!(applies(&p, &c));
        let p = policy(
            json!({"subjects": [{"claim": {"name": "tags", "value": "beta", "operator": "contains"}}]}),
        );
        c.subject
            .claims
            .insert("tags".into(), json!(["alpha", "beta"]));
        assert!(applies(&p, &c));
    }

    #[test]
    fn resources_paths_apps_and_owner_self() {
        let p = policy(json!({"resources": [{"path": "/api/*", "app": "no*"}]}));
        assert!(
            applies(&p, &ctx("u", &[], "/api/a/b", "GET")),
            "`*` spans segments, as in the original"
        );
        assert!(!applies(&p, &ctx("u", &[], "/apix", "GET")));
        let p = policy(json!({"resources": [{"path": "/a.b"}]}));
        assert!(
            !applies(&p, &ctx("u", &[], "/axb", "GET")),
            "regex characters are literal"
        );
        let p = policy(json!({"resources": [{"path": "/users/{owner}/**", "owner": "self"}]}));
        assert!(applies(&p, &ctx("alice", &[], "/users/alice/notes", "GET")));
        assert!(!applies(&p, &ctx("bob", &[], "/users/alice/notes", "GET")));
        assert!(
            !applies(&p, &ctx(ANONYMOUS, &[], "/users/anonymous/x", "GET")),
            "anonymous owns nothing"
        );
        let p = policy(json!({"resources": [{"type": "document", "owner": "self"}]}));
        let mut c = ctx("alice", &[], "/", "GET");
        c.resource.kind = Some("document".into());
        assert!(!applies(&p, &c), "no owner known");
        c.resource.owner = Some("alice".into());
        assert!(applies(&p, &c));
    }

    #[test]
    fn actions_match_methods_case_insensitively() {
        let p = policy(json!({"actions": [{"method": "get"}]}));
        assert!(applies(&p, &ctx("u", &[], "/", "GET")));
        assert!(!applies(&p, &ctx("u", &[], "/", "POST")));
        assert!(applies(
            &policy(json!({"actions": [{"method": "*"}]})),
            &ctx("u", &[], "/", "DELETE")
        ));
    }

    #[test]
    fn ip_conditions_with_cidr_ranges() {
        let p = policy(
            json!({"conditions": [{"type": "ip", "allowlist": ["10.0.0.0/8", "192.0.2.7"], "blocklist": ["10.9.0.0/16"]}]}),
        );
        let mut c = ctx("u", &[], "/", "GET");
        for (ip, want) in [
            ("10.1.2.3", true),
            ("10.9.1.1", false),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("::ffff:10.0.0.1", true),
            ("unknown", false),
        ] {
            c.environment.ip = ip.into();
            assert_eq!(applies(&p, &c), want, "{ip}");
        }
        let p = policy(json!({"conditions": [{"type": "ip", "blocklist": ["2001:db8::/32"]}]}));
        c.environment.ip = "2001:db8::5".into();
        assert!(!applies(&p, &c));
        c.environment.ip = "2001:db9::5".into();
        assert!(applies(&p, &c));
    }

    #[test]
    fn time_windows_in_a_time_zone() {
        // 2026-01-05 is a Monday; 08:30 UTC is 09:30 in Berlin (CET, UTC+1) and 03:30 in New York.
        let p = policy(
            json!({"conditions": [{"type": "time", "after": "09:00", "before": "17:00", "dayOfWeek": [1, 2, 3, 4, 5], "timeZone": "Europe/Berlin"}]}),
        );
        let mut c = ctx("u", &[], "/", "GET");
        c.environment.time = Some("2026-01-05T08:30:00Z".into());
        assert!(applies(&p, &c));
        c.environment.time = Some("2026-01-05T07:30:00Z".into());
        assert!(!applies(&p, &c), "08:30 in Berlin");
        c.environment.time = Some("2026-01-04T10:00:00Z".into());
        assert!(!applies(&p, &c), "a Sunday");
        let ny = policy(
            json!({"conditions": [{"type": "time", "after": "09:00", "before": "17:00", "timeZone": "America/New_York"}]}),
        );
        c.environment.time = Some("2026-01-05T08:30:00Z".into());
        assert!(!applies(&ny, &c), "03:30 in New York");
        let night =
            policy(json!({"conditions": [{"type": "time", "after": "22:00", "before": "06:00"}]}));
        c.environment.time = Some("2026-01-05T23:00:00Z".into());
        assert!(applies(&night, &c), "windows wrap past midnight");
        c.environment.time = Some("2026-01-05T12:00:00Z".into());
        assert!(!applies(&night, &c));
    }

    #[test]
    fn bad_contents_name_the_field() {
        assert_eq!(
            compile_err(json!({"conditions": [{"type": "ip", "allowlist": ["10.0.0.0/33"]}]}))
                .field,
            "conditions[0].allowlist[0]"
        );
        assert_eq!(
            compile_err(json!({"conditions": [{"type": "time", "after": "9am"}]})).field,
            "conditions[0].after"
        );
        assert_eq!(
            compile_err(json!({"conditions": [{"type": "time", "timeZone": "Mars/Olympus"}]}))
                .field,
            "conditions[0].timeZone"
        );
        assert_eq!(
            compile_err(json!({"conditions": [{"type": "time", "dayOfWeek": [7]}]})).field,
            "conditions[0].dayOfWeek[0]"
        );
        assert_eq!(
            compile_err(json!({"resources": [{"owner": "someone"}]})).field,
            "resources[0].owner"
        );
        assert_eq!(
            compile_err(
                json!({"subjects": [{"claim": {"name": "x", "value": "(", "operator": "regex"}}]})
            )
            .field,
            "subjects[0].claim.value"
        );
        assert_eq!(
            compile_err(
                json!({"subjects": [{"claim": {"name": "x", "value": "a", "operator": "gt"}}]})
            )
            .field,
            "subjects[0].claim.value"
        );
        assert_eq!(
            compile_err(json!({"actions": [{"method": "GET /"}]})).field,
            "actions[0].method"
        );
        assert_eq!(compile_err(json!({"id": "a/b"})).field, "id");
    }
}
