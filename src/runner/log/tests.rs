use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::*;

const CAP: u64 = 4 << 10;

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// `line 0000\n`, `line 0001\n`, …: 10 bytes each, 38 stored.
fn numbered(i: usize) -> String {
    format!("line {i:04}\n")
}

fn body_lines(path: &Path) -> Vec<String> {
    let text = fs::read(path).expect("log readable");
    let text = String::from_utf8(text).expect("test logs are UTF-8");
    let mut lines = text.lines();
    assert!(lines.next().expect("header").starts_with(HEADER_PREFIX));
    lines.map(str::to_string).collect()
}

fn without_stamp(line: &str) -> &str {
    assert!(
        is_stamp(&line.as_bytes()[..STAMP_LEN]),
        "unstamped: {line:?}"
    );
    &line[STAMP_LEN..]
}

/// Every file beside the log whose name starts with the log's and is not the log itself.
fn segments_of(log: &Path) -> Vec<PathBuf> {
    let name = log.file_name().and_then(|n| n.to_str()).expect("log name");
    let dir = log.parent().expect("log directory");
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(name) && n != name)
        })
        .collect();
    found.sort();
    found
}

fn stored(log: &Path, mut copy: impl FnMut(&mut Vec<u8>)) -> String {
    let _ = log;
    let mut out = Vec::new();
    copy(&mut out);
    String::from_utf8(out).expect("test logs are UTF-8")
}

#[test]
fn every_line_is_timestamped_and_flushed() {
    let dir = temp();
    let path = dir.path().join("build.log");
    let before = chrono::Utc::now();
    let mut log = JobLog::create(&path, "build", DEFAULT_CAP).expect("create");
    log.write_lines(b"first\nsecond\n").expect("write");
    log.write_lines(b"third\n").expect("write");
    let after = chrono::Utc::now();

    // Read while the log is still open: nothing may wait in a buffer.
    let text = fs::read_to_string(&path).expect("read");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("# sandpit job log: build"));
    let mut shown = Vec::new();
    for line in lines {
        let stamp = &line[..STAMP_LEN];
        assert!(is_stamp(stamp.as_bytes()), "{line:?}");
        let time = chrono::DateTime::parse_from_rfc3339(stamp.trim_end()).expect("RFC 3339");
        // Microseconds are stored, so allow the truncation below `before`.
        assert!(time >= before - chrono::Duration::microseconds(1) && time <= after);
        shown.push(&line[STAMP_LEN..]);
    }
    assert_eq!(shown, ["first", "second", "third"]);
    assert_eq!(log.bytes_written(), 19);
    assert_eq!(log.dropped(), (0, 0));
}

#[test]
fn bytes_are_kept_as_they_are() {
    let dir = temp();
    let path = dir.path().join("bin.log");
    let mut log = JobLog::create(&path, "bin", DEFAULT_CAP).expect("create");
    let data = b"\xff\xfe\x00raw\x1b[31m\r\n\n";
    log.write_lines(data).expect("write");
    log.finish().expect("finish");
    let text = fs::read(&path).expect("read");
    let body = &text[text.iter().position(|&b| b == b'\n').expect("header") + 1..];
    assert_eq!(body.len(), data.len() + 2 * STAMP_LEN);
    assert!(is_stamp(&body[..STAMP_LEN]));
    assert_eq!(&body[STAMP_LEN..STAMP_LEN + 13], &data[..13]);
    assert!(is_stamp(&body[STAMP_LEN + 13..2 * STAMP_LEN + 13]));
    assert_eq!(&body[2 * STAMP_LEN + 13..], b"\n");
}

#[test]
fn timestamps_have_a_fixed_width_and_microseconds() {
    let cases = [
        (Duration::ZERO, "1970-01-01T00:00:00.000000Z "),
        (
            Duration::new(1_795_717_985, 123_456_789),
            "2026-11-26T18:33:05.123456Z ",
        ),
        (
            Duration::new(1_795_717_985, 7_000),
            "2026-11-26T18:33:05.000007Z ",
        ),
        // Beyond year 9999 the width would change: the clock is clamped instead.
        (
            Duration::from_secs(400_000_000_000),
            "9999-12-31T23:59:59.999999Z ",
        ),
    ];
    let mut stamp = Stamp::new();
    for (since_epoch, expected) in cases {
        stamp.update(UNIX_EPOCH + since_epoch);
        assert_eq!(std::str::from_utf8(&stamp.text), Ok(expected));
        assert!(is_stamp(&stamp.text));
    }
    // Before 1970 shows 1970.
    stamp.update(UNIX_EPOCH - Duration::from_secs(5));
    assert_eq!(&stamp.text, b"1970-01-01T00:00:00.000000Z ");
}

