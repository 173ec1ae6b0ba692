//! Chat requests handed over as data: [`MockServer::chat_direct_digest`].
//!
//! Why: an agent resends its whole conversation on every call, so serializing each request
//! body, hashing it (the answer's seed) and parsing it again in the mock grew with the square
//! of a conversation's length and was most of a virtual run's cost. A body is the opening
//! `{"messages":[`, the messages' JSON separated by commas, and the rest of the request (the
//! frame's tail: `],"model":…}`), and both its hash (`BodyHash`, a running state) and its prompt
//! tokens (a sum over messages) can be carried forward message by message. So a caller folds
//! each message in once ([`MockServer::fold_message`], or [`MockServer::fold_counted`] with
//! the message's texts read from the caller's own type) and keeps the [`PromptDigest`] beside
//! its conversation; a call then costs the frame's tail, whatever the conversation's length.
//! The answer is the one the router gives for the whole body: the same bytes hashed, each
//! message parsed and counted by the same code.

use scenario::Tokenizer;
use scenario::rng::BodyHash;
use serde::de::Error as _;

use crate::answer::Planning;
use crate::app::{MockServer, Rejection, bad_request};
use crate::attribution::Watch;
use crate::chat::{admit_planned, empty};
use crate::direct::{ChatDelivery, deliver};
use crate::stats::{LlmApi, key_fingerprint};
use crate::tokens;
use crate::wire::{ChatRequest, Message};

/// The bytes of a body before its first message: a request serializes `messages` first
/// (async-openai's `CreateChatCompletionRequest` does).
const OPENING: &[u8] = b"{\"messages\":[";

/// A conversation's state after one of its messages.
#[derive(Clone, Copy, Debug)]
struct Fold {
    /// The running hash of the body from its opening through this message.
    hash: BodyHash,
    /// Prompt tokens of the messages through this one (without the reply's priming).
    tokens: u32,
    /// This message is a tool result.
    tool: bool,
}

/// Appends the message `json` that costs `cost` prompt tokens to `digest`.
fn push(digest: &mut PromptDigest, json: &[u8], cost: u32, tool: bool) {
    let fold = match digest.folds.last() {
        None => Fold {
            hash: BodyHash::new().fed(OPENING).fed(json),
            tokens: cost,
            tool,
        },
        Some(prev) => Fold {
            hash: prev.hash.fed(b",").fed(json),
            tokens: prev.tokens.saturating_add(cost),
            tool,
        },
    };
    digest.folds.push(fold);
}

/// What the mock counts of one message, as the caller reads it from its own message type:
/// [`MockServer::fold_counted`].
#[derive(Clone, Copy, Debug)]
pub struct MessageParts<'a, I> {
    /// The role is `tool`.
    pub tool: bool,
    /// `content`, a string (`None` when absent).
    pub content: Option<&'a str>,
    /// `name`.
    pub name: Option<&'a str>,
    /// `tool_calls`: each one's function name and arguments.
    pub tool_calls: I,
}

/// A conversation's messages as the mock reads them, folded in once each: what the mock
/// needs of a request's messages (the hash of the body so far, prompt tokens, the last
/// message's role) without the messages. Keep one beside a conversation, fold in each message
/// as it is added ([`MockServer::fold_message`]), and [`PromptDigest::truncate`] it to the
/// messages that stay when the conversation is rewritten.
#[derive(Clone, Debug, Default)]
pub struct PromptDigest {
    /// The tokenizer the counts are in: the mock's that folded them.
    tokenizer: Option<Tokenizer>,
    folds: Vec<Fold>,
}

impl PromptDigest {
    /// A digest of no messages.
    pub fn new() -> Self {
        Self::default()
    }

    /// Messages folded in.
    pub fn len(&self) -> usize {
        self.folds.len()
    }

    /// No message folded in.
    pub fn is_empty(&self) -> bool {
        self.folds.is_empty()
    }

    /// Keeps the first `messages` messages (all when there are fewer).
    pub fn truncate(&mut self, messages: usize) {
        self.folds.truncate(messages);
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.folds.capacity() * std::mem::size_of::<Fold>()
    }
}

/// Everything of a request but its messages, read once and reused for every call that sends
/// the same model, tools and options: the request parsed, the bytes after its messages, and
/// the tokens of its tool definitions. Made by [`MockServer::request_frame`].
#[derive(Debug)]
pub struct RequestFrame {
    /// The request, its `messages` empty.
    req: ChatRequest,
    /// The body after the opening: `]` and the fields after `messages`.
    tail: Vec<u8>,
    tokenizer: Tokenizer,
    /// `tokens::tools_tokens` of the request's tools.
    tools_tokens: u32,
}

impl MockServer {
    /// Messages of `digest` this mock can use, from its first: all of them, unless they were
    /// counted under another tokenizer (then none, and the digest starts over).
    pub fn digest_ready(&self, digest: &mut PromptDigest) -> usize {
        let tokenizer = self.shared.config.llm.tokenizer;
        if digest.tokenizer != Some(tokenizer) {
            digest.folds.clear();
            digest.tokenizer = Some(tokenizer);
        }
        digest.folds.len()
    }

