//! `sandpit validate` and `sandpit plan`: read workflow files, report every problem like a
//! compiler, and show what would run (stages, matrix instances, steps) without running it.
//!
//! Diagnostics, the summary and hints go to stderr; the plan (human, `--graph` or `--json`)
//! to stdout. Exit 0 when every workflow is valid (warnings allowed), 2 otherwise.

use std::fmt::Write as _;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::workflow::diagnostic::{self, Diagnostic};
use crate::workflow::load::load;
use crate::workflow::model::{Pos, Span, Workflow};
use crate::workflow::plan::{self, Plan, PlannedJob, PlannedStep};
use crate::workflow::yaml::{self, MAX_SOURCE_BYTES};

/// Exit status when a workflow is invalid or cannot be read (as for usage errors).
pub(super) const INVALID: u8 = 2;

/// Where workflows are looked for when no path is given.
const DEFAULT_DIR: &str = ".github/workflows";

/// `sandpit validate`.
#[derive(Args)]
pub struct ValidateArgs {
    /// Workflow files, or directories whose *.yml and *.yaml files are read (not recursively).
    /// Default: .github/workflows.
    paths: Vec<PathBuf>,
}

/// `sandpit plan`.
#[derive(Args)]
pub struct PlanArgs {
    /// Workflow files, or directories whose *.yml and *.yaml files are read (not recursively).
    /// Default: .github/workflows.
    paths: Vec<PathBuf>,
    /// Print the plan as one JSON document, for programs.
    #[arg(long, conflicts_with = "graph")]
    json: bool,
    /// Draw the job graph instead of listing steps.
    #[arg(long)]
    graph: bool,
}

/// Runs `sandpit validate`.
pub fn validate(args: ValidateArgs) -> ExitCode {
    let mut report = Report::new();
    let files = report.files(&args.paths);
    let mut checked = 0;
    for file in &files {
        checked += 1;
        report.read(file);
    }
    let Report {
        errors, warnings, ..
    } = report;
    eprintln!(
        "{} checked: {}, {}",
        plural(checked, "workflow"),
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    exit(errors == 0)
}

/// Runs `sandpit plan`.
pub fn plan(args: PlanArgs) -> ExitCode {
    let mut report = Report::new();
    let files = report.files(&args.paths);
    let plans: Vec<Plan> = files
        .iter()
        .filter_map(|file| report.read(file))
        .map(|workflow| plan::plan(&workflow))
        .collect();
    let mut out = String::new();
    if args.json {
        #[derive(serde::Serialize)]
        struct Document<'a> {
            workflows: &'a [Plan],
        }
        // Serialising plain data cannot fail; an empty document would be the fallback.
        out = serde_json::to_string(&Document { workflows: &plans }).unwrap_or_default();
        out.push('\n');
    } else {
        for (index, plan) in plans.iter().enumerate() {
            if index > 0 {
                out.push('\n');
            }
            if args.graph {
                render_graph(&mut out, plan);
            } else {
                render_plan(&mut out, plan);
            }
        }
    }
    // A closed stdout (`| head`) is no error of ours.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush());
    exit(report.errors == 0)
}

pub(super) fn exit(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    }
}

pub(super) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Reads workflows and prints their diagnostics as it goes, counting errors and warnings.
pub(super) struct Report {
    /// Errors so far (diagnostics and problems outside files).
    pub(super) errors: usize,
    /// Warnings so far.
    pub(super) warnings: usize,
    color: bool,
}

impl Report {
    pub(super) fn new() -> Report {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Report {
            errors: 0,
            warnings: 0,
            color: std::io::stderr().is_terminal() && !no_color,
        }
    }

    /// A problem that is not in a file: `error: …` and a hint.
    pub(super) fn problem(&mut self, message: &str, hint: &str) {
        self.errors += 1;
        eprintln!("error: {message}");
        eprintln!("hint: {hint}");
    }

