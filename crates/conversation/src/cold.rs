//! The cold store: messages evicted by `offload`, kept losslessly so retrieval brings them back
//! byte for byte (MemGPT's recall storage, Deep Agents' offloading to a backend).
//!
//! Each [`ColdStore::put`] writes one zstd frame: the messages as serde_json, compressed at the
//! store's level (default 3, the sensible default measured in `research/compression.md` §3;
//! `[compression] zstd_level` sets it). Frames are per evicted span, so any one can be read
//! back alone. A trained [`Dictionary`] lifts the ratio of small frames toward the ratio of
//! the whole conversation (§3: 2.2x per message without, 3.0–3.3x with a 16–112 KiB
//! dictionary); every frame records the id of the dictionary it was written with, so a
//! newer dictionary never makes older frames unreadable.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use zstd::dict::EncoderDictionary;

use crate::message::Message;

/// The zstd level used when none is configured.
pub const DEFAULT_LEVEL: i32 = 3;

/// Why a dictionary could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ColdError {
    /// zstd could not train on the samples (too few, or too small for the size asked).
    #[error(
        "cannot train a zstd dictionary of {max_size} bytes on {samples} samples: give more samples (about 100 times the dictionary's size in total) or ask for a smaller dictionary"
    )]
    Train {
        /// How many samples were given.
        samples: usize,
        /// The dictionary size asked for.
        max_size: usize,
        /// zstd's reason.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a zstd dictionary (they carry no dictionary id).
    #[error(
        "not a zstd dictionary ({len} bytes without a dictionary header): train one with `Dictionary::train`"
    )]
    NotADictionary {
        /// Length of the bytes given.
        len: usize,
    },
}

/// A trained zstd dictionary, cheap to clone and share between the stores of a fleet.
#[derive(Clone)]
pub struct Dictionary {
    id: u32,
    bytes: Arc<[u8]>,
    /// The dictionary digested for compressing at one level, made at the first frame and
    /// shared by the clones: zstd digests a dictionary before using it, and doing so for each
    /// frame halved `put`'s speed (`docs/performance.md`, zstd on the cold store's bytes).
    prepared: Arc<OnceLock<(i32, EncoderDictionary<'static>)>>,
}

impl fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dictionary")
            .field("id", &self.id)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Dictionary {
    /// Trains a dictionary of at most `max_size` bytes on `samples` (zstd's advice: one
    /// dictionary per kind of data, samples totalling about 100 times its size).
    pub fn train<S: AsRef<[u8]>>(samples: &[S], max_size: usize) -> Result<Self, ColdError> {
        let bytes =
            zstd::dict::from_samples(samples, max_size).map_err(|source| ColdError::Train {
                samples: samples.len(),
                max_size,
                source,
            })?;
        Self::from_bytes(bytes)
    }

    /// A dictionary from its bytes (as trained earlier and saved).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, ColdError> {
        let id = zstd::zstd_safe::get_dict_id(&bytes)
            .ok_or(ColdError::NotADictionary { len: bytes.len() })?;
        Ok(Self {
            id: id.get(),
            bytes: bytes.into(),
            prepared: Arc::default(),
        })
    }

    /// One sample per message, as the store serializes them: what to train on.
    pub fn samples_of(messages: &[Message]) -> Vec<Vec<u8>> {
        messages
            .iter()
            .map(|m| serde_json::to_vec(m).expect("messages always serialize"))
            .collect()
    }

    /// Its zstd dictionary id, recorded in the frames written with it.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Its bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// It digested for compressing at `level`: prepared at the first call, whose level it
    /// keeps (`None` at any other level: compress with the bytes then).
    fn prepared(&self, level: i32) -> Option<&EncoderDictionary<'static>> {
        let (at, prepared) = self
            .prepared
            .get_or_init(|| (level, EncoderDictionary::copy(&self.bytes, level)));
        (*at == level).then_some(prepared)
    }
}

/// One compressed span.
#[derive(Debug)]
struct Frame {
    /// The dictionary it was compressed with.
    dict: Option<u32>,
    /// Length of the JSON before compression, the capacity to decompress into.
    raw_len: usize,
    data: Vec<u8>,
}

/// Evicted messages by handle, as zstd frames.
#[derive(Debug)]
pub struct ColdStore {
    frames: BTreeMap<u64, Frame>,
    next: u64,
    /// Bytes of the messages before they were stored.
    raw_bytes: u64,
    level: i32,
    /// Every dictionary a frame was written with, by id, so old frames stay readable.
    dictionaries: BTreeMap<u32, Dictionary>,
    /// The dictionary new frames are written with.
    active: Option<u32>,
}