#[test]
fn cap_keeps_head_and_tail_and_marks_the_gap() {
    let dir = temp();
    let path = dir.path().join("big.log");
    let mut log = JobLog::create(&path, "big", CAP).expect("create");
    for i in 0..1000 {
        log.write_lines(numbered(i).as_bytes()).expect("write");
    }
    log.finish().expect("finish");

    let lines = body_lines(&path);
    let marker_at = lines
        .iter()
        .position(|l| l.contains("[sandpit]"))
        .expect("a marker");
    let head: Vec<&str> = lines[..marker_at]
        .iter()
        .map(|l| without_stamp(l))
        .collect();
    let tail: Vec<&str> = lines[marker_at + 1..]
        .iter()
        .map(|l| without_stamp(l))
        .collect();
    // Head: the first lines that fit half the cap (38 stored bytes each).
    let head_lines = (CAP as usize / 2) / (STAMP_LEN + 10);
    let expected_head: Vec<String> = (0..head_lines)
        .map(|i| numbered(i).trim_end().to_string())
        .collect();
    assert_eq!(head, expected_head);
    // Tail: the last lines, contiguous, up to half the cap.
    let tail_start = 1000 - tail.len();
    let expected_tail: Vec<String> = (tail_start..1000)
        .map(|i| numbered(i).trim_end().to_string())
        .collect();
    assert_eq!(tail, expected_tail);
    let tail_stored = tail.len() * (STAMP_LEN + 10);
    assert!(tail_stored <= CAP as usize / 2);
    assert!(
        tail_stored > CAP as usize / 2 - 2 * (STAMP_LEN + 10),
        "{tail_stored}"
    );
    // The marker counts exactly what is missing.
    let missing = 1000 - head.len() - tail.len();
    assert_eq!(
        without_stamp(&lines[marker_at]),
        format!(
            "[sandpit] … {} bytes ({missing} lines) of output dropped here (log cap 4 KiB) …",
            missing * 10
        )
    );
    assert_eq!(log.dropped(), (missing as u64 * 10, missing as u64));
    assert_eq!(log.bytes_written(), 10_000);
    assert!(segments_of(&path).is_empty(), "segments left behind");
}

#[test]
fn a_tail_within_the_cap_is_kept_without_a_marker() {
    let dir = temp();
    let path = dir.path().join("fits.log");
    let mut log = JobLog::create(&path, "fits", CAP).expect("create");
    // Just over the head: a few lines go to a segment, none is dropped.
    let count = (CAP as usize / 2) / (STAMP_LEN + 10) + 5;
    for i in 0..count {
        log.write_lines(numbered(i).as_bytes()).expect("write");
    }
    log.finish().expect("finish");
    let lines = body_lines(&path);
    let shown: Vec<&str> = lines.iter().map(|l| without_stamp(l)).collect();
    let expected: Vec<String> = (0..count)
        .map(|i| numbered(i).trim_end().to_string())
        .collect();
    assert_eq!(shown, expected);
    assert_eq!(log.dropped(), (0, 0));
    assert!(segments_of(&path).is_empty());
}

#[test]
fn tail_segments_are_bounded_on_disk() {
    let dir = temp();
    let path = dir.path().join("bounded.log");
    let mut log = JobLog::create(&path, "bounded", CAP).expect("create");
    let header_len = fs::metadata(&path).expect("log").len();
    let mut most_segments = 0;
    for i in 0..2000 {
        // Mixed sizes, one call per line or a few lines per call.
        let chunk = if i % 3 == 0 {
            format!("{}{}", numbered(i), "x".repeat(i % 97) + "\n")
        } else {
            numbered(i)
        };
        log.write_lines(chunk.as_bytes()).expect("write");
        let segments = segments_of(&path);
        let tail: u64 = segments
            .iter()
            .map(|s| fs::metadata(s).expect("segment").len())
            .sum();
        assert!(segments.len() <= 3, "{} segments", segments.len());
        assert!(tail <= 3 * CAP / 4, "{tail} bytes of tail on disk");
        for segment in &segments {
            assert!(fs::metadata(segment).expect("segment").len() <= CAP / 4);
        }
        assert!(fs::metadata(&path).expect("log").len() <= header_len + CAP / 2);
        most_segments = most_segments.max(segments.len());
    }
    assert_eq!(most_segments, 3, "the output should have filled the tail");
    log.finish().expect("finish");
    let marker_len = 200;
    assert!(fs::metadata(&path).expect("log").len() <= header_len + CAP + marker_len);
    let (dropped, _) = log.dropped();
    let kept: u64 = body_lines(&path)
        .iter()
        .filter(|l| !l.contains("[sandpit]"))
        .map(|l| (l.len() - STAMP_LEN + 1) as u64)
        .sum();
    assert_eq!(kept + dropped, log.bytes_written());
}

