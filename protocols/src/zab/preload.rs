//! Preloaded history for teaching scenarios (see [`crate::preload`]): the records a
//! ZooKeeper server would hold after living through the described epochs.
//!
//! Zab paper §IV, "persistent variables": for each epoch `e` of the history the server
//! accepted NEWEPOCH `e` (`acceptedEpoch`), accepted NEWLEADER `e` (`currentEpoch`) and
//! logged that leader's proposals, whose zxids are `<e, 1>`, `<e, 2>`, ... (§III). So
//! `[(1, 9)]` is a server with last zxid `0x100000009` and current epoch 1, which is how
//! docs/PROTOCOLS.md's scenario B describes its servers. Nothing is marked delivered: ZAB does
//! not persist commit points, so a restarted server learns what is committed from the
//! next leader's synchronization.

use crate::preload::{preloaded_command, validate, Preload, PreloadError};
use crate::zab::messages::Txn;
use crate::zab::persist::ZabRecord;
use crate::zab::zxid::Zxid;
use crate::zab::Zab;

/// The records of a server that logged `count` proposals in each `(epoch, count)` of
/// `history`, oldest first.
pub fn history_records(history: &[(u64, u64)]) -> Result<Vec<ZabRecord>, PreloadError> {
    validate(history)?;
    let mut records = Vec::new();
    for (position, &(epoch, count)) in history.iter().enumerate() {
        let epoch32 = u32::try_from(epoch).map_err(|_| PreloadError::OutOfRange {
            position,
            reason: format!("epoch {epoch} does not fit in the zxid's 32 epoch bits"),
        })?;
        // The next leader needs an epoch above it, and never proposes the last one
        // (`discovery.rs`).
        if epoch32 >= u32::MAX - 1 {
            return Err(PreloadError::OutOfRange {
                position,
                reason: format!("epoch {epoch} leaves no epoch for a new leader"),
            });
        }
        let counter_max = u32::try_from(count)
            .ok()
            .filter(|&c| c <= Zxid::MAX_COUNTER)
            .ok_or_else(|| PreloadError::OutOfRange {
                position,
                reason: format!("{count} proposals do not fit in one epoch's zxid counter"),
            })?;
        records.push(ZabRecord::AcceptedEpoch(epoch32));
        records.push(ZabRecord::CurrentEpoch(epoch32));
        for counter in 1..=counter_max {
            records.push(ZabRecord::Proposal(Txn {
                zxid: Zxid::new(epoch32, counter),
                command: preloaded_command(epoch, u64::from(counter)),
            }));
        }
    }
    Ok(records)
}

impl Preload for Zab {
    fn preload(history: &[(u64, u64)]) -> Result<Vec<ZabRecord>, PreloadError> {
        history_records(history)
    }

    /// `acceptedEpoch` is at least the highest epoch of any history: a quorum accepted
    /// that NEWEPOCH
    /// before its proposals were logged (Zab §IV, phase 1), so no later leader may
    /// propose in that epoch again. `currentEpoch` (what FastLeaderElection compares)
    /// stays the server's own.
    fn preload_among(
        history: &[(u64, u64)],
        cluster: &[&[(u64, u64)]],
    ) -> Result<Vec<ZabRecord>, PreloadError> {
        let reached = crate::preload::reached(cluster);
        let mut records = history_records(history)?;
        let own = history.last().map_or(0, |&(epoch, _)| epoch);
        if reached > own {
            let epoch = u32::try_from(reached).map_err(|_| PreloadError::OutOfRange {
                position: 0,
                reason: format!("epoch {reached} does not fit in the zxid's 32 epoch bits"),
            })?;
            records.push(ZabRecord::AcceptedEpoch(epoch));
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zab::persist::History;

    #[test]
    fn a_history_replays_to_its_last_zxid_and_epoch() {
        let h = History::replay(history_records(&[(1, 9)]).expect("valid")).expect("replays");
        assert_eq!(h.last_zxid(), Zxid::new(1, 9));
        assert_eq!((h.accepted_epoch, h.current_epoch), (1, 1));
        assert_eq!(h.delivered, 0);

        let h =
            History::replay(history_records(&[(1, 3), (4, 2)]).expect("valid")).expect("replays");
        assert_eq!(h.txns.len(), 5);
        assert_eq!(h.txns[3].zxid, Zxid::new(4, 1));
        assert_eq!(h.last_zxid(), Zxid::new(4, 2));
        assert_eq!(h.current_epoch, 4);
    }

    #[test]
    fn a_shorter_history_accepts_the_highest_epoch_the_histories_reach() {
        let h =
            History::replay(Zab::preload_among(&[(1, 2)], &[&[(1, 2)], &[(3, 1)]]).expect("valid"))
                .expect("replays");
        assert_eq!((h.accepted_epoch, h.current_epoch), (3, 1));
        assert_eq!(h.last_zxid(), Zxid::new(1, 2));
        let h = History::replay(Zab::preload_among(&[], &[&[], &[(2, 1)]]).expect("valid"))
            .expect("replays");
        assert_eq!((h.accepted_epoch, h.current_epoch, h.txns.len()), (2, 0, 0));
        assert!(Zab::preload_among(&[], &[&[]]).expect("valid").is_empty());
    }

    #[test]
    fn common_prefixes_hold_the_same_transactions() {
        let nine = history_records(&[(1, 9)]).expect("valid");
        let eight = history_records(&[(1, 8)]).expect("valid");
        assert_eq!(nine[..eight.len()], eight[..]);
    }

    #[test]
    fn epochs_and_counters_must_fit_32_bits() {
        assert!(matches!(
            history_records(&[(1 << 32, 1)]),
            Err(PreloadError::OutOfRange { position: 0, .. })
        ));
        assert!(matches!(
            history_records(&[(1, 1), (u64::from(u32::MAX - 1), 1)]),
            Err(PreloadError::OutOfRange { position: 1, .. })
        ));
        assert!(history_records(&[(u64::from(u32::MAX - 2), 1)]).is_ok());
        assert!(matches!(
            history_records(&[(1, 0)]),
            Err(PreloadError::Empty { position: 0 })
        ));
    }
}
