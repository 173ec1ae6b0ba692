//! What a row costs in dollars under the lab's prompt-cache model (docs/compression.md, "The
//! cost model"), and ranking rows by cost or by ratio.
//!
//! Prices are per million tokens. A token a prompt shares with the previous prompt's prefix is
//! read from the cache; every other prompt token is computed and written to the cache; the
//! summarizer, possibly a cheaper model, has prices of its own.

use serde::{Deserialize, Serialize};

use super::report::{Report, Row};

/// Prices in US dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// A prompt token that is not a cache hit.
    pub input: f64,
    /// A prompt token read from the cache.
    pub cached_read: f64,
    /// What writing a token to the cache costs on top of `input`: 0 where caching is
    /// automatic and free (OpenAI), the write price minus `input` where writes are billed
    /// (Anthropic: 3.75 - 3.00 = 0.75 for Sonnet's 5-minute writes).
    pub cache_write_extra: f64,
    /// A token the model writes.
    pub output: f64,
    /// A token the summarizer reads (its prompt is never a cache hit).
    pub summarizer_input: f64,
    /// A token the summarizer writes.
    pub summarizer_output: f64,
}

/// Example prices: list prices per million tokens as the providers published them in 2025
/// (<https://openai.com/api/pricing>, <https://www.anthropic.com/pricing>), not checked
/// since. They are examples to compare strategies with, not quotes: check your provider's page
/// and pass a prices file for real figures.
pub const PRESETS: [(&str, Prices); 3] = [
    // gpt-4o-mini; it summarizes too.
    (
        "gpt-4o-mini",
        Prices {
            input: 0.15,
            cached_read: 0.075,
            cache_write_extra: 0.0,
            output: 0.60,
            summarizer_input: 0.15,
            summarizer_output: 0.60,
        },
    ),
    // gpt-4.1; gpt-4.1-mini summarizes.
    (
        "gpt-4.1",
        Prices {
            input: 2.00,
            cached_read: 0.50,
            cache_write_extra: 0.0,
            output: 8.00,
            summarizer_input: 0.40,
            summarizer_output: 1.60,
        },
    ),
    // Claude Sonnet 4 with 5-minute cache writes (3.75); Claude Haiku 3.5 summarizes.
    (
        "claude-sonnet",
        Prices {
            input: 3.00,
            cached_read: 0.30,
            cache_write_extra: 0.75,
            output: 15.00,
            summarizer_input: 0.80,
            summarizer_output: 4.00,
        },
    ),
];

/// A prices file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PricesError {
    /// Not TOML, a key missing or unknown, a value not a number.
    #[error(
        "{0}; write the six keys input, cached_read, cache_write_extra, output, \
         summarizer_input and summarizer_output, in dollars per million tokens \
         (docs/compression.md, \"The cost model\")"
    )]
    Toml(String),
    /// A price below zero, infinite or not a number.
    #[error("`{key}` = {value}: a price is dollars per million tokens, a number 0 or more")]
    Value {
        /// The key.
        key: &'static str,
        /// Its value.
        value: f64,
    },
}

impl Prices {
    /// The preset named `name`.
    pub fn preset(name: &str) -> Option<Prices> {
        PRESETS.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
    }

    /// Prices from a TOML file's text: every key required, none unknown, none negative.
    pub fn from_toml(text: &str) -> Result<Prices, PricesError> {
        let prices: Prices =
            toml::from_str(text).map_err(|e| PricesError::Toml(e.message().to_owned()))?;
        for (key, value) in prices.keyed() {
            if !value.is_finite() || value < 0.0 {
                return Err(PricesError::Value { key, value });
            }
        }
        Ok(prices)
    }

