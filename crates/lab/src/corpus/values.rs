//! Unique high-entropy values: codes like `QX7-4471-KP`, paths like
//! `src/ledger/route_4471kp.rs`, and near misses of either (same text, other digits). Every
//! value made by one [`Values`] is new, so an exact substring match finds exactly one fact.

use std::collections::BTreeSet;

use scenario::SimRng;
use scenario::text::word;

use super::text::index;

const LETTERS: &[u8; 24] = b"ABCDEFGHJKMNPQRSTUVWXYZL";

/// Makes values none of which was made before by the same `Values`.
#[derive(Debug, Default)]
pub(crate) struct Values {
    used: BTreeSet<String>,
}

impl Values {
    /// A code: two letters and a digit, four digits, two letters (`QX7-4471-KP`).
    pub(crate) fn code(&mut self, rng: &mut SimRng) -> String {
        self.fresh(|| {
            format!(
                "{}{}{}-{:04}-{}{}",
                letter(rng),
                letter(rng),
                rng.below(10),
                rng.below(10_000),
                letter(rng),
                letter(rng)
            )
        })
    }

    /// A file path: `src/{word}/{word}_{4 digits}{2 letters}.rs`.
    pub(crate) fn path(&mut self, rng: &mut SimRng) -> String {
        self.fresh(|| {
            format!(
                "src/{}/{}_{:04}{}{}.rs",
                word(rng),
                word(rng),
                rng.below(10_000),
                letter(rng).to_ascii_lowercase(),
                letter(rng).to_ascii_lowercase()
            )
        })
    }

    /// A near miss of `value`: its four-digit run replaced by other digits.
    pub(crate) fn near_miss(&mut self, rng: &mut SimRng, value: &str) -> String {
        let at = value
            .as_bytes()
            .windows(4)
            .position(|w| w.iter().all(u8::is_ascii_digit))
            .expect("every value has a four-digit run");
        self.fresh(|| {
            format!(
                "{}{:04}{}",
                &value[..at],
                rng.below(10_000),
                &value[at + 4..]
            )
        })
    }

    fn fresh(&mut self, mut make: impl FnMut() -> String) -> String {
        loop {
            let v = make();
            if self.used.insert(v.clone()) {
                return v;
            }
        }
    }
}

fn letter(rng: &mut SimRng) -> char {
    char::from(LETTERS[index(rng, LETTERS.len())])
}
