//! Framing: how one message is cut out of a TCP byte stream.
//!
//! Concern: the wire framing shared by the node-to-node transport and the client port.
//! A frame is a 5-byte header followed by the payload:
//!
//! ```text
//! +----------------------+-------------+-------------------+
//! | length: u32 LE       | version: u8 | payload           |
//! | (payload bytes only) | (= 1)       | (`length` bytes)  |
//! +----------------------+-------------+-------------------+
//! ```
//!
//! The length counts the payload only, never the header. A reader refuses a frame whose
//! version it does not know or whose length exceeds its configured maximum *before*
//! buffering the payload, so a hostile peer cannot make it allocate more than the
//! maximum; and its buffer grows with the bytes that arrive, not with the length a
//! header announces, so a peer that sends a header and stops costs a few kilobytes.
//! This is the length-prefix scheme of tokio-rs/mini-redis's `connection.rs` and of
//! ZooKeeper's quorum packets (a 4-byte length, checked against `jute.maxbuffer`), with
//! a version byte so the format can evolve.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The only frame version this code speaks.
pub const FRAME_VERSION: u8 = 1;

/// Bytes in a frame header: the `u32` length and the version byte.
pub const FRAME_HEADER_LEN: usize = 5;

/// The default largest payload a reader accepts: 16 MiB.
pub const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// The spare room a reader keeps in its buffer so one `read` can pull in many frames.
const READ_CHUNK: usize = 64 * 1024;

/// Below this much spare room, a reader grows its buffer before reading, so that a
/// nearly full buffer never degrades into many tiny reads.
const MIN_READ_ROOM: usize = 4 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The stream ended in the middle of a frame.
    #[error("stream ended in the middle of a frame")]
    Truncated,
    /// The header announces a payload larger than the reader accepts.
    #[error("frame of {len} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// The announced payload length.
        len: usize,
        /// The largest payload accepted.
        max: usize,
    },
    /// The header carries a version this code does not speak.
    #[error("unknown frame version {0} (expected {FRAME_VERSION})")]
    BadVersion(u8),
    /// The underlying stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// The header of a frame whose first bytes are in `buf`, once enough of them are there:
/// `Ok(None)` while fewer than [`FRAME_HEADER_LEN`] bytes are buffered.
fn parse_header(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let Some(header) = buf.get(..FRAME_HEADER_LEN) else {
        return Ok(None);
    };
    let mut header = header;
    let len = header.get_u32_le() as usize;
    let version = header.get_u8();
    if version != FRAME_VERSION {
        return Err(FrameError::BadVersion(version));
    }
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(Some(len))
}

/// Reads the next frame's payload from `reader`.
///
/// `buf` is the connection's reusable read buffer: bytes read past the end of this frame
/// stay in it for the next call, so one `read` syscall can serve many small frames.
/// Returns `Ok(None)` on a clean end of stream between frames, and
/// [`FrameError::Truncated`] when the stream ends inside one. Payloads longer than `max`
/// are refused from their header alone.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
    buf: &mut BytesMut,
) -> Result<Option<Bytes>, FrameError> {
    loop {
        if let Some(len) = parse_header(buf, max)? {
            let total = FRAME_HEADER_LEN + len;
            if buf.len() >= total {
                let mut frame = buf.split_to(total);
                frame.advance(FRAME_HEADER_LEN);
                return Ok(Some(frame.freeze()));
            }
            // Grow with what arrives, never with what the header announces: room for
            // at most one more read chunk of this frame, or as much as is buffered
            // already (so a large frame still costs few reallocations). A header
            // announcing the maximum thus costs nothing until its payload comes.
            let rest = total - buf.len();
            buf.reserve(rest.min(READ_CHUNK.max(buf.len())));
        }
        if buf.capacity() - buf.len() < MIN_READ_ROOM {
            buf.reserve(READ_CHUNK);
        }
        if reader.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
    }
}

/// Takes the next complete frame's payload out of `buf` without reading: `Ok(None)`
/// until one is wholly buffered. Lets a reader handle every frame one `read` brought
/// in before it waits again.
pub fn take_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, FrameError> {
    match parse_header(buf, max)? {
        Some(len) if buf.len() >= FRAME_HEADER_LEN + len => {
            let mut frame = buf.split_to(FRAME_HEADER_LEN + len);
            frame.advance(FRAME_HEADER_LEN);
            Ok(Some(frame.freeze()))
        }
        _ => Ok(None),
    }
}

/// Appends one frame carrying `payload` to `out`.
///
/// Fails only if the payload cannot be described by a `u32` length.
pub fn write_frame(payload: &[u8], out: &mut BytesMut) -> Result<(), FrameError> {
    let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge {
        len: payload.len(),
        max: u32::MAX as usize,
    })?;
    out.reserve(FRAME_HEADER_LEN + payload.len());
    out.put_u32_le(len);
    out.put_u8(FRAME_VERSION);
    out.put_slice(payload);
    Ok(())
}

