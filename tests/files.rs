//! Files inside a sandbox: binary round trips, awkward names, typed errors, confinement to the
//! sandbox's root, listings, mkdir/rm/mv, streaming, hostile paths, and the CLI's file verbs.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{pseudo_random, sandbox, sh, text, TestHome};
use sandpit::sandbox::{ErrorCode, FileKind};
use sha2::{Digest, Sha256};

fn hex_sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_binary_file_round_trips_byte_for_byte() {
    let home = TestHome::new();
    let sb = sandbox(&home, "big").await;
    let data = pseudo_random(100 << 20, 0x5eed);
    let sent = hex_sha256(&data);

    let started = Instant::now();
    sb.write_file("big.bin", &data, None).await.unwrap();
    let write_time = started.elapsed();
    let inside = sh(&sb, "sha256sum /workspace/big.bin").await;
    assert!(inside.success(), "{}", common::describe(&inside));
    assert_eq!(
        text(&inside.stdout).split_whitespace().next(),
        Some(sent.as_str())
    );

    let started = Instant::now();
    let back = sb.read_file("/workspace/big.bin").await.unwrap();
    let read_time = started.elapsed();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "the bytes read differ from those written");
    let mib = |d: Duration| 100.0 / d.as_secs_f64();
    eprintln!(
        "100 MiB: write {write_time:?} ({:.0} MiB/s), read {read_time:?} ({:.0} MiB/s)",
        mib(write_time),
        mib(read_time)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_writes_and_reads_move_chunks_not_whole_files() {
    let home = TestHome::new();
    let sb = sandbox(&home, "stream").await;
    let data = pseudo_random(5 << 20 | 12345, 7);
    let written = sb
        .write_file_from("/tmp/s.bin", &data[..], Some(0o600))
        .await
        .unwrap();
    assert_eq!(written, data.len() as u64);
    let mut stream = sb.read_file_stream("/tmp/s.bin").await.unwrap();
    let mut back = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.len() <= sandpit::protocol::MAX_CHUNK_LEN);
        back.extend_from_slice(&chunk);
        chunks += 1;
    }
    assert!(chunks > 1);
    assert!(back == data);
    let out = sh(&sb, "stat -c %a /tmp/s.bin").await;
    assert_eq!(text(&out.stdout).trim(), "600");
    // Empty files too.
    sb.write_file("empty", b"", None).await.unwrap();
    assert_eq!(sb.read_file("empty").await.unwrap(), b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_with_spaces_and_unicode_work() {
    let home = TestHome::new();
    let sb = sandbox(&home, "names").await;
    let dir = "dir with spaces/ünïcødé 日本語 🦀";
    sb.mkdir(dir, true).await.unwrap();
    let path = format!("{dir}/file name €.txt");
    sb.write_file(&path, "héllo wörld\n", None).await.unwrap();
    assert_eq!(sb.read_file_text(&path).await.unwrap(), "héllo wörld\n");
    let out = sh(&sb, &format!("cat '/workspace/{path}'")).await;
    assert_eq!(text(&out.stdout), "héllo wörld\n");
    let listed = sb.list_files(dir, false, false).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "file name €.txt");
    assert_eq!(listed[0].path, format!("/workspace/{path}"));
    assert!(sb.exists(&path).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_a_missing_file_gives_file_not_found_with_the_path() {
    let home = TestHome::new();
    let sb = sandbox(&home, "missing").await;
    let err = sb.read_file("nope/missing.txt").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileNotFound, "{err}");
    assert_eq!(err.code().as_str(), "FILE_NOT_FOUND");
    assert_eq!(err.path(), Some("nope/missing.txt"));
    assert!(
        err.to_string().contains("/workspace/nope/missing.txt"),
        "{err}"
    );
    assert!(!sb.exists("nope/missing.txt").await.unwrap());
    let err = sb.read_file_stream("/missing").await.err().unwrap();
    assert_eq!(err.code(), ErrorCode::FileNotFound, "{err}");
    let err = sb.list_files("/missing", false, false).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileNotFound, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_to_root_reaches_only_the_sandbox_root() {
    let home = TestHome::new();
    let sb = sandbox(&home, "confined").await;
    // A file on the host that the sandbox must not reach.
    let secret = home.path().join(common::marker("secret"));
    std::fs::write(&secret, "host secret").unwrap();
    let out = sh(&sb, "ln -s / /workspace/root && hostname").await;
    assert!(out.success(), "{}", common::describe(&out));
    assert_eq!(text(&out.stdout).trim(), "confined");

    let hostname = sb.read_file_text("root/etc/hostname").await.unwrap();
    assert_eq!(hostname.trim(), "confined");
    let through_link = format!("root{}", secret.display());
    let err = sb.read_file(&through_link).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileNotFound, "{err}");
    let err = sb
        .read_file(&secret.display().to_string())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileNotFound, "{err}");
    // Writing through the link stays inside too.
    sb.write_file("root/tmp/written-through-link", "x", None)
        .await
        .unwrap();
    assert_eq!(
        sb.read_file("/tmp/written-through-link").await.unwrap(),
        b"x"
    );
    assert!(!std::path::Path::new("/tmp/written-through-link").exists());
    // The listing shows the link as a link and does not follow it.
    let listed = sb.list_files("/workspace", true, true).await.unwrap();
    let link = listed.iter().find(|f| f.name == "root").unwrap();
    assert_eq!(link.kind, FileKind::Symlink);
    assert!(listed
        .iter()
        .all(|f| !f.path.starts_with("/workspace/root/")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_files_is_sorted_and_honours_recursive_and_hidden() {
    let home = TestHome::new();
    let sb = sandbox(&home, "listing").await;
    let out = sh(
        &sb,
        "mkdir -p a/b .hidden && printf 12345 > a/b/f && : > z && : > .dot && : > .hidden/h && chmod 750 a",
    )
    .await;
    assert!(out.success(), "{}", common::describe(&out));

    let names = |files: &[sandpit::sandbox::FileInfo]| {
        files.iter().map(|f| f.path.clone()).collect::<Vec<_>>()
    };
    let top = sb.list_files("/workspace", false, false).await.unwrap();
    assert_eq!(names(&top), ["/workspace/a", "/workspace/z"]);
    assert_eq!(top[0].kind, FileKind::Dir);
    assert_eq!(top[0].mode, 0o750);
    assert_eq!(top[1].kind, FileKind::File);
    let age = chrono::Utc::now() - top[1].modified;
    assert!(
        age.num_seconds().abs() < 120,
        "modified {}",
        top[1].modified
    );

    let all = sb.list_files(".", true, false).await.unwrap();
    assert_eq!(
        names(&all),
        [
            "/workspace/a",
            "/workspace/z",
            "/workspace/a/b",
            "/workspace/a/b/f"
        ]
    );
    assert_eq!(all[3].size, 5);
    assert_eq!(all[3].name, "f");

    let hidden = sb.list_files("", true, true).await;
    assert_eq!(hidden.unwrap_err().code(), ErrorCode::InvalidRequest);
    let hidden = sb.list_files("/workspace", true, true).await.unwrap();
    let hidden = names(&hidden);
    for path in [
        "/workspace/.dot",
        "/workspace/.hidden",
        "/workspace/.hidden/h",
    ] {
        assert!(hidden.contains(&path.to_string()), "{path} in {hidden:?}");
    }
    let err = sb.list_files("z", false, false).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotADirectory, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mkdir_rm_and_mv_across_tmp_and_workspace() {
    let home = TestHome::new();
    let sb = sandbox(&home, "ops").await;
    sb.mkdir("x/y/z", true).await.unwrap();
    sb.mkdir("x/y/z", true).await.unwrap();
    let err = sb.mkdir("x/y/z", false).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::AlreadyExists, "{err}");
    let err = sb.mkdir("q/r", false).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileNotFound, "{err}");
    sb.write_file("x/y/z/f", "data", Some(0o755)).await.unwrap();

    // A directory tree from /workspace to /tmp (another file system) and back.
    sb.move_file("x", "/tmp/x").await.unwrap();
    assert!(!sb.exists("x").await.unwrap());
    assert_eq!(sb.read_file("/tmp/x/y/z/f").await.unwrap(), b"data");
    let out = sh(&sb, "stat -c %a /tmp/x/y/z/f").await;
    assert_eq!(text(&out.stdout).trim(), "755");
    sb.rename_file("/tmp/x/y/z/f", "/workspace/f2")
        .await
        .unwrap();
    assert_eq!(sb.read_file("f2").await.unwrap(), b"data");
    sb.rename_file("f2", "f3").await.unwrap();
    assert!(sb.exists("f3").await.unwrap() && !sb.exists("f2").await.unwrap());

    let err = sb.delete_file("/tmp/x", false).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::IsADirectory, "{err}");
    sb.delete_file("/tmp/x", true).await.unwrap();
    assert!(!sb.exists("/tmp/x").await.unwrap());
    sb.delete_file("f3", false).await.unwrap();
    let err = sb.delete_file("f3", false).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileNotFound, "{err}");
    let err = sb.move_file("gone", "elsewhere").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileNotFound, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_get_typed_errors_and_never_stall_the_agent() {
    let home = TestHome::new();
    let sb = sandbox(&home, "hostile").await;
    let err = sb.read_file("a\0b").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest, "{err}");
    let err = sb.write_file("a\0b", "x", None).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest, "{err}");
    let err = sb.mkdir("\0", true).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest, "{err}");
    let err = sb.read_file("/workspace").await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::IsADirectory, "{err}");
    let err = sb.write_file("/workspace", "x", None).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::IsADirectory, "{err}");
    let err = sb.write_file("no/such/dir/f", "x", None).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileNotFound, "{err}");
    let err = sb.delete_file("/", true).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidRequest, "{err}");
    // A fifo with no writer (or reader) would block an open forever.
    let out = sh(&sb, "mkfifo /tmp/fifo").await;
    assert!(out.success(), "{}", common::describe(&out));
    let read = tokio::time::timeout(Duration::from_secs(10), sb.read_file("/tmp/fifo")).await;
    assert_eq!(read.unwrap().unwrap_err().code(), ErrorCode::InvalidRequest);
    let write = tokio::time::timeout(
        Duration::from_secs(10),
        sb.write_file("/tmp/fifo", "x", None),
    )
    .await;
    assert!(write.unwrap().is_err());
    sb.ping().await.unwrap();
    // A large write refused up front still reports why.
    let big = vec![0u8; 8 << 20];
    let err = sb.write_file("/proc/nope/f", &big, None).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::FileNotFound, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_file_verbs_round_trip() {
    let home = TestHome::new();
    let run = |args: &[&str]| {
        let out = home.cli().arg("sandbox").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "sandpit sandbox {args:?}: {}",
            text(&out.stderr)
        );
        out.stdout
    };
    run(&["create", "clifiles"]);
    run(&["mkdir", "clifiles", "d/e", "-p"]);

    let data = pseudo_random(3 << 20, 99);
    let mut child = home
        .cli()
        .args(["sandbox", "write", "clifiles", "d/e/my file.bin", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(run(&["read", "clifiles", "/workspace/d/e/my file.bin"]) == data);

    let src = home.path().join("src.txt");
    std::fs::write(&src, "from a host file\n").unwrap();
    run(&["write", "clifiles", "/tmp/t.txt", src.to_str().unwrap()]);
    run(&["mv", "clifiles", "/tmp/t.txt", "d/t.txt"]);
    assert_eq!(
        text(&run(&["read", "clifiles", "d/t.txt"])),
        "from a host file\n"
    );

    let listing = text(&run(&["ls", "clifiles", "-r", "--json"]));
    let entries: Vec<serde_json::Value> = listing
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let file = entries
        .iter()
        .find(|e| e["name"] == "my file.bin")
        .unwrap_or_else(|| panic!("{listing}"));
    assert_eq!(file["path"], "/workspace/d/e/my file.bin");
    assert_eq!(file["kind"], "file");
    assert_eq!(file["size"], data.len());
    assert!(entries
        .iter()
        .any(|e| e["path"] == "/workspace/d" && e["kind"] == "dir"));
    let human = text(&run(&["ls", "clifiles", "d"]));
    assert!(human.contains("t.txt") && human.contains('e'), "{human}");

    run(&["rm", "clifiles", "d", "-r"]);
    let out = home
        .cli()
        .args(["sandbox", "read", "clifiles", "d/t.txt"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no such file"),
        "{}",
        text(&out.stderr)
    );
}
