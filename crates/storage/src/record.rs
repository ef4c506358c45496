//! Record framing of the write-ahead log (storage concern): how one opaque payload is
//! laid out on disk, and how a segment's bytes are scanned back into payloads.
//!
//! A record is `length: u32 LE | crc: u32 LE | payload`, where `crc` is CRC-32 (IEEE,
//! `crc32fast`) over the four length bytes followed by the payload, so a damaged length
//! is caught as well as a damaged payload, XORed with the **seed** of the segment
//! holding the record: the number of the segment's first record folded to 32 bits
//! ([`segment_seed`]). A segment's name is thus checked by its contents: a segment
//! copied or renamed to another place in the log (a duplicated file, a misdirected
//! write) fails its checksums instead of replaying its records out of order, as
//! etcd's WAL chains each segment's CRC to the one before it. The first segment's seed
//! is 0, so a log in memory ([`crate::frame_record`]) and the first segment of a log
//! keep the plain CRC; later segments of logs written before seeds existed fail to
//! recover (the error names the file). The scan classifies how a segment ends, in the
//! spirit of etcd's `wal` package (torn-write detection) and of Pillai et al., "All File
//! Systems Are Not Created Equal" (OSDI 2014, §3: appends may persist partially or as
//! zeros/garbage after a crash):
//! - a header cut short, a record whose length runs past the end of the file, a record
//!   whose checksum fails with nothing but zeros after it (preallocated room), or an
//!   all-zero tail: a **torn tail**,
//!   which recovery may cut away if it is in the last segment;
//! - a record that fails its checks and is followed by more bytes: **corruption**, which
//!   recovery refuses. That includes a record whose length runs past the end of the
//!   file while a whole, valid record starts somewhere after it: its length field was
//!   damaged after the records behind it were written (a torn write leaves nothing
//!   valid behind), and cutting there would silently drop synced records. etcd's
//!   decoder treats that case as a torn tail; this one looks ahead ([`later_record`]).

use std::ops::Range;

/// Size of a record header: `length` (u32 LE) then `crc` (u32 LE).
pub const HEADER_LEN: usize = 8;

/// CRC-32 over the length bytes and the payload.
fn plain_crc(len_bytes: [u8; 4], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len_bytes);
    hasher.update(payload);
    hasher.finalize()
}

/// The checksum seed of the segment whose first record is `first_record`: the number
/// folded to 32 bits (distinct for every segment of a log under 2^32 records), never
/// the one value that would give an empty record the all-zero header of zero-filled
/// room. 0 for the first segment.
pub(crate) fn segment_seed(first_record: u64) -> u32 {
    let folded = (first_record as u32) ^ ((first_record >> 32) as u32);
    let empty = plain_crc([0; 4], &[]);
    if folded == empty {
        !empty
    } else {
        folded
    }
}

/// The checksum stored in a record header of the segment seeded `seed`.
pub(crate) fn record_crc(seed: u32, len_bytes: [u8; 4], payload: &[u8]) -> u32 {
    plain_crc(len_bytes, payload) ^ seed
}

/// Appends one framed record of the segment seeded `seed` to `buf`. The caller has
/// checked that `payload.len()` fits in a `u32` (it is at most the configured maximum
/// record size).
pub(crate) fn encode_into(buf: &mut Vec<u8>, seed: u32, payload_len: u32, payload: &[u8]) {
    let len_bytes = payload_len.to_le_bytes();
    let crc = record_crc(seed, len_bytes, payload);
    buf.reserve(HEADER_LEN + payload.len());
    buf.extend_from_slice(&len_bytes);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// How the scan of one segment's bytes ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScanEnd {
    /// Every byte belongs to an intact record.
    Clean,
    /// The bytes from `offset` on are a torn (partially written) tail.
    Torn {
        /// Byte offset where the torn record starts (= length of the intact prefix).
        offset: u64,
        /// What made it torn.
        reason: String,
    },
    /// The record at `offset` is damaged and more bytes follow it.
    Corrupt {
        /// Byte offset of the damaged record's header.
        offset: u64,
        /// What check failed.
        reason: String,
    },
}

