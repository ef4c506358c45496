//! The legend of each protocol's notation, printed wherever the notation appears: at
//! the top of a narrated timeline, under a diagram's title, and on the side-by-side
//! page. Students meet `4@1`, `0x100000004`, `1.3` and "era 1 on and slots 1 on" in the
//! first lines of a run; the legend says what they are before they have to guess.

/// One line explaining the notation of the protocol named `protocol` (its
/// [`protocols::Vocabulary::protocol`]); empty for a protocol without one.
pub fn notation(protocol: &str) -> &'static str {
    match protocol {
        "raft" => {
            "notation: term 2 = Raft's election term; 4@1 = log index 4 written in term 1 \
             (2..5@1 = indexes 2 to 5); \"after 3@1\" = the entry an AppendEntries follows \
             (its prevLogIndex@prevLogTerm); commit 3 = the leader's commit index"
        }
        "zab" => {
            "notation: epoch 2 = the leader's epoch; zxid 0x100000004 = epoch 1 (high 32 bits), \
             proposal 4 of that epoch (low 32 bits); NOTIFICATION vote 3 (zxid, epoch) round 2 = \
             a vote for server 3 with that server's last zxid and epoch, in election round 2"
        }
        "paxos" => {
            "notation: ballot 1.3 = round 1 of proposer node 3 (a higher round wins, then a \
             higher node id; 0.0 = none yet); era 2 = the 2nd leadership instance (\"node X \
             leads from ballot b\" is chosen per era); \"Prepare(1.3) for era 2 on and slots \
             5 on\" = one Phase 1 for every era from 2 and every log slot from 5; 6@2.4 = slot \
             6 accepted at ballot 2.4"
        }
        "redis" => {
            "notation: epoch = Redis Cluster's epoch (the generation column); offset 4 = the \
             4th command of a node's replication stream"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::notation;

    #[test]
    fn every_protocol_explains_its_notation() {
        for p in ["raft", "zab", "paxos", "redis"] {
            assert!(notation(p).starts_with("notation: "), "{p}");
        }
        assert!(notation("paxos").contains("era 2 on and slots 5 on"));
        assert!(notation("raft").contains("4@1"));
        assert_eq!(notation("unknown"), "");
    }
}
