//! A copy-on-write workspace (`SandboxOptions::workspace_from`): `/workspace` shows a host
//! directory, the sandbox may change anything in it, the host directory never changes, the
//! writes live on disk in the sandbox's state directory (surviving sleep) and go with destroy,
//! and setting it up costs nothing proportional to the tree.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{describe, sh, text, Deadline, TestHome};
use sandpit::runtime::rootfs::RootfsError;
use sandpit::runtime::RuntimeError;
use sandpit::sandbox::{Error, ErrorCode, Sandbox, SandboxOptions, SandboxState};

// ---------------------------------------------------------------------------------------------
// Host-side helpers.

/// A host directory in `/tmp`, outside every test's state directory.
fn host_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("sp-tree-{name}-"))
        .tempdir_in("/tmp")
        .expect("create a host directory")
}

/// A small working tree: text, a binary blob, an executable, a symlink, a read-only file, an
/// empty directory and a deep one.
fn host_tree() -> tempfile::TempDir {
    let tree = host_dir("small");
    let root = tree.path();
    let write = |path: &str, contents: &[u8], mode: u32| {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("README.md", b"hello\n", 0o644);
    write("src/main.rs", b"fn main() {}\n", 0o644);
    write("src/lib/mod.rs", b"pub mod x;\n", 0o644);
    write("data/blob.bin", &common::pseudo_random(1 << 20, 7), 0o644);
    write("scripts/run.sh", b"#!/bin/sh\necho ran\n", 0o755);
    write("deep/a/b/c/d/file", b"deep\n", 0o644);
    write("readonly.txt", b"do not touch\n", 0o444);
    std::fs::create_dir(root.join("empty")).unwrap();
    std::os::unix::fs::symlink("README.md", root.join("link")).unwrap();
    tree
}

/// A tmpfs mounted on the host, detached when the guard drops.
struct HostTmpfs(PathBuf);

impl HostTmpfs {
    fn mount(target: PathBuf) -> Self {
        std::fs::create_dir(&target).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            &target,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=256m,mode=0755"),
        )
        .unwrap_or_else(|e| panic!("mount a tmpfs on {}: {e}", target.display()));
        Self(target)
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Everything observable about one host entry except its access time (reading may update it).
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: &'static str,
    mode: u32,
    uid: u32,
    gid: u32,
    ino: u64,
    nlink: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    /// File contents or symlink target.
    content: Vec<u8>,
}

/// Walks `root` without following symlinks: every entry by its relative path.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let path = root.join(&relative);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let (kind, content) = if meta.is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            ("symlink", target.into_os_string().into_encoded_bytes())
        } else if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(relative.join(entry.unwrap().file_name()));
            }
            ("dir", Vec::new())
        } else {
            ("file", std::fs::read(&path).unwrap())
        };
        out.insert(
            relative,
            Entry {
                kind,
                mode: meta.mode(),
                uid: meta.uid(),
                gid: meta.gid(),
                ino: meta.ino(),
                nlink: meta.nlink(),
                mtime: (meta.mtime(), meta.mtime_nsec()),
                ctime: (meta.ctime(), meta.ctime_nsec()),
                content,
            },
        );
    }
    out
}

fn assert_unchanged(before: &BTreeMap<PathBuf, Entry>, root: &Path, when: &str) {
    let after = snapshot(root);
    for (path, entry) in before {
        assert_eq!(
            after.get(path),
            Some(entry),
            "{when}: host entry {} changed",
            path.display()
        );
    }
    let added: Vec<_> = after.keys().filter(|p| !before.contains_key(*p)).collect();
    assert!(
        added.is_empty(),
        "{when}: entries appeared on the host: {added:?}"
    );
}

fn options_from(tree: &Path) -> SandboxOptions {
    SandboxOptions {
        workspace_from: Some(tree.to_path_buf()),
        ..common::options()
    }
}

fn sandbox_dir(home: &TestHome, id: &str) -> PathBuf {
    home.path().join("sandboxes").join(id)
}

