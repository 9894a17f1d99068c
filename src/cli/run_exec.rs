//! `sandpit run` without `-n`/`-l`: runs the triggered workflows and renders the run's events,
//! for humans (live lines prefixed by job, a summary table) or as NDJSON (`--json`).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc as std_mpsc;

use tokio::sync::mpsc;

use super::workflow::clean;
use crate::runner::event::{Annotation, Level};
use crate::runner::runs::RunDir;
use crate::runner::{self, Cancel, CancelLevel, Event, JobRef, Outcome, RunConfig, RunFacts};
use crate::sandbox::{Sandboxes, SandboxesConfig};
use crate::workflow::model::Workflow;
use crate::workflow::plan::Plan;

/// Exit status of a cancelled run (128 + SIGINT, as shells report it).
pub const CANCELLED: u8 = 130;

/// Everything `run` decided before running.
pub struct Execution {
    /// The triggered workflows with their (restricted) plans.
    pub workflows: Vec<(Workflow, Plan)>,
    /// How to run.
    pub config: RunConfig,
    /// The event and repository facts (`run_id` is filled in here).
    pub facts: RunFacts,
    /// NDJSON events instead of the human view.
    pub json: bool,
}

/// Runs and renders; returns 0, 1 (a job failed) or 130 (cancelled).
pub fn execute(mut execution: Execution) -> ExitCode {
    let config = SandboxesConfig::from_env();
    let run_dir = match RunDir::create(&config.home) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            eprintln!(
                "hint: sandpit keeps runs under {}; run as root or set SANDPIT_HOME",
                config.home.display()
            );
            return ExitCode::FAILURE;
        }
    };
    execution.facts.run_id = run_dir.id;
    let runtime = match super::async_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let sandboxes = match Sandboxes::open(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", crate::error_chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let (sender, mut receiver) = mpsc::channel::<Event>(1024);
    // The terminal is written from a thread of its own, so a slow terminal slows the run
    // down (the channel is bounded) without blocking the async workers.
    let (done_tx, done_rx) = std_mpsc::channel::<()>();
    let json = execution.json;
    let keep = execution.config.keep_sandboxes;
    let renderer = std::thread::spawn(move || {
        let mut view = View::new(json, keep);
        while let Some(event) = receiver.blocking_recv() {
            view.show(&event);
            // Flush when nothing else is waiting, so lines appear live but writes are batched.
            if receiver.is_empty() {
                view.flush();
            }
        }
        view.flush();
        let _ = done_tx.send(());
        view
    });
    let cancel = Cancel::new();
    let report = runtime.block_on(async {
        let signals = tokio::spawn(watch_signals(cancel.clone()));
        let report = runner::run(
            sandboxes,
            execution.config,
            execution.facts,
            run_dir,
            execution.workflows,
            sender,
            cancel.clone(),
        )
        .await;
        signals.abort();
        report
    });
    drop(runtime);
    let _ = done_rx.recv();
    let _ = renderer.join();
    match report.result {
        Outcome::Success | Outcome::Skipped => ExitCode::SUCCESS,
        Outcome::Failure => ExitCode::FAILURE,
        Outcome::Cancelled => ExitCode::from(CANCELLED),
    }
}

/// The first SIGINT or SIGTERM cancels gracefully, the second at once.
async fn watch_signals(cancel: Cancel) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        match cancel.escalate() {
            CancelLevel::Graceful => eprintln!(
                "\nsandpit: cancelling the run: steps get SIGINT, then SIGTERM and SIGKILL; \
                 press Ctrl-C again to stop at once"
            ),
            _ => eprintln!("\nsandpit: stopping at once"),
        }
    }
}

/// Renders events.
struct View {
    json: bool,
    keep: bool,
    color: bool,
    out: std::io::BufWriter<std::io::Stdout>,
    /// Jobs in the order they finished, for the summary.
    rows: Vec<(JobRef, Outcome, u64, Option<String>)>,
    annotations: Vec<(JobRef, Annotation)>,
    sandboxes: BTreeMap<String, String>,
    log_dir: Option<String>,
    run_id: u64,
    broken: bool,
}

