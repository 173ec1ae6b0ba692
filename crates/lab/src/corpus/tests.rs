use std::collections::BTreeSet;

use conversation::invariants;
use conversation::tokens::CharsPerToken;

use super::*;

fn corpus(profile: Profile) -> Vec<CorpusConversation> {
    generate(profile, 3, 12, 7)
}

/// Every text of a conversation's messages, call arguments included.
fn texts(c: &CorpusConversation) -> Vec<String> {
    c.messages
        .iter()
        .map(|m| {
            let mut s = m.content.clone();
            for call in &m.tool_calls {
                s.push('\n');
                s.push_str(&call.function.arguments);
            }
            s
        })
        .collect()
}

fn occurrences(c: &CorpusConversation, value: &str) -> usize {
    texts(c).iter().map(|t| t.matches(value).count()).sum()
}

#[test]
fn the_same_arguments_give_the_same_bytes() {
    for profile in Profile::ALL {
        let a = write_jsonl(&generate(profile, 2, 8, 42));
        assert_eq!(a, write_jsonl(&generate(profile, 2, 8, 42)), "{profile}");
        assert_ne!(a, write_jsonl(&generate(profile, 2, 8, 43)), "{profile}");
    }
}

#[test]
fn every_kind_is_planted_with_unique_values_where_the_record_says() {
    for profile in Profile::ALL {
        let convs = corpus(profile);
        let mut seen = BTreeSet::new();
        for c in &convs {
            assert_eq!(c.turns(), 12);
            for kind in FactKind::ALL {
                let n = c.facts.iter().filter(|f| f.kind == kind).count();
                let want = match kind {
                    FactKind::Update => 2,
                    FactKind::File => 3,
                    _ => 1,
                };
                assert_eq!(n, want, "{profile} {kind:?}");
            }
            let updates: Vec<&Fact> = c
                .facts
                .iter()
                .filter(|f| f.kind == FactKind::Update)
                .collect();
            assert_eq!(
                updates[1].supersedes.as_deref(),
                Some(updates[0].id.as_str())
            );
            assert!(updates[1].message > updates[0].message);
            for f in &c.facts {
                assert_eq!(occurrences(c, &f.value), 1, "{} {}", c.id, f.value);
                assert!(texts(c)[f.message].contains(&f.value));
                let before = &c.messages[..f.message];
                let turn = before.iter().filter(|m| m.role == Role::Assistant).count();
                assert_eq!(f.turn, turn);
                assert!(seen.insert(f.value.clone()), "{} repeats", f.value);
            }
            for d in &c.decoys {
                assert_eq!(occurrences(c, &d.value), 1, "{}", d.value);
                let of = c.facts.iter().find(|f| f.id == d.near).unwrap();
                assert_eq!(d.value.len(), of.value.len());
                let diff: Vec<(char, char)> = d
                    .value
                    .chars()
                    .zip(of.value.chars())
                    .filter(|(a, b)| a != b)
                    .collect();
                assert!(!diff.is_empty());
                assert!(
                    diff.iter()
                        .all(|(a, b)| a.is_ascii_digit() && b.is_ascii_digit())
                );
                assert!(seen.insert(d.value.clone()));
            }
            for p in &c.probes {
                assert!(seen.insert(p.clone()));
            }
        }
    }
}

#[test]
fn output_facts_sit_at_the_head_middle_and_tail_of_their_output() {
    for c in corpus(Profile::Coding) {
        for f in &c.facts {
            if !matches!(
                f.kind,
                FactKind::OutputHead | FactKind::OutputMiddle | FactKind::OutputTail
            ) {
                continue;
            }
            let lines: Vec<&str> = c.messages[f.message].content.lines().collect();
            let at = lines.iter().position(|l| l.contains(&f.value)).unwrap();
            let depth = at as f64 / lines.len() as f64;
            match f.kind {
                FactKind::OutputHead => assert!(at < 3),
                FactKind::OutputMiddle => assert!((0.35..0.65).contains(&depth), "{depth}"),
                _ => assert!(at + 3 >= lines.len()),
            }
            assert!(lines.len() >= 120, "a long output: {}", lines.len());
        }
    }
}

