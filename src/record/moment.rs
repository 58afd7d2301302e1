//! [`Moment`]: the table at one refresh as a recording keeps it (records sorted by cookie, the
//! whole-table port lists, the settings and the refresh's facts), and its two encodings: whole (a
//! keyframe) and as the difference from the previous moment (a delta: sockets removed, added and
//! changed, keyed by cookie, and the settings or port lists when they changed).

use super::codec::{Dec, DecodeError, Enc};
use crate::collect::{Source, Table};
use crate::model::Meta;
use crate::settings::{KernelSettings, PortRange};
use crate::socket::{BoundDev, SockRecord, TcpState, TimerKind};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The table at one refresh.
#[derive(Clone, Debug, PartialEq)]
pub struct Moment {
    pub taken_at: SystemTime,
    pub source: Source,
    pub fallback: Option<String>,
    /// The filter the table was dumped with (the dashboard's, when it records).
    pub filter: Option<String>,
    pub bind_side_read_at: Option<SystemTime>,
    pub settings: KernelSettings,
    /// Sorted by cookie (stable: sockets without a cookie keep the dump's order).
    pub records: Vec<SockRecord>,
    pub listen_ports: Vec<u16>,
    pub explicit_bind_ports: Vec<u16>,
}

impl Moment {
    /// The moment of one refresh: its table, the snapshot's facts and settings.
    pub fn new(table: &Table, meta: &Meta, settings: &KernelSettings) -> Moment {
        let mut records = table.records.clone();
        records.sort_by_key(|r| r.cookie);
        Moment {
            taken_at: meta.taken_at,
            source: table.source,
            fallback: meta.fallback.clone(),
            filter: meta.filter.clone(),
            bind_side_read_at: table.bind_side_read_at,
            settings: settings.clone(),
            records,
            listen_ports: table.listen_ports.clone(),
            explicit_bind_ports: table.explicit_bind_ports.clone(),
        }
    }

    /// True when every socket has its own non-zero cookie, so a delta can key on it (procfs
    /// gives none).
    fn keyed(&self) -> bool {
        self.records.first().is_none_or(|r| r.cookie != 0)
            && self.records.windows(2).all(|w| w[0].cookie < w[1].cookie)
    }

    /// The whole moment, for a keyframe.
    pub fn encode_key(&self, e: &mut Enc) {
        self.encode_facts(e);
        settings(e, &self.settings);
        e.ports(&self.listen_ports);
        e.ports(&self.explicit_bind_ports);
        records(e, &self.records);
    }

    /// Reads a keyframe's body.
    pub fn decode_key(d: &mut Dec, taken_at: SystemTime) -> Result<Moment, DecodeError> {
        let (source, fallback, filter, bind_side_read_at) = decode_facts(d)?;
        Ok(Moment {
            taken_at,
            source,
            fallback,
            filter,
            bind_side_read_at,
            settings: decode_settings(d)?,
            listen_ports: d.ports()?,
            explicit_bind_ports: d.ports()?,
            records: decode_records(d)?,
        })
    }

    fn encode_facts(&self, e: &mut Enc) {
        e.u8(match self.source {
            Source::Netlink => 0,
            Source::Procfs => 1,
        });
        e.opt_str(self.fallback.as_deref());
        e.opt_str(self.filter.as_deref());
        match self.bind_side_read_at {
            Some(t) => {
                e.u8(1);
                e.var(nanos(t));
            }
            None => e.u8(0),
        }
    }

