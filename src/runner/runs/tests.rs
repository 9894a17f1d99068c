use std::collections::HashSet;
use std::fs::{self, File};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use super::*;
use crate::runner::log::JobLog;

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

#[test]
fn first_run_is_1_and_latest_is_the_largest() {
    let home = temp();
    assert_eq!(RunDir::latest(home.path()).expect("latest"), None);
    let first = RunDir::create(home.path()).expect("create");
    assert_eq!(first.id, 1);
    assert!(first.path.is_dir());
    assert_eq!(first.path, home.path().join("runs/1"));
    let second = RunDir::create(home.path()).expect("create");
    assert_eq!(second.id, 2);
    assert_eq!(RunDir::latest(home.path()).expect("latest"), Some(second));
}

#[test]
fn only_canonical_run_directories_count() {
    let home = temp();
    let runs = home.path().join("runs");
    fs::create_dir_all(runs.join("7")).expect("run 7");
    // Not runs: leading zeros, signs, words, zero.
    for name in ["0009", "+12", "tmp", "0", "-3", "٣"] {
        fs::create_dir(runs.join(name)).expect("stray directory");
    }
    // A stray file blocks its id from being created but is no run to show.
    File::create(runs.join("8")).expect("stray file");
    assert_eq!(
        RunDir::latest(home.path()).expect("latest").map(|r| r.id),
        Some(7)
    );
    assert_eq!(RunDir::create(home.path()).expect("create").id, 9);
    assert_eq!(parse_run_id("42"), Some(42));
    assert_eq!(parse_run_id("042"), None);
    assert_eq!(parse_run_id("99999999999999999999"), None);
}

#[test]
fn opening_a_missing_run_is_not_found() {
    let home = temp();
    assert!(matches!(
        RunDir::open(home.path(), 3),
        Err(RunsError::NotFound { id: 3, .. })
    ));
    let run = RunDir::create(home.path()).expect("create");
    assert_eq!(RunDir::open(home.path(), 1).expect("open"), run);
    File::create(home.path().join("runs/5")).expect("stray file");
    assert!(matches!(
        RunDir::open(home.path(), 5),
        Err(RunsError::NotFound { id: 5, .. })
    ));
}

#[test]
fn run_ids_increase_and_are_unique_under_concurrency() {
    const THREADS: usize = 8;
    const EACH: usize = 25;
    let home = temp();
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let home = home.path().to_path_buf();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..EACH)
                    .map(|_| RunDir::create(&home).expect("create").id)
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut all = HashSet::new();
    for handle in handles {
        let ids = handle.join().expect("thread");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        for id in ids {
            assert!(all.insert(id), "run id {id} given twice");
        }
    }
    // No id is skipped either: a lost race retries at the next free one.
    let expected: HashSet<u64> = (1..=(THREADS * EACH) as u64).collect();
    assert_eq!(all, expected);
}

