//! What reading a corpus changed or left out, counted so `compress` can say it: nothing a
//! reader does to a log goes unreported.

use std::collections::BTreeMap;

/// Counts over the conversations read (skipped lines count nothing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Repairs {
    /// Images in contents, counted as tokens (docs/compression.md, "Reading real logs").
    pub images: usize,
    /// The tokens they were counted as.
    pub image_tokens: u64,
    /// Content parts not read, by type (`thinking`, `input_audio`, `document`, ...).
    pub unread_parts: BTreeMap<String, usize>,
    /// Anthropic `tool_use` parts read as tool calls.
    pub tool_use_parts: usize,
    /// Anthropic `tool_result` parts read as tool messages.
    pub tool_result_parts: usize,
    /// Calls without a result, answered with `(no result)`.
    pub interrupted_calls: usize,
    /// Call ids used again, renumbered.
    pub renumbered_ids: usize,
    /// System messages merged into the first (they all came before any other message).
    pub system_merged: usize,
    /// Later system messages turned into user messages `[system message] …`.
    pub system_notes: usize,
    /// Legacy `function` messages read as tool messages.
    pub function_messages: usize,
}

impl Repairs {
    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: Repairs) {
        self.images += other.images;
        self.image_tokens += other.image_tokens;
        for (kind, n) in other.unread_parts {
            *self.unread_parts.entry(kind).or_default() += n;
        }
        self.tool_use_parts += other.tool_use_parts;
        self.tool_result_parts += other.tool_result_parts;
        self.interrupted_calls += other.interrupted_calls;
        self.renumbered_ids += other.renumbered_ids;
        self.system_merged += other.system_merged;
        self.system_notes += other.system_notes;
        self.function_messages += other.function_messages;
    }

    /// One sentence per kind of change, in a fixed order; none when nothing changed.
    pub fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.images > 0 {
            out.push(format!(
                "{} image(s) counted as {} tokens (a fixed estimate each: 85 at detail low, \
                 765 otherwise, 1,590 for an Anthropic image; the text is unchanged)",
                self.images, self.image_tokens
            ));
        }
        if self.tool_use_parts + self.tool_result_parts > 0 {
            out.push(format!(
                "{} tool_use part(s) read as tool calls and {} tool_result part(s) as tool messages",
                self.tool_use_parts, self.tool_result_parts
            ));
        }
        if !self.unread_parts.is_empty() {
            let kinds: Vec<String> = self
                .unread_parts
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            out.push(format!(
                "content parts not read (left out of every figure): {}",
                kinds.join(", ")
            ));
        }
        if self.interrupted_calls > 0 {
            out.push(format!(
                "{} tool call(s) without a result answered with \"(no result)\"",
                self.interrupted_calls
            ));
        }
        if self.renumbered_ids > 0 {
            out.push(format!(
                "{} reused tool call id(s) renumbered (`id~2`)",
                self.renumbered_ids
            ));
        }
        if self.system_merged > 0 {
            out.push(format!(
                "{} leading system message(s) merged into the first",
                self.system_merged
            ));
        }
        if self.system_notes > 0 {
            out.push(format!(
                "{} later system message(s) read as user messages \"[system message] …\"",
                self.system_notes
            ));
        }
        if self.function_messages > 0 {
            out.push(format!(
                "{} legacy `function` message(s) read as tool messages",
                self.function_messages
            ));
        }
        out
    }
}
