//! The runner: executes triggered workflows, one sandbox per job instance, through the public
//! SDK only (so everything it does, a library user could do too).
//!
//! Data flows one way: the CLI hands over validated workflows with their plans; `schedule`
//! orders the job instances; `job` runs one instance's steps in its sandbox; `step` runs one
//! step; `output` turns a step's bytes into masked lines for the durable `log` and the event
//! stream the CLI renders.

pub mod cancel;
pub mod commands;
pub mod context;
pub mod dotenv;
pub mod event;
mod job;
pub mod log;
pub mod mask;
pub mod output;
pub mod runs;
mod schedule;
mod step;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc;
use tracing::Instrument;

pub use cancel::{Cancel, CancelLevel};
pub use context::RunFacts;
pub use event::{Event, JobRef, Outcome};
pub use step::{resolve_shell, Shell};

use crate::sandbox::Sandboxes;
use crate::workflow::expr::{Object, Value};
use crate::workflow::model::Workflow;
use crate::workflow::plan::Plan;
use mask::Masker;
use runs::RunDir;

/// How to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The working tree jobs see at `/workspace` (copy-on-write).
    pub workspace: PathBuf,
    /// `secrets`, masked everywhere.
    pub secrets: Vec<(String, String)>,
    /// Variables every step gets (below the workflow's `env`).
    pub env: Vec<(String, String)>,
    /// `vars`.
    pub vars: Vec<(String, String)>,
    /// Job instances running at once.
    pub max_jobs: usize,
    /// Keep each job's sandbox after it ends (for debugging).
    pub keep_sandboxes: bool,
    /// Cap of each job's stored log, in bytes.
    pub log_cap: u64,
    /// `--matrix` filters, applied to dynamic matrices when they expand.
    pub matrix_filter: Vec<(String, String)>,
    /// Limits of every job's sandbox.
    pub limits: crate::sandbox::Limits,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The run's id.
    pub run_id: u64,
    /// `Success` when every job succeeded or was skipped as intended; `Cancelled` when the run
    /// was cancelled; else `Failure`.
    pub result: Outcome,
    /// Every job instance with its result (continue-on-error failures count as successes).
    pub jobs: Vec<(JobRef, Outcome)>,
}

/// What every job of a run shares.
pub(crate) struct Shared {
    pub sandboxes: Sandboxes,
    pub config: RunConfig,
    pub facts: RunFacts,
    pub events: mpsc::Sender<Event>,
    pub run_dir: RunDir,
    pub masker: Masker,
    pub vars: Value,
    pub secrets: Value,
    pub debug: bool,
    /// Sandboxes made and not yet destroyed.
    live: Mutex<BTreeSet<String>>,
}

impl Shared {
    /// Sends an event; a gone renderer does not stop the run.
    pub async fn send(&self, event: Event) {
        let _ = self.events.send(event).await;
    }

    /// Remembers a sandbox id before it is created, so nothing can leak it.
    pub fn track(&self, id: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.insert(id.to_string());
        }
    }

    /// Destroys a sandbox the run made (a missing one is fine).
    pub async fn destroy(&self, id: &str) {
        let tracked = self.live.lock().map(|mut l| l.remove(id)).unwrap_or(false);
        if !tracked {
            return;
        }
        if let Err(e) = self.sandboxes.destroy(id).await {
            tracing::warn!(sandbox = id, error = %crate::error_chain(&e), "failed to destroy a job's sandbox");
        }
    }

    fn remaining(&self) -> Vec<String> {
        self.live
            .lock()
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Runs `workflows` (each with its plan, already restricted to the wanted jobs) and reports
/// every step on `events`. Returns when every job has ended and every sandbox the run made is
/// destroyed (unless `keep_sandboxes`).
pub async fn run(
    sandboxes: Sandboxes,
    config: RunConfig,
    facts: RunFacts,
    run_dir: RunDir,
    workflows: Vec<(Workflow, Plan)>,
    events: mpsc::Sender<Event>,
    cancel: Cancel,
) -> RunReport {
    let started = Instant::now();
    let run_id = facts.run_id;
    let span = tracing::info_span!("run", run_id);
    let mut masker = Masker::new();
    for (_, value) in &config.secrets {
        masker.add(value);
    }
    let object = |pairs: &[(String, String)]| -> Value {
        Value::object(
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect::<Object>(),
        )
    };
    let debug = config
        .secrets
        .iter()
        .chain(config.vars.iter())
        .any(|(k, v)| k == "ACTIONS_STEP_DEBUG" && v == "true");
    let shared = Arc::new(Shared {
        sandboxes,
        vars: object(&config.vars),
        secrets: object(&config.secrets),
        config,
        facts,
        events,
        run_dir,
        masker,
        debug,
        live: Mutex::new(BTreeSet::new()),
    });
    shared
        .send(Event::RunStarted {
            run_id,
            workflows: workflows.iter().map(|(w, _)| w.path.clone()).collect(),
            log_dir: shared.run_dir.path.display().to_string(),
        })
        .await;
    let workflows: Vec<(Arc<Workflow>, Plan)> = workflows
        .into_iter()
        .map(|(w, p)| (Arc::new(w), p))
        .collect();
    let jobs = schedule::run(shared.clone(), workflows, cancel.clone())
        .instrument(span)
        .await;
    // Nothing the run made may outlive it: the tracked ones, and (in case a creation finished
    // after its job was aborted) any sandbox carrying this run's prefix.
    if !shared.config.keep_sandboxes {
        for id in shared.remaining() {
            shared.destroy(&id).await;
        }
        let prefix = format!("run{run_id}-job");
        if let Ok(all) = shared.sandboxes.list().await {
            for info in all {
                let id = info.record.id.to_string();
                if id.starts_with(&prefix) {
                    shared.track(&id);
                    shared.destroy(&id).await;
                }
            }
        }
    }
    let result = if cancel.level() >= CancelLevel::Graceful {
        Outcome::Cancelled
    } else if jobs
        .iter()
        .any(|(_, r)| matches!(r, Outcome::Failure | Outcome::Cancelled))
    {
        Outcome::Failure
    } else {
        Outcome::Success
    };
    let summary = serde_json::json!({
        "run_id": run_id,
        "result": result.as_str(),
        "duration_ms": started.elapsed().as_millis() as u64,
        "jobs": jobs.iter().map(|(job, outcome)| serde_json::json!({
            "workflow": job.workflow, "id": job.id, "name": job.name, "result": outcome.as_str(),
        })).collect::<Vec<_>>(),
    });
    if let Err(e) = shared.run_dir.write_summary(&summary) {
        tracing::warn!(error = %crate::error_chain(&e), "failed to write the run summary");
    }
    shared
        .send(Event::RunFinished {
            run_id,
            result,
            duration_ms: started.elapsed().as_millis() as u64,
        })
        .await;
    RunReport {
        run_id,
        result,
        jobs,
    }
}
