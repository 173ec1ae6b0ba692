//! How a client reaches its endpoint beyond the URL: which OpenAI API it speaks, TLS trust,
//! HTTP/2, credentials, extra headers and query parameters. Shared by `[[llm.providers]]` and
//! `[tools.NAME]`.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which OpenAI API an LLM provider speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    /// `POST /v1/chat/completions`.
    #[default]
    Chat,
    /// `POST /v1/responses` (the Responses API, the OpenAI Agents SDK's default).
    Responses,
}

impl Api {
    /// The name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Chat => "chat",
            Api::Responses => "responses",
        }
    }

    /// The path of a call under the base URL.
    pub fn path(self) -> &'static str {
        match self {
            Api::Chat => "/chat/completions",
            Api::Responses => "/responses",
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a tool is called.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolProtocol {
    /// Its arguments `POST`ed as JSON to its URL (the embedded mock: `/tools/NAME`).
    #[default]
    Http,
    /// A tool of an MCP server (streamable HTTP transport) at its URL, called with
    /// `tools/call` (the embedded mock: `/mcp`).
    Mcp,
}

impl ToolProtocol {
    /// The name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolProtocol::Http => "http",
            ToolProtocol::Mcp => "mcp",
        }
    }
}

/// The value of a header or query parameter: written in the file (`"search"`), or read from
/// an environment variable when the run starts (`{ env = "AZURE_OPENAI_KEY" }`). A value from
/// the environment is a secret like an API key: it is sent, and shown nowhere (the scenario
/// printed back shows the variable's name, logs and reports show neither).
#[derive(Clone, PartialEq, Eq)]
pub enum Param {
    /// The value itself.
    Plain(String),
    /// The name of the environment variable that holds the value.
    Env(String),
}

impl fmt::Debug for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::Plain(v) => write!(f, "{v:?}"),
            Param::Env(var) => write!(f, "{{ env = {var:?} }}"),
        }
    }
}

impl Serialize for Param {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Param::Plain(v) => serializer.serialize_str(v),
            Param::Env(var) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("env", var)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Param {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParamVisitor)
    }
}

struct ParamVisitor;

const PARAM_EXPECTED: &str = "a string (`\"search\"`) or the variable that holds a secret (`{ env = \"AZURE_OPENAI_KEY\" }`)";

impl<'de> Visitor<'de> for ParamVisitor {
    type Value = Param;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PARAM_EXPECTED)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Param, E> {
        Ok(Param::Plain(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Param, E> {
        Ok(Param::Plain(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Param, A::Error> {
        let mut var = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "env" || var.is_some() {
                return Err(de::Error::custom(format!(
                    "unknown key `{key}` in a header or query value: write {PARAM_EXPECTED}"
                )));
            }
            var = Some(map.next_value::<String>()?);
        }
        var.map(Param::Env).ok_or_else(|| {
            de::Error::custom(format!(
                "an empty table is not a header or query value: write {PARAM_EXPECTED}"
            ))
        })
    }
}

/// Whether `name` can name an environment variable portably (letters, digits, `_`, not
/// starting with a digit).
pub(crate) fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|ch: char| ch.is_ascii_digit())
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

/// Whether `name` is a valid HTTP header name (an RFC 9110 token).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` can be sent as an HTTP header value: visible characters, spaces and tabs,
/// no line break (which would start a header of its own) and no other control character.
pub(crate) fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}
