//! Console framing: the bytes a port gives, in whatever chunks its reads return, turned
//! into clean text (for [`super::Console::expect`] and replies) and whole lines (for the
//! timeline).
//!
//! [`LineDecoder`] is sans-IO: the reader thread feeds it each read and is told what the
//! read completed. Its rules, for what a board prints around a reset:
//! - CR LF, LF CR, a bare LF and a bare CR each end a line, once: a CR LF split across two
//!   reads is one line end, a progress line redrawn with bare CRs is one line per redraw.
//! - A UTF-8 character split across reads is held until it is whole and decoded once.
//! - Junk is dropped: bytes that are not UTF-8 (0xFF from a line held low during a reset,
//!   a character cut short) and NUL. Text that junk interrupts ends its line when more
//!   text follows (a reset cut it), so the last line before a reset and the boot banner
//!   after it never merge: the text gets a CR LF there, as the board would have sent.
//! - EOT (0x04), which ends every reply, stays in the text and is left out of lines.
//!
//! When the port goes away, [`LineDecoder::finish`] ends the line it was in.

/// What one chunk of console bytes became.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The text without junk, line ends as received (plus a CR LF where junk cut a line).
    pub text: String,
    /// The lines the chunk completed, without their line ends or EOTs.
    pub lines: Vec<String>,
    /// How many junk bytes were dropped.
    pub junk: usize,
}

/// Splits console bytes into text and lines; see the module documentation.
#[derive(Debug, Default)]
pub struct LineDecoder {
    /// The start of a UTF-8 character whose other bytes have not arrived (at most 3 bytes).
    partial_char: Vec<u8>,
    /// The line so far.
    line: String,
    /// The line end just seen (CR or LF), whose partner (LF or CR) would complete it.
    line_end: Option<char>,
    /// Junk came after the text of `line`: the next text starts a new line.
    cut: bool,
}

/// Whether `bytes` (an invalid tail found by [`str::from_utf8`]'s rules) is the start of
/// a character that more bytes could complete.
fn incomplete_char(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_err_and(|e| e.error_len().is_none())
}

impl LineDecoder {
    /// Decodes the next chunk read from the port.
    pub fn push(&mut self, bytes: &[u8]) -> Decoded {
        let mut out = Decoded::default();
        let mut data = std::mem::take(&mut self.partial_char);
        data.extend_from_slice(bytes);
        let mut chunks = data.utf8_chunks().peekable();
        while let Some(chunk) = chunks.next() {
            for c in chunk.valid().chars() {
                self.char(c, &mut out);
            }
            let invalid = chunk.invalid();
            if chunks.peek().is_none() && incomplete_char(invalid) {
                self.partial_char = invalid.to_vec();
            } else {
                self.junk(invalid.len(), &mut out);
            }
        }
        out
    }

    /// The port went away: the line under way ends, and a character cut short is junk.
    pub fn finish(&mut self) -> Decoded {
        let mut out = Decoded::default();
        let partial = std::mem::take(&mut self.partial_char);
        self.junk(partial.len(), &mut out);
        if !self.line.is_empty() {
            self.end_line(&mut out);
            out.text.push_str("\r\n");
        }
        *self = LineDecoder::default();
        out
    }

    fn char(&mut self, c: char, out: &mut Decoded) {
        match c {
            '\0' => self.junk(1, out),
            '\r' | '\n' => {
                if self.line_end.is_some_and(|end| end != c) {
                    // The second half of CR LF (or LF CR).
                    self.line_end = None;
                } else {
                    self.end_line(out);
                    self.line_end = Some(c);
                }
                out.text.push(c);
            }
            '\u{4}' => out.text.push(c),
            _ => {
                if self.cut && !self.line.is_empty() {
                    self.end_line(out);
                    out.text.push_str("\r\n");
                }
                self.cut = false;
                self.line_end = None;
                self.line.push(c);
                out.text.push(c);
            }
        }
    }

    fn junk(&mut self, count: usize, out: &mut Decoded) {
        if count > 0 {
            out.junk += count;
            self.cut = true;
        }
    }

