//! Codec: protocol messages to and from bytes.
//!
//! Concern: the one serialisation format shared by all three protocols, so that message
//! sizes (and thus throughput) are compared on equal terms. It is
//! [postcard](https://docs.rs/postcard) (varint integers, no field names, no padding),
//! driven by the messages' `serde` derives. Decoding is strict: trailing bytes after a
//! complete message are an error, so a frame carries exactly one message.

use super::frame::{begin_frame, finish_frame, FrameError};
use bytes::{BufMut, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use thiserror::Error;

/// Why a message could not be encoded or decoded.
#[derive(Debug, Error)]
pub enum CodecError {
    /// postcard refused the value or the bytes.
    #[error("postcard: {0}")]
    Postcard(#[from] postcard::Error),
    /// The bytes held a complete message followed by this many extra bytes.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The encoded message does not fit in a frame.
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
}

/// Appends the postcard encoding of `msg` to `out`. On error `out` is left as it was.
pub fn encode<M: Serialize>(msg: &M, out: &mut BytesMut) -> Result<(), CodecError> {
    let start = out.len();
    match postcard::to_io(msg, out.writer()) {
        Ok(_) => Ok(()),
        Err(e) => {
            out.truncate(start);
            Err(e.into())
        }
    }
}

/// Decodes exactly one message from `bytes`.
pub fn decode<M: DeserializeOwned>(bytes: &[u8]) -> Result<M, CodecError> {
    let (msg, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(msg)
    } else {
        Err(CodecError::TrailingBytes(rest.len()))
    }
}

/// Decodes exactly one message from the received frame `payload`; the client commands
/// it carries are slices of `payload` rather than copies ([`protocols::wire`]).
pub fn decode_shared<M: DeserializeOwned>(payload: &bytes::Bytes) -> Result<M, CodecError> {
    protocols::wire::decode_sharing(payload, decode)
}

/// Appends one complete frame carrying `msg` to `out`, refusing payloads over `max`
/// bytes. On error `out` is left as it was.
pub fn encode_frame<M: Serialize>(
    msg: &M,
    max: usize,
    out: &mut BytesMut,
) -> Result<(), CodecError> {
    let start = begin_frame(out);
    if let Err(e) = encode(msg, out) {
        out.truncate(start);
        return Err(e);
    }
    finish_frame(out, start, max)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::frame::{read_frame, FRAME_HEADER_LEN};
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Msg {
        Ping(u64),
        Data { term: u64, payload: Vec<u8> },
    }

    #[test]
    fn round_trip() {
        let mut out = BytesMut::new();
        let msg = Msg::Data {
            term: 7,
            payload: vec![1, 2, 3],
        };
        encode(&msg, &mut out).unwrap();
        assert_eq!(decode::<Msg>(&out).unwrap(), msg);
    }

    #[test]
    fn decode_shared_gives_commands_as_slices_of_the_frame() {
        let cmd = protocols::Command {
            id: protocols::RequestId { origin: 1, seq: 2 },
            data: bytes::Bytes::from_static(b"put k 256 bytes of value"),
        };
        let mut out = BytesMut::new();
        encode(&vec![cmd.clone(), cmd.clone()], &mut out).unwrap();
        let frame = out.freeze();
        let decoded: Vec<protocols::Command> = decode_shared(&frame).unwrap();
        assert_eq!(decoded, vec![cmd.clone(), cmd.clone()]);
        for c in &decoded {
            assert!(frame.as_ptr_range().contains(&c.data.as_ptr()));
        }
        // The plain decode copies, as before.
        let copied: Vec<protocols::Command> = decode(&frame).unwrap();
        assert_eq!(copied, decoded);
        assert!(!frame.as_ptr_range().contains(&copied[0].data.as_ptr()));
        // Garbage is still an error, not a panic.
        assert!(decode_shared::<Vec<protocols::Command>>(&frame.slice(..frame.len() - 1)).is_err());
    }

    #[test]
    fn trailing_bytes_and_garbage_are_errors_not_panics() {
        let mut out = BytesMut::new();
        encode(&Msg::Ping(1), &mut out).unwrap();
        out.put_u8(0);
        assert!(matches!(
            decode::<Msg>(&out),
            Err(CodecError::TrailingBytes(1))
        ));
        assert!(decode::<Msg>(&[9, 9, 9]).is_err());
        assert!(decode::<Msg>(&[]).is_err());
        // A huge announced vector length must not allocate or panic.
        assert!(decode::<Msg>(&[1, 7, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }

    #[tokio::test]
    async fn encode_frame_reads_back_through_read_frame() {
        let mut out = BytesMut::new();
        encode_frame(&Msg::Ping(5), 64, &mut out).unwrap();
        encode_frame(&Msg::Ping(6), 64, &mut out).unwrap();
        let mut reader: &[u8] = &out;
        let mut buf = BytesMut::new();
        let first = read_frame(&mut reader, 64, &mut buf)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(decode::<Msg>(&first).unwrap(), Msg::Ping(5));
        let second = read_frame(&mut reader, 64, &mut buf)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(decode::<Msg>(&second).unwrap(), Msg::Ping(6));
    }

    #[test]
    fn encode_frame_refuses_oversized_and_leaves_buffer_untouched() {
        let mut out = BytesMut::new();
        let big = Msg::Data {
            term: 1,
            payload: vec![0; 100],
        };
        assert!(encode_frame(&big, 10, &mut out).is_err());
        assert!(out.is_empty());
        encode_frame(&Msg::Ping(1), 10, &mut out).unwrap();
        assert!(out.len() > FRAME_HEADER_LEN);
    }
}
