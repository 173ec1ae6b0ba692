//! The events of a chat completions stream, decoded as async-openai decodes them (through
//! eventsource-stream), so a stream read here fails exactly where and as it failed there:
//!
//! - bytes become text up to the first byte that is not UTF-8; an incomplete character waits
//!   for the next chunk, and from an invalid byte on nothing more is read (eventsource-stream
//!   keeps such bytes pending, and says so only when the body ends: [`Events::end`]);
//! - a byte-order mark opening the stream is dropped (where eventsource-stream 0.2.3 panics,
//!   slicing the mark's first byte off a `str`: under async-openai the stream then ended as
//!   cut short);
//! - lines end at `\r\n`, `\r` or `\n` (a `\r` closing a chunk waits for a possible `\n`);
//! - `:` opens a comment; otherwise the line is a field name, then optionally `:`, one
//!   optional space and the value; `data` appends its value and a line feed, `event` sets the
//!   type, other fields are ignored;
//! - an empty line ends an event: one with no data is dropped, otherwise its data loses its
//!   last line feed and it is handed on with whether its type is `keepalive` (async-openai
//!   ends at a `[DONE]` before it skips a keep-alive).
//!
//! A property test checks this decoder against eventsource-stream itself, on streams of
//! right and wrong pieces split anywhere.
//!
//! Without async-openai's decoder a stream costs no task and channel of its own, no parser
//! combinators and no event struct per event.

use metrics::ErrorKind;

/// One event of the stream.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Event {
    /// Its type is `keepalive`: skipped, unless its data is `[DONE]`.
    pub(super) keepalive: bool,
    pub(super) data: String,
}

/// A stream's bytes so far that do not yet make an event.
#[derive(Debug, Default)]
pub(super) struct Events {
    /// Bytes not yet text: an incomplete character, or everything from an invalid byte on.
    raw: Vec<u8>,
    /// Text not yet a whole line.
    text: String,
    /// Whether any text came (a byte-order mark is dropped only at the start).
    started: bool,
    /// The event being read: its data (each line followed by a line feed) and type.
    data: String,
    kind: String,
}

impl Events {
    /// Adds `chunk`; returns every event it completes, in order.
    pub(super) fn push(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.raw.extend_from_slice(chunk);
        let valid = match std::str::from_utf8(&self.raw) {
            Ok(text) => text.len(),
            Err(e) => e.valid_up_to(),
        };
        if valid > 0 {
            let rest = self.raw.split_off(valid);
            let text = String::from_utf8(std::mem::replace(&mut self.raw, rest))
                .expect("the prefix up to `valid_up_to` is UTF-8");
            let text = if self.started {
                text.as_str()
            } else {
                self.started = true;
                text.strip_prefix('\u{feff}').unwrap_or(&text)
            };
            self.text.push_str(text);
        }
        self.lines()
    }

