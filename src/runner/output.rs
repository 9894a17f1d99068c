//! A job's output path: the step's raw bytes are cut into lines, workflow commands are taken
//! out, secrets are masked, and what remains goes to the job's durable log and to the event
//! stream. Memory stays bounded whatever the step prints: lines longer than [`MAX_LINE`] are
//! wrapped, and the masker holds back at most the longest secret.

use tokio::sync::mpsc;

use super::commands::{CommandParser, WorkflowCommand};
use super::event::{Event, JobRef, Level};
use super::log::JobLog;
use super::mask::{MaskStream, Masker};

/// Longest line kept whole; longer ones are wrapped (and never read as workflow commands).
pub const MAX_LINE: usize = 64 * 1024;
/// Most workflow commands a step's output may hold for the step to apply when it ends (each
/// is at most [`MAX_LINE`] long); the rest are counted and reported, not kept.
pub const MAX_COMMANDS: usize = 10_000;
/// Most problems (malformed commands) reported per step.
const MAX_PROBLEMS: usize = 100;
/// Most `::add-mask::` values a job may register; later ones are refused with a warning, so a
/// step cannot make the runner rebuild its matcher without end.
pub const MAX_MASKS: usize = 1000;

/// Where one job's lines go. Everything written here is masked first.
pub struct JobSink {
    /// The job.
    pub job: JobRef,
    /// The values to hide: the run's secrets plus the job's `::add-mask::` values.
    pub masker: Masker,
    log: Option<JobLog>,
    events: mpsc::Sender<Event>,
    /// The first failure to write the log; the job goes on, the failure is reported once.
    log_error: Option<String>,
    /// `::add-mask::` values registered so far.
    masks: usize,
}

impl JobSink {
    /// A sink writing to `log` (if it could be created) and `events`.
    pub fn new(
        job: JobRef,
        masker: Masker,
        log: Option<JobLog>,
        events: mpsc::Sender<Event>,
    ) -> JobSink {
        JobSink {
            job,
            masker,
            log,
            events,
            log_error: None,
            masks: 0,
        }
    }

    /// Sends an event (dropped if the renderer is gone: the run goes on).
    pub async fn event(&self, event: Event) {
        let _ = self.events.send(event).await;
    }

    /// Masks a text of sandpit's own (names, messages).
    pub fn mask(&self, text: &str) -> String {
        self.masker.mask_str(text).into_owned()
    }

    /// Writes complete, already masked lines to the log and as an output event.
    async fn lines(&mut self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        self.log_lines(&data);
        // Valid UTF-8 (the usual case) becomes the event's text without a copy.
        let text = match String::from_utf8(data) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        self.event(Event::Output {
            job: self.job.clone(),
            text,
        })
        .await;
    }

    /// Writes complete, already masked lines to the log only.
    pub fn log_lines(&mut self, data: &[u8]) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.write_lines(data) {
                if self.log_error.is_none() {
                    self.log_error = Some(crate::error_chain(&e));
                }
                self.log = None;
            }
        }
    }

    /// A line of sandpit's own in the job's log (masked; not an output event).
    pub fn note(&mut self, text: &str) {
        let mut line = self.mask(text).into_bytes();
        line.retain(|&b| b != b'\n');
        line.push(b'\n');
        self.log_lines(&line);
    }

    /// Reports a warning about the job, in the log and as an event.
    pub async fn warn(&mut self, message: &str) {
        let message = self.mask(message);
        self.note(&format!("warning: {message}"));
        self.event(Event::Notice {
            job: Some(self.job.clone()),
            level: Level::Warning,
            message,
        })
        .await;
    }

    /// Ends the log; returns the first log failure, if any.
    pub fn finish(&mut self) -> Option<String> {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.finish() {
                self.log_error.get_or_insert_with(|| crate::error_chain(&e));
            }
        }
        self.log = None;
        self.log_error.take()
    }
}

/// The output of one running step.
pub struct StepOutput<'a> {
    sink: &'a mut JobSink,
    parser: CommandParser,
    stream: MaskStream,
    /// The start of a line whose end has not arrived.
    partial: Vec<u8>,
    /// Masked bytes ready to be written.
    batch: Vec<u8>,
    /// The commands found, in order, for the step to apply.
    pub commands: Vec<WorkflowCommand>,
    /// Problems with commands (malformed ones, too many), as messages.
    pub problems: Vec<String>,
    /// Commands beyond [`MAX_COMMANDS`], not kept.
    dropped_commands: u64,
    /// `::add-mask::` values not registered yet: they are registered together before the next
    /// line is masked.
    pending_masks: Vec<String>,
}

