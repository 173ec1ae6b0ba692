//! `[compression] zstd_dictionary`: the one zstd dictionary a fleet's cold stores share,
//! trained before the run on samples of what the run will offload. The mock's tool outputs
//! and the agents' messages are generated from seeded words, so samples drawn from the
//! scenario's own distributions (tool `response_tokens`, `user_message_tokens`) with a seed of
//! their own look like the spans the run stores without being any of them.

use conversation::cold::{ColdError, Dictionary};
use conversation::{CharsPerToken, Message, ToolCall};
use scenario::rng::SimRng;
use scenario::{Scenario, text};

/// Samples per byte of dictionary: zstd's advice is about 100 times its size in total.
const SAMPLE_BYTES_PER_DICTIONARY_BYTE: usize = 100;

/// The stream the samples are drawn from, apart from every agent's and the mock's.
const SAMPLES_STREAM: u64 = 0x5a_57_44_49_43_54;

/// The run's dictionary: `None` when `zstd_dictionary` is 0.
pub(crate) fn train(scenario: &Scenario) -> Result<Option<Dictionary>, ColdError> {
    let size = scenario.compression.zstd_dictionary as usize;
    if size == 0 {
        return Ok(None);
    }
    // Trained once for the run, before any agent: the harness's, charged as shared heap.
    heap::shared(|| Dictionary::train(&samples(scenario, size), size).map(Some))
}

/// Messages like the run's, serialized as the cold store writes them, totalling about
/// [`SAMPLE_BYTES_PER_DICTIONARY_BYTE`] times `size`: tool rounds of every scenario tool in
/// turn (the call, its output) and user messages.
fn samples(scenario: &Scenario, size: usize) -> Vec<Vec<u8>> {
    let mut rng = SimRng::derive(scenario.seed, &[SAMPLES_STREAM]);
    let tools: Vec<_> = scenario.session_tools();
    // Counts only label the samples here: the cold store serializes text, not counts.
    let counter = CharsPerToken(4.0);
    let want = size * SAMPLE_BYTES_PER_DICTIONARY_BYTE;
    let mut messages = Vec::new();
    let mut total = 0;
    let mut i = 0usize;
    while total < want && i < 1_000_000 {
        let m = match tools.get(i % (tools.len() + 1)) {
            Some((name, tool)) => {
                let tokens = tool.mock.response_tokens.sample(&mut rng).0;
                let id = format!("call_{:012x}00", rng.next_u64() >> 16);
                let call = ToolCall {
                    id: id.clone(),
                    name: (*name).to_owned(),
                    arguments: format!(r#"{{"query":"{}"}}"#, text::words(&mut rng, 3)),
                };
                messages.push(Message::assistant("", vec![call], &counter));
                Message::tool(id, *name, tokencount::words(&mut rng, tokens), &counter)
            }
            None => {
                let tokens = scenario.session.user_message_tokens.sample(&mut rng).0;
                Message::user(text::words(&mut rng, tokens), &counter)
            }
        };
        // Text and about 100 bytes of JSON around it (role, ids, the call).
        total += m.content.len() + 100;
        messages.push(m);
        i += 1;
    }
    Dictionary::samples_of(&messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_dictionary_unless_asked() {
        assert!(train(&Scenario::default()).unwrap().is_none());
    }

    #[test]
    fn a_dictionary_of_the_size_asked_from_the_scenario_alone() {
        let s = Scenario::from_toml(
            "seed = 3\n[tools.search]\nargs = { query = \"string\" }\nmock = { response_tokens = 200 }\n[compression]\nzstd_dictionary = 4096\n",
            "t",
        )
        .unwrap();
        let a = train(&s).unwrap().expect("asked for");
        assert!(a.as_bytes().len() <= 4096 && a.as_bytes().len() > 1024);
        // The same scenario, the same dictionary: runs stay deterministic.
        assert_eq!(train(&s).unwrap().unwrap().as_bytes(), a.as_bytes());
    }
}
