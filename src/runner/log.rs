//! A job's durable log: every line the job prints, stamped with the time it arrived and written
//! to disk as it arrives, kept within a size cap that saves both the head and the tail.
//!
//! File layout (`JOB.log`, see [`super::runs::RunDir::job_log_path`]):
//!
//! ```text
//! # sandpit job log: build (ubuntu-latest)
//! 2026-11-26T18:33:05.123456Z first line the job printed
//! …
//! ```
//!
//! Choices:
//! - **Durability.** Lines go straight to the file with `write(2)`, nothing is held back in a
//!   user-space buffer between calls, so a crash of sandpit loses at most the call in flight.
//!   There is no `fsync` per call (it would cost more than everything else together); the page
//!   cache survives a crash of the process, not of the machine.
//! - **Timestamps.** RFC 3339 in UTC with microseconds, always [`STAMP_LEN`] bytes (the clock
//!   is clamped to years 1970-9999 so the width never changes). The clock is read once per
//!   [`JobLog::write_lines`] call: every line of a chunk was read from the job in one go, so
//!   they share the moment of arrival. The date and time of day are formatted only when the
//!   second changes and the six microsecond digits only when they change.
//! - **The cap.** The first half of the cap (whole lines) is the head, written to the log file
//!   itself. Later lines go to tail segment files beside it (`JOB.log.tail.N`), each up to a
//!   quarter of the cap; at most three exist (the two newest full ones and the one being
//!   written), so the last half of the cap's worth of output is always on disk (short of the
//!   room a full segment leaves at its end, less than a line each), and the tail never takes
//!   more than three quarters of the cap. [`JobLog::finish`] appends the kept tail (at most
//!   half the cap, whole lines, the newest) after a marker line that says how much was
//!   dropped, then removes the segments: a finished log holds at most the cap plus its header
//!   and marker. A log that was never finished (sandpit crashed, or the job still runs) is
//!   read with [`copy_stored`], which shows the segments after the head.
//! - **Long lines.** A line longer than a quarter of the cap is broken into pieces that fit a
//!   segment, each piece stamped and ended with a newline, so the bound holds for any output.
//!   A last line without a newline is ended with one. The byte and line counts count these
//!   pieces and newlines as output, so kept + dropped = written always holds.
//! - Files are created owner-only: a log may hold a secret that masking missed.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of the timestamp each stored line starts with: `2026-11-26T18:33:05.123456Z `
/// (the separating space included).
pub const STAMP_LEN: usize = 28;

/// The cap a job log gets unless configured otherwise.
pub const DEFAULT_CAP: u64 = 64 << 20;

/// The smallest cap: smaller ones are raised to it, so a quarter of the cap always holds a
/// stamped line with some output in it.
pub const MIN_CAP: u64 = 1 << 10;

/// How a log file starts; the rest of the first line is the job's name, escaped with
/// [`escape_name`].
pub const HEADER_PREFIX: &str = "# sandpit job log: ";

/// The longest header line readers look at; a longer one (a hostile job name) is skipped.
pub const MAX_HEADER_LEN: u64 = 1 << 20;

/// Stamped output held before it is written when a single call brings a lot of it, so memory
/// stays bounded whatever the caller passes.
const FLUSH_AT: usize = 1 << 20;

/// Tail segments kept on disk: the two newest full ones and the one being written.
const MAX_SEGMENTS: usize = 3;

/// The last second a four-digit year can show (9999-12-31T23:59:59Z).
const MAX_STAMP_SECS: u64 = 253_402_300_799;

