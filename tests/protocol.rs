//! The agent's socket treats its input as hostile: raw-socket tests that send bad, oversized,
//! truncated, stalled and out-of-order frames, and check that the agent refuses them and goes on
//! serving everyone else (the same agent process, not a woken replacement).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::TestHome;
use sandpit::protocol::{
    self, AgentMessage, ClientMessage, CommandLine, ErrorCode, ExecRequest, MAX_FRAME_LEN, VERSION,
};
use sandpit::sandbox::{Command, Sandbox};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

/// Replies are expected within this; the agent's own request timeout is 10 s, so a reply that
/// only comes from that timeout fails the tests that care.
const REPLY_WITHIN: Duration = Duration::from_secs(5);

/// An owned view of what the agent sent, or how the connection ended.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Hello(u32),
    Pong,
    Error(ErrorCode, String),
    Other(String),
    /// End of stream (or a reset after the agent closed with our bytes unread).
    Closed,
}

struct Fixture {
    home: TestHome,
    sandbox: Sandbox,
    socket: PathBuf,
    agent: (u64, u64),
}

impl Fixture {
    async fn new(id: &str) -> Self {
        let home = TestHome::new();
        let sandbox = home.sandboxes.get(id, common::options()).await.unwrap();
        let socket = home.path().join("sandboxes").join(id).join("agent.sock");
        let agent = recorded_agent(&home, id);
        Self {
            home,
            sandbox,
            socket,
            agent,
        }
    }

    async fn connect(&self) -> UnixStream {
        UnixStream::connect(&self.socket)
            .await
            .expect("connect to the agent socket")
    }

    /// The same agent process still runs and serves a normal exec.
    async fn assert_still_serving(&self) {
        let out = tokio::time::timeout(REPLY_WITHIN, self.sandbox.exec(Command::new("true")))
            .await
            .expect("an exec after the bad connection hung")
            .expect("an exec after the bad connection failed");
        assert!(out.success(), "{out:?}");
        assert_eq!(
            recorded_agent(&self.home, self.sandbox.id()),
            self.agent,
            "the agent died and was woken again"
        );
    }
}

fn recorded_agent(home: &TestHome, id: &str) -> (u64, u64) {
    let record = home.record(id);
    (
        record["agent"]["pid"].as_u64().unwrap(),
        record["agent"]["start_time"].as_u64().unwrap(),
    )
}

fn frame(msg: &ClientMessage<'_>) -> Vec<u8> {
    let mut buf = Vec::new();
    protocol::encode(msg, &mut buf).unwrap();
    buf
}

async fn send(stream: &mut UnixStream, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("write to the agent");
}

async fn recv(stream: &mut UnixStream) -> Reply {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(REPLY_WITHIN, protocol::read_frame(stream, &mut buf))
        .await
        .expect("the agent neither replied nor closed the connection in time");
    match read {
        Ok(true) => {}
        Ok(false) | Err(_) => return Reply::Closed,
    }
    match protocol::decode::<AgentMessage>(&buf).expect("the agent sent an undecodable frame") {
        AgentMessage::Hello { version } => Reply::Hello(version),
        AgentMessage::Pong => Reply::Pong,
        AgentMessage::Error { code, message } => Reply::Error(code, message),
        other => Reply::Other(format!("{other:?}")),
    }
}