    /// The difference from `prev` to `self` as a delta's body, or `None` when only a keyframe
    /// says it (no cookies to key on, another filter or source).
    pub fn encode_delta(&self, prev: &Moment, e: &mut Enc) -> Option<()> {
        if !self.keyed() || !prev.keyed() || self.filter != prev.filter {
            return None;
        }
        self.encode_facts(e);
        optional(e, self.settings != prev.settings, |e| {
            settings(e, &self.settings)
        });
        optional(e, self.listen_ports != prev.listen_ports, |e| {
            e.ports(&self.listen_ports)
        });
        optional(
            e,
            self.explicit_bind_ports != prev.explicit_bind_ports,
            |e| e.ports(&self.explicit_bind_ports),
        );
        let dt = elapsed_ms(prev.taken_at, self.taken_at);
        let (mut removed, mut added, mut changed) = (Vec::new(), Vec::new(), Enc::default());
        let mut changes = 0u64;
        let mut last_changed = 0u64;
        let (mut i, mut j) = (0, 0);
        while i < prev.records.len() || j < self.records.len() {
            let (old, new) = (prev.records.get(i), self.records.get(j));
            match (old, new) {
                (Some(o), Some(n)) if o.cookie == n.cookie => {
                    if o.local != n.local || o.remote != n.remote {
                        removed.push(o.cookie);
                        added.push(*n);
                    } else if let Some(mask) = change_mask(o, n, dt) {
                        changed.var(n.cookie - last_changed);
                        last_changed = n.cookie;
                        encode_change(&mut changed, mask, o, n, dt);
                        changes += 1;
                    }
                    i += 1;
                    j += 1;
                }
                (Some(o), Some(n)) if o.cookie < n.cookie => {
                    removed.push(o.cookie);
                    i += 1;
                }
                (Some(o), None) => {
                    removed.push(o.cookie);
                    i += 1;
                }
                (_, Some(n)) => {
                    added.push(*n);
                    j += 1;
                }
                (None, None) => break,
            }
        }
        e.var(removed.len() as u64);
        let mut last = 0;
        for c in removed {
            e.var(c - last);
            last = c;
        }
        records(e, &added);
        e.var(changes);
        e.0.extend_from_slice(&changed.0);
        Some(())
    }

    /// Applies a delta's body to this moment, which becomes the moment at `taken_at`.
    pub fn apply_delta(&mut self, d: &mut Dec, taken_at: SystemTime) -> Result<(), DecodeError> {
        let dt = elapsed_ms(self.taken_at, taken_at);
        let (source, fallback, filter, bind_side_read_at) = decode_facts(d)?;
        self.taken_at = taken_at;
        self.source = source;
        self.fallback = fallback;
        self.filter = filter;
        self.bind_side_read_at = bind_side_read_at;
        if d.u8()? == 1 {
            self.settings = decode_settings(d)?;
        }
        if d.u8()? == 1 {
            self.listen_ports = d.ports()?;
        }
        if d.u8()? == 1 {
            self.explicit_bind_ports = d.ports()?;
        }
        let n = d.count()?;
        let mut removed = Vec::with_capacity(n);
        let mut last = 0u64;
        for _ in 0..n {
            last = last.wrapping_add(d.var()?);
            removed.push(last);
        }
        self.records
            .retain(|r| removed.binary_search(&r.cookie).is_err());
        // Unchanged, a timer runs down.
        for r in &mut self.records {
            r.expires_ms = predicted_expiry(r.expires_ms, dt);
        }
        let added = decode_records(d)?;
        let n = d.count()?;
        let mut last = 0u64;
        for _ in 0..n {
            last = last.wrapping_add(d.var()?);
            let i = self
                .records
                .binary_search_by_key(&last, |r| r.cookie)
                .map_err(|_| DecodeError::Bad("changed cookie"))?;
            decode_change(d, &mut self.records[i])?;
        }
        self.records.extend(added);
        self.records.sort_by_key(|r| r.cookie);
        Ok(())
    }
}

/// Nanoseconds since the epoch (0 before it).
pub fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

pub fn from_nanos(n: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(n)
}

fn elapsed_ms(from: SystemTime, to: SystemTime) -> u32 {
    to.duration_since(from)
        .map_or(0, |d| d.as_millis().min(u128::from(u32::MAX)) as u32)
}

fn optional(e: &mut Enc, present: bool, write: impl FnOnce(&mut Enc)) {
    e.u8(u8::from(present));
    if present {
        write(e);
    }
}