/// Starts a frame in `out` whose payload the caller appends next; returns the offset to
/// hand to [`finish_frame`]. Lets an encoder write straight into the output buffer.
pub fn begin_frame(out: &mut BytesMut) -> usize {
    let start = out.len();
    out.put_u32_le(0);
    out.put_u8(FRAME_VERSION);
    start
}

/// Completes the frame begun at `start` by [`begin_frame`]: writes its length, which
/// must not exceed `max`. On error the partial frame is removed from `out`.
pub fn finish_frame(out: &mut BytesMut, start: usize, max: usize) -> Result<(), FrameError> {
    let len = out.len().saturating_sub(start + FRAME_HEADER_LEN);
    let limit = max.min(u32::MAX as usize);
    if len > limit {
        out.truncate(start);
        return Err(FrameError::TooLarge { len, max: limit });
    }
    match out.get_mut(start..start + 4) {
        Some(slot) => slot.copy_from_slice(&(len as u32).to_le_bytes()),
        None => {
            out.truncate(start);
            return Err(FrameError::Truncated);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(payloads: &[&[u8]]) -> BytesMut {
        let mut out = BytesMut::new();
        for p in payloads {
            write_frame(p, &mut out).unwrap();
        }
        out
    }

    #[tokio::test]
    async fn reads_back_what_was_written_then_clean_eof() {
        let wire = frames(&[b"hello", b"", b"world!"]);
        let mut reader: &[u8] = &wire;
        let mut buf = BytesMut::new();
        assert_eq!(
            read_frame(&mut reader, 64, &mut buf)
                .await
                .unwrap()
                .unwrap(),
            &b"hello"[..]
        );
        assert_eq!(
            read_frame(&mut reader, 64, &mut buf)
                .await
                .unwrap()
                .unwrap(),
            &b""[..]
        );
        assert_eq!(
            read_frame(&mut reader, 64, &mut buf)
                .await
                .unwrap()
                .unwrap(),
            &b"world!"[..]
        );
        assert!(read_frame(&mut reader, 64, &mut buf)
            .await
            .unwrap()
            .is_none());
    }

    #[test]
    fn take_frame_returns_only_whole_frames() {
        let mut buf = frames(&[b"ab", b"cde"]);
        buf.truncate(buf.len() - 1);
        assert_eq!(take_frame(&mut buf, 64).unwrap().unwrap(), &b"ab"[..]);
        assert!(take_frame(&mut buf, 64).unwrap().is_none());
        buf.extend_from_slice(b"e");
        assert_eq!(take_frame(&mut buf, 64).unwrap().unwrap(), &b"cde"[..]);
        assert!(buf.is_empty());
    }

    #[test]
    fn header_layout_is_length_le_then_version() {
        let wire = frames(&[b"abc"]);
        assert_eq!(
            &wire[..],
            &[3, 0, 0, 0, FRAME_VERSION, b'a', b'b', b'c'][..]
        );
    }

    #[tokio::test]
    async fn truncated_payload_and_truncated_header_are_errors() {
        let wire = frames(&[b"hello"]);
        for cut in [1, 4, 5, 7] {
            let mut reader: &[u8] = &wire[..cut];
            let mut buf = BytesMut::new();
            let err = read_frame(&mut reader, 64, &mut buf).await.unwrap_err();
            assert!(matches!(err, FrameError::Truncated), "cut at {cut}: {err}");
        }
    }

    #[tokio::test]
    async fn oversized_frame_is_refused_from_its_header() {
        let mut reader: &[u8] = &[0xff, 0xff, 0xff, 0xff, FRAME_VERSION];
        let mut buf = BytesMut::new();
        let err = read_frame(&mut reader, 1024, &mut buf).await.unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                len: 0xffff_ffff,
                max: 1024
            }
        ));
    }

    #[tokio::test]
    async fn unknown_version_is_refused() {
        let mut reader: &[u8] = &[1, 0, 0, 0, 7, 0];
        let mut buf = BytesMut::new();
        let err = read_frame(&mut reader, 1024, &mut buf).await.unwrap_err();
        assert!(matches!(err, FrameError::BadVersion(7)));
    }

    #[test]
    fn begin_and_finish_frame_patch_the_length() {
        let mut out = BytesMut::new();
        let start = begin_frame(&mut out);
        out.put_slice(b"xyz");
        finish_frame(&mut out, start, 16).unwrap();
        assert_eq!(&out[..], &frames(&[b"xyz"])[..]);

        let start = begin_frame(&mut out);
        out.put_slice(&[0; 17]);
        assert!(matches!(
            finish_frame(&mut out, start, 16),
            Err(FrameError::TooLarge { len: 17, max: 16 })
        ));
        assert_eq!(
            &out[..],
            &frames(&[b"xyz"])[..],
            "the refused frame is removed"
        );
    }
}
