//! Values given on the command line (`--agents`, `--duration`, ...), laid over the file's
//! TOML before it is read. The loader's type checks and cross-field rules then see them like
//! any other value (a file value a flag replaces is never judged on its own), and a problem
//! with one names the flag and its value instead of a file position.

use std::borrow::Cow;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::schema::llm::redacted;
use crate::schema::{ClockMode, Fleet};
use crate::units::Dur;

/// A value for one key of the scenario (every provider's, for `BaseUrl` and `Model`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    /// `clock`.
    Clock(ClockMode),
    /// `fleet.agents`.
    Agents(u32),
    /// `fleet.shards`.
    Shards(u32),
    /// `fleet.duration`. A `fleet.ramp_up` longer than it becomes a third of it (with a note),
    /// so a short trial run of a long scenario needs one flag, not two.
    Duration(Dur),
    /// `seed`.
    Seed(u64),
    /// `base_url` of every `[[llm.providers]]` (of the default provider when the file lists
    /// none).
    BaseUrl(String),
    /// `model` of every `[[llm.providers]]` (of the default provider when the file lists none).
    Model(String),
    /// `api_key_env` of every `[[llm.providers]]` (of the default provider when the file lists
    /// none): the variable's name, never the key.
    ApiKeyEnv(String),
    /// One header of every `[[llm.providers]]`, `headers.NAME = "value"` (`--header 'NAME:
    /// value'`). Its value is never shown: a shell-expanded key (`"api-key: $KEY"`) is common.
    Header {
        /// The header's name.
        name: String,
        /// Its value.
        value: String,
    },
}

/// A [`Setting`] and the flag that gave it, so a problem with it names the flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    flag: &'static str,
    setting: Setting,
    /// The value as errors and notes show it (a URL's credentials as `***`); for integers,
    /// also the TOML text laid into the document, which must outlive it.
    shown: String,
}

impl Override {
    /// `setting`, given by `flag` (like `"--agents"`).
    pub fn new(flag: &'static str, setting: Setting) -> Self {
        let shown = match &setting {
            Setting::Clock(c) => c.as_str().to_owned(),
            Setting::Agents(n) | Setting::Shards(n) => n.to_string(),
            Setting::Duration(d) => d.to_string(),
            Setting::Seed(n) => n.to_string(),
            Setting::BaseUrl(url) => redacted(url),
            Setting::Model(m) | Setting::ApiKeyEnv(m) => m.clone(),
            Setting::Header { name, .. } => format!("'{name}: ***'"),
        };
        Self {
            flag,
            setting,
            shown,
        }
    }

    /// The flag, like `--agents`.
    pub fn flag(&self) -> &'static str {
        self.flag
    }

    /// The value set.
    pub fn setting(&self) -> &Setting {
        &self.setting
    }

    /// The flag and its value as a person wrote them, like `--agents 0`.
    pub fn shown(&self) -> String {
        format!("{} {}", self.flag, self.shown)
    }
}

/// A key of the scenario a flag set (`fleet.agents`, `llm.providers[1].base_url`): a problem
/// at or under it is the flag's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagKey {
    /// The key's path, as problems name it.
    pub key: String,
    /// The flag that set it.
    pub flag: &'static str,
}

impl FlagKey {
    /// Whether a problem at `key` concerns this flag's key (it, or a key inside it).
    pub fn covers(&self, key: &str) -> bool {
        key.strip_prefix(self.key.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    }
}

/// What laying the overrides did: the keys they set, and notes for the user.
#[derive(Debug, Default)]
pub(crate) struct Laid {
    pub(crate) keys: Vec<FlagKey>,
    pub(crate) notes: Vec<String>,
}

/// Lays `overrides` over the document, in order. A key whose parent in the file is not a
/// table (or `llm.providers` not an array) is left alone: the file's own error is reported.
pub(crate) fn lay<'a>(doc: &mut DeTable<'a>, overrides: &'a [Override]) -> Laid {
    let mut laid = Laid::default();
    for o in overrides {
        let mut set = |path: &[&str], value: DeValue<'a>| {
            if set_path(doc, path, value) {
                laid.keys.push(FlagKey {
                    key: path.join("."),
                    flag: o.flag,
                });
            }
        };
        match &o.setting {
            Setting::Clock(c) => set(&["clock"], string(c.as_str())),
            Setting::Agents(_) => set(&["fleet", "agents"], integer(&o.shown)),
            Setting::Shards(_) => set(&["fleet", "shards"], integer(&o.shown)),
            Setting::Seed(_) => set(&["seed"], integer(&o.shown)),
            Setting::Duration(d) => {
                set(&["fleet", "duration"], string(&d.to_string()));
                if let Some(note) = shorten_ramp(doc, *d, o, &mut laid.keys) {
                    laid.notes.push(note);
                }
            }
            Setting::BaseUrl(url) => every_provider(doc, &["base_url"], string(url), o, &mut laid),
            Setting::Model(m) => every_provider(doc, &["model"], string(m), o, &mut laid),
            Setting::ApiKeyEnv(var) => {
                every_provider(doc, &["api_key_env"], string(var), o, &mut laid);
            }
            Setting::Header { name, value } => {
                every_provider(doc, &["headers", name], string(value), o, &mut laid);
            }
        }
    }
    laid
}

