//! The parser events of plain block YAML, read line by line, for the files nearly every config
//! is: keys that are names, block mappings and sequences, one-line flow collections, and
//! one-line scalars (plain, single-quoted, double-quoted without escapes), with comments and
//! blank lines between. saphyr's scanner and parser were two thirds of loading a 1,000-model
//! file (215 million instructions); this reads the same file in about 45 million.
//!
//! Anything else gives up (`None`) rather than emit a wrong event: non-ASCII text, tabs and
//! carriage returns, anchors, aliases, tags, directives, document markers, complex keys,
//! quoted keys, block scalars (`|`, `>`), scalars over several lines, empty values, escapes,
//! trailing commas. The file then goes through saphyr, which knows every rule. Where it does
//! not give up, it emits what saphyr emits, spans included (the tests compare the two on every
//! YAML file of the repository).

use std::borrow::Cow;

use saphyr_parser::{Event, ScalarStyle};

/// The longest key read here: YAML caps implicit keys at 1,024 characters, and saphyr reports a
/// longer one as an error.
const MAX_KEY: usize = 1000;

/// Receives each event with the byte span saphyr gives it.
pub(super) trait Sink<'t> {
    fn event(&mut self, event: Event<'t>, start: usize, end: usize);
}

/// Feeds `sink` the events of `text`; `None` (part of them fed) when the text is not plain.
pub(super) fn events<'t>(text: &'t str, sink: &mut impl Sink<'t>) -> Option<()> {
    if !text.is_ascii() || text.bytes().any(|byte| byte == b'\t' || byte == b'\r') {
        return None;
    }
    Scanner {
        text,
        bytes: text.as_bytes(),
        open: Vec::new(),
        awaiting: false,
    }
    .run(sink)
}

/// A block collection still open.
struct Open {
    sequence: bool,
    /// The column of its keys or dashes.
    column: usize,
    /// A sequence written at its parent key's column (`key:\n- a`), ended by the next key.
    indentless: bool,
}

/// What a line's content starts with.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Entry {
    /// `- `: a sequence item.
    Item,
    /// `name:`: a mapping key (its end).
    Key(usize),
    /// Anything else: a value on a line of its own, or a syntax this does not read.
    Other,
}

struct Scanner<'t> {
    text: &'t str,
    bytes: &'t [u8],
    open: Vec<Open>,
    /// The last key read had no value on its line: the next lines hold it.
    awaiting: bool,
}

impl<'t> Scanner<'t> {
    fn run(mut self, sink: &mut impl Sink<'t>) -> Option<()> {
        sink.event(Event::StreamStart, 0, 0);
        let mut started = false;
        let mut line_start = 0;
        while line_start < self.bytes.len() {
            let line_end = self.bytes[line_start..]
                .iter()
                .position(|byte| *byte == b'\n')
                .map_or(self.bytes.len(), |at| line_start + at);
            let indent = self.bytes[line_start..line_end]
                .iter()
                .take_while(|byte| **byte == b' ')
                .count();
            let at = line_start + indent;
            let rest = &self.bytes[at..line_end];
            if !rest.is_empty() && rest[0] != b'#' {
                if rest.starts_with(b"---") || rest.starts_with(b"...") || rest[0] == b'%' {
                    return None;
                }
                if !started {
                    sink.event(Event::DocumentStart(false), at, at);
                    started = true;
                }
                self.line(sink, at, indent, line_end)?;
            }
            line_start = line_end + 1;
        }
        if !started || self.awaiting {
            return None;
        }
        let end = self.bytes.len();
        while let Some(open) = self.open.pop() {
            sink.event(end_of(&open), end, end);
        }
        sink.event(Event::DocumentEnd, end, end);
        sink.event(Event::StreamEnd, end, end);
        Some(())
    }

    /// One line whose content starts at `at`, in column `column`.
    fn line(
        &mut self,
        sink: &mut impl Sink<'t>,
        at: usize,
        column: usize,
        line_end: usize,
    ) -> Option<()> {
        let entry = self.entry(at, line_end);
        if self.awaiting {
            self.awaiting = false;
            let parent = self.open.last()?.column;
            match entry {
                Entry::Item if column >= parent => {
                    // saphyr starts a sequence at its parent key's column at its first item's
                    // content, past the dash.
                    let start = if column == parent {
                        self.skip_spaces(at + 1, line_end)
                    } else {
                        at
                    };
                    sink.event(Event::SequenceStart(0, None), start, start);
                    self.open.push(Open {
                        sequence: true,
                        column,
                        indentless: column == parent,
                    });
                }
                Entry::Key(_) if column > parent => {
                    sink.event(Event::MappingStart(0, None), at, at);
                    self.open.push(Open {
                        sequence: false,
                        column,
                        indentless: false,
                    });
                }
                // An empty value, or a value on lines of its own.
                _ => return None,
            }
        } else {
            while let Some(open) = self.open.last() {
                let ends = open.column > column
                    || (open.indentless && open.column == column && entry != Entry::Item);
                if !ends {
                    break;
                }
                sink.event(end_of(open), at, at);
                self.open.pop();
            }
            match (self.open.last(), entry) {
                (None, Entry::Key(_)) => {
                    sink.event(Event::MappingStart(0, None), at, at);
                    self.open.push(Open {
                        sequence: false,
                        column,
                        indentless: false,
                    });
                }
                (None, Entry::Item) => {
                    sink.event(Event::SequenceStart(0, None), at, at);
                    self.open.push(Open {
                        sequence: true,
                        column,
                        indentless: false,
                    });
                }
                (Some(open), Entry::Key(_)) if !open.sequence && open.column == column => {}
                (Some(open), Entry::Item) if open.sequence && open.column == column => {}
                _ => return None,
            }
        }
        self.entry_at(sink, at, column, entry, line_end)
    }

