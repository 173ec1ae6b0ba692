use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessageContent,
};
use scenario::{Pipeline, SimRng, StrategyName, text};

use super::*;

/// What driving a scripted conversation through [`History`] gave.
#[derive(Debug, Default)]
struct Outcome {
    compressions: u32,
    removed: u64,
    tokens: u64,
    memory: u64,
}

fn compression(strategy: &str) -> scenario::Compression {
    scenario::Compression {
        strategy: strategy.parse::<Pipeline>().unwrap(),
        trigger: scenario::Trigger::Tokens(1_500),
        keep_last: 6,
        mask_keep_last: 2,
        clip_tokens: 60,
        ..scenario::Compression::default()
    }
}

/// Lends the prompt as a request would (`lend` checks it), shows it to `f`, takes it back.
fn call<T>(h: &mut History, f: impl FnOnce(&[ChatCompletionRequestMessage]) -> T) -> T {
    let prompt = h.lend();
    let seen = f(&prompt);
    h.give_back(prompt);
    seen
}

/// Twelve turns of a tool-using agent: user, two tool calls with long outputs, an answer;
/// compression before every LLM call, as the scripted agent does.
fn drive(strategy: &str) -> Outcome {
    let mut rng = SimRng::for_agent(3, 1);
    let mut h = History::new(&compression(strategy), &text::words(&mut rng, 200));
    let mut out = Outcome::default();
    let llm_call = |h: &mut History, out: &mut Outcome| {
        if let Some(done) = h.compress() {
            out.compressions += 1;
            out.removed += done.tokens_before - done.tokens_after;
        }
        call(h, |_| ());
    };
    for turn in 0..12 {
        h.user(&text::words(&mut rng, 40));
        llm_call(&mut h, &mut out);
        let calls: Vec<clients::ToolCall> = (0..2)
            .map(|i| clients::ToolCall {
                id: format!("call_{turn}_{i}"),
                name: "search".to_owned(),
                arguments: format!("{{\"query\":\"q{turn}\"}}"),
            })
            .collect();
        h.assistant("", &calls);
        for c in &calls {
            h.tool_result(&c.id, &c.name, &text::words(&mut rng, 150));
        }
        llm_call(&mut h, &mut out);
        h.assistant(&text::words(&mut rng, 30), &[]);
    }
    out.tokens = h.tokens();
    out.memory = h.memory_bytes();
    out
}

#[test]
fn every_strategy_keeps_the_prompt_valid_and_in_step() {
    // `lend` checks every prompt: no invariant broken, equal to the conversation converted.
    // A none-only pipeline never runs, though the trigger fires (issue 15): no compression
    // that removes nothing is counted.
    let none = drive("none");
    assert_eq!(none.compressions, 0, "{none:?}");
    assert_eq!(none.removed, 0);
    for strategy in StrategyName::ALL
        .map(StrategyName::as_str)
        .into_iter()
        .chain(["observation-masking+rolling-summary"])
    {
        let out = drive(strategy);
        // Every other strategy runs when the trigger fires.
        assert_eq!(
            out.compressions > 0,
            strategy != "none",
            "{strategy}: {out:?}"
        );
        // dedup finds no repeated output here, supersede no call made again in a later turn;
        // every other strategy shrinks the prompt.
        if !["none", "dedup", "supersede"].contains(&strategy) {
            assert!(
                out.removed > 0 && out.tokens < none.tokens && out.memory < none.memory,
                "{strategy}: {out:?} vs none {none:?}"
            );
        }
    }
}

fn system_text(m: &ChatCompletionRequestMessage) -> *const u8 {
    match m {
        ChatCompletionRequestMessage::System(s) => match &s.content {
            ChatCompletionRequestSystemMessageContent::Text(t) => t.as_ptr(),
            ChatCompletionRequestSystemMessageContent::Array(_) => std::ptr::null(),
        },
        _ => std::ptr::null(),
    }
}

#[test]
fn a_compression_converts_again_only_from_the_first_changed_message() {
    let mut rng = SimRng::for_agent(3, 2);
    let mut h = History::new(&compression("observation-masking"), "You help.");
    h.user(&text::words(&mut rng, 20));
    let system = call(&mut h, |prompt| system_text(&prompt[0]));
    assert!(!system.is_null());
    let mut masks = 0;
    for turn in 0..6 {
        let read = clients::ToolCall {
            id: format!("call_{turn}"),
            name: "read_file".to_owned(),
            arguments: "{}".to_owned(),
        };
        h.assistant("", std::slice::from_ref(&read));
        h.tool_result(&read.id, &read.name, &text::words(&mut rng, 400));
        let masked = h.compress().is_some();
        let (text, json) = call(&mut h, |prompt| {
            (
                system_text(&prompt[0]),
                serde_json::to_string(prompt).unwrap(),
            )
        });
        // The system prompt was converted once: its text is the same allocation.
        assert_eq!(text, system, "turn {turn}");
        masks += u32::from(masked);
        assert!(
            !masked || json.contains("[output of read_file omitted"),
            "{json}"
        );
    }
    assert!(
        masks > 0 && h.bytes() < 3 * 400 * 8,
        "older outputs were masked"
    );
}

#[test]
fn sizes_count_the_conversation_and_the_converted_prompt() {
    let mut h = History::new(
        &scenario::Compression::default(),
        "You are a support agent.",
    );
    h.user("where is my order");
    let bare = h.memory_bytes();
    call(&mut h, |_| ());
    assert!(
        h.memory_bytes() > bare + (2 * std::mem::size_of::<ChatCompletionRequestMessage>()) as u64,
        "the converted prompt counts"
    );
    assert_eq!(h.bytes(), 24 + 17);
    assert_eq!(h.tokens(), 2 * 3 + 6 + 4);
}

#[test]
fn an_llm_summary_replaces_the_extractive_one_and_the_prompt_follows() {
    let mut rng = SimRng::for_agent(3, 1);
    let c = scenario::Compression {
        summarizer: scenario::Summarizer::Llm,
        ..compression("rolling-summary")
    };
    let (summarizer, pending) = crate::summary::summarizer(&c);
    let pending = pending.expect("a slot for the llm summarizer");
    let mut h = History::with_summarizer(&c, &text::words(&mut rng, 200), summarizer);
    let mut summaries = 0;
    for turn in 0..12 {
        h.user(&text::words(&mut rng, 40));
        h.assistant(&format!("order ORD-{turn:04}-X"), &[]);
        h.user(&text::words(&mut rng, 150));
        call(&mut h, |_| ());
        let compressed = h.compress().is_some();
        let Some(request) = h.summary_request(&pending) else {
            continue;
        };
        assert!(compressed && request.tools.is_empty());
        let written = format!("the LLM's summary {turn}");
        h.replace_summary(&written);
        summaries += 1;
        // `lend` checks the prompt: the invariants hold and it is the conversation, converted.
        call(&mut h, |_| ());
        let summary = h
            .conversation
            .messages()
            .iter()
            .find(|m| m.origin == conversation::Origin::Summary)
            .expect("a summary after a summary request");
        assert_eq!(
            summary.content,
            format!("Summary of earlier conversation:\n{written}")
        );
        let prompt = h.conversation.assemble(&[]);
        assert_eq!(conversation::invariants::check(&prompt), vec![]);
        // Taken once.
        assert!(h.summary_request(&pending).is_none());
    }
    assert!(summaries > 1, "{summaries}");
}

#[test]
fn the_extractive_summarizer_asks_for_nothing() {
    assert!(
        crate::summary::summarizer(&compression("rolling-summary"))
            .1
            .is_none()
    );
}
