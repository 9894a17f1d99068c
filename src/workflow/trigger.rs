//! Event selection: whether an event (its name, payload, the repository's ref and changed
//! files) triggers a workflow, after the filters of `on`, following GitHub's rules:
//!
//! - The event must be listed in `on`.
//! - `push`: the ref (`refs/heads/<branch>` or `refs/tags/<tag>`) must pass the branch and
//!   tag filters (see [`filters::push_matches`]); `paths`/`paths-ignore` are then checked
//!   against the changed files, except for tag pushes, where GitHub ignores them.
//! - `pull_request`, `pull_request_target`: `branches`/`branches-ignore` are checked against
//!   the **base** branch (`payload.pull_request.base.ref`, else the current branch), `types`
//!   against `payload.action` (default `opened`; without `types` only `opened`,
//!   `synchronize` and `reopened` trigger), then the path filters.
//! - `workflow_run`: `branches` against `payload.workflow_run.head_branch`, `workflows`
//!   against `payload.workflow_run.name`, `types` against `payload.action`, each when the
//!   payload has it.
//! - Every other event has no ref or path filters; `types` is checked against
//!   `payload.action` when the payload has one.
//!
//! What cannot be known passes, with a note saying so: path filters when the changed files
//! are unknown, `types` when the payload has no `action`.

#[cfg(test)]
mod tests;

use serde_json::Value;

use super::filters::{self, FilterError, PathFilter, RefFilter};
use super::model::{Spanned, Trigger, Workflow};

/// An event as sandpit sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventContext {
    /// The event name (`push`, `pull_request`, …).
    pub name: String,
    /// The webhook payload (`github.event`), an object (`{}` when none was given).
    pub payload: Value,
    /// The ref the event is for, `refs/heads/<branch>` or `refs/tags/<tag>`; `None` when
    /// unknown.
    pub git_ref: Option<String>,
    /// The files the event changed, relative to the repository's root; `None` when unknown.
    pub changed_paths: Option<Vec<String>>,
}

/// The event triggers the workflow; `notes` says which filters could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Triggered {
    /// One sentence per filter that passed without being checked.
    pub notes: Vec<String>,
}

/// Why an event does not trigger a workflow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotTriggered {
    /// `on` does not list the event.
    #[error("`{event}` is not among its events (on: {listed})")]
    EventNotListed {
        /// The event.
        event: String,
        /// The events of `on`, comma-separated.
        listed: String,
    },
    /// The branch or tag is filtered out.
    #[error("{kind} `{name}` does not pass the `{key}` filter of `{event}`")]
    RefFiltered {
        /// The event.
        event: String,
        /// `branch`, `tag`, `base branch` or `head branch`.
        kind: &'static str,
        /// The branch or tag name.
        name: String,
        /// The filter key (`branches`, `tags-ignore`, …).
        key: &'static str,
    },
    /// A push of a tag to a workflow that filters only branches, or the other way round.
    #[error("`{event}` filters only {filtered}, so a push of {kind} `{name}` does not trigger")]
    OtherRefKind {
        /// The event.
        event: String,
        /// `branches` or `tags`.
        filtered: &'static str,
        /// `branch` or `tag`.
        kind: &'static str,
        /// The branch or tag name.
        name: String,
    },
    /// A ref that is neither a branch nor a tag, with branch or tag filters.
    #[error("the ref `{git_ref}` is neither a branch nor a tag, and `{event}` has branch or tag filters")]
    OtherRef {
        /// The event.
        event: String,
        /// The ref.
        git_ref: String,
    },
    /// Ref filters are set but the ref is unknown.
    #[error("`{event}` has {keys} filters but the {kind} is unknown (give `{hint}` in the event payload)")]
    RefUnknown {
        /// The event.
        event: String,
        /// `branches/tags` or `branches`.
        keys: &'static str,
        /// What is unknown.
        kind: &'static str,
        /// The payload field that would tell.
        hint: &'static str,
    },
    /// The changed files do not pass the path filter.
    #[error("{}", paths_reason(.event, .key, *.changed))]
    PathsFiltered {
        /// The event.
        event: String,
        /// `paths` or `paths-ignore`.
        key: &'static str,
        /// How many files changed.
        changed: usize,
    },
    /// The activity type is not among `types` (or the defaults).
    #[error("activity type `{activity}` is not among the {which} types of `{event}` ({allowed})")]
    ActivityType {
        /// The event.
        event: String,
        /// `payload.action`, or its default.
        activity: String,
        /// `listed` or `default`.
        which: &'static str,
        /// The allowed types, comma-separated.
        allowed: String,
    },
    /// `workflows` of `workflow_run` does not list the workflow that ran.
    #[error("workflow `{name}` is not among the `workflows` of `workflow_run`")]
    WorkflowFiltered {
        /// `payload.workflow_run.name`.
        name: String,
    },
    /// A filter of the workflow cannot be used (the loader refuses these, so this is rare).
    #[error("{0}")]
    Filter(#[from] FilterError),
}

