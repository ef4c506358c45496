//! Systems measured beside the protocols in the same run: a hook for systems that are
//! not on this harness (real ZooKeeper and etcd, the `peers` crate), so that their
//! trials run after the protocols' and their throughput points are interleaved in the
//! same rounds, and their rows land in the same results document.

use super::{Plan, Progress};
use reports::results as r;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// A future borrowed for one call of an [`ExtraSystems`] method.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Systems the matrix measures beside its protocols. Failures are the implementor's
/// to report through [`Progress::note`]; a system that cannot run leaves no row.
pub trait ExtraSystems {
    /// Progress steps this adds to the run (trials and throughput points).
    fn steps(&self, plan: &Plan) -> u64;
    /// Runs the non-throughput measures (after the protocols' trials).
    fn trials<'a>(&'a mut self, plan: &'a Plan, progress: &'a mut dyn Progress) -> StepFuture<'a>;
    /// Measures every throughput point once, as round `round` of `plan.rounds` (called
    /// after the protocols' points of the same round).
    fn throughput_round<'a>(
        &'a mut self,
        plan: &'a Plan,
        round: u32,
        progress: &'a mut dyn Progress,
    ) -> StepFuture<'a>;
    /// The rows measured, one per system, and each system's version and settings
    /// (recorded beside the protocols' timing parameters).
    fn finish(&mut self, plan: &Plan) -> (Vec<r::ProtocolRun>, BTreeMap<String, Settings>);
}

/// One system's settings as `name -> value` (version, timers, durability, ...).
pub type Settings = BTreeMap<String, String>;
