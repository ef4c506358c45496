//! CPU time spent by a measured run: this process (the clients, and the nodes of an
//! in-process cluster) from `getrusage(RUSAGE_SELF)`, and node processes of a
//! multi-process cluster from `/proc/PID/stat` (Linux; user + system time, in clock
//! ticks). The throughput measure divides the CPU spent during its counted window by
//! the operations committed in it: the cost of one operation for the whole system,
//! harness included, which is what the machine's cores can sustain.

use std::time::Duration;

/// User + system CPU time of this process so far (every thread); `None` if the OS
/// does not say.
pub fn this_process() -> Option<Duration> {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
    let micros = |t: nix::sys::time::TimeVal| {
        let us = t
            .tv_sec()
            .checked_mul(1_000_000)?
            .checked_add(t.tv_usec())?;
        u64::try_from(us).ok()
    };
    let total = micros(usage.user_time())?.checked_add(micros(usage.system_time())?)?;
    Some(Duration::from_micros(total))
}

/// User + system CPU time of process `pid` so far, from `/proc/PID/stat`; `None` if it
/// cannot be read (not Linux, or the process is gone).
pub fn process(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = stat_ticks(&stat)?;
    let per_sec = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)?;
    Some(Duration::from_secs_f64(ticks as f64 / per_sec as f64))
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks. The
/// command name (field 2) is in parentheses and may hold spaces, so fields are counted
/// after its closing parenthesis.
pub fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')?.checked_add(1)?..];
    let mut fields = rest.split_whitespace();
    // After the name: state is field 3, so utime (14) is the 12th field here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_after_the_command_name() {
        let line = "4242 (cwb node (x) y) S 1 2 3 4 5 6 7 8 9 10 170 30 0 0 20 0 9 0 5 6 7";
        assert_eq!(stat_ticks(line), Some(200));
        assert_eq!(stat_ticks("garbage"), None);
        assert_eq!(stat_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn this_process_and_its_own_stat_advance_with_work() {
        let before = this_process().expect("getrusage");
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(this_process().expect("getrusage") > before);
        assert!(process(std::process::id()).is_some());
    }
}
