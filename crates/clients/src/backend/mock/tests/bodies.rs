//! The bodies the in-process mock reads: what async-openai sends, and messages folded from
//! their parts or their JSON.

use super::*;

#[tokio::test]
async fn the_body_is_what_async_openai_sends() {
    let mock = MockServer::new(config(""));
    let mut req = request("where is my \"order\"?\nline two", 300, true);
    req.messages.insert(
        0,
        ChatCompletionRequestSystemMessage::from("You are a support agent.").into(),
    );
    let call = ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
        id: "call_1".to_owned(),
        function: FunctionCall {
            name: "search".to_owned(),
            arguments: "{\"query\":\"refund\",\"limit\":3}".to_owned(),
        },
    });
    req.messages.push(
        ChatCompletionRequestAssistantMessage {
            tool_calls: Some(vec![call]),
            ..ChatCompletionRequestAssistantMessage::default()
        }
        .into(),
    );
    req.messages.push(
        ChatCompletionRequestToolMessage {
            content: "refund policy: 30 days".into(),
            tool_call_id: "call_1".to_owned(),
        }
        .into(),
    );
    req.messages.push(
        ChatCompletionRequestAssistantMessage {
            content: Some("Refunds take 30 days.".into()),
            ..ChatCompletionRequestAssistantMessage::default()
        }
        .into(),
    );
    let mut no_tools = req.clone();
    no_tools.tools = Default::default();
    for stream in [true, false] {
        let (http, direct) = (
            router_llm(&mock, stream),
            mock_llm(&mock, stream, Api::Chat),
        );
        for r in [&req, &no_tools, &request("x", 0, false)] {
            let sent = serde_json::to_vec(&http.build(r)).expect("serializes");
            let direct = direct.body(r).expect("serializes");
            assert_eq!(
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&sent)
            );
        }
    }
}

/// Messages folded from their parts (the agents' kinds) and from their JSON (any other kind)
/// give the same digest: the same answer for the body of all of them.
#[tokio::test(start_paused = true)]
async fn messages_read_from_their_parts_fold_as_their_json() {
    use async_openai::types::chat::{
        ChatCompletionRequestMessageContentPartText, ChatCompletionRequestUserMessageContent,
        ChatCompletionRequestUserMessageContentPart,
    };

    let call = |id: &str, name: &str| {
        ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
            id: id.to_owned(),
            function: FunctionCall {
                name: name.to_owned(),
                arguments: format!("{{\"query\":\"{name} \\\"quoted\\\"\"}}"),
            },
        })
    };
    let named_user = ChatCompletionRequestUserMessage {
        name: Some("alice".to_owned()),
        ..ChatCompletionRequestUserMessage::from("hi, it's me")
    };
    let parts_user = ChatCompletionRequestUserMessage {
        content: ChatCompletionRequestUserMessageContent::Array(vec![
            ChatCompletionRequestUserMessageContentPart::Text(
                ChatCompletionRequestMessageContentPartText {
                    text: "a part".to_owned(),
                    prompt_cache_breakpoint: None,
                },
            ),
        ]),
        name: None,
    };
    let mut req = request("where is my order?", 128, true);
    let messages: [(ChatCompletionRequestMessage, bool); 6] = [
        (
            ChatCompletionRequestSystemMessage::from("You are a support agent.").into(),
            true,
        ),
        (named_user.into(), true),
        (
            ChatCompletionRequestAssistantMessage {
                tool_calls: Some(vec![call("call_1", "search"), call("call_2", "lookup")]),
                ..ChatCompletionRequestAssistantMessage::default()
            }
            .into(),
            true,
        ),
        (
            ChatCompletionRequestToolMessage {
                content: "refund policy: 30 days".into(),
                tool_call_id: "call_1".to_owned(),
            }
            .into(),
            true,
        ),
        (parts_user.into(), false),
        (
            ChatCompletionRequestAssistantMessage::from("Refunds take 30 days.").into(),
            true,
        ),
    ];
    for (m, from_parts) in &messages {
        assert_eq!(super::super::parts(m).is_some(), *from_parts, "{m:?}");
    }
    req.messages
        .extend(messages.into_iter().map(|(message, _)| message));
    for stream in [true, false] {
        let (router_mock, direct_mock) = (MockServer::new(config("")), MockServer::new(config("")));
        let (router, direct) = (
            router_llm(&router_mock, stream),
            mock_llm(&direct_mock, stream, Api::Chat),
        );
        let mut kept = ConversationCache::new();
        direct.prepare(&mut kept, &req);
        assert_eq!(kept.mock.0.len(), req.messages.len());
        let via_router = attempt(&router, &req).await;
        let via_digest = direct.attempt(&req, &kept).await;
        assert!(via_router.is_ok());
        assert_eq!(via_digest, via_router, "stream: {stream}");
    }
}
