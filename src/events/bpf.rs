//! Loading the allocator watcher (bpf/allocator.bpf.o, embedded) with aya, attaching it to the
//! `sock:inet_sock_set_state` tracepoint as a BTF-typed tracepoint (no tracefs needed), and reading its
//! ring buffer and loss counter.
//!
//! The requirements are checked first, so the error says which one is missing: a kernel new enough
//! (ring buffers, BTF-typed tracepoints and socket cookies in tracing programs: 5.12), the kernel's
//! BTF, and the right to load tracing programs (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN).

use super::error::EventsError;
use super::record::Transition;
use aya::maps::{MapData, PerCpuArray, RingBuf};
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf, EbpfLoader};
use std::error::Error;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

/// The compiled program (rebuilt by bpf/build.sh), aligned for the ELF parser.
static OBJECT: &[u8] = aya::include_bytes_aligned!("../../bpf/allocator.bpf.o");

const TRACEPOINT: &str = "inet_sock_set_state";
const PROGRAM: &str = "inet_sock_set_state";
const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";
/// The oldest kernel with everything the program uses.
const MIN_KERNEL: (u32, u32) = (5, 12);
const MIN_KERNEL_TEXT: &str = "5.12";

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The attached program, its ring buffer and its loss counter. Dropping it detaches the program.
pub struct Watcher {
    ring: RingBuf<MapData>,
    lost: PerCpuArray<MapData, u64>,
    /// Records that did not parse (never expected; counted as lost).
    bad_records: u64,
    /// Owns the program and its link.
    ebpf: Ebpf,
}

impl Watcher {
    /// Checks the requirements, loads the program and attaches it.
    pub fn attach() -> Result<Watcher, EventsError> {
        check_kernel()?;
        if !Path::new(BTF_PATH).exists() {
            return Err(EventsError::NoBtf { path: BTF_PATH });
        }
        if !may_load_tracing() {
            return Err(EventsError::NotPermitted);
        }
        let btf = Btf::from_sys_fs().map_err(|e| refused("reading the kernel's BTF", &e))?;
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .load(OBJECT)
            .map_err(|e| refused("loading the object", &e))?;
        let program: &mut BtfTracePoint = ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| missing("program", PROGRAM))?
            .try_into()
            .map_err(|e| refused("program type", &e))?;
        program
            .load(TRACEPOINT, &btf)
            .map_err(|e| refused("loading the program", &e))?;
        program
            .attach()
            .map_err(|e| refused("attaching to the tracepoint", &e))?;
        let ring = ebpf
            .take_map("events")
            .ok_or_else(|| missing("map", "events"))?;
        let ring = RingBuf::try_from(ring).map_err(|e| refused("ring buffer", &e))?;
        let lost = ebpf
            .take_map("lost")
            .ok_or_else(|| missing("map", "lost"))?;
        let lost = PerCpuArray::try_from(lost).map_err(|e| refused("loss counter", &e))?;
        Ok(Watcher {
            ring,
            lost,
            bad_records: 0,
            ebpf,
        })
    }

    /// Hands every record waiting in the ring buffer to `f`; returns how many there were.
    pub fn drain(&mut self, mut f: impl FnMut(Transition)) -> usize {
        let mut n = 0;
        while let Some(item) = self.ring.next() {
            n += 1;
            match Transition::parse(&item) {
                Ok(t) => f(t),
                Err(_) => self.bad_records += 1,
            }
        }
        n
    }

    /// Records lost so far: the ring buffer was full (summed over CPUs), a record did not parse, or
    /// the kernel skipped the program because it was already running on that CPU (a state change
    /// in a softirq that interrupted it: the kernel's recursion guard for tracing programs).
    pub fn lost(&self) -> Result<u64, EventsError> {
        let per_cpu = self
            .lost
            .get(&0, 0)
            .map_err(|e| EventsError::Read(io::Error::other(e)))?;
        Ok(per_cpu.iter().sum::<u64>() + self.bad_records + self.recursion_misses()?)
    }

    /// The runs of the program the kernel skipped because it was already running on that CPU
    /// (`recursion_misses` of `bpf_prog_info`, as `bpftool prog show` prints it).
    fn recursion_misses(&self) -> Result<u64, EventsError> {
        let read = |e: io::Error| EventsError::Read(e);
        let program = self
            .ebpf
            .program(PROGRAM)
            .ok_or_else(|| read(io::Error::other("the program is gone")))?;
        let fd = program.fd().map_err(|e| read(io::Error::other(e)))?;
        let mut info = ProgInfoHead {
            before: [0; RECURSION_MISSES_AT],
            recursion_misses: 0,
        };
        let attr = GetInfoAttr {
            bpf_fd: fd.as_fd().as_raw_fd() as u32,
            info_len: std::mem::size_of::<ProgInfoHead>() as u32,
            info: (&raw mut info) as u64,
        };
        // SAFETY: BPF_OBJ_GET_INFO_BY_FD writes at most `info_len` bytes to `info`, which `attr`
        // points to and which outlives the call; `attr` is the command's layout.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_OBJ_GET_INFO_BY_FD,
                &raw const attr,
                std::mem::size_of::<GetInfoAttr>(),
            )
        };
        if rc < 0 {
            return Err(read(io::Error::last_os_error()));
        }
        Ok(info.recursion_misses)
    }
}