/// Errors of job logs.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log file could not be created or its header written.
    #[error("failed to create job log {path}")]
    Create {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Output could not be written to the log file or one of its tail segments.
    #[error("failed to write job log {path}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Output came after [`JobLog::finish`].
    #[error("failed to write job log {path}: the log is already finished")]
    Finished {
        /// The log file.
        path: PathBuf,
    },
    /// A tail segment could not be created.
    #[error("failed to create log segment {path}")]
    CreateSegment {
        /// The segment file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A tail segment could not be read back.
    #[error("failed to read log segment {path}")]
    ReadSegment {
        /// The segment file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A tail segment could not be removed.
    #[error("failed to remove log segment {path}")]
    RemoveSegment {
        /// The segment file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A stored log could not be read.
    #[error("failed to read job log {path}")]
    ReadStored {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A stored log could not be written to its reader's output (for a closed pipe the source's
    /// kind is [`io::ErrorKind::BrokenPipe`]).
    #[error("failed to write the job log's output")]
    WriteOutput {
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// A job's log being written; see the [module docs](self) for the format and the cap.
///
/// Dropping it finishes it (errors ignored); call [`JobLog::finish`] to see them.
#[derive(Debug)]
pub struct JobLog {
    path: PathBuf,
    /// The log file; `None` once finished.
    main: Option<File>,
    cap: u64,
    /// Stored bytes the head may take (half the cap).
    head_room: u64,
    /// Stored bytes per tail segment (a quarter of the cap).
    segment_size: u64,
    /// Stored bytes of tail kept by `finish` (half the cap).
    tail_keep: u64,
    head_stored: u64,
    /// Set by the first line that did not fit the head; from then on every line is tail.
    in_tail: bool,
    segments: VecDeque<Segment>,
    next_segment: u64,
    written: u64,
    dropped_bytes: u64,
    dropped_lines: u64,
    stamp: Stamp,
    /// Stamped lines of the current call, reused across calls.
    buf: Vec<u8>,
    finished: bool,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    file: File,
    stored: u64,
    lines: u64,
}

impl JobLog {
    /// Creates the log file at `path` (replacing one that exists) and writes its header line,
    /// `# sandpit job log: JOB_NAME`, the name escaped with [`escape_name`] so that
    /// [`parse_header`] gives it back. `cap_bytes` bounds the output kept (see the module
    /// docs); caps below [`MIN_CAP`] are raised to it.
    pub fn create(path: &Path, job_name: &str, cap_bytes: u64) -> Result<JobLog, LogError> {
        let create_error = |source| LogError::Create {
            path: path.to_path_buf(),
            source,
        };
        let mut main = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(create_error)?;
        // Segments of an earlier log at this path would be read as this one's tail.
        for (_, segment) in leftover_segments(path).map_err(create_error)? {
            remove_segment(&segment)?;
        }
        let header = format!("{HEADER_PREFIX}{}\n", escape_name(job_name));
        main.write_all(header.as_bytes()).map_err(create_error)?;
        let cap = cap_bytes.max(MIN_CAP);
        Ok(JobLog {
            path: path.to_path_buf(),
            main: Some(main),
            cap,
            head_room: cap / 2,
            segment_size: cap / 4,
            tail_keep: cap / 2,
            head_stored: 0,
            in_tail: false,
            segments: VecDeque::new(),
            next_segment: 0,
            written: 0,
            dropped_bytes: 0,
            dropped_lines: 0,
            stamp: Stamp::new(),
            buf: Vec::new(),
            finished: false,
        })
    }

    /// Appends complete lines: `data` ends with `\n` and may hold many lines, in any bytes
    /// (they are stored as they are). Every line gets the same timestamp (this call's
    /// arrival), and the call usually costs a single `write(2)`; more only where the output
    /// crosses from head to tail or from one segment to the next, or when it is over 1 MiB.
    ///
    /// After an error the lines of this call may be missing from the log; later calls go on.
    pub fn write_lines(&mut self, data: &[u8]) -> Result<(), LogError> {
        if self.finished {
            return Err(LogError::Finished {
                path: self.path.clone(),
            });
        }
        if data.is_empty() {
            return Ok(());
        }
        self.stamp.update(SystemTime::now());
        self.buf.clear();
        // Output bytes a stored line may hold with its newline: a stamped line fits a segment.
        let max_line = usize::try_from(self.segment_size)
            .unwrap_or(usize::MAX)
            .saturating_sub(STAMP_LEN);
        let mut rest = data;
        while !rest.is_empty() {
            let start = self.buf.len();
            self.buf.extend_from_slice(&self.stamp.text);
            let mut window = &rest[..rest.len().min(max_line)];
            // `read_until` on a slice finds the newline with the standard library's memchr and
            // copies the line in one go; reading a slice cannot fail.
            let _ = window.read_until(b'\n', &mut self.buf);
            let mut taken = self.buf.len() - start - STAMP_LEN;
            if self.buf.last() != Some(&b'\n') {
                // No newline within reach: break an overlong line here (leaving room for the
                // newline), or end a last line that has none.
                if taken == max_line && taken > 1 {
                    self.buf.pop();
                    taken -= 1;
                }
                self.buf.push(b'\n');
            }
            rest = &rest[taken..];
            let line_len = (self.buf.len() - start) as u64;
            self.written += line_len - STAMP_LEN as u64;
            self.place_line(start, line_len)?;
            if self.buf.len() >= FLUSH_AT {
                self.write_buffered(self.buf.len())?;
            }
        }
        self.write_buffered(self.buf.len())
    }

    /// Decides where the line at `buf[start..]` goes, writing out what is buffered for the
    /// previous destination when it changes.
    fn place_line(&mut self, start: usize, line_len: u64) -> Result<(), LogError> {
        if !self.in_tail {
            if self.head_stored + line_len <= self.head_room {
                self.head_stored += line_len;
                return Ok(());
            }
            self.write_buffered(start)?;
            self.in_tail = true;
        }
        let fits = self
            .segments
            .back()
            .is_some_and(|s| s.stored + line_len <= self.segment_size);
        if !fits {
            // The line is the buffer's last; leaving the head may have written what was before.
            let start = self.buf.len() - line_len as usize;
            self.write_buffered(start)?;
            self.start_segment()?;
        }
        if let Some(segment) = self.segments.back_mut() {
            segment.stored += line_len;
            segment.lines += 1;
        }
        Ok(())
    }

    /// Writes `buf[..upto]` to the current destination (the log file while in the head, the
    /// newest segment after) and removes it from the buffer.
    fn write_buffered(&mut self, upto: usize) -> Result<(), LogError> {
        if upto == 0 {
            return Ok(());
        }
        let (file, path) = match (self.in_tail, self.segments.back_mut(), self.main.as_mut()) {
            (true, Some(segment), _) => (&mut segment.file, &segment.path),
            (false, _, Some(main)) => (main, &self.path),
            // Tail lines are buffered only once their segment exists, and `main` is gone only
            // when finished, which `write_lines` refuses.
            _ => {
                return Err(LogError::Finished {
                    path: self.path.clone(),
                })
            }
        };
        let written = file.write_all(&self.buf[..upto]);
        self.buf.drain(..upto);
        written.map_err(|source| LogError::Write {
            path: path.clone(),
            source,
        })
    }

    /// Opens the next tail segment; when that makes more than [`MAX_SEGMENTS`], the oldest
    /// goes and its lines count as dropped.
    fn start_segment(&mut self) -> Result<(), LogError> {
        let path = segment_path(&self.path, self.next_segment);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| LogError::CreateSegment {
                path: path.clone(),
                source,
            })?;
        self.next_segment += 1;
        self.segments.push_back(Segment {
            path,
            file,
            stored: 0,
            lines: 0,
        });
        while self.segments.len() > MAX_SEGMENTS {
            if let Some(old) = self.segments.pop_front() {
                self.count_dropped(old.stored, old.lines);
                remove_segment(&old.path)?;
            }
        }
        Ok(())
    }

    fn count_dropped(&mut self, stored: u64, lines: u64) {
        self.dropped_bytes += stored.saturating_sub(lines * STAMP_LEN as u64);
        self.dropped_lines += lines;
    }

    /// Ends the log. Without a tail it only closes the file. Otherwise it appends the kept
    /// tail (the newest whole lines, at most half the cap) to the log file, preceded by a marker line
    /// `[sandpit] … N bytes (M lines) of output dropped here (log cap X MiB) …` when anything
    /// was dropped, syncs the file, and removes the segments.
    ///
    /// Idempotent: later calls do nothing. After a failed call the log stays as it stands
    /// (segments included, which [`copy_stored`] shows) and later calls do nothing either.
    pub fn finish(&mut self) -> Result<(), LogError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let Some(mut main) = self.main.take() else {
            return Ok(());
        };
        let segments: Vec<Segment> = std::mem::take(&mut self.segments).into();
        if segments.is_empty() {
            return Ok(());
        }
        let total: u64 = segments.iter().map(|s| s.stored).sum();
        let mut skip = total.saturating_sub(self.tail_keep);
        let mut kept = Vec::new();
        let mut gone = Vec::new();
        for segment in segments {
            if skip > 0 && skip >= segment.stored {
                skip -= segment.stored;
                self.count_dropped(segment.stored, segment.lines);
                gone.push(segment.path);
            } else {
                kept.push(segment.path);
            }
        }
        let mut readers = Vec::with_capacity(kept.len());
        for path in &kept {
            let file = File::open(path).map_err(|source| LogError::ReadSegment {
                path: path.clone(),
                source,
            })?;
            readers.push((path, BufReader::with_capacity(256 << 10, file)));
        }
        // The rest of the cut falls inside the oldest kept segment: drop whole lines from its
        // start until at least `skip` bytes are gone, so the tail starts on a line.
        if let Some((path, reader)) = readers.first_mut() {
            let (mut stored, mut lines) = (0u64, 0u64);
            while stored < skip {
                let n = reader
                    .skip_until(b'\n')
                    .map_err(|source| LogError::ReadSegment {
                        path: path.to_path_buf(),
                        source,
                    })?;
                if n == 0 {
                    break;
                }
                stored += n as u64;
                lines += 1;
            }
            self.count_dropped(stored, lines);
        }
        let log_path = self.path.clone();
        let write_error = |source| LogError::Write {
            path: log_path.clone(),
            source,
        };
        if self.dropped_lines > 0 {
            self.stamp.update(SystemTime::now());
            let marker = gap_marker(
                &self.stamp.text,
                self.dropped_bytes,
                self.dropped_lines,
                self.cap,
            );
            main.write_all(marker.as_bytes()).map_err(write_error)?;
        }
        for (path, reader) in &mut readers {
            loop {
                let chunk = match reader.fill_buf() {
                    Ok([]) => break,
                    Ok(chunk) => chunk,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => {
                        return Err(LogError::ReadSegment {
                            path: path.to_path_buf(),
                            source,
                        })
                    }
                };
                main.write_all(chunk).map_err(write_error)?;
                let n = chunk.len();
                reader.consume(n);
            }
        }
        // On disk before the segments go: a crash in between must not lose the tail.
        main.sync_data().map_err(write_error)?;
        for path in gone.iter().chain(&kept) {
            remove_segment(path)?;
        }
        Ok(())
    }

    /// Bytes of output written so far, kept or dropped: each line with its newline, without
    /// its timestamp (see the module docs for broken long lines).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Output dropped by the cap so far, as (bytes, lines) counted like
    /// [`JobLog::bytes_written`]: before [`JobLog::finish`], the deleted segments; after it,
    /// everything the finished log lacks.
    pub fn dropped(&self) -> (u64, u64) {
        (self.dropped_bytes, self.dropped_lines)
    }
}

impl Drop for JobLog {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn remove_segment(path: &Path) -> Result<(), LogError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(LogError::RemoveSegment {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// The path of tail segment `index` of the log at `log`: `JOB.log.tail.N`.
pub fn segment_path(log: &Path, index: u64) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".tail.{index}"));
    PathBuf::from(name)
}

fn gap_marker(stamp: &[u8; STAMP_LEN], bytes: u64, lines: u64, cap: u64) -> String {
    format!(
        "{}[sandpit] … {bytes} bytes ({lines} {}) of output dropped here (log cap {}) …\n",
        String::from_utf8_lossy(stamp),
        if lines == 1 { "line" } else { "lines" },
        human_size(cap)
    )
}

/// `64 MiB`, `512 KiB` or `1000 bytes`: the unit the size is a whole number of.
fn human_size(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} bytes")
    }
}

/// The cached timestamp text.
#[derive(Debug)]
struct Stamp {
    text: [u8; STAMP_LEN],
    /// The second and microsecond `text` shows (`None` before the first update).
    shown: Option<(u64, u32)>,
}

impl Stamp {
    fn new() -> Self {
        Stamp {
            text: *b"1970-01-01T00:00:00.000000Z ",
            shown: None,
        }
    }

    fn update(&mut self, now: SystemTime) {
        // A clock before 1970 shows 1970; after 9999 shows 9999: the width must never change.
        let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let (secs, micros) = if since.as_secs() > MAX_STAMP_SECS {
            (MAX_STAMP_SECS, 999_999)
        } else {
            (since.as_secs(), since.subsec_micros())
        };
        if self.shown.map(|(s, _)| s) != Some(secs) {
            let time = i64::try_from(secs)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or_default();
            let text = time.format("%Y-%m-%dT%H:%M:%S").to_string();
            if text.len() == 19 {
                self.text[..19].copy_from_slice(text.as_bytes());
            }
        } else if self.shown.map(|(_, m)| m) == Some(micros) {
            return;
        }
        let mut digits = micros;
        for slot in self.text[20..26].iter_mut().rev() {
            *slot = b'0' + (digits % 10) as u8;
            digits /= 10;
        }
        self.shown = Some((secs, micros));
    }
}

/// Whether `prefix` has the shape of a line's timestamp, `2026-11-26T18:33:05.123456Z `.
pub fn is_stamp(prefix: &[u8]) -> bool {
    const SHAPE: &[u8; STAMP_LEN] = b"dddd-dd-ddTdd:dd:dd.ddddddZ ";
    prefix.len() == STAMP_LEN
        && prefix.iter().zip(SHAPE).all(|(&b, &s)| match s {
            b'd' => b.is_ascii_digit(),
            _ => b == s,
        })
}

/// The job name as the header shows it: `\` and control characters (newlines, NUL, escape…)
/// are escaped (`\\`, `\n`, `\r`, `\t`, `\u{1b}`), so the header is one line that is safe on a
/// terminal and [`parse_header`] can give the exact name back.
pub fn escape_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The job name in a log's first line (with or without its newline), or `None` when the line
/// is not a well-formed header.
pub fn parse_header(line: &[u8]) -> Option<String> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let escaped = std::str::from_utf8(line.strip_prefix(HEADER_PREFIX.as_bytes())?).ok()?;
    let mut name = String::with_capacity(escaped.len());
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            name.push(c);
            continue;
        }
        match chars.next()? {
            '\\' => name.push('\\'),
            'n' => name.push('\n'),
            'r' => name.push('\r'),
            't' => name.push('\t'),
            'u' => {
                let rest = chars.as_str().strip_prefix('{')?;
                let (hex, after) = rest.split_once('}')?;
                name.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                chars = after.chars();
            }
            _ => return None,
        }
    }
    Some(name)
}

