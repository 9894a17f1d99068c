//! Tests of the `parse` module.

use super::*;

#[test]
fn sizes_parse_with_binary_units() {
    let cases = [
        ("512M", Ok(512 << 20)),
        ("2G", Ok(2 << 30)),
        ("1.5GiB", Ok(3 << 29)),
        ("4096", Ok(4096)),
        ("64k", Ok(64 << 10)),
    ];
    for (input, want) in cases {
        assert_eq!(size(input), want, "{input}");
    }
    for bad in ["", "M", "12X", "-5M", "0"] {
        assert!(size(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn durations_parse_with_units() {
    let cases = [
        ("30s", Duration::from_secs(30)),
        ("10m", Duration::from_secs(600)),
        ("1h", Duration::from_secs(3600)),
        ("500ms", Duration::from_millis(500)),
        ("45", Duration::from_secs(45)),
    ];
    for (input, want) in cases {
        assert_eq!(duration(input), Ok(want), "{input}");
    }
    for bad in ["", "s", "5d", "-1s"] {
        assert!(duration(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn mounts_parse_host_sandbox_and_mode() {
    let m = mount("/srv/data:/data:ro").unwrap();
    assert_eq!(m.host, PathBuf::from("/srv/data"));
    assert_eq!(m.sandbox, PathBuf::from("/data"));
    assert!(m.read_only);
    assert!(!mount("/a:/b").unwrap().read_only);
    assert!(mount("/a").is_err());
    assert!(mount("/a:/b:xx").is_err());
}

#[test]
fn cpus_become_milli_cpus() {
    assert_eq!(cpus("1.5"), Ok(1500));
    assert_eq!(cpus("0.25"), Ok(250));
    assert!(cpus("0").is_err());
    assert!(cpus("lots").is_err());
}
