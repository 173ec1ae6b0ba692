//! The generator: seeded conversations of a profile with every fact kind planted once at a
//! drawn depth, near-miss decoys in tool outputs, and never-planted probes.
//!
//! A turn is one model call: the user message (if any) and tool results that join its prompt,
//! then the assistant message it produces. Constraints and updates are planted in user
//! messages, decisions in assistant text, output facts at the head, middle or tail of a long
//! tool output, touched files in the calls that write them, decoys in ordinary outputs. The
//! last turn answers in text, so every tool call has its result.

use conversation::message::Role;
use scenario::SimRng;
use scenario::rng::derive_seed;
use scenario::text::word;

use super::text::{self, index};
use super::tools::{self, Output};
use super::values::Values;
use super::{CorpusConversation, Decoy, Fact, FactKind, Profile, WireMessage, WireToolCall};

/// Fewer turns cannot hold every fact kind; `generate` raises `turns` to this.
pub const MIN_TURNS: usize = 4;

/// The stream tag of corpus generation (see `scenario::rng::stream`).
const STREAM_CORPUS: u64 = 0x636f_7270;
/// Touched files per conversation.
const FILES: usize = 3;
/// Labels of values in tool outputs.
const LABELS: [&str; 5] = ["request id", "build id", "trace id", "checksum", "ticket"];

/// `conversations` conversations of `turns` model calls each (at least [`MIN_TURNS`]); the
/// same arguments give the same conversations, byte for byte.
pub fn generate(
    profile: Profile,
    conversations: usize,
    turns: usize,
    seed: u64,
) -> Vec<CorpusConversation> {
    let turns = turns.max(MIN_TURNS);
    let mut values = Values::default();
    (0..conversations)
        .map(|i| {
            let mut rng = SimRng::new(derive_seed(seed, &[STREAM_CORPUS, i as u64]));
            let plan = Plan::draw(&mut rng, &mut values, turns);
            let messages = build(profile, &mut rng, &plan, turns);
            plan.into_conversation(format!("{profile}-{i:03}"), profile, messages)
        })
        .collect()
}

/// One value to plant and the turn it goes in.
#[derive(Debug)]
struct Plant {
    kind: FactKind,
    value: String,
    turn: usize,
    /// Index in `Plan::facts` of the fact this one replaces.
    supersedes: Option<usize>,
    /// Updates: the noun both values of the chain are about.
    topic: &'static str,
}

#[derive(Debug)]
struct Plan {
    facts: Vec<Plant>,
    /// (value, index of the fact it resembles, turn)
    decoys: Vec<(String, usize, usize)>,
    probes: Vec<String>,
}

impl Plan {
    fn draw(rng: &mut SimRng, values: &mut Values, turns: usize) -> Self {
        let last = turns - 1;
        // Slots: user messages in 1..=last, assistant text in 0..=last, tool calls in 0..last.
        let mut at = |lo: f64, hi: f64, min: usize, max: usize| -> usize {
            let depth = lo + (hi - lo) * rng.next_f64();
            ((depth * last as f64).round() as usize).clamp(min, max)
        };
        let spots = [
            (FactKind::Constraint, at(0.1, 0.5, 1, last)),
            (FactKind::OutputHead, at(0.0, 0.9, 0, last - 1)),
            (FactKind::OutputMiddle, at(0.0, 0.9, 0, last - 1)),
            (FactKind::OutputTail, at(0.0, 0.9, 0, last - 1)),
            (FactKind::Decision, at(0.2, 0.8, 0, last)),
            (FactKind::Update, at(0.05, 0.35, 1, last)),
            (FactKind::Update, at(0.6, 0.95, 1, last)),
        ];
        let files: Vec<usize> = (0..FILES).map(|_| at(0.1, 0.9, 0, last - 1)).collect();
        let decoy_turns: Vec<usize> = (0..6).map(|_| at(0.0, 1.0, 0, last - 1)).collect();
        let topic = word(rng);
        let mut facts: Vec<Plant> = spots
            .into_iter()
            .map(|(kind, turn)| Plant {
                kind,
                value: values.code(rng),
                turn,
                supersedes: None,
                topic,
            })
            .collect();
        let (v1, v2) = (facts.len() - 2, facts.len() - 1);
        facts[v2].supersedes = Some(v1);
        facts[v2].turn = facts[v2].turn.max(facts[v1].turn + 1).min(last);
        for turn in files {
            let value = values.path(rng);
            facts.push(Plant {
                kind: FactKind::File,
                value,
                turn,
                supersedes: None,
                topic,
            });
        }
        // Near misses of the constraint, the decision, the three output facts and a file.
        let near = [0, 4, 1, 2, 3, v2 + 1];
        let decoys = near
            .into_iter()
            .zip(decoy_turns)
            .map(|(of, turn)| (values.near_miss(rng, &facts[of].value), of, turn))
            .collect();
        let probes = vec![values.code(rng), values.code(rng), values.path(rng)];
        Plan {
            facts,
            decoys,
            probes,
        }
    }