type Facts = (Source, Option<String>, Option<String>, Option<SystemTime>);

fn decode_facts(d: &mut Dec) -> Result<Facts, DecodeError> {
    let source = match d.u8()? {
        0 => Source::Netlink,
        1 => Source::Procfs,
        _ => return Err(DecodeError::Bad("source")),
    };
    let fallback = d.opt_str()?;
    let filter = d.opt_str()?;
    let bind = match d.u8()? {
        0 => None,
        1 => Some(from_nanos(d.var()?)),
        _ => return Err(DecodeError::Bad("option tag")),
    };
    Ok((source, fallback, filter, bind))
}

pub fn settings(e: &mut Enc, s: &KernelSettings) {
    e.u16(s.port_range.low);
    e.u16(s.port_range.high);
    e.var(s.reserved_ports.len() as u64);
    for [lo, hi] in &s.reserved_ports {
        e.u16(*lo);
        e.u16(*hi);
    }
    e.u8(s.tcp_tw_reuse);
    e.var(u64::from(s.tcp_tw_reuse_delay_ms));
    e.var(u64::from(s.tcp_fin_timeout));
    for v in [
        s.tcp_max_tw_buckets,
        s.file_nr[0],
        s.file_nr[1],
        s.file_nr[2],
    ] {
        e.var(v);
    }
    for v in [
        s.file_max,
        s.nr_open,
        s.rlimit_nofile[0],
        s.rlimit_nofile[1],
    ] {
        e.var(v);
    }
    e.str(&s.kernel_release);
}

pub fn decode_settings(d: &mut Dec) -> Result<KernelSettings, DecodeError> {
    let port_range = PortRange {
        low: d.u16()?,
        high: d.u16()?,
    };
    let n = d.count()?;
    let mut reserved_ports = Vec::with_capacity(n);
    for _ in 0..n {
        reserved_ports.push([d.u16()?, d.u16()?]);
    }
    Ok(KernelSettings {
        port_range,
        reserved_ports,
        tcp_tw_reuse: d.u8()?,
        tcp_tw_reuse_delay_ms: d.var_as("tcp_tw_reuse_delay")?,
        tcp_fin_timeout: d.var_as("tcp_fin_timeout")?,
        tcp_max_tw_buckets: d.var()?,
        file_nr: [d.var()?, d.var()?, d.var()?],
        file_max: d.var()?,
        nr_open: d.var()?,
        rlimit_nofile: [d.var()?, d.var()?],
        kernel_release: d.str()?,
    })
}

fn timer_code(t: TimerKind) -> u8 {
    match t {
        TimerKind::Off => 0,
        TimerKind::On => 1,
        TimerKind::Keepalive => 2,
        TimerKind::Timewait => 3,
        TimerKind::Persist => 4,
    }
}

fn state(d: &mut Dec) -> Result<TcpState, DecodeError> {
    TcpState::from_kernel(d.u8()?).ok_or(DecodeError::Bad("state"))
}

fn timer(d: &mut Dec) -> Result<TimerKind, DecodeError> {
    match d.u8()? {
        n @ 0..=4 => Ok(TimerKind::from_kernel(n)),
        _ => Err(DecodeError::Bad("timer")),
    }
}

/// The device byte as stored: [`BoundDev`] keeps it private, so it goes through its kernel index.
fn dev_code(dev: BoundDev) -> u8 {
    (0..=u8::MAX)
        .find(|n| dev == BoundDev::from_kernel(u32::from(*n)))
        .unwrap_or(u8::MAX)
}

/// Records sorted by cookie, each whole, cookies as gaps.
fn records(e: &mut Enc, records: &[SockRecord]) {
    e.var(records.len() as u64);
    let mut last = 0u64;
    for r in records {
        e.var(r.cookie.wrapping_sub(last));
        last = r.cookie;
        let v6 = r.local.ip.is_ipv6();
        e.u8(u8::from(v6));
        e.u8(r.state.kernel_number());
        e.u8(timer_code(r.timer));
        e.u8(r.retrans);
        e.u8(dev_code(r.dev));
        e.var(u64::from(r.expires_ms));
        e.var(u64::from(r.uid));
        e.var(u64::from(r.inode));
        e.endpoint(r.local);
        e.endpoint(r.remote);
    }
}

