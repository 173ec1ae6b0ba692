//! Server-sent events, as far as an answer needs them: the `data` of each event, its lines
//! joined, from chunks split anywhere (`\n`, `\r\n` or `\r` line ends; comments and other
//! fields ignored).

/// Bytes received so far that do not yet end an event.
#[derive(Debug, Default)]
pub(super) struct Events {
    pending: Vec<u8>,
    data: Vec<String>,
}

impl Events {
    /// Adds `chunk`; returns the data of every event it completes.
    pub(super) fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(end) = self.pending[start..]
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
            .map(|i| start + i)
        {
            // A `\r` at the very end may be the first half of `\r\n`: wait for the next byte.
            if self.pending[end] == b'\r' && end + 1 == self.pending.len() {
                break;
            }
            let line = String::from_utf8_lossy(&self.pending[start..end]).into_owned();
            start = end + 1;
            if self.pending[end] == b'\r' && self.pending.get(start) == Some(&b'\n') {
                start += 1;
            }
            if line.is_empty() {
                if !self.data.is_empty() {
                    out.push(self.data.join("\n"));
                    self.data.clear();
                }
            } else if let Some(value) = line.strip_prefix("data:") {
                self.data
                    .push(value.strip_prefix(' ').unwrap_or(value).to_owned());
            }
        }
        self.pending.drain(..start);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_give_the_same_data() {
        let stream = b"data: {\"a\":1}\n\n: comment\r\ndata: one\r\ndata: two\r\n\r\nevent: x\ndata:[DONE]\n\n";
        let whole = Events::default().push(stream);
        assert_eq!(whole, ["{\"a\":1}", "one\ntwo", "[DONE]"]);
        for cut in 1..stream.len() {
            let mut e = Events::default();
            let mut got = e.push(&stream[..cut]);
            got.extend(e.push(&stream[cut..]));
            assert_eq!(got, whole, "cut at {cut}");
        }
    }

    #[test]
    fn an_unfinished_event_is_not_given() {
        assert!(Events::default().push(b"data: partial\n").is_empty());
    }
}
