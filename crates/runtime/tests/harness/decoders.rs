//! The fuzz harness of everything a node decodes from a socket, shared by the default
//! property tests (`tests/fuzz_decoders.rs`) and the cargo-fuzz targets
//! (`fuzz/fuzz_targets/frame_decode.rs`, `client_codec.rs`), which include this file.
//!
//! Each `check_*` function takes untrusted bytes, runs the decoder on them, and panics
//! if the decoder panics or breaks one of its promises: a result that disagrees with a
//! reference reading of the bytes, a value that does not survive re-encoding, or a read
//! buffer that grows beyond what actually arrived. `seeds.rs` gives real encodings to
//! mutate, [`mutate`] applies one [`Mutation`] to them, and the replicated-command
//! checks come from the kv crate's harness (`commands.rs`).

#![allow(dead_code)] // each includer uses a different part

#[path = "../../../kv/tests/harness/commands.rs"]
pub mod commands;
#[path = "seeds.rs"]
pub mod seeds;

pub use seeds::*;

use bytes::{Bytes, BytesMut};
use kv::KvCommand;
use protocols::paxos::messages::PaxosMessage;
use protocols::raft::RaftMessage;
use protocols::zab::messages::ZabMessage;
use runtime::client::{ClientOp, ClientRequest, ClientResponse, MAX_CLIENT_FRAME};
use runtime::transport::frame::{read_frame, take_frame, FrameError, FRAME_HEADER_LEN};
use runtime::transport::handshake::{Handshake, HandshakeError, HANDSHAKE_LEN};
use runtime::transport::{codec, CodecError, DEFAULT_MAX_FRAME, FRAME_VERSION};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, ReadBuf};

/// How far a read buffer may grow beyond twice the bytes that arrived: a little
/// read-ahead room, never the length a header announces.
const READ_SLACK: usize = 256 * 1024;

// ---------------------------------------------------------------------------------
// Mutations

/// One change to a valid encoding.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// XOR the byte at `at` (modulo the length) with `mask` (made non-zero).
    Flip { at: usize, mask: u8 },
    /// Keep only the first `at` bytes (modulo the length + 1).
    Truncate { at: usize },
    /// Append these bytes.
    Extend { bytes: Vec<u8> },
    /// Insert these bytes at `at`.
    Insert { at: usize, bytes: Vec<u8> },
    /// Remove up to `len` bytes from `at`.
    Remove { at: usize, len: usize },
    /// Overwrite the `u32` length prefix of frame `frame` (modulo the frame count).
    SetLength { frame: usize, len: u32 },
    /// Overwrite the version byte of frame `frame`.
    SetVersion { frame: usize, version: u8 },
    /// Copy `len` bytes from `from` to `to` (a duplicated field or frame).
    Duplicate { from: usize, len: usize, to: usize },
}

/// The lengths a length prefix is most interesting at, for a reader accepting `max`.
pub fn interesting_lengths(max: usize) -> Vec<u32> {
    let max = u32::try_from(max).unwrap_or(u32::MAX);
    vec![
        0,
        1,
        2,
        max.saturating_sub(1),
        max,
        max.saturating_add(1),
        u32::MAX / 2,
        u32::MAX,
    ]
}

