use conversation::message::{Message, Role};
use conversation::tokens::CharsPerToken;
use scenario::{Compression, Pipeline, StrategyName, Trigger};

use super::score::{Needles, Tally};
use super::*;
use crate::corpus::{Decoy, Fact, FactKind, Profile, WireMessage, generate};

const C: CharsPerToken = CharsPerToken(4.0);

fn fact(id: &str, kind: FactKind, value: &str, message: usize) -> Fact {
    Fact {
        id: id.to_owned(),
        kind,
        value: value.to_owned(),
        turn: 0,
        message,
        supersedes: None,
    }
}

/// A conversation with two updates, two touched files, a decoy of a file and a probe.
fn hand_made() -> CorpusConversation {
    let mut v2 = fact("f1", FactKind::Update, "AA1-0002-BB", 2);
    v2.supersedes = Some("f0".to_owned());
    CorpusConversation {
        id: "hand".to_owned(),
        profile: None,
        messages: Vec::new(),
        facts: vec![
            fact("f0", FactKind::Update, "AA1-0001-BB", 1),
            v2,
            fact("f2", FactKind::File, "src/a_0001aa.rs", 1),
            fact("f3", FactKind::File, "src/b_0002bb.rs", 3),
            fact("f4", FactKind::Constraint, "CC1-0003-DD", 1),
        ],
        probes: vec!["ZZ9-9999-ZZ".to_owned()],
        decoys: vec![Decoy {
            value: "src/a_0009aa.rs".to_owned(),
            near: "f2".to_owned(),
            turn: 0,
            message: 1,
        }],
    }
}

/// Scores a context whose only message holds `text`, with messages before `pushed` planted.
fn score(conv: &CorpusConversation, text: &str, pushed: usize) -> Retention {
    let needles = Needles::new(conv);
    let mut present = vec![false; needles.len()];
    for i in needles.marks(&Message::user(text, &C)) {
        present[i] = true;
    }
    let mut tally = Tally::default();
    tally.add(&needles, &present, &vec![false; needles.len()], pushed);
    tally.finish()
}

#[test]
fn an_update_is_correct_when_the_latest_is_present_and_the_stale_absent() {
    let conv = hand_made();
    let r = score(&conv, "now AA1-0002-BB", 4);
    assert_eq!(r.update_latest, Some(1.0));
    assert_eq!(r.update_stale_absent, Some(1.0));
    assert_eq!(r.update_correct, Some(1.0));
    let both = score(&conv, "AA1-0001-BB then AA1-0002-BB", 4);
    assert_eq!(both.update_latest, Some(1.0));
    assert_eq!(both.update_stale_absent, Some(0.0));
    assert_eq!(both.update_correct, Some(0.0));
    // Before the update is planted, the first value is the latest and nothing is stale.
    let early = score(&conv, "AA1-0001-BB", 2);
    assert_eq!(early.update_latest, Some(1.0));
    assert_eq!(early.update_stale_absent, None);
    assert_eq!(early.update_correct, None);
}

#[test]
fn files_are_the_touched_paths_present_and_near_misses_are_only_reported() {
    let conv = hand_made();
    let r = score(&conv, "edited src/a_0001aa.rs, saw src/a_0009aa.rs", 4);
    assert_eq!(r.files, Some(0.5));
    assert_eq!(r.decoys_present, Some(1.0));
    let all = score(&conv, "src/a_0001aa.rs src/b_0002bb.rs", 4);
    assert_eq!(all.files, Some(1.0));
    assert_eq!(score(&conv, "nothing", 4).files, Some(0.0));
    // Only the first file is planted before message 2.
    let early = score(&conv, "src/a_0001aa.rs", 2);
    assert_eq!(early.files, Some(1.0));
}

#[test]
fn probes_found_are_false_positives_and_unplanted_kinds_are_null() {
    let conv = hand_made();
    let r = score(&conv, "CC1-0003-DD and ZZ9-9999-ZZ", 4);
    assert_eq!(r.constraint, Some(1.0));
    assert_eq!(r.probes_present, Some(1));
    assert_eq!(r.decision, None);
    assert_eq!(r.output_head, None);
    assert_eq!(score(&conv, "", 4).probes_present, Some(0));
}

#[test]
fn sweeps_and_triggers_parse_or_say_what_to_write() {
    let s: Sweep = "keep_last=5,10".parse().unwrap();
    assert_eq!((s.key, s.values), (SweepKey::KeepLast, vec![5.0, 10.0]));
    let err = "keep_lots=5".parse::<Sweep>().unwrap_err().0;
    assert!(
        err.contains("unknown sweep key `keep_lots`: use one of keep_first"),
        "{err}"
    );
    let err = "compact_to=2".parse::<Sweep>().unwrap_err().0;
    assert_eq!(
        err,
        "`compact_to` takes a fraction in (0, 1], like 0.5, not `2`"
    );
    assert!(
        "keep_last"
            .parse::<Sweep>()
            .unwrap_err()
            .0
            .contains("KEY=A,B,C")
    );
    assert_eq!(parse_trigger("tokens=6000"), Ok(Trigger::Tokens(6000)));
    assert_eq!(parse_trigger("messages=40"), Ok(Trigger::Messages(40)));
    assert!(matches!(
        parse_trigger("fraction=0.8"),
        Ok(Trigger::Fraction(_))
    ));
    assert!(
        parse_trigger("tokens=lots")
            .unwrap_err()
            .0
            .contains("tokens=6000")
    );
}