impl<'a> StepOutput<'a> {
    /// The output of a step that starts now.
    pub fn new(sink: &'a mut JobSink) -> StepOutput<'a> {
        StepOutput {
            sink,
            parser: CommandParser::new(),
            stream: MaskStream::new(),
            partial: Vec::new(),
            batch: Vec::new(),
            commands: Vec::new(),
            problems: Vec::new(),
            dropped_commands: 0,
            pending_masks: Vec::new(),
        }
    }

    /// Takes a chunk of the step's output (stdout and stderr alike).
    pub async fn push(&mut self, mut data: &[u8]) {
        // First the end of a line begun in an earlier chunk.
        if !self.partial.is_empty() {
            if let Some(end) = memchr::memchr(b'\n', data) {
                if self.partial.len() + end < MAX_LINE {
                    self.partial.extend_from_slice(&data[..=end]);
                    data = &data[end + 1..];
                    let line = std::mem::take(&mut self.partial);
                    self.line(&line).await;
                    // Keep the allocation for the next partial line.
                    self.partial = line;
                    self.partial.clear();
                }
            }
        }
        // The common case in bulk: no command possible in the complete lines of the chunk,
        // none of them too long. Masked in one pass.
        if self.partial.is_empty() && !self.parser.stopped() {
            if let Some(last) = memchr::memrchr(b'\n', data) {
                let (lines, rest) = data.split_at(last + 1);
                // Long lines need no wrapping here: they are complete, so nothing is held.
                if memchr::memmem::find(lines, b"::").is_none() {
                    self.register_masks();
                    self.stream.push(&self.sink.masker, lines, &mut self.batch);
                    data = rest;
                }
            }
        }
        while !data.is_empty() {
            match memchr::memchr(b'\n', data) {
                Some(end) if self.partial.len() + end < MAX_LINE => {
                    if self.partial.is_empty() {
                        let (line, rest) = data.split_at(end + 1);
                        self.line(line).await;
                        data = rest;
                    } else {
                        self.partial.extend_from_slice(&data[..=end]);
                        data = &data[end + 1..];
                        let line = std::mem::take(&mut self.partial);
                        self.line(&line).await;
                    }
                }
                _ => {
                    let room = MAX_LINE - self.partial.len();
                    if data.len() < room {
                        self.partial.extend_from_slice(data);
                        break;
                    }
                    // Too long for a line: wrap it here.
                    self.partial.extend_from_slice(&data[..room]);
                    data = &data[room..];
                    let piece = std::mem::take(&mut self.partial);
                    self.register_masks();
                    self.stream.push(&self.sink.masker, &piece, &mut self.batch);
                    self.batch.push(b'\n');
                }
            }
            if self.batch.len() >= 256 * 1024 {
                self.flush().await;
            }
        }
        self.flush().await;
    }

    /// One complete line, ending in `\n`.
    async fn line(&mut self, line: &[u8]) {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        // Commands are rare: only lines that could be one go to the parser (stopped commands
        // still need it, to see the token that resumes them).
        let maybe_command = self.parser.stopped() || trim_start(body).starts_with(b"::");
        if maybe_command {
            if let Some(parsed) = self.parser.parse_line(body) {
                match parsed {
                    Ok(command) => {
                        self.command(command).await;
                        return;
                    }
                    Err(e) if self.problems.len() < MAX_PROBLEMS => {
                        self.problems.push(e.to_string())
                    }
                    Err(_) => {}
                }
            }
        }
        self.register_masks();
        self.stream.push(&self.sink.masker, line, &mut self.batch);
    }

    /// Registers the `::add-mask::` values seen since the last line, in one build.
    fn register_masks(&mut self) {
        if !self.pending_masks.is_empty() {
            let values = std::mem::take(&mut self.pending_masks);
            self.sink.masker.add_all(values.iter().map(String::as_str));
        }
    }

    async fn command(&mut self, command: WorkflowCommand) {
        match command {
            WorkflowCommand::AddMask(value) => {
                if self.sink.masks < MAX_MASKS {
                    self.sink.masks += 1;
                    self.pending_masks.push(value);
                } else if self.sink.masks == MAX_MASKS {
                    self.sink.masks += 1;
                    self.problems.push(format!(
                        "more than {MAX_MASKS} ::add-mask:: values in this job: later ones were \
                         refused"
                    ));
                }
            }
            WorkflowCommand::Group(title) => {
                self.register_masks();
                self.flush().await;
                let title = self.sink.mask(&title);
                self.sink.note(&format!("::group::{title}"));
                self.sink
                    .event(Event::Group {
                        job: self.sink.job.clone(),
                        title,
                    })
                    .await;
            }
            WorkflowCommand::EndGroup => {
                self.flush().await;
                self.sink.note("::endgroup::");
                self.sink
                    .event(Event::EndGroup {
                        job: self.sink.job.clone(),
                    })
                    .await;
            }
            other if self.commands.len() < MAX_COMMANDS => self.commands.push(other),
            _ => self.dropped_commands += 1,
        }
    }

    /// Writes what is ready.
    async fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.sink.lines(batch).await;
        }
    }

    /// The step ended: what is left (a last line without newline) is written.
    pub async fn finish(&mut self) {
        if !self.partial.is_empty() {
            let mut line = std::mem::take(&mut self.partial);
            line.push(b'\n');
            self.line(&line).await;
        }
        if self.dropped_commands > 0 {
            self.problems.push(format!(
                "{} workflow commands beyond the first {MAX_COMMANDS} of this step were ignored",
                self.dropped_commands
            ));
        }
        self.register_masks();
        self.stream.finish(&self.sink.masker, &mut self.batch);
        if !self.batch.is_empty() && !self.batch.ends_with(b"\n") {
            self.batch.push(b'\n');
        }
        self.flush().await;
    }
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}
