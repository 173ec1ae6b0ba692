//! What the Responses loopback tests share (`responses.rs`, `responses_faults.rs`): a fast
//! mock, an async-openai client without retries, one conversation in both APIs' forms, and
//! readers of the answers. Each test binary uses part of it.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    ChatCompletionStreamOptions, ChatCompletionTool, ChatCompletionToolChoiceOption,
    ChatCompletionTools, CreateChatCompletionRequest, FunctionObject, ToolChoiceOptions,
};
use async_openai::types::responses::{
    CreateResponse, OutputItem, OutputMessageContent, Response, ResponseStreamEvent,
};
use fleetbench_mock::MockConfig;
use futures_util::StreamExt;
use serde_json::{Value, json};
use testkit::MockHandle;

pub const LIMIT: Duration = Duration::from_secs(20);
pub const MODEL: &str = "mock-gpt";
pub const KEY: &str = "sk-responses-very-secret-0123456789";
pub const INSTRUCTIONS: &str = "You are a support agent.";

/// A fast mock with two tools; `mock_extra` goes at the end of `[mock]`.
pub fn config(mock_extra: &str) -> MockConfig {
    let toml = format!(
        r#"
name = "responses"
seed = 42

[tools.search]
description = "Search the knowledge base"
args = {{ query = "string" }}

[tools.lookup_order]
description = "Look up an order by id"
args = {{ order_id = "id" }}

[mock]
capacity = 16
base_latency = "5ms"
inter_token = "1ms"
output_tokens = {{ dist = "uniform", min = 8, max = 24 }}
models = ["{MODEL}"]
{mock_extra}
"#
    );
    MockConfig::from_scenario(&testkit::scenario(&toml))
}

/// A `[[mock.faults]]` rule hitting every LLM request.
pub fn chat_fault(kind: &str, extra: &str) -> String {
    format!("[[mock.faults]]\nendpoint = \"chat\"\nkind = \"{kind}\"\nprobability = 1.0\n{extra}\n")
}

pub async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("the test took longer than 20 s")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a reqwest client")
}

/// An async-openai client without the retry layer.
pub fn client(mock: &MockHandle) -> Client<OpenAIConfig> {
    let config = OpenAIConfig::new()
        .with_api_base(mock.base_url.as_str())
        .with_api_key(KEY);
    Client::with_config(config).with_http_service(ReqwestService::new(http()))
}

pub fn order_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"]
    })
}

/// A Responses request: instructions, one user message, optionally the order tool (forced).
pub fn request(prompt: &str, tools: bool, stream: bool) -> CreateResponse {
    let mut body = json!({
        "model": MODEL,
        "instructions": INSTRUCTIONS,
        "input": [{"role": "user", "content": prompt}],
        "stream": stream,
    });
    if tools {
        body["tools"] = json!([{"type": "function", "name": "lookup_order",
            "description": "Look up an order by id", "parameters": order_schema()}]);
        body["tool_choice"] = json!("required");
    }
    serde_json::from_value(body).expect("a Responses request")
}

/// The same conversation as a chat request, as fleetbench's chat client sends it.
pub fn chat_request(prompt: &str, tools: bool, stream: bool) -> CreateChatCompletionRequest {
    CreateChatCompletionRequest {
        messages: vec![
            ChatCompletionRequestSystemMessage::from(INSTRUCTIONS).into(),
            ChatCompletionRequestUserMessage::from(prompt).into(),
        ],
        model: MODEL.to_owned(),
        stream: Some(stream),
        stream_options: stream.then_some(ChatCompletionStreamOptions {
            include_usage: Some(true),
            include_obfuscation: None,
        }),
        tools: tools.then(|| {
            vec![ChatCompletionTools::Function(ChatCompletionTool {
                function: FunctionObject {
                    name: "lookup_order".to_owned(),
                    description: Some("Look up an order by id".to_owned()),
                    parameters: Some(order_schema()),
                    strict: None,
                },
            })]
        }),
        tool_choice: tools.then_some(ChatCompletionToolChoiceOption::Mode(
            ToolChoiceOptions::Required,
        )),
        ..CreateChatCompletionRequest::default()
    }
}

/// The text of a response's message items.
pub fn text_of(response: &Response) -> String {
    response
        .output
        .iter()
        .filter_map(|item| match item {
            OutputItem::Message(m) => Some(&m.content),
            _ => None,
        })
        .flatten()
        .filter_map(|c| match c {
            OutputMessageContent::OutputText(t) => Some(t.text.as_str()),
            OutputMessageContent::Refusal(_) => None,
        })
        .collect()
}

/// A response's function calls: (call id, name, arguments).
pub fn calls_of(response: &Response) -> Vec<(String, String, String)> {
    response
        .output
        .iter()
        .filter_map(|item| match item {
            OutputItem::FunctionCall(c) => {
                Some((c.call_id.clone(), c.name.clone(), c.arguments.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Every item of a stream, kept.
pub async fn collect(
    client: &Client<OpenAIConfig>,
    req: CreateResponse,
) -> Vec<Result<ResponseStreamEvent, OpenAIError>> {
    let stream = client
        .responses()
        .create_stream(req)
        .await
        .expect("the stream opens");
    stream.collect().await
}

/// The `type` of an event, as sent.
pub fn kind(event: &ResponseStreamEvent) -> String {
    serde_json::to_value(event).expect("an event serializes")["type"]
        .as_str()
        .expect("a type")
        .to_owned()
}
