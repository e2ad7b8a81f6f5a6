//! The decision point: a compiled, priority-ordered policy set, its combining algorithm and
//! default effect, and decisions (with an explanation on request).

use serde::{Deserialize, Serialize};

use crate::context::EvaluationContext;
use crate::matcher::{CompiledPolicy, Facts, Outcome};
use crate::policy::Effect;

/// How the effects of applicable policies combine (policies are visited highest priority first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// Any applicable `deny` wins, then any `permit`, else the default effect.
    #[default]
    DenyOverrides,
    /// Any applicable `permit` wins, then any `deny`, else the default effect.
    PermitOverrides,
    /// The first applicable policy decides, else the default effect.
    FirstApplicable,
    /// `permit` only when some policy permits; everything else is denied (no default effect).
    DenyUnlessPermit,
    /// `deny` only when some policy denies; everything else is permitted (no default effect).
    PermitUnlessDeny,
}

impl Algorithm {
    /// The names the manifest accepts.
    pub const NAMES: &'static str = "deny-overrides, permit-overrides, first-applicable, deny-unless-permit, permit-unless-deny";

    /// Reads a manifest name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "deny-overrides" => Self::DenyOverrides,
            "permit-overrides" => Self::PermitOverrides,
            "first-applicable" => Self::FirstApplicable,
            "deny-unless-permit" => Self::DenyUnlessPermit,
            "permit-unless-deny" => Self::PermitUnlessDeny,
            _ => return None,
        })
    }
}

/// A decision's effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionEffect {
    /// Allowed.
    Permit,
    /// Refused.
    Deny,
    /// No policy applied (only in explanations of single policies).
    NotApplicable,
}

impl From<Effect> for DecisionEffect {
    fn from(e: Effect) -> Self {
        match e {
            Effect::Permit => Self::Permit,
            Effect::Deny => Self::Deny,
        }
    }
}

/// The answer for one context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// `permit` or `deny`.
    pub effect: DecisionEffect,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The policy that decided, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_policy: Option<String>,
}

impl Decision {
    /// Whether the request may go on.
    pub fn is_permit(&self) -> bool {
        self.effect == DecisionEffect::Permit
    }
}

/// One policy's part in an explained decision.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// The policy id.
    pub id: String,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its effect.
    pub effect: Effect,
    /// Its priority.
    pub priority: i64,
    /// Whether it applied.
    pub applicable: bool,
    /// Why it applied or not.
    pub reason: String,
}

/// The compiled policies of one moment, highest priority first (ties in insertion order).
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: Vec<CompiledPolicy>,
    algorithm: Algorithm,
    default_effect: Option<Effect>,
}

impl PolicySet {
    /// Orders `policies` by priority for `algorithm`; `default_effect` applies when none decides.
    pub fn new(
        mut policies: Vec<CompiledPolicy>,
        algorithm: Algorithm,
        default_effect: Effect,
    ) -> Self {
        // A stable sort: equal priorities keep the order they were added in.
        policies.sort_by_key(|p| std::cmp::Reverse(p.policy.priority));
        Self {
            policies,
            algorithm,
            default_effect: Some(default_effect),
        }
    }

    /// The number of policies.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The policies, in evaluation order.
    pub fn policies(&self) -> &[CompiledPolicy] {
        &self.policies
    }

    /// Decides `ctx`.
    pub fn evaluate(&self, ctx: &EvaluationContext) -> Decision {
        self.run(ctx, None)
    }

    /// Decides `ctx` and says what every policy did (all are visited, even after the decision).
    pub fn explain(&self, ctx: &EvaluationContext) -> (Decision, Vec<Step>) {
        let mut steps = Vec::with_capacity(self.policies.len());
        let decision = self.run(ctx, Some(&mut steps));
        (decision, steps)
    }

