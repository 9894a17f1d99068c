//! Tests of the `id` module.

use super::*;

#[test]
fn ids_follow_dns_label_rules() {
    let long = "a".repeat(63);
    let too_long = "a".repeat(64);
    let cases: &[(&str, bool)] = &[
        ("demo", true),
        ("a", true),
        ("job-42", true),
        ("0abc", true),
        (&long, true),
        (&too_long, false),
        ("", false),
        ("Demo", false),
        ("-x", false),
        ("x-", false),
        ("a_b", false),
        ("a.b", false),
        ("../etc", false),
        ("a/b", false),
        ("é", false),
        ("a b", false),
    ];
    for (id, ok) in cases {
        assert_eq!(SandboxId::new(id).is_ok(), *ok, "{id:?}");
    }
}