/// The `bpf(2)` command that reads an object's information.
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;

/// Where `recursion_misses` lies in the kernel's `struct bpf_prog_info` (UAPI: fields are only
/// appended, so this prefix is the same on every kernel that has it; older kernels fill less and
/// leave it 0).
const RECURSION_MISSES_AT: usize = 208;

/// The head of `struct bpf_prog_info`, up to and including `recursion_misses`.
#[repr(C)]
struct ProgInfoHead {
    before: [u8; RECURSION_MISSES_AT],
    recursion_misses: u64,
}

/// The `info` member of `union bpf_attr`: which object, and where its information goes.
#[repr(C)]
struct GetInfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// Readable (poll/epoll) when records are waiting.
impl AsFd for Watcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the ring buffer's descriptor lives as long as self.ring, which outlives the borrow.
        unsafe { BorrowedFd::borrow_raw(self.ring.as_raw_fd()) }
    }
}

fn check_kernel() -> Result<(), EventsError> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    match kernel_version(release) {
        Some(v) if v < MIN_KERNEL => Err(EventsError::KernelTooOld {
            release: release.to_string(),
            needed: MIN_KERNEL_TEXT,
        }),
        // An unreadable or odd release string: let the load itself decide.
        _ => Ok(()),
    }
}

/// `6.18.44-fc-v1045` → (6, 18).
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether the effective capabilities allow loading and attaching a tracing program.
fn may_load_tracing() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    cap_eff(&status).is_some_and(|caps| {
        let has = |cap: u32| caps & (1u64 << cap) != 0;
        has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
    })
}

/// The `CapEff:` mask of /proc/PID/status.
fn cap_eff(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// An aya error as a refusal, or as [`EventsError::NotPermitted`] when the kernel said EPERM/EACCES.
fn refused(step: &'static str, err: &(dyn Error + 'static)) -> EventsError {
    let errno = io_errno(err);
    if matches!(errno, Some(libc::EPERM | libc::EACCES)) {
        return EventsError::NotPermitted;
    }
    // The verifier log follows the first line; the one-line reason keeps only that.
    let text = err.to_string();
    let first = text.lines().next().unwrap_or_default();
    let reason = match first.split_once(". Verifier output:") {
        Some((head, _)) => head.to_string(),
        None => first.to_string(),
    };
    EventsError::LoadRefused {
        step,
        reason,
        errno,
    }
}

/// The first errno in an error's chain.
fn io_errno(err: &(dyn Error + 'static)) -> Option<i32> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(code) = e
            .downcast_ref::<io::Error>()
            .and_then(io::Error::raw_os_error)
        {
            return Some(code);
        }
        cur = e.source();
    }
    None
}

fn missing(what: &'static str, name: &str) -> EventsError {
    EventsError::LoadRefused {
        step: what,
        reason: format!("{name} is missing from the embedded object"),
        errno: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_parse_from_release_strings() {
        assert_eq!(kernel_version("6.18.44-fc-v1045"), Some((6, 18)));
        assert_eq!(kernel_version("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(kernel_version("6.1"), Some((6, 1)));
        assert_eq!(kernel_version("garbage"), None);
        assert!(kernel_version("5.4.0").unwrap() < MIN_KERNEL);
        assert!(kernel_version("5.15.0").unwrap() >= MIN_KERNEL);
    }

    #[test]
    fn effective_capabilities_come_from_the_status_file() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(cap_eff(status), Some(0x1ff_ffff_ffff));
        assert_eq!(cap_eff("Name:\tx\n"), None);
    }

    #[test]
    fn eperm_anywhere_in_the_chain_means_not_permitted() {
        let err = io::Error::from_raw_os_error(libc::EPERM);
        assert!(matches!(refused("x", &err), EventsError::NotPermitted));
        let err = io::Error::from_raw_os_error(libc::EINVAL);
        match refused("loading the program", &err) {
            EventsError::LoadRefused { errno, step, .. } => {
                assert_eq!((errno, step), (Some(libc::EINVAL), "loading the program"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_embedded_object_is_a_bpf_elf() {
        assert_eq!(&OBJECT[..4], b"\x7fELF");
        // e_machine EM_BPF (247), little-endian.
        assert_eq!(u16::from_le_bytes([OBJECT[18], OBJECT[19]]), 247);
    }
}