    /// The entry that starts at `at` (in `column`), its collection already open.
    fn entry_at(
        &mut self,
        sink: &mut impl Sink<'t>,
        at: usize,
        column: usize,
        entry: Entry,
        line_end: usize,
    ) -> Option<()> {
        match entry {
            Entry::Key(key_end) => {
                self.plain(sink, at, key_end);
                // Past the `:`.
                let value = self.skip_spaces(key_end + 1, line_end);
                if value == line_end || self.bytes[value] == b'#' {
                    self.awaiting = true;
                    return Some(());
                }
                let end = self.value(sink, value, line_end, 0)?;
                self.line_ends(end, line_end)
            }
            Entry::Item => {
                let content = self.skip_spaces(at + 1, line_end);
                if content == line_end || self.bytes[content] == b'#' {
                    return None;
                }
                let inner = self.entry(content, line_end);
                match inner {
                    Entry::Key(_) => {
                        let column = column + (content - at);
                        sink.event(Event::MappingStart(0, None), content, content);
                        self.open.push(Open {
                            sequence: false,
                            column,
                            indentless: false,
                        });
                        self.entry_at(sink, content, column, inner, line_end)
                    }
                    Entry::Item => None,
                    Entry::Other => {
                        let end = self.value(sink, content, line_end, 0)?;
                        self.line_ends(end, line_end)
                    }
                }
            }
            Entry::Other => None,
        }
    }

    /// What the content at `at` is: a dash, a plain key (and where it ends), or other.
    fn entry(&self, at: usize, line_end: usize) -> Entry {
        let bytes = self.bytes;
        if bytes[at] == b'-' && (at + 1 == line_end || bytes[at + 1] == b' ') {
            return Entry::Item;
        }
        match self.plain_end(at, line_end, false) {
            Some(end) if end < line_end && bytes[end] == b':' && end - at <= MAX_KEY => {
                Entry::Key(end)
            }
            _ => Entry::Other,
        }
    }

    /// A value that starts at `at` and ends on this line, inside flow collections `depth` deep
    /// (0: a block value); where it ends.
    fn value(
        &self,
        sink: &mut impl Sink<'t>,
        at: usize,
        line_end: usize,
        depth: usize,
    ) -> Option<usize> {
        match self.bytes[at] {
            b'[' | b'{' => self.flow(sink, at, line_end, depth + 1),
            b'\'' | b'"' => self.quoted(sink, at, line_end),
            _ => {
                let end = self.plain_end(at, line_end, depth > 0)?;
                // `a: b: c`, or a pair in a flow sequence (`[a: b]`).
                if end < line_end && self.bytes[end] == b':' {
                    return None;
                }
                self.plain(sink, at, end);
                Some(end)
            }
        }
    }

    /// The plain scalar (or key) written from `start` to `end`.
    fn plain(&self, sink: &mut impl Sink<'t>, start: usize, end: usize) {
        sink.event(
            Event::Scalar(
                Cow::Borrowed(&self.text[start..end]),
                ScalarStyle::Plain,
                0,
                None,
            ),
            start,
            end,
        );
    }

    /// A one-line flow collection opening at `at`; where it ends (past its bracket).
    fn flow(
        &self,
        sink: &mut impl Sink<'t>,
        at: usize,
        line_end: usize,
        depth: usize,
    ) -> Option<usize> {
        // As saphyr's tree (and `MAX_DEPTH`) would see the nesting: the caller checks it.
        if depth > 32 {
            return None;
        }
        let mapping = self.bytes[at] == b'{';
        let close = if mapping { b'}' } else { b']' };
        sink.event(
            if mapping {
                Event::MappingStart(0, None)
            } else {
                Event::SequenceStart(0, None)
            },
            at,
            at + 1,
        );
        let mut here = self.skip_spaces(at + 1, line_end);
        if here < line_end && self.bytes[here] == close {
            sink.event(end_event(mapping), here, here + 1);
            return Some(here + 1);
        }
        loop {
            if here >= line_end {
                return None;
            }
            if mapping {
                let key_end = self.plain_end(here, line_end, true)?;
                if key_end - here > MAX_KEY
                    || !(key_end + 1 < line_end
                        && self.bytes[key_end] == b':'
                        && self.bytes[key_end + 1] == b' ')
                {
                    return None;
                }
                self.plain(sink, here, key_end);
                here = self.skip_spaces(key_end + 1, line_end);
                if here >= line_end {
                    return None;
                }
            }
            here = self.value(sink, here, line_end, depth)?;
            here = self.skip_spaces(here, line_end);
            if here >= line_end {
                return None;
            }
            match self.bytes[here] {
                b',' => {
                    here = self.skip_spaces(here + 1, line_end);
                    // `[a, ]` and `[a,, b]`: saphyr's to judge.
                    if here >= line_end || matches!(self.bytes[here], b',' | b']' | b'}') {
                        return None;
                    }
                }
                byte if byte == close => {
                    sink.event(end_event(mapping), here, here + 1);
                    return Some(here + 1);
                }
                _ => return None,
            }
        }
    }