/// Copies a stored job log to `out` as a reader wants it: without its header line, with each
/// line's timestamp unless `keep_timestamps` is false (lines that do not start with one are
/// shown whole). A log that was not finished (its job still runs, or sandpit stopped) may
/// have tail segments beside it: they follow the head after a marker line saying so and how
/// many segments were already dropped. The output always ends with a newline unless empty.
///
/// A log being written is copied as it stands; one that finishes during the copy may show
/// its tail twice or not at all (`finish` moves it from the segments into the log file).
pub fn copy_stored(
    path: &Path,
    out: &mut dyn Write,
    keep_timestamps: bool,
) -> Result<(), LogError> {
    let read_error = |source| LogError::ReadStored {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let mut reader = BufReader::with_capacity(256 << 10, file);
    let mut printer = Printer::new(keep_timestamps);
    let mut first = Vec::new();
    (&mut reader)
        .take(MAX_HEADER_LEN)
        .read_until(b'\n', &mut first)
        .map_err(read_error)?;
    if first.starts_with(HEADER_PREFIX.as_bytes()) {
        if first.last() != Some(&b'\n') {
            reader.skip_until(b'\n').map_err(read_error)?;
        }
    } else {
        printer.feed(&first, out)?;
    }
    printer.copy(&mut reader, out, read_error)?;
    let segments = leftover_segments(path).map_err(read_error)?;
    if let Some(&(first_index, _)) = segments.first() {
        printer.end_line(out)?;
        let marker = if first_index == 0 {
            "[sandpit] … this log is not finished (its job is still running, or sandpit stopped): \
             the rest of the output follows from its tail segments …\n"
                .to_string()
        } else {
            format!(
                "[sandpit] … this log is not finished (its job is still running, or sandpit \
                 stopped): output is missing here ({first_index} tail {} dropped by the log \
                 cap), the rest follows from its tail segments …\n",
                if first_index == 1 {
                    "segment"
                } else {
                    "segments"
                }
            )
        };
        write_out(out, marker.as_bytes())?;
    }
    for (_, segment) in &segments {
        let read_error = |source| LogError::ReadSegment {
            path: segment.clone(),
            source,
        };
        let file = match File::open(segment) {
            Ok(file) => file,
            // `finish` removed it while we were reading: what it held is in the log already.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(read_error(e)),
        };
        printer.copy(
            &mut BufReader::with_capacity(256 << 10, file),
            out,
            read_error,
        )?;
    }
    printer.end_line(out)
}

/// The tail segments beside the log at `path`, oldest first.
fn leftover_segments(path: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(Vec::new());
    };
    let mut prefix = name.to_owned();
    prefix.push(".tail.");
    let prefix = prefix.as_encoded_bytes();
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(index) = file_name
            .as_encoded_bytes()
            .strip_prefix(prefix)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .filter(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((index, entry.path()));
    }
    found.sort();
    Ok(found)
}

