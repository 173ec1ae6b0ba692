//! Seeded fault decisions. Request `n` to an endpoint meets fault rule `r` when a number drawn
//! from (seed, endpoint, n) falls under the rule's probability, in a fixed draw order; so
//! which requests fail depends only on the seed and the arrival order, and under the virtual
//! clock a run's faults repeat exactly.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use scenario::rng::{SimRng, stable_hash, stream};
use scenario::{Fault, FaultTarget};

/// What a request is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target<'a> {
    Chat { model: &'a str },
    Tool { name: &'a str },
}

impl Target<'_> {
    fn matches(&self, rule: &Fault) -> bool {
        let endpoint = match (&rule.endpoint, self) {
            (FaultTarget::All, _) => true,
            (FaultTarget::Chat, Target::Chat { .. }) => true,
            (FaultTarget::Tools, Target::Tool { .. }) => true,
            (FaultTarget::Tool(want), Target::Tool { name }) => want == name,
            _ => false,
        };
        let model = match (&rule.model, self) {
            (None, _) => true,
            (Some(want), Target::Chat { model }) => want == model,
            (Some(_), Target::Tool { .. }) => false,
        };
        endpoint && model
    }
}

/// The fault rules and a request counter per endpoint.
#[derive(Debug)]
pub(crate) struct FaultPlan {
    seed: u64,
    rules: Vec<Fault>,
    chat: AtomicU64,
    tools: BTreeMap<String, AtomicU64>,
}

impl FaultPlan {
    pub(crate) fn new(
        seed: u64,
        rules: Vec<Fault>,
        tools: impl IntoIterator<Item = String>,
    ) -> Self {
        Self {
            seed,
            rules,
            chat: AtomicU64::new(0),
            tools: tools.into_iter().map(|t| (t, AtomicU64::new(0))).collect(),
        }
    }

    /// The fault, if any, for the next request to `target`, `elapsed` after the mock started.
    pub(crate) fn decide(&self, target: Target<'_>, elapsed: Duration) -> Option<&Fault> {
        self.next(target, elapsed).1
    }

    /// The index of the next request to `target` (0, 1, 2, … per endpoint) and its fault.
    pub(crate) fn next(&self, target: Target<'_>, elapsed: Duration) -> (u64, Option<&Fault>) {
        let (counter, endpoint_id) = match target {
            Target::Chat { .. } => (&self.chat, 0),
            Target::Tool { name } => match self.tools.get(name) {
                Some(counter) => (counter, stable_hash(name.as_bytes())),
                None => return (0, None),
            },
        };
        let n = counter.fetch_add(1, Ordering::Relaxed);
        if self.rules.is_empty() {
            return (n, None);
        }
        let mut rng = SimRng::derive(self.seed, &[stream::MOCK_FAULT, endpoint_id, n]);
        let mut hit = None;
        for rule in &self.rules {
            // Draw for every rule so one rule's window does not shift another's decisions.
            let roll = rng.next_f64();
            let active = elapsed >= rule.from.0 && rule.until.is_none_or(|u| elapsed < u.0);
            if hit.is_none() && active && target.matches(rule) && roll < rule.probability.0 {
                hit = Some(rule);
            }
        }
        (n, hit)
    }
}

#[cfg(test)]
mod tests {
    use scenario::{Dur, FaultKind, Probability};

    use super::*;

    fn rule(endpoint: FaultTarget, kind: FaultKind, p: f64) -> Fault {
        Fault {
            endpoint,
            kind,
            probability: Probability(p),
            from: Dur::secs(0),
            until: None,
            model: None,
            retry_after: None,
            delay: None,
        }
    }

    #[test]
    fn share_of_faults_follows_the_probability_and_repeats() {
        let plan = || {
            FaultPlan::new(
                9,
                vec![rule(FaultTarget::Chat, FaultKind::ServerError, 0.1)],
                [],
            )
        };
        let a = plan();
        let b = plan();
        let chat = Target::Chat { model: "m" };
        let hits_a: Vec<bool> = (0..5000)
            .map(|_| a.decide(chat, Duration::ZERO).is_some())
            .collect();
        let hits_b: Vec<bool> = (0..5000)
            .map(|_| b.decide(chat, Duration::ZERO).is_some())
            .collect();
        assert_eq!(hits_a, hits_b);
        let share = hits_a.iter().filter(|h| **h).count() as f64 / 5000.0;
        assert!((share - 0.1).abs() < 0.015, "{share}");
    }

    #[test]
    fn windows_endpoints_and_models_are_respected() {
        let mut r = rule(FaultTarget::Tool("search".into()), FaultKind::Stall, 1.0);
        r.from = Dur::secs(10);
        r.until = Some(Dur::secs(20));
        let mut m = rule(FaultTarget::Chat, FaultKind::Unavailable, 1.0);
        m.model = Some("gpt-a".into());
        let plan = FaultPlan::new(1, vec![r, m], ["search".to_owned(), "other".to_owned()]);
        let search = Target::Tool { name: "search" };
        assert!(plan.decide(search, Duration::from_secs(5)).is_none());
        assert!(plan.decide(search, Duration::from_secs(15)).is_some());
        assert!(plan.decide(search, Duration::from_secs(20)).is_none());
        assert!(
            plan.decide(Target::Tool { name: "other" }, Duration::from_secs(15))
                .is_none()
        );
        assert!(
            plan.decide(Target::Chat { model: "gpt-a" }, Duration::ZERO)
                .is_some()
        );
        assert!(
            plan.decide(Target::Chat { model: "gpt-b" }, Duration::ZERO)
                .is_none()
        );
    }
}
