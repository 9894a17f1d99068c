//! Hides secret values in everything a job prints.
//!
//! A [`Masker`] is the set of values to hide; a [`MaskStream`] is the state of one output stream.
//! Every occurrence of a registered value becomes `***`. When occurrences overlap, the leftmost
//! wins, then the longest: with `abc` and `abcdef` registered, `abcdef` becomes one `***`, not
//! `***def`.
//!
//! Output is a byte stream that arrives in arbitrary pieces, so a value may be split across
//! reads. A stream therefore holds back the tail that could still grow into a value (fewer
//! bytes than [`Masker::longest`]) and decides it when the next bytes arrive. Values
//! never contain `\n` (multi-line values are registered line by line), so a stream never holds
//! back anything after a `\n`: whoever feeds it whole lines gets whole lines out.
//!
//! Output may not be UTF-8; matching works on bytes and leaves every other byte as it was.

use std::borrow::Cow;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};

/// What every occurrence of a value becomes, as in GitHub's logs.
const MASK: &str = "***";

/// The set of values to hide: the run's secrets and the job's `::add-mask::` values.
///
/// Cheap to clone: clones share the compiled matcher, so each job's output stream can hold its
/// own copy. [`Masker::add`] builds a new matcher, which leaves other clones as they were.
///
/// Besides each value itself, a masker hides the forms that secrets most often take on their
/// way into output: the JSON string escape (what `toJSON` prints between the quotes) and the
/// percent-encoding of `encodeURIComponent`. Base64 forms are not registered.
#[derive(Clone, Default)]
pub struct Masker {
    /// `None` until the first value arrives, so jobs without secrets never build an automaton.
    compiled: Option<Arc<Compiled>>,
}

impl Masker {
    /// A masker that hides nothing.
    pub fn new() -> Masker {
        Masker::default()
    }

    /// Registers a value to hide; returns whether anything new was registered.
    ///
    /// A multi-line value is registered line by line (split on `\n`, a trailing `\r` removed
    /// from each line), as GitHub does. The whole value is not registered as well: output is
    /// masked wherever the lines occur, so a printed multi-line value still comes out as
    /// `***\n***`, and keeping `\n` out of every value is what lets a stream release each line
    /// as soon as its `\n` arrives. The number of lines remains visible, as on GitHub.
    ///
    /// Lines that are empty or only whitespace are ignored: GitHub ignores them too, and
    /// masking them would mask nearly everything.
    ///
    /// Each line's JSON-escaped and percent-encoded forms are registered too when they differ
    /// from the line, except for a line of a single character: its encoded form is a bare
    /// escape such as `\"` or `%2F` that fills ordinary JSON and URLs, and the raw character is
    /// masked anyway.
    pub fn add(&mut self, value: &str) -> bool {
        self.add_all([value])
    }

    /// Registers several values (as [`Masker::add`] does each) and builds the matcher once:
    /// a step printing many `::add-mask::` lines costs one build, not one per value.
    pub fn add_all<'v>(&mut self, values: impl IntoIterator<Item = &'v str>) -> bool {
        let existing = self.compiled.as_deref().map_or(&[][..], |c| &c.values[..]);
        let mut known: std::collections::HashSet<Vec<u8>> =
            existing.iter().map(|v| v.bytes.to_vec()).collect();
        let mut added: Vec<Vec<u8>> = Vec::new();
        let mut register = |form: Vec<u8>| {
            if known.insert(form.clone()) {
                added.push(form);
            }
        };
        for line in values.into_iter().flat_map(|value| value.split('\n')) {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            register(line.as_bytes().to_vec());
            if line.chars().nth(1).is_some() {
                for form in [json_escaped(line), percent_encoded(line)] {
                    if form != line {
                        register(form.into_bytes());
                    }
                }
            }
        }
        if added.is_empty() {
            return false;
        }
        let values = existing
            .iter()
            .map(|v| v.bytes.to_vec())
            .chain(added)
            .collect();
        self.compiled = Some(Arc::new(Compiled::new(values)));
        true
    }

    /// Number of registered values, counting each line of a multi-line value and each encoded
    /// form separately (each is a distinct byte string that gets masked).
    pub fn len(&self) -> usize {
        self.compiled.as_ref().map_or(0, |c| c.values.len())
    }

    /// Whether no value is registered, in which case masking changes nothing.
    pub fn is_empty(&self) -> bool {
        self.compiled.is_none()
    }

    /// Masks a complete string: summaries, annotations, error messages. Borrows `text` when
    /// nothing in it needs masking.
    pub fn mask_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Some(compiled) = self.compiled.as_deref() else {
            return Cow::Borrowed(text);
        };
        let mut matches = compiled.matcher.find_iter(text).peekable();
        if matches.peek().is_none() {
            return Cow::Borrowed(text);
        }
        let mut masked = String::with_capacity(text.len());
        let mut done = 0;
        for found in matches {
            // Values are UTF-8, so a match in UTF-8 text starts and ends on char boundaries.
            masked.push_str(&text[done..found.start()]);
            masked.push_str(MASK);
            done = found.end();
        }
        masked.push_str(&text[done..]);
        Cow::Owned(masked)
    }

    /// The longest registered value, in bytes (0 when none is registered). A stream holds back
    /// less than this.
    pub fn longest(&self) -> usize {
        self.compiled.as_ref().map_or(0, |c| c.longest)
    }
}