fn write_out(out: &mut dyn Write, data: &[u8]) -> Result<(), LogError> {
    out.write_all(data)
        .map_err(|source| LogError::WriteOutput { source })
}

/// Streams stored lines to a reader's output, taking the timestamps off when asked.
struct Printer {
    keep_timestamps: bool,
    at_line_start: bool,
    /// The start of a line, up to a timestamp's length, until we know whether it is one.
    pending: Vec<u8>,
}

impl Printer {
    fn new(keep_timestamps: bool) -> Self {
        Printer {
            keep_timestamps,
            at_line_start: true,
            pending: Vec::with_capacity(STAMP_LEN),
        }
    }

    fn copy(
        &mut self,
        reader: &mut dyn BufRead,
        out: &mut dyn Write,
        read_error: impl Fn(io::Error) -> LogError,
    ) -> Result<(), LogError> {
        loop {
            let chunk = match reader.fill_buf() {
                Ok([]) => return Ok(()),
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e)),
            };
            let n = chunk.len();
            self.feed(chunk, out)?;
            reader.consume(n);
        }
    }

    fn feed(&mut self, mut data: &[u8], out: &mut dyn Write) -> Result<(), LogError> {
        if self.keep_timestamps {
            if let Some(&last) = data.last() {
                self.at_line_start = last == b'\n';
            }
            return write_out(out, data);
        }
        while !data.is_empty() {
            if self.at_line_start {
                let want = (STAMP_LEN - self.pending.len()).min(data.len());
                if let Some(end) = find_newline(&data[..want]) {
                    // A line shorter than a timestamp has none.
                    self.pending.extend_from_slice(&data[..=end]);
                    write_out(out, &self.pending)?;
                    self.pending.clear();
                    data = &data[end + 1..];
                    continue;
                }
                self.pending.extend_from_slice(&data[..want]);
                data = &data[want..];
                if self.pending.len() == STAMP_LEN {
                    if !is_stamp(&self.pending) {
                        write_out(out, &self.pending)?;
                    }
                    self.pending.clear();
                    self.at_line_start = false;
                }
            } else {
                match find_newline(data) {
                    Some(end) => {
                        write_out(out, &data[..=end])?;
                        data = &data[end + 1..];
                        self.at_line_start = true;
                    }
                    None => {
                        write_out(out, data)?;
                        data = &[];
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends the current line if one is open, so what follows starts on its own line.
    fn end_line(&mut self, out: &mut dyn Write) -> Result<(), LogError> {
        if !self.pending.is_empty() {
            write_out(out, &self.pending)?;
            self.pending.clear();
            self.at_line_start = false;
        }
        if !self.at_line_start {
            write_out(out, b"\n")?;
            self.at_line_start = true;
        }
        Ok(())
    }
}

/// The index of the first newline in `data`, found with the standard library's memchr.
fn find_newline(data: &[u8]) -> Option<usize> {
    let mut reader = data;
    // Skipping in a slice cannot fail.
    let skipped = reader.skip_until(b'\n').unwrap_or(0);
    (skipped > 0 && data[skipped - 1] == b'\n').then(|| skipped - 1)
}

#[cfg(test)]
mod tests;
