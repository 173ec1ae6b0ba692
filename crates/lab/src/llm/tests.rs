use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use conversation::message::Message;
use conversation::strategy::Summarizer;
use conversation::summarize::Extractive;
use conversation::tokens::CharsPerToken;

use super::reader::{self, Question};
use super::*;

/// A model that echoes the prompt's length, counting its calls; it fails on `fail`.
struct Echo {
    calls: Arc<AtomicUsize>,
    fail: bool,
}

impl Llm for Echo {
    fn complete(&mut self, call: &LlmCall) -> Result<LlmAnswer, LlmError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.fail {
            return Err(LlmError("connection refused".to_owned()));
        }
        Ok(LlmAnswer {
            text: format!("saw {} chars", call.user.len()),
            prompt_tokens: 10,
            completion_tokens: 3,
            model: "echo-1".to_owned(),
        })
    }
}

fn call(user: &str) -> LlmCall {
    LlmCall {
        purpose: Purpose::Summary,
        max_tokens: 512,
        system: "s".to_owned(),
        user: user.to_owned(),
    }
}

#[test]
fn a_cassette_records_each_call_once_and_replays_it_without_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let calls = Arc::new(AtomicUsize::new(0));
    let model = Echo {
        calls: calls.clone(),
        fail: false,
    };
    let mut rec = Cassette::record(&path, Box::new(model)).unwrap();
    let a = rec.complete(&call("abc")).unwrap();
    let again = rec.complete(&call("abc")).unwrap();
    let b = rec.complete(&call("abcdef")).unwrap();
    assert_eq!(a, again);
    assert_eq!(
        calls.load(Ordering::Relaxed),
        2,
        "the repeated call is asked once"
    );
    // Written as it comes: readable before the recorder is dropped.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2);

    let mut play = Cassette::replay(&path).unwrap();
    assert_eq!(play.len(), 2);
    assert_eq!(play.complete(&call("abc")).unwrap(), a);
    assert_eq!(play.complete(&call("abcdef")).unwrap(), b);
    let miss = play.complete(&call("new")).unwrap_err();
    assert!(
        miss.0.contains("no recorded answer") && miss.0.contains("record it again"),
        "{miss}"
    );
    assert_eq!(play.misses(), 1);
}

#[test]
fn a_bad_cassette_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    std::fs::write(&path, "\n{\"call\": 1}\n").unwrap();
    let e = Cassette::replay(&path).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("c.jsonl"), "{e}");
    let e = Cassette::replay(&dir.path().join("missing.jsonl"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing.jsonl") && e.contains("record one first"),
        "{e}"
    );
}

#[test]
fn the_llm_summarizer_uses_the_answer_and_falls_back_to_extractive_on_failure() {
    let c = CharsPerToken(4.0);
    let span = vec![Message::user(
        "Order QX7-4471-KP shipped on 2024-03-01.",
        &c,
    )];
    let calls = Arc::new(AtomicUsize::new(0));
    let tier = LlmTier::shared(Box::new(Echo {
        calls: calls.clone(),
        fail: false,
    }));
    let mut s = LlmSummarizer::new(tier.clone());
    assert!(s.summarize(None, &span).starts_with("saw "));
    let report = tier.lock().unwrap().report();
    assert_eq!(report.summary.calls, 1);
    assert_eq!(report.summary.prompt_tokens, 10);
    assert_eq!(report.models, ["echo-1"]);

    let failing = LlmTier::shared(Box::new(Echo { calls, fail: true }));
    let mut s = LlmSummarizer::new(failing.clone());
    assert_eq!(
        s.summarize(None, &span),
        Extractive::default().summarize(None, &span)
    );
    let report = failing.lock().unwrap().report();
    assert_eq!((report.summary.calls, report.summary.failed), (1, 1));
    assert_eq!(report.first_error.as_deref(), Some("connection refused"));
}

#[test]
fn answers_are_parsed_by_number_and_unknowns_are_none() {
    let text = "Here you go:\n1: QX7-4471-KP\n2. unknown\n3) `src/lib.rs`.\n1: other\n- 4: \"ab cd\"\n9: out of range";
    assert_eq!(
        reader::parse(text, 5),
        [
            Some("QX7-4471-KP".to_owned()),
            None,
            Some("src/lib.rs".to_owned()),
            Some("ab cd".to_owned()),
            None
        ]
    );
}

#[test]
fn exact_needs_the_value_and_f1_gives_partial_credit() {
    assert_eq!(
        reader::score("QX7-4471-KP", Some("QX7-4471-KP")),
        (true, 1.0)
    );
    let (exact, f1) = reader::score("QX7-4471-KP", Some("QX7-4471"));
    assert!(!exact && (f1 - 0.8).abs() < 1e-9, "{f1}");
    assert_eq!(reader::score("QX7-4471-KP", Some("nothing")), (false, 0.0));
    assert_eq!(reader::score("QX7-4471-KP", None), (false, 0.0));
}

#[test]
fn questions_blank_out_current_facts_in_their_line() {
    let corpus = crate::corpus::generate(crate::corpus::Profile::Coding, 1, 30, 7);
    let conv = &corpus[0];
    let qs = reader::questions(conv);
    let stale: Vec<&str> = conv
        .facts
        .iter()
        .filter_map(|f| f.supersedes.as_deref())
        .collect();
    assert!(!qs.is_empty());
    assert_eq!(qs.len(), conv.facts.len() - stale.len());
    for Question { fact, cloze, value } in &qs {
        assert!(!stale.contains(&fact.as_str()));
        assert!(
            cloze.contains("____") && !cloze.contains(value.as_str()),
            "{cloze}"
        );
        assert!(cloze.chars().count() <= 2 * 120 + 6, "{cloze}");
    }
}

#[test]
fn the_reader_call_holds_the_context_and_numbers_the_questions() {
    let c = CharsPerToken(4.0);
    let context = vec![
        Message::system("sys", &c),
        Message::user("the code is AB-1234", &c),
    ];
    let qs = vec![Question {
        fact: "f0".to_owned(),
        cloze: "the code is ____".to_owned(),
        value: "AB-1234".to_owned(),
    }];
    let call = reader::call(&context, &qs);
    assert_eq!(call.purpose, Purpose::Reader);
    assert!(call.user.contains("user: the code is AB-1234\n"));
    assert!(
        call.user
            .ends_with("1: What value stands where ____ is in: the code is ____\n")
    );
}