fn decode_records(d: &mut Dec) -> Result<Vec<SockRecord>, DecodeError> {
    let n = d.count()?;
    let mut out = Vec::with_capacity(n);
    let mut last = 0u64;
    for _ in 0..n {
        last = last.wrapping_add(d.var()?);
        let v6 = match d.u8()? {
            0 => false,
            1 => true,
            _ => return Err(DecodeError::Bad("family")),
        };
        let state = state(d)?;
        let timer = timer(d)?;
        let retrans = d.u8()?;
        let dev = BoundDev::from_kernel(u32::from(d.u8()?));
        let expires_ms = d.var_as("expires")?;
        let uid = d.var_as("uid")?;
        let inode = d.var_as("inode")?;
        let local = d.endpoint(v6)?;
        let remote = d.endpoint(v6)?;
        out.push(SockRecord {
            local,
            remote,
            state,
            timer,
            retrans,
            expires_ms,
            uid,
            inode,
            cookie: last,
            dev,
        });
    }
    Ok(out)
}

const STATE: u8 = 1;
const TIMER: u8 = 2;
const RETRANS: u8 = 4;
const EXPIRES: u8 = 8;
const UID: u8 = 16;
const INODE: u8 = 32;
const DEV: u8 = 64;

/// What a timer left at `expires` would show `dt` milliseconds later: deltas store the difference
/// from it, which is zero or a few milliseconds for a running timer.
fn predicted_expiry(expires: u32, dt: u32) -> u32 {
    expires.saturating_sub(dt)
}

/// Which fields of a socket changed, or `None` when none did.
fn change_mask(o: &SockRecord, n: &SockRecord, dt: u32) -> Option<u8> {
    let mut mask = 0;
    let mut set = |bit, changed: bool| {
        if changed {
            mask |= bit;
        }
    };
    set(STATE, o.state != n.state);
    set(TIMER, o.timer != n.timer);
    set(RETRANS, o.retrans != n.retrans);
    set(EXPIRES, predicted_expiry(o.expires_ms, dt) != n.expires_ms);
    set(UID, o.uid != n.uid);
    set(INODE, o.inode != n.inode);
    set(DEV, o.dev != n.dev);
    (mask != 0).then_some(mask)
}

fn encode_change(e: &mut Enc, mask: u8, o: &SockRecord, n: &SockRecord, dt: u32) {
    e.u8(mask);
    if mask & STATE != 0 {
        e.u8(n.state.kernel_number());
    }
    if mask & TIMER != 0 {
        e.u8(timer_code(n.timer));
    }
    if mask & RETRANS != 0 {
        e.u8(n.retrans);
    }
    if mask & EXPIRES != 0 {
        let predicted = i64::from(predicted_expiry(o.expires_ms, dt));
        e.zigzag(i64::from(n.expires_ms) - predicted);
    }
    if mask & UID != 0 {
        e.var(u64::from(n.uid));
    }
    if mask & INODE != 0 {
        e.var(u64::from(n.inode));
    }
    if mask & DEV != 0 {
        e.u8(dev_code(n.dev));
    }
}

