//! Retention: which planted values a context holds (exact substring match in contents and
//! call arguments), tallied per fact kind, and which it could bring back by recalling an
//! offloaded span. Counts are pooled: over conversations for the final context, over
//! conversations × turns for the average.
//!
//! Every figure is monotone in what the context keeps: keeping more never scores worse on a
//! kept-kind figure (an emptied context is not a success), so a strategy cannot improve its
//! retention by deleting.

use conversation::message::Message;
use serde::Serialize;

use super::keep::Identifier;
use crate::corpus::{CorpusConversation, FactKind};

/// The values looked for in one conversation: its facts, then its decoys, then its probes.
#[derive(Debug)]
pub(crate) struct Needles<'a> {
    conv: &'a CorpusConversation,
    values: Vec<&'a str>,
}

impl<'a> Needles<'a> {
    #[cfg(test)]
    pub(crate) fn new(conv: &'a CorpusConversation) -> Self {
        Self::with_ids(conv, &[])
    }

    /// As [`Needles::new`], then `ids` (`--keep-pattern`'s identifiers), at
    /// [`Needles::ids_start`] on.
    pub(crate) fn with_ids(conv: &'a CorpusConversation, ids: &'a [Identifier]) -> Self {
        let values = conv
            .facts
            .iter()
            .map(|f| f.value.as_str())
            .chain(conv.decoys.iter().map(|d| d.value.as_str()))
            .chain(conv.probes.iter().map(String::as_str))
            .chain(ids.iter().map(|i| i.value.as_str()))
            .collect();
        Self { conv, values }
    }

    /// The index of the first identifier.
    pub(crate) fn ids_start(&self) -> usize {
        self.conv.facts.len() + self.conv.decoys.len() + self.conv.probes.len()
    }

    /// How many values there are.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// The indices of the values `m` holds.
    pub(crate) fn marks(&self, m: &Message) -> Vec<usize> {
        (0..self.values.len())
            .filter(|&i| {
                let v = self.values[i];
                m.content.contains(v) || m.tool_calls.iter().any(|c| c.arguments.contains(v))
            })
            .collect()
    }
}

/// `num` of `den`; no value when `den` is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Frac {
    num: u64,
    den: u64,
}

impl Frac {
    fn add(&mut self, hit: bool) {
        self.num += u64::from(hit);
        self.den += 1;
    }

    fn merge(&mut self, o: Frac) {
        self.num += o.num;
        self.den += o.den;
    }

    fn value(self) -> Option<f64> {
        (self.den > 0).then(|| round(self.num as f64 / self.den as f64))
    }
}

/// Rounds to four decimals, so reports are short and stable.
pub(crate) fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// The simple kinds, in the order of [`Tally::kinds`].
const SIMPLE: [FactKind; 5] = [
    FactKind::Constraint,
    FactKind::OutputHead,
    FactKind::OutputMiddle,
    FactKind::OutputTail,
    FactKind::Decision,
];

/// Retention counts, added up over contexts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    kinds: [Frac; 5],
    update_latest: Frac,
    update_stale_absent: Frac,
    update_correct: Frac,
    files: Frac,
    decoys: Frac,
    recallable: Frac,
    /// Probes looked for (whether any was planted) and found.
    probes: Frac,
}