#[test]
fn hostile_job_names_map_to_distinct_safe_file_names() {
    let long = "x".repeat(10_000);
    let just_over = "y".repeat(101);
    let exactly = "z".repeat(100);
    let exactly_file = format!("{exactly}.log");
    // (job name, the file name, or its start when a hash follows)
    let cases: &[(&str, &str)] = &[
        ("build", "build.log"),
        ("build-1.2_x", "build-1.2_x.log"),
        ("build (ubuntu-latest, 18)", "build-ubuntu-latest-18~"),
        ("build (ubuntu-latest, 20)", "build-ubuntu-latest-20~"),
        ("../../etc/passwd", "etc-passwd~"),
        ("..", "job~"),
        (".", "job~"),
        ("", "job~"),
        ("...", "job~"),
        (".hidden", "hidden~"),
        ("a/b", "a-b~"),
        ("a\\b", "a-b~"),
        ("a\0b", "a-b~"),
        ("a\nb", "a-b~"),
        ("a b", "a-b~"),
        ("a-b", "a-b.log"),
        ("a--b", "a-b~"),
        ("\x1b[31mred", "31mred~"),
        ("é.x", "x~"),
        ("测试", "job~"),
        ("job", "job.log"),
        ("-.x", "-.x.log"),
        ("x.log.tail.0", "x.log.tail.0.log"),
        ("run.json", "run.json.log"),
        (&long, &long[..100]),
        (&just_over, &just_over[..100]),
        (&exactly, &exactly_file),
    ];
    let home = temp();
    let run = RunDir::create(home.path()).expect("create");
    let mut seen = HashSet::new();
    for &(job, expected) in cases {
        let path = run.job_log_path(job);
        assert_eq!(path.parent(), Some(run.path.as_path()), "{job:?} escapes");
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 file name");
        assert!(name.starts_with(expected), "{job:?} → {name:?}");
        assert!(name.ends_with(".log"), "{name:?}");
        assert!(!name.starts_with('.'), "{name:?} is hidden");
        assert!(name.len() <= 100 + 1 + 16 + 4, "{} bytes", name.len());
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-~".contains(&b)),
            "{name:?}"
        );
        if !expected.ends_with(".log") {
            let (_, hash) = name
                .trim_end_matches(".log")
                .rsplit_once('~')
                .expect("a hash");
            assert_eq!(hash.len(), 16, "{name:?}");
        }
        assert!(seen.insert(name.to_string()), "{job:?} shares {name:?}");
    }
    // Every one can be created, and its exact name is read back.
    for &(job, _) in cases {
        drop(JobLog::create(&run.job_log_path(job), job, 1 << 20).expect("create"));
    }
    let read_back: HashSet<String> = run
        .job_logs()
        .expect("job logs")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let expected: HashSet<String> = cases.iter().map(|(job, _)| job.to_string()).collect();
    assert_eq!(read_back, expected);
}

#[test]
fn job_logs_are_ordered_by_last_write_then_name() {
    let home = temp();
    let run = RunDir::create(home.path()).expect("create");
    let base = SystemTime::now() - Duration::from_secs(3600);
    // (job, seconds after base of its last write)
    let jobs = [("zeta", 1), ("alpha", 3), ("mid (1)", 2), ("beta", 2)];
    for (job, offset) in jobs {
        let path = run.job_log_path(job);
        let mut log = JobLog::create(&path, job, 1 << 20).expect("create");
        log.write_lines(b"hello\n").expect("write");
        log.finish().expect("finish");
        drop(log);
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(base + Duration::from_secs(offset)))
            .expect("set mtime");
    }
    // Not job logs: the summary, a leftover segment, a directory named like a log.
    run.write_summary(&serde_json::json!({})).expect("summary");
    File::create(run.path.join("beta.log.tail.0")).expect("segment");
    fs::create_dir(run.path.join("dir.log")).expect("directory");

    let names: Vec<String> = run
        .job_logs()
        .expect("job logs")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    // Equal times fall back to the file name: `beta.log` < `mid-1~….log`.
    assert_eq!(names, ["zeta", "beta", "mid (1)", "alpha"]);
}

#[test]
fn a_log_without_a_header_is_listed_under_its_file_name() {
    let home = temp();
    let run = RunDir::create(home.path()).expect("create");
    File::create(run.path.join("cut-short.log")).expect("empty log");
    fs::write(run.path.join("other.log"), "not a header\n").expect("log");
    let mut names: Vec<String> = run
        .job_logs()
        .expect("job logs")
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.sort();
    assert_eq!(names, ["cut-short", "other"]);
}

#[test]
fn summaries_are_replaced_whole_and_read_back() {
    let home = temp();
    let run = RunDir::create(home.path()).expect("create");
    assert_eq!(run.read_summary().expect("read"), None);
    let first = serde_json::json!({"status": "running", "jobs": []});
    run.write_summary(&first).expect("write");
    assert_eq!(run.read_summary().expect("read"), Some(first));
    let second = serde_json::json!({"status": "success", "jobs": ["build"]});
    run.write_summary(&second).expect("write");
    assert_eq!(run.read_summary().expect("read"), Some(second));
    let entries: Vec<String> = fs::read_dir(&run.path)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["run.json"], "temporary files left behind");

    fs::write(run.path.join("run.json"), "{broken").expect("write");
    assert!(matches!(
        run.read_summary(),
        Err(RunsError::ParseSummary { .. })
    ));
}