    fn at_turn(&self, kind: FactKind, turn: usize) -> impl Iterator<Item = &Plant> {
        self.facts
            .iter()
            .filter(move |p| p.kind == kind && p.turn == turn)
    }

    /// The record: each value located in the messages (it occurs in exactly one).
    fn into_conversation(
        self,
        id: String,
        profile: Profile,
        messages: Vec<WireMessage>,
    ) -> CorpusConversation {
        let find = |value: &str| -> (usize, usize) {
            let message = messages
                .iter()
                .position(|m| {
                    m.content.contains(value)
                        || m.tool_calls
                            .iter()
                            .any(|c| c.function.arguments.contains(value))
                })
                .expect("every planted value is in a message");
            let turn = messages[..message]
                .iter()
                .filter(|m| m.role == Role::Assistant)
                .count();
            (message, turn)
        };
        let facts = self
            .facts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (message, turn) = find(&p.value);
                Fact {
                    id: format!("f{i}"),
                    kind: p.kind,
                    value: p.value.clone(),
                    turn,
                    message,
                    supersedes: p.supersedes.map(|s| format!("f{s}")),
                }
            })
            .collect();
        let decoys = self
            .decoys
            .iter()
            .map(|(value, of, _)| {
                let (message, turn) = find(value);
                Decoy {
                    value: value.clone(),
                    near: format!("f{of}"),
                    turn,
                    message,
                }
            })
            .collect();
        CorpusConversation {
            id,
            profile: Some(profile),
            messages,
            facts,
            probes: self.probes,
            decoys,
        }
    }
}

fn build(profile: Profile, rng: &mut SimRng, plan: &Plan, turns: usize) -> Vec<WireMessage> {
    let mut messages = vec![
        WireMessage::text(Role::System, system(profile)),
        WireMessage::text(Role::User, task(profile, rng)),
    ];
    let mut called = true;
    let mut next_id = 0;
    for t in 0..turns {
        let said: Vec<String> = plan
            .at_turn(FactKind::Constraint, t)
            .chain(plan.at_turn(FactKind::Update, t))
            .map(user_sentence)
            .collect();
        if t > 0 && (profile == Profile::Chat || !called || !said.is_empty() || rng.chance(0.15)) {
            let mut content = text::prose(rng, 2);
            for s in said {
                content.push(' ');
                content.push_str(&s);
            }
            messages.push(WireMessage::text(Role::User, content));
        }
        let outputs = if t + 1 < turns {
            calls(profile, rng, plan, t)
        } else {
            Vec::new()
        };
        let mut content = if outputs.is_empty() {
            text::prose(rng, 3)
        } else {
            format!("Next I check the {} {}.", word(rng), word(rng))
        };
        for d in plan.at_turn(FactKind::Decision, t) {
            content.push_str(&format!(
                " Decision: we pin the {} to {}.",
                word(rng),
                d.value
            ));
        }
        let mut assistant = WireMessage::text(Role::Assistant, content);
        let mut results = Vec::new();
        for out in outputs {
            let id = format!("call_{next_id:04}");
            next_id += 1;
            assistant
                .tool_calls
                .push(WireToolCall::new(&id, out.name, out.arguments));
            let mut result = WireMessage::text(Role::Tool, out.lines.join("\n"));
            result.tool_call_id = Some(id);
            results.push(result);
        }
        called = !results.is_empty();
        messages.push(assistant);
        messages.extend(results);
    }
    messages
}