    /// Whether this mock reads `digest` as it is: its counts are in this mock's tokenizer.
    pub fn reads(&self, digest: &PromptDigest) -> bool {
        digest.tokenizer == Some(self.shared.config.llm.tokenizer)
    }

    /// Folds the next message into `digest`: `json` is the message as a request body carries
    /// it (the compact JSON of one element of `messages`). Fails, leaving `digest` as it was,
    /// when the router would reject a body with this message as unreadable.
    pub fn fold_message(
        &self,
        digest: &mut PromptDigest,
        json: &[u8],
    ) -> Result<(), serde_json::Error> {
        self.digest_ready(digest);
        let message: Message = serde_json::from_slice(json)?;
        let cost = tokens::message_tokens(self.shared.config.llm.tokenizer, &message);
        push(digest, json, cost, message.role == "tool");
        Ok(())
    }

    /// [`MockServer::fold_message`] for a message whose parts the caller read from its own
    /// message type rather than from `json`, which the mock then only hashes: parsing each
    /// message again cost a twentieth of a virtual run. `parts` must be what `json` carries
    /// (debug builds parse `json` and check).
    pub fn fold_counted<'a>(
        &self,
        digest: &mut PromptDigest,
        json: &[u8],
        parts: MessageParts<'a, impl IntoIterator<Item = (&'a str, &'a str)>>,
    ) {
        self.digest_ready(digest);
        let tokenizer = self.shared.config.llm.tokenizer;
        let cost = tokens::parts_tokens(tokenizer, parts.content, parts.name, parts.tool_calls);
        #[cfg(debug_assertions)]
        {
            let message: Message =
                serde_json::from_slice(json).expect("a message the caller read is valid JSON");
            assert_eq!(
                (cost, parts.tool),
                (
                    tokens::message_tokens(tokenizer, &message),
                    message.role == "tool"
                ),
                "the parts are the message's: {}",
                String::from_utf8_lossy(json)
            );
        }
        push(digest, json, cost, parts.tool);
    }

    /// Reads the frame of requests: `body` is a request body whose `messages` is empty and
    /// comes first (`{"messages":[],…}`).
    pub fn request_frame(&self, body: &[u8]) -> Result<RequestFrame, serde_json::Error> {
        let req: ChatRequest = serde_json::from_slice(body)?;
        let tail = body
            .strip_prefix(OPENING)
            .filter(|tail| tail.starts_with(b"]") && req.messages.is_empty())
            .ok_or_else(|| {
                serde_json::Error::custom("a request frame starts with an empty `messages`")
            })?;
        let tokenizer = self.shared.config.llm.tokenizer;
        Ok(RequestFrame {
            tools_tokens: tokens::tools_tokens(tokenizer, req.tools()),
            tail: tail.to_vec(),
            tokenizer,
            req,
        })
    }

    /// [`MockServer::chat_direct`] for the body made of `digest`'s messages in `frame`: the
    /// same answer, `/stats`, faults and timing, without the body.
    pub async fn chat_direct_digest(
        &self,
        digest: &PromptDigest,
        frame: &RequestFrame,
        api_key: Option<&str>,
    ) -> Result<ChatDelivery, Rejection> {
        self.chat_direct_digest_as(LlmApi::Chat, digest, frame, api_key)
            .await
    }

    /// [`MockServer::chat_direct_digest`] for a call that stands for a request to `api`, as
    /// [`MockServer::chat_direct_as`].
    pub async fn chat_direct_digest_as(
        &self,
        api: LlmApi,
        digest: &PromptDigest,
        frame: &RequestFrame,
        api_key: Option<&str>,
    ) -> Result<ChatDelivery, Rejection> {
        self.chat_direct_digest_calls(api, digest, frame, &[], api_key)
            .await
    }

    /// [`MockServer::chat_direct_digest_as`] with the conversation's earlier tool calls
    /// (function name, arguments), which a body's messages would carry: when
    /// [`MockServer::reuses_arguments`], an answer may repeat one of them, and without them
    /// it cannot be the body's answer.
    pub async fn chat_direct_digest_calls(
        &self,
        api: LlmApi,
        digest: &PromptDigest,
        frame: &RequestFrame,
        earlier: &[(&str, &str)],
        api_key: Option<&str>,
    ) -> Result<ChatDelivery, Rejection> {
        let s = &*self.shared;
        let Some(last) = digest.folds.last() else {
            return Err(empty());
        };
        let tokenizer = s.config.llm.tokenizer;
        if digest.tokenizer != Some(tokenizer) || frame.tokenizer != tokenizer {
            return Err(bad_request(format!(
                "the request was read for the tokenizer {:?}, not this mock's {tokenizer:?}: \
                 read it again with this mock",
                digest.tokenizer.unwrap_or(frame.tokenizer)
            )));
        }
        let planning = Planning {
            req: &frame.req,
            body_hash: last.hash.fed(&frame.tail).finish(),
            prompt_tokens: tokens::total_tokens(last.tokens, frame.tools_tokens),
            after_tools: last.tool,
            marker: None,
            earlier,
        };
        let key = key_fingerprint(api_key);
        let admitted = admit_planned(s, api, &planning, &key, &mut Watch::off()).await?;
        deliver(s, admitted).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::Answer;
    use tokio::time::Instant;

    use crate::tests::{FAST, chat_body, config};

    /// `body` split into its messages and its frame, folded and read by `server`.
    fn split(server: &MockServer, body: &[u8]) -> (PromptDigest, RequestFrame) {
        let mut value: Value = serde_json::from_slice(body).expect("JSON");
        let messages = value["messages"].take();
        value["messages"] = json!([]);
        let mut digest = PromptDigest::new();
        for m in messages.as_array().expect("messages") {
            let json = serde_json::to_vec(m).expect("serializes");
            server.fold_message(&mut digest, &json).expect("a message");
        }
        // `json!` keeps keys sorted: put `messages` first, as clients send it.
        let rest = serde_json::to_string(&value).expect("serializes");
        let rest = rest.replace("\"messages\":[],", "");
        let frame = format!("{{\"messages\":[],{}", &rest[1..]);
        let frame = server.request_frame(frame.as_bytes()).expect("a frame");
        (digest, frame)
    }

    /// The body as a client sends it: `messages` first.
    fn body_messages_first(body: &[u8]) -> Vec<u8> {
        let mut value: Value = serde_json::from_slice(body).expect("JSON");
        let messages = serde_json::to_string(&value["messages"].take()).expect("serializes");
        let rest = serde_json::to_string(&value).expect("serializes");
        let rest = rest
            .replace(",\"messages\":null", "")
            .replace("\"messages\":null,", "");
        format!("{{\"messages\":{messages},{}", &rest[1..]).into_bytes()
    }

    #[tokio::test(start_paused = true)]
    async fn a_digest_gets_the_answer_of_its_body() {
        let cfg = config(
            "[tools.search]\nargs = { query = \"string\" }\n[mock]\ntool_call_probability = 0.5\n",
        );
        for stream in [false, true] {
            let mut value: Value = serde_json::from_slice(&chat_body(stream)).expect("JSON");
            for i in 0..12 {
                if i % 3 == 2 {
                    value["messages"]
                        .as_array_mut()
                        .expect("messages")
                        .push(json!({"role": "tool", "tool_call_id": "call_1", "content": format!("result {i}")}));
                } else {
                    value["messages"][1]["content"] = json!(format!("question number {i}"));
                }
                value["tools"] = json!([{"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}]);
                let body = body_messages_first(&serde_json::to_vec(&value).expect("JSON"));
                let (whole, parts) = (MockServer::new(cfg.clone()), MockServer::new(cfg.clone()));
                let (digest, frame) = split(&parts, &body);
                let expected = Answer::plan(whole.config(), &body).expect("plans");
                let t0 = Instant::now();
                let via_body = whole.chat_direct(&body, Some("k")).await.expect("answered");
                let body_times: Vec<_> = via_body.arrivals.iter().map(|at| *at - t0).collect();
                let t0 = Instant::now();
                let via_digest = parts
                    .chat_direct_digest(&digest, &frame, Some("k"))
                    .await
                    .expect("answered");
                let digest_times: Vec<_> = via_digest.arrivals.iter().map(|at| *at - t0).collect();
                for answer in [&via_body.answer, &via_digest.answer] {
                    assert_eq!(answer.id, expected.id);
                    assert_eq!(answer.prompt_tokens, expected.prompt_tokens);
                    assert_eq!(answer.text(), expected.text());
                    assert_eq!(answer.tool_calls.len(), expected.tool_calls.len());
                    assert_eq!(answer.timing.gaps, expected.timing.gaps);
                }
                assert_eq!(body_times, digest_times);
                assert_eq!(whole.stats().by_key, parts.stats().by_key);
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_digest_is_reread_under_another_tokenizer_and_empty_is_rejected() {
        let server = MockServer::new(config(FAST));
        let mut digest = PromptDigest::new();
        server
            .fold_message(&mut digest, br#"{"role":"user","content":"hi"}"#)
            .expect("a message");
        assert_eq!(server.digest_ready(&mut digest), 1);
        digest.tokenizer = Some(Tokenizer::Chars);
        assert_eq!(server.digest_ready(&mut digest), 0);
        assert!(
            server
                .fold_message(&mut digest, b"{\"content\":1}")
                .is_err()
        );
        assert!(digest.is_empty());
        let frame = server
            .request_frame(br#"{"messages":[],"model":"m"}"#)
            .expect("a frame");
        assert!(
            server
                .request_frame(br#"{"model":"m","messages":[]}"#)
                .is_err()
        );
        let rejected = server.chat_direct_digest(&digest, &frame, None).await;
        assert!(matches!(rejected, Err(Rejection::Status(r)) if r.status == 400));
    }
}