const COLORS: [&str; 6] = ["36", "33", "35", "32", "34", "31"];

impl View {
    fn new(json: bool, keep: bool) -> View {
        View {
            json,
            keep,
            color: !json
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none(),
            out: std::io::BufWriter::with_capacity(256 * 1024, std::io::stdout()),
            rows: Vec::new(),
            annotations: Vec::new(),
            sandboxes: BTreeMap::new(),
            log_dir: None,
            run_id: 0,
            broken: false,
        }
    }

    fn write(&mut self, text: &[u8]) {
        if !self.broken && self.out.write_all(text).is_err() {
            // A closed stdout (a pipe into `head`) must not stop the run.
            self.broken = true;
        }
    }

    fn flush(&mut self) {
        if !self.broken && self.out.flush().is_err() {
            self.broken = true;
        }
    }

    fn prefix(&self, job: &JobRef) -> String {
        let name = clean(&job.name);
        if self.color {
            let color = COLORS[job.index % COLORS.len()];
            format!("\x1b[{color}m[{name}]\x1b[0m ")
        } else {
            format!("[{name}] ")
        }
    }

    fn line(&mut self, job: &JobRef, text: &str) {
        let line = format!("{}{text}\n", self.prefix(job));
        self.write(line.as_bytes());
    }

    fn show(&mut self, event: &Event) {
        if self.json {
            if let Ok(mut line) = serde_json::to_vec(event) {
                line.push(b'\n');
                self.write(&line);
            }
            self.remember(event);
            return;
        }
        match event {
            Event::RunStarted {
                run_id,
                workflows,
                log_dir,
            } => {
                self.run_id = *run_id;
                self.log_dir = Some(log_dir.clone());
                let names: Vec<String> = workflows.iter().map(|w| clean(w)).collect();
                let text = format!("run {run_id}: {}\n", names.join(", "));
                self.write(text.as_bytes());
            }
            Event::JobStarted { job, sandbox } => {
                self.sandboxes.insert(job.name.clone(), sandbox.clone());
                self.line(job, &format!("job started (sandbox {sandbox})"));
            }
            Event::StepStarted { job, name, .. } => {
                let text = format!("▸ {}", clean(name));
                self.line(job, &text);
            }
            Event::Output { job, text } => {
                let prefix = self.prefix(job);
                let mut buffer = String::with_capacity(text.len() + 64);
                for line in text.split_terminator('\n') {
                    buffer.push_str(&prefix);
                    buffer.push_str("  ");
                    buffer.push_str(line);
                    buffer.push('\n');
                }
                self.write(buffer.as_bytes());
            }
            Event::Group { job, title } => {
                let text = format!("  ▾ {}", clean(title));
                self.line(job, &text);
            }
            Event::EndGroup { .. } => {}
            Event::Annotation { job, annotation } => {
                let text = format!("  {}", annotation_text(annotation));
                self.line(job, &text);
            }
            Event::Notice {
                job,
                level,
                message,
            } => {
                let word = level_word(*level);
                match job {
                    Some(job) => {
                        let text = format!("{word}: {}", clean(message));
                        self.line(job, &text);
                    }
                    None => {
                        let text = format!("{word}: {}\n", clean(message));
                        self.write(text.as_bytes());
                    }
                }
            }
            Event::StepFinished {
                job,
                name,
                outcome,
                conclusion,
                duration_ms,
                message,
                ..
            } => {
                let mark = match conclusion {
                    Outcome::Success if outcome == conclusion => "✓".to_string(),
                    Outcome::Success => format!("✓ {} (continue-on-error)", outcome.as_str()),
                    Outcome::Failure => "✗ failure".into(),
                    Outcome::Cancelled => "⊘ cancelled".into(),
                    Outcome::Skipped => "- skipped".into(),
                };
                let text = format!("{mark} {} ({})", clean(name), duration(*duration_ms));
                self.line(job, &with_message(text, message.as_deref()));
            }
            Event::JobFinished {
                job,
                result,
                duration_ms,
                message,
                ..
            } => {
                if *result != Outcome::Skipped || message.is_some() {
                    let text = format!("job {} ({})", result.as_str(), duration(*duration_ms));
                    self.line(job, &with_message(text, message.as_deref()));
                }
            }
            Event::RunFinished { .. } => {}
        }
        self.remember(event);
        if let Event::RunFinished {
            result,
            duration_ms,
            ..
        } = event
        {
            let summary = self.summary(*result, *duration_ms);
            self.write(summary.as_bytes());
        }
    }

