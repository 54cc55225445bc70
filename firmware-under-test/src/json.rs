//! A small JSON reader for the `no_std` core: the value of an object's member
//! ([`member`]), a string without escapes ([`string`]) and a whole unsigned number
//! ([`unsigned`]). It reads in place, without allocating or recursing, and returns `None`
//! rather than panicking on any bytes.
//!
//! It is a reader, not a validator: it walks only as far as the member it looks for, and
//! skips other values by their brackets and strings (a mismatched bracket inside one is
//! not noticed). What the board reads with it, the Jobs service's answers and job
//! documents (`board::jobs`), is written by a JSON serializer and read by keys it knows;
//! anything it cannot read is treated as missing. Keys are compared as written, so a key
//! spelled with escapes does not match. The first of duplicated keys wins.

/// The raw text of member `key` of the JSON object `object` (whitespace around the object
/// allowed): `Some(b"5000")`, `Some(b"\"blink\"")`, `Some(b"{...}")`. `None` when the
/// object lacks it, or is malformed before it or in it (a number cut short by the end of
/// the text included); what comes after it is not looked at.
pub fn member<'a>(object: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let mut i = skip_space(object, 0);
    if *object.get(i)? != b'{' {
        return None;
    }
    i = skip_space(object, i + 1);
    if *object.get(i)? == b'}' {
        return None;
    }
    loop {
        if *object.get(i)? != b'"' {
            return None;
        }
        let key_end = string_end(object, i)?;
        let name = object.get(i + 1..key_end - 1)?;
        i = skip_space(object, key_end);
        if *object.get(i)? != b':' {
            return None;
        }
        i = skip_space(object, i + 1);
        let end = value_end(object, i)?;
        if name == key.as_bytes() {
            return object.get(i..end);
        }
        i = skip_space(object, end);
        if *object.get(i)? != b',' {
            return None;
        }
        i = skip_space(object, i + 1);
    }
}

/// A JSON string value without escapes, unquoted: `"blink"` is `blink`. `None` for
/// anything else, a string with an escape (`\"`, `\u0041`) included.
pub fn string(value: &[u8]) -> Option<&str> {
    let inner = value.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if inner.iter().any(|b| *b == b'"' || *b == b'\\' || *b < 0x20) {
        return None;
    }
    core::str::from_utf8(inner).ok()
}

/// A JSON number that is a whole number from 0 to `u64::MAX`, digits only: `5000`.
/// `None` for a sign, a fraction or an exponent (`5e3`, `5000.0`), or an overflow.
pub fn unsigned(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |acc, b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

fn skip_space(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The end (exclusive) of the string whose opening quote is at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match *bytes.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            b if b < 0x20 => return None,
            _ => i += 1,
        }
    }
}

/// The end (exclusive) of the value that starts at `start`.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    match *bytes.get(start)? {
        b'"' => string_end(bytes, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            loop {
                match *bytes.get(i)? {
                    b'"' => {
                        i = string_end(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        b',' | b'}' | b']' | b':' => None,
        _ => {
            // A number or a literal: up to the next delimiter, which must come (a number
            // at the end of the text may have been cut short).
            let mut i = start;
            loop {
                if matches!(
                    *bytes.get(i)?,
                    b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
                ) {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &[u8] = br#"{"clientToken":"r1","timestamp":17,"execution":{"jobId":"job-1","thingName":"t","jobDocument":{"operation":"set_telemetry_period","period_ms":5000,"note":"a \"}\" inside"},"status":"IN_PROGRESS","versionNumber":2}}"#;

    #[test]
    fn members_are_found_past_nested_values_and_strings() {
        let execution = member(ANSWER, "execution").unwrap();
        assert_eq!(string(member(execution, "jobId").unwrap()), Some("job-1"));
        assert_eq!(
            unsigned(member(execution, "versionNumber").unwrap()),
            Some(2)
        );
        let document = member(execution, "jobDocument").unwrap();
        assert_eq!(unsigned(member(document, "period_ms").unwrap()), Some(5000));
        assert_eq!(member(document, "note"), Some(&br#""a \"}\" inside""#[..]));
        assert_eq!(string(member(ANSWER, "clientToken").unwrap()), Some("r1"));
        // Only the object's own members, not those of values inside it.
        assert_eq!(member(ANSWER, "jobId"), None);
        assert_eq!(member(ANSWER, "missing"), None);
    }

    #[test]
    fn whitespace_and_every_kind_of_value_are_skipped() {
        let text = b" {\n \"a\" : [1, {\"b\": 2}] ,\t\"c\": true, \"d\": null, \"e\": -1.5e3, \"f\" : 7 } ";
        assert_eq!(member(text, "f"), Some(&b"7"[..]));
        assert_eq!(member(text, "c"), Some(&b"true"[..]));
        assert_eq!(member(text, "a"), Some(&br#"[1, {"b": 2}]"#[..]));
        assert_eq!(member(text, "e"), Some(&b"-1.5e3"[..]));
        assert_eq!(unsigned(b"-1.5e3"), None);
    }

    #[test]
    fn strings_and_numbers_are_read_strictly() {
        assert_eq!(string(br#""blink""#), Some("blink"));
        assert_eq!(string(br#""""#), Some(""));
        assert_eq!(string(br#""a\"b""#), None);
        assert_eq!(string(b"blink"), None);
        assert_eq!(string(b"\""), None);
        assert_eq!(unsigned(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(unsigned(b"18446744073709551616"), None);
        for bad in [&b""[..], b"5000.0", b"5e3", b"+5", b"\"5\"", b"0x10"] {
            assert_eq!(unsigned(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn malformed_text_is_none_never_a_panic() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"a\"",
            b"{\"a\":",
            b"{\"a\":1",
            b"{\"a\" 1}",
            b"{\"a\":}",
            b"{\"a\":\"unterminated}",
            b"{\"a\":\"\\",
            b"[\"a\",1]",
            b"{1:2}",
            b"{\"a\":]}",
            b"\xff\xfe",
        ] {
            assert_eq!(member(bad, "a"), None, "{bad:?}");
            assert_eq!(member(bad, "z"), None, "{bad:?}");
        }
        // Cut short after the member: found, but nothing after it is.
        for cut in [&b"{\"a\":1,"[..], b"{\"a\":{\"b\":1}", b"{\"a\":1 "] {
            assert!(member(cut, "a").is_some(), "{cut:?}");
            assert_eq!(member(cut, "z"), None, "{cut:?}");
        }
    }

    #[test]
    fn every_prefix_and_byte_flip_of_a_document_is_survived() {
        for end in 0..=ANSWER.len() {
            let _ = member(&ANSWER[..end], "execution").and_then(|e| member(e, "jobDocument"));
        }
        let mut text = [0u8; ANSWER.len()];
        for i in 0..ANSWER.len() {
            for byte in [b'"', b'\\', b'{', b'}', b']', 0, 0xff] {
                text.copy_from_slice(ANSWER);
                text[i] = byte;
                if let Some(execution) = member(&text, "execution") {
                    let _ = member(execution, "jobDocument").map(|d| member(d, "period_ms"));
                    let _ = member(execution, "jobId").map(string);
                }
            }
        }
    }
}
