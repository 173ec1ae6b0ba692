//! `[tools.NAME.mock] arguments`: how popular the mock LLM's tool-call arguments are.
//!
//! Real agents ask for the same popular documents, orders and files again and again, and a
//! coding agent re-reads the files of its own task: that reuse is what a response cache is
//! for. Unset, the mock invents every call's arguments afresh (ids from 100,000 values, 2-6
//! random words), so a cache almost never hits.

use serde::{Deserialize, Serialize};

use crate::units::{Probability, Rate};

/// The most distinct values a tool may have: the mock keeps one cumulative weight per value
/// (8 bytes), so a million is 8 MB.
pub const MAX_DISTINCT: u64 = 1_000_000;

/// `arguments = { distinct = 500, zipf = 1.1, reuse = 0.3 }`: a finite set of argument
/// objects with a popularity distribution, and a chance to reuse one the conversation
/// already holds. Every key is optional; an empty table changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArgumentPopularity {
    /// How many distinct argument objects the tool is called with: value `k` (0-based) is
    /// always the same object. Absent (and no `weights`): every fresh call invents its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
    /// Zipf exponent `s` over the `distinct` values: value `k` has weight `1 / (k + 1)^s`.
    /// Absent: the values are equally likely. Needs `distinct`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zipf: Option<f64>,
    /// Empirical popularity instead of `distinct` and `zipf`: value `k` has weight
    /// `weights[k]`, so there are as many values as weights.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<Rate>,
    /// Session locality: the chance that a call repeats the arguments of one of the earlier
    /// calls of this tool in the conversation (picked uniformly), when there is one. A
    /// real model sees its earlier calls; so does the mock, in the request's messages.
    pub reuse: Probability,
}

impl ArgumentPopularity {
    /// The popularity of each value, in order, when the values are a finite set: the
    /// `weights`, or Zipf (or uniform) weights over `distinct` values. `None` when every
    /// fresh call invents its own arguments.
    pub fn value_weights(&self) -> Option<Vec<f64>> {
        if !self.weights.is_empty() {
            return Some(self.weights.iter().map(|w| w.0).collect());
        }
        let n = self.distinct?;
        let s = self.zipf.unwrap_or(0.0);
        Some(
            (1..=n)
                .map(|rank| {
                    #[allow(clippy::cast_precision_loss)]
                    let rank = rank as f64;
                    rank.powf(-s)
                })
                .collect(),
        )
    }

    /// Whether this changes nothing: every fresh call invents its arguments, none is reused.
    pub fn is_inert(&self) -> bool {
        self.distinct.is_none() && self.weights.is_empty() && self.reuse.0 == 0.0
    }
}
