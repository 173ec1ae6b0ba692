use std::collections::BTreeSet;

use super::*;
use crate::invariants;
use crate::tokens::CharsPerToken;

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
