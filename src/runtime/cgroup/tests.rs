//! Tests of the `cgroup` module.

use super::*;
use std::os::unix::process::ExitStatusExt;
use tempfile::TempDir;

/// Encode a path the way the kernel does in mountinfo.
fn escape(p: &Path) -> String {
    let mut out = String::new();
    for c in p.to_str().unwrap().chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
    out
}

/// A temp dir holding fake mountinfo and proc-cgroup files plus fake hierarchies.
struct Fake {
    tmp: TempDir,
    mountinfo: Vec<String>,
    proc_cgroup: Vec<String>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            tmp: TempDir::new().unwrap(),
            mountinfo: Vec::new(),
            proc_cgroup: Vec::new(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// Add a mount of `fstype` at `<tmp>/<mount>` exposing hierarchy sub-path `root`.
    fn mount(&mut self, dev: u32, root: &str, mount: &str, fstype: &str, super_opts: &str) {
        let mp = self.path(mount);
        fs::create_dir_all(&mp).unwrap();
        let id = self.mountinfo.len() + 30;
        self.mountinfo.push(format!(
            "{id} 23 0:{dev} {root} {} rw,nosuid,nodev,noexec,relatime shared:{id} - {fstype} {fstype} {super_opts}",
            escape(&mp)
        ));
    }

    fn proc_line(&mut self, line: &str) {
        self.proc_cgroup.push(line.to_owned());
    }

    fn write(&self, rel: &str, contents: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, contents).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap()
    }

    fn detect(&self, instance: &str) -> Result<CgroupRoots, CgroupError> {
        let mi = self.path("mountinfo");
        let pc = self.path("proc-cgroup");
        fs::write(&mi, self.mountinfo.join("\n") + "\n").unwrap();
        fs::write(&pc, self.proc_cgroup.join("\n") + "\n").unwrap();
        CgroupRoots::detect(&mi, &pc, instance)
    }
}

/// The layout of the Debian CI machine: v1 controllers plus an empty cgroup2.
fn hybrid() -> Fake {
    let mut f = Fake::new();
    f.mount(29, "/", "cpu", "cgroup", "rw,cpu");
    f.mount(30, "/", "cpuacct", "cgroup", "rw,cpuacct");
    f.mount(31, "/", "cpuset", "cgroup", "rw,cpuset");
    f.mount(32, "/", "memory", "cgroup", "rw,memory");
    f.mount(33, "/", "devices", "cgroup", "rw,devices");
    f.mount(36, "/", "pids", "cgroup", "rw,pids");
    f.mount(37, "/", "systemd", "cgroup", "rw,name=systemd");
    f.mount(38, "/", "unified", "cgroup2", "rw,nsdelegate");
    f.write("unified/cgroup.controllers", "hugetlb\n");
    for line in [
        "9:name=systemd:/",
        "8:pids:/",
        "5:devices:/",
        "4:memory:/process_api/63b3",
        "3:cpuset:/",
        "2:cpuacct:/",
        "1:cpu:/",
        "0::/",
    ] {
        f.proc_line(line);
    }
    f
}

/// A pure v2 host where this process sits in `/user.slice/sandpit.scope`.
fn pure_v2(controllers: &str) -> Fake {
    let mut f = Fake::new();
    f.mount(
        26,
        "/",
        "cg",
        "cgroup2",
        "rw,nsdelegate,memory_recursiveprot",
    );
    f.write("cg/cgroup.controllers", controllers);
    f.proc_line("0::/user.slice/sandpit.scope");
    f
}

/// Pre-populate the control files the kernel would create in a v2 cgroup.
fn populate_v2(f: &Fake, name: &str) {
    let own = "cg/user.slice/sandpit.scope";
    for dir in [
        own.to_owned(),
        format!("{own}/sandpit"),
        format!("{own}/sandpit/inst"),
    ] {
        f.write(&format!("{dir}/cgroup.subtree_control"), "");
    }
    let leaf = format!("{own}/sandpit/inst/{name}");
    for file in [
        "memory.max",
        "memory.swap.max",
        "pids.max",
        "cpu.max",
        "cgroup.procs",
    ] {
        f.write(&format!("{leaf}/{file}"), "");
    }
}

