//! A line as users' logs write it, before it is a [`CorpusConversation`]: every optional field
//! may be `null` (the OpenAI SDK's `model_dump()` writes them all), content may be a string or
//! a list of OpenAI or Anthropic parts, the system prompt may sit at the top (Anthropic), and
//! facts may leave out `turn`. [`parts`] reads a content into text, tool calls, tool results
//! and image tokens, counting what it cannot read.
//!
//! [`CorpusConversation`]: super::CorpusConversation

use serde::Deserialize;
use serde_json::Value;

use super::{Decoy, FactKind, Profile};

/// Tokens of an OpenAI image at `detail: "low"`: a flat 85 whatever its size.
pub(crate) const IMAGE_LOW_TOKENS: u32 = 85;
/// Tokens of an OpenAI image at `detail: "high"` or `"auto"`, whose size a log does not give:
/// 85 + 170 per 512-px tile, for a 1024×1024 image (4 tiles) as OpenAI's pricing example has.
pub(crate) const IMAGE_TOKENS: u32 = 85 + 170 * 4;
/// Tokens of an Anthropic image of unknown size: width × height / 750 for 1092×1092, about
/// the largest Anthropic sends without scaling down.
pub(crate) const ANTHROPIC_IMAGE_TOKENS: u32 = 1590;

/// One line of a corpus, leniently.
#[derive(Debug, Deserialize)]
pub(crate) struct RawConversation {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) profile: Option<Profile>,
    /// Anthropic's system prompt: a string or a list of text parts.
    #[serde(default)]
    pub(crate) system: Option<Value>,
    pub(crate) messages: Vec<RawMessage>,
    #[serde(default)]
    pub(crate) facts: Option<Vec<RawFact>>,
    #[serde(default)]
    pub(crate) probes: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) decoys: Option<Vec<Decoy>>,
}

/// One message, leniently: the role is checked later, so its error names the message.
#[derive(Debug, Deserialize)]
pub(crate) struct RawMessage {
    pub(crate) role: String,
    #[serde(default)]
    pub(crate) content: Option<Value>,
    #[serde(default)]
    pub(crate) tool_calls: Option<Vec<RawToolCall>>,
    /// The legacy single call, answered by a `function` message.
    #[serde(default)]
    pub(crate) function_call: Option<RawFunction>,
    #[serde(default)]
    pub(crate) tool_call_id: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// What the model said instead of answering (content is then `null`).
    #[serde(default)]
    pub(crate) refusal: Option<String>,
    /// An audio answer; its `transcript` is the text.
    #[serde(default)]
    pub(crate) audio: Option<Value>,
    /// Image tokens a corpus written by the lab carries (see `WireMessage::image_tokens`).
    #[serde(default)]
    pub(crate) image_tokens: Option<u32>,
}

/// A tool call: `function` for OpenAI's function tools, `custom` for its custom tools.
#[derive(Debug, Deserialize)]
pub(crate) struct RawToolCall {
    #[serde(default)]
    pub(crate) id: Option<String>,
    #[serde(default)]
    pub(crate) function: Option<RawFunction>,
    #[serde(default)]
    pub(crate) custom: Option<RawCustom>,
}

/// The function of a call (or the legacy `function_call`).
#[derive(Debug, Deserialize)]
pub(crate) struct RawFunction {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) arguments: Option<Value>,
}

/// A custom tool's call: free text in `input`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawCustom {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) input: Option<String>,
}

/// A fact as users write it: `turn` is worked out when absent, and checked when present.
#[derive(Debug, Deserialize)]
pub(crate) struct RawFact {
    pub(crate) id: String,
    pub(crate) kind: FactKind,
    pub(crate) value: String,
    #[serde(default)]
    pub(crate) turn: Option<usize>,
    pub(crate) message: usize,
    #[serde(default)]
    pub(crate) supersedes: Option<String>,
}

/// Arguments as a JSON text: a string as it is, an object written back as text, none empty.
pub(crate) fn arguments(v: Option<Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    }
}

/// A tool call read from an Anthropic `tool_use` part.
#[derive(Debug)]
pub(crate) struct PartCall {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) arguments: String,
}

/// A tool result read from an Anthropic `tool_result` part.
#[derive(Debug)]
pub(crate) struct PartResult {
    pub(crate) id: String,
    pub(crate) text: String,
    pub(crate) image_tokens: u32,
}

/// A content, read.
#[derive(Debug, Default)]
pub(crate) struct Parts {
    /// The text parts, joined by line breaks.
    pub(crate) text: String,
    pub(crate) calls: Vec<PartCall>,
    pub(crate) results: Vec<PartResult>,
    pub(crate) images: usize,
    pub(crate) image_tokens: u32,
    /// Parts not read, by type (`thinking`, `input_audio`, `document`, ...).
    pub(crate) unread: Vec<String>,
}

/// Reads a content: `null`, a string, one part or a list of parts. `Err` says what it is
/// instead. Tool parts are read only where they belong (`nested` is a tool result's content).
pub(crate) fn parts(content: Option<Value>, nested: bool) -> Result<Parts, String> {
    let mut out = Parts::default();
    let mut texts = Vec::new();
    let list = match content {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![Value::String(s)],
        Some(Value::Array(a)) => a,
        Some(o @ Value::Object(_)) => vec![o],
        Some(other) => {
            return Err(format!(
                "content is `{other}`: write a string, null or a list of parts"
            ));
        }
    };
    for part in list {
        match part {
            Value::String(s) => texts.push(s),
            Value::Object(mut o) => {
                let kind = o.get("type").and_then(Value::as_str).unwrap_or("text");
                let kind = kind.to_owned();
                match kind.as_str() {
                    "text" | "input_text" | "output_text" => match o.remove("text") {
                        Some(Value::String(s)) => texts.push(s),
                        _ => out.unread.push(kind),
                    },
                    "refusal" => match o.remove("refusal") {
                        Some(Value::String(s)) => texts.push(s),
                        _ => out.unread.push(kind),
                    },
                    "image_url" | "input_image" => {
                        let low = o
                            .get("image_url")
                            .and_then(|u| u.get("detail"))
                            .or_else(|| o.get("detail"))
                            .and_then(Value::as_str)
                            == Some("low");
                        out.images += 1;
                        out.image_tokens += if low { IMAGE_LOW_TOKENS } else { IMAGE_TOKENS };
                    }
                    "image" => {
                        out.images += 1;
                        out.image_tokens += ANTHROPIC_IMAGE_TOKENS;
                    }
                    "tool_use" if !nested => out.calls.push(PartCall {
                        id: string(&o, "id"),
                        name: string(&o, "name"),
                        arguments: arguments(o.remove("input")),
                    }),
                    "tool_result" if !nested => {
                        let inner = parts(o.remove("content"), true)?;
                        out.images += inner.images;
                        out.unread.extend(inner.unread);
                        out.results.push(PartResult {
                            id: string(&o, "tool_use_id"),
                            text: inner.text,
                            image_tokens: inner.image_tokens,
                        });
                    }
                    _ => out.unread.push(kind),
                }
            }
            other => {
                return Err(format!(
                    "a content part is `{other}`: write an object like {{\"type\": \"text\", \"text\": \"hi\"}}"
                ));
            }
        }
    }
    out.text = texts.join("\n");
    Ok(out)
}

fn string(o: &serde_json::Map<String, Value>, key: &str) -> String {
    o.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// The transcript of an audio answer, if it has one.
pub(crate) fn transcript(audio: Option<&Value>) -> Option<String> {
    audio?
        .get("transcript")
        .and_then(Value::as_str)
        .map(str::to_owned)
}