impl std::fmt::Debug for Masker {
    /// Shows how many values there are, never the values: a masker full of secrets must not
    /// leak them through a debug print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Masker")
            .field("values", &self.len())
            .finish_non_exhaustive()
    }
}

/// The state of one output stream: bytes that may be the start of a value are held back until
/// the next bytes decide.
#[derive(Default)]
pub struct MaskStream {
    /// Never more than `longest - 1` bytes after a push, and never a `\n`. Between pushes it
    /// also serves as the buffer that joins these bytes to the start of the next input (at most
    /// `longest` bytes of it), so its capacity stays within a small multiple of the longest
    /// value, whatever the size of the pushes.
    held: Vec<u8>,
}

impl MaskStream {
    /// A stream at its start, holding nothing back.
    pub fn new() -> MaskStream {
        MaskStream::default()
    }

    /// Masks `input` and appends to `out` every byte that can be emitted now.
    ///
    /// `input` may be any piece of the stream: a value may arrive across several calls, even
    /// byte by byte, and the result is the same as masking the whole stream at once. The
    /// bytes held back are at most `masker.longest() - 1`, and never include a `\n`: all
    /// output up to the last `\n` pushed so far has been appended to `out`.
    ///
    /// `masker` may change between calls (a value added by `::add-mask::`): the held-back bytes
    /// are examined again with the new set. Bytes already emitted stay as they were.
    pub fn push(&mut self, masker: &Masker, input: &[u8], out: &mut Vec<u8>) {
        let Some(compiled) = masker.compiled.as_deref() else {
            out.extend_from_slice(&self.held);
            self.held.clear();
            out.extend_from_slice(input);
            return;
        };
        if self.held.is_empty() {
            // The common case, e.g. after a `\n`: scan the input where it lies, without copying.
            let done = compiled.scan(input, compiled.settled_len(input), out);
            self.held.extend_from_slice(&input[done..]);
        } else if input.len() <= compiled.longest {
            self.held.extend_from_slice(input);
            let done = compiled.scan(&self.held, compiled.settled_len(&self.held), out);
            self.held.drain(..done);
        } else {
            // Every match that starts in the held bytes ends within the first `longest` bytes
            // of the input, so joining just those decides the seam; the rest of the input is
            // then scanned in place from wherever the last such match ended.
            let seam = self.held.len();
            self.held.extend_from_slice(&input[..compiled.longest]);
            let resume = compiled.scan(&self.held, seam, out) - seam;
            self.held.clear();
            let rest = &input[resume..];
            let done = compiled.scan(rest, compiled.settled_len(rest), out);
            self.held.extend_from_slice(&rest[done..]);
        }
    }

    /// Ends the stream: appends what was held back, masked. The stream can then start over.
    pub fn finish(&mut self, masker: &Masker, out: &mut Vec<u8>) {
        match masker.compiled.as_deref() {
            Some(compiled) => {
                compiled.scan(&self.held, self.held.len(), out);
            }
            None => out.extend_from_slice(&self.held),
        }
        self.held.clear();
    }
}

impl std::fmt::Debug for MaskStream {
    /// Shows how much is held back, never the bytes: they may be most of a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskStream")
            .field("held", &self.held.len())
            .finish()
    }
}

/// The matcher for one set of values, shared by all clones of a [`Masker`].
struct Compiled {
    /// Longest first, so the search for a partial value at the end can stop early.
    values: Vec<Value>,
    /// Leftmost-longest, so that a value that extends another wins over it.
    matcher: AhoCorasick,
    longest: usize,
    /// Bytes that occur before the last byte of some value. Input that ends in any other byte
    /// (such as `\n`) cannot end in a partial value, which makes the common case one lookup.
    continues: [bool; 256],
}

/// One registered byte string.
struct Value {
    bytes: Box<[u8]>,
    /// The KMP failure function: `border[i]` is the length of the longest proper prefix of
    /// `bytes[..=i]` that is also its suffix. It bounds the search for a partial value at the
    /// end of a buffer to the length of the value, whatever the buffer holds.
    border: Box<[usize]>,
}

