use super::*;
use crate::runner::log::JobLog;

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// Runs `sandpit logs ARGS…` on `home`: (status, stdout, stderr).
fn logs(home: &Path, args: &[&str]) -> (u8, String, String) {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: LogsArgs,
    }
    let cli = Cli::try_parse_from(std::iter::once("logs").chain(args.iter().copied()))
        .expect("arguments parse");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = show(home, &cli.args, &mut out, &mut err);
    let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8 output");
    (code, text(out), text(err))
}

fn add_run(home: &Path, jobs: &[(&str, &str)]) -> RunDir {
    let run = RunDir::create(home).expect("run");
    for (job, output) in jobs {
        let mut log = JobLog::create(&run.job_log_path(job), job, 1 << 20).expect("log");
        log.write_lines(output.as_bytes()).expect("write");
        log.finish().expect("finish");
    }
    run
}

#[test]
fn no_runs_is_an_error_with_a_hint() {
    let home = temp();
    let (code, out, err) = logs(home.path(), &[]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "error: no runs yet\nhint: run `sandpit run` first\n");
}

#[test]
fn the_latest_run_is_shown_with_a_header_per_job() {
    let home = temp();
    add_run(home.path(), &[("old", "old output\n")]);
    add_run(home.path(), &[("build", "compiling\n"), ("test", "ok\n")]);
    let (code, out, err) = logs(home.path(), &[]);
    assert_eq!((code, err.as_str()), (0, ""));
    // Same mtime second or not, both jobs appear with their headers.
    assert!(out.contains("== build ==\ncompiling\n"), "{out}");
    assert!(out.contains("== test ==\nok\n"), "{out}");
    assert!(!out.contains("old"), "{out}");
}

#[test]
fn a_run_id_and_a_job_select_one_log() {
    let home = temp();
    add_run(
        home.path(),
        &[
            ("build (ubuntu-latest)", "on ubuntu\n"),
            ("build (macos-latest)", "on macos\n"),
            ("lint", "clean\n"),
        ],
    );
    add_run(home.path(), &[("lint", "later\n")]);
    let cases: &[(&[&str], u8, &str)] = &[
        (&["1", "lint"], 0, "clean\n"),
        (&["lint"], 0, "later\n"),
        (&["001", "lint"], 0, "clean\n"),
        (&["1", "build (ubuntu-latest)"], 0, "on ubuntu\n"),
        (&["1", "build (mac"], 0, "on macos\n"),
        (&["1", "ubuntu"], 0, "on ubuntu\n"),
        (&["1", "build"], 2, ""),
        (&["1", "nothing"], 1, ""),
        (&["9"], 1, ""),
        (&["x", "lint"], 2, ""),
    ];
    for &(args, code, out) in cases {
        let (got_code, got_out, err) = logs(home.path(), args);
        assert_eq!((got_code, got_out.as_str()), (code, out), "{args:?}: {err}");
    }
    let (_, _, err) = logs(home.path(), &["1", "build"]);
    assert!(err.contains("build (ubuntu-latest)") && err.contains("build (macos-latest)"));
    let (_, _, err) = logs(home.path(), &["9"]);
    assert_eq!(err, "error: run 9 not found\nhint: the latest run is 2\n");
}

#[test]
fn timestamps_are_kept_only_when_asked() {
    let home = temp();
    add_run(home.path(), &[("job", "hello\n")]);
    let (_, plain, _) = logs(home.path(), &["job"]);
    assert_eq!(plain, "hello\n");
    let (_, stamped, _) = logs(home.path(), &["-t", "job"]);
    assert!(
        log::is_stamp(&stamped.as_bytes()[..log::STAMP_LEN]),
        "{stamped}"
    );
    assert!(stamped.ends_with(" hello\n"));
}

#[test]
fn hostile_job_names_are_escaped_in_headers() {
    let home = temp();
    add_run(home.path(), &[("evil\x1b[2J\nname", "x\n")]);
    let (code, out, _) = logs(home.path(), &[]);
    assert_eq!(code, 0);
    assert_eq!(out, "== evil\\u{1b}[2J\\nname ==\nx\n");
}

#[test]
fn matching_prefers_exact_then_prefix_then_substring() {
    let names = ["build", "build (a)", "test (a)"];
    assert_eq!(select(&names, "build"), Selected::One(0));
    assert_eq!(select(&names, "build ("), Selected::One(1));
    assert_eq!(select(&names, "bu"), Selected::Many(vec![0, 1]));
    assert_eq!(select(&names, "(a)"), Selected::Many(vec![1, 2]));
    assert_eq!(select(&names, "st ("), Selected::One(2));
    assert_eq!(select(&names, "deploy"), Selected::None);
}
