//! Scenario tests: the classic cases of Lamport, "Paxos Made Simple" (2001) §2-§3,
//! staged message by message with the in-test pump.