#[test]
fn probes_never_occur_in_the_messages() {
    for profile in Profile::ALL {
        for c in corpus(profile) {
            let all = serde_json::to_string(&c.messages).unwrap();
            assert_eq!(c.probes.len(), 3);
            for p in &c.probes {
                assert!(!all.contains(p.as_str()), "{p}");
            }
        }
    }
}

#[test]
fn generated_conversations_are_valid_at_every_turn() {
    for profile in Profile::ALL {
        for c in corpus(profile) {
            let messages = c.to_messages(&CharsPerToken(4.0));
            for end in 1..=messages.len() {
                assert_eq!(
                    invariants::check(&messages[..end]),
                    vec![],
                    "{} {end}",
                    c.id
                );
            }
            assert_eq!(messages.last().unwrap().role, Role::Assistant);
        }
    }
}

#[test]
fn coding_outputs_are_real_text_of_widely_varying_size() {
    let convs = generate(Profile::Coding, 10, 20, 1);
    let sizes: Vec<usize> = convs
        .iter()
        .flat_map(|c| &c.messages)
        .filter(|m| m.role == Role::Tool && m.content.lines().count() > 1)
        .map(|m| m.content.lines().count())
        .collect();
    assert!(sizes.iter().any(|&n| n <= 30), "{sizes:?}");
    assert!(sizes.iter().any(|&n| n >= 500), "{sizes:?}");
    assert!(sizes.iter().all(|&n| n <= 3001), "{sizes:?}");
    let tools: BTreeSet<&str> = convs
        .iter()
        .flat_map(|c| &c.messages)
        .flat_map(|m| &m.tool_calls)
        .map(|t| t.function.name.as_str())
        .collect();
    let want = ["diff", "edit_file", "grep", "ls", "read_file", "run_tests"];
    assert_eq!(tools, want.into_iter().collect());
}

#[test]
fn jsonl_round_trips() {
    for profile in Profile::ALL {
        let convs = corpus(profile);
        let text = write_jsonl(&convs);
        assert_eq!(text.lines().count(), 3);
        assert_eq!(read_jsonl(&text).unwrap(), convs);
    }
}

