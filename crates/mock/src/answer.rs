//! Planning one chat answer: what it says (text or tool calls), how many tokens it has, and
//! when each token comes out. The plan is a pure function of the mock's seed and the request
//! bytes, so the same request always gets the same answer.

use scenario::compression::RECALL_TOOL;
use scenario::rng::{self, SimRng, stream};
use scenario::text;

use crate::args;
use crate::attribution::SessionMarker;
use crate::config::MockConfig;
use crate::latency::Timing;
use crate::popularity;
use crate::tokens;
use crate::wire::{ChatRequest, FinishReason, ToolChoice};

/// Bytes of tool-call arguments streamed per token.
const ARGUMENT_PIECE: usize = 4;

/// A planned answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// `chatcmpl-…`, derived from the request.
    pub id: String,
    /// The model named in the request.
    pub model: String,
    /// The text, one word per token (empty when the answer calls tools).
    pub words: Vec<&'static str>,
    /// The tool calls asked for.
    pub tool_calls: Vec<PlannedCall>,
    /// Why the answer ends.
    pub finish_reason: FinishReason,
    /// Prompt tokens counted from the request.
    pub prompt_tokens: u32,
    /// When the tokens come out.
    pub timing: Timing,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// Whether the stream ends with a usage chunk.
    pub include_usage: bool,
}

/// One tool call of an answer.
#[derive(Clone, Debug)]
pub struct PlannedCall {
    /// `call_…`.
    pub id: String,
    /// The function name.
    pub name: String,
    /// The JSON arguments.
    pub arguments: String,
}

/// One token of a streamed answer, by position in the [`Answer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Emission {
    /// Word `i` of the text.
    Word(usize),
    /// Opens tool call `i` with its id and name.
    CallStart(usize),
    /// Bytes `start..end` of tool call `call`'s arguments.
    CallArgs {
        call: usize,
        start: usize,
        end: usize,
    },
}

/// What an answer is planned from: the request (all of it but its messages is read), the
/// hash of its body, its prompt tokens and whether its last message is a tool result. The
/// router reads all of it from the body; the direct path from a [`crate::PromptDigest`] and a
/// [`crate::RequestFrame`], which give the same values for the same request.
#[derive(Debug)]
pub(crate) struct Planning<'a> {
    /// The request; its `messages` may be empty (the direct path's frame).
    pub(crate) req: &'a ChatRequest,
    /// `rng::BodyHash` of the request body: the answer's seed and id.
    pub(crate) body_hash: u64,
    /// `tokens::prompt_tokens` of the request.
    pub(crate) prompt_tokens: u32,
    /// The last message is a tool result.
    pub(crate) after_tools: bool,
    /// The session marker the request carries, while attribution is on: the tool calls'
    /// string arguments carry it back (`crate::args`). None on the direct paths.
    pub(crate) marker: Option<SessionMarker>,
    /// The conversation's earlier tool calls (name, arguments) when `req` has no messages
    /// (the direct path's frame), for argument reuse (`crate::popularity`); empty otherwise.
    pub(crate) earlier: &'a [(&'a str, &'a str)],
}

impl<'a> Planning<'a> {
    /// The planning of a whole request, parsed from a body hashing to `body_hash`.
    pub(crate) fn of(config: &MockConfig, req: &'a ChatRequest, body_hash: u64) -> Self {
        Self {
            req,
            body_hash,
            prompt_tokens: tokens::prompt_tokens(config.llm.tokenizer, req),
            after_tools: req.messages.last().is_some_and(|m| m.role == "tool"),
            marker: None,
            earlier: &[],
        }
    }
}

impl Answer {
    /// Plans the answer to a chat request body.
    pub fn plan(config: &MockConfig, body: &[u8]) -> Result<Answer, serde_json::Error> {
        let req: ChatRequest = serde_json::from_slice(body)?;
        let planning = Planning::of(config, &req, rng::BodyHash::of(body));
        Ok(Self::plan_parsed(config, &planning))
    }

