// SPDX-License-Identifier: MIT OR GPL-2.0
//
// portradar's allocator watcher: one ring-buffer record per TCP state change, seen at the
// `sock:inet_sock_set_state` tracepoint (BTF-typed, "tp_btf"; no kprobes, no fentry).
//
// Every TCP transition of every namespace is kept: user space classifies the connect()-related ones
// (CLOSE->SYN_SENT in the caller's context, the first change out of SYN_SENT with the picked port,
// SYN_SENT->CLOSE with port 0 for a failed port search) and applies all of them, by socket cookie,
// to the socket table it maintains between dumps (new sockets on CLOSE->SYN_SENT and LISTEN->SYN_RECV,
// state changes, removals on ->CLOSE, TIME_WAIT on FIN_WAIT2/CLOSING->CLOSE).
//
// Self-contained on purpose: no system or libbpf headers, only the few kernel types it reads, marked
// preserve_access_index so the loader relocates every field to the running kernel's BTF (CO-RE).
// Rebuild with bpf/build.sh; the user-space mirror of `struct event` is src/events/record.rs.

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define CORE __attribute__((preserve_access_index))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

// Kernel constants (uapi): address families, protocol, TCP states, map types.
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_RINGBUF 27

// Helpers, by their stable uapi numbers.
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static long (*bpf_get_current_comm)(void *buf, __u32 size) = (void *)16;
static __u64 (*bpf_get_socket_cookie)(const void *sk) = (void *)46;
static __u64 (*bpf_get_current_cgroup_id)(void) = (void *)80;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;
static __u64 (*bpf_ktime_get_boot_ns)(void) = (void *)125;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *)131;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)132;

// The kernel types read, reduced to the fields used (names must match the kernel's BTF).
struct in6_addr {
	__u8 s6_addr[16];
} CORE;

struct ns_common {
	unsigned int inum;
} CORE;

struct net {
	struct ns_common ns;
} CORE;

typedef struct {
	struct net *net;
} possible_net_t;

struct sock_common {
	__u32 skc_daddr;
	__u32 skc_rcv_saddr;
	__u16 skc_dport;
	unsigned short skc_family;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} CORE;

struct sock {
	struct sock_common __sk_common;
	__u8 sk_userlocks;
	__u16 sk_protocol;
} CORE;

struct inet_sock {
	__u16 inet_sport;
} CORE;

// One record; mirrored field for field by src/events/record.rs (96 bytes, no implicit padding).
struct event {
	__u64 time_ns;     // CLOCK_BOOTTIME
	__u64 cookie;      // the socket cookie, as sock_diag's idiag_cookie
	__u64 cgroup;      // cgroup v2 id of the current task
	__u32 pid;         // tgid of the current task
	__u32 netns;       // inode of the socket's network namespace
	__u8 saddr[16];    // IPv4 in the first 4 bytes
	__u8 daddr[16];
	__u16 sport;       // network byte order (inet_sport, not skc_num)
	__u16 dport;       // network byte order
	__u16 family;
	__u8 oldstate;
	__u8 newstate;
	__u8 userlocks;    // sk_userlocks: SOCK_BINDADDR_LOCK 4, SOCK_BINDPORT_LOCK 8
	__u8 pad[7];
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

// Records the ring buffer had no room for, per CPU.
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

#define READ(dst, src) bpf_probe_read_kernel(&(dst), sizeof(dst), &(src))

// A field that is a bitfield on some kernels (sk_userlocks, before struct sock's rework): offset,
// size and shifts relocated to the running kernel (as libbpf's BPF_CORE_READ_BITFIELD_PROBED; the
// BPF target is little-endian).
#define FIELD_BYTE_OFFSET 0
#define FIELD_BYTE_SIZE 1
#define FIELD_LSHIFT_U64 4
#define FIELD_RSHIFT_U64 5
#define READ_BITFIELD(s, field)                                                          \
	({                                                                               \
		__u64 val = 0;                                                           \
		unsigned int off = __builtin_preserve_field_info((s)->field, FIELD_BYTE_OFFSET); \
		unsigned int size = __builtin_preserve_field_info((s)->field, FIELD_BYTE_SIZE); \
		bpf_probe_read_kernel(&val, size, (const char *)(s) + off);              \
		val <<= __builtin_preserve_field_info((s)->field, FIELD_LSHIFT_U64);     \
		val >>= __builtin_preserve_field_info((s)->field, FIELD_RSHIFT_U64);     \
		val;                                                                     \
	})

// The changes whose current task may be the socket's own, the only ones whose task is recorded:
// connect() starting (CLOSE->SYN_SENT) and the changes out of SYN_SENT (a failed port search runs in
// connect()'s caller; the others carry the port the classifier credits to that caller). Later
// changes mostly run in softirq context, in whatever task was interrupted.
static int in_callers_context(int oldstate, int newstate)
{
	return oldstate == TCP_SYN_SENT || (oldstate == TCP_CLOSE && newstate == TCP_SYN_SENT);
}

SEC("tp_btf/inet_sock_set_state")
int inet_sock_set_state(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	int oldstate = (int)ctx[1];
	int newstate = (int)ctx[2];
	__u16 protocol = 0;
	__u16 family = 0;
	struct net *net = 0;
	struct event *e;
	__u32 zero = 0;

	READ(protocol, sk->sk_protocol);
	if (protocol != IPPROTO_TCP)
		return 0;
	READ(family, sk->__sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__u64 *count = bpf_map_lookup_elem(&lost, &zero);
		if (count)
			*count += 1;
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->time_ns = bpf_ktime_get_boot_ns();
	e->cookie = bpf_get_socket_cookie(sk);
	if (in_callers_context(oldstate, newstate)) {
		e->cgroup = bpf_get_current_cgroup_id();
		e->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	}
	READ(net, sk->__sk_common.skc_net.net);
	READ(e->netns, net->ns.inum);
	e->family = family;
	e->oldstate = oldstate;
	e->newstate = newstate;
	e->userlocks = READ_BITFIELD(sk, sk_userlocks);
	READ(e->sport, ((struct inet_sock *)sk)->inet_sport);
	READ(e->dport, sk->__sk_common.skc_dport);
	if (family == AF_INET) {
		READ(*(__u32 *)e->saddr, sk->__sk_common.skc_rcv_saddr);
		READ(*(__u32 *)e->daddr, sk->__sk_common.skc_daddr);
	} else {
		READ(e->saddr, sk->__sk_common.skc_v6_rcv_saddr);
		READ(e->daddr, sk->__sk_common.skc_v6_daddr);
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
