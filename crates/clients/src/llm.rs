//! The LLM client: one logical chat call through routing and the policies, each attempt made
//! by a backend ([`LlmBackend`]: HTTP, or the in-process mock).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, ChatCompletionTools, FinishReason,
};
use tokio_util::sync::CancellationToken;

use metrics::ErrorKind;
use scenario::{Retry, Routing};

use crate::backend::{AnyLlm, ConversationCache, LlmBackend};
use crate::drive::{Policy, Target, drive};
use crate::record::CallRecord;

/// One chat request, as an agent builds it.
#[derive(Clone, Debug, Default)]
pub struct LlmRequest {
    /// The conversation as the LLM sees it.
    pub messages: Vec<ChatCompletionRequestMessage>,
    /// Tools offered: shared, since every call of a fleet offers the same few (a clone is a
    /// count, and the in-process mock recognises them by address).
    pub tools: Arc<[ChatCompletionTools]>,
    /// `max_completion_tokens`.
    pub max_tokens: u32,
    /// Prompt tokens as the caller counted them: with `max_tokens`, the estimate charged to
    /// the token limit before the call (corrected from `usage` after).
    pub prompt_tokens: u32,
}

impl LlmRequest {
    /// A request of a system prompt and one user message, without tools (a summary, a
    /// question); `prompt_tokens` as the caller counted them.
    pub fn system_user(system: &str, user: &str, max_tokens: u32, prompt_tokens: u32) -> Self {
        Self {
            messages: vec![
                ChatCompletionRequestSystemMessage::from(system).into(),
                ChatCompletionRequestUserMessage::from(user).into(),
            ],
            tools: Arc::new([]),
            max_tokens,
            prompt_tokens,
        }
    }
}

/// A tool call the model asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// The call id, to answer with a `tool` message.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// JSON arguments, as the model wrote them.
    pub arguments: String,
}

/// The answer of a successful call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LlmResponse {
    /// The text (empty when the model only calls tools).
    pub content: String,
    /// Tool calls asked for.
    pub tool_calls: Vec<ToolCall>,
    /// Why the answer ended.
    pub finish_reason: Option<FinishReason>,
}

/// The shared LLM client: every provider with its policies, and the routing between them.
/// Generic over the backend, which the scenario's endpoints choose ([`AnyLlm`]); the
/// policies wrap any [`LlmBackend`] the same way.
#[derive(Debug)]
pub struct LlmClient<B = AnyLlm> {
    pub(crate) targets: Vec<Arc<Target>>,
    pub(crate) backends: Vec<B>,
    pub(crate) routing: Routing,
    /// Where round-robin continues.
    pub(crate) turn: AtomicUsize,
    /// The first provider's retry policy governs the logical call.
    pub(crate) retry: Retry,
    /// The longest provider deadline bounds the logical call.
    pub(crate) deadline: Duration,
    /// Ends every call in flight as `cancelled` ([`crate::Clients::cancel_calls`]).
    pub(crate) cancel: CancellationToken,
}

impl<B: LlmBackend> LlmClient<B> {
    /// The client of `[llm]`, its providers' policies as configured, each provider's attempts
    /// made by the backend at the same index of `backends`.
    ///
    /// # Panics
    /// When `backends` and `llm.providers` differ in length.
    pub fn with_backends(llm: &scenario::Llm, backends: Vec<B>) -> Self {
        assert_eq!(
            llm.providers.len(),
            backends.len(),
            "one backend per provider"
        );
        let targets = llm
            .providers
            .iter()
            .map(|p| {
                Arc::new(Target::new(
                    &p.name,
                    &p.limits,
                    &p.breaker,
                    &p.retry,
                    p.timeout.0,
                ))
            })
            .collect();
        Self {
            targets,
            backends,
            routing: llm.routing,
            turn: AtomicUsize::new(0),
            retry: llm
                .providers
                .first()
                .map(|p| p.retry.clone())
                .unwrap_or_default(),
            deadline: llm
                .providers
                .iter()
                .map(|p| p.deadline.0)
                .max()
                .unwrap_or(Duration::from_secs(120)),
            cancel: CancellationToken::new(),
        }
    }