#[test]
fn detects_hybrid_layout_as_v1() {
    let f = hybrid();
    let roots = f.detect("inst").unwrap();
    assert_eq!(roots.version(), CgroupVersion::V1);
    assert_eq!(
        roots.dirs(),
        vec![
            f.path("cpu/sandpit/inst"),
            f.path("memory/process_api/63b3/sandpit/inst"),
            f.path("pids/sandpit/inst"),
        ]
    );
}

#[test]
fn detects_pure_v2_when_root_offers_memory_and_pids() {
    let f = pure_v2("cpuset cpu io memory hugetlb pids rdma misc\n");
    let roots = f.detect("inst").unwrap();
    assert_eq!(roots.version(), CgroupVersion::V2);
    assert_eq!(
        roots.dirs(),
        vec![f.path("cg/user.slice/sandpit.scope/sandpit/inst")]
    );
}

#[test]
fn v2_own_cgroup_with_processes_and_no_delegation_moves_sandboxes_to_the_root() {
    let f = pure_v2("cpuset cpu io memory pids\n");
    let own = "cg/user.slice/sandpit.scope";
    f.write(&format!("{own}/cgroup.type"), "domain\n");
    f.write(&format!("{own}/cgroup.procs"), "4242\n");
    f.write(&format!("{own}/cgroup.subtree_control"), "");
    let roots = f.detect("inst").unwrap();
    assert_eq!(roots.dirs(), vec![f.path("cg/sandpit/inst")]);
}

#[test]
fn v2_own_cgroup_that_already_delegates_is_kept() {
    let f = pure_v2("cpuset cpu io memory pids\n");
    let own = "cg/user.slice/sandpit.scope";
    f.write(&format!("{own}/cgroup.type"), "domain\n");
    f.write(&format!("{own}/cgroup.procs"), "4242\n");
    f.write(
        &format!("{own}/cgroup.subtree_control"),
        "memory pids cpu\n",
    );
    let roots = f.detect("inst").unwrap();
    assert_eq!(roots.dirs(), vec![f.path(&format!("{own}/sandpit/inst"))]);
}

#[test]
fn cgroup2_without_pids_falls_back_to_v1() {
    let f = hybrid();
    f.write("unified/cgroup.controllers", "memory hugetlb\n");
    assert_eq!(f.detect("inst").unwrap().version(), CgroupVersion::V1);
}

#[test]
fn comounted_cpu_cpuacct_is_found() {
    let mut f = Fake::new();
    f.mount(20, "/", "cpu,cpuacct", "cgroup", "rw,cpu,cpuacct");
    f.mount(21, "/", "memory", "cgroup", "rw,memory");
    f.proc_line("4:memory:/user.slice");
    f.proc_line("3:cpu,cpuacct:/user.slice");
    let roots = f.detect("inst").unwrap();
    assert_eq!(roots.version(), CgroupVersion::V1);
    assert_eq!(
        roots.dirs(),
        vec![
            f.path("cpu,cpuacct/user.slice/sandpit/inst"),
            f.path("memory/user.slice/sandpit/inst"),
        ]
    );
    assert!(roots.hierarchies[0].controllers.cpu);
}

#[test]
fn hierarchy_mounted_twice_is_used_once() {
    let mut f = Fake::new();
    f.mount(21, "/", "memory", "cgroup", "rw,memory");
    f.mount(21, "/", "memory-again", "cgroup", "rw,memory");
    f.proc_line("4:memory:/");
    let roots = f.detect("inst").unwrap();
    assert_eq!(roots.dirs(), vec![f.path("memory/sandpit/inst")]);
}

