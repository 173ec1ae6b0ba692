//! The keys of `[compression]` that only a fleet run reads, for its agents' cold stores:
//! `zstd_dictionary` 0 or within [`DICTIONARY_BYTES`], and no scenario tool named like the
//! recall tool the agent adds when `recall_probability` is above 0.

use super::{Checker, KeyPath};
use crate::schema::Scenario;
use crate::schema::compression::{DICTIONARY_BYTES, RECALL_TOOL};

pub(super) fn check(c: &mut Checker, s: &Scenario) {
    let cp = &s.compression;
    if cp.zstd_dictionary != 0 && !DICTIONARY_BYTES.contains(&cp.zstd_dictionary) {
        c.fail(
            KeyPath::parse("compression").key("zstd_dictionary"),
            format!(
                "invalid zstd_dictionary `{}`: use 0 (no dictionary) or {} to {} bytes, like 16384",
                cp.zstd_dictionary,
                DICTIONARY_BYTES.start(),
                DICTIONARY_BYTES.end()
            ),
        );
    }
    if cp.recall_probability.0 > 0.0 && s.tools.contains_key(RECALL_TOOL) {
        c.fail(
            KeyPath::parse("tools").key(RECALL_TOOL),
            format!(
                "a tool named `{RECALL_TOOL}` clashes with the recall tool the agent offers when compression.recall_probability is above 0: rename the tool or set recall_probability = 0"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::Scenario;

    fn error(src: &str) -> String {
        Scenario::from_toml(src, "bad.toml")
            .expect_err("the file is invalid")
            .to_string()
    }

    #[test]
    fn the_cold_store_keys_default_to_off_and_read_back() {
        let c = Scenario::default().compression;
        assert_eq!((c.recall_probability.0, c.zstd_dictionary), (0.0, 0));
        let s = Scenario::from_toml(
            "[compression]\nrecall_probability = 0.25\nzstd_dictionary = 16384\n",
            "c.toml",
        )
        .unwrap();
        assert_eq!(s.compression.recall_probability.0, 0.25);
        assert_eq!(s.compression.zstd_dictionary, 16384);
        assert_eq!(Scenario::from_toml(&s.to_toml(), "again").unwrap(), s);
    }

    #[test]
    fn a_recall_probability_outside_0_to_1_names_the_key_and_the_fix() {
        let text = error("[compression]\nrecall_probability = 1.5\n");
        assert!(
            text.contains("compression.recall_probability")
                && text.contains("invalid probability `1.5`")
                && text.contains("between 0 and 1"),
            "{text}"
        );
    }

    #[test]
    fn a_dictionary_size_outside_its_range_names_the_key_and_the_fix() {
        for bad in [10, 2_000_000] {
            let text = error(&format!("[compression]\nzstd_dictionary = {bad}\n"));
            assert!(
                text.contains("compression.zstd_dictionary")
                    && text.contains(&format!("invalid zstd_dictionary `{bad}`"))
                    && text.contains("like 16384"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_tool_named_recall_clashes_only_when_recall_is_on() {
        let tool = "[tools.recall]\nargs = { q = \"string\" }\n";
        assert!(Scenario::from_toml(tool, "ok.toml").is_ok());
        let text = error(&format!("{tool}[compression]\nrecall_probability = 0.1\n"));
        assert!(
            text.contains("tools.recall") && text.contains("rename the tool"),
            "{text}"
        );
    }
}