    /// The workflow files that `paths` name (the default directory when empty), in order;
    /// directories give their `*.yml` and `*.yaml` files sorted by name.
    pub(super) fn files(&mut self, paths: &[PathBuf]) -> Vec<PathBuf> {
        let defaulted = paths.is_empty();
        let paths = if defaulted {
            vec![PathBuf::from(DEFAULT_DIR)]
        } else {
            paths.to_vec()
        };
        let mut files = Vec::new();
        for path in &paths {
            let shown = path.display();
            let metadata = match std::fs::metadata(path) {
                Ok(metadata) => metadata,
                Err(e) if defaulted && e.kind() == std::io::ErrorKind::NotFound => {
                    self.problem(
                        &format!("no {DEFAULT_DIR} directory in the current directory"),
                        "run sandpit in the repository's root, or name workflow files or \
                         directories: `sandpit validate path/to/ci.yml`",
                    );
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    self.problem(
                        &format!("failed to read {shown}: no such file or directory"),
                        "check the path; name workflow files or directories holding them",
                    );
                    continue;
                }
                Err(e) => {
                    self.problem(
                        &format!("failed to read {shown}: {e}"),
                        "check that the path exists and that you may read it",
                    );
                    continue;
                }
            };
            if !metadata.is_dir() {
                files.push(path.clone());
                continue;
            }
            let entries = match std::fs::read_dir(path) {
                Ok(entries) => entries,
                Err(e) => {
                    self.problem(
                        &format!("failed to read the directory {shown}: {e}"),
                        "check that you may read the directory",
                    );
                    continue;
                }
            };
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|file| {
                    let workflow_ext = file
                        .extension()
                        .is_some_and(|ext| ext == "yml" || ext == "yaml");
                    workflow_ext && !file.is_dir()
                })
                .collect();
            found.sort();
            if found.is_empty() {
                self.problem(
                    &format!("no workflow files (*.yml, *.yaml) in {shown}"),
                    "name a directory that holds workflow files, such as .github/workflows, \
                     or the files themselves",
                );
            }
            files.extend(found);
        }
        files
    }

    /// Reads and loads one file, printing its diagnostics; the workflow when it is valid.
    pub(super) fn read(&mut self, path: &Path) -> Option<Workflow> {
        let shown = path.display().to_string();
        let bytes = match read_capped(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.problem(
                    &format!("failed to read {shown}: {e}"),
                    "check that the file exists and that you may read it",
                );
                return None;
            }
        };
        let (workflow, diagnostics, source) = match bytes {
            Source::TooLarge { len, head } => {
                let diagnostic = Diagnostic::error(
                    Span::point(Pos::START),
                    format!(
                        "the file is {len} bytes, more than the {MAX_SOURCE_BYTES} sandpit reads \
                         (GitHub refuses workflow files over 512,000 bytes)"
                    ),
                )
                .with_help("split the workflow into smaller ones (reusable workflows help)");
                // Enough of the file to show its first line under the message.
                let head = String::from_utf8_lossy(&head[..head.len().min(4096)]).into_owned();
                (None, vec![diagnostic], head)
            }
            Source::Bytes(bytes) => match String::from_utf8(bytes) {
                Ok(source) => {
                    let (workflow, diagnostics) = load(&shown, &source);
                    (workflow, diagnostics, source)
                }
                Err(e) => {
                    let bytes = e.into_bytes();
                    let diagnostics = match yaml::parse_bytes(&bytes) {
                        Err(errors) => errors.into_iter().map(Diagnostic::from).collect(),
                        // Cannot happen (the bytes are not UTF-8); say so plainly anyway.
                        Ok(_) => vec![Diagnostic::error(
                            Span::point(Pos::START),
                            "the file is not valid UTF-8",
                        )],
                    };
                    let source = String::from_utf8_lossy(&bytes).into_owned();
                    (None, diagnostics, source)
                }
            },
        };
        for diagnostic in &diagnostics {
            if diagnostic.is_error() {
                self.errors += 1;
            } else {
                self.warnings += 1;
            }
            eprintln!(
                "{}\n",
                diagnostic::render(&shown, &source, diagnostic, self.color)
            );
        }
        workflow
    }
}

/// A file's bytes, or its length and first bytes when it is over [`MAX_SOURCE_BYTES`].
enum Source {
    Bytes(Vec<u8>),
    TooLarge { len: u64, head: Vec<u8> },
}

