//! One container's log entries as the engine sends them (`TIMESTAMP message`, with `timestamps=true`) ->
//! whole lines: Docker splits a line longer than 16 KiB into several entries (json-file's partial
//! messages), each with its own timestamp, all but the last without the trailing `\n`.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::Stream;

/// The size of the pieces Docker cuts a long line into (moby's log copier buffer).
pub const PARTIAL_SIZE: usize = 16 * 1024;

/// One entry, the timestamp read off.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Unix nanoseconds.
    pub nanos: i128,
    /// The engine's RFC 3339 timestamp, as it wrote it.
    pub time: String,
    pub stream: Stream,
    /// The message; ends in `\n` unless it is a partial piece (or the last output of a stopped container).
    pub text: Vec<u8>,
}

/// `2026-12-01T22:01:23.123456789Z message` -> (nanos, timestamp, message); `None` without a timestamp.
pub fn split_timestamp(raw: &[u8]) -> Option<(i128, String, &[u8])> {
    let space = raw.iter().take(40).position(|b| *b == b' ')?;
    let stamp = std::str::from_utf8(&raw[..space]).ok()?;
    let nanos = OffsetDateTime::parse(stamp, &Rfc3339).ok()?.unix_timestamp_nanos();
    Some((nanos, stamp.to_string(), &raw[space + 1..]))
}

/// The entries in one chunk of the engine's output. A container with a TTY has no frames (a raw stream
/// cut at newlines), so a partial piece arrives glued to the next entry's timestamp: cut it there.
pub fn entries(stream: Stream, raw: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some((nanos, time, message)) = split_timestamp(rest) {
        let glued = message.len() > PARTIAL_SIZE
            && message[PARTIAL_SIZE - 1] != b'\n'
            && split_timestamp(&message[PARTIAL_SIZE..]).is_some();
        let (text, next) = if glued { message.split_at(PARTIAL_SIZE) } else { (message, &[][..]) };
        out.push(Entry { nanos, time, stream, text: text.to_vec() });
        rest = next;
        if rest.is_empty() {
            return out;
        }
    }
    if !rest.is_empty() {
        // No timestamp (an engine that ignored `timestamps`): keep the text, time unknown.
        out.push(Entry { nanos: 0, time: String::new(), stream, text: rest.to_vec() });
    }
    out
}

/// Joins partial pieces per stream: a piece not ending in `\n` is continued by the next entry of the same
/// stream. A line keeps the timestamp of its first piece.
#[derive(Default)]
pub struct Assembler {
    pending: Vec<Entry>,
}

impl Assembler {
    /// The line this entry completes, if any (without its `\n`, or `\r\n` from a TTY).
    pub fn push(&mut self, entry: Entry) -> Option<Entry> {
        let complete = entry.text.ends_with(b"\n");
        let whole = match self.pending.iter().position(|p| p.stream == entry.stream) {
            Some(i) => {
                let mut first = self.pending.remove(i);
                first.text.extend_from_slice(&entry.text);
                first
            }
            None => entry,
        };
        if complete {
            Some(trimmed(whole))
        } else {
            self.pending.push(whole);
            None
        }
    }

    /// What is left when the stream ends: output without a final newline.
    pub fn finish(&mut self) -> Vec<Entry> {
        self.pending.drain(..).map(trimmed).collect()
    }
}

fn trimmed(mut e: Entry) -> Entry {
    if e.text.ends_with(b"\n") {
        e.text.pop();
    }
    if e.text.ends_with(b"\r") {
        e.text.pop();
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "2026-12-01T22:01:23.5Z";
    const T2: &str = "2026-12-01T22:01:23.123456789Z";

    fn raw(time: &str, text: &str) -> Vec<u8> {
        format!("{time} {text}").into_bytes()
    }

    #[test]
    fn timestamps_with_trimmed_zeros_are_read_to_the_nanosecond() {
        let first = raw(T1, "hi\n");
        let (a, stamp, text) = split_timestamp(&first).unwrap();
        let (b, _, _) = split_timestamp(&raw(T2, "x")).unwrap();
        assert_eq!(stamp, T1);
        assert_eq!(text, b"hi\n");
        assert_eq!(a - b, 500_000_000 - 123_456_789);
        assert!(split_timestamp(b"no timestamp here\n").is_none());
    }

    #[test]
    fn partial_pieces_are_joined_per_stream_and_keep_the_first_timestamp() {
        let mut asm = Assembler::default();
        let part = |time: &str, stream, text: &str| entries(stream, &raw(time, text)).remove(0);
        assert_eq!(asm.push(part(T1, Stream::Stdout, "aaa")), None);
        // A complete stderr line in between does not end the stdout line.
        assert_eq!(asm.push(part(T2, Stream::Stderr, "err\n")).unwrap().text, b"err");
        assert_eq!(asm.push(part(T2, Stream::Stdout, "bbb")), None);
        let line = asm.push(part(T2, Stream::Stdout, "ccc\r\n")).unwrap();
        assert_eq!(line.text, b"aaabbbccc");
        assert_eq!(line.time, T1);
        assert!(asm.finish().is_empty());
        asm.push(part(T1, Stream::Stdout, "tail without newline"));
        assert_eq!(asm.finish()[0].text, b"tail without newline");
    }

    #[test]
    fn a_tty_stream_cuts_a_partial_piece_off_the_next_timestamp() {
        let long = "x".repeat(PARTIAL_SIZE);
        let glued = format!("{T1} {long}{T2} end\n");
        let found = entries(Stream::Stdout, glued.as_bytes());
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].text, long.as_bytes());
        assert_eq!((found[1].time.as_str(), found[1].text.as_slice()), (T2, &b"end\n"[..]));
        let mut asm = Assembler::default();
        let lines: Vec<_> = found.into_iter().filter_map(|e| asm.push(e)).collect();
        assert_eq!(lines[0].text, format!("{long}end").as_bytes());
    }
}