impl Tally {
    /// Scores one context: `present[i]` says whether it holds needle `i`, `recallable[i]`
    /// whether a span it can recall does; values in messages before `pushed` are planted by
    /// then.
    pub(crate) fn add(
        &mut self,
        needles: &Needles<'_>,
        present: &[bool],
        recallable: &[bool],
        pushed: usize,
    ) {
        let conv = needles.conv;
        let planted = |message: usize| message < pushed;
        let fact_index = |id: &str| conv.facts.iter().position(|f| f.id == id);
        for (i, f) in conv.facts.iter().enumerate() {
            if !planted(f.message) {
                continue;
            }
            let superseded = conv
                .facts
                .iter()
                .any(|g| g.supersedes.as_deref() == Some(f.id.as_str()) && planted(g.message));
            if superseded {
                // A stale value: scored with its chain's newest, below; it should be gone.
                continue;
            }
            // A value the context should keep, of any kind.
            self.recallable.add(!present[i] && recallable[i]);
            if let Some(k) = SIMPLE.iter().position(|&k| k == f.kind) {
                self.kinds[k].add(present[i]);
            }
            if f.kind == FactKind::File {
                self.files.add(present[i]);
            }
            if f.kind != FactKind::Update {
                continue;
            }
            self.update_latest.add(present[i]);
            let mut stale = Vec::new();
            let mut next = f.supersedes.as_deref().and_then(fact_index);
            while let Some(s) = next {
                stale.push(s);
                next = conv.facts[s].supersedes.as_deref().and_then(fact_index);
            }
            let all_absent = stale.iter().all(|&s| !present[s]);
            // A chain with nothing left says nothing of stale values (its loss is
            // `update_latest`'s): only a chain the context still holds scores them.
            if present[i] || !all_absent {
                for &s in &stale {
                    self.update_stale_absent.add(!present[s]);
                }
            }
            if f.supersedes.is_some() {
                self.update_correct.add(present[i] && all_absent);
            }
        }
        let offset = conv.facts.len();
        for (j, d) in conv.decoys.iter().enumerate() {
            if !planted(d.message) {
                continue;
            }
            self.decoys.add(present[offset + j]);
        }
        let offset = offset + conv.decoys.len();
        for &found in &present[offset..needles.ids_start()] {
            self.probes.add(found);
        }
    }

    /// Adds another tally.
    pub(crate) fn merge(&mut self, o: &Tally) {
        for (a, b) in self.kinds.iter_mut().zip(o.kinds) {
            a.merge(b);
        }
        self.update_latest.merge(o.update_latest);
        self.update_stale_absent.merge(o.update_stale_absent);
        self.update_correct.merge(o.update_correct);
        self.files.merge(o.files);
        self.decoys.merge(o.decoys);
        self.recallable.merge(o.recallable);
        self.probes.merge(o.probes);
    }

    /// The fractions.
    pub(crate) fn finish(&self) -> Retention {
        Retention {
            constraint: self.kinds[0].value(),
            output_head: self.kinds[1].value(),
            output_middle: self.kinds[2].value(),
            output_tail: self.kinds[3].value(),
            decision: self.kinds[4].value(),
            update_latest: self.update_latest.value(),
            update_stale_absent: self.update_stale_absent.value(),
            update_correct: self.update_correct.value(),
            files: self.files.value(),
            decoys_present: self.decoys.value(),
            recallable: self.recallable.value(),
            probes_present: (self.probes.den > 0).then_some(self.probes.num),
        }
    }
}

/// Retention by kind: fractions in [0, 1], `null` where nothing of the kind was planted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Retention {
    /// User constraints present.
    pub constraint: Option<f64>,
    /// Values from the head of a long tool output present.
    pub output_head: Option<f64>,
    /// Values from the middle of a long tool output present.
    pub output_middle: Option<f64>,
    /// Values from the tail of a long tool output present.
    pub output_tail: Option<f64>,
    /// Assistant decisions present.
    pub decision: Option<f64>,
    /// The newest value of each update chain present.
    pub update_latest: Option<f64>,
    /// Superseded values absent, of chains the context still holds a value of (an emptied
    /// context has nothing to say here: `null`, not 1).
    pub update_stale_absent: Option<f64>,
    /// Updated chains whose newest value is present and every superseded one absent.
    pub update_correct: Option<f64>,
    /// Touched files present. Near-miss paths are not held against it: they are true text of
    /// the conversation, and counting them as false positives rewarded deleting outputs.
    pub files: Option<f64>,
    /// Near-miss decoys present (distractors a reader could confuse with facts).
    pub decoys_present: Option<f64>,
    /// Values the context should keep that are absent but one recall away, in a span offloaded
    /// behind a stub the context holds (not counted as present).
    pub recallable: Option<f64>,
    /// Never-planted probes found: invented values, must be 0; `null` where none was looked
    /// for.
    pub probes_present: Option<u64>,
}