#[test]
fn long_lines_are_broken_to_fit_a_segment() {
    let dir = temp();
    let path = dir.path().join("long.log");
    let mut log = JobLog::create(&path, "long", MIN_CAP).expect("create");
    let mut data = vec![b'x'; 5000];
    data.push(b'\n');
    log.write_lines(&data).expect("write");
    log.finish().expect("finish");
    let text = fs::read(&path).expect("read");
    for line in text.split_inclusive(|&b| b == b'\n').skip(1) {
        assert!(line.len() as u64 <= MIN_CAP / 4, "{} bytes", line.len());
    }
    let (dropped, _) = log.dropped();
    let kept: u64 = text
        .split_inclusive(|&b| b == b'\n')
        .skip(1)
        .filter(|l| !l.windows(9).any(|w| w == b"[sandpit]"))
        .map(|l| (l.len() - STAMP_LEN) as u64)
        .sum();
    assert!(log.bytes_written() > 5001, "pieces end with added newlines");
    assert_eq!(kept + dropped, log.bytes_written());
}

#[test]
fn a_last_line_without_a_newline_is_ended() {
    let dir = temp();
    let path = dir.path().join("partial.log");
    let mut log = JobLog::create(&path, "partial", DEFAULT_CAP).expect("create");
    log.write_lines(b"done\nno newline").expect("write");
    log.write_lines(b"next\n").expect("write");
    let lines = body_lines(&path);
    let shown: Vec<&str> = lines.iter().map(|l| without_stamp(l)).collect();
    assert_eq!(shown, ["done", "no newline", "next"]);
}

#[test]
fn crash_before_finish_leaves_head_and_segments_readable() {
    let dir = temp();
    let path = dir.path().join("crash.log");
    let mut log = JobLog::create(&path, "crash", CAP).expect("create");
    for i in 0..1000 {
        log.write_lines(numbered(i).as_bytes()).expect("write");
    }
    // A crash: no `finish`, no `Drop`.
    std::mem::forget(log);

    assert!(!segments_of(&path).is_empty(), "the tail is on disk");
    let text = stored(&path, |out| copy_stored(&path, out, false).expect("copy"));
    let lines: Vec<&str> = text.lines().collect();
    let marker_at = lines
        .iter()
        .position(|l| l.starts_with("[sandpit] … this log is not finished"))
        .expect("a marker");
    assert!(
        lines[marker_at].contains("tail segments dropped"),
        "{}",
        lines[marker_at]
    );
    let expected_head: Vec<String> = (0..marker_at)
        .map(|i| numbered(i).trim_end().to_string())
        .collect();
    assert_eq!(lines[..marker_at], expected_head);
    assert!(marker_at > 0);
    let tail = &lines[marker_at + 1..];
    let tail_start = 1000 - tail.len();
    let expected_tail: Vec<String> = (tail_start..1000)
        .map(|i| numbered(i).trim_end().to_string())
        .collect();
    assert_eq!(tail, expected_tail);
    assert!(tail.len() * (STAMP_LEN + 10) >= CAP as usize / 2 - 2 * (STAMP_LEN + 10));
}

#[test]
fn a_crash_before_any_tail_shows_just_the_head() {
    let dir = temp();
    let path = dir.path().join("short.log");
    let mut log = JobLog::create(&path, "short", CAP).expect("create");
    log.write_lines(b"one\ntwo\n").expect("write");
    std::mem::forget(log);
    let text = stored(&path, |out| copy_stored(&path, out, false).expect("copy"));
    assert_eq!(text, "one\ntwo\n");
}