    fn end_line(&mut self, out: &mut Decoded) {
        out.lines.push(std::mem::take(&mut self.line));
        self.cut = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` one read each; returns every line, the whole text and the junk count.
    fn decode(chunks: &[&[u8]]) -> (Vec<String>, String, usize) {
        let mut decoder = LineDecoder::default();
        let mut all = Decoded::default();
        for chunk in chunks {
            let decoded = decoder.push(chunk);
            all.lines.extend(decoded.lines);
            all.text.push_str(&decoded.text);
            all.junk += decoded.junk;
        }
        (all.lines, all.text, all.junk)
    }

    fn lines(chunks: &[&[u8]]) -> Vec<String> {
        decode(chunks).0
    }

    #[test]
    fn every_kind_of_line_end_ends_one_line() {
        assert_eq!(
            lines(&[b"crlf\r\nlf\ncr\rlfcr\n\rlast\r\n"]),
            ["crlf", "lf", "cr", "lfcr", "last"]
        );
        // A line ends as soon as its end arrives; its partner in the next read ends nothing.
        let mut decoder = LineDecoder::default();
        assert_eq!(decoder.push(b"abc\r").lines, ["abc"]);
        assert_eq!(decoder.push(b"\ndef\r").lines, ["def"]);
        assert_eq!(decoder.push(b"\n").lines, Vec::<String>::new());
        assert_eq!(decoder.push(b"ghi\n").lines, ["ghi"]);
    }

    #[test]
    fn a_bare_cr_is_a_line_break_and_empty_lines_stay() {
        assert_eq!(
            lines(&[b"flash 10%\rflash 60%\rflash 100%\r\n"]),
            ["flash 10%", "flash 60%", "flash 100%"]
        );
        assert_eq!(lines(&[b"a\r\n\r\nb\r\n"]), ["a", "", "b"]);
        assert_eq!(lines(&[b"a\r\rb\n\nc\r"]), ["a", "", "b", "", "c"]);
    }

    #[test]
    fn a_character_split_across_reads_is_decoded_once_whole() {
        let (got, text, junk) = decode(&[b"Temp 21.5 \xC2", b"\xB0C\r\n"]);
        assert_eq!(got, ["Temp 21.5 °C"]);
        assert_eq!((text.as_str(), junk), ("Temp 21.5 °C\r\n", 0));
        // Three bytes in three reads, and four bytes split one and three.
        assert_eq!(
            lines(&[
                b"price \xE2",
                b"\x82",
                b"\xAC5\r\n",
                b"\xF0",
                b"\x9F\x94\x8C ok\n"
            ]),
            ["price €5", "🔌 ok"]
        );
    }

    #[test]
    fn junk_from_a_reset_is_dropped_without_merging_lines() {
        // Reset mid-line: the line before it and the boot banner stay apart.
        let (got, text, junk) = decode(&[
            b"[I] publishing",
            b"\xFF\xFF\x00",
            b"HIL reference firmware 0.1.0\r\n",
        ]);
        assert_eq!(got, ["[I] publishing", "HIL reference firmware 0.1.0"]);
        assert_eq!(
            text, "[I] publishing\r\nHIL reference firmware 0.1.0\r\n",
            "what expect sees has no junk and the same line break"
        );
        assert_eq!(junk, 3);
        // Junk between lines or before a line end adds no line of its own (the last CR LF
        // is an empty line the board sent).
        assert_eq!(
            lines(&[b"abc\r\n\xFF\xFEdef\xFF\r\n", b"\xFF\r\n"]),
            ["abc", "def", ""]
        );
        // A character cut short by junk or by the next text is junk too.
        let (got, _, junk) = decode(&[b"\xE2\x82", b"ok\r\n\xC2\xFF\xC2"]);
        assert_eq!((got, junk), (vec!["ok".to_owned()], 4));
    }

    #[test]
    fn eot_frames_replies_but_is_not_part_of_a_line() {
        let (got, text, _) = decode(&[b"OK\r\n\x04", b"[I] next\r\n"]);
        assert_eq!(got, ["OK", "[I] next"]);
        assert_eq!(text, "OK\r\n\u{4}[I] next\r\n");
    }

    #[test]
    fn finishing_ends_the_line_under_way() {
        let mut decoder = LineDecoder::default();
        assert!(decoder.push(b"half a li").lines.is_empty());
        let end = decoder.finish();
        assert_eq!(
            (end.lines, end.text.as_str()),
            (vec!["half a li".to_owned()], "\r\n")
        );
        decoder.push(b"x\xE2\x82");
        let end = decoder.finish();
        assert_eq!((end.lines, end.junk), (vec!["x".to_owned()], 2));
        // After a finish, a fresh port starts clean: an LF is a line end of its own.
        decoder.push(b"a\r");
        decoder.finish();
        assert_eq!(decoder.push(b"\nb\n").lines, ["", "b"]);
    }
}