#[test]
fn plain_openai_logs_read() {
    let text = concat!(
        r#"{"messages": [{"role": "developer", "content": "be brief"}, "#,
        r#"{"role": "user", "content": [{"type": "text", "text": "list the files"}]}, "#,
        r#"{"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "#,
        r#""function": {"name": "ls", "arguments": {"path": "."}}}]}, "#,
        r#"{"role": "tool", "tool_call_id": "c1", "content": "a.rs"}, "#,
        r#"{"role": "assistant", "content": "one file"}]}"#,
        "\n\n",
        r#"{"id": "mine", "messages": [{"role": "user", "content": "hi"}]}"#,
        "\n"
    );
    let convs = read_jsonl(text).unwrap();
    assert_eq!(convs.len(), 2);
    assert_eq!(convs[0].id, "line-1");
    assert_eq!(convs[1].id, "mine");
    assert!(convs[0].facts.is_empty() && convs[0].profile.is_none());
    let m = convs[0].to_messages(&CharsPerToken(4.0));
    assert_eq!(m[0].role, Role::System);
    assert_eq!(m[1].content, "list the files");
    assert_eq!(m[2].tool_calls[0].arguments, r#"{"path":"."}"#);
    assert_eq!(m[3].name.as_deref(), Some("ls"));
    assert_eq!(convs[0].turns(), 2);
}

#[test]
fn bad_records_name_their_line() {
    let bad_json = "{\"messages\": []}\n{\"messages\": [\n";
    let err = read_jsonl(bad_json).unwrap_err().to_string();
    assert!(
        err.starts_with("line 2: not a conversation record"),
        "{err}"
    );
    let bad_role = r#"{"messages": [{"role": "robot", "content": "x"}]}"#;
    let err = read_jsonl(bad_role).unwrap_err().to_string();
    assert!(err.contains("unknown role `robot`"), "{err}");
    let orphan =
        r#"{"id": "o", "messages": [{"role": "tool", "tool_call_id": "x", "content": "r"}]}"#;
    let err = read_jsonl(&format!("\n{orphan}")).unwrap_err().to_string();
    assert!(
        err.starts_with("line 2: conversation `o` is not a valid history: message 0: tool result `x` answers no call"),
        "{err}"
    );
    assert!(matches!(read_jsonl("\n"), Err(CorpusError::Empty)));
    assert_eq!("coding".parse::<Profile>(), Ok(Profile::Coding));
    assert!(
        "code"
            .parse::<Profile>()
            .unwrap_err()
            .contains("chat, coding, browse")
    );
}

#[test]
fn a_supersedes_cycle_is_refused_not_followed_forever() {
    // Before the check, `compress` looped forever scoring this line (f0 → f1 → f0 ...).
    let mut conv = generate(Profile::Chat, 1, MIN_TURNS, 5).remove(0);
    let updates: Vec<usize> = (0..conv.facts.len())
        .filter(|&i| conv.facts[i].kind == FactKind::Update)
        .collect();
    let (old, new) = (updates[0], updates[1]);
    conv.facts[old].supersedes = Some(conv.facts[new].id.clone());
    let text = format!("\n{}", write_jsonl(std::slice::from_ref(&conv)));
    let err = read_jsonl(&text).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("line 2: conversation `{}`: fact `", conv.id))
            && err.contains("supersedes itself")
            && err.contains("corpus generate"),
        "{err}"
    );
    conv.facts[old].supersedes = Some(conv.facts[old].id.clone());
    let err = read_jsonl(&write_jsonl(std::slice::from_ref(&conv)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("supersedes itself"), "{err}");
    conv.facts[old].supersedes = Some("nope".to_owned());
    let err = read_jsonl(&write_jsonl(std::slice::from_ref(&conv)))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("supersedes `nope`, which is not a fact"),
        "{err}"
    );
}

#[test]
fn facts_name_messages_that_exist_by_unique_ids() {
    let good = generate(Profile::Coding, 1, MIN_TURNS, 9).remove(0);
    let n = good.messages.len();
    let mut conv = good.clone();
    conv.facts[0].message = n;
    let err = read_jsonl(&write_jsonl(&[conv])).unwrap_err().to_string();
    assert!(
        err.contains(&format!("is in message {n}, but there are {n} messages")),
        "{err}"
    );
    let mut conv = good.clone();
    conv.facts[1].id = conv.facts[0].id.clone();
    let err = read_jsonl(&write_jsonl(&[conv])).unwrap_err().to_string();
    assert!(err.contains("is used twice"), "{err}");
    let mut conv = good;
    conv.decoys[0].message = usize::MAX;
    let err = read_jsonl(&write_jsonl(&[conv])).unwrap_err().to_string();
    assert!(err.contains("decoy `"), "{err}");
}

#[test]
fn a_bad_record_says_the_column_not_line_1() {
    let err = read_jsonl("{\"messages\": []}\n{\"messages\": [\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "line 2: not a conversation record (EOF while parsing a list at column 14)"
        ),
        "{err}"
    );
}

mod proptests {
    //! Any text, and a generated line with one value replaced, removed or added, is read or
    //! refused by its line, never a panic; what is read replays through the evaluation.

    use proptest::prelude::*;
    use proptest::sample::Index;
    use scenario::{Compression, Tokenizer, Trigger};
    use serde_json::{Map, Value};

    use super::*;
    use crate::eval;

