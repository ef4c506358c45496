//! Fuzzing, stable edition: everything a node decodes from a socket, fed thousands of
//! random and mutated inputs on every `cargo nextest run` (issue 23, "Decoders fuzzed").
//!
//! - frames (`read_frame` delivered in random pieces, `take_frame`), against a reference
//!   reading of the format, with a bound on the read buffer;
//! - the peer codec: Raft, ZAB and Paxos messages and the handshake;
//! - the client codec: requests (and the port's `split_command` fast path), responses,
//!   and the replicated `KvCommand` decoders.
//!
//! Inputs are random bytes and real encodings of real messages, framed or not, then
//! mutated: bits flipped, cut, extended, bytes inserted, removed or duplicated, a
//! length prefix set to 0, 1, the maximum, just above it or `u32::MAX`, the version
//! byte changed. The checks live in `harness/decoders.rs`, shared with the cargo-fuzz
//! targets in `fuzz/` (nightly: `cargo +nightly fuzz run frame_decode`).
//!
//! Case counts keep the file to a few seconds; `PROPTEST_CASES=100000 cargo nextest run
//! -p runtime --test fuzz_decoders` runs longer (proptest reads the variable).

#[path = "harness/decoders.rs"]
mod harness;

use bytes::{Bytes, BytesMut};
use harness::*;
use proptest::prelude::*;
use proptest::sample::select;
use runtime::client::{ClientRequest, MAX_CLIENT_FRAME};
use runtime::transport::frame::read_frame;
use runtime::transport::{FrameError, DEFAULT_MAX_FRAME};

/// `cases` unless `PROPTEST_CASES` says otherwise.
fn config(cases: u32) -> ProptestConfig {
    let from_env = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    ProptestConfig {
        cases: from_env.unwrap_or(cases),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn length_prefix() -> impl Strategy<Value = u32> {
    let mut interesting = interesting_lengths(DEFAULT_MAX_FRAME);
    interesting.extend(interesting_lengths(MAX_CLIENT_FRAME));
    interesting.extend(interesting_lengths(
        runtime::transport::handshake::HANDSHAKE_LEN,
    ));
    prop_oneof![select(interesting), 0u32..512, any::<u32>()]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Random bytes, or a run of varint continuation bytes and a last byte: an
    // over-long or overflowing integer, length or variant index.
    let small = || {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 1..12),
            (select(vec![0x80u8, 0xff]), 1usize..11, any::<u8>()).prop_map(|(b, n, last)| {
                let mut run = vec![b; n];
                run.push(last);
                run
            }),
        ]
    };
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        2 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        1 => small().prop_map(|bytes| Mutation::Extend { bytes }),
        2 => (any::<usize>(), small()).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (any::<usize>(), 1usize..12).prop_map(|(at, len)| Mutation::Remove { at, len }),
        2 => (any::<usize>(), length_prefix())
            .prop_map(|(frame, len)| Mutation::SetLength { frame, len }),
        1 => (any::<usize>(), any::<u8>())
            .prop_map(|(frame, version)| Mutation::SetVersion { frame, version }),
        1 => (any::<usize>(), 1usize..64, any::<usize>())
            .prop_map(|(from, len, to)| Mutation::Duplicate { from, len, to }),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..5)
}

/// A few seeds out of `all`, in any order.
fn pick(all: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(select(all), 1..4)
}

fn mutated(payloads: &[Vec<u8>], framed_too: bool, ms: &[Mutation]) -> Vec<u8> {
    let (mut bytes, starts) = if framed_too {
        framed(payloads)
    } else {
        (payloads.concat(), Vec::new())
    };
    for m in ms {
        mutate(&mut bytes, &starts, m);
    }
    bytes
}