/// A ramp-up longer than the flag's duration becomes a third of it.
fn shorten_ramp(
    doc: &mut DeTable<'_>,
    duration: Dur,
    o: &Override,
    keys: &mut Vec<FlagKey>,
) -> Option<String> {
    let file_ramp = match table(doc, "fleet").and_then(|f| entry(f, "ramp_up")) {
        // Not a valid duration: the loader reports it at its position.
        Some(value) => value.get_ref().as_str()?.parse::<Dur>().ok()?,
        None => Fleet::default().ramp_up,
    };
    if file_ramp <= duration {
        return None;
    }
    let third = u64::try_from(duration.0.as_millis() / 3).unwrap_or(u64::MAX);
    let ramp = Dur::millis(third);
    if !set_path(doc, &["fleet", "ramp_up"], string(&ramp.to_string())) {
        return None;
    }
    keys.push(FlagKey {
        key: "fleet.ramp_up".to_owned(),
        flag: o.flag,
    });
    Some(format!(
        "{} is shorter than the scenario's ramp_up {file_ramp}; ramping up over {ramp}",
        o.shown()
    ))
}

/// Sets the value at `key` (a path inside a provider) in every `[[llm.providers]]` table;
/// with no providers in the file, lists one holding only `key`, which is the default provider
/// with that key changed.
fn every_provider<'a>(
    doc: &mut DeTable<'a>,
    key: &[&str],
    value: DeValue<'a>,
    o: &Override,
    laid: &mut Laid,
) {
    let Some(llm) = child_table(doc, "llm") else {
        return;
    };
    if entry(llm, "providers").is_none() {
        let mut array = DeArray::new();
        array.push(spanned(DeValue::Table(DeTable::new())));
        llm.insert(spanned_key("providers"), spanned(DeValue::Array(array)));
    }
    let Some(DeValue::Array(providers)) = entry_mut(llm, "providers").map(Spanned::get_mut) else {
        return;
    };
    for (i, provider) in providers.iter_mut().enumerate() {
        if let DeValue::Table(t) = provider.get_mut()
            && set_path(t, key, value.clone())
        {
            laid.keys.push(FlagKey {
                key: format!("llm.providers[{i}].{}", key.join(".")),
                flag: o.flag,
            });
        }
    }
}

/// Sets the value at `path`, creating the tables on the way; false when a value on the way
/// is not a table.
fn set_path<'a>(doc: &mut DeTable<'a>, path: &[&str], value: DeValue<'a>) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut table = doc;
    for key in parents {
        match child_table(table, key) {
            Some(t) => table = t,
            None => return false,
        }
    }
    // Keep the replaced key's own spelling and position: only the value is the flag's.
    match entry_mut(table, last) {
        Some(slot) => *slot = spanned(value),
        None => {
            table.insert(spanned_key(last), spanned(value));
        }
    }
    true
}

/// The table at `key`, created when absent; `None` when the value there is something else.
fn child_table<'t, 'a>(table: &'t mut DeTable<'a>, key: &str) -> Option<&'t mut DeTable<'a>> {
    if entry(table, key).is_none() {
        table.insert(spanned_key(key), spanned(DeValue::Table(DeTable::new())));
    }
    match entry_mut(table, key).map(Spanned::get_mut) {
        Some(DeValue::Table(t)) => Some(t),
        _ => None,
    }
}

fn table<'t, 'a>(doc: &'t DeTable<'a>, key: &str) -> Option<&'t DeTable<'a>> {
    match entry(doc, key).map(Spanned::get_ref) {
        Some(DeValue::Table(t)) => Some(t),
        _ => None,
    }
}

fn entry<'t, 'a>(table: &'t DeTable<'a>, key: &str) -> Option<&'t Spanned<DeValue<'a>>> {
    table
        .iter()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
}

fn entry_mut<'t, 'a>(
    table: &'t mut DeTable<'a>,
    key: &str,
) -> Option<&'t mut Spanned<DeValue<'a>>> {
    table
        .iter_mut()
        .find(|(k, _)| k.get_ref().as_ref() == key)
        .map(|(_, v)| v)
}

/// A value the file does not hold has no position (problems at it are the flag's).
fn spanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

fn spanned_key<'a>(key: &str) -> Spanned<Cow<'a, str>> {
    spanned(Cow::Owned(key.to_owned()))
}

fn string<'a>(s: &str) -> DeValue<'a> {
    DeValue::String(Cow::Owned(s.to_owned()))
}