    fn keyed(&self) -> [(&'static str, f64); 6] {
        [
            ("input", self.input),
            ("cached_read", self.cached_read),
            ("cache_write_extra", self.cache_write_extra),
            ("output", self.output),
            ("summarizer_input", self.summarizer_input),
            ("summarizer_output", self.summarizer_output),
        ]
    }
}

/// The prices a report was costed at, and where they came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PriceSheet {
    /// A preset's name or the file's path.
    pub name: String,
    /// Dollars per million tokens.
    #[serde(flatten)]
    pub per_million: Prices,
}

/// A row's cost in dollars, by what was paid for, and the total.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cost {
    /// The agent's uncached prompt tokens at `input`.
    pub input: f64,
    /// Its cached prompt tokens at `cached_read`.
    pub cached_read: f64,
    /// Its uncached prompt tokens, written to the cache, at `cache_write_extra`.
    pub cache_write: f64,
    /// Its output tokens at `output`.
    pub output: f64,
    /// The summarizer's prompts at `summarizer_input`.
    pub summarizer_input: f64,
    /// The summaries at `summarizer_output`.
    pub summarizer_output: f64,
    /// All of it.
    pub total: f64,
}

/// `row`'s cost at `p`. The row's uncached and cumulative tokens include the summarizer's
/// prompts, which are priced apart: the agent's uncached tokens are the row's less them, its
/// cached tokens the cumulative less the uncached.
pub fn cost(row: &Row, p: &Prices) -> Cost {
    let uncached = row
        .uncached_prompt_tokens
        .saturating_sub(row.summarizer_tokens_in);
    let cached = row
        .cumulative_prompt_tokens
        .saturating_sub(row.uncached_prompt_tokens);
    let usd = |tokens: u64, per_million: f64| dollars(tokens as f64 * per_million / 1e6);
    let mut c = Cost {
        input: usd(uncached, p.input),
        cached_read: usd(cached, p.cached_read),
        cache_write: usd(uncached, p.cache_write_extra),
        output: usd(row.output_tokens, p.output),
        summarizer_input: usd(row.summarizer_tokens_in, p.summarizer_input),
        summarizer_output: usd(row.summarizer_tokens_out, p.summarizer_output),
        total: 0.0,
    };
    c.total = dollars(
        c.input
            + c.cached_read
            + c.cache_write
            + c.output
            + c.summarizer_input
            + c.summarizer_output,
    );
    c
}

/// Rounded to a millionth of a dollar, so the JSON shows no float noise.
fn dollars(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// How the rows are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    /// Highest compression ratio first.
    Ratio,
    /// Cheapest first (the report must be priced).
    Cost,
}

impl Report {
    /// The report with every row's cost at `prices`, named `name` in the report.
    pub fn priced(mut self, name: &str, prices: Prices) -> Self {
        for row in &mut self.rows {
            row.cost_usd = Some(cost(row, &prices));
        }
        self.prices = Some(PriceSheet {
            name: name.to_owned(),
            per_million: prices,
        });
        self
    }

    /// The rows (and their timing) sorted by `rank`; ties keep their order. Rows without a
    /// cost rank last by cost.
    pub fn ranked(mut self, rank: Rank) -> Self {
        let key = |row: &Row| match rank {
            Rank::Ratio => -row.compression_ratio,
            Rank::Cost => row.cost_usd.as_ref().map_or(f64::INFINITY, |c| c.total),
        };
        let mut order: Vec<usize> = (0..self.rows.len()).collect();
        order.sort_by(|&a, &b| key(&self.rows[a]).total_cmp(&key(&self.rows[b])));
        self.rows = order.iter().map(|&i| self.rows[i].clone()).collect();
        if let Some(timing) = &self.timing {
            self.timing = Some(
                order
                    .iter()
                    .filter_map(|&i| timing.get(i).cloned())
                    .collect(),
            );
        }
        self
    }

    /// The index of the cheapest row (the first of equals), if the report is priced.
    pub fn cheapest(&self) -> Option<usize> {
        self.rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.cost_usd.as_ref().map(|c| (i, c.total)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
#[path = "tests_cost.rs"]
mod tests;
