//! Tests of the `rootfs` module.

use super::*;
use std::os::unix::fs::symlink as host_symlink;

#[test]
fn password_hashes_are_replaced_but_accounts_kept() {
    let shadow = "root:$y$j9T$abc$def:19000:0:99999:7:::\nbob::19000::::::\nodd-line\n";
    assert_eq!(
        without_password_hashes(shadow),
        "root:*:19000:0:99999:7:::\nbob:*:19000::::::\nodd-line\n"
    );
}

#[test]
fn host_secrets_in_etc_are_found_and_hidden() {
    use std::os::unix::fs::PermissionsExt;
    let host = fake_host();
    let etc = host.path().join("etc");
    let write = |path: &str, mode: u32| {
        let path = etc.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "root:$6$salt$hash:1::::::\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("shadow", 0o640);
    write("ssh/ssh_host_ed25519_key", 0o600);
    write("ssh/ssh_host_ed25519_key.pub", 0o644);
    write("ssl/private/snakeoil.key", 0o600);
    std::fs::set_permissions(
        etc.join("ssl/private"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    write("hostname", 0o644);

    let hidden = find_host_secrets(host.path());
    assert_eq!(
        hidden,
        [
            HiddenPath::File(PathBuf::from("etc/shadow")),
            HiddenPath::File(PathBuf::from("etc/ssh/ssh_host_ed25519_key")),
            HiddenPath::Dir(PathBuf::from("etc/ssl/private")),
        ]
    );

    let mut spec = spec(vec![]);
    spec.hidden = hidden;
    let steps = plan(&spec, host.path()).unwrap();
    let shadow = steps.iter().find_map(|s| match s {
        Step::WriteFile { path, contents, .. } if path == Path::new("etc/shadow") => {
            Some(contents.clone())
        }
        _ => None,
    });
    assert_eq!(shadow.as_deref(), Some("root:*:1::::::\n"));
    assert!(steps.contains(&Step::RemoveFile {
        root: spec.root.clone(),
        path: PathBuf::from("etc/ssh/ssh_host_ed25519_key"),
    }));
    assert!(steps.contains(&Step::Mask {
        path: spec.root.join("etc/ssl/private"),
        how: Masking::EmptyDir,
    }));
}

/// A Debian-like host: merged /usr symlinks, real /usr, /etc and /opt (the latter 0750).
fn fake_host() -> tempfile::TempDir {
    let host = tempfile::tempdir().unwrap();
    for dir in ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc", "opt"] {
        std::fs::create_dir_all(host.path().join(dir)).unwrap();
    }
    std::fs::set_permissions(
        host.path().join("opt"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        host_symlink(target, host.path().join(link)).unwrap();
    }
    host
}

fn spec(mounts: Vec<BindMount>) -> RootfsSpec {
    RootfsSpec {
        root: PathBuf::from("/state/sandboxes/s1/root"),
        scratch: PathBuf::from("/state/sandboxes/s1/scratch"),
        workspace: Workspace::Bind {
            dir: PathBuf::from("/state/workspaces/s1"),
        },
        hostname: "s1.sandpit".to_string(),
        mounts,
        hidden: Vec::new(),
    }
}

fn steps(spec: &RootfsSpec) -> Vec<Step> {
    let host = fake_host();
    plan(spec, host.path()).unwrap()
}

fn mount(host: &Path, sandbox: &str, read_only: bool) -> BindMount {
    BindMount {
        host: host.to_path_buf(),
        sandbox: PathBuf::from(sandbox),
        read_only,
    }
}

fn mount_path_problem(sandbox: &str) -> Option<PathProblem> {
    let host = tempfile::tempdir().unwrap();
    match validate_mount(&mount(host.path(), sandbox, false)) {
        Ok(()) => None,
        Err(RootfsError::InvalidMountPath { reason, .. }) => Some(reason),
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn position(steps: &[Step], wanted: impl Fn(&Step) -> bool) -> usize {
    steps.iter().position(wanted).unwrap()
}

fn new_root() -> PathBuf {
    PathBuf::from("/state/sandboxes/s1/root")
}

fn root(path: &str) -> PathBuf {
    new_root().join(path)
}

#[test]
fn merged_usr_symlinks_are_recreated_not_mounted() {
    let steps = steps(&spec(vec![]));
    for (link, target) in [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib")] {
        assert!(steps.contains(&Step::Symlink {
            target: PathBuf::from(target),
            link: root(link),
        }));
        assert!(!steps.iter().any(|s| matches!(s,
            Step::Overlay { target, .. } | Step::MkDir { path: target, .. }
                if *target == root(link))));
    }
}

#[test]
fn each_host_system_dir_gets_its_own_overlay() {
    let host = fake_host();
    let steps = plan(&spec(vec![]), host.path()).unwrap();
    let overlays: Vec<_> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Overlay {
                lower,
                upper,
                work,
                target,
                persistent: false,
            } => Some((lower.clone(), upper.clone(), work.clone(), target.clone())),
            _ => None,
        })
        .collect();
    let scratch = Path::new("/state/sandboxes/s1/scratch");
    let expected: Vec<_> = ["usr", "etc", "opt"]
        .iter()
        .map(|d| {
            (
                host.path().join(d),
                scratch.join(d).join("upper"),
                scratch.join(d).join("work"),
                root(d),
            )
        })
        .collect();
    assert_eq!(overlays, expected);
}

#[test]
fn overlay_root_keeps_the_host_dirs_mode() {
    let steps = steps(&spec(vec![]));
    let upper = Path::new("/state/sandboxes/s1/scratch/opt/upper").to_path_buf();
    assert!(steps.contains(&Step::MkDir {
        path: upper,
        mode: 0o750
    }));
    assert!(steps.contains(&Step::MkDir {
        path: root("opt"),
        mode: 0o750
    }));
}

#[test]
fn missing_system_dirs_are_skipped() {
    let steps = steps(&spec(vec![]));
    for missing in ["lib32", "libx32"] {
        assert!(!steps.iter().any(|s| format!("{s:?}").contains(missing)));
    }
}

#[test]
fn host_without_etc_still_gets_hostname_files() {
    let host = fake_host();
    std::fs::remove_dir(host.path().join("etc")).unwrap();
    let steps = plan(&spec(vec![]), host.path()).unwrap();
    let mkdir = position(&steps, |s| {
        *s == Step::MkDir {
            path: root("etc"),
            mode: 0o755,
        }
    });
    let write = position(&steps, |s| matches!(s, Step::WriteFile { .. }));
    assert!(mkdir < write);
}

#[test]
fn mount_tree_is_made_private_before_anything_is_mounted() {
    let steps = steps(&spec(vec![]));
    assert_eq!(steps[0], Step::MakeRootPrivate);
    assert!(matches!(&steps[1], Step::Tmpfs { target, data, .. }
        if *target == new_root() && data == "mode=0755"));
    assert!(matches!(&steps[2], Step::Tmpfs { target, data, .. }
        if target.ends_with("scratch") && data == "mode=0700"));
}

#[test]
fn sysrq_trigger_is_masked() {
    let steps = steps(&spec(vec![]));
    let proc = position(&steps, |s| matches!(s, Step::Proc { .. }));
    let null = position(&steps, |s| {
        matches!(s, Step::CharDevice { path, major: 1, minor: 3, mode: 0o666 }
            if *path == root("dev/null"))
    });
    let mask = position(&steps, |s| {
        *s == Step::Mask {
            path: root("proc/sysrq-trigger"),
            how: Masking::NullDevice(root("dev/null")),
        }
    });
    assert!(null < mask && proc < mask);
}

#[test]
fn proc_control_dirs_are_hidden_or_read_only() {
    let steps = steps(&spec(vec![]));
    for (name, how) in [
        ("sys", Masking::ReadOnly),
        ("irq", Masking::ReadOnly),
        ("acpi", Masking::EmptyDir),
        ("kcore", Masking::NullDevice(root("dev/null"))),
    ] {
        assert!(steps.contains(&Step::Mask {
            path: root("proc").join(name),
            how
        }));
    }
}

#[test]
fn pivot_root_is_the_last_step() {
    let steps = steps(&spec(vec![mount(Path::new("/"), "/mnt/host", true)]));
    let n = steps.len();
    assert_eq!(
        steps[n - 1],
        Step::PivotRoot {
            new_root: new_root()
        }
    );
    assert_eq!(
        steps[n - 2],
        Step::MkDir {
            path: root(".oldroot"),
            mode: 0o700
        }
    );
}

#[test]
fn every_mount_point_is_created_before_it_is_mounted() {
    let host = tempfile::tempdir().unwrap();
    let steps = steps(&spec(vec![mount(host.path(), "/opt/cache", false)]));
    for (i, step) in steps.iter().enumerate() {
        let target = match step {
            Step::Tmpfs { target, .. }
            | Step::Overlay { target, .. }
            | Step::Bind { target, .. }
            | Step::Proc { target }
            | Step::Devpts { target } => target,
            _ => continue,
        };
        if !target.starts_with(new_root()) || *target == new_root() {
            continue;
        }
        let created = steps[..i].iter().any(|s| match s {
            Step::MkDir { path, .. } => path == target,
            Step::MountPoint { root: r, path, .. } => r.join(path) == *target,
            _ => false,
        });
        assert!(created, "{target:?} is mounted on before being created");
    }
}

#[test]
fn only_the_workspace_and_extra_mounts_come_from_the_host() {
    let host = tempfile::tempdir().unwrap();
    let steps = steps(&spec(vec![mount(host.path(), "/data", true)]));
    let sources: Vec<_> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Bind { from, .. } => Some(from.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sources,
        vec![
            PathBuf::from("/state/workspaces/s1"),
            host.path().to_path_buf()
        ]
    );
}

#[test]
fn workspace_is_bound_nosuid_nodev() {
    let steps = steps(&spec(vec![]));
    let bind = position(
        &steps,
        |s| matches!(s, Step::Bind { target, .. } if *target == root("workspace")),
    );
    assert_eq!(
        steps[bind + 1],
        Step::Restrict {
            target: root("workspace"),
            restrictions: Restrictions {
                nosuid: true,
                nodev: true,
                ..Restrictions::default()
            },
            recursive: false,
        }
    );
}

/// The spec of a sandbox whose /workspace shows `lower` copy-on-write.
fn overlay_spec(lower: &str) -> RootfsSpec {
    RootfsSpec {
        workspace: Workspace::Overlay {
            lower: PathBuf::from(lower),
            upper: PathBuf::from("/state/sandboxes/s1/workspace-upper"),
            work: PathBuf::from("/state/sandboxes/s1/workspace-work"),
            idmap: None,
        },
        ..spec(vec![])
    }
}

/// The spec of a sandbox whose /workspace shows `lower`, a tree owned by `uid`:`gid`.
fn owned_overlay_spec(lower: &str, uid: u32, gid: u32) -> RootfsSpec {
    let mut spec = overlay_spec(lower);
    if let Workspace::Overlay { idmap, .. } = &mut spec.workspace {
        *idmap = IdMap::owner_to_root(uid, gid);
    }
    spec
}

#[test]
fn root_owned_tree_needs_no_idmap() {
    assert_eq!(IdMap::owner_to_root(0, 0), None);
    let steps = steps(&owned_overlay_spec("/home/dev/repo", 0, 0));
    assert!(!steps.iter().any(|s| matches!(s, Step::IdmappedBind { .. })));
    // The overlay takes the host directory itself as its lower layer.
    assert!(steps.iter().any(|s| matches!(s,
        Step::Overlay { lower, target, .. }
            if *target == root("workspace") && lower == Path::new("/home/dev/repo"))));
}

#[test]
fn a_tree_owned_by_a_user_is_the_lower_layer_through_an_idmapped_mount() {
    let steps = steps(&owned_overlay_spec("/home/dev/repo", 1000, 1001));
    let mapped = PathBuf::from("/state/sandboxes/s1/scratch/workspace-lower");
    let i = position(&steps, |s| matches!(s, Step::IdmappedBind { .. }));
    assert_eq!(
        steps[i - 2..i + 3],
        [
            Step::MkDir {
                path: root("workspace"),
                mode: 0o755
            },
            Step::MkDir {
                path: mapped.clone(),
                mode: 0o700
            },
            Step::IdmappedBind {
                from: PathBuf::from("/home/dev/repo"),
                target: mapped.clone(),
                idmap: IdMap {
                    uid: 1000,
                    gid: 1001
                },
            },
            Step::Overlay {
                lower: mapped,
                upper: PathBuf::from("/state/sandboxes/s1/workspace-upper"),
                work: PathBuf::from("/state/sandboxes/s1/workspace-work"),
                target: root("workspace"),
                persistent: true,
            },
            Step::Restrict {
                target: root("workspace"),
                restrictions: Restrictions {
                    nosuid: true,
                    nodev: true,
                    ..Restrictions::default()
                },
                recursive: false,
            },
        ]
    );
    // The host directory is mounted once, through the idmapped copy.
    let from_host = steps
        .iter()
        .filter(|s| format!("{s:?}").contains("/home/dev/repo"))
        .count();
    assert_eq!(from_host, 1);
}

#[test]
fn the_idmapped_lower_layer_is_mounted_on_the_scratch_tmpfs_after_it_exists() {
    let steps = steps(&owned_overlay_spec("/home/dev/repo", 1000, 1000));
    let scratch = position(
        &steps,
        |s| matches!(s, Step::Tmpfs { target, .. } if target == Path::new("/state/sandboxes/s1/scratch")),
    );
    let idmapped = position(&steps, |s| matches!(s, Step::IdmappedBind { .. }));
    let pivot = position(&steps, |s| matches!(s, Step::PivotRoot { .. }));
    assert!(scratch < idmapped && idmapped < pivot);
}

#[test]
fn either_owner_id_other_than_root_asks_for_an_idmap() {
    for (uid, gid) in [(1000, 1000), (1000, 0), (0, 1000), (u32::MAX - 1, 5)] {
        assert_eq!(
            IdMap::owner_to_root(uid, gid),
            Some(IdMap { uid, gid }),
            "{uid}:{gid}"
        );
    }
}

#[test]
fn the_owner_is_taken_from_the_host_directory() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let meta = std::fs::metadata(dir.path()).unwrap();
    assert_eq!(
        workspace_idmap(dir.path()).unwrap(),
        IdMap::owner_to_root(meta.uid(), meta.gid())
    );
    let missing = dir.path().join("missing");
    assert!(matches!(
        workspace_idmap(&missing),
        Err(RootfsError::WorkspaceSource { path, .. }) if path == missing
    ));
}

#[test]
fn workspace_from_a_host_dir_is_a_persistent_overlay_restricted_nosuid_nodev() {
    let steps = steps(&overlay_spec("/home/dev/repo"));
    let i = position(
        &steps,
        |s| matches!(s, Step::Overlay { target, .. } if *target == root("workspace")),
    );
    assert_eq!(
        steps[i - 1..i + 2],
        [
            Step::MkDir {
                path: root("workspace"),
                mode: 0o755
            },
            Step::Overlay {
                lower: PathBuf::from("/home/dev/repo"),
                upper: PathBuf::from("/state/sandboxes/s1/workspace-upper"),
                work: PathBuf::from("/state/sandboxes/s1/workspace-work"),
                target: root("workspace"),
                persistent: true,
            },
            Step::Restrict {
                target: root("workspace"),
                restrictions: Restrictions {
                    nosuid: true,
                    nodev: true,
                    ..Restrictions::default()
                },
                recursive: false,
            },
        ]
    );
    // Nothing else of the workspace: no bind, and its layers are not on the scratch tmpfs.
    assert!(!steps.iter().any(|s| matches!(s, Step::Bind { target, .. }
        if *target == root("workspace"))));
    assert!(!steps
        .iter()
        .any(|s| format!("{s:?}").contains("scratch/workspace")));
}

#[test]
fn only_the_persistent_overlay_turns_off_features_that_remember_the_lower_layer() {
    let (lower, upper, work) = (Path::new("/l"), Path::new("/u"), Path::new("/w"));
    assert_eq!(
        overlay_options(lower, upper, work, false),
        "lowerdir=/l,upperdir=/u,workdir=/w"
    );
    assert_eq!(
        overlay_options(lower, upper, work, true),
        "lowerdir=/l,upperdir=/u,workdir=/w,redirect_dir=off,index=off,metacopy=off,xino=off"
    );
}

#[test]
fn workspace_lower_overlayfs_cannot_take_is_refused() {
    for lower in [
        "/home/dev/a,upperdir=/etc",
        "/home/dev/a:b",
        "/home/dev/a\\b",
    ] {
        let err = plan(&overlay_spec(lower), fake_host().path()).unwrap_err();
        assert!(
            matches!(&err, RootfsError::OverlayPath { path } if path == Path::new(lower)),
            "{lower}: {err}"
        );
    }
}

#[test]
fn workspace_lower_around_or_inside_the_sandbox_dirs_is_refused() {
    for lower in [
        "/state",
        "/state/sandboxes/s1",
        "/state/sandboxes/s1/root/x",
    ] {
        let err = plan(&overlay_spec(lower), fake_host().path()).unwrap_err();
        assert!(
            matches!(
                &err,
                RootfsError::InvalidWorkspaceSource {
                    reason: PathProblem::Overlap,
                    ..
                }
            ),
            "{lower}: {err}"
        );
    }
    for (lower, problem) in [
        ("/", PathProblem::Root),
        ("repo", PathProblem::NotAbsolute),
        ("/home/dev/repo/", PathProblem::NotNormalized),
    ] {
        let err = plan(&overlay_spec(lower), fake_host().path()).unwrap_err();
        let reason = match &err {
            RootfsError::InvalidWorkspaceSource { reason, .. } => Some(*reason),
            _ => None,
        };
        assert_eq!(reason, Some(problem), "{lower}: {err}");
    }
    // A sibling of the state directory is fine.
    plan(&overlay_spec("/statehouse/repo"), fake_host().path()).unwrap();
}

#[test]
fn workspace_source_must_be_an_existing_directory_apart_from_the_state_dir() {
    let state = tempfile::tempdir().unwrap();
    let host = tempfile::tempdir().unwrap();
    validate_workspace_source(host.path(), state.path()).unwrap();

    let problem = |lower: &Path| match validate_workspace_source(lower, state.path()) {
        Err(RootfsError::InvalidWorkspaceSource { reason, .. }) => Some(reason),
        Err(other) => panic!("unexpected error {other}"),
        Ok(()) => None,
    };
    assert_eq!(problem(Path::new("repo")), Some(PathProblem::NotAbsolute));
    assert_eq!(problem(state.path()), Some(PathProblem::StateDir));
    assert_eq!(
        problem(&state.path().join("sandboxes/other/workspace")),
        Some(PathProblem::StateDir)
    );
    assert_eq!(
        problem(state.path().parent().unwrap()),
        Some(PathProblem::StateDir)
    );

    let file = host.path().join("file");
    std::fs::write(&file, "x").unwrap();
    for (lower, kind) in [
        (file, io::ErrorKind::NotADirectory),
        (host.path().join("missing"), io::ErrorKind::NotFound),
    ] {
        match validate_workspace_source(&lower, state.path()) {
            Err(RootfsError::WorkspaceSource { path, source }) => {
                assert_eq!(path, lower);
                assert_eq!(source.kind(), kind, "{}", lower.display());
            }
            other => panic!("{}: unexpected {other:?}", lower.display()),
        }
    }
}

#[test]
fn read_only_extra_mount_is_bound_recursively_then_restricted_recursively() {
    let host = tempfile::tempdir().unwrap();
    let steps = steps(&spec(vec![mount(host.path(), "/opt/toolcache", true)]));
    let i = position(&steps, |s| matches!(s, Step::MountPoint { .. }));
    assert_eq!(
        steps[i..i + 3],
        [
            Step::MountPoint {
                root: new_root(),
                path: PathBuf::from("opt/toolcache"),
                kind: MountPointKind::Dir
            },
            Step::Bind {
                from: host.path().to_path_buf(),
                target: root("opt/toolcache"),
                recursive: true
            },
            Step::Restrict {
                target: root("opt/toolcache"),
                restrictions: Restrictions {
                    read_only: true,
                    nosuid: true,
                    nodev: true,
                    noexec: false
                },
                recursive: true
            },
        ]
    );
}

#[test]
fn file_extra_mount_gets_a_file_mount_point() {
    let host = tempfile::NamedTempFile::new().unwrap();
    let steps = steps(&spec(vec![mount(host.path(), "/etc/ssl/extra.pem", true)]));
    assert!(steps.contains(&Step::MountPoint {
        root: new_root(),
        path: PathBuf::from("etc/ssl/extra.pem"),
        kind: MountPointKind::File
    }));
}

#[test]
fn extra_mount_inside_proc_is_refused() {
    for path in [
        "/proc",
        "/proc/sys/kernel",
        "/dev/kvm",
        "/sys/fs/cgroup",
        "/.oldroot",
    ] {
        assert_eq!(
            mount_path_problem(path),
            Some(PathProblem::KernelDir),
            "{path}"
        );
    }
}

#[test]
fn relative_or_dotdot_mount_path_is_refused() {
    assert_eq!(mount_path_problem("data"), Some(PathProblem::NotAbsolute));
    for path in ["/data/../etc", "/data/./x", "/data//x", "/data/"] {
        assert_eq!(
            mount_path_problem(path),
            Some(PathProblem::NotNormalized),
            "{path}"
        );
    }
    assert_eq!(mount_path_problem("/"), Some(PathProblem::Root));
}

#[test]
fn mount_replacing_a_system_dir_or_the_workspace_is_refused() {
    for path in ["/usr", "/etc", "/bin", "/lib64", "/opt"] {
        assert_eq!(
            mount_path_problem(path),
            Some(PathProblem::SystemDir),
            "{path}"
        );
    }
    assert_eq!(
        mount_path_problem("/workspace"),
        Some(PathProblem::Workspace)
    );
    for path in [
        "/usr/local/cache",
        "/opt/toolcache",
        "/workspace/cache",
        "/data",
    ] {
        assert_eq!(mount_path_problem(path), None, "{path}");
    }
}

#[test]
fn mount_of_a_missing_or_relative_host_path_is_refused() {
    let missing = mount(Path::new("/nonexistent/sandpit"), "/data", false);
    assert!(matches!(
        validate_mount(&missing),
        Err(RootfsError::MountSource { .. })
    ));
    let relative = mount(Path::new("data"), "/data", false);
    assert!(matches!(
        validate_mount(&relative),
        Err(RootfsError::InvalidMountSource { .. })
    ));
}

#[test]
fn nested_extra_mounts_are_refused() {
    let host = tempfile::tempdir().unwrap();
    let mounts = vec![
        mount(host.path(), "/data", false),
        mount(host.path(), "/data/sub", false),
    ];
    let err = plan(&spec(mounts), fake_host().path()).unwrap_err();
    assert!(matches!(err, RootfsError::MountConflict { .. }));
    let siblings = vec![
        mount(host.path(), "/data", false),
        mount(host.path(), "/database", false),
    ];
    plan(&spec(siblings), fake_host().path()).unwrap();
}

#[test]
fn overlay_path_with_comma_is_refused() {
    let mut spec = spec(vec![]);
    spec.scratch = PathBuf::from("/state/a,upperdir=/x/scratch");
    let err = plan(&spec, fake_host().path()).unwrap_err();
    assert!(matches!(err, RootfsError::OverlayPath { .. }), "{err}");
}

#[test]
fn overlay_path_with_colon_or_backslash_is_refused() {
    for name in ["a:b", "a\\b"] {
        let parent = tempfile::tempdir().unwrap();
        let host = parent.path().join(name);
        std::fs::create_dir_all(host.join("usr")).unwrap();
        let err = plan(&spec(vec![]), &host).unwrap_err();
        assert!(matches!(err, RootfsError::OverlayPath { .. }), "{err}");
    }
}

#[test]
fn hostname_cannot_inject_hosts_lines() {
    for bad in ["", "a\n1.2.3.4 github.com", "a b", "-a", &"a".repeat(65)] {
        let mut spec = spec(vec![]);
        spec.hostname = bad.to_string();
        assert!(matches!(
            plan(&spec, fake_host().path()),
            Err(RootfsError::InvalidHostname { .. })
        ));
    }
}

#[test]
fn hostname_files_are_written_into_the_etc_overlay() {
    let steps = steps(&spec(vec![]));
    let overlay = position(
        &steps,
        |s| matches!(s, Step::Overlay { target, .. } if *target == root("etc")),
    );
    let hosts = position(&steps, |s| {
        *s == Step::WriteFile {
            root: new_root(),
            path: PathBuf::from("etc/hosts"),
            contents: "127.0.0.1 localhost\n::1 localhost\n127.0.1.1 s1.sandpit\n".to_string(),
            mode: 0o644,
        }
    });
    assert!(overlay < hosts);
}

#[test]
fn overlapping_spec_paths_are_refused() {
    let mut spec = spec(vec![]);
    spec.scratch = spec.root.join("scratch");
    assert!(matches!(
        plan(&spec, fake_host().path()),
        Err(RootfsError::InvalidSpecPath { .. })
    ));
}

#[test]
fn mount_point_creation_never_follows_symlinks() {
    let new_root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir(new_root.path().join("etc")).unwrap();
    host_symlink(outside.path(), new_root.path().join("etc/alternatives")).unwrap();
    host_symlink(outside.path().join("f"), new_root.path().join("etc/f")).unwrap();

    let through_link = make_mount_point(
        new_root.path(),
        Path::new("etc/alternatives/x"),
        MountPointKind::Dir,
    );
    assert!(through_link.is_err());
    let onto_link = make_mount_point(new_root.path(), Path::new("etc/f"), MountPointKind::File);
    assert!(onto_link.is_err());
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn write_file_replaces_a_symlink_instead_of_following_it() {
    let new_root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir(new_root.path().join("etc")).unwrap();
    std::fs::write(outside.path().join("hosts"), "host").unwrap();
    host_symlink(
        outside.path().join("hosts"),
        new_root.path().join("etc/hosts"),
    )
    .unwrap();

    replace_file(new_root.path(), Path::new("etc/hosts"), "sandbox", 0o644).unwrap();

    assert_eq!(
        std::fs::read(outside.path().join("hosts")).unwrap(),
        b"host"
    );
    let written = new_root.path().join("etc/hosts");
    assert!(!std::fs::symlink_metadata(&written).unwrap().is_symlink());
    assert_eq!(std::fs::read(written).unwrap(), b"sandbox");
}

#[test]
fn error_stays_small() {
    // It is nested in the runtime's and the SDK's errors, which clippy wants under 128 bytes.
    assert!(std::mem::size_of::<RootfsError>() <= 40);
}

#[test]
fn apply_creates_exact_modes_and_names_the_failing_step() {
    let dir = tempfile::tempdir().unwrap();
    let var_tmp = dir.path().join("var-tmp");
    let steps = [
        Step::MkDir {
            path: var_tmp.clone(),
            mode: 0o1777,
        },
        Step::MountPoint {
            root: dir.path().to_path_buf(),
            path: PathBuf::from("a/b/c"),
            kind: MountPointKind::File,
        },
        Step::MkDir {
            path: var_tmp.clone(),
            mode: 0o755,
        },
    ];
    let err = apply(&steps).unwrap_err();
    assert!(matches!(&err, RootfsError::MkDir { path, source: Errno::EEXIST } if *path == var_tmp));
    assert_eq!(
        err.to_string(),
        format!("failed to create directory {}", var_tmp.display())
    );
    let mode = std::fs::metadata(&var_tmp).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o1777);
    assert!(std::fs::metadata(dir.path().join("a/b/c"))
        .unwrap()
        .is_file());
}

#[test]
fn overlayfs_takes_idmapped_layers_from_linux_5_19() {
    for (release, takes) in [
        ("6.18.44-fc-v657", true),
        ("6.1.0-27-amd64", true),
        ("5.19.0", true),
        ("5.18.19-arch1", false),
        ("5.15.0-107-generic", false),
        ("5.12.0", false),
        ("4.19.322", false),
        ("10.0", true),
        ("", true),
    ] {
        assert_eq!(
            overlayfs_takes_idmapped_layers(release),
            takes,
            "{release:?}"
        );
    }
}