#[test]
fn copy_stored_strips_timestamps_unless_kept() {
    let dir = temp();
    let path = dir.path().join("copy.log");
    let mut log = JobLog::create(&path, "copy", DEFAULT_CAP).expect("create");
    // Lines shorter and longer than a timestamp, an empty one, and one that mimics one.
    log.write_lines(b"a\n\n2026-11-26T18:33:05.123456Z fake\nlonger than a timestamp is, surely\n")
        .expect("write");
    log.finish().expect("finish");

    let plain = stored(&path, |out| copy_stored(&path, out, false).expect("copy"));
    assert_eq!(
        plain,
        "a\n\n2026-11-26T18:33:05.123456Z fake\nlonger than a timestamp is, surely\n"
    );
    let stamped = stored(&path, |out| copy_stored(&path, out, true).expect("copy"));
    let lines: Vec<&str> = stamped.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| is_stamp(&l.as_bytes()[..STAMP_LEN])));
    assert_eq!(
        without_stamp(lines[3]),
        "longer than a timestamp is, surely"
    );
}

#[test]
fn copy_stored_reports_a_closed_output_as_broken_pipe() {
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let dir = temp();
    let path = dir.path().join("pipe.log");
    let mut log = JobLog::create(&path, "pipe", DEFAULT_CAP).expect("create");
    log.write_lines(b"hello\n").expect("write");
    log.finish().expect("finish");
    match copy_stored(&path, &mut Closed, false) {
        Err(LogError::WriteOutput { source }) => {
            assert_eq!(source.kind(), io::ErrorKind::BrokenPipe)
        }
        other => panic!("expected a broken pipe, got {other:?}"),
    }
}

#[test]
fn finish_is_idempotent_and_drop_finishes() {
    let dir = temp();
    let path = dir.path().join("drop.log");
    {
        let mut log = JobLog::create(&path, "drop", CAP).expect("create");
        for i in 0..500 {
            log.write_lines(numbered(i).as_bytes()).expect("write");
        }
        assert!(!segments_of(&path).is_empty());
    }
    assert!(segments_of(&path).is_empty(), "drop finishes the log");
    let once = fs::read(&path).expect("read");
    assert!(once.windows(9).any(|w| w == b"[sandpit]"));

    let path = dir.path().join("twice.log");
    let mut log = JobLog::create(&path, "twice", CAP).expect("create");
    for i in 0..500 {
        log.write_lines(numbered(i).as_bytes()).expect("write");
    }
    log.finish().expect("finish");
    let first = fs::read(&path).expect("read");
    log.finish().expect("finish again");
    drop(log);
    assert_eq!(fs::read(&path).expect("read"), first);
}

#[test]
fn writing_after_finish_is_refused() {
    let dir = temp();
    let path = dir.path().join("done.log");
    let mut log = JobLog::create(&path, "done", CAP).expect("create");
    log.finish().expect("finish");
    assert!(matches!(
        log.write_lines(b"late\n"),
        Err(LogError::Finished { .. })
    ));
}

#[test]
fn headers_keep_hostile_names_exactly_on_one_safe_line() {
    let names = [
        "build",
        "build (ubuntu-latest, 18)",
        "",
        "back\\slash",
        "new\nline",
        "nul\0byte",
        "\x1b[31mred\x1b[0m",
        "tab\tand\rcr",
        "\\n is not a newline",
        "\\u{41}",
        "unicode ✓ \u{85} \u{2028}",
        "trailing\\",
    ];
    for name in names {
        let escaped = escape_name(name);
        assert!(!escaped.chars().any(char::is_control), "{escaped:?}");
        let header = format!("{HEADER_PREFIX}{escaped}\n");
        assert_eq!(parse_header(header.as_bytes()).as_deref(), Some(name));
    }
    for malformed in [
        "no header\n",
        "# sandpit job log: bad \\q escape\n",
        "# sandpit job log: \\u{zz}\n",
    ] {
        assert_eq!(parse_header(malformed.as_bytes()), None, "{malformed:?}");
    }
}

#[test]
fn caps_below_the_minimum_are_raised() {
    let dir = temp();
    let path = dir.path().join("tiny.log");
    let mut log = JobLog::create(&path, "tiny", 0).expect("create");
    log.write_lines(b"still works\n").expect("write");
    log.finish().expect("finish");
    assert_eq!(body_lines(&path).len(), 1);
}

#[test]
fn a_new_log_replaces_an_old_one_with_its_segments() {
    let dir = temp();
    let path = dir.path().join("again.log");
    let mut old = JobLog::create(&path, "again", CAP).expect("create");
    for i in 0..1000 {
        old.write_lines(numbered(i).as_bytes()).expect("write");
    }
    std::mem::forget(old);
    let mut new = JobLog::create(&path, "again", CAP).expect("create");
    new.write_lines(b"fresh\n").expect("write");
    let text = stored(&path, |out| copy_stored(&path, out, false).expect("copy"));
    assert_eq!(text, "fresh\n");
}