    const KEYS: [&str; 16] = [
        "id",
        "messages",
        "role",
        "content",
        "tool_calls",
        "tool_call_id",
        "name",
        "function",
        "arguments",
        "type",
        "facts",
        "kind",
        "message",
        "supersedes",
        "decoys",
        "near",
    ];

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (0u64..40).prop_map(Value::from),
            prop::num::f64::NORMAL.prop_map(Value::from),
            prop::sample::select(vec![
                "",
                "user",
                "assistant",
                "tool",
                "system",
                "developer",
                "robot",
                "call_0",
                "f0",
                "f1",
                "update",
                "file",
                "function",
            ])
            .prop_map(Value::from),
            "\\PC{0,10}".prop_map(Value::from),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    fn pointers(v: &Value, here: &str, out: &mut Vec<String>) {
        let children: Vec<(String, &Value)> = match v {
            Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            _ => Vec::new(),
        };
        for (k, child) in children {
            let p = format!("{here}/{k}");
            out.push(p.clone());
            pointers(child, &p, out);
        }
    }

    /// A generated conversation's line with one value replaced (`Some`) or removed (`None`).
    fn mutated(profile: usize, seed: u64, which: Index, new: Option<Value>) -> String {
        let conv = generate(Profile::ALL[profile], 1, MIN_TURNS, seed);
        let mut doc: Value =
            serde_json::from_str(write_jsonl(&conv).trim_end()).expect("a record is JSON");
        let mut all = Vec::new();
        pointers(&doc, "", &mut all);
        let at = &all[which.index(all.len())];
        match new {
            Some(v) => {
                *doc.pointer_mut(at).expect("the pointer was just listed") = v;
            }
            None => {
                let (parent, last) = at.rsplit_once('/').expect("a pointer has a step");
                match doc.pointer_mut(parent) {
                    Some(Value::Object(o)) => {
                        o.remove(last);
                    }
                    Some(Value::Array(a)) => {
                        a.remove(last.parse::<usize>().expect("an array index"));
                    }
                    _ => {}
                }
            }
        }
        doc.to_string()
    }

    /// `text` is read, and replays through two strategies; or refused by a line it has.
    fn holds(text: &str) -> Result<(), TestCaseError> {
        match read_jsonl(text) {
            Ok(corpus) => {
                let base = Compression {
                    tokenizer: Tokenizer::Chars,
                    trigger: Trigger::Tokens(300),
                    ..Compression::default()
                };
                let pipelines = [
                    "window".parse().expect("a known strategy"),
                    "observation-masking+rolling-summary"
                        .parse()
                        .expect("known strategies"),
                ];
                let rows = eval::rows(&base, &pipelines, &[]);
                // The last conversation is the one a test varies.
                let _ = eval::evaluate(&corpus[corpus.len() - 1..], &rows);
                Ok(())
            }
            Err(CorpusError::Empty) => {
                prop_assert!(text.lines().all(|l| l.trim().is_empty()));
                Ok(())
            }
            Err(e) => {
                let message = e.to_string();
                let line: usize = message
                    .strip_prefix("line ")
                    .and_then(|rest| rest.split(':').next())
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| TestCaseError::fail(format!("no line: {message}")))?;
                prop_assert!((1..=text.lines().count()).contains(&line), "{}", message);
                prop_assert!(!text.lines().nth(line - 1).unwrap_or("").trim().is_empty());
                Ok(())
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_text_is_a_corpus_or_an_error_naming_its_line(text in "\\PC{0,120}") {
            holds(&text)?;
        }

        #[test]
        fn any_json_line_is_a_record_or_an_error_naming_its_line(v in value()) {
            holds(&format!("\n{v}\n"))?;
        }

        #[test]
        fn a_generated_line_with_one_value_changed(
            profile in 0..Profile::ALL.len(),
            seed in 0u64..1000,
            which in any::<Index>(),
            new in prop::option::weighted(0.9, prop_oneof![3 => leaf(), 1 => value()]),
        ) {
            let line = mutated(profile, seed, which, new);
            let good = write_jsonl(&generate(Profile::Chat, 1, MIN_TURNS, 1));
            holds(&format!("{good}{line}\n"))?;
        }
    }
}