/// The result of scanning one segment: where its intact records are, and how it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Byte ranges of the intact payloads, in order.
    pub payloads: Vec<Range<usize>>,
    /// How the segment ends after the last intact record.
    pub end: ScanEnd,
}

impl Scan {
    /// Length in bytes of the intact prefix (everything before the torn or corrupt part).
    pub(crate) fn intact_len(&self, total: usize) -> u64 {
        match &self.end {
            ScanEnd::Clean => total as u64,
            ScanEnd::Torn { offset, .. } | ScanEnd::Corrupt { offset, .. } => *offset,
        }
    }
}

/// Reads a little-endian u32 at `at`, if four bytes are there.
fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let word: [u8; 4] = bytes.get(at..end)?.try_into().ok()?;
    Some(u32::from_le_bytes(word))
}

/// Scans the bytes of a segment seeded `seed` from the start, record by record. Never
/// panics, whatever the bytes are.
pub(crate) fn scan(bytes: &[u8], seed: u32) -> Scan {
    let mut payloads = Vec::new();
    let mut pos = 0usize;
    let end = loop {
        let rest = bytes.len() - pos;
        if rest == 0 {
            break ScanEnd::Clean;
        }
        let offset = pos as u64;
        let (Some(len), Some(crc)) = (read_u32(bytes, pos), read_u32(bytes, pos + 4)) else {
            break ScanEnd::Torn {
                offset,
                reason: format!("record header cut short ({rest} of {HEADER_LEN} bytes)"),
            };
        };
        if len == 0 && crc == 0 {
            // No real record has this header: an empty record's checksum is not zero
            // in any segment (see `segment_seed`).
            let tail = bytes.get(pos..).unwrap_or_default();
            break if tail.iter().all(|&b| b == 0) {
                ScanEnd::Torn {
                    offset,
                    reason: format!("zero-filled tail of {rest} bytes"),
                }
            } else {
                ScanEnd::Corrupt {
                    offset,
                    reason: "all-zero record header followed by non-zero bytes".to_string(),
                }
            };
        }
        let body_start = pos + HEADER_LEN;
        let available = bytes.len() - body_start;
        let Some(payload) = usize::try_from(len)
            .ok()
            .filter(|&len| len <= available)
            .and_then(|len| bytes.get(body_start..body_start + len))
        else {
            let reason =
                format!("record of {len} bytes cut short ({available} payload bytes present)");
            break match later_record(bytes, pos + 1, seed) {
                None => ScanEnd::Torn { offset, reason },
                Some(at) => ScanEnd::Corrupt {
                    offset,
                    reason: format!(
                        "{reason}, yet a whole record follows at offset {at}: the length \
                         field is damaged, and cutting here would drop synced records"
                    ),
                },
            };
        };
        let actual = record_crc(seed, len.to_le_bytes(), payload);
        let after = body_start + payload.len();
        if actual != crc {
            // The record is whole, so it may have been synced before it was damaged:
            // say so, whatever recovery then does with it.
            let reason = format!(
                "a whole record fails its checksum (stored {crc:#010x}, computed \
                 {actual:#010x}): torn while written, or damaged after it was synced, in \
                 which case a durable record is lost"
            );
            // Nothing but zeros after it: the record was torn inside preallocated room
            // (as etcd's WAL decoder judges a torn entry followed by zeroed sectors).
            let only_zeros_after = bytes
                .get(after..)
                .is_some_and(|t| t.iter().all(|&b| b == 0));
            break if only_zeros_after {
                ScanEnd::Torn { offset, reason }
            } else {
                ScanEnd::Corrupt { offset, reason }
            };
        }
        payloads.push(body_start..after);
        pos = after;
    };
    Scan { payloads, end }
}

