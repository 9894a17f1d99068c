use super::*;

fn text(log: &Log, from: u64) -> Vec<(u64, OutputStream, String)> {
    log.since(from)
        .map(|(c, s, d)| (c, s, String::from_utf8_lossy(d).into_owned()))
        .collect()
}

#[test]
fn log_keeps_cursors_across_streams_and_merges_neighbours() {
    let mut log = Log::new(1 << 20);
    log.push(OutputStream::Stdout, b"ab");
    log.push(OutputStream::Stdout, b"cd");
    log.push(OutputStream::Stderr, b"EF");
    log.push(OutputStream::Stdout, b"g");
    assert_eq!(
        text(&log, 0),
        [
            (0, OutputStream::Stdout, "abcd".into()),
            (4, OutputStream::Stderr, "EF".into()),
            (6, OutputStream::Stdout, "g".into()),
        ]
    );
    assert_eq!(log.end, 7);
}

#[test]
fn log_resumes_mid_chunk_without_repeating() {
    let mut log = Log::new(1 << 20);
    log.push(OutputStream::Stdout, b"hello world");
    assert_eq!(text(&log, 6), [(6, OutputStream::Stdout, "world".into())]);
    assert!(text(&log, 11).is_empty());
    assert!(text(&log, 500).is_empty());
}

#[test]
fn log_drops_oldest_bytes_beyond_its_limit() {
    let mut log = Log::new(10);
    log.push(OutputStream::Stdout, b"0123456");
    log.push(OutputStream::Stderr, b"789abc");
    assert_eq!((log.start, log.end), (3, 13));
    assert_eq!(
        text(&log, 0),
        [
            (3, OutputStream::Stdout, "3456".into()),
            (7, OutputStream::Stderr, "789abc".into()),
        ]
    );
    // A chunk larger than the whole bound keeps only its tail.
    log.push(OutputStream::Stdout, b"ABCDEFGHIJKLMNOP");
    assert_eq!((log.start, log.end), (19, 29));
    assert_eq!(
        text(&log, 0),
        [(19, OutputStream::Stdout, "GHIJKLMNOP".into())]
    );
}

#[test]
fn log_memory_stays_within_its_bound_under_many_writes() {
    let mut log = Log::new(1 << 20);
    let chunk = vec![b'x'; 4096];
    for _ in 0..(50 << 20) / 4096 {
        log.push(OutputStream::Stdout, &chunk);
    }
    let kept: usize = log.chunks.iter().map(|(_, _, d)| d.len()).sum();
    let capacity: usize = log.chunks.iter().map(|(_, _, d)| d.capacity()).sum();
    assert_eq!(kept, 1 << 20);
    assert!(
        capacity <= (1 << 20) + 2 * MERGE_BYTES,
        "capacity {capacity}"
    );
    assert_eq!(log.end, 50 << 20);
}

#[test]
fn ppid_is_read_after_the_last_parenthesis() {
    assert_eq!(parse_ppid("42 (sleep) S 7 42 42 0 -1"), Some(7));
    assert_eq!(parse_ppid("42 (a) b) (c) R 9 42 42"), Some(9));
    assert_eq!(parse_ppid("garbage"), None);
}

#[test]
fn http_status_lines_are_parsed_strictly() {
    let table: &[(&[u8], Option<u16>)] = &[
        (b"HTTP/1.1 200 OK\r\n", Some(200)),
        (b"HTTP/1.0 404 Not Found\r\nServer: x\r\n", Some(404)),
        (b"HTTP/1.1 503", Some(503)),
        (b"SSH-2.0-OpenSSH\r\n", None),
        (b"HTTP/1.1 abc\r\n", None),
        (b"", None),
    ];
    for (head, want) in table {
        assert_eq!(
            parse_status_line(head),
            *want,
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}

#[test]
fn command_display_is_one_bounded_line() {
    let line = CommandLine::Shell {
        script: "echo a\nsleep 1\t&& x".into(),
        args: vec![],
    };
    assert_eq!(display(&line), "echo a sleep 1 && x");
    let long = CommandLine::Argv(vec!["x".repeat(500)]);
    assert_eq!(display(&long).len(), 200);
}
