//! What a run reports as it goes: one stream of events, rendered by the CLI for humans or as
//! NDJSON for programs. Every text in an event has been masked already.

use std::collections::BTreeMap;

use serde::Serialize;

/// How a job or step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It ran and succeeded.
    #[default]
    Success,
    /// It ran and failed (or could not start).
    Failure,
    /// The run was cancelled (or the job timed out) before or while it ran.
    Cancelled,
    /// Its condition was false.
    Skipped,
}

impl Outcome {
    /// The word GitHub uses (`success`, `failure`, `cancelled`, `skipped`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Cancelled => "cancelled",
            Outcome::Skipped => "skipped",
        }
    }
}

/// Which job instance an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobRef {
    /// The workflow file.
    pub workflow: String,
    /// The job id.
    pub id: String,
    /// The instance's display name (`test (ubuntu, 18)`).
    pub name: String,
    /// The instance's position in the run, for stable colours.
    pub index: usize,
}

/// The severity of an annotation (`::notice`, `::warning`, `::error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// `::notice`.
    Notice,
    /// `::warning`, and sandpit's own warnings.
    Warning,
    /// `::error`.
    Error,
}

/// An annotation a step made, shown in the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    /// Its severity.
    pub level: Level,
    /// The message.
    pub message: String,
    /// `title`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// `line`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// `col`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub col: Option<u64>,
}

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run began; its logs go to `log_dir`.
    RunStarted {
        /// The run's id (`GITHUB_RUN_ID`).
        run_id: u64,
        /// The workflow files that run.
        workflows: Vec<String>,
        /// Where the job logs are written.
        log_dir: String,
    },
    /// A job instance got its sandbox and starts its steps.
    JobStarted {
        /// The job.
        job: JobRef,
        /// Its sandbox's id.
        sandbox: String,
    },
    /// A step starts.
    StepStarted {
        /// The job.
        job: JobRef,
        /// Its position among the job's steps (composite actions' steps share their parent's).
        step: usize,
        /// Its display name.
        name: String,
    },
    /// Complete output lines of the running step (one or more, each ending in `\n`).
    Output {
        /// The job.
        job: JobRef,
        /// The lines, masked; invalid UTF-8 replaced.
        text: String,
    },
    /// `::group::`: the lines that follow, up to the group's end, belong together.
    Group {
        /// The job.
        job: JobRef,
        /// The group's title.
        title: String,
    },
    /// `::endgroup::`.
    EndGroup {
        /// The job.
        job: JobRef,
    },
    /// A step's annotation.
    Annotation {
        /// The job.
        job: JobRef,
        /// The annotation.
        annotation: Annotation,
    },
    /// Something the user should know that is not the job's output.
    Notice {
        /// The job, if it concerns one.
        #[serde(skip_serializing_if = "Option::is_none")]
        job: Option<JobRef>,
        /// Its severity.
        level: Level,
        /// The message.
        message: String,
    },
    /// A step ended.
    StepFinished {
        /// The job.
        job: JobRef,
        /// Its position.
        step: usize,
        /// Its display name.
        name: String,
        /// Its result before `continue-on-error`.
        outcome: Outcome,
        /// Its result after `continue-on-error`.
        conclusion: Outcome,
        /// Wall time.
        duration_ms: u64,
        /// Why it failed, when not by its exit code alone.
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// A job instance ended (also when it was skipped or never started).
    JobFinished {
        /// The job.
        job: JobRef,
        /// Its result.
        result: Outcome,
        /// Wall time (0 when it did not run).
        duration_ms: u64,
        /// Its `outputs`.
        outputs: BTreeMap<String, String>,
        /// Why it ended so, when not by its steps alone.
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Its log file, when it ran.
        #[serde(skip_serializing_if = "Option::is_none")]
        log: Option<String>,
    },
    /// The run ended.
    RunFinished {
        /// The run's id.
        run_id: u64,
        /// `success` when every job succeeded or was skipped as intended.
        result: Outcome,
        /// Wall time.
        duration_ms: u64,
    },
}
