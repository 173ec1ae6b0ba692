//! Facts, decoys and probes checked against the conversation they describe, as the scoring
//! needs them: facts by unique ids, each value long enough to be found by exact match only
//! where it was planted and present in the message it names, `turn` right (worked out when
//! left out), `supersedes` chains that end; probes never in the text. Indices name the
//! messages of the line; after [`super::history`] split or merged some, they are moved to the
//! message now holding the value.

use std::collections::HashMap;

use super::raw::RawFact;
use super::wire::WireMessage;
use super::{Decoy, Fact};
use conversation::message::Role;

/// The shortest value a fact or probe may have: a shorter one matches by accident.
pub(crate) const MIN_VALUE_CHARS: usize = 4;

/// Checked facts and decoys, their messages moved to `messages`' indices.
pub(crate) fn check(
    raw: Vec<RawFact>,
    decoys: Vec<Decoy>,
    probes: &[String],
    messages: &[WireMessage],
    placed: &[Vec<usize>],
) -> Result<(Vec<Fact>, Vec<Decoy>), String> {
    let n = placed.len();
    let mut ids = HashMap::new();
    let mut facts = Vec::with_capacity(raw.len());
    for (i, f) in raw.into_iter().enumerate() {
        let id = &f.id;
        if ids.insert(f.id.clone(), i).is_some() {
            return Err(format!("fact id `{id}` is used twice"));
        }
        long_enough(&f.value).map_err(|e| format!("fact `{id}`: {e}"))?;
        if f.message >= n {
            return Err(format!(
                "fact `{id}` is in message {}, but there are {n} messages",
                f.message
            ));
        }
        let Some(at) = holding(&f.value, &placed[f.message], messages) else {
            return Err(format!(
                "fact `{id}`: value `{}` is not in message {}: give the index (from 0) of the \
                 message whose content or call arguments hold it",
                f.value, f.message
            ));
        };
        let turn = messages[..at]
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        if let Some(said) = f.turn.filter(|&t| t != turn) {
            return Err(format!(
                "fact `{id}` says turn {said}, but message {} follows {turn} assistant \
                 messages: write turn {turn} or leave it out",
                f.message
            ));
        }
        facts.push(Fact {
            id: f.id,
            kind: f.kind,
            value: f.value,
            turn,
            message: at,
            supersedes: f.supersedes,
        });
    }
    chains_end(&facts, &ids)?;
    let mut moved = Vec::with_capacity(decoys.len());
    for mut d in decoys {
        let Some(pieces) = placed.get(d.message) else {
            return Err(format!(
                "decoy `{}` is in message {}, but there are {n} messages",
                d.value, d.message
            ));
        };
        d.message = holding(&d.value, pieces, messages)
            .or(pieces.first().copied())
            .expect("every message of a line is placed somewhere");
        moved.push(d);
    }
    for p in probes {
        long_enough(p).map_err(|e| format!("probe: {e}"))?;
        if let Some(i) = messages.iter().position(|m| holds(m, p)) {
            return Err(format!(
                "probe `{p}` occurs in message {i}: a probe is a value never planted, so \
                 finding it in a context means it was invented; remove it"
            ));
        }
    }
    Ok((facts, moved))
}

fn long_enough(value: &str) -> Result<(), String> {
    if value.trim().chars().count() < MIN_VALUE_CHARS {
        return Err(format!(
            "value `{value}` is too short to be found only where it was planted: use a value \
             of at least {MIN_VALUE_CHARS} characters that occurs once, like `QX7-4471-KP`"
        ));
    }
    Ok(())
}

/// The first of `pieces` (indices into `messages`) that holds `value`.
fn holding(value: &str, pieces: &[usize], messages: &[WireMessage]) -> Option<usize> {
    pieces.iter().copied().find(|&i| holds(&messages[i], value))
}

/// Whether `m`'s content or call arguments hold `value`, as the scoring looks for it.
fn holds(m: &WireMessage, value: &str) -> bool {
    m.content.contains(value)
        || m.tool_calls
            .iter()
            .any(|c| c.function.arguments.contains(value))
}

/// Every `supersedes` names a fact, and following them ends (the scoring walks them).
fn chains_end(facts: &[Fact], ids: &HashMap<String, usize>) -> Result<(), String> {
    for f in facts {
        let mut next = f.supersedes.as_deref();
        let mut steps = 0;
        while let Some(id) = next {
            let Some(&i) = ids.get(id) else {
                return Err(format!(
                    "fact `{}` supersedes `{id}`, which is not a fact of the conversation",
                    f.id
                ));
            };
            steps += 1;
            if steps > facts.len() {
                return Err(format!(
                    "fact `{}` supersedes itself through `{id}`: an update replaces an older fact",
                    f.id
                ));
            }
            next = facts[i].supersedes.as_deref();
        }
    }
    Ok(())
}