    pub(crate) fn plan_parsed(config: &MockConfig, planning: &Planning<'_>) -> Answer {
        let &Planning {
            req,
            body_hash,
            prompt_tokens,
            ..
        } = planning;
        let llm = &config.llm;
        let mut rng = SimRng::derive(config.seed, &[stream::MOCK_RESPONSE, body_hash]);
        let wanted = llm.output_tokens.sample(&mut rng).0;
        let tool_calls = plan_tool_calls(config, planning, &mut rng);
        let (words, finish_reason) = if tool_calls.is_empty() {
            let (n, reason) = match req.max_output() {
                Some(max) if max < wanted => (max, FinishReason::Length),
                _ => (wanted, FinishReason::Stop),
            };
            ((0..n).map(|_| text::word(&mut rng)).collect(), reason)
        } else {
            (Vec::new(), FinishReason::ToolCalls)
        };
        let mut answer = Answer {
            id: format!("chatcmpl-{body_hash:016x}"),
            model: req.model.clone(),
            words,
            tool_calls,
            finish_reason,
            prompt_tokens,
            timing: Timing {
                prefill: Default::default(),
                base: Default::default(),
                gaps: Vec::new(),
            },
            stream: req.stream.unwrap_or(false),
            include_usage: req.stream_options.as_ref().is_some_and(|o| o.include_usage),
        };
        answer.timing = Timing::draw(llm, &mut rng, prompt_tokens, answer.emission_count());
        answer
    }

    /// Completion tokens: one per emitted token.
    pub fn completion_tokens(&self) -> u32 {
        u32::try_from(self.emission_count()).unwrap_or(u32::MAX)
    }

    pub(crate) fn emission_count(&self) -> usize {
        // Arguments are ASCII JSON from `args`, so every piece is ARGUMENT_PIECE bytes but
        // the last; `emissions()` agrees (a test checks).
        self.words.len()
            + self
                .tool_calls
                .iter()
                .map(|c| 1 + c.arguments.len().div_ceil(ARGUMENT_PIECE))
                .sum::<usize>()
    }

    /// The tokens in the order they are streamed.
    pub(crate) fn emissions(&self) -> Vec<Emission> {
        let mut out: Vec<Emission> = (0..self.words.len()).map(Emission::Word).collect();
        for (call, planned) in self.tool_calls.iter().enumerate() {
            out.push(Emission::CallStart(call));
            let args = &planned.arguments;
            let mut start = 0;
            while start < args.len() {
                let mut end = (start + ARGUMENT_PIECE).min(args.len());
                while !args.is_char_boundary(end) {
                    end += 1;
                }
                out.push(Emission::CallArgs { call, start, end });
                start = end;
            }
        }
        out
    }

    /// Words in the text.
    pub fn word_count(&self) -> u32 {
        u32::try_from(self.words.len()).unwrap_or(u32::MAX)
    }

    /// The whole text, words joined by spaces.
    pub fn text(&self) -> String {
        self.words.join(" ")
    }
}