/// Applies one change to a socket whose timer has already run down by the frame's interval.
fn decode_change(d: &mut Dec, r: &mut SockRecord) -> Result<(), DecodeError> {
    let mask = d.u8()?;
    let predicted = r.expires_ms;
    if mask & STATE != 0 {
        r.state = state(d)?;
    }
    if mask & TIMER != 0 {
        r.timer = timer(d)?;
    }
    if mask & RETRANS != 0 {
        r.retrans = d.u8()?;
    }
    if mask & EXPIRES != 0 {
        let v = i64::from(predicted) + d.zigzag()?;
        r.expires_ms = u32::try_from(v).map_err(|_| DecodeError::Bad("expires"))?;
    }
    if mask & UID != 0 {
        r.uid = d.var_as("uid")?;
    }
    if mask & INODE != 0 {
        r.inode = d.var_as("inode")?;
    }
    if mask & DEV != 0 {
        r.dev = BoundDev::from_kernel(u32::from(d.u8()?));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::Endpoint;

    /// A socket with every field set from `n`.
    fn sock(n: u32, v6: bool) -> SockRecord {
        let ip = if v6 { "fd00::1" } else { "10.0.0.1" };
        let mut r = SockRecord::new(
            Endpoint::new(ip.parse().unwrap(), 1000 + n as u16),
            Endpoint::new(ip.parse().unwrap(), 443),
            TcpState::TimeWait,
        );
        r.cookie = u64::from(n) * 7 + 3;
        r.timer = TimerKind::Timewait;
        r.expires_ms = 60_000 - n;
        r.uid = n;
        r.inode = n * 11;
        r.retrans = (n % 3) as u8;
        r.dev = BoundDev::from_kernel(n % 300);
        r
    }

    fn moment(at_ms: u64, records: Vec<SockRecord>) -> Moment {
        let mut settings = KernelSettings::with_range(1000, 2000);
        settings.reserved_ports = vec![[1100, 1110]];
        settings.file_nr = [at_ms, 0, 1 << 40];
        Moment {
            taken_at: UNIX_EPOCH + Duration::from_millis(at_ms),
            source: Source::Netlink,
            fallback: None,
            filter: Some("state time-wait".into()),
            bind_side_read_at: Some(UNIX_EPOCH + Duration::from_millis(at_ms - 5)),
            settings,
            records,
            listen_ports: vec![22, 80],
            explicit_bind_ports: vec![1500],
        }
    }

    #[test]
    fn a_keyframe_and_a_delta_give_the_moment_back() {
        let first = moment(10_000, (0..300).map(|n| sock(n, n % 2 == 1)).collect());
        let mut e = Enc::default();
        first.encode_key(&mut e);
        let back = Moment::decode_key(&mut Dec::new(&e.0), first.taken_at).unwrap();
        assert_eq!(back, first);

        // A second later: timers ran down (some a few ms off), sockets went and came, one changed
        // state, one moved to another tuple under its cookie.
        let mut next = first.clone();
        next.taken_at += Duration::from_millis(1000);
        next.records.retain(|r| r.cookie % 5 != 0);
        for r in &mut next.records {
            r.expires_ms = r.expires_ms - 1000 + (r.cookie % 3) as u32;
        }
        next.records[3].state = TcpState::Established;
        next.records[4].remote.port = 8443;
        next.records.push(sock(1000, true));
        next.listen_ports.push(8080);
        next.settings.file_nr[0] += 1;
        let mut e = Enc::default();
        next.encode_delta(&first, &mut e)
            .expect("cookies key the delta");
        let mut applied = first.clone();
        applied
            .apply_delta(&mut Dec::new(&e.0), next.taken_at)
            .unwrap();
        assert_eq!(applied, next);

        // No cookies (procfs): only a keyframe says it.
        let mut procfs = next.clone();
        procfs.records.iter_mut().for_each(|r| r.cookie = 0);
        assert!(procfs.encode_delta(&next, &mut Enc::default()).is_none());
    }

    #[test]
    fn bad_bodies_are_errors() {
        let first = moment(10_000, (0..20).map(|n| sock(n, false)).collect());
        let mut e = Enc::default();
        first.encode_key(&mut e);
        for cut in 0..e.0.len() {
            assert!(Moment::decode_key(&mut Dec::new(&e.0[..cut]), first.taken_at).is_err());
        }
        let mut junk = e.0.clone();
        junk[0] = 9;
        assert!(Moment::decode_key(&mut Dec::new(&junk), first.taken_at).is_err());
    }
}
