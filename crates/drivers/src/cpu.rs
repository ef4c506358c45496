//! CPU time spent by a measured run: this process (the clients, and the nodes of an
//! in-process cluster) from `getrusage(RUSAGE_SELF)`, and node processes of a
//! multi-process cluster from `/proc/PID/stat` (Linux; user and system time, in clock
//! ticks). The throughput measure divides the CPU spent during its counted window by
//! the operations committed in it: the cost of one operation for the whole system,
//! harness included, which is what the machine's cores can sustain. System time is
//! kept apart: it is the kernel's share (sockets, the WAL's page cache, wake-ups),
//! which no change in user space removes, only fewer or larger syscalls.

use std::time::Duration;

/// CPU time, split into user and system (kernel) time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// Time running the program's own code.
    pub user: Duration,
    /// Time the kernel ran on its behalf (syscalls, page faults).
    pub system: Duration,
}

impl CpuTime {
    /// User + system.
    pub fn total(&self) -> Duration {
        self.user.saturating_add(self.system)
    }

    /// Microseconds per operation over `ops` operations, total and system, as the
    /// results file records them (`cpu_us_per_op`, `cpu_system_us_per_op`): both
    /// `None` without a reading or without operations.
    pub fn per_op_us(cpu: Option<CpuTime>, ops: u64) -> (Option<f64>, Option<f64>) {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / ops as f64;
        match cpu.filter(|_| ops > 0) {
            Some(c) => (Some(per(c.total())), Some(per(c.system))),
            None => (None, None),
        }
    }

    /// `self - earlier`, each part at least zero.
    pub fn since(&self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

impl std::ops::Add for CpuTime {
    type Output = CpuTime;
    fn add(self, other: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_add(other.user),
            system: self.system.saturating_add(other.system),
        }
    }
}

impl std::iter::Sum for CpuTime {
    fn sum<I: Iterator<Item = CpuTime>>(iter: I) -> CpuTime {
        iter.fold(CpuTime::default(), |a, b| a + b)
    }
}

/// User and system CPU time of this process so far (every thread); `None` if the OS
/// does not say.
pub fn this_process() -> Option<CpuTime> {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
    let time = |t: nix::sys::time::TimeVal| {
        let us = t
            .tv_sec()
            .checked_mul(1_000_000)?
            .checked_add(t.tv_usec())?;
        u64::try_from(us).ok().map(Duration::from_micros)
    };
    Some(CpuTime {
        user: time(usage.user_time())?,
        system: time(usage.system_time())?,
    })
}

/// User and system CPU time of process `pid` so far, from `/proc/PID/stat`; `None` if
/// it cannot be read (not Linux, or the process is gone).
pub fn process(pid: u32) -> Option<CpuTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (utime, stime) = stat_ticks(&stat)?;
    let per_sec = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)?;
    let time = |ticks: u64| Duration::from_secs_f64(ticks as f64 / per_sec as f64);
    Some(CpuTime {
        user: time(utime),
        system: time(stime),
    })
}

/// utime and stime (fields 14 and 15) of a `/proc/PID/stat` line, in clock ticks. The
/// command name (field 2) is in parentheses and may hold spaces, so fields are counted
/// after its closing parenthesis.
pub fn stat_ticks(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')?.checked_add(1)?..];
    let mut fields = rest.split_whitespace();
    // After the name: state is field 3, so utime (14) is the 12th field here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_after_the_command_name() {
        let line = "4242 (cwb node (x) y) S 1 2 3 4 5 6 7 8 9 10 170 30 0 0 20 0 9 0 5 6 7";
        assert_eq!(stat_ticks(line), Some((170, 30)));
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
        assert!(this_process().expect("getrusage").total() > before.total());
        // Syscalls are system time.
        let before = this_process().expect("getrusage");
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(300) {
            let _ = std::fs::metadata("/");
        }
        let spent = this_process().expect("getrusage").since(before);
        assert!(spent.system > Duration::ZERO, "{spent:?}");
        // /proc counts the same split, in clock ticks.
        let own = process(std::process::id()).expect("/proc/self/stat");
        assert!(own.system > Duration::ZERO, "{own:?}");
    }

    #[test]
    fn per_op_divides_both_parts_and_needs_operations() {
        let cpu = CpuTime {
            user: Duration::from_micros(600),
            system: Duration::from_micros(400),
        };
        assert_eq!(CpuTime::per_op_us(Some(cpu), 100), (Some(10.0), Some(4.0)));
        assert_eq!(CpuTime::per_op_us(Some(cpu), 0), (None, None));
        assert_eq!(CpuTime::per_op_us(None, 100), (None, None));
    }
}