/// The entries below `dir` (recursively), relative to it.
fn entries_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap();
            found.push(entry.path().strip_prefix(dir).unwrap().to_path_buf());
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

/// Runs `script` inside and fails the test, with its output, unless it succeeds.
async fn sh_ok(sandbox: &Sandbox, script: &str) -> String {
    let out = sh(sandbox, script).await;
    assert!(out.success(), "{script}\n{}", describe(&out));
    text(&out.stdout)
}

/// Runs `script` on the host in `dir` and returns its stdout.
fn host_sh(dir: &Path, script: &str) -> String {
    let out = std::process::Command::new("/bin/bash")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .expect("run bash on the host");
    assert!(out.status.success(), "{script}: {out:?}");
    text(&out.stdout)
}

async fn state_of(home: &TestHome, id: &str) -> Option<SandboxState> {
    home.sandboxes
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|info| info.record.id == id)
        .map(|info| info.state)
}

fn agent_pid(home: &TestHome, id: &str) -> u32 {
    home.record(id)["agent"]["pid"]
        .as_u64()
        .expect("record has agent.pid") as u32
}

fn process_exists(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !matches!(state.and_then(|s| s.chars().next()), Some('Z' | 'X') | None)
        })
        .unwrap_or(false)
}

async fn kill_agent_and_wait(home: &TestHome, id: &str) {
    let pid = agent_pid(home, id);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL the agent");
    let deadline = Deadline::after(Duration::from_secs(10), "the killed agent to be gone");
    while process_exists(pid) {
        deadline.tick().await;
    }
}

