//! A board's provisioning hook: its `[boards.<name>.provision]` table and its command
//! lines, with errors located at the offending placeholder.

use super::*;
use crate::errors::CommandLineError;
use crate::provision::hook::{CommandLine, DEFAULT_HOOK_TIMEOUT, Placeholder};

/// Where `token` is in the text of the string at `span`, if it is written as is.
fn locate(text: &str, span: std::ops::Range<usize>, token: &str) -> Option<std::ops::Range<usize>> {
    let start = span.start + text.get(span.clone())?.find(token)?;
    Some(start..start + token.len())
}

/// A hook command line, its errors located at the offending placeholder when it can be
/// found in the file; `csr` says it runs before the device certificate exists.
fn command_line(
    src: &Source<'_>,
    spanned: &Spanned<String>,
    csr: bool,
) -> Result<CommandLine, RigError> {
    let names = || {
        Placeholder::ALL
            .into_iter()
            .filter(|p| !csr || p.known_before_certificate())
            .map(|p| format!("{{{}}}", p.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let at = |token: &str| locate(src.text, spanned.span(), token).unwrap_or(spanned.span());
    let line = CommandLine::parse(spanned.get_ref()).map_err(|e| match &e {
        CommandLineError::UnknownPlaceholder { name } => {
            let closest = Placeholder::ALL
                .into_iter()
                .map(Placeholder::name)
                .max_by(|a, b| {
                    strsim::jaro_winkler(name, a).total_cmp(&strsim::jaro_winkler(name, b))
                })
                .filter(|close| strsim::jaro_winkler(name, close) > 0.8);
            let help = match closest {
                Some(close) => format!("did you mean {{{close}}}? placeholders: {}", names()),
                None => format!("placeholders: {} (write {{{{ and }}}} for braces)", names()),
            };
            src.error(
                Some(at(&format!("{{{name}}}"))),
                e.to_string(),
                "unknown placeholder",
                Some(&help),
            )
        }
        CommandLineError::Unclosed { word } => {
            src.error(Some(at(word)), e.to_string(), "unclosed placeholder", None)
        }
        _ => src.at(spanned, e.to_string(), "here", None),
    })?;
    if csr && let Some(late) = line.placeholders().find(|p| !p.known_before_certificate()) {
        let token = format!("{{{}}}", late.name());
        return Err(src.error(
            Some(at(&token)),
            format!("csr_command runs before the certificate exists, so it cannot use {token}"),
            "not known yet",
            Some(&format!("csr_command may use {}", names())),
        ));
    }
    Ok(line)
}

/// A board's `[boards.<name>.provision]` table.
pub(super) fn provision_hook(
    src: &Source<'_>,
    base: &Path,
    spanned: &Spanned<RawProvisionHook>,
) -> Result<ProvisionHook, RigError> {
    let raw = spanned.get_ref();
    let timeout = match &raw.timeout {
        Some(text) => match crate::scenario::parse_duration(text.get_ref()) {
            Ok(timeout) if !timeout.is_zero() => timeout,
            Ok(_) => return Err(src.at(text, "the hook's timeout must not be zero", "zero", None)),
            Err(e) => return Err(src.at(text, e, "not a duration", None)),
        },
        None => DEFAULT_HOOK_TIMEOUT,
    };
    Ok(ProvisionHook {
        command: command_line(src, &raw.command, false)?,
        csr_command: raw
            .csr_command
            .as_ref()
            .map(|line| command_line(src, line, true))
            .transpose()?,
        timeout,
        // Absolute: the program runs there, and a relative path would be taken from there.
        dir: std::path::absolute(base).unwrap_or_else(|_| base.to_owned()),
    })
}