fn plan_tool_calls(
    config: &MockConfig,
    planning: &Planning<'_>,
    rng: &mut SimRng,
) -> Vec<PlannedCall> {
    let &Planning {
        req,
        body_hash,
        after_tools,
        marker,
        ..
    } = planning;
    let llm = &config.llm;
    let choice = req.tool_choice();
    let offered: Vec<_> = req
        .tools()
        .iter()
        .filter(|t| match &choice {
            ToolChoice::Named(name) => &t.function.name == name,
            _ => true,
        })
        .collect();
    // One draw whatever the outcome keeps later draws aligned across requests.
    let roll = rng.next_f64();
    if choice == ToolChoice::None {
        return Vec::new();
    }
    // The agent's recall tool is decided apart, by a draw of its own taken only when it is
    // offered, and is never one of the other picks.
    let (recall, offered): (Vec<_>, Vec<_>) = offered
        .into_iter()
        .partition(|t| t.function.name == RECALL_TOOL);
    if let Some(recall) = recall.first()
        && rng.next_f64() < config.recall_probability
    {
        return vec![PlannedCall {
            id: format!("call_{:012x}00", body_hash >> 16),
            name: RECALL_TOOL.to_owned(),
            arguments: args::generate(recall.function.parameters.as_ref(), rng, marker),
        }];
    }
    if offered.is_empty() {
        return Vec::new();
    }
    let p = if after_tools {
        llm.tool_followup_probability.0
    } else {
        llm.tool_call_probability.0
    };
    let forced = matches!(choice, ToolChoice::Required | ToolChoice::Named(_));
    if !forced && roll >= p {
        return Vec::new();
    }
    let most = u64::from(llm.max_tool_calls).min(offered.len() as u64);
    let count = rng.range_inclusive(1, most.max(1));
    let mut weights: Vec<f64> = offered
        .iter()
        .map(|t| config.tools.get(&t.function.name).map_or(1.0, |b| b.weight))
        .collect();
    let mut calls = Vec::new();
    for i in 0..count {
        let Some(pick) = rng.weighted_index(&weights) else {
            break;
        };
        weights[pick] = 0.0;
        let spec = &offered[pick].function;
        calls.push(PlannedCall {
            id: format!("call_{:012x}{i:02}", body_hash >> 16),
            name: spec.name.clone(),
            arguments: popularity::call_arguments(config, planning, spec, rng),
        });
    }
    calls
}

#[cfg(test)]
mod recall_tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::tests::config;

    fn body(user: &str, recall: bool) -> Vec<u8> {
        let search = json!({"type": "function", "function": {"name": "search",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}});
        let mut tools = vec![search];
        if recall {
            tools.push(json!({"type": "function", "function": {"name": RECALL_TOOL,
                "parameters": {"type": "object", "properties":
                    {"handle": {"type": "integer", "enum": [0, 1, 2]}}}}}));
        }
        serde_json::to_vec(&json!({"model": "m", "tools": tools,
            "messages": [{"role": "user", "content": user}]}))
        .unwrap()
    }

    fn cfg(tool_call: f64, recall: f64) -> MockConfig {
        config(&format!(
            "[tools.search]\nargs = {{ query = \"string\" }}\n[mock]\ntool_call_probability = {tool_call}\n[compression]\nrecall_probability = {recall}\n"
        ))
    }

    fn calls(cfg: &MockConfig, recall: bool) -> Vec<Vec<PlannedCall>> {
        (0..200)
            .map(|i| {
                Answer::plan(cfg, &body(&format!("question {i}"), recall))
                    .unwrap()
                    .tool_calls
            })
            .collect()
    }

    #[test]
    fn the_recall_tool_is_called_at_its_probability_with_an_offered_handle() {
        let always = calls(&cfg(0.0, 1.0), true);
        for c in &always {
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].name, RECALL_TOOL);
            let args: Value = serde_json::from_str(&c[0].arguments).unwrap();
            assert!(args["handle"].as_u64().is_some_and(|h| h <= 2), "{args}");
        }
        let some = calls(&cfg(0.0, 0.3), true);
        let recalled = some.iter().filter(|c| !c.is_empty()).count();
        assert!((30..=90).contains(&recalled), "{recalled} of 200");
    }

    #[test]
    fn recall_is_never_one_of_the_other_picks() {
        for c in calls(&cfg(1.0, 0.0), true) {
            assert!(c.iter().all(|c| c.name == "search"), "{c:?}");
            assert_eq!(c.len(), 1);
        }
    }

    #[test]
    fn requests_without_the_recall_tool_are_answered_as_before() {
        let text = |cfg: &MockConfig| {
            (0..50)
                .map(|i| {
                    let a = Answer::plan(cfg, &body(&format!("q {i}"), false)).unwrap();
                    format!("{} {:?}", a.text(), a.tool_calls)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(text(&cfg(0.5, 0.0)), text(&cfg(0.5, 0.9)));
    }
}