/// A listing with a content hash per file, the same inside and on the host.
const LISTING: &str = "find . -mindepth 1 -printf '%y %m %p %l\\n' | LC_ALL=C sort; \
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum";

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_shows_host_tree() {
    let home = TestHome::new();
    let tree = host_tree();
    let sandbox = home
        .sandboxes
        .get("shows", options_from(tree.path()))
        .await
        .unwrap();

    let inside = sh_ok(&sandbox, &format!("cd /workspace && {{ {LISTING}; }}")).await;
    assert_eq!(inside, host_sh(tree.path(), LISTING));
    assert!(inside.contains("./deep/a/b/c/d/file"), "{inside}");
    assert_eq!(sh_ok(&sandbox, "/workspace/scripts/run.sh").await, "ran\n");
    assert_eq!(sh_ok(&sandbox, "cat /workspace/link").await, "hello\n");
    // Commands start in it, as in an ordinary workspace.
    assert_eq!(
        sh_ok(&sandbox, "pwd; cat README.md").await,
        "/workspace\nhello\n"
    );

    // An overlay, with the restrictions the plain workspace has.
    let mount = sh_ok(&sandbox, "grep ' /workspace ' /proc/self/mountinfo").await;
    let fields: Vec<&str> = mount.split_whitespace().collect();
    let options = fields[5];
    let fstype = fields[fields.iter().position(|f| *f == "-").unwrap() + 1];
    assert_eq!(fstype, "overlay", "{mount}");
    for flag in ["nosuid", "nodev"] {
        assert!(options.split(',').any(|o| o == flag), "{flag}: {mount}");
    }
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_inside_never_reach_the_host() {
    let home = TestHome::new();
    let tree = host_tree();
    let before = snapshot(tree.path());
    let id = "writer";
    let sandbox = home
        .sandboxes
        .get(id, options_from(tree.path()))
        .await
        .unwrap();

    sh_ok(
        &sandbox,
        r#"set -e
        cd /workspace
        echo more >> README.md
        echo via-link >> link
        printf 'fn main() { changed() }\n' > src/main.rs
        touch -d @978307200 src/main.rs
        echo created > new.txt
        mkdir -p newdir/inner && echo inner > newdir/inner/f
        rm data/blob.bin
        rm -r deep
        rmdir empty
        mv src/lib/mod.rs src/lib/renamed.rs
        mv scripts tools
        mv newdir moved
        chmod 600 readonly.txt && echo writable > readonly.txt
        chmod 700 src
        ln src/main.rs hardlink.rs
        ln -s tools/run.sh run
        "#,
    )
    .await;
    let seen = sh_ok(
        &sandbox,
        r#"cd /workspace
        cat README.md new.txt moved/inner/f readonly.txt src/lib/renamed.rs
        ./run
        for gone in data/blob.bin deep empty scripts newdir src/lib/mod.rs; do
            test -e "$gone" && echo "still there: $gone"
        done
        stat -c '%Y %h' src/main.rs
        stat -c %a src readonly.txt"#,
    )
    .await;
    assert_eq!(
        seen,
        "hello\nmore\nvia-link\ncreated\ninner\nwritable\npub mod x;\nran\n\
         978307200 2\n700\n600\n",
        "the sandbox does not see its own writes"
    );
    // The writes went to the sandbox's own layer in its state directory.
    let upper = sandbox_dir(&home, id).join("workspace-upper");
    assert_eq!(
        std::fs::read_to_string(upper.join("new.txt")).unwrap(),
        "created\n"
    );

    assert_unchanged(&before, tree.path(), "while the sandbox runs");
    sandbox.destroy().await.unwrap();
    assert_unchanged(&before, tree.path(), "after destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_survive_sleep_and_wake() {
    let home = TestHome::new();
    let tree = host_tree();
    let before = snapshot(tree.path());
    let id = "sleeper";
    let options = SandboxOptions {
        sleep_after: Duration::from_secs(1),
        ..options_from(tree.path())
    };
    let sandbox = home.sandboxes.get(id, options).await.unwrap();
    sh_ok(
        &sandbox,
        "cd /workspace && echo kept > new.txt && echo more >> README.md && rm -r deep \
         && mkdir -p target/debug && head -c 100000 /dev/urandom > target/debug/app",
    )
    .await;
    let checksum = sh_ok(&sandbox, "sha256sum /workspace/target/debug/app").await;
    let first = agent_pid(&home, id);

    let deadline = Deadline::after(Duration::from_secs(15), "the idle sandbox to sleep");
    while state_of(&home, id).await != Some(SandboxState::Sleeping) || process_exists(first) {
        deadline.tick().await;
    }
    // On disk in the state directory while nothing is mounted (not on a tmpfs gone with the
    // agent).
    let upper = sandbox_dir(&home, id).join("workspace-upper");
    assert_eq!(
        std::fs::read_to_string(upper.join("new.txt")).unwrap(),
        "kept\n"
    );
    assert_eq!(
        std::fs::metadata(upper.join("target/debug/app"))
            .unwrap()
            .len(),
        100_000
    );
    assert_unchanged(&before, tree.path(), "while the sandbox sleeps");
    // The host tree may change while the sandbox sleeps; it shows after the wake.
    std::fs::write(tree.path().join("added-while-asleep"), "fresh\n").unwrap();

    // The next exec wakes it with the same view and its writes.
    let seen = sh_ok(
        &sandbox,
        "cd /workspace && cat new.txt README.md added-while-asleep \
         && { test -e deep || echo deep-gone; } && sha256sum /workspace/target/debug/app",
    )
    .await;
    assert_eq!(
        seen,
        format!("kept\nhello\nmore\nfresh\ndeep-gone\n{checksum}")
    );
    let second = agent_pid(&home, id);
    assert_ne!(second, first, "the agent was not restarted");
    assert_eq!(
        home.record(id)["spec"]["workspace_from"],
        serde_json::json!(tree.path()),
        "the record keeps the host directory"
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_removes_the_writable_layer() {
    let home = TestHome::new();
    let tree = host_tree();
    let before = snapshot(tree.path());
    let id = "doomed";
    let sandbox = home
        .sandboxes
        .get(id, options_from(tree.path()))
        .await
        .unwrap();
    // Copy-ups, whiteouts, an opaque directory, a directory nobody may enter, a big file.
    sh_ok(
        &sandbox,
        "cd /workspace && echo x >> README.md && rm -r deep && mv scripts tools \
         && mkdir -p locked/inner && echo secret > locked/inner/f && chmod 000 locked/inner locked \
         && head -c 1000000 /dev/zero > big",
    )
    .await;
    let dir = sandbox_dir(&home, id);
    let work = dir.join("workspace-work/work");
    let mode = std::fs::metadata(&work)
        .expect("precondition: overlayfs made its work dir")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0,
        "precondition: overlayfs' work dir is mode 000"
    );
    assert!(!entries_below(&dir.join("workspace-upper")).is_empty());

    sandbox.destroy().await.unwrap();
    assert!(!dir.exists(), "destroy left {}", dir.display());
    let left: Vec<_> = entries_below(home.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("workspace"))
        .collect();
    assert!(left.is_empty(), "destroy left {left:?}");
    assert_unchanged(&before, tree.path(), "after destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_removes_the_writable_layer_of_a_half_created_sandbox() {
    let home = TestHome::new();
    let tree = host_tree();
    let id = "orphan";
    let sandbox = home
        .sandboxes
        .get(id, options_from(tree.path()))
        .await
        .unwrap();
    sh_ok(
        &sandbox,
        "echo x >> /workspace/README.md && mkdir /workspace/new",
    )
    .await;
    let dir = sandbox_dir(&home, id);
    assert!(dir.join("workspace-work/work").is_dir());
    // What a create that crashed before writing its record leaves: directories, no record.
    kill_agent_and_wait(&home, id).await;
    std::fs::remove_file(dir.join("record.json")).unwrap();

    let report = home.sandboxes.prune().await.unwrap();
    assert_eq!(report.orphan_dirs, [id.to_string()], "{report:?}");
    assert!(!dir.exists(), "prune left {}", dir.display());
    assert_eq!(
        std::fs::read_to_string(tree.path().join("README.md")).unwrap(),
        "hello\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_path_with_comma_is_refused_clearly() {
    let home = TestHome::new();
    let parent = host_dir("comma");
    let tree = parent.path().join("a,upperdir=x");
    std::fs::create_dir(&tree).unwrap();

    let err = match home.sandboxes.get("comma", options_from(&tree)).await {
        Ok(_) => panic!("a workspace with ',' in its path was accepted"),
        Err(e) => e,
    };
    let Error::Runtime { source, .. } = &err else {
        panic!("unexpected error {err:?}");
    };
    assert!(
        matches!(
            &**source,
            RuntimeError::InvalidWorkspace { path, source: RootfsError::OverlayPath { .. } }
                if *path == tree
        ),
        "{source:?}"
    );
    assert_eq!(err.code(), ErrorCode::SandboxUnavailable);
    let message = sandpit::error_chain(&err);
    assert!(
        message.contains(&format!("{tree:?}"))
            && message.contains("cannot be passed to overlayfs: it contains ','"),
        "{message}"
    );
    // Refused before anything was made.
    assert!(home.sandboxes.list().await.unwrap().is_empty());
    assert!(!sandbox_dir(&home, "comma").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_relative_or_non_directory_sources_are_refused_clearly() {
    let home = TestHome::new();
    let parent = host_dir("bad");
    let file = parent.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let cases = [
        (parent.path().join("missing"), "No such file or directory"),
        (file, "not a directory"),
        (PathBuf::from("relative/tree"), "it must be absolute"),
        (home.path().to_path_buf(), "state directory"),
    ];
    for (path, expected) in cases {
        let err = match home.sandboxes.get("bad", options_from(&path)).await {
            Ok(_) => panic!("{} was accepted as a workspace", path.display()),
            Err(e) => e,
        };
        assert!(
            matches!(&err, Error::Runtime { source, .. }
                if matches!(**source, RuntimeError::InvalidWorkspace { .. })),
            "{err:?}"
        );
        let message = sandpit::error_chain(&err);
        assert!(
            message.contains("refused the host directory of /workspace")
                && message.contains(expected),
            "{}: {message}",
            path.display()
        );
    }
    assert!(home.sandboxes.list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_tree_is_mounted_not_copied() {
    const DIRS: usize = 200;
    const FILES_PER_DIR: usize = 100;
    let home = TestHome::new();
    // On a tmpfs: writing and, above all, deleting 20,000 files on a slow disk takes a minute,
    // which says nothing about the sandbox.
    let parent = host_dir("large");
    let tree = HostTmpfs::mount(parent.path().join("tree"));
    for d in 0..DIRS {
        let dir = tree.0.join(format!("pkg{d:03}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..FILES_PER_DIR {
            std::fs::write(dir.join(format!("f{f:03}.txt")), format!("{d}/{f}\n")).unwrap();
        }
    }
    let id = "large";
    let sandbox = home.sandboxes.get(id, options_from(&tree.0)).await.unwrap();

    // Nothing in the state directory grows with the tree: the writable layer starts empty and
    // stays so while the sandbox only reads.
    let dir = sandbox_dir(&home, id);
    let upper = dir.join("workspace-upper");
    assert_eq!(entries_below(&upper), Vec::<PathBuf>::new());
    let count = sh_ok(
        &sandbox,
        "find /workspace -type f | wc -l; cat /workspace/pkg199/f099.txt",
    )
    .await;
    assert_eq!(count, format!("{}\n199/99\n", DIRS * FILES_PER_DIR));
    assert_eq!(entries_below(&upper), Vec::<PathBuf>::new());
    // A write copies up what it touches, nothing more.
    sh_ok(&sandbox, "echo more >> /workspace/pkg007/f007.txt").await;
    assert_eq!(
        entries_below(&upper),
        [PathBuf::from("pkg007"), PathBuf::from("pkg007/f007.txt")]
    );
    let state_entries = entries_below(&dir);
    assert!(
        state_entries.len() < 20,
        "the state directory holds {} entries: {state_entries:?}",
        state_entries.len()
    );
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_get_with_another_host_dir_gets_the_existing_sandbox() {
    let home = TestHome::new();
    let first = host_tree();
    let second = host_dir("other");
    std::fs::write(second.path().join("other.txt"), "other\n").unwrap();
    let id = "same";
    let sandbox = home
        .sandboxes
        .get(id, options_from(first.path()))
        .await
        .unwrap();
    sh_ok(&sandbox, "echo written > /workspace/new.txt").await;

    // Options are fixed at creation, this one included: same view, same writes.
    let again = home
        .sandboxes
        .get(id, options_from(second.path()))
        .await
        .unwrap();
    let seen = sh_ok(
        &again,
        "cd /workspace && cat README.md new.txt; ls other.txt 2>&1 || true",
    )
    .await;
    assert!(
        seen.starts_with("hello\nwritten\n") && seen.contains("No such file"),
        "{seen}"
    );
    assert_eq!(
        home.record(id)["spec"]["workspace_from"],
        serde_json::json!(first.path())
    );
    again.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_from_before_workspace_from_still_wakes() {
    let home = TestHome::new();
    let id = "old-record";
    let sandbox = home.sandboxes.get(id, common::options()).await.unwrap();
    sh_ok(&sandbox, "echo kept > /workspace/keep").await;
    kill_agent_and_wait(&home, id).await;
    // Rewrite the record as an older sandpit wrote it: no `workspace_from` at all.
    let path = sandbox_dir(&home, id).join("record.json");
    let mut record = home.record(id);
    let removed = record["spec"]
        .as_object_mut()
        .unwrap()
        .remove("workspace_from");
    assert_eq!(removed, Some(serde_json::Value::Null));
    std::fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();

    assert_eq!(sh_ok(&sandbox, "cat /workspace/keep").await, "kept\n");
    sandbox.destroy().await.unwrap();
}

/// Fills `root` as a developer's checkout is: owned by uid/gid 1000 throughout, directories
/// 0755, files 0644.
fn fill_user_owned_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/nested")).unwrap();
    for (path, contents) in [
        ("top.txt", "top\n"),
        ("sub/file", "line\n"),
        ("sub/old.o", "object\n"),
        ("sub/nested/deep.rs", "fn deep() {}\n"),
    ] {
        std::fs::write(root.join(path), contents).unwrap();
        std::fs::set_permissions(root.join(path), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    for dir in ["", "sub", "sub/nested"] {
        std::fs::set_permissions(root.join(dir), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    host_sh(root, "chown -R 1000:1000 .");
}

/// What a build does to a checkout: change, create (also in new directories) and delete files.
const BUILD: &str = r#"set -e
    cd /workspace
    echo x >> sub/file
    echo made > sub/new.txt
    echo nested > sub/nested/new.rs
    rm sub/old.o
    echo changed > top.txt
    mkdir sub/target && echo out > sub/target/app
    "#;

/// What [`BUILD`] leaves, and who owns it, as seen inside.
const BUILT: &str = "cd /workspace && cat sub/file sub/new.txt sub/nested/new.rs top.txt \
    sub/target/app && { test -e sub/old.o && echo old.o-still-there || true; } \
    && stat -c '%u:%g %n' sub sub/file sub/new.txt sub/nested/new.rs sub/target";

const BUILT_OUTPUT: &str = "line\nx\nmade\nnested\nchanged\nout\n\
    0:0 sub\n0:0 sub/file\n0:0 sub/new.txt\n0:0 sub/nested/new.rs\n0:0 sub/target\n";

/// The owners and modes of the untouched tree, as seen inside.
const OWNERS: &str = "cd /workspace && stat -c '%u:%g %a %n' . sub sub/file sub/nested/deep.rs";

const OWNERS_AS_ROOT: &str =
    "0:0 755 .\n0:0 755 sub\n0:0 644 sub/file\n0:0 644 sub/nested/deep.rs\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_owned_by_a_user_is_writable_inside() {
    let home = TestHome::new();
    let tree = host_dir("user");
    fill_user_owned_tree(tree.path());
    let before = snapshot(tree.path());
    assert!(before.values().all(|e| e.uid == 1000 && e.gid == 1000));
    let id = "user-tree";
    let sandbox = home
        .sandboxes
        .get(id, options_from(tree.path()))
        .await
        .unwrap();

    // The host's owner appears as root inside: root, without capabilities, may do what the
    // modes let the owner do.
    assert_eq!(sh_ok(&sandbox, OWNERS).await, OWNERS_AS_ROOT);
    sh_ok(&sandbox, BUILD).await;
    assert_eq!(sh_ok(&sandbox, BUILT).await, BUILT_OUTPUT);
    // The copies in the writable layer belong to root on disk, as everything there does.
    let upper = sandbox_dir(&home, id).join("workspace-upper");
    for path in ["sub", "sub/file", "sub/new.txt", "top.txt"] {
        let meta = std::fs::metadata(upper.join(path)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{path}");
    }
    assert_unchanged(&before, tree.path(), "while the sandbox runs");

    // The idmapped mount is made again when the sandbox wakes.
    kill_agent_and_wait(&home, id).await;
    assert_eq!(sh_ok(&sandbox, BUILT).await, BUILT_OUTPUT);
    sh_ok(
        &sandbox,
        "echo again >> /workspace/sub/nested/deep.rs && touch /workspace/sub/nested/after-wake",
    )
    .await;
    assert_eq!(
        sh_ok(
            &sandbox,
            "cat /workspace/sub/nested/deep.rs; stat -c '%u:%g' /workspace/sub/nested"
        )
        .await,
        "fn deep() {}\nagain\n0:0\n"
    );

    assert_unchanged(&before, tree.path(), "after a wake");
    sandbox.destroy().await.unwrap();
    assert_unchanged(&before, tree.path(), "after destroy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_owned_by_a_user_on_a_tmpfs_is_writable_inside() {
    let home = TestHome::new();
    let parent = host_dir("user-tmpfs");
    let tree = HostTmpfs::mount(parent.path().join("tree"));
    fill_user_owned_tree(&tree.0);
    let before = snapshot(&tree.0);
    let sandbox = home
        .sandboxes
        .get("user-tmpfs", options_from(&tree.0))
        .await
        .unwrap();

    assert_eq!(sh_ok(&sandbox, OWNERS).await, OWNERS_AS_ROOT);
    sh_ok(&sandbox, BUILD).await;
    assert_eq!(sh_ok(&sandbox, BUILT).await, BUILT_OUTPUT);
    assert_unchanged(&before, &tree.0, "while the sandbox runs");
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_other_owners_show_as_nobody_and_stay_unchanged() {
    let home = TestHome::new();
    let tree = host_dir("mixed");
    fill_user_owned_tree(tree.path());
    // Even world-writable, what the tree's owner does not own cannot be changed: the idmapped
    // mount maps only the owner (and a file of uid 0 on the host is no longer root's inside).
    host_sh(
        tree.path(),
        "echo other > sub/other.txt && echo root > root.txt && chmod 666 sub/other.txt root.txt \
         && chown 1001:1001 sub/other.txt",
    );
    let before = snapshot(tree.path());
    let sandbox = home
        .sandboxes
        .get("mixed", options_from(tree.path()))
        .await
        .unwrap();

    assert_eq!(
        sh_ok(
            &sandbox,
            "cd /workspace && stat -c '%u:%g %a %n' sub/other.txt root.txt sub/file"
        )
        .await,
        "65534:65534 666 sub/other.txt\n65534:65534 666 root.txt\n0:0 644 sub/file\n"
    );
    for change in [
        "echo x >> /workspace/sub/other.txt",
        "echo x >> /workspace/root.txt",
        "rm /workspace/sub/other.txt",
    ] {
        let out = sh(&sandbox, change).await;
        assert!(!out.success(), "{change} succeeded: {}", describe(&out));
    }
    // The owner's files beside them are fine.
    sh_ok(&sandbox, "echo x >> /workspace/sub/file").await;
    assert_unchanged(&before, tree.path(), "while the sandbox runs");
    sandbox.destroy().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_on_a_filesystem_without_idmapped_mounts_still_starts() {
    let home = TestHome::new();
    let parent = host_dir("ramfs");
    let tree = parent.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    // ramfs does not do idmapped mounts (tmpfs does, since Linux 6.3).
    nix::mount::mount(
        Some("ramfs"),
        &tree,
        Some("ramfs"),
        nix::mount::MsFlags::empty(),
        Some("mode=0755"),
    )
    .expect("mount a ramfs");
    // Detached when the guard drops, as a tmpfs would be.
    let _unmount = HostTmpfs(tree.clone());
    fill_user_owned_tree(&tree);
    let id = "no-idmap";
    let sandbox = home.sandboxes.get(id, options_from(&tree)).await.unwrap();

    // The host's owners show, as without the idmapped mount; reading works, and what the
    // modes let others do.
    assert_eq!(
        sh_ok(
            &sandbox,
            "stat -c '%u:%g' /workspace/sub/file; cat /workspace/sub/file"
        )
        .await,
        "1000:1000\nline\n"
    );
    let out = sh(&sandbox, "echo x >> /workspace/sub/file").await;
    assert!(!out.success(), "{}", describe(&out));
    sh_ok(&sandbox, "echo top > /workspace/new.txt").await;
    let log = std::fs::read_to_string(sandbox_dir(&home, id).join("agent.log")).unwrap();
    assert!(
        log.contains("WARN")
            && log.contains(&format!("cannot show {}", tree.display()))
            && log.contains("refuses idmapped mounts"),
        "{log}"
    );
    sandbox.destroy().await.unwrap();
}