/// An integer from its decimal text (TOML integers can only be made by parsing).
fn integer(text: &str) -> DeValue<'_> {
    DeValue::parse(text)
        .expect("a u32 or u64 in decimal is a TOML integer")
        .into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(key: &str) -> FlagKey {
        FlagKey {
            key: key.to_owned(),
            flag: "--x",
        }
    }

    #[test]
    fn a_flag_key_covers_itself_and_what_is_inside_it() {
        assert!(key("fleet.agents").covers("fleet.agents"));
        assert!(!key("fleet.agents").covers("fleet.agents_peak"));
        assert!(!key("fleet.agents").covers("fleet"));
        assert!(key("llm.providers[0].base_url").covers("llm.providers[0].base_url"));
        assert!(key("fleet").covers("fleet.agents"));
        assert!(key("llm.providers").covers("llm.providers[3]"));
    }

    fn load(src: &str, overrides: &[Override]) -> Result<crate::Loaded, String> {
        crate::Scenario::from_toml_with(src, "s.toml", overrides).map_err(|e| e.to_string())
    }

    #[test]
    fn a_flag_replaces_the_files_value_before_it_is_checked() {
        let src = "[fleet]\nagents = 0\nramp_up = \"1m\"\nduration = \"99y\"\n";
        assert!(load(src, &[]).is_err());
        let flags = [
            Override::new("--agents", Setting::Agents(4)),
            Override::new("--duration", Setting::Duration(Dur::secs(3))),
        ];
        let loaded = load(src, &flags).unwrap();
        assert_eq!(loaded.scenario.fleet.agents, 4);
        assert_eq!(loaded.scenario.fleet.duration, Some(Dur::secs(3)));
        assert_eq!(loaded.scenario.fleet.ramp_up, Dur::secs(1));
        assert_eq!(
            loaded.notes,
            ["--duration 3s is shorter than the scenario's ramp_up 1m; ramping up over 1s"]
        );
    }

    #[test]
    fn a_bad_flag_value_names_the_flag_not_a_file_position() {
        let src = "name = \"x\"\n[fleet]\nagents = 5\n";
        let err = load(src, &[Override::new("--agents", Setting::Agents(0))]).unwrap_err();
        assert_eq!(
            err,
            "command line (--agents): key `fleet.agents`: invalid value `0`: the number of agents must be at least 1"
        );
        let url = Setting::BaseUrl("https://me:pw@".to_owned());
        let err = load(src, &[Override::new("--base-url", url)]).unwrap_err();
        assert!(
            err.starts_with("command line (--base-url): key `llm.providers[0].base_url`: invalid base_url `https://***@`"),
            "{err}"
        );
        assert!(!err.contains("pw"), "{err}");
    }

    #[test]
    fn a_problem_elsewhere_keeps_its_position_and_says_which_flags_were_given() {
        let src = "clock = \"virtual\"\n[fleet]\nagents = 4\nshards = 4\n";
        let err = load(src, &[Override::new("--agents", Setting::Agents(2))]).unwrap_err();
        assert_eq!(
            err,
            "s.toml:4:10: key `fleet.shards`: shards `4` is more than the 2 agents: every shard needs at least one agent (with --agents 2 from the command line)"
        );
    }

    #[test]
    fn provider_flags_set_every_provider_or_the_default_one() {
        let url = "http://127.0.0.1:8000/v1";
        let flags = [
            Override::new("--base-url", Setting::BaseUrl(url.to_owned())),
            Override::new("--model", Setting::Model("m".to_owned())),
        ];
        let loaded = load("name = \"x\"\n", &flags).unwrap();
        let want = crate::Provider {
            base_url: crate::Endpoint::Url(url.to_owned()),
            model: "m".to_owned(),
            ..crate::Provider::default()
        };
        assert_eq!(loaded.scenario.llm.providers, std::slice::from_ref(&want));
        let two = "[[llm.providers]]\nname = \"a\"\n[[llm.providers]]\nname = \"b\"\n";
        let loaded = load(two, &flags).unwrap();
        assert_eq!(loaded.scenario.llm.providers.len(), 2);
        for p in &loaded.scenario.llm.providers {
            assert_eq!(
                (p.base_url.clone(), p.model.as_str()),
                (want.base_url.clone(), "m")
            );
        }
    }

    #[test]
    fn a_seed_beyond_tomls_integers_is_laid_too() {
        let flags = [Override::new("--seed", Setting::Seed(u64::MAX))];
        assert_eq!(
            load("name = \"x\"\n", &flags).unwrap().scenario.seed,
            u64::MAX
        );
    }

    #[test]
    fn a_url_is_shown_without_its_credentials() {
        let o = Override::new(
            "--base-url",
            Setting::BaseUrl("https://me:secret@example.com/v1".to_owned()),
        );
        assert_eq!(o.shown(), "--base-url https://***@example.com/v1");
    }
}
