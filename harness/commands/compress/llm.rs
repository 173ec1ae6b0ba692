//! `compress`'s LLM tier (docs/compression.md, "The LLM tier"): `--summarizer llm` and
//! `--reader` ask a model of `--llm SCENARIO` (its `[[llm.providers]]`, through the shared
//! client stack: limits, retries, breakers, keys from `api_key_env`), recorded to or replayed
//! from `--cassette FILE`.
//!
//! Which provider answers what: summaries go to `[compression] summarizer_provider` when the
//! scenario names one, else to the first provider; the reader to `--reader-provider`, else
//! the first provider. A provider on the embedded mock is called in-process.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clients::{Clients, Embedded, LlmRequest};
use conversation::strategy::Summarizer;
use lab::corpus::CorpusConversation;
use lab::eval;
use lab::llm::{
    Cassette, Llm, LlmAnswer, LlmCall, LlmError, LlmSummarizer, LlmTier, Purpose, SharedTier,
};
use mock::{MockConfig, MockServer};
use scenario::Scenario;

use crate::args::{CompressArgs, SummarizerArg};
use crate::output::note_line;
use crate::scenario_source;

/// The tier the flags ask for (`None`: no model needed), and the cassette to check after a
/// replay.
pub(crate) fn tier(args: &CompressArgs) -> anyhow::Result<Option<SharedTier>> {
    let wanted = args.summarizer == SummarizerArg::Llm || args.reader;
    match (&args.llm, &args.cassette) {
        (None, None) if wanted => bail!(
            "--summarizer llm and --reader need a model: give --llm SCENARIO (a scenario whose \
             [[llm.providers]] name an OpenAI-compatible endpoint) or --cassette FILE (answers \
             recorded before)"
        ),
        (None, None) => Ok(None),
        (Some(_), _) | (_, Some(_)) if !wanted => bail!(
            "--llm and --cassette have nothing to do: add --summarizer llm (summaries written \
             by the model) or --reader (a model answers questions about the planted facts)"
        ),
        (None, Some(cassette)) => {
            let replay = Cassette::replay(cassette)?;
            Ok(Some(LlmTier::shared(Box::new(replay))))
        }
        (Some(path), cassette) => {
            let live = Live::new(path, args)?;
            let model: Box<dyn Llm> = match cassette {
                Some(cassette) => Box::new(Cassette::record(cassette, Box::new(live))?),
                None => Box::new(live),
            };
            Ok(Some(LlmTier::shared(model)))
        }
    }
}

/// Evaluates `rows` on `corpus` with the tier the flags ask for: summaries by its model
/// (`--summarizer llm`), its reader's scores (`--reader`), and its `llm` section. A replayed
/// cassette that lacks an answer fails (exit 2): the report would mix in fallbacks. Failed
/// live calls are said on stderr (their summaries fell back to the extractive ones).
pub(crate) fn evaluate(
    args: &CompressArgs,
    corpus: &[CorpusConversation],
    rows: &[eval::RowSpec],
    keep: &eval::KeepPatterns,
    tier: Option<&SharedTier>,
) -> anyhow::Result<eval::Report> {
    let llm_summaries = tier.filter(|_| args.summarizer == SummarizerArg::Llm);
    let summarizer = |c: &scenario::Compression| -> Box<dyn Summarizer> {
        match llm_summaries {
            Some(tier) => Box::new(LlmSummarizer::new(tier.clone())),
            None => eval::builtin_summarizer(c),
        }
    };
    let mut report = eval::evaluate_options(
        corpus,
        rows,
        &eval::Options {
            summarizer: &summarizer,
            keep,
            reader: tier.filter(|_| args.reader),
        },
    );
    let Some(tier) = tier else {
        return Ok(report);
    };
    let done = tier
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take_report();
    if let Some(error) = &done.first_error {
        let failed = done.summary.failed + done.reader.failed;
        if args.llm.is_none() {
            bail!("{error}");
        }
        if failed == done.summary.calls + done.reader.calls {
            bail!(
                "--llm {}: no call was answered; the first failure: {error}; check that the \
                 provider's base_url is up and its key is right (`fleetbench validate` the file)",
                args.llm.as_deref().unwrap_or(Path::new("")).display()
            );
        }
        note_line(&format!(
            "note: {failed} LLM call(s) failed (summaries fell back to extractive ones, \
             reader questions count as unanswered); the first: {error}"
        ));
    }
    if llm_summaries.is_some() && done.summary.calls == 0 {
        note_line(
            "note: --summarizer llm: no strategy of the plan wrote a summary (rolling-summary \
             does; --strategy to choose it)",
        );
    }
    report.llm = Some(done);
    Ok(report)
}