fn is_bad_frame(reply: &Reply) -> bool {
    matches!(reply, Reply::Error(ErrorCode::BadFrame, _))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_are_refused_and_the_agent_keeps_serving() {
    let fx = Fixture::new("garbage").await;
    let garbage: [&[u8]; 4] = [
        // Well-framed payloads that are not messages: bad varint, unknown variant, empty.
        &[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff],
        &[0, 0, 0, 1, 0x7f],
        &[0, 0, 0, 0],
        // Not the protocol at all.
        b"GET / HTTP/1.1\r\nHost: sandpit\r\n\r\n",
    ];
    for bytes in garbage {
        let mut conn = fx.connect().await;
        send(&mut conn, bytes).await;
        let reply = recv(&mut conn).await;
        assert!(
            is_bad_frame(&reply) || reply == Reply::Closed,
            "{bytes:?} got {reply:?}"
        );
        if reply != Reply::Closed {
            assert_eq!(recv(&mut conn).await, Reply::Closed, "after {bytes:?}");
        }
    }
    // The same garbage after a valid hello.
    let mut conn = fx.connect().await;
    send(
        &mut conn,
        &frame(&ClientMessage::Hello { version: VERSION }),
    )
    .await;
    assert_eq!(recv(&mut conn).await, Reply::Hello(VERSION));
    send(&mut conn, &[0, 0, 0, 3, 0xff, 0xff, 0xff]).await;
    let reply = recv(&mut conn).await;
    assert!(is_bad_frame(&reply) || reply == Reply::Closed, "{reply:?}");
    fx.assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_length_prefix_is_refused_without_reading_the_body() {
    let fx = Fixture::new("oversized").await;
    let mut conn = fx.connect().await;
    // Only the prefix: an agent that waited for the announced body would not answer until its
    // request timeout.
    let started = Instant::now();
    send(&mut conn, &((MAX_FRAME_LEN + 1) as u32).to_be_bytes()).await;
    let reply = recv(&mut conn).await;
    assert!(
        is_bad_frame(&reply) || reply == Reply::Closed,
        "got {reply:?}"
    );
    assert!(started.elapsed() < REPLY_WITHIN);
    if reply != Reply::Closed {
        assert_eq!(recv(&mut conn).await, Reply::Closed);
    }

    // The same after a valid hello, with u32::MAX.
    let mut conn = fx.connect().await;
    send(
        &mut conn,
        &frame(&ClientMessage::Hello { version: VERSION }),
    )
    .await;
    assert_eq!(recv(&mut conn).await, Reply::Hello(VERSION));
    send(&mut conn, &u32::MAX.to_be_bytes()).await;
    let reply = recv(&mut conn).await;
    assert!(is_bad_frame(&reply) || reply == Reply::Closed, "{reply:?}");
    fx.assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frame_then_close_leaves_the_agent_serving() {
    let fx = Fixture::new("truncated").await;
    for partial in [&[0u8, 0][..], &[0, 0, 0, 50, 1, 2, 3][..]] {
        let mut conn = fx.connect().await;
        let mut bytes = frame(&ClientMessage::Hello { version: VERSION });
        bytes.extend_from_slice(partial);
        send(&mut conn, &bytes).await;
        conn.shutdown().await.unwrap();
        assert_eq!(recv(&mut conn).await, Reply::Hello(VERSION));
        let reply = recv(&mut conn).await;
        assert!(is_bad_frame(&reply) || reply == Reply::Closed, "{reply:?}");
        drop(conn);
    }
    // And a connection dropped in the middle of the hello itself.
    let mut conn = fx.connect().await;
    let hello = frame(&ClientMessage::Hello { version: VERSION });
    send(&mut conn, &hello[..hello.len() - 1]).await;
    drop(conn);
    fx.assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_do_not_block_others() {
    let fx = Fixture::new("stalled").await;
    // One stalls inside a length prefix, one inside a body after its hello was answered.
    let mut in_prefix = fx.connect().await;
    send(&mut in_prefix, &[0, 0]).await;
    let mut in_body = fx.connect().await;
    let mut bytes = frame(&ClientMessage::Hello { version: VERSION });
    bytes.extend_from_slice(&[0, 0, 0, 100, 1, 2]);
    send(&mut in_body, &bytes).await;
    assert_eq!(recv(&mut in_body).await, Reply::Hello(VERSION));

    // While both are held open, other clients get through.
    let out = tokio::time::timeout(
        REPLY_WITHIN,
        fx.sandbox.exec(Command::shell("echo through")),
    )
    .await
    .expect("an exec was blocked by a stalled client")
    .unwrap();
    assert_eq!(out.stdout, b"through\n");
    let mut other = fx.connect().await;
    let mut bytes = frame(&ClientMessage::Hello { version: VERSION });
    bytes.extend(frame(&ClientMessage::Ping));
    send(&mut other, &bytes).await;
    assert_eq!(recv(&mut other).await, Reply::Hello(VERSION));
    assert_eq!(recv(&mut other).await, Reply::Pong);
    fx.assert_still_serving().await;
    drop((in_prefix, in_body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_with_another_version_gets_version_mismatch() {
    let fx = Fixture::new("version").await;
    for version in [VERSION + 1, 0, u32::MAX] {
        let mut conn = fx.connect().await;
        send(&mut conn, &frame(&ClientMessage::Hello { version })).await;
        match recv(&mut conn).await {
            Reply::Error(ErrorCode::VersionMismatch, message) => {
                assert!(message.contains(&version.to_string()), "{message}")
            }
            other => panic!("version {version}: got {other:?}"),
        }
        assert_eq!(recv(&mut conn).await, Reply::Closed);
    }
    fx.assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_before_hello_are_refused() {
    let fx = Fixture::new("no-hello").await;
    let marker = fx
        .home
        .path()
        .join("sandboxes/no-hello/workspace/must-not-exist");
    let exec = ClientMessage::Exec(ExecRequest {
        session: None,
        command: CommandLine::Shell {
            script: "touch /workspace/must-not-exist".into(),
            args: Vec::new(),
        },
        env: Vec::new(),
        cwd: None,
        stdin: false,
        timeout_ms: None,
    });
    for msg in [ClientMessage::Ping, exec, ClientMessage::CloseStdin] {
        let mut conn = fx.connect().await;
        send(&mut conn, &frame(&msg)).await;
        let reply = recv(&mut conn).await;
        assert!(
            matches!(reply, Reply::Error(..)),
            "{msg:?} before hello got {reply:?}"
        );
        assert_eq!(recv(&mut conn).await, Reply::Closed);
    }
    fx.assert_still_serving().await;
    assert!(!marker.exists(), "an exec ran without a hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_out_of_place_after_hello_are_refused() {
    let fx = Fixture::new("out-of-place").await;
    for msg in [
        ClientMessage::Stdin(b"data"),
        ClientMessage::CloseStdin,
        ClientMessage::Signal { signal: 15 },
        ClientMessage::Hello { version: VERSION },
    ] {
        let mut conn = fx.connect().await;
        let mut bytes = frame(&ClientMessage::Hello { version: VERSION });
        bytes.extend(frame(&msg));
        send(&mut conn, &bytes).await;
        assert_eq!(recv(&mut conn).await, Reply::Hello(VERSION));
        let reply = recv(&mut conn).await;
        assert!(is_bad_frame(&reply), "{msg:?} after hello got {reply:?}");
        assert_eq!(recv(&mut conn).await, Reply::Closed);
    }
    fx.assert_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_gets_pong() {
    let fx = Fixture::new("ping").await;
    let mut conn = fx.connect().await;
    send(
        &mut conn,
        &frame(&ClientMessage::Hello { version: VERSION }),
    )
    .await;
    assert_eq!(recv(&mut conn).await, Reply::Hello(VERSION));
    for _ in 0..3 {
        send(&mut conn, &frame(&ClientMessage::Ping)).await;
        assert_eq!(recv(&mut conn).await, Reply::Pong);
    }
    conn.shutdown().await.unwrap();
    assert_eq!(recv(&mut conn).await, Reply::Closed);
    fx.sandbox.ping().await.unwrap();
    fx.assert_still_serving().await;
}