#[test]
fn mount_root_subpath_is_stripped_from_own_cgroup() {
    let mut f = Fake::new();
    f.mount(21, "/docker/abc", "memory", "cgroup", "rw,memory");
    f.mount(22, "/docker/abc", "cg2", "cgroup2", "rw");
    f.write("cg2/cgroup.controllers", "memory pids\n");
    f.proc_line("4:memory:/docker/abc/job");
    f.proc_line("0::/docker/abc");
    let roots = f.detect("inst").unwrap();
    assert_eq!(roots.version(), CgroupVersion::V2);
    assert_eq!(roots.dirs(), vec![f.path("cg2/sandpit/inst")]);

    f.write("cg2/cgroup.controllers", "");
    let roots = f.detect("inst").unwrap();
    assert_eq!(roots.dirs(), vec![f.path("memory/job/sandpit/inst")]);
}

#[test]
fn own_cgroup_outside_every_mount_root_is_an_error() {
    let mut f = Fake::new();
    f.mount(21, "/docker/abc", "memory", "cgroup", "rw,memory");
    f.proc_line("4:memory:/elsewhere");
    let err = f.detect("inst").unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::CgroupOutsideMount {
                controller: "memory",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn octal_escapes_in_mount_point_are_decoded() {
    let mut f = Fake::new();
    f.mount(26, "/", "cgroup v2\\dir", "cgroup2", "rw");
    f.write("cgroup v2\\dir/cgroup.controllers", "memory pids");
    f.proc_line("0::/");
    assert!(f.mountinfo[0].contains("cgroup\\040v2\\134dir"));
    let roots = f.detect("inst").unwrap();
    assert_eq!(roots.dirs(), vec![f.path("cgroup v2\\dir/sandpit/inst")]);
}

#[test]
fn unescape_keeps_incomplete_escapes_literally() {
    assert_eq!(unescape_octal("/a\\040b"), PathBuf::from("/a b"));
    assert_eq!(unescape_octal("/a\\04"), PathBuf::from("/a\\04"));
    assert_eq!(unescape_octal("/a\\999"), PathBuf::from("/a\\999"));
}

#[test]
fn mountinfo_optional_fields_and_separator_are_handled() {
    let text =
        "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue\n\
                41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
    let mounts = parse_mountinfo(text, Path::new("mi")).unwrap();
    assert_eq!(mounts.len(), 2);
    assert_eq!(mounts[0].fstype, "ext3");
    assert_eq!(mounts[0].root, PathBuf::from("/mnt1"));
    assert_eq!(mounts[0].super_options, vec!["rw", "errors=continue"]);
    assert_eq!(mounts[1].fstype, "cgroup2");
    assert_eq!(mounts[1].device, "0:38");
}

#[test]
fn mountinfo_without_separator_is_rejected_with_line_number() {
    let text = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                42 31 0:39 / /x rw cgroup2 cgroup2 rw\n";
    let err = parse_mountinfo(text, Path::new("mi")).unwrap_err();
    assert!(
        matches!(err, CgroupError::MalformedMountinfo { line: 2, .. }),
        "{err:?}"
    );
}

#[test]
fn proc_cgroup_path_may_contain_colons() {
    let entries = parse_proc_cgroup("3:cpu,cpuacct:/a:b\n0::/\n", Path::new("pc")).unwrap();
    assert_eq!(entries[0].controllers, vec!["cpu", "cpuacct"]);
    assert_eq!(entries[0].path, PathBuf::from("/a:b"));
    assert_eq!(entries[1].hierarchy_id, 0);
    assert!(entries[1].controllers.is_empty());
    assert!(parse_proc_cgroup("x:memory:/\n", Path::new("pc")).is_err());
}

#[test]
fn mounted_hierarchy_missing_from_proc_cgroup_is_an_error() {
    let mut f = Fake::new();
    f.mount(21, "/", "memory", "cgroup", "rw,memory");
    f.proc_line("8:pids:/");
    let err = f.detect("inst").unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::MissingProcCgroupEntry {
                controller: "memory",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn no_usable_hierarchy_is_an_error() {
    let mut f = Fake::new();
    f.mount(21, "/", "systemd", "cgroup", "rw,name=systemd");
    f.mount(22, "/", "unified", "cgroup2", "rw");
    f.write("unified/cgroup.controllers", "");
    f.proc_line("1:name=systemd:/");
    f.proc_line("0::/");
    let err = f.detect("inst").unwrap_err();
    assert!(
        matches!(err, CgroupError::NoUsableHierarchy { .. }),
        "{err:?}"
    );
}

#[test]
fn invalid_instance_and_names_are_rejected() {
    let f = pure_v2("memory pids");
    for bad in ["", ".", "..", "a/b"] {
        assert!(matches!(
            f.detect(bad),
            Err(CgroupError::InvalidInstance { .. })
        ));
    }
    let roots = f.detect("inst").unwrap();
    for bad in ["", ".", "..", "a/b", "/etc"] {
        let err = roots.create(bad, &Limits::default()).unwrap_err();
        assert!(matches!(err, CgroupError::InvalidName { .. }), "{err:?}");
        assert!(roots.get(bad).dirs().is_empty());
    }
    assert!(!f.path("cg/user.slice").exists());
}

#[test]
fn get_does_not_touch_the_file_system() {
    let f = pure_v2("memory pids");
    let roots = f.detect("inst").unwrap();
    let cg = roots.get("job-1");
    assert_eq!(
        cg.dirs(),
        &[f.path("cg/user.slice/sandpit.scope/sandpit/inst/job-1")]
    );
    assert!(!f.path("cg/user.slice").exists());
}

#[test]
fn v2_create_writes_memory_max_and_enables_controllers() {
    let f = pure_v2("cpuset cpu io memory pids");
    populate_v2(&f, "job");
    let roots = f.detect("inst").unwrap();
    let limits = Limits {
        memory_bytes: Some(64 << 20),
        pids: Some(32),
        cpu_millis: Some(1500),
    };
    let cg = roots.create("job", &limits).unwrap();
    let own = "cg/user.slice/sandpit.scope";
    for dir in [
        own,
        &format!("{own}/sandpit"),
        &format!("{own}/sandpit/inst"),
    ] {
        assert_eq!(
            f.read(&format!("{dir}/cgroup.subtree_control")),
            "+memory +pids +cpu"
        );
    }
    let leaf = format!("{own}/sandpit/inst/job");
    assert_eq!(f.read(&format!("{leaf}/memory.max")), "67108864");
    assert_eq!(f.read(&format!("{leaf}/memory.swap.max")), "0");
    assert_eq!(f.read(&format!("{leaf}/pids.max")), "32");
    assert_eq!(f.read(&format!("{leaf}/cpu.max")), "150000 100000");
    assert_eq!(cg.version(), CgroupVersion::V2);
    assert_eq!(cg.dirs(), &[f.path(&leaf)]);
}

#[test]
fn v2_create_leaves_already_enabled_controllers_alone() {
    let f = pure_v2("memory pids");
    populate_v2(&f, "job");
    let own = "cg/user.slice/sandpit.scope";
    f.write(&format!("{own}/cgroup.subtree_control"), "memory pids\n");
    f.write(&format!("{own}/sandpit/cgroup.subtree_control"), "pids\n");
    let roots = f.detect("inst").unwrap();
    roots.create("job", &Limits::default()).unwrap();
    assert_eq!(
        f.read(&format!("{own}/cgroup.subtree_control")),
        "memory pids\n"
    );
    assert_eq!(
        f.read(&format!("{own}/sandpit/cgroup.subtree_control")),
        "+memory"
    );
    // No cpu controller on this host: it must not be requested.
    assert_eq!(
        f.read(&format!("{own}/sandpit/inst/cgroup.subtree_control")),
        "+memory +pids"
    );
}

#[test]
fn v2_create_resets_leftover_limits_to_max() {
    let f = pure_v2("cpu memory pids");
    populate_v2(&f, "job");
    let leaf = "cg/user.slice/sandpit.scope/sandpit/inst/job";
    f.write(&format!("{leaf}/memory.max"), "1234");
    f.write(&format!("{leaf}/pids.max"), "5");
    let roots = f.detect("inst").unwrap();
    roots.create("job", &Limits::default()).unwrap();
    assert_eq!(f.read(&format!("{leaf}/memory.max")), "max");
    assert_eq!(f.read(&format!("{leaf}/memory.swap.max")), "max");
    assert_eq!(f.read(&format!("{leaf}/pids.max")), "max");
    assert_eq!(f.read(&format!("{leaf}/cpu.max")), "max 100000");
}

#[test]
fn v2_create_skips_swap_max_without_swap_accounting() {
    let f = pure_v2("memory pids");
    populate_v2(&f, "job");
    let leaf = "cg/user.slice/sandpit.scope/sandpit/inst/job";
    fs::remove_file(f.path(&format!("{leaf}/memory.swap.max"))).unwrap();
    let roots = f.detect("inst").unwrap();
    let limits = Limits {
        memory_bytes: Some(1 << 30),
        ..Limits::default()
    };
    roots.create("job", &limits).unwrap();
    assert_eq!(f.read(&format!("{leaf}/memory.max")), "1073741824");
    assert!(!f.path(&format!("{leaf}/memory.swap.max")).exists());
}

#[test]
fn v2_cpu_limit_without_cpu_controller_is_rejected_before_creating_anything() {
    let f = pure_v2("memory pids");
    f.write("cg/user.slice/sandpit.scope/cgroup.subtree_control", "");
    let roots = f.detect("inst").unwrap();
    let limits = Limits {
        cpu_millis: Some(500),
        ..Limits::default()
    };
    let err = roots.create("job", &limits).unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::ControllerUnavailable {
                controller: "cpu",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!f.path("cg/user.slice/sandpit.scope/sandpit").exists());
}

#[test]
fn create_failure_removes_created_dirs() {
    let f = pure_v2("memory pids");
    // Only the process's own cgroup exists. The fake sandpit/ that create makes has no
    // cgroup.subtree_control (the kernel would provide one), so create fails half-way.
    f.write("cg/user.slice/sandpit.scope/cgroup.subtree_control", "");
    let roots = f.detect("inst").unwrap();
    let err = roots.create("job", &Limits::default()).unwrap_err();
    assert!(matches!(err, CgroupError::ReadFile { .. }), "{err:?}");
    assert!(!f.path("cg/user.slice/sandpit.scope/sandpit").exists());
    assert_eq!(
        f.read("cg/user.slice/sandpit.scope/cgroup.subtree_control"),
        "+memory +pids"
    );
}

#[test]
fn create_failure_removes_created_parents_on_v1() {
    let mut f = Fake::new();
    f.mount(21, "/", "memory", "cgroup", "rw,memory");
    f.proc_line("4:memory:/");
    let roots = f.detect("inst").unwrap();
    let limits = Limits {
        memory_bytes: Some(1 << 20),
        ..Limits::default()
    };
    // The new leaf lacks memory.limit_in_bytes, so the limit write fails after sandpit/,
    // inst/ and job/ were made.
    let err = roots.create("job", &limits).unwrap_err();
    assert!(
        matches!(&err, CgroupError::WriteFile { path, .. } if path.ends_with("job/memory.limit_in_bytes")),
        "{err:?}"
    );
    assert!(!f.path("memory/sandpit").exists());
}

#[test]
fn ebusy_from_subtree_control_asks_for_a_cgroup_that_delegates() {
    let err = subtree_control_error(
        PathBuf::from("/sys/fs/cgroup/cgroup.subtree_control"),
        "+memory".into(),
        io::Error::from_raw_os_error(libc::EBUSY),
    );
    assert!(matches!(err, CgroupError::NotDelegated { .. }));
    assert!(
        err.to_string()
            .contains("subtree_control already lists memory and pids"),
        "{err}"
    );
    let err = subtree_control_error(
        PathBuf::from("x"),
        "+memory".into(),
        io::Error::from_raw_os_error(libc::ENOENT),
    );
    assert!(matches!(err, CgroupError::EnableControllers { .. }));
}

fn v1_all() -> Fake {
    let mut f = Fake::new();
    f.mount(20, "/", "cpu,cpuacct", "cgroup", "rw,cpu,cpuacct");
    f.mount(21, "/", "memory", "cgroup", "rw,memory");
    f.mount(22, "/", "pids", "cgroup", "rw,pids");
    f.proc_line("5:pids:/");
    f.proc_line("4:memory:/");
    f.proc_line("3:cpu,cpuacct:/");
    f
}

#[test]
fn v1_create_writes_limits_in_each_hierarchy() {
    let f = v1_all();
    for file in ["cpu.cfs_period_us", "cpu.cfs_quota_us"] {
        f.write(&format!("cpu,cpuacct/sandpit/inst/job/{file}"), "");
    }
    for file in ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"] {
        f.write(&format!("memory/sandpit/inst/job/{file}"), "");
    }
    f.write("pids/sandpit/inst/job/pids.max", "");
    let roots = f.detect("inst").unwrap();
    let limits = Limits {
        memory_bytes: Some(64 << 20),
        pids: Some(32),
        cpu_millis: Some(250),
    };
    let cg = roots.create("job", &limits).unwrap();
    assert_eq!(cg.version(), CgroupVersion::V1);
    assert_eq!(cg.dirs().len(), 3);
    assert_eq!(
        f.read("memory/sandpit/inst/job/memory.limit_in_bytes"),
        "67108864"
    );
    assert_eq!(
        f.read("memory/sandpit/inst/job/memory.memsw.limit_in_bytes"),
        "67108864"
    );
    assert_eq!(f.read("pids/sandpit/inst/job/pids.max"), "32");
    assert_eq!(
        f.read("cpu,cpuacct/sandpit/inst/job/cpu.cfs_period_us"),
        "100000"
    );
    assert_eq!(
        f.read("cpu,cpuacct/sandpit/inst/job/cpu.cfs_quota_us"),
        "25000"
    );
}

#[test]
fn v1_memsw_is_lifted_before_the_limit_changes() {
    let writes = limit_writes(
        CgroupVersion::V1,
        Controllers::from_names(["memory"]),
        &Limits {
            memory_bytes: Some(100),
            ..Limits::default()
        },
        None,
    );
    let order: Vec<(&str, &str)> = writes.iter().map(|w| (w.file, w.value.as_str())).collect();
    assert_eq!(
        order,
        vec![
            ("memory.memsw.limit_in_bytes", "-1"),
            ("memory.limit_in_bytes", "100"),
            ("memory.memsw.limit_in_bytes", "100"),
        ]
    );
}

#[test]
fn missing_v1_controller_fails_only_when_its_limit_is_requested() {
    let mut f = Fake::new();
    f.mount(21, "/", "memory", "cgroup", "rw,memory");
    f.proc_line("4:memory:/");
    f.write("memory/sandpit/inst/job/memory.limit_in_bytes", "");
    let roots = f.detect("inst").unwrap();
    let err = roots
        .create(
            "job",
            &Limits {
                pids: Some(10),
                ..Limits::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            CgroupError::ControllerUnavailable {
                controller: "pids",
                ..
            }
        ),
        "{err:?}"
    );
    let limits = Limits {
        memory_bytes: Some(4096),
        ..Limits::default()
    };
    roots.create("job", &limits).unwrap();
    assert_eq!(
        f.read("memory/sandpit/inst/job/memory.limit_in_bytes"),
        "4096"
    );
}

#[test]
fn cpu_millis_convert_to_quota_with_bounds() {
    assert_eq!(cpu_quota_us(1500).unwrap(), 150_000);
    assert_eq!(cpu_quota_us(10).unwrap(), 1_000);
    assert!(matches!(
        cpu_quota_us(9),
        Err(CgroupError::InvalidCpuLimit { millis: 9 })
    ));
    assert!(cpu_quota_us(u64::MAX).is_err());
}

#[test]
fn list_returns_child_cgroups_across_hierarchies() {
    let f = v1_all();
    fs::create_dir_all(f.path("memory/sandpit/inst/b")).unwrap();
    fs::create_dir_all(f.path("memory/sandpit/inst/a")).unwrap();
    fs::create_dir_all(f.path("pids/sandpit/inst/a")).unwrap();
    f.write("pids/sandpit/inst/pids.max", "max");
    let roots = f.detect("inst").unwrap();
    assert_eq!(roots.list().unwrap(), vec!["a", "b"]);
}

#[test]
fn list_is_empty_before_anything_was_created() {
    let roots = v1_all().detect("inst").unwrap();
    assert!(roots.list().unwrap().is_empty());
}

#[test]
fn pids_are_the_union_over_hierarchies_and_descendants() {
    let f = v1_all();
    f.write("memory/sandpit/inst/job/cgroup.procs", "12\n7\n");
    f.write("memory/sandpit/inst/job/inner/cgroup.procs", "99\n");
    f.write("pids/sandpit/inst/job/cgroup.procs", "7\n0\n13\n");
    let roots = f.detect("inst").unwrap();
    assert_eq!(roots.get("job").pids().unwrap(), vec![7, 12, 13, 99]);
}

#[test]
fn garbage_in_cgroup_procs_is_reported() {
    let f = v1_all();
    f.write("memory/sandpit/inst/job/cgroup.procs", "12\nabc\n");
    let roots = f.detect("inst").unwrap();
    let err = roots.get("job").pids().unwrap_err();
    assert!(matches!(err, CgroupError::ParsePid { .. }), "{err:?}");
}

#[test]
fn join_writes_pid_to_every_hierarchy() {
    let f = v1_all();
    for h in ["cpu,cpuacct", "memory", "pids"] {
        f.write(&format!("{h}/sandpit/inst/job/cgroup.procs"), "");
    }
    let roots = f.detect("inst").unwrap();
    roots.get("job").join(4242).unwrap();
    for h in ["cpu,cpuacct", "memory", "pids"] {
        assert_eq!(
            f.read(&format!("{h}/sandpit/inst/job/cgroup.procs")),
            "4242"
        );
    }
}

#[test]
fn join_into_missing_cgroup_fails() {
    let roots = v1_all().detect("inst").unwrap();
    let err = roots.get("nope").join(1).unwrap_err();
    assert!(matches!(err, CgroupError::Join { pid: 1, .. }), "{err:?}");
}

#[test]
fn destroy_removes_nested_cgroups_and_is_idempotent() {
    let f = v1_all();
    fs::create_dir_all(f.path("memory/sandpit/inst/job/inner/deeper")).unwrap();
    fs::create_dir_all(f.path("pids/sandpit/inst/job")).unwrap();
    let roots = f.detect("inst").unwrap();
    let cg = roots.get("job");
    cg.destroy().unwrap();
    assert!(!f.path("memory/sandpit/inst/job").exists());
    assert!(!f.path("pids/sandpit/inst/job").exists());
    cg.destroy().unwrap();
}

#[test]
fn remove_if_empty_keeps_parents_that_still_hold_cgroups() {
    let f = v1_all();
    fs::create_dir_all(f.path("memory/sandpit/inst/job")).unwrap();
    fs::create_dir_all(f.path("pids/sandpit/inst")).unwrap();
    fs::create_dir_all(f.path("pids/sandpit/other-instance")).unwrap();
    let roots = f.detect("inst").unwrap();
    roots.remove_if_empty().unwrap();
    assert!(f.path("memory/sandpit/inst/job").exists());
    assert!(!f.path("pids/sandpit/inst").exists());
    assert!(f.path("pids/sandpit/other-instance").exists());
    // Nothing at all under cpu: still fine.
    assert!(!f.path("cpu,cpuacct/sandpit").exists());

    fs::remove_dir(f.path("memory/sandpit/inst/job")).unwrap();
    roots.remove_if_empty().unwrap();
    assert!(!f.path("memory/sandpit").exists());
}

#[test]
fn oom_kill_count_parsed_from_v1_oom_control() {
    let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
    assert_eq!(parse_oom_kill_count(text), Some(3));
}

#[test]
fn oom_kill_count_parsed_from_v2_memory_events() {
    let text = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n";
    assert_eq!(parse_oom_kill_count(text), Some(2));
    assert_eq!(parse_oom_kill_count("oom_kill_disable 0\n"), None);
    assert_eq!(parse_oom_kill_count(""), None);
}

#[test]
fn oom_events_file_points_at_the_memory_hierarchy() {
    let f = v1_all();
    f.write("memory/sandpit/inst/job/memory.oom_control", "oom_kill 0\n");
    fs::create_dir_all(f.path("pids/sandpit/inst/job")).unwrap();
    let roots = f.detect("inst").unwrap();
    assert_eq!(
        roots.get("job").oom_events_file(),
        Some(f.path("memory/sandpit/inst/job/memory.oom_control"))
    );
    assert_eq!(roots.get("gone").oom_events_file(), None);

    let v2 = Cgroup::from_dirs(CgroupVersion::V2, vec![PathBuf::from("/cg/x")]);
    assert_eq!(
        v2.oom_events_file(),
        Some(PathBuf::from("/cg/x/memory.events"))
    );
}

#[test]
fn cgroup_handle_round_trips_through_json() {
    let cg = Cgroup::from_dirs(
        CgroupVersion::V1,
        vec![
            PathBuf::from("/a/sandpit/i/j"),
            PathBuf::from("/b/sandpit/i/j"),
        ],
    );
    let json = serde_json::to_string(&cg).unwrap();
    assert_eq!(serde_json::from_str::<Cgroup>(&json).unwrap(), cg);
    let limits = Limits {
        memory_bytes: Some(1),
        pids: None,
        cpu_millis: Some(2),
    };
    let json = serde_json::to_string(&limits).unwrap();
    assert_eq!(serde_json::from_str::<Limits>(&json).unwrap(), limits);
}

/// Cleans up the real-kernel test's child, cgroup and parents even when an assertion fails.
struct RealGuard {
    roots: CgroupRoots,
    cgroup: Option<Cgroup>,
    child: Option<std::process::Child>,
}

impl Drop for RealGuard {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.destroy();
        }
        let _ = self.roots.remove_if_empty();
    }
}

#[test]
fn real_kernel_create_join_destroy() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test manages real cgroups and must run as root"
    );
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let instance = format!("test-{}-{nanos}", std::process::id());
    let roots = CgroupRoots::detect(
        Path::new("/proc/self/mountinfo"),
        Path::new("/proc/self/cgroup"),
        &instance,
    )
    .unwrap();
    let mut guard = RealGuard {
        roots: roots.clone(),
        cgroup: None,
        child: None,
    };
    let limits = Limits {
        memory_bytes: Some(64 << 20),
        pids: Some(32),
        cpu_millis: None,
    };
    let cg = roots.create("job", &limits).unwrap();
    guard.cgroup = Some(cg.clone());

    let (memory_file, pids_file) = match cg.version() {
        CgroupVersion::V2 => ("memory.max", "pids.max"),
        CgroupVersion::V1 => ("memory.limit_in_bytes", "pids.max"),
    };
    let read_limit = |file: &str| {
        cg.dirs()
            .iter()
            .map(|d| d.join(file))
            .find(|p| p.exists())
            .map(|p| fs::read_to_string(p).unwrap().trim().to_owned())
    };
    assert_eq!(read_limit(memory_file).as_deref(), Some("67108864"));
    assert_eq!(read_limit(pids_file).as_deref(), Some("32"));
    assert!(cg.oom_events_file().unwrap().exists());

    let child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = child.id();
    guard.child = Some(child);
    cg.join(pid).unwrap();
    assert!(cg.pids().unwrap().contains(&pid));

    cg.destroy().unwrap();
    for dir in cg.dirs() {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
    let status = guard.child.as_mut().unwrap().wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    guard.child = None;

    roots.remove_if_empty().unwrap();
    for dir in roots.dirs() {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}