/// The providers of a scenario, called one at a time on a runtime of their own.
struct Live {
    runtime: tokio::runtime::Runtime,
    clients: Arc<Clients>,
    /// The provider of each purpose: its index and model.
    summary: (usize, String),
    reader: (usize, String),
    seed: u64,
}

impl Live {
    fn new(path: &Path, args: &CompressArgs) -> anyhow::Result<Self> {
        let loaded = scenario_source::load_secrets(Some(path), &Default::default())
            .with_context(|| format!("--llm {}", path.display()))?;
        let scenario = loaded.scenario;
        let secrets = loaded
            .secrets
            .with_context(|| format!("--llm {}", path.display()))?;
        let summary = match &scenario.compression.summarizer_provider {
            Some(name) => provider(&scenario, name, "[compression] summarizer_provider", path)?,
            None => first(&scenario),
        };
        let reader = match &args.reader_provider {
            Some(name) => provider(&scenario, name, "--reader-provider", path)?,
            None => first(&scenario),
        };
        // Only providers on the embedded mock are in-process: their waits are the mock's
        // latency model, which a paused clock skips; a real endpoint needs the real clock.
        let all_mock = scenario
            .llm
            .providers
            .iter()
            .all(|p| p.base_url == scenario::Endpoint::Embedded);
        let mut builder = tokio::runtime::Builder::new_current_thread();
        builder.enable_all();
        if all_mock {
            builder.start_paused(true);
        }
        let runtime = builder
            .build()
            .context("cannot start the LLM client's runtime")?;
        let server = MockServer::new(MockConfig::from_scenario(&scenario));
        let clients = {
            let _entered = runtime.enter();
            Clients::build_with(&scenario, &Embedded::InProcess(server), &secrets)
                .with_context(|| format!("--llm {}", path.display()))?
        };
        Ok(Self {
            runtime,
            clients: Arc::new(clients),
            summary,
            reader,
            seed: scenario.seed,
        })
    }
}

/// The first provider (a valid scenario has one).
fn first(s: &Scenario) -> (usize, String) {
    let p = &s.llm.providers[0];
    (0, p.model.clone())
}

/// The provider named `name`, else an error naming `what` and the providers there are.
fn provider(s: &Scenario, name: &str, what: &str, path: &Path) -> anyhow::Result<(usize, String)> {
    match s.llm.providers.iter().position(|p| p.name == name) {
        Some(i) => Ok((i, s.llm.providers[i].model.clone())),
        None => bail!(
            "{what} `{name}`: --llm {} has no provider of that name; use one of: {}",
            path.display(),
            s.llm
                .providers
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Llm for Live {
    fn complete(&mut self, call: &LlmCall) -> Result<LlmAnswer, LlmError> {
        let (index, model) = match call.purpose {
            Purpose::Summary => &self.summary,
            Purpose::Reader => &self.reader,
        };
        // The prompt's tokens estimated for the token limit, corrected from `usage` after.
        let estimate = u32::try_from((call.system.len() + call.user.len()) / 4).unwrap_or(u32::MAX);
        let request = LlmRequest::system_user(&call.system, &call.user, call.max_tokens, estimate);
        self.seed = self.seed.wrapping_add(1);
        let (record, result) = self
            .runtime
            .block_on(self.clients.llm.call_on(*index, &request, self.seed));
        match result {
            Ok(answer) => Ok(LlmAnswer {
                text: answer.content,
                prompt_tokens: record.tokens_in,
                completion_tokens: record.tokens_out,
                model: model.clone(),
            }),
            Err(kind) => Err(LlmError(format!(
                "provider `{}` (model `{model}`): {kind} after {} attempt(s)",
                record.target,
                record.attempts.len()
            ))),
        }
    }
}
