//! Tests of the `protocol` module.

use super::*;

async fn round_trip(msg: &AgentMessage<'_>) -> Vec<u8> {
    let mut frame = Vec::new();
    encode(msg, &mut frame).unwrap();
    let mut reader = &frame[..];
    let mut payload = Vec::new();
    assert!(read_frame(&mut reader, &mut payload).await.unwrap());
    payload
}

#[tokio::test]
async fn output_chunk_survives_a_round_trip_byte_for_byte() {
    let data: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let msg = AgentMessage::Output {
        stream: OutputStream::Stderr,
        seq: 7,
        data: &data,
    };
    let payload = round_trip(&msg).await;
    assert_eq!(decode::<AgentMessage>(&payload).unwrap(), msg);
}

#[tokio::test]
async fn oversized_frame_is_refused_before_reading_its_body() {
    let frame = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes();
    let mut reader = &frame[..];
    let err = read_frame(&mut reader, &mut Vec::new()).await.unwrap_err();
    assert!(matches!(err, ProtocolError::FrameTooLarge { .. }), "{err}");
}

#[tokio::test]
async fn truncated_frame_is_an_error_not_an_end_of_stream() {
    let mut frame = Vec::new();
    encode(&ClientMessage::Ping, &mut frame).unwrap();
    frame.extend_from_slice(&[0, 0, 0, 9, 1, 2]);
    let mut reader = &frame[..];
    let mut payload = Vec::new();
    assert!(read_frame(&mut reader, &mut payload).await.unwrap());
    let err = read_frame(&mut reader, &mut payload).await.unwrap_err();
    assert!(matches!(err, ProtocolError::Truncated), "{err}");
}

#[tokio::test]
async fn frame_reader_splits_a_byte_stream_into_frames() {
    let big: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let messages = [
        AgentMessage::Pong,
        AgentMessage::Output {
            stream: OutputStream::Stdout,
            seq: 0,
            data: &big,
        },
        AgentMessage::StdinConsumed { bytes: 9 },
    ];
    let mut stream = Vec::new();
    let mut frame = Vec::new();
    for msg in &messages {
        encode(msg, &mut frame).unwrap();
        stream.extend_from_slice(&frame);
    }
    // Deliver the bytes in awkward pieces, as a socket may.
    let (mut tx, mut rx) = tokio::io::duplex(1000);
    let writer = tokio::spawn(async move {
        for piece in stream.chunks(777) {
            tokio::io::AsyncWriteExt::write_all(&mut tx, piece)
                .await
                .unwrap();
        }
    });
    let mut frames = FrameReader::new();
    for want in &messages {
        let payload = frames.next(&mut rx).await.unwrap().unwrap();
        assert_eq!(&decode::<AgentMessage>(payload).unwrap(), want);
    }
    writer.await.unwrap();
    assert!(frames.next(&mut rx).await.unwrap().is_none());
}

#[tokio::test]
async fn frame_reader_refuses_oversized_frames_and_truncation() {
    let mut reader = &((MAX_FRAME_LEN + 1) as u32).to_be_bytes()[..];
    let err = FrameReader::new().next(&mut reader).await.unwrap_err();
    assert!(matches!(err, ProtocolError::FrameTooLarge { .. }), "{err}");
    let mut reader = &[0u8, 0, 0, 5, 1][..];
    let err = FrameReader::new().next(&mut reader).await.unwrap_err();
    assert!(matches!(err, ProtocolError::Truncated), "{err}");
}

#[tokio::test]
async fn garbage_payload_is_a_decode_error() {
    let err = decode::<ClientMessage>(&[0xff, 0xff, 0xff]).unwrap_err();
    assert!(matches!(err, ProtocolError::Decode(_)), "{err}");
}

#[test]
fn shell_status_follows_shell_conventions() {
    let base = ExitReport {
        exit_code: None,
        signal: None,
        timed_out: false,
        oom_killed: false,
        duration_us: 0,
    };
    let cases = [
        (
            ExitReport {
                exit_code: Some(3),
                ..base
            },
            3,
        ),
        (
            ExitReport {
                signal: Some(9),
                ..base
            },
            137,
        ),
        (
            ExitReport {
                signal: Some(9),
                timed_out: true,
                ..base
            },
            124,
        ),
    ];
    for (report, want) in cases {
        assert_eq!(report.shell_status(), want, "{report:?}");
    }
}