    fn run(&self, ctx: &EvaluationContext, mut steps: Option<&mut Vec<Step>>) -> Decision {
        let mut facts = Facts::new(ctx);
        let mut first_permit: Option<&CompiledPolicy> = None;
        let mut first_deny: Option<&CompiledPolicy> = None;
        let mut decided: Option<&CompiledPolicy> = None;
        for p in &self.policies {
            let outcome = p.evaluate(&mut facts);
            if let Some(steps) = steps.as_deref_mut() {
                steps.push(Step {
                    id: p.policy.id.clone(),
                    name: p.policy.name.clone(),
                    effect: p.policy.effect,
                    priority: p.policy.priority,
                    applicable: matches!(outcome, Outcome::Applies(_)),
                    reason: outcome.describe(),
                });
            }
            let Outcome::Applies(effect) = outcome else {
                continue;
            };
            match effect {
                Effect::Permit => first_permit = first_permit.or(Some(p)),
                Effect::Deny => first_deny = first_deny.or(Some(p)),
            }
            // Stop at the first policy that settles the answer, unless explaining.
            let settled = match self.algorithm {
                Algorithm::FirstApplicable => true,
                Algorithm::DenyOverrides | Algorithm::PermitUnlessDeny => effect == Effect::Deny,
                Algorithm::PermitOverrides | Algorithm::DenyUnlessPermit => {
                    effect == Effect::Permit
                }
            };
            if settled && decided.is_none() {
                decided = Some(p);
                if steps.is_none() {
                    break;
                }
            }
        }
        let by = |p: &CompiledPolicy| Decision {
            effect: p.policy.effect.into(),
            reason: Some(p.policy.description.clone().unwrap_or_else(|| {
                format!("{} by policy `{}`", p.policy.effect.as_str(), p.policy.id)
            })),
            matched_policy: Some(p.policy.id.clone()),
        };
        if let Some(p) = decided {
            return by(p);
        }
        let fallback = match self.algorithm {
            Algorithm::DenyOverrides => first_permit,
            Algorithm::PermitOverrides => first_deny,
            Algorithm::FirstApplicable => None,
            Algorithm::DenyUnlessPermit => {
                return Decision {
                    effect: DecisionEffect::Deny,
                    reason: Some("No policy permits (deny-unless-permit)".into()),
                    matched_policy: None,
                };
            }
            Algorithm::PermitUnlessDeny => {
                return Decision {
                    effect: DecisionEffect::Permit,
                    reason: Some("No policy denies (permit-unless-deny)".into()),
                    matched_policy: None,
                };
            }
        };
        match fallback {
            Some(p) => by(p),
            None => Decision {
                effect: self.default_effect.unwrap_or(Effect::Deny).into(),
                reason: Some("No applicable policy".into()),
                matched_policy: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Action, Resource, Subject};
    use jiff::tz::TimeZone;
    use serde_json::json;

    fn p(id: &str, effect: &str, priority: i64, role: &str) -> CompiledPolicy {
        let doc = json!({"id": id, "effect": effect, "priority": priority, "subjects": [{"role": role}], "resources": [], "actions": []});
        CompiledPolicy::compile(crate::policy::from_json(doc).unwrap(), &TimeZone::UTC).unwrap()
    }

    fn ctx(roles: &[&str]) -> EvaluationContext {
        EvaluationContext {
            subject: Subject {
                id: "u".into(),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                ..Subject::default()
            },
            resource: Resource {
                path: "/x".into(),
                ..Resource::default()
            },
            action: Action {
                method: "GET".into(),
                operation: None,
            },
            ..EvaluationContext::default()
        }
    }

    fn set(algorithm: Algorithm, default: Effect) -> PolicySet {
        // Low priority permit for `user`, high priority deny for `banned`, mid permit for `admin`.
        PolicySet::new(
            vec![
                p("allow-users", "permit", 1, "user"),
                p("deny-banned", "deny", 10, "banned"),
                p("allow-admins", "permit", 5, "admin"),
            ],
            algorithm,
            default,
        )
    }

    fn decide(s: &PolicySet, roles: &[&str]) -> (DecisionEffect, Option<String>) {
        let d = s.evaluate(&ctx(roles));
        (d.effect, d.matched_policy)
    }

    use DecisionEffect::{Deny, Permit};

    #[test]
    fn deny_overrides() {
        let s = set(Algorithm::DenyOverrides, Effect::Deny);
        assert_eq!(
            decide(&s, &["user", "banned"]),
            (Deny, Some("deny-banned".into()))
        );
        assert_eq!(
            decide(&s, &["user", "admin"]),
            (Permit, Some("allow-admins".into())),
            "the highest-priority permit is reported"
        );
        assert_eq!(decide(&s, &["guest"]), (Deny, None));
        assert_eq!(
            decide(&set(Algorithm::DenyOverrides, Effect::Permit), &["guest"]),
            (Permit, None),
            "default effect"
        );
    }

    #[test]
    fn permit_overrides() {
        let s = set(Algorithm::PermitOverrides, Effect::Deny);
        assert_eq!(
            decide(&s, &["user", "banned"]),
            (Permit, Some("allow-users".into()))
        );
        assert_eq!(decide(&s, &["banned"]), (Deny, Some("deny-banned".into())));
        assert_eq!(
            decide(&set(Algorithm::PermitOverrides, Effect::Permit), &["guest"]),
            (Permit, None)
        );
    }

    #[test]
    fn first_applicable_follows_priority_and_skips_not_applicable() {
        let s = set(Algorithm::FirstApplicable, Effect::Deny);
        assert_eq!(
            decide(&s, &["user", "banned"]),
            (Deny, Some("deny-banned".into()))
        );
        assert_eq!(
            decide(&s, &["user", "admin"]),
            (Permit, Some("allow-admins".into()))
        );
        assert_eq!(
            decide(&s, &["user"]),
            (Permit, Some("allow-users".into())),
            "policies that do not apply are skipped"
        );
        assert_eq!(decide(&s, &[]), (Deny, None));
    }

    #[test]
    fn deny_unless_permit_and_permit_unless_deny_ignore_the_default() {
        let s = set(Algorithm::DenyUnlessPermit, Effect::Permit);
        assert_eq!(decide(&s, &["guest"]), (Deny, None));
        assert_eq!(
            decide(&s, &["banned", "user"]),
            (Permit, Some("allow-users".into()))
        );
        let s = set(Algorithm::PermitUnlessDeny, Effect::Deny);
        assert_eq!(decide(&s, &["guest"]), (Permit, None));
        assert_eq!(
            decide(&s, &["admin", "banned"]),
            (Deny, Some("deny-banned".into()))
        );
    }

    #[test]
    fn equal_priorities_keep_insertion_order_and_explain_visits_all() {
        let s = PolicySet::new(
            vec![p("first", "deny", 0, "*"), p("second", "permit", 0, "*")],
            Algorithm::FirstApplicable,
            Effect::Permit,
        );
        assert_eq!(decide(&s, &["x"]), (Deny, Some("first".into())));
        let (d, steps) = s.explain(&ctx(&["x"]));
        assert_eq!(d.matched_policy.as_deref(), Some("first"));
        assert_eq!(steps.len(), 2);
        assert!(steps.iter().all(|s| s.applicable));
        let (_, steps) = set(Algorithm::DenyOverrides, Effect::Deny).explain(&ctx(&["user"]));
        assert_eq!(
            steps
                .iter()
                .map(|s| (s.id.as_str(), s.applicable))
                .collect::<Vec<_>>(),
            vec![
                ("deny-banned", false),
                ("allow-admins", false),
                ("allow-users", true)
            ]
        );
        assert_eq!(steps[0].reason, "no subject matcher matches");
    }
}
