//! Every raw Unix call bts makes lives here: process-group signals, liveness checks,
//! signal names, signal dispositions for children, and the local UTC offset.

use std::io;

use nix::errno::Errno;
use nix::sys::signal::{self, SigHandler, Signal};

/// Send `sig` to every process in group `pgid`. `Ok(false)` when the group is empty.
pub fn signal_group(pgid: i32, sig: i32) -> io::Result<bool> {
    if pgid <= 1 {
        // killpg(0|1) would hit our own group or everything: never a task's group.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal pgid <= 1",
        ));
    }
    // SAFETY: killpg has no memory-safety preconditions.
    let rc = unsafe { libc::killpg(pgid, sig) };
    if rc == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::ESRCH => Ok(false),
        e => Err(io::Error::from(e)),
    }
}

/// Whether a live process is still in group `pgid`. Zombies do not count: a killed
/// grandchild reparented to an init that reaps slowly must not hold up a stop forever.
pub fn group_alive(pgid: i32) -> bool {
    // An error (EPERM: a member we may not signal, e.g. a setuid helper) means alive.
    if !signal_group(pgid, 0).unwrap_or(true) {
        return false;
    }
    group_has_live_member(pgid)
}

/// Linux: look through /proc for a member of `pgid` that is not a zombie. Only reached
/// when kill(-pgid, 0) says the group exists, which is rare once a stop is under way.
#[cfg(target_os = "linux")]
fn group_has_live_member(pgid: i32) -> bool {
    super::table::all()
        .iter()
        .any(|p| p.pgid == pgid && !p.zombie)
}

/// Elsewhere: no cheap way to tell zombies apart; the group exists, so it is alive.
#[cfg(not(target_os = "linux"))]
fn group_has_live_member(_pgid: i32) -> bool {
    true
}

/// Send `sig` to one process; `Ok(false)` when it no longer exists.
pub fn signal_pid(pid: i32, sig: i32) -> io::Result<bool> {
    if pid <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to signal pid <= 1",
        ));
    }
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } == 0 {
        return Ok(true);
    }
    match Errno::last() {
        Errno::ESRCH => Ok(false),
        e => Err(io::Error::from(e)),
    }
}

/// The soft open-files limit this process started with (before
/// [`raise_open_files`]), for its tasks; `u64::MAX` until raised.
static STARTED_WITH_NOFILE: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(u64::MAX);

/// The open-files limits (soft, hard) of this process.
pub fn open_files_limit() -> io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((r.rlim_cur, r.rlim_max))
}

/// Raise the soft open-files limit to the hard one (a supervisor holds a few
/// descriptors per task: most desktops' soft 1024 runs out near 250 tasks). Tasks get
/// back the soft limit bts started with ([`restore_open_files`]), so bts does not change
/// their environment. Returns the limits now in force.
pub fn raise_open_files() -> io::Result<(u64, u64)> {
    let (soft, hard) = open_files_limit()?;
    // macOS refuses a soft limit above OPEN_MAX even when the hard one is unlimited.
    let target = if cfg!(target_os = "macos") {
        hard.min(10_240)
    } else {
        hard
    };
    if target <= soft {
        return Ok((soft, hard));
    }
    let r = libc::rlimit {
        rlim_cur: target,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    STARTED_WITH_NOFILE.store(soft, std::sync::atomic::Ordering::SeqCst);
    Ok((target, hard))
}

/// In a task, between fork and exec: the soft open-files limit bts started with. Only
/// async-signal-safe calls (an atomic load, setrlimit).
pub fn restore_open_files() -> io::Result<()> {
    let soft = STARTED_WITH_NOFILE.load(std::sync::atomic::Ordering::SeqCst);
    if soft == u64::MAX {
        return Ok(());
    }
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return Err(io::Error::last_os_error());
        }
        r.rlim_cur = soft;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// What a task's own environment must not see of bts: signal dispositions and the
/// raised open-files limit. Runs between fork and exec.
pub fn prepare_child() -> io::Result<()> {
    reset_signal_dispositions()?;
    restore_open_files()
}

/// Give this process (a task, between fork and exec) the nice value `n`. Only
/// setpriority: async-signal-safe. Below 0 needs privileges: the start then fails with
/// the reason.
pub fn set_nice(n: i32) -> io::Result<()> {
    // SAFETY: setpriority has no memory-safety preconditions. `which` is typed
    // differently across libcs (the `as _`).
    if unsafe { libc::setpriority(libc::PRIO_PROCESS as _, 0, n) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Move this process (a task, between fork and exec) into the cgroup whose
/// `cgroup.procs` is `procs`, by writing `0` to it. Only open/write/close:
/// async-signal-safe. Failure is ignored (the sampler still enforces the limits).
pub fn join_cgroup(procs: &std::ffi::CStr) {
    // SAFETY: a valid C string; the descriptor is closed on every path.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            let _ = libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
        }
    }
}

/// Send SIGINT to this process: the dashboard of `bts up --ui` owns the keyboard (raw
/// mode: Ctrl-C is a key, not a signal) and hands a Ctrl-C to the supervisor this way,
/// so it is handled exactly as the line stream's Ctrl-C is.
pub fn interrupt_self() {
    let _ = signal_pid(std::process::id() as i32, libc::SIGINT);
}

/// Name of a signal number, e.g. `SIGTERM` (or `signal 42` for unnamed ones), for text
/// people read.
pub fn signal_name(sig: i32) -> String {
    match Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("signal {sig}"),
    }
}

/// Name of a signal number, e.g. `SIGTERM`, or the bare number (`42`) for unnamed ones:
/// the form configuration files such as systemd units accept.
pub fn signal_name_or_number(sig: i32) -> String {
    match Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => sig.to_string(),
    }
}

/// Reset the signals bts or its parent may have changed to their defaults. Runs in the
/// child between fork and exec, so it only makes async-signal-safe calls: a handler is
/// reset by exec anyway, but an inherited SIG_IGN (e.g. SIGINT under `nohup` or `&`)
/// would survive exec and make the task deaf to it.
pub fn reset_signal_dispositions() -> io::Result<()> {
    const SIGNALS: [Signal; 10] = [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGPIPE,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ];
    for s in SIGNALS {
        // SAFETY: installing SIG_DFL is async-signal-safe and touches no Rust state.
        unsafe { signal::signal(s, SigHandler::SigDfl) }.map_err(io::Error::from)?;
    }
    Ok(())
}

/// Offset of local time from UTC at unix time `at`, in seconds.
pub fn utc_offset_secs(at: i64) -> i64 {
    let t: libc::time_t = at as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which we own.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(signal_name(libc::SIGTERM), "SIGTERM");
        assert_eq!(signal_name(libc::SIGKILL), "SIGKILL");
        assert_eq!(signal_name(999), "signal 999");
        assert_eq!(signal_name_or_number(libc::SIGINT), "SIGINT");
        assert_eq!(signal_name_or_number(999), "999");
    }

    #[test]
    fn refuses_dangerous_groups() {
        assert!(signal_group(0, 0).is_err());
        assert!(signal_group(1, 0).is_err());
    }
}
