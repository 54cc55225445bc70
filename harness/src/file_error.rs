//! Errors located in an input file (rig files, scenario files): the file, the message, and
//! where — rendered by miette with the offending line and a caret.

// The error keeps the file's text for its report; it is built once per bad file.
#![allow(clippy::result_large_err)]

use miette::{Diagnostic, NamedSource, SourceSpan};
use std::ops::Range;
use std::path::Path;

/// An input file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
#[diagnostic(code(hil::input))]
pub struct FileError {
    message: String,
    #[source_code]
    source_code: NamedSource<String>,
    #[label("{label}")]
    span: Option<SourceSpan>,
    label: String,
    #[help]
    help: Option<String>,
}

impl FileError {
    /// An error in `path` (whose text is `text`), at `span` when known.
    pub fn new(
        path: &Path,
        text: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        label: &str,
        help: Option<&str>,
    ) -> Self {
        FileError {
            message: format!("{}: {}", path.display(), message.into()),
            source_code: NamedSource::new(path.display().to_string(), text.to_owned()),
            span: span.map(|r| SourceSpan::new(r.start.into(), r.end.saturating_sub(r.start))),
            label: label.to_owned(),
            help: help.map(str::to_owned),
        }
    }

    /// `path` could not be read.
    pub fn unreadable(path: &Path, what: &str, error: &std::io::Error, help: Option<&str>) -> Self {
        FileError {
            message: format!("cannot read {what} {}: {error}", path.display()),
            source_code: NamedSource::new(path.display().to_string(), String::new()),
            span: None,
            label: String::new(),
            help: help.map(str::to_owned),
        }
    }

    /// The text of `path` read as `bytes`, or an error naming the line and column (in
    /// bytes, from 1) of the first byte that is not UTF-8.
    pub fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, Self> {
        String::from_utf8(bytes).map_err(|error| {
            let bad = error.utf8_error().valid_up_to();
            let bytes = error.as_bytes();
            let line_start = bytes[..bad]
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |newline| newline + 1);
            let line = bytes[..bad].iter().filter(|b| **b == b'\n').count() + 1;
            let message = format!(
                "the file is not UTF-8: line {line}, byte {} of the line (0x{:02X}) starts no UTF-8 character",
                bad - line_start + 1,
                bytes[bad],
            );
            // The text up to the bad byte is the same in the lossy copy; the bad byte
            // became U+FFFD there (3 bytes).
            let text = String::from_utf8_lossy(bytes).into_owned();
            let span = bad..bad + '\u{FFFD}'.len_utf8();
            let help = "save the file as UTF-8";
            FileError::new(path, &text, Some(span), message, "here", Some(help))
        })
    }

    /// The message, without location.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Line and column (1-based) of the error, if it has a location.
    pub fn line_column(&self) -> Option<(usize, usize)> {
        let offset = self.span?.offset();
        let text = self.source_code.inner();
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Some((line, column))
    }
}