impl Compiled {
    fn new(mut values: Vec<Vec<u8>>) -> Compiled {
        values.sort_by_key(|value| std::cmp::Reverse(value.len()));
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&values)
            // Building fails only past the automaton's size limits (billions of states), far
            // beyond any set of secrets a run can hold in memory.
            .expect("the masker's automaton fits its size limits");
        let mut continues = [false; 256];
        for value in &values {
            for &byte in &value[..value.len() - 1] {
                continues[usize::from(byte)] = true;
            }
        }
        Compiled {
            longest: values.first().map_or(0, Vec::len),
            values: values.into_iter().map(Value::new).collect(),
            matcher,
            continues,
        }
    }

    /// How many leading bytes of `text` are settled: the rest is the longest suffix that is a
    /// proper prefix of some value, so it may yet become one.
    ///
    /// No match of the whole stream that starts before that point can reach past the end of
    /// `text` (it would make a longer such suffix), so matches there are final.
    fn settled_len(&self, text: &[u8]) -> usize {
        let Some(&last) = text.last() else {
            return 0;
        };
        if !self.continues[usize::from(last)] {
            return text.len();
        }
        let mut partial = 0;
        for value in &self.values {
            if value.bytes.len() <= partial + 1 {
                break;
            }
            partial = partial.max(value.prefix_ending(text));
        }
        text.len() - partial
    }

    /// Appends `text[..settled]` to `out`, masked, and returns how far it got: `settled`, or
    /// beyond it when a match that starts before `settled` ends after it. Matches that start at
    /// or after `settled` are left for the caller, who will see more bytes.
    fn scan(&self, text: &[u8], settled: usize, out: &mut Vec<u8>) -> usize {
        let mut done = 0;
        for found in self.matcher.find_iter(text) {
            if found.start() >= settled {
                break;
            }
            out.extend_from_slice(&text[done..found.start()]);
            out.extend_from_slice(MASK.as_bytes());
            done = found.end();
        }
        if done < settled {
            out.extend_from_slice(&text[done..settled]);
            done = settled;
        }
        done
    }
}

impl Value {
    fn new(bytes: Vec<u8>) -> Value {
        let mut border = vec![0; bytes.len()];
        let mut k = 0;
        for i in 1..bytes.len() {
            while k > 0 && bytes[i] != bytes[k] {
                k = border[k - 1];
            }
            if bytes[i] == bytes[k] {
                k += 1;
            }
            border[i] = k;
        }
        Value {
            bytes: bytes.into_boxed_slice(),
            border: border.into_boxed_slice(),
        }
    }

    /// The length of the longest proper prefix of this value that `text` ends with.
    fn prefix_ending(&self, text: &[u8]) -> usize {
        let bytes = &self.bytes;
        // Only the last `len - 1` bytes can hold a proper prefix; fed just those, KMP never
        // completes the value, so `matched` stays a valid index.
        let window = &text[text.len().saturating_sub(bytes.len() - 1)..];
        let last = window.last().copied();
        if last.is_none_or(|last| !bytes[..bytes.len() - 1].contains(&last)) {
            return 0;
        }
        let mut matched = 0;
        for &byte in window {
            while matched > 0 && bytes[matched] != byte {
                matched = self.border[matched - 1];
            }
            if bytes[matched] == byte {
                matched += 1;
            }
        }
        matched
    }
}

/// The JSON string escape of `value`, without the quotes, as `toJSON` and most JSON writers
/// print it: `"` and `\` escaped, the five control characters with short escapes by their short
/// names, the other control characters as lowercase `\u00xx`, everything else as is.
fn json_escaped(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            '\u{8}' => escaped.push_str("\\b"),
            '\u{c}' => escaped.push_str("\\f"),
            c if c < ' ' => {
                escaped.push_str("\\u00");
                push_hex(&mut escaped, c as u8, b"0123456789abcdef");
            }
            c => escaped.push(c),
        }
    }
    escaped
}

/// The percent-encoding of `value` as `encodeURIComponent` produces it: UTF-8 bytes, uppercase
/// hex, and `A-Z a-z 0-9 - _ . ! ~ * ' ( )` kept as they are.
fn percent_encoded(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for &byte in value.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            push_hex(&mut encoded, byte, b"0123456789ABCDEF");
        }
    }
    encoded
}

/// Appends `byte` as two hex digits; JSON escapes use lowercase, percent-encoding uppercase.
fn push_hex(text: &mut String, byte: u8, digits: &[u8; 16]) {
    text.push(char::from(digits[usize::from(byte >> 4)]));
    text.push(char::from(digits[usize::from(byte & 0xf)]));
}

#[cfg(test)]
mod tests;