    /// One logical chat call. `seed` makes the backoff jitter reproducible.
    pub async fn call(
        &self,
        request: &LlmRequest,
        seed: u64,
    ) -> (CallRecord, Result<LlmResponse, ErrorKind>) {
        self.call_in(&mut ConversationCache::new(), request, seed)
            .await
    }

    /// [`LlmClient::call`] for a conversation resent call after call: `conversation` is what
    /// the backends kept of its earlier calls (truncate it when earlier messages change), so
    /// a backend that can (the in-process mock) takes only the messages added since.
    pub async fn call_in(
        &self,
        conversation: &mut ConversationCache,
        request: &LlmRequest,
        seed: u64,
    ) -> (CallRecord, Result<LlmResponse, ErrorKind>) {
        self.call_routed(conversation, request, seed, || self.order())
            .await
    }

    /// [`LlmClient::call`] to the provider at `index` of `[[llm.providers]]` only: no routing
    /// and no fallback to another model (a summary that `[compression] summarizer_provider`
    /// sends to a cheaper model, say). Its limits, breaker and retries apply as to any call.
    ///
    /// # Panics
    /// When there is no provider at `index`.
    pub async fn call_on(
        &self,
        index: usize,
        request: &LlmRequest,
        seed: u64,
    ) -> (CallRecord, Result<LlmResponse, ErrorKind>) {
        assert!(index < self.targets.len(), "no provider at {index}");
        self.call_routed(&mut ConversationCache::new(), request, seed, || vec![index])
            .await
    }

    /// The index of the provider named `name` in `[[llm.providers]]`.
    pub fn provider_index(&self, name: &str) -> Option<usize> {
        self.targets.iter().position(|t| t.name == name)
    }

    /// One logical call, its providers tried in the order `order` gives.
    async fn call_routed(
        &self,
        conversation: &mut ConversationCache,
        request: &LlmRequest,
        seed: u64,
        order: impl Fn() -> Vec<usize>,
    ) -> (CallRecord, Result<LlmResponse, ErrorKind>) {
        let policy = Policy {
            retry: &self.retry,
            deadline: self.deadline,
            seed,
            estimated_tokens: u64::from(request.prompt_tokens) + u64::from(request.max_tokens),
            cancel: &self.cancel,
        };
        for backend in &self.backends {
            backend.prepare(conversation, request);
        }
        let conversation = &*conversation;
        let (mut record, result) = drive(&self.targets, order, &policy, |i| {
            self.backends[i].attempt(request, conversation)
        })
        .await;
        if record.tokens_in == 0 {
            record.tokens_in = request.prompt_tokens;
        }
        (record, result)
    }

    /// Ends every call in flight, and every call made from now on, at once as `cancelled`.
    pub fn cancel_calls(&self) {
        self.cancel.cancel();
    }

    /// The providers in the order to try them.
    fn order(&self) -> Vec<usize> {
        let n = self.targets.len();
        match self.routing {
            Routing::Priority => (0..n).collect(),
            Routing::RoundRobin => {
                let start = self.turn.fetch_add(1, Ordering::Relaxed) % n.max(1);
                (0..n).map(|k| (start + k) % n).collect()
            }
            Routing::LeastInFlight => {
                let mut order: Vec<usize> = (0..n).collect();
                order.sort_by_key(|&i| self.targets[i].pool.in_flight());
                order
            }
        }
    }

    /// Requests in flight now, over every provider's pool (read on a metrics scrape).
    pub fn in_flight(&self) -> usize {
        self.targets.iter().map(|t| t.pool.in_flight()).sum()
    }

    /// The breaker state and stats of each provider, by name.
    pub fn breakers(&self) -> Vec<(String, crate::BreakerState, crate::BreakerStats)> {
        self.targets
            .iter()
            .map(|t| (t.name.clone(), t.breaker.state(), t.breaker.stats()))
            .collect()
    }
}