    fn remember(&mut self, event: &Event) {
        match event {
            Event::JobFinished {
                job,
                result,
                duration_ms,
                message,
                ..
            } => {
                self.rows
                    .push((job.clone(), *result, *duration_ms, message.clone()));
            }
            Event::Annotation { job, annotation } => {
                self.annotations.push((job.clone(), annotation.clone()));
            }
            Event::RunStarted { run_id, .. } => self.run_id = *run_id,
            _ => {}
        }
    }

    fn summary(&self, result: Outcome, duration_ms: u64) -> String {
        use std::fmt::Write as _;
        let mut out = String::from("\n");
        let width = self
            .rows
            .iter()
            .map(|(job, ..)| clean(&job.name).chars().count())
            .max()
            .unwrap_or(3)
            .max(3);
        let _ = writeln!(out, "{:<width$}  {:<9}  DURATION", "JOB", "RESULT");
        // In the order the jobs were planned, whatever order they ended in.
        let mut rows: Vec<_> = self.rows.iter().collect();
        rows.sort_by_key(|(job, ..)| job.index);
        for (job, outcome, ms, _) in rows {
            let _ = writeln!(
                out,
                "{:<width$}  {:<9}  {}",
                clean(&job.name),
                outcome.as_str(),
                duration(*ms)
            );
        }
        if !self.annotations.is_empty() {
            let _ = writeln!(out, "\nannotations:");
            for (job, annotation) in &self.annotations {
                let _ = writeln!(
                    out,
                    "  [{}] {}",
                    clean(&job.name),
                    annotation_text(annotation)
                );
            }
        }
        if self.keep && !self.sandboxes.is_empty() {
            let _ = writeln!(
                out,
                "\nkept sandboxes (remove with `sandpit sandbox destroy ID`):"
            );
            for (job, sandbox) in &self.sandboxes {
                let _ = writeln!(out, "  {sandbox}  {}", clean(job));
            }
        }
        let _ = writeln!(
            out,
            "\nrun {}: {} in {}; logs: {} (`sandpit logs {}`)",
            self.run_id,
            result.as_str(),
            duration(duration_ms),
            clean(self.log_dir.as_deref().unwrap_or("")),
            self.run_id
        );
        out
    }
}

/// `text: message` (the message cleaned of control characters), or `text` alone.
fn with_message(text: String, message: Option<&str>) -> String {
    match message {
        Some(message) => format!("{text}: {}", clean(message)),
        None => text,
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Notice => "notice",
        Level::Warning => "warning",
        Level::Error => "error",
    }
}

fn annotation_text(a: &Annotation) -> String {
    let mut place = String::new();
    if let Some(file) = &a.file {
        place.push_str(&clean(file));
        if let Some(line) = a.line {
            place.push_str(&format!(":{line}"));
            if let Some(col) = a.col {
                place.push_str(&format!(":{col}"));
            }
        }
        place.push_str(": ");
    }
    let title = a
        .title
        .as_ref()
        .map(|t| format!("{}: ", clean(t)))
        .unwrap_or_default();
    format!(
        "{} {place}{title}{}",
        level_word(a.level),
        clean(&a.message)
    )
}

fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// Reads `--secret-file`/`--env-file` (dotenv format).
pub fn read_dotenv(path: &Path, what: &str) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("failed to read the {what} {}: {e}", path.display()))?;
    crate::runner::dotenv::parse_dotenv(&text)
        .map_err(|e| format!("{what} {}: {e}", path.display()))
}

/// The repository's facts for the `github` context.
pub fn repository_facts(workspace: &PathBuf) -> (String, String) {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(workspace)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let sha = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    let repository = git(&["remote", "get-url", "origin"])
        .and_then(|url| runner::context::repository_from_remote(&url))
        .unwrap_or_default();
    (sha, repository)
}