impl Default for ColdStore {
    fn default() -> Self {
        Self::new(DEFAULT_LEVEL)
    }
}

impl ColdStore {
    /// An empty store compressing at `level` (clamped to zstd's range).
    pub fn new(level: i32) -> Self {
        Self {
            frames: BTreeMap::new(),
            next: 0,
            raw_bytes: 0,
            level: clamp_level(level),
            dictionaries: BTreeMap::new(),
            active: None,
        }
    }

    /// The zstd level of new frames.
    pub fn level(&self) -> i32 {
        self.level
    }

    /// Sets the zstd level of new frames (clamped to zstd's range); stored frames keep theirs.
    pub fn set_level(&mut self, level: i32) {
        self.level = clamp_level(level);
    }

    /// Writes new frames with `dict` (older frames keep the dictionary they were written with).
    pub fn use_dictionary(&mut self, dict: Dictionary) {
        self.active = Some(dict.id);
        self.dictionaries.insert(dict.id, dict);
    }

    /// Trains a dictionary on `samples` (see [`Dictionary::train`]), writes new frames with
    /// it, and returns its id.
    pub fn train_dictionary<S: AsRef<[u8]>>(
        &mut self,
        samples: &[S],
        max_size: usize,
    ) -> Result<u32, ColdError> {
        let dict = Dictionary::train(samples, max_size)?;
        let id = dict.id;
        self.use_dictionary(dict);
        Ok(id)
    }

    /// The handle the next [`put`](Self::put) will return.
    pub fn next_handle(&self) -> u64 {
        self.next
    }

    /// Stores `messages` as one frame, returning their handle.
    pub fn put(&mut self, messages: &[Message]) -> u64 {
        let json = serde_json::to_vec(messages).expect("messages always serialize");
        let dict = self.active.and_then(|id| self.dictionaries.get(&id));
        let data = match dict {
            Some(d) => match d.prepared(self.level) {
                Some(prepared) => zstd::bulk::Compressor::with_prepared_dictionary(prepared),
                None => zstd::bulk::Compressor::with_dictionary(self.level, d.as_bytes()),
            }
            .and_then(|mut c| c.compress(&json)),
            None => zstd::bulk::compress(&json, self.level),
        }
        .expect("zstd compresses in-memory bytes at a clamped level with a trained dictionary");
        self.raw_bytes += json.len() as u64;
        let handle = self.next;
        self.next += 1;
        self.frames.insert(
            handle,
            Frame {
                dict: dict.map(Dictionary::id),
                raw_len: json.len(),
                data,
            },
        );
        handle
    }

