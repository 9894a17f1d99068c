//! The README's demo: a command runs in a fresh sandbox and its output comes back.

mod common;

use common::TestHome;
use sandpit::sandbox::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_prints_four_inside_a_fresh_sandbox() {
    let home = TestHome::new();
    let sandbox = home
        .sandboxes
        .get("smoke", common::options())
        .await
        .unwrap();
    let out = sandbox
        .exec(Command::argv(["python3", "-c", "print(2 + 2)"]))
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "4\n", "{out:?}");
    assert!(out.success());
    sandbox.destroy().await.unwrap();
}