proptest! {
    #![proptest_config(config(2500))]

    #[test]
    fn random_bytes_are_decoded_or_refused(
        data in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        check_frames(&data);
        check_peer_payload(&data);
        check_client_payload(&data);
    }

    #[test]
    fn mutated_peer_frames_are_decoded_or_refused(
        payloads in pick(peer_payloads()),
        ms in mutations(),
    ) {
        let wire = mutated(&payloads, true, &ms);
        check_frames(&wire);
        let mut buf = BytesMut::from(&wire[..]);
        while let Ok(Some(payload)) = runtime::transport::frame::take_frame(&mut buf, DEFAULT_MAX_FRAME) {
            check_peer_payload(&payload);
        }
    }

    #[test]
    fn mutated_peer_payloads_are_decoded_or_refused(
        payload in select(peer_payloads()),
        ms in mutations(),
    ) {
        check_peer_payload(&mutated(&[payload], false, &ms));
    }

    #[test]
    fn mutated_client_frames_are_decoded_or_refused(
        payloads in pick(client_payloads()),
        framed_too in any::<bool>(),
        ms in mutations(),
    ) {
        let wire = mutated(&payloads, framed_too, &ms);
        if framed_too {
            check_frames(&wire);
            let mut buf = BytesMut::from(&wire[..]);
            while let Ok(Some(payload)) = runtime::transport::frame::take_frame(&mut buf, MAX_CLIENT_FRAME) {
                check_client_payload(&payload);
            }
        } else {
            check_client_payload(&wire);
        }
    }
}

proptest! {
    #![proptest_config(config(1500))]

    /// The cargo-fuzz targets' entry points, on stable.
    #[test]
    fn fuzzer_bytes_are_decoded_or_refused(
        data in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        fuzz_frames(&data);
        fuzz_client(&data);
    }
}

#[test]
fn every_seed_decodes_unmutated() {
    for p in peer_payloads().iter().chain(&client_payloads()) {
        let (wire, _) = framed(std::slice::from_ref(p));
        check_frames(&wire);
        check_peer_payload(p);
        check_client_payload(p);
    }
    assert_eq!(
        raft_messages().len() + zab_messages().len() + paxos_messages().len() + 3,
        peer_payloads().len()
    );
}

// Regression tests for what the fuzzing found.

#[tokio::test]
async fn a_header_announcing_the_maximum_costs_nothing_until_the_payload_arrives() {
    // A 5-byte header announcing a 16 MiB payload (the peer maximum; 4 MiB on the
    // unauthenticated client port) used to make the reader reserve all of it before
    // one payload byte came: 5 bytes per connection pinned the maximum each.
    let mut wire = Vec::new();
    wire.extend_from_slice(&(DEFAULT_MAX_FRAME as u32).to_le_bytes());
    wire.push(runtime::transport::FRAME_VERSION);
    wire.extend_from_slice(&[0; 100]);
    let mut reader: &[u8] = &wire;
    let mut buf = BytesMut::new();
    let err = read_frame(&mut reader, DEFAULT_MAX_FRAME, &mut buf)
        .await
        .expect_err("the stream ends inside the frame");
    assert!(matches!(err, FrameError::Truncated), "{err}");
    assert!(
        buf.capacity() < 1 << 20,
        "{} bytes reserved for 105 received",
        buf.capacity()
    );
    // A frame that does arrive whole is still read, and in few reallocations.
    let payload = vec![7u8; 3 << 20];
    let mut wire = BytesMut::new();
    runtime::transport::write_frame(&payload, &mut wire).unwrap();
    let mut reader: &[u8] = &wire;
    let mut buf = BytesMut::new();
    let got = read_frame(&mut reader, DEFAULT_MAX_FRAME, &mut buf)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), payload.len());
}

/// A replicated command: client 1, command 1, `Get { key: "k" }`.
const GET_K: &[u8] = &[1, 1, 1, 1, b'k'];

#[test]
fn the_client_port_fast_path_refuses_what_the_decoder_refuses() {
    // A request id whose tenth varint byte carries bits beyond 64 (postcard refuses it)
    // used to be read by `split_command`, the high bits silently dropped.
    let mut frame = vec![0xff; 9];
    frame.push(0x7f);
    frame.push(0); // ClientOp::Kv
    frame.extend_from_slice(GET_K);
    assert!(runtime::transport::decode::<ClientRequest>(&frame).is_err());
    assert_eq!(
        ClientRequest::split_command(&Bytes::from(frame.clone())),
        None
    );
    // The variant as a 6-byte varint (postcard's u32 varints take at most 5).
    let mut frame = vec![1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
    frame.extend_from_slice(GET_K);
    assert!(runtime::transport::decode::<ClientRequest>(&frame).is_err());
    assert_eq!(ClientRequest::split_command(&Bytes::from(frame)), None);
}