/// Applies `m` to `bytes`, whose frames start at the offsets `frames` (may be empty).
pub fn mutate(bytes: &mut Vec<u8>, frames: &[usize], m: &Mutation) {
    let n = bytes.len();
    match m {
        Mutation::Flip { at, mask } => {
            if n > 0 {
                bytes[at % n] ^= (*mask).max(1);
            }
        }
        Mutation::Truncate { at } => bytes.truncate(at % (n + 1)),
        Mutation::Extend { bytes: more } => bytes.extend_from_slice(more),
        Mutation::Insert { at, bytes: more } => {
            let at = at % (n + 1);
            bytes.splice(at..at, more.iter().copied());
        }
        Mutation::Remove { at, len } => {
            let at = at % (n + 1);
            let end = at.saturating_add(*len).min(n);
            bytes.drain(at..end);
        }
        Mutation::SetLength { frame, len } => {
            if let Some(&start) = frames.get(frame % frames.len().max(1)) {
                if let Some(slot) = bytes.get_mut(start..start + 4) {
                    slot.copy_from_slice(&len.to_le_bytes());
                }
            }
        }
        Mutation::SetVersion { frame, version } => {
            if let Some(&start) = frames.get(frame % frames.len().max(1)) {
                if let Some(slot) = bytes.get_mut(start + 4) {
                    *slot = *version;
                }
            }
        }
        Mutation::Duplicate { from, len, to } => {
            if n > 0 {
                let from = from % n;
                let piece = bytes[from..from.saturating_add(*len).min(n)].to_vec();
                let to = to % (n + 1);
                bytes.splice(to..to, piece);
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Frames

/// A reader that hands out its bytes at most `chunks[i]` at a time (cycling), always
/// ready: what a socket delivering a frame in pieces looks like.
struct Chunked<'a> {
    data: &'a [u8],
    chunks: &'a [usize],
    next: usize,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let chunk = match self.chunks {
            [] => usize::MAX,
            c => c[self.next % c.len()].max(1),
        };
        self.next += 1;
        let n = chunk.min(self.data.len()).min(buf.remaining());
        let (now, rest) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

/// Runs a future whose I/O is always ready (the [`Chunked`] reader) to completion.
fn run_ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// What a correct frame reader yields, step by step.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Frame(Vec<u8>),
    End,
    Truncated,
    TooLarge(usize),
    BadVersion(u8),
}

/// The frames in `data` as the format defines them (module docs of `frame.rs`).
fn reference_frames(data: &[u8], max: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut at = 0;
    loop {
        let rest = &data[at..];
        if rest.is_empty() {
            steps.push(Step::End);
            return steps;
        }
        if rest.len() < FRAME_HEADER_LEN {
            steps.push(Step::Truncated);
            return steps;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if rest[4] != FRAME_VERSION {
            steps.push(Step::BadVersion(rest[4]));
            return steps;
        }
        if len > max {
            steps.push(Step::TooLarge(len));
            return steps;
        }
        let Some(payload) = rest.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
            steps.push(Step::Truncated);
            return steps;
        };
        steps.push(Step::Frame(payload.to_vec()));
        at += FRAME_HEADER_LEN + len;
    }
}

fn step_of(result: Result<Option<Bytes>, FrameError>) -> Step {
    match result {
        Ok(Some(p)) => Step::Frame(p.to_vec()),
        Ok(None) => Step::End,
        Err(FrameError::Truncated) => Step::Truncated,
        Err(FrameError::TooLarge { len, .. }) => Step::TooLarge(len),
        Err(FrameError::BadVersion(v)) => Step::BadVersion(v),
        Err(FrameError::Io(e)) => panic!("an in-memory reader cannot fail: {e}"),
    }
}

/// Reads `data` as a stream of frames with `read_frame` (delivered in `chunks`) and
/// with `take_frame` (all at once): both must agree with the format's definition, and
/// the read buffer must never grow much beyond the bytes that arrived.
pub fn check_frame_stream(data: &[u8], max: usize, chunks: &[usize]) {
    let expected = reference_frames(data, max);
    let mut reader = Chunked {
        data,
        chunks,
        next: 0,
    };
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    loop {
        let step = step_of(run_ready(read_frame(&mut reader, max, &mut buf)));
        assert!(
            buf.capacity() <= 2 * data.len() + READ_SLACK,
            "read buffer of {} bytes for {} bytes received (max frame {max})",
            buf.capacity(),
            data.len()
        );
        let done = !matches!(step, Step::Frame(_));
        got.push(step);
        if done {
            break;
        }
    }
    assert_eq!(got, expected, "read_frame disagrees with the format");

    let mut all = BytesMut::from(data);
    let mut taken = Vec::new();
    loop {
        match take_frame(&mut all, max) {
            Ok(Some(p)) => taken.push(Step::Frame(p.to_vec())),
            Ok(None) => break,
            Err(e) => {
                taken.push(step_of(Err(e)));
                break;
            }
        }
    }
    // take_frame waits (Ok(None)) where a closed stream ends or is cut short.
    let want: Vec<Step> = expected
        .into_iter()
        .filter(|s| !matches!(s, Step::End | Step::Truncated))
        .collect();
    assert_eq!(taken, want, "take_frame disagrees with the format");
}

/// Every frame reader check on `data`: with the peer and client maximums and a tiny
/// one, delivered whole and in pieces sized by the data itself.
pub fn check_frames(data: &[u8]) {
    let chunks: Vec<usize> = data
        .iter()
        .take(8)
        .map(|&b| usize::from(b % 17) + 1)
        .collect();
    for max in [DEFAULT_MAX_FRAME, MAX_CLIENT_FRAME, HANDSHAKE_LEN, 0] {
        check_frame_stream(data, max, &[]);
        check_frame_stream(data, max, &chunks);
    }
}

// ---------------------------------------------------------------------------------
// Payloads

/// Decodes `data` as an `M` (with the plain decode and with the peer connections'
/// `decode_shared`, which must agree): an error, or a value that re-encodes (canonically, so
/// never longer than the input) to bytes that decode to the same value.
pub fn check_roundtrip<M>(data: &[u8]) -> Option<M>
where
    M: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let plain = codec::decode::<M>(data);
    // The socket's decode, whose commands are slices of the frame, reads the same.
    let shared = codec::decode_shared::<M>(&Bytes::copy_from_slice(data));
    assert_eq!(shared.as_ref().ok(), plain.as_ref().ok());
    let msg = match plain {
        Ok(m) => m,
        Err(CodecError::Postcard(_) | CodecError::TrailingBytes(_)) => return None,
        Err(e) => panic!("decoding cannot fail with {e}"),
    };
    let again = encoded(&msg);
    assert!(again.len() <= data.len(), "{msg:?} re-encodes longer");
    assert_eq!(codec::decode::<M>(&again).ok().as_ref(), Some(&msg));
    Some(msg)
}

/// The handshake decoder on `data`: its verdict follows the fixed layout exactly.
pub fn check_handshake(data: &[u8]) {
    let result = Handshake::decode(data);
    if data.len() != HANDSHAKE_LEN {
        assert_eq!(result, Err(HandshakeError::BadLength(data.len())));
        return;
    }
    if data[..8] != runtime::transport::handshake::MAGIC {
        assert_eq!(result, Err(HandshakeError::BadMagic));
        return;
    }
    match result {
        Ok(h) => {
            let mut out = BytesMut::new();
            h.encode(&mut out);
            assert_eq!(&out[..], data, "a handshake re-encodes to its bytes");
        }
        Err(HandshakeError::BadKind(k)) => {
            assert_eq!(k, data[8]);
            assert!(!(1..=3).contains(&k));
        }
        Err(e) => panic!("a {HANDSHAKE_LEN}-byte handshake with our magic: {e}"),
    }
}

/// Everything a node decodes from a peer payload: the three protocols' messages and
/// the handshake.
pub fn check_peer_payload(data: &[u8]) {
    check_roundtrip::<RaftMessage>(data);
    check_roundtrip::<ZabMessage>(data);
    check_roundtrip::<PaxosMessage>(data);
    check_handshake(data);
}

/// Everything decoded from a client payload: the client port's fast path
/// (`split_command`) must agree with the full decoder, a response must round-trip,
/// and the replicated command decoders must agree (see [`check_kv_command`]).
pub fn check_client_payload(data: &[u8]) {
    let frame = Bytes::copy_from_slice(data);
    let full = check_roundtrip::<ClientRequest>(data);
    let split = ClientRequest::split_command(&frame);
    match (&full, &split) {
        (
            Some(ClientRequest {
                id,
                op: ClientOp::Kv(c),
            }),
            Some((split_id, bytes)),
        ) => {
            assert_eq!(id, split_id);
            assert_eq!(KvCommand::decode_shared(bytes).as_ref(), Some(c));
        }
        (Some(ClientRequest { op, .. }), None) => {
            assert!(
                !matches!(op, ClientOp::Kv(_)),
                "split_command refused a command request the decoder reads: {op:?}"
            );
        }
        (_, Some(split)) => {
            panic!("split_command read {split:?} from a request the decoder refuses ({full:?})")
        }
        (None, None) => {}
    }
    check_roundtrip::<ClientResponse>(data);
    commands::check_command(data);
    commands::check_varints(data);
}

// ---------------------------------------------------------------------------------
// Entry points of the cargo-fuzz targets

/// Mutations read from fuzzer bytes, three bytes each: kind, where, what.
pub fn mutations_from_bytes(bytes: &[u8]) -> Vec<Mutation> {
    bytes
        .chunks_exact(3)
        .take(8)
        .map(|c| {
            let (at, b) = (usize::from(c[1]), c[2]);
            match c[0] % 8 {
                0 => Mutation::Flip { at, mask: b },
                1 => Mutation::Truncate { at },
                2 => Mutation::Extend {
                    bytes: vec![b; at % 11 + 1],
                },
                3 => Mutation::Insert {
                    at,
                    bytes: vec![0x80 | b; usize::from(b % 11) + 1],
                },
                4 => Mutation::Remove {
                    at,
                    len: usize::from(b % 16) + 1,
                },
                5 => {
                    let lengths = interesting_lengths(DEFAULT_MAX_FRAME);
                    let len = lengths.get(usize::from(b) % 9).copied();
                    Mutation::SetLength {
                        frame: at,
                        len: len.unwrap_or(u32::from(b) << (at % 25)),
                    }
                }
                6 => Mutation::SetVersion {
                    frame: at,
                    version: b,
                },
                _ => Mutation::Duplicate {
                    from: at,
                    len: usize::from(b % 64) + 1,
                    to: usize::from(b),
                },
            }
        })
        .collect()
}

/// Fuzzer bytes as raw input (first byte even), or as a choice of seeds and the
/// mutations to apply to them, framed (first byte odd).
fn fuzz_input(data: &[u8], seeds: &[Vec<u8>]) -> (Vec<u8>, bool) {
    match data.split_first() {
        Some((&choice, rest)) if choice % 2 == 1 && !seeds.is_empty() => {
            let (pick, rest) = rest.split_first().unwrap_or((&0, &[]));
            let chosen: Vec<Vec<u8>> = (0..usize::from(choice / 2 % 3) + 1)
                .map(|i| seeds[(usize::from(*pick) + 7 * i) % seeds.len()].clone())
                .collect();
            let (mut wire, starts) = framed(&chosen);
            for m in mutations_from_bytes(rest) {
                mutate(&mut wire, &starts, &m);
            }
            (wire, true)
        }
        _ => (data.to_vec(), false),
    }
}

/// The `frame_decode` target: frames and the peer payloads they carry.
pub fn fuzz_frames(data: &[u8]) {
    let (wire, framed) = fuzz_input(data, &peer_payloads());
    check_frames(&wire);
    check_peer_payload(&wire);
    if framed {
        let mut buf = BytesMut::from(&wire[..]);
        while let Ok(Some(payload)) = take_frame(&mut buf, DEFAULT_MAX_FRAME) {
            check_peer_payload(&payload);
        }
    }
}

/// The `client_codec` target: client frames, requests, responses and commands.
pub fn fuzz_client(data: &[u8]) {
    let (wire, framed) = fuzz_input(data, &client_payloads());
    check_client_payload(&wire);
    if framed {
        check_frames(&wire);
        let mut buf = BytesMut::from(&wire[..]);
        while let Ok(Some(payload)) = take_frame(&mut buf, MAX_CLIENT_FRAME) {
            check_client_payload(&payload);
        }
    }
}