/// The tool calls of turn `t`: a long output per output fact, a write per touched file, and
/// an ordinary call that hosts the turn's decoys (or is just the agent's next step).
fn calls(profile: Profile, rng: &mut SimRng, plan: &Plan, t: usize) -> Vec<Output> {
    let mut outputs = Vec::new();
    for kind in [
        FactKind::OutputHead,
        FactKind::OutputMiddle,
        FactKind::OutputTail,
    ] {
        for fact in plan.at_turn(kind, t) {
            let mut out = tools::call(profile, rng, true);
            let n = out.lines.len();
            let at = match kind {
                FactKind::OutputHead => index(rng, n.min(3)),
                FactKind::OutputMiddle => n * 2 / 5 + index(rng, n / 5 + 1),
                _ => n - index(rng, n.min(3)),
            };
            out.lines.insert(at, labelled(rng, &fact.value));
            outputs.push(out);
        }
    }
    for file in plan.at_turn(FactKind::File, t) {
        outputs.push(tools::touch(profile, rng, &file.value));
    }
    let decoys: Vec<&String> = plan
        .decoys
        .iter()
        .filter(|d| d.2 == t)
        .map(|d| &d.0)
        .collect();
    let busy = match profile {
        Profile::Chat => 0.3,
        Profile::Coding => 0.95,
        Profile::Browse => 0.9,
    };
    if !decoys.is_empty() || (outputs.is_empty() && rng.chance(busy)) {
        let mut host = tools::call(profile, rng, false);
        for d in decoys {
            let at = index(rng, host.lines.len() + 1);
            let line = if d.contains('/') {
                d.clone()
            } else {
                labelled(rng, d)
            };
            host.lines.insert(at, line);
        }
        outputs.push(host);
    }
    outputs
}

fn labelled(rng: &mut SimRng, value: &str) -> String {
    format!("{}: {value}", LABELS[index(rng, LABELS.len())])
}

fn user_sentence(p: &Plant) -> String {
    match (p.kind, p.supersedes) {
        (FactKind::Constraint, _) => format!(
            "Constraint: every change must carry the budget code {}; never drop it.",
            p.value
        ),
        (_, None) => format!("For the record, the {} ticket is {}.", p.topic, p.value),
        (_, Some(_)) => format!(
            "Update: the {} ticket is now {}; the earlier one is void.",
            p.topic, p.value
        ),
    }
}

fn system(profile: Profile) -> &'static str {
    match profile {
        Profile::Chat => {
            "You are a support assistant. Answer briefly, look things up with the lookup tool, and save notes the user asks for."
        }
        Profile::Coding => {
            "You are a coding agent working in a Rust repository. Use the tools to read, search, test and edit; keep changes small."
        }
        Profile::Browse => {
            "You are a research agent. Search, read pages, save the ones worth keeping, and cite your sources."
        }
    }
}

fn task(profile: Profile, rng: &mut SimRng) -> String {
    let (a, b) = (word(rng), word(rng));
    match profile {
        Profile::Chat => format!("Hi, I need help with my {a} {b}. {}", text::prose(rng, 2)),
        Profile::Coding => format!(
            "Fix the failing {a} tests in the {b} module, keep the diff small, and tell me what changed."
        ),
        Profile::Browse => {
            format!("Find out how the {a} {b} works and write a short brief with sources.")
        }
    }
}