fn paths_reason(event: &str, key: &str, changed: usize) -> String {
    match (key, changed) {
        (_, 0) => format!("no files changed, and `{event}` has a `{key}` filter"),
        ("paths", n) => format!(
            "none of the {n} changed file{} matches the `paths` filter of `{event}`",
            if n == 1 { "" } else { "s" }
        ),
        (_, n) => format!(
            "`paths-ignore` of `{event}` ignores all {n} changed file{}",
            if n == 1 { "" } else { "s" }
        ),
    }
}

/// Whether `event` triggers `workflow`, and if not, why.
pub fn triggers(workflow: &Workflow, event: &EventContext) -> Result<Triggered, NotTriggered> {
    let Some(trigger) = workflow.trigger(&event.name) else {
        return Err(NotTriggered::EventNotListed {
            event: event.name.clone(),
            listed: workflow
                .on
                .iter()
                .map(|t| t.event.value.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let mut notes = Vec::new();
    let name = event.name.as_str();
    match name {
        "push" => {
            let branches = ref_filter(trigger, Kind::Branches)?;
            let tags = ref_filter(trigger, Kind::Tags)?;
            let is_tag = match &event.git_ref {
                None if branches.is_configured() || tags.is_configured() => {
                    return Err(NotTriggered::RefUnknown {
                        event: name.into(),
                        keys: "branches/tags",
                        kind: "branch or tag",
                        hint: "ref",
                    });
                }
                None => false,
                Some(git_ref) => {
                    check_push_ref(trigger, name, &branches, &tags, git_ref)?;
                    git_ref.starts_with("refs/tags/")
                }
            };
            // GitHub does not evaluate path filters for tag pushes.
            if !is_tag {
                check_paths(trigger, event, &mut notes)?;
            }
        }
        "pull_request" | "pull_request_target" => {
            let branches = ref_filter(trigger, Kind::Branches)?;
            if branches.is_configured() {
                let base = payload_str(&event.payload, &["pull_request", "base", "ref"])
                    .map(|base| base.strip_prefix("refs/heads/").unwrap_or(base).to_string())
                    .or_else(|| current_branch(event));
                let Some(base) = base else {
                    return Err(NotTriggered::RefUnknown {
                        event: name.into(),
                        keys: "branches",
                        kind: "base branch",
                        hint: "pull_request.base.ref",
                    });
                };
                if !branches.matches(&base) {
                    return Err(NotTriggered::RefFiltered {
                        event: name.into(),
                        kind: "base branch",
                        name: base,
                        key: branch_key(trigger),
                    });
                }
            }
            let activity = payload_str(&event.payload, &["action"]).unwrap_or("opened");
            check_types(trigger, name, activity)?;
            check_paths(trigger, event, &mut notes)?;
        }
        _ => {
            if name == "workflow_run" {
                let branches = ref_filter(trigger, Kind::Branches)?;
                if branches.is_configured() {
                    match payload_str(&event.payload, &["workflow_run", "head_branch"]) {
                        Some(head) if !branches.matches(head) => {
                            return Err(NotTriggered::RefFiltered {
                                event: name.into(),
                                kind: "head branch",
                                name: head.into(),
                                key: branch_key(trigger),
                            })
                        }
                        Some(_) => {}
                        None => notes.push(
                            "branches not checked: the payload has no workflow_run.head_branch"
                                .into(),
                        ),
                    }
                }
                if let Some(workflows) = &trigger.filters.workflows {
                    match payload_str(&event.payload, &["workflow_run", "name"]) {
                        Some(ran) if !workflows.iter().any(|w| w.value == ran) => {
                            return Err(NotTriggered::WorkflowFiltered { name: ran.into() })
                        }
                        Some(_) => {}
                        None => notes.push(
                            "workflows not checked: the payload has no workflow_run.name".into(),
                        ),
                    }
                }
            } else if trigger.filters.branches.is_some()
                || trigger.filters.branches_ignore.is_some()
            {
                notes.push(format!("branch filters of `{name}` not checked"));
            }
            match payload_str(&event.payload, &["action"]) {
                Some(activity) => check_types(trigger, name, activity)?,
                None if trigger.types.is_some() => notes.push(
                    "types not checked: the payload has no `action` (give one with -e)".into(),
                ),
                None => {}
            }
        }
    }
    Ok(Triggered { notes })
}

#[derive(Clone, Copy)]
enum Kind {
    Branches,
    Tags,
}

fn strings(list: &Option<Vec<Spanned<String>>>) -> Option<Vec<String>> {
    list.as_ref()
        .map(|list| list.iter().map(|s| s.value.clone()).collect())
}

fn ref_filter(trigger: &Trigger, kind: Kind) -> Result<RefFilter, FilterError> {
    let f = &trigger.filters;
    match kind {
        Kind::Branches => {
            let (include, ignore) = (strings(&f.branches), strings(&f.branches_ignore));
            RefFilter::branches(include.as_deref(), ignore.as_deref())
        }
        Kind::Tags => {
            let (include, ignore) = (strings(&f.tags), strings(&f.tags_ignore));
            RefFilter::tags(include.as_deref(), ignore.as_deref())
        }
    }
}

fn branch_key(trigger: &Trigger) -> &'static str {
    if trigger.filters.branches.is_some() {
        "branches"
    } else {
        "branches-ignore"
    }
}

fn tag_key(trigger: &Trigger) -> &'static str {
    if trigger.filters.tags.is_some() {
        "tags"
    } else {
        "tags-ignore"
    }
}

fn check_push_ref(
    trigger: &Trigger,
    event: &str,
    branches: &RefFilter,
    tags: &RefFilter,
    git_ref: &str,
) -> Result<(), NotTriggered> {
    if filters::push_matches(Some(branches), Some(tags), git_ref) {
        return Ok(());
    }
    let (own, kind, other, name) = if let Some(name) = git_ref.strip_prefix("refs/heads/") {
        (branches, "branch", "tags", name)
    } else if let Some(name) = git_ref.strip_prefix("refs/tags/") {
        (tags, "tag", "branches", name)
    } else {
        return Err(NotTriggered::OtherRef {
            event: event.into(),
            git_ref: git_ref.into(),
        });
    };
    if !own.is_configured() {
        return Err(NotTriggered::OtherRefKind {
            event: event.into(),
            filtered: other,
            kind,
            name: name.into(),
        });
    }
    Err(NotTriggered::RefFiltered {
        event: event.into(),
        kind,
        name: name.into(),
        key: if kind == "branch" {
            branch_key(trigger)
        } else {
            tag_key(trigger)
        },
    })
}

fn check_types(trigger: &Trigger, event: &str, activity: &str) -> Result<(), NotTriggered> {
    let (allowed, which): (Option<Vec<String>>, _) = match &trigger.types {
        Some(types) => (
            Some(types.iter().map(|t| t.value.clone()).collect()),
            "listed",
        ),
        None => (
            filters::default_activity_types(event)
                .map(|types| types.iter().map(|t| t.to_string()).collect()),
            "default",
        ),
    };
    if filters::types_match(allowed.as_deref(), activity) {
        return Ok(());
    }
    Err(NotTriggered::ActivityType {
        event: event.into(),
        activity: activity.into(),
        which,
        allowed: allowed.unwrap_or_default().join(", "),
    })
}

fn check_paths(
    trigger: &Trigger,
    event: &EventContext,
    notes: &mut Vec<String>,
) -> Result<(), NotTriggered> {
    let f = &trigger.filters;
    let (include, ignore) = (strings(&f.paths), strings(&f.paths_ignore));
    let filter = PathFilter::new(include.as_deref(), ignore.as_deref())?;
    if !filter.is_configured() {
        return Ok(());
    }
    let Some(changed) = &event.changed_paths else {
        notes.push("paths not checked: changed files unknown".into());
        return Ok(());
    };
    let changed: Vec<&str> = changed.iter().map(String::as_str).collect();
    if filter.matches_any(&changed) {
        return Ok(());
    }
    Err(NotTriggered::PathsFiltered {
        event: event.name.clone(),
        key: if include.is_some() {
            "paths"
        } else {
            "paths-ignore"
        },
        changed: changed.len(),
    })
}

/// The branch of `git_ref` when it names one.
fn current_branch(event: &EventContext) -> Option<String> {
    event
        .git_ref
        .as_deref()
        .and_then(|r| r.strip_prefix("refs/heads/"))
        .map(str::to_string)
}

/// The string at `path` in the payload.
fn payload_str<'a>(payload: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut value = payload;
    for key in path {
        value = value.get(key)?;
    }
    value.as_str()
}