/// Checksum work [`later_record`] does at most (bytes hashed) before it gives up.
const LOOK_AHEAD_BUDGET: usize = 256 * 1024 * 1024;

/// The offset of the first whole record with a valid checksum at or after `from`, if
/// any (and if found within [`LOOK_AHEAD_BUDGET`]). A torn write leaves at most
/// garbage and zeros after the point it stopped, and garbage passes a 32-bit checksum
/// that covers its own length with odds of 2^-32 per offset tried; so a record found
/// here means the bytes before it were damaged, not torn. Only candidates whose length
/// fits in the rest of the file cost a checksum, so a real torn tail (short, then
/// zeros) is checked in microseconds.
fn later_record(bytes: &[u8], from: usize, seed: u32) -> Option<usize> {
    let mut budget = LOOK_AHEAD_BUDGET;
    let last = bytes.len().checked_sub(HEADER_LEN)?;
    for at in from..=last {
        let (Some(len), Some(crc)) = (read_u32(bytes, at), read_u32(bytes, at + 4)) else {
            continue;
        };
        if len == 0 && crc == 0 {
            continue;
        }
        let body = at + HEADER_LEN;
        let Some(payload) = usize::try_from(len)
            .ok()
            .and_then(|n| bytes.get(body..body.checked_add(n)?))
        else {
            continue;
        };
        budget = budget.checked_sub(payload.len())?;
        if record_crc(seed, len.to_le_bytes(), payload) == crc {
            return Some(at);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::new();
        for p in payloads {
            encode_into(&mut buf, 0, p.len() as u32, p);
        }
        buf
    }

    /// The first segment's scan.
    fn scan(bytes: &[u8]) -> Scan {
        super::scan(bytes, 0)
    }

    #[test]
    fn a_segment_is_checked_against_its_own_seed() {
        let mut buf = Vec::new();
        let seed = segment_seed(6);
        for p in [&b"one"[..], b"two"] {
            encode_into(&mut buf, seed, p.len() as u32, p);
        }
        assert_eq!(super::scan(&buf, seed).end, ScanEnd::Clean);
        assert!(matches!(
            super::scan(&buf, segment_seed(0)).end,
            ScanEnd::Corrupt { offset: 0, .. }
        ));
        assert!(matches!(
            super::scan(&buf, segment_seed(4)).end,
            ScanEnd::Corrupt { offset: 0, .. }
        ));
    }

    #[test]
    fn seeds_are_distinct_zero_first_and_never_zero_an_empty_record() {
        assert_eq!(segment_seed(0), 0);
        let empty = plain_crc([0; 4], &[]);
        assert_ne!(empty, 0);
        let seeds: std::collections::BTreeSet<u32> = (0..10_000).map(segment_seed).collect();
        assert_eq!(seeds.len(), 10_000);
        // The one number that would fold to the empty record's CRC is moved away.
        assert_ne!(segment_seed(u64::from(empty)), empty);
        for first in [0, 1, u64::from(empty), u64::MAX] {
            assert_ne!(record_crc(segment_seed(first), [0; 4], &[]), 0);
        }
    }

    fn texts(bytes: &[u8], scan: &Scan) -> Vec<Vec<u8>> {
        scan.payloads
            .iter()
            .map(|r| bytes[r.clone()].to_vec())
            .collect()
    }

    #[test]
    fn frame_is_length_crc_payload() {
        let buf = framed(&[b"abc"]);
        assert_eq!(&buf[0..4], &3u32.to_le_bytes());
        let mut h = crc32fast::Hasher::new();
        h.update(&3u32.to_le_bytes());
        h.update(b"abc");
        assert_eq!(&buf[4..8], &h.finalize().to_le_bytes());
        assert_eq!(&buf[8..], b"abc");
    }

    #[test]
    fn intact_records_scan_clean_including_empty_payloads() {
        let buf = framed(&[b"one", b"", b"three"]);
        let scan = scan(&buf);
        assert_eq!(scan.end, ScanEnd::Clean);
        assert_eq!(
            texts(&buf, &scan),
            vec![b"one".to_vec(), vec![], b"three".to_vec()]
        );
        assert_eq!(scan.intact_len(buf.len()), buf.len() as u64);
    }

    #[test]
    fn empty_segment_is_clean() {
        assert_eq!(scan(&[]).end, ScanEnd::Clean);
    }

    #[test]
    fn partial_header_is_torn_at_record_start() {
        let mut buf = framed(&[b"one"]);
        buf.extend_from_slice(&[5, 0, 0]);
        let scan = scan(&buf);
        assert!(matches!(scan.end, ScanEnd::Torn { offset: 11, .. }));
        assert_eq!(scan.payloads.len(), 1);
    }

    #[test]
    fn payload_cut_short_is_torn() {
        let buf = framed(&[b"one", b"twotwo"]);
        let scan = scan(&buf[..buf.len() - 2]);
        assert!(matches!(scan.end, ScanEnd::Torn { offset: 11, .. }));
    }

    #[test]
    fn a_damaged_length_with_whole_records_after_it_is_corruption_not_a_torn_tail() {
        // The middle record's length now runs past the end of the file; the record
        // after it is intact and was synced with it: cutting at 11 would lose both.
        let mut buf = framed(&[b"one", b"two", b"three"]);
        buf[11 + 3] = 0x40;
        let scan = scan(&buf);
        assert!(
            matches!(&scan.end, ScanEnd::Corrupt { offset: 11, reason } if reason.contains("length field is damaged")),
            "{:?}",
            scan.end
        );
        assert_eq!(scan.payloads.len(), 1);
        // A real torn tail (garbage, then zeros) still is one.
        let mut torn = framed(&[b"one"]);
        torn.extend_from_slice(&[0x55, 0, 0, 0x7f, 1, 2, 3]);
        torn.extend_from_slice(&[0; 64]);
        assert!(matches!(scan_of(&torn), ScanEnd::Torn { offset: 11, .. }));
    }

    fn scan_of(bytes: &[u8]) -> ScanEnd {
        scan(bytes).end
    }

    #[test]
    fn bad_checksum_on_last_record_is_torn() {
        let mut buf = framed(&[b"one", b"two"]);
        let last = buf.len() - 1;
        buf[last] ^= 0x40;
        assert!(matches!(scan(&buf).end, ScanEnd::Torn { offset: 11, .. }));
    }

    #[test]
    fn bad_checksum_followed_by_data_is_corrupt() {
        let mut buf = framed(&[b"one", b"two", b"three"]);
        buf[11 + HEADER_LEN] ^= 0x01;
        let scan = scan(&buf);
        assert!(matches!(scan.end, ScanEnd::Corrupt { offset: 11, .. }));
        assert_eq!(scan.payloads.len(), 1);
    }

    #[test]
    fn bad_record_followed_only_by_zeros_is_torn() {
        let mut buf = framed(&[b"one", b"two"]);
        let last = buf.len() - 1;
        buf[last] ^= 0x40;
        buf.extend_from_slice(&[0; 32]);
        assert!(matches!(scan(&buf).end, ScanEnd::Torn { offset: 11, .. }));
    }

    #[test]
    fn zero_tail_is_torn_but_zero_header_before_data_is_corrupt() {
        let mut buf = framed(&[b"one"]);
        buf.extend_from_slice(&[0; 20]);
        assert!(matches!(scan(&buf).end, ScanEnd::Torn { offset: 11, .. }));
        buf.push(7);
        assert!(matches!(
            scan(&buf).end,
            ScanEnd::Corrupt { offset: 11, .. }
        ));
    }

    #[test]
    fn huge_length_in_garbage_is_torn_and_does_not_panic() {
        let mut buf = framed(&[b"one"]);
        buf.extend_from_slice(&[0xff; 13]);
        assert!(matches!(scan(&buf).end, ScanEnd::Torn { offset: 11, .. }));
    }
}
