use conversation::message::Role;
use conversation::tokens;
use scenario::{Compression, Pipeline, StrategyName};

use super::*;
use crate::corpus::{Profile, generate};
use crate::eval::{evaluate, rows};

/// Four strategies on a small coding corpus, unpriced.
fn small() -> (Vec<crate::corpus::CorpusConversation>, Report) {
    let corpus = generate(Profile::Coding, 2, 10, 7);
    let pipelines = [
        StrategyName::TokenBudget,
        StrategyName::RollingSummary,
        StrategyName::ObservationMasking,
    ]
    .map(Pipeline::from);
    let rows = rows(&Compression::default(), &pipelines, &[]);
    let report = evaluate(&corpus, &rows);
    (corpus, report)
}

#[test]
fn the_cost_of_a_hand_computed_row() {
    let (_, report) = small();
    let row = Row {
        cumulative_prompt_tokens: 1_000_000,
        uncached_prompt_tokens: 400_000,
        summarizer_tokens_in: 100_000,
        summarizer_tokens_out: 10_000,
        output_tokens: 50_000,
        ..report.rows[0].clone()
    };
    let c = cost(&row, &Prices::preset("claude-sonnet").unwrap());
    // 300,000 agent uncached x 3.00, 600,000 cached x 0.30, 300,000 written x 0.75 extra,
    // 50,000 out x 15, the summarizer's 100,000 in x 0.80 and 10,000 out x 4.00.
    assert_eq!(
        c,
        Cost {
            input: 0.9,
            cached_read: 0.18,
            cache_write: 0.225,
            output: 0.75,
            summarizer_input: 0.08,
            summarizer_output: 0.04,
            total: 2.175,
        }
    );
}

#[test]
fn output_tokens_are_the_assistant_messages_for_every_row() {
    let (corpus, report) = small();
    let counter = tokens::counter_for(Compression::default().tokenizer, 4.0);
    let answers: u64 = corpus
        .iter()
        .flat_map(|c| c.to_messages(counter.as_ref()))
        .filter(|m| m.role == Role::Assistant)
        .map(|m| u64::from(m.tokens))
        .sum();
    assert!(answers > 0);
    for row in &report.rows {
        assert_eq!(row.output_tokens, answers, "{}", row.strategy);
    }
}

#[test]
fn the_summarizer_is_priced_at_its_own_prices() {
    let (_, report) = small();
    let report = report.priced("gpt-4.1", Prices::preset("gpt-4.1").unwrap());
    let summary = report
        .rows
        .iter()
        .find(|r| r.strategy == "rolling-summary")
        .unwrap();
    assert!(summary.summarizer_tokens_in > 0);
    let c = summary.cost_usd.clone().unwrap();
    let expected = (summary.summarizer_tokens_in as f64 * 0.40 / 1e6 * 1e6).round() / 1e6;
    assert_eq!(c.summarizer_input, expected);
    // The agent's uncached tokens leave the summarizer's prompts out.
    let agent = summary.uncached_prompt_tokens - summary.summarizer_tokens_in;
    assert_eq!(c.input, (agent as f64 * 2.0).round() / 1e6);
}

#[test]
fn every_preset_loads_and_round_trips_through_a_file() {
    assert!(PRESETS.len() >= 3);
    for (name, prices) in PRESETS {
        assert_eq!(Prices::preset(name), Some(prices));
        let text = toml::to_string(&prices).unwrap();
        assert_eq!(Prices::from_toml(&text).unwrap(), prices, "{name}");
    }
    assert_eq!(Prices::preset("gpt-5-free"), None);
}

#[test]
fn a_bad_prices_file_names_the_key() {
    let full = "input = 3\ncached_read = 0.3\ncache_write_extra = 0.75\noutput = 15\n\
                summarizer_input = 0.8\nsummarizer_output = 4\n";
    let missing = full.replace("output = 15\n", "");
    let err = Prices::from_toml(&missing).unwrap_err().to_string();
    assert!(
        err.contains("`output`") && err.contains("docs/compression.md"),
        "{err}"
    );
    let unknown = format!("{full}cache_write = 3.75\n");
    let err = Prices::from_toml(&unknown).unwrap_err().to_string();
    assert!(err.contains("cache_write"), "{err}");
    let negative = full.replace("cached_read = 0.3", "cached_read = -0.3");
    let err = Prices::from_toml(&negative).unwrap_err().to_string();
    assert!(err.contains("`cached_read` = -0.3"), "{err}");
    let text = full.replace("input = 3\n", "input = \"three\"\n");
    let err = Prices::from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("invalid type"), "{err}");
}

#[test]
fn ranking_by_cost_puts_the_cheapest_first_and_moves_timing_along() {
    let (_, report) = small();
    let report = report.priced("gpt-4.1", Prices::preset("gpt-4.1").unwrap());
    let before: Vec<(String, String)> = report
        .rows
        .iter()
        .zip(report.timing.as_ref().unwrap())
        .map(|(r, t)| (r.strategy.clone(), t.strategy.clone()))
        .collect();
    let cheapest = report.cheapest().unwrap();
    let name = report.rows[cheapest].strategy.clone();
    let ranked = report.ranked(Rank::Cost);
    let totals: Vec<f64> = ranked
        .rows
        .iter()
        .map(|r| r.cost_usd.as_ref().unwrap().total)
        .collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
    assert_eq!(ranked.rows[0].strategy, name);
    assert_eq!(ranked.cheapest(), Some(0));
    for (row, t) in ranked.rows.iter().zip(ranked.timing.as_ref().unwrap()) {
        assert_eq!(row.strategy, t.strategy);
    }
    assert_eq!(before.len(), ranked.rows.len());
}

#[test]
fn ranking_by_ratio_puts_the_highest_first_and_the_unpriced_report_has_no_cost() {
    let (_, report) = small();
    assert_eq!(report.cheapest(), None);
    assert!(!crate::eval::json(&report).contains("cost_usd"));
    let ranked = report.ranked(Rank::Ratio);
    let ratios: Vec<f64> = ranked.rows.iter().map(|r| r.compression_ratio).collect();
    assert!(ratios.windows(2).all(|w| w[0] >= w[1]), "{ratios:?}");
    assert_ne!(ranked.rows[0].strategy, "none");
}

#[test]
fn a_priced_table_has_the_cost_column_and_marks_the_cheapest_row_once() {
    let (_, report) = small();
    assert!(!crate::eval::table(&report).contains("cost $"));
    let report = report.priced("gpt-4o-mini", Prices::preset("gpt-4o-mini").unwrap());
    let cheapest = report.rows[report.cheapest().unwrap()].strategy.clone();
    for text in [crate::eval::table(&report), crate::eval::markdown(&report)] {
        assert!(text.contains("cost $"), "{text}");
        let marked: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" * ") && !l.contains("cheapest:"))
            .collect();
        assert_eq!(marked.len(), 1, "{text}");
        assert!(marked[0].contains(&cheapest), "{text}");
        assert!(text.contains(&format!("* cheapest: {cheapest}")), "{text}");
    }
}