    /// The messages stored under `handle` (`None` for an unknown handle).
    pub fn get(&self, handle: u64) -> Option<Vec<Message>> {
        let frame = self.frames.get(&handle)?;
        let json = match frame.dict {
            Some(id) => {
                zstd::bulk::Decompressor::with_dictionary(self.dictionaries.get(&id)?.as_bytes())
                    .and_then(|mut d| d.decompress(&frame.data, frame.raw_len))
            }
            None => zstd::bulk::decompress(&frame.data, frame.raw_len),
        }
        .ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// The dictionary id frame `handle` was written with (`None`: no dictionary, or no frame).
    pub fn frame_dictionary(&self, handle: u64) -> Option<u32> {
        self.frames.get(&handle).and_then(|f| f.dict)
    }

    /// How many frames are held.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes held in frames (compressed). Dictionaries are counted apart, in
    /// [`dictionary_bytes`](Self::dictionary_bytes), since a fleet shares them.
    pub fn bytes(&self) -> u64 {
        self.frames.values().map(|f| f.data.len() as u64).sum()
    }

    /// Bytes of what was stored, uncompressed (its serde_json).
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Bytes of the dictionaries held.
    pub fn dictionary_bytes(&self) -> u64 {
        self.dictionaries
            .values()
            .map(|d| d.bytes.len() as u64)
            .sum()
    }

    /// [`raw_bytes`](Self::raw_bytes) over [`bytes`](Self::bytes); 1.0 while empty.
    pub fn ratio(&self) -> f64 {
        match self.bytes() {
            0 => 1.0,
            held => self.raw_bytes as f64 / held as f64,
        }
    }
}

fn clamp_level(level: i32) -> i32 {
    let range = zstd::compression_level_range();
    level.clamp(*range.start(), *range.end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ToolCall;
    use crate::tokens::CharsPerToken;

    const C: CharsPerToken = CharsPerToken(4.0);

    fn span(i: usize) -> Vec<Message> {
        let call = ToolCall {
            id: format!("call_{i}"),
            name: "read_file".to_owned(),
            arguments: format!(r#"{{"path":"src/module_{i}.rs"}}"#),
        };
        let mut stub = Message::user(format!("stub {i}"), &C);
        stub.origin = crate::message::Origin::Stub { handle: i as u64 };
        vec![
            Message::assistant(format!("Reading module {i}."), vec![call], &C),
            Message::tool(
                format!("call_{i}"),
                "read_file",
                format!(
                    "pub fn handler_{i}(req: Request) -> Result<Response, Error> {{\n    let id = req.id();\n    log::info!(\"handling {{id}} in module {i}\");\n    Ok(Response::new(id))\n}}\n"
                ),
                &C,
            ),
            stub,
        ]
    }

    #[test]
    fn frames_round_trip_exactly() {
        let mut store = ColdStore::new(19);
        let a = span(1);
        let b = span(2);
        let ha = store.put(&a);
        let hb = store.put(&b);
        assert_ne!(ha, hb);
        assert_eq!(store.get(ha).unwrap(), a);
        assert_eq!(store.get(hb).unwrap(), b);
        assert_eq!(store.get(99), None);
        assert_eq!(store.len(), 2);
        assert_eq!(store.level(), 19);
    }

    #[test]
    fn repetitive_text_compresses() {
        let mut store = ColdStore::default();
        let text = "error[E0308]: mismatched types in src/main.rs line 42\n".repeat(200);
        store.put(&[Message::tool("c", "cargo_build", text, &C)]);
        assert!(store.ratio() > 10.0, "ratio {}", store.ratio());
        assert_eq!(ColdStore::default().ratio(), 1.0);
    }

    #[test]
    fn a_dictionary_trains_and_its_frames_decode() {
        let history: Vec<Message> = (0..120).flat_map(span).collect();
        let samples = Dictionary::samples_of(&history);
        let mut plain = ColdStore::default();
        let mut with_dict = ColdStore::default();
        let id = with_dict.train_dictionary(&samples, 4096).unwrap();
        for i in 200..230 {
            let s = span(i);
            let hp = plain.put(&s);
            let hd = with_dict.put(&s);
            assert_eq!(with_dict.frame_dictionary(hd), Some(id));
            assert_eq!(plain.frame_dictionary(hp), None);
            assert_eq!(with_dict.get(hd).unwrap(), s);
        }
        assert!(
            with_dict.ratio() > plain.ratio(),
            "dictionary {} vs plain {}",
            with_dict.ratio(),
            plain.ratio()
        );
        assert!(with_dict.dictionary_bytes() > 0);
    }

    #[test]
    fn old_frames_stay_readable_after_a_new_dictionary() {
        let history: Vec<Message> = (0..120).flat_map(span).collect();
        let mut store = ColdStore::default();
        let before = store.put(&span(1));
        store
            .train_dictionary(&Dictionary::samples_of(&history), 2048)
            .unwrap();
        let after = store.put(&span(2));
        assert_eq!(store.get(before).unwrap(), span(1));
        assert_eq!(store.get(after).unwrap(), span(2));
    }

    #[test]
    fn one_shared_dictionary_serves_stores_at_any_level() {
        let history: Vec<Message> = (0..120).flat_map(span).collect();
        let dict = Dictionary::train(&Dictionary::samples_of(&history), 4096).unwrap();
        let mut plain = ColdStore::new(19);
        // The first store prepares it at level 3; the second, at 19, compresses with its bytes.
        for level in [3, 3, 19] {
            let mut store = ColdStore::new(level);
            store.use_dictionary(dict.clone());
            let h = store.put(&span(300));
            assert_eq!(store.get(h).unwrap(), span(300));
            assert_eq!(store.frame_dictionary(h), Some(dict.id()));
            plain.put(&span(300));
            assert!(
                store.bytes() < plain.bytes() / plain.len() as u64,
                "level {level}"
            );
        }
    }

    #[test]
    fn bad_training_input_is_an_error() {
        let err = Dictionary::train(&[b"x".to_vec()], 4096).unwrap_err();
        assert!(err.to_string().contains("1 samples"), "{err}");
        assert!(matches!(
            Dictionary::from_bytes(vec![1, 2, 3]),
            Err(ColdError::NotADictionary { len: 3 })
        ));
    }
}