    /// A quoted scalar on one line; where it ends (past its quote).
    fn quoted(&self, sink: &mut impl Sink<'t>, at: usize, line_end: usize) -> Option<usize> {
        let quote = self.bytes[at];
        let mut here = at + 1;
        let mut doubled = false;
        loop {
            if here >= line_end {
                return None;
            }
            let byte = self.bytes[here];
            if quote == b'"' && byte == b'\\' {
                return None;
            }
            if byte == quote {
                if quote == b'\'' && here + 1 < line_end && self.bytes[here + 1] == b'\'' {
                    doubled = true;
                    here += 2;
                    continue;
                }
                break;
            }
            here += 1;
        }
        let inner = &self.text[at + 1..here];
        let (text, style) = if quote == b'"' {
            (Cow::Borrowed(inner), ScalarStyle::DoubleQuoted)
        } else if doubled {
            (
                Cow::Owned(inner.replace("''", "'")),
                ScalarStyle::SingleQuoted,
            )
        } else {
            (Cow::Borrowed(inner), ScalarStyle::SingleQuoted)
        };
        let end = here + 1;
        // A quoted key, or text glued to the quote: saphyr's to judge.
        if end < line_end && !matches!(self.bytes[end], b' ' | b',' | b']' | b'}') {
            return None;
        }
        // saphyr's span runs on over the spaces after the quote, and a comment after them.
        let mut span_end = self.skip_spaces(end, line_end);
        if span_end < line_end && self.bytes[span_end] == b'#' {
            span_end = line_end;
        }
        sink.event(Event::Scalar(text, style, 0, None), at, span_end);
        Some(span_end)
    }

    /// The end of the plain scalar starting at `at` (trailing spaces left out), or `None` when
    /// none starts there. It stops before `: `, a `:` ending the line, ` #` and the line's end;
    /// in a flow collection (`flow`) also before `,`, `[`, `]`, `{`, `}` and any `:`.
    fn plain_end(&self, at: usize, line_end: usize, flow: bool) -> Option<usize> {
        let bytes = self.bytes;
        let first = bytes[at];
        let next = bytes.get(at + 1).copied().filter(|_| at + 1 < line_end);
        match first {
            b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
            | b'"' | b'%' | b'@' | b'`' | b' ' => return None,
            b'-' | b'?' | b':' => {
                let safe = next.is_some_and(|byte| {
                    byte != b' ' && !(flow && matches!(byte, b',' | b'[' | b']' | b'{' | b'}'))
                });
                if !safe {
                    return None;
                }
            }
            _ => {}
        }
        let mut end = at + 1;
        let mut here = at + 1;
        while here < line_end {
            let byte = bytes[here];
            match byte {
                b':' => {
                    let after = bytes.get(here + 1).copied().filter(|_| here + 1 < line_end);
                    match after {
                        None | Some(b' ') => break,
                        Some(b',' | b'[' | b']' | b'{' | b'}') if flow => break,
                        // Inside the scalar, as in `s3://bucket`.
                        Some(_) => {}
                    }
                }
                b'#' if bytes[here - 1] == b' ' => break,
                b',' | b'[' | b']' | b'{' | b'}' if flow => break,
                _ => {}
            }
            here += 1;
            if byte != b' ' {
                end = here;
            }
        }
        Some(end)
    }

    fn skip_spaces(&self, mut at: usize, line_end: usize) -> usize {
        while at < line_end && self.bytes[at] == b' ' {
            at += 1;
        }
        at
    }

    /// Only spaces and a comment may follow a value on its line.
    fn line_ends(&self, end: usize, line_end: usize) -> Option<()> {
        let rest = self.skip_spaces(end, line_end);
        (rest == line_end || (self.bytes[rest] == b'#' && rest > end)).then_some(())
    }
}

fn end_of(open: &Open) -> Event<'static> {
    end_event(!open.sequence)
}

fn end_event(mapping: bool) -> Event<'static> {
    if mapping {
        Event::MappingEnd
    } else {
        Event::SequenceEnd
    }
}