    /// The whole lines of `text`, applied; the events they complete.
    fn lines(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut text = std::mem::take(&mut self.text);
        let bytes = text.as_bytes();
        while let Some(at) = bytes[start..]
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
            .map(|i| start + i)
        {
            // A `\r` closing the text may be the first half of `\r\n`: wait for the next byte.
            if bytes[at] == b'\r' && at + 1 == bytes.len() {
                break;
            }
            let next = if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
                at + 2
            } else {
                at + 1
            };
            let line = &text[start..at];
            if line.is_empty() {
                if let Some(data) = self.dispatch() {
                    out.push(data);
                }
            } else if !line.starts_with(':') {
                let (field, value) = match line.split_once(':') {
                    Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                    None => (line, ""),
                };
                match field {
                    "data" => {
                        self.data.push_str(value);
                        self.data.push('\n');
                    }
                    "event" => self.kind = value.to_owned(),
                    _ => {}
                }
            }
            start = next;
        }
        text.drain(..start);
        self.text = text;
        out
    }

    /// The event an empty line ends: `None` without data.
    fn dispatch(&mut self) -> Option<Event> {
        let mut data = std::mem::take(&mut self.data);
        let kind = std::mem::take(&mut self.kind);
        if data.is_empty() {
            return None;
        }
        data.pop();
        Some(Event {
            keepalive: kind == "keepalive",
            data,
        })
    }

    /// The body ended: bytes left that are not text fail the stream as async-openai's
    /// decoder fails it, `truncated` when they are the start of a character (the body was cut
    /// inside it), `malformed` when they are not UTF-8.
    pub(super) fn end(&self) -> Result<(), ErrorKind> {
        match std::str::from_utf8(&self.raw) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => Err(ErrorKind::Truncated),
            Err(_) => Err(ErrorKind::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data of every event but keep-alives, and the end.
    fn all(chunks: &[&[u8]]) -> (Vec<String>, Result<(), ErrorKind>) {
        let mut events = Events::default();
        let mut got = Vec::new();
        for chunk in chunks {
            got.extend(
                events
                    .push(chunk)
                    .into_iter()
                    .filter(|e| !e.keepalive)
                    .map(|e| e.data),
            );
        }
        (got, events.end())
    }

    /// What eventsource-stream (async-openai's decoder) makes of `pieces`: its events, as
    /// (keep-alive, data), and how it ends (`Err` as async-openai's failures classify it).
    fn oracle(pieces: Vec<Vec<u8>>) -> (Vec<(bool, String)>, Result<(), ErrorKind>) {
        use futures_util::StreamExt;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let body = futures_util::stream::iter(pieces.into_iter().map(Ok::<_, std::io::Error>));
            let mut stream = std::pin::pin!(eventsource_stream::EventStream::new(body));
            let mut got = Vec::new();
            while let Some(item) = stream.next().await {
                match item {
                    Ok(e) => got.push((e.event == "keepalive", e.data)),
                    Err(e) => {
                        let text = e.to_string();
                        let kind = if text.contains("incomplete utf-8 byte sequence") {
                            ErrorKind::Truncated
                        } else {
                            ErrorKind::Malformed
                        };
                        return (got, Err(kind));
                    }
                }
            }
            (got, Ok(()))
        })
    }

    /// Pieces of SSE, right and wrong: fields, separators, line ends, a byte-order mark, a
    /// character, half of one, a byte that is never UTF-8.
    fn token() -> impl Strategy<Value = &'static [u8]> {
        prop::sample::select(vec![
            &b"data:"[..],
            b"data: ",
            b"data",
            b"event: keepalive",
            b"event: x",
            b"event:",
            b": note",
            b":",
            b"id: 7",
            b"retry: 5",
            b"x",
            b" ",
            b"[DONE]",
            b"{\"a\":1}",
            b"\n",
            b"\n",
            b"\r",
            b"\r\n",
            "\u{feff}".as_bytes(),
            "\u{e9}".as_bytes(),
            b"\xc3",
            b"\xff",
        ])
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn events_are_eventsource_stream_s_split_anywhere(
            tokens in prop::collection::vec(token(), 0..40),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let body: Vec<u8> = tokens.concat();
            // eventsource-stream panics on a leading byte-order mark (it cuts the mark's
            // first byte off a `str`), in async-openai's stream task, whose stream then reads
            // as cut short; this decoder drops the mark, as the SSE standard says.
            prop_assume!(!body.starts_with("\u{feff}".as_bytes()));
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(body.len() + 1)).collect();
            at.extend([0, body.len()]);
            at.sort_unstable();
            at.dedup();
            let pieces: Vec<Vec<u8>> = at.windows(2).map(|w| body[w[0]..w[1]].to_vec()).collect();
            let mut events = Events::default();
            let mut got = Vec::new();
            for piece in &pieces {
                got.extend(events.push(piece).into_iter().map(|e| (e.keepalive, e.data)));
            }
            prop_assert_eq!((got, events.end()), oracle(pieces));
        }
    }

    #[test]
    fn a_keep_alive_is_an_event_of_its_own_type() {
        let got = Events::default().push(b"event: keepalive\ndata: [DONE]\n\ndata: x\n\n");
        let event = |keepalive, data: &str| Event {
            keepalive,
            data: data.to_owned(),
        };
        assert_eq!(got, [event(true, "[DONE]"), event(false, "x")]);
    }

    #[test]
    fn events_split_anywhere_give_the_same_data() {
        let stream = "\u{feff}data: {\"a\":1}\n\n: comment\r\ndata: one\r\ndata:two\r\n\r\nevent: keepalive\ndata: ping\n\nid: 3\nretry: 5\ndata\n\nevent: x\ndata:[DONE]\n\n".as_bytes();
        let (whole, end) = all(&[stream]);
        assert_eq!(whole, ["{\"a\":1}", "one\ntwo", "", "[DONE]"]);
        assert_eq!(end, Ok(()));
        for cut in 1..stream.len() {
            assert_eq!(
                all(&[&stream[..cut], &stream[cut..]]).0,
                whole,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn only_a_stream_s_first_bytes_may_be_a_byte_order_mark() {
        let (got, _) = all(&["data: a\n\n".as_bytes(), "\u{feff}data: b\n\n".as_bytes()]);
        assert_eq!(got, ["a"], "a later mark is part of a field name");
    }

    #[test]
    fn a_body_cut_inside_a_character_is_truncated_and_bad_bytes_are_malformed() {
        let e_acute = "é".as_bytes();
        let (got, end) = all(&[b"data: x\n\ndata: ", &e_acute[..1]]);
        assert_eq!(
            (got, end),
            (vec!["x".to_owned()], Err(ErrorKind::Truncated))
        );
        // After an invalid byte nothing more is read, and the end says malformed.
        let (got, end) = all(&[b"data: x\n\ndata: \xff\n\ndata: y\n\n"]);
        assert_eq!(
            (got, end),
            (vec!["x".to_owned()], Err(ErrorKind::Malformed))
        );
        // A character split over two chunks is whole.
        let (got, end) = all(&[b"data: ", &e_acute[..1], &e_acute[1..], b"\n\n"]);
        assert_eq!((got, end), (vec!["é".to_owned()], Ok(())));
    }

    #[test]
    fn a_carriage_return_closing_a_chunk_waits_for_its_line_feed() {
        let (got, _) = all(&[b"data: a\r", b"\ndata: b\r\n\r\n"]);
        assert_eq!(got, ["a\nb"]);
        let (got, _) = all(&[b"data: a\r"]);
        assert!(got.is_empty(), "an unfinished event is not given");
    }
}