/// Reads at most one byte more than [`MAX_SOURCE_BYTES`], so a huge file costs nothing.
fn read_capped(path: &Path) -> std::io::Result<Source> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let cap = MAX_SOURCE_BYTES as u64;
    let mut bytes = Vec::with_capacity(len.min(cap + 1) as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        bytes.truncate(4096);
        return Ok(Source::TooLarge {
            len: len.max(cap + 1),
            head: bytes,
        });
    }
    Ok(Source::Bytes(bytes))
}

/// Text from the workflow made safe for a terminal, on one line.
pub(super) fn clean(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// `Name  (path)`, or the path alone for a workflow without a name.
pub(super) fn title(plan: &Plan) -> String {
    if plan.name == plan.path {
        clean(&plan.path)
    } else {
        format!("{}  ({})", clean(&plan.name), clean(&plan.path))
    }
}

/// The jobs of a plan as (id, its instances), in plan order.
fn jobs_of(plan: &Plan) -> Vec<(&str, Vec<&PlannedJob>)> {
    let mut jobs: Vec<(&str, Vec<&PlannedJob>)> = Vec::new();
    for instance in &plan.jobs {
        match jobs.last_mut() {
            Some((id, instances)) if *id == instance.id => instances.push(instance),
            _ => jobs.push((&instance.id, vec![instance])),
        }
    }
    jobs
}

/// The human view:
///
/// ```text
/// CI  (.github/workflows/ci.yml)
/// on: push, pull_request
/// 4 job instances in 2 stages
///
/// stage 0
///   [test] test (ubuntu-latest, 18)
///          test (ubuntu-latest, 20)
///       1. Run actions/checkout@v4
///       2. Run codecov/codecov-action@v4   [not run here: remote action]
/// ```
fn render_plan(out: &mut String, plan: &Plan) {
    render_plan_with(out, plan, &[]);
}

/// [`render_plan`] with extra lines (such as why the workflow triggers) after `on:`.
pub(super) fn render_plan_with(out: &mut String, plan: &Plan, extra: &[String]) {
    let _ = writeln!(out, "{}", title(plan));
    let _ = writeln!(out, "on: {}", clean(&plan.events.join(", ")));
    for line in extra {
        let _ = writeln!(out, "{}", clean(line));
    }
    let jobs = jobs_of(plan);
    let _ = writeln!(
        out,
        "{} of {} in {}",
        plural(plan.jobs.len(), "job instance"),
        plural(jobs.len(), "job"),
        plural(plan.stage_count(), "stage"),
    );
    let mut stage = None;
    for (id, instances) in &jobs {
        let first = instances[0];
        if stage != Some(first.stage) {
            stage = Some(first.stage);
            let _ = writeln!(out, "\nstage {}", first.stage);
        }
        let tag = format!("[{}]", clean(id));
        let pad = " ".repeat(tag.chars().count());
        let same_steps = instances.iter().all(|i| i.steps == first.steps);
        for (index, instance) in instances.iter().enumerate() {
            // Instances with their own steps each get the tag; a shared list follows the names.
            let lead = if index == 0 || !same_steps {
                &tag
            } else {
                &pad
            };
            let mut line = format!("  {lead} {}", clean(&instance.name));
            if instance.dynamic {
                line.push_str("  (matrix known at run time)");
            }
            if let Some(uses) = &instance.uses {
                let _ = write!(
                    line,
                    "  [not run here: calls the reusable workflow {}]",
                    clean(uses)
                );
            }
            let _ = writeln!(out, "{line}");
            if !same_steps {
                if index == 0 {
                    job_details(out, first);
                }
                render_steps(out, &instance.steps, "      ");
            }
        }
        if same_steps {
            job_details(out, first);
            render_steps(out, &first.steps, "      ");
        }
    }
}

fn job_details(out: &mut String, job: &PlannedJob) {
    if !job.needs.is_empty() {
        let _ = writeln!(out, "      needs: {}", clean(&job.needs.join(", ")));
    }
    if let Some(condition) = &job.condition {
        let _ = writeln!(out, "      if: {}", clean(condition));
    }
}

fn render_steps(out: &mut String, steps: &[PlannedStep], indent: &str) {
    for (index, step) in steps.iter().enumerate() {
        let mut line = format!("{indent}{}. {}", index + 1, clean(&step.name));
        if let Some(condition) = &step.condition {
            let _ = write!(line, "  (if: {})", clean(condition));
        }
        if !step.runs_here {
            let what = match &step.uses {
                Some(uses) if uses.starts_with("docker://") => "docker action",
                _ => "remote action",
            };
            let _ = write!(line, "  [not run here: {what}]");
        }
        let _ = writeln!(out, "{line}");
        if !step.parallel.is_empty() {
            render_steps(out, &step.parallel, &format!("{indent}   "));
        }
    }
}

/// The job graph, one job per line by stage, with a vertical line per job that others need:
///
/// ```text
/// stage 0  o      lint
///          | o    build
/// stage 1  * *    package  <- lint, build
/// ```
///
/// `o` starts the line of a job that later jobs need; `*` marks a job that needs the job
/// whose line it sits on; `|` is a line passing by.
fn render_graph(out: &mut String, plan: &Plan) {
    let jobs = jobs_of(plan);
    let _ = writeln!(
        out,
        "{}: {} in {}",
        title(plan),
        plural(jobs.len(), "job"),
        plural(plan.stage_count(), "stage"),
    );
    let row_of: std::collections::HashMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(row, (id, _))| (*id, row))
        .collect();
    let needs: Vec<Vec<usize>> = jobs
        .iter()
        .map(|(_, instances)| {
            instances[0]
                .needs
                .iter()
                .filter_map(|need| row_of.get(need.as_str()).copied())
                .collect()
        })
        .collect();
    // The last row that needs each job (None: nobody needs it).
    let mut last_use: Vec<Option<usize>> = vec![None; jobs.len()];
    for (row, needs) in needs.iter().enumerate() {
        for &need in needs {
            last_use[need] = Some(last_use[need].map_or(row, |last| last.max(row)));
        }
    }

    // Lay out the lanes row by row: cells[row][lane].
    let mut lanes: Vec<Option<usize>> = Vec::new();
    let mut rows: Vec<Vec<char>> = Vec::with_capacity(jobs.len());
    for (row, row_needs) in needs.iter().enumerate() {
        let mut cells: Vec<char> = lanes
            .iter()
            .map(|lane| match lane {
                Some(source) if row_needs.contains(source) => '*',
                Some(_) => '|',
                None => ' ',
            })
            .collect();
        let free_before: Vec<bool> = lanes.iter().map(Option::is_none).collect();
        for lane in lanes.iter_mut() {
            if lane.is_some_and(|source| last_use[source] == Some(row)) {
                *lane = None;
            }
        }
        if last_use[row].is_some() {
            match free_before.iter().position(|free| *free) {
                Some(lane) => {
                    lanes[lane] = Some(row);
                    cells[lane] = 'o';
                }
                None => {
                    lanes.push(Some(row));
                    cells.push('o');
                }
            }
        }
        rows.push(cells);
    }
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let stage_width = format!("stage {}", plan.stage_count().saturating_sub(1)).len();
    let labels: Vec<String> = jobs
        .iter()
        .map(|(id, instances)| {
            let first = instances[0];
            let mut label = clean(id);
            if first.dynamic {
                label.push_str(" (matrix at run time)");
            } else if first.matrix.is_some() {
                let _ = write!(label, " x{}", instances.len());
            }
            if first.uses.is_some() {
                label.push_str(" (reusable workflow)");
            }
            label
        })
        .collect();
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut stage = None;
    for (row, cells) in rows.iter().enumerate() {
        let job_stage = jobs[row].1[0].stage;
        let lead = if stage == Some(job_stage) {
            String::new()
        } else {
            stage = Some(job_stage);
            format!("stage {job_stage}")
        };
        let mut lanes: String = cells.iter().flat_map(|c| [*c, ' ']).collect();
        lanes.push_str(&"  ".repeat(width - cells.len()));
        let mut line = format!("{lead:<stage_width$}  {lanes} {}", labels[row]);
        if !jobs[row].1[0].needs.is_empty() {
            let pad = label_width - labels[row].chars().count();
            let _ = write!(
                line,
                "{}  <- {}",
                " ".repeat(pad),
                clean(&jobs[row].1[0].needs.join(", "))
            );
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if width > 0 {
        let _ = writeln!(
            out,
            "(o: a job later jobs need, its line runs down; *: needs the job of that line)"
        );
    }
}
