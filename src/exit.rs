//! How the binary ends: every error becomes one line on stderr, `portradar: ...`, cut when the input
//! it quotes is long, and an exit status: 0 ok (also after `--help` and `--version`), 1 a failure while
//! running, 2 a mistake in the command line: a [`UsageError`] the binary raised, or a library error
//! that is one (a bad filter, a bad probe option, a network namespace that does not exist).

use clap::error::{ContextKind, ContextValue, ErrorKind};
use portradar::collect::netns::NetnsError;
use portradar::filter::FilterError;
use portradar::probe::ProbeError;
use std::process::ExitCode;

/// Exit status of a usage error.
const USAGE: u8 = 2;
/// Longest message printed whole, in characters.
const MAX_LINE: usize = 240;
/// Longest single word printed whole (a pasted filter, a long value).
const MAX_WORD: usize = 64;

/// A mistake in what the user asked for (exit status 2), as opposed to a failure while doing it (1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

impl UsageError {
    pub fn new(message: impl Into<String>) -> UsageError {
        UsageError(message.into())
    }

    /// One line from clap's error: its first line (with the list that follows it, if it ends with
    /// a colon), the hint it carries (the valid values, a similar name), and where the help is:
    /// `command` is `portradar` or `portradar SUBCOMMAND`.
    pub fn from_clap(error: &clap::Error, command: &str) -> UsageError {
        let rendered = error.render().to_string();
        let mut lines = rendered.lines();
        let first = lines.next().unwrap_or_default();
        let mut message = first.strip_prefix("error: ").unwrap_or(first).to_string();
        if message.ends_with(':') {
            let listed: Vec<&str> = lines
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            message.push(' ');
            message.push_str(&listed.join(", "));
        }
        if let Some(hint) = hint(error) {
            message.push_str("; ");
            message.push_str(&hint);
        }
        message.push_str(&format!(" (see {command} --help)"));
        UsageError(message)
    }
}

/// True for the clap "errors" that are `--help` and `--version` output.
pub fn is_display(error: &clap::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    )
}

/// Prints what ended the run and turns it into the exit status.
pub fn report(result: anyhow::Result<()>) -> ExitCode {
    let Err(error) = result else {
        return ExitCode::SUCCESS;
    };
    if let Some(display) = error
        .downcast_ref::<clap::Error>()
        .filter(|e| is_display(e))
    {
        // A closed stdout (`--help | head -1`) is the reader's choice.
        let _ = display.print();
        return ExitCode::SUCCESS;
    }
    eprintln!("portradar: {}", one_line(&format!("{error:#}")));
    if is_usage(&error) {
        ExitCode::from(USAGE)
    } else {
        ExitCode::FAILURE
    }
}

/// True when the error (not one of its causes) is a mistake in the command line.
fn is_usage(error: &anyhow::Error) -> bool {
    error.is::<UsageError>()
        || error.is::<FilterError>()
        || error
            .downcast_ref::<ProbeError>()
            .is_some_and(ProbeError::is_usage)
        || error
            .downcast_ref::<NetnsError>()
            .is_some_and(NetnsError::is_usage)
}

/// The suggestion clap's error carries, if any.
fn hint(error: &clap::Error) -> Option<String> {
    let context = |kind| error.get(kind);
    if let Some(ContextValue::Strings(valid)) = context(ContextKind::ValidValue) {
        return Some(format!("possible values: {}", valid.join(", ")));
    }
    for kind in [
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
    ] {
        match context(kind) {
            Some(ContextValue::String(s)) => return Some(format!("did you mean '{s}'?")),
            Some(ContextValue::Strings(s)) if !s.is_empty() => {
                return Some(format!("did you mean '{}'?", s[0]));
            }
            _ => {}
        }
    }
    None
}

/// `message` on one line: control characters escaped, long words cut, and a long message cut in
/// the middle so its start and its end (usually the reason) both stay.
fn one_line(message: &str) -> String {
    let mut escaped = String::with_capacity(message.len());
    for c in message.chars() {
        if c.is_control() {
            escaped.extend(c.escape_debug());
        } else {
            escaped.push(c);
        }
    }
    let words: Vec<String> = escaped.split(' ').map(cut_word).collect();
    let line = words.join(" ");
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= MAX_LINE {
        return line;
    }
    let tail = MAX_LINE / 4;
    let head = MAX_LINE - tail - 5;
    let start: String = chars[..head].iter().collect();
    let end: String = chars[chars.len() - tail..].iter().collect();
    format!("{start} ... {end}")
}

/// A word longer than [`MAX_WORD`] as its start, `…`, its length (without the quotes) and the
/// punctuation it ended with (the closing quote of a quoted value).
fn cut_word(word: &str) -> String {
    let count = word.chars().count();
    if count <= MAX_WORD {
        return word.to_string();
    }
    let start: String = word.chars().take(MAX_WORD / 2).collect();
    let body = word.trim_end_matches(|c: char| c.is_ascii_punctuation());
    let end = &word[body.len()..];
    let end = &end[..end.len().min(3)];
    // The length of what the user typed, without the quote and punctuation around it.
    let typed = body.trim_start_matches(|c: char| c.is_ascii_punctuation());
    let count = typed.chars().count();
    format!("{start}…[{count} chars]{end}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_are_told_from_failures() {
        let filter = portradar::filter::Filter::parse("state tim-wait").unwrap_err();
        assert!(is_usage(&filter.into()));
        assert!(is_usage(&UsageError::new("x").into()));
        assert!(is_usage(&ProbeError::TooFew.into()));
        let missing = NetnsError::NoSuchPath {
            path: "/nowhere".into(),
        };
        assert!(is_usage(&missing.into()));
        let denied = NetnsError::Permission {
            path: "/proc/1/ns/net".into(),
        };
        assert!(!is_usage(&denied.into()));
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(!is_usage(&ProbeError::Output(io).into()));
        assert!(!is_usage(&anyhow::anyhow!("the terminal went away")));
    }

    #[test]
    fn short_messages_are_kept() {
        assert_eq!(one_line("bad filter at 'andd'"), "bad filter at 'andd'");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("a\nb\t\u{1b}[31mc"), "a\\nb\\t\\u{1b}[31mc");
    }

    #[test]
    fn long_words_and_long_messages_are_cut() {
        let word = "x".repeat(100_000);
        let line = one_line(&format!("bad filter at '{word}': expected a port"));
        assert!(line.len() < 120, "{line}");
        assert!(line.contains("…[100000 chars]':") && line.ends_with("expected a port"));

        let many = "dst 10.0.0.1 ".repeat(10_000);
        let line = one_line(&format!("bad filter '{many}': unbalanced parentheses"));
        assert!(line.chars().count() <= MAX_LINE, "{line}");
        assert!(line.starts_with("bad filter 'dst") && line.ends_with("unbalanced parentheses"));
    }
}