#[test]
fn rows_put_the_baseline_first_once_and_cross_the_sweeps() {
    let sweeps: Vec<Sweep> = vec![
        "keep_last=5,10".parse().unwrap(),
        "compact_to=0.5,0.25".parse().unwrap(),
    ];
    let strategies = [
        "none".parse().unwrap(),
        "window+token-budget".parse().unwrap(),
    ];
    let rows = rows(&Compression::default(), &strategies, &sweeps);
    let names: Vec<String> = rows.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        [
            "none",
            "window+token-budget [keep_last=5 compact_to=0.5]",
            "window+token-budget [keep_last=5 compact_to=0.25]",
            "window+token-budget [keep_last=10 compact_to=0.5]",
            "window+token-budget [keep_last=10 compact_to=0.25]",
        ]
    );
    assert_eq!(rows[4].config.keep_last, 10);
}

#[test]
fn the_baseline_resends_everything_and_busts_nothing() {
    let wire = vec![
        WireMessage::text(Role::System, "be brief"),
        WireMessage::text(Role::User, "hello there"),
        WireMessage::text(Role::Assistant, "hi"),
        WireMessage::text(Role::User, "and again"),
        WireMessage::text(Role::Assistant, "yes"),
    ];
    let conv = CorpusConversation {
        id: "tiny".to_owned(),
        profile: None,
        messages: wire,
        facts: Vec::new(),
        probes: Vec::new(),
        decoys: Vec::new(),
    };
    let rows = rows(&Compression::default(), &[], &[]);
    let report = evaluate(std::slice::from_ref(&conv), &rows);
    let m = conv.to_messages(&conversation::Tiktoken::O200k);
    let t = |i: usize| u64::from(m[i].tokens);
    let row = &report.rows[0];
    assert_eq!(row.prompts, 2);
    assert_eq!(row.peak_prompt_tokens, t(0) + t(1) + t(2) + t(3));
    assert_eq!(
        row.cumulative_prompt_tokens,
        2 * (t(0) + t(1)) + t(2) + t(3)
    );
    assert_eq!(row.cache_busted_tokens, 0);
    assert_eq!(row.uncached_prompt_tokens, row.peak_prompt_tokens);
    assert_eq!(row.compression_ratio, 1.0);
    assert_eq!(row.retention_final.constraint, None);
    assert_eq!(report.corpus.turns, 2);
}

fn golden() -> Report {
    let corpus = generate(Profile::Coding, 3, 12, 7);
    let pipelines = StrategyName::ALL.map(Pipeline::from);
    let rows = rows(&Compression::default(), &pipelines, &[]);
    evaluate(&corpus, &rows)
}

#[test]
fn golden_evaluation_of_a_small_coding_corpus() {
    let report = golden();
    assert_eq!(report.rows.len(), StrategyName::ALL.len());
    for row in &report.rows {
        assert_eq!(
            row.violations, 0,
            "{}: {:?}",
            row.strategy, row.first_violation
        );
        assert_eq!(
            row.retention_final.probes_present,
            Some(0),
            "{}",
            row.strategy
        );
        assert_eq!(
            row.retention_turns.probes_present,
            Some(0),
            "{}",
            row.strategy
        );
    }
    let baseline = &report.rows[0];
    assert_eq!(baseline.cache_busted_tokens, 0);
    assert_eq!(baseline.retention_final.constraint, Some(1.0));
    let timing = report.timing.clone().unwrap();
    assert_eq!(timing.len(), StrategyName::ALL.len());
    let deterministic = report.without_timing();
    assert_eq!(deterministic, golden().without_timing());
    insta::assert_snapshot!("golden_coding_3x12_seed7", json(&deterministic));
}

#[test]
fn renderings_show_every_row_and_timing_only_when_present() {
    let report = golden();
    let text = table(&report);
    let md = markdown(&report);
    for name in StrategyName::ALL.map(StrategyName::as_str) {
        assert!(text.contains(name) && md.contains(name), "{name}");
    }
    assert!(text.contains("p99 µs") && md.contains("| strategy |"));
    let quiet = report.without_timing();
    assert!(!table(&quiet).contains("p99 µs"));
    assert!(!json(&quiet).contains("timing"));
}

#[test]
fn emptying_an_output_never_scores_better_on_files() {
    let conv = hand_made();
    let kept = score(&conv, "edited src/a_0001aa.rs, saw src/a_0009aa.rs", 4);
    let emptied = score(&conv, "edited src/a_0001aa.rs", 4);
    assert!(kept.files >= emptied.files, "{kept:?} {emptied:?}");
    assert!(score(&conv, "", 4).files <= emptied.files);
}

#[test]
fn an_emptied_context_does_not_score_stale_gone() {
    let conv = hand_made();
    assert_eq!(score(&conv, "", 4).update_stale_absent, None);
    assert_eq!(score(&conv, "", 4).update_correct, Some(0.0));
    // The stale value without the newest is the worst case, not a gone one.
    assert_eq!(
        score(&conv, "AA1-0001-BB", 4).update_stale_absent,
        Some(0.0)
    );
}
