#include "media/kernel_relay.h"

#include <time.h>

#include <cerrno>
#include <cstring>

#ifdef HOTLINE_HAVE_KERNEL_RELAY
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>

// The compiled program (bpf/rtp_relay.bpf.c), embedded at build time.
extern "C" const unsigned char hl_rtp_relay_bpf_object[];
extern "C" const unsigned long hl_rtp_relay_bpf_object_size;
#endif

namespace hotline::media {

using common::Error;

std::uint64_t KernelRelay::monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // bpf_ktime_get_ns()'s clock
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

#ifndef HOTLINE_HAVE_KERNEL_RELAY

common::Result<std::unique_ptr<KernelRelay>> KernelRelay::open(const std::vector<std::string>&,
                                                               std::uint32_t) {
  return Error::internal("built without the kernel relay (libbpf-dev and clang were not found)");
}
KernelRelay::~KernelRelay() = default;
std::optional<std::uint32_t> KernelRelay::install(const hl_relay_key&, const hl_relay_slot&) { return {}; }
hl_relay_slot KernelRelay::read(std::uint32_t) const { return {}; }
void KernelRelay::refresh(std::uint32_t) {}
void KernelRelay::remove(std::uint32_t, const hl_relay_key&) {}
std::optional<KernelRelay::Egress> KernelRelay::egress(std::uint32_t, std::uint32_t) { return std::nullopt; }

#else

namespace {

// libbpf reports through a global callback; keep its last lines for our error.
thread_local std::string libbpf_log;
int capture_libbpf(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[512];
  const int n = std::vsnprintf(line, sizeof line, fmt, args);
  if (n > 0 && libbpf_log.size() < 4096) libbpf_log.append(line);
  return 0;
}

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

template <typename T>
T load_relaxed(const T& v) {
  return __atomic_load_n(&v, __ATOMIC_RELAXED);
}

}  // namespace

common::Result<std::unique_ptr<KernelRelay>> KernelRelay::open(const std::vector<std::string>& interfaces,
                                                               std::uint32_t max_slots) {
  if (interfaces.empty())
    return Error::invalid("interfaces", "the kernel relay needs at least one interface");
  if (max_slots == 0) return Error::invalid("max_slots", "no slots");
  libbpf_set_print(capture_libbpf);
  libbpf_log.clear();
  std::unique_ptr<KernelRelay> r(new KernelRelay());
  r->max_slots_ = max_slots;
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "hl_rtp_relay");
  r->object_ = bpf_object__open_mem(hl_rtp_relay_bpf_object, hl_rtp_relay_bpf_object_size, &opts);
  if (r->object_ == nullptr)
    return Error::internal("kernel relay: cannot open the BPF object: " + libbpf_log);
  bpf_map* index = bpf_object__find_map_by_name(r->object_, "hl_relay_index");
  bpf_map* slots = bpf_object__find_map_by_name(r->object_, "hl_relay_slots");
  if (index == nullptr || slots == nullptr)
    return Error::internal("kernel relay: maps missing from the object");
  (void)bpf_map__set_max_entries(index, max_slots);
  (void)bpf_map__set_max_entries(slots, max_slots);
  if (const int rc = bpf_object__load(r->object_); rc != 0)
    return Error::internal("kernel relay: the kernel refused the program (" + errno_text(rc) +
                           "): " + libbpf_log);
  bpf_program* prog = bpf_object__find_program_by_name(r->object_, "hl_rtp_relay");
  if (prog == nullptr) return Error::internal("kernel relay: program missing from the object");
  r->program_fd_ = bpf_program__fd(prog);
  r->index_fd_ = bpf_map__fd(index);
  r->slots_fd_ = bpf_map__fd(slots);
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  r->mapped_bytes_ = (sizeof(hl_relay_slot) * max_slots + page - 1) / page * page;
  void* m = mmap(nullptr, r->mapped_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, r->slots_fd_, 0);
  if (m == MAP_FAILED) return Error::internal("kernel relay: cannot map the slots: " + errno_text(errno));
  r->slots_ = static_cast<hl_relay_slot*>(m);
  for (const std::string& name : interfaces) {
    if (auto st = r->attach(name); !st.ok()) return st.error();
  }
  return r;
}

common::Status KernelRelay::attach(const std::string& name) {
  const int ifindex = static_cast<int>(if_nametoindex(name.c_str()));
  if (ifindex == 0) return Error::invalid("interfaces", "kernel relay: no interface named " + name);
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  // The clsact qdisc may exist already (another process, another tool): share it.
  if (const int rc = bpf_tc_hook_create(&hook); rc != 0 && rc != -EEXIST)
    return Error::internal("kernel relay: no clsact qdisc on " + name + " (" + errno_text(rc) + ")");
  LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = program_fd_);
  if (const int rc = bpf_tc_attach(&hook, &opts); rc != 0)
    return Error::internal("kernel relay: cannot attach to " + name + " (" + errno_text(rc) + ")");
  attached_.push_back(Attachment{ifindex, opts.handle, opts.priority});
  names_.push_back(name);
  return common::ok_status();
}

KernelRelay::~KernelRelay() {
  for (const Attachment& a : attached_) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = a.ifindex, .attach_point = BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = a.handle, .priority = a.priority);
    (void)bpf_tc_detach(&hook, &opts);  // the qdisc stays: others may use it
  }
  if (slots_ != nullptr) munmap(slots_, mapped_bytes_);
  if (object_ != nullptr) bpf_object__close(object_);
}

std::optional<std::uint32_t> KernelRelay::take_slot() {
  std::lock_guard lock(mu_);
  if (!released_.empty() && released_.front().free_at_ns <= monotonic_ns()) {
    const std::uint32_t s = released_.front().slot;
    released_.pop_front();
    return s;
  }
  if (never_used_ < max_slots_) return never_used_++;
  return std::nullopt;
}

std::optional<std::uint32_t> KernelRelay::install(const hl_relay_key& key, const hl_relay_slot& config) {
  const auto slot = take_slot();
  if (!slot) return std::nullopt;
  hl_relay_slot s = config;
  s.deadline_ns = monotonic_ns() + std::chrono::nanoseconds(kDeadline).count();
  std::memcpy(&slots_[*slot], &s, sizeof s);
  __atomic_thread_fence(__ATOMIC_RELEASE);  // the slot is complete before the key points at it
  const std::uint32_t index = *slot;
  if (bpf_map_update_elem(index_fd_, &key, &index, BPF_ANY) != 0) {
    std::lock_guard lock(mu_);
    released_.push_back({index, monotonic_ns()});
    return std::nullopt;
  }
  return index;
}

hl_relay_slot KernelRelay::read(std::uint32_t slot) const {
  const hl_relay_slot& s = slots_[slot];
  hl_relay_slot out = s;  // configuration: ours, stable
  out.packets = load_relaxed(s.packets);
  out.octets = load_relaxed(s.octets);
  out.last_ns = load_relaxed(s.last_ns);
  out.max_seq = load_relaxed(s.max_seq);
  out.out_next_seq = load_relaxed(s.out_next_seq);
  out.cycles = load_relaxed(s.cycles);
  out.last_transit = load_relaxed(s.last_transit);
  out.jitter16 = load_relaxed(s.jitter16);
  out.have_transit = load_relaxed(s.have_transit);
  out.out_last_ts = load_relaxed(s.out_last_ts);
  out.out_last_ns = load_relaxed(s.out_last_ns);
  out.redirect_failed = load_relaxed(s.redirect_failed);
  return out;
}

std::optional<KernelRelay::Egress> KernelRelay::egress(std::uint32_t saddr, std::uint32_t daddr) {
  const auto loopback = static_cast<std::uint32_t>(if_nametoindex("lo"));
  if ((ntohl(daddr) >> 24) == 127 || daddr == saddr) return Egress{loopback, true};
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return std::nullopt;
  std::optional<Egress> out;
  bool daddr_is_ours = false;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
    const std::uint32_t a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr.s_addr;
    if (a == daddr) daddr_is_ours = true;
    if (a == saddr && !out) out = Egress{static_cast<std::uint32_t>(if_nametoindex(i->ifa_name)), false};
  }
  freeifaddrs(list);
  if (daddr_is_ours) return Egress{loopback, true};
  return out;
}

void KernelRelay::refresh(std::uint32_t slot) {
  __atomic_store_n(&slots_[slot].deadline_ns, monotonic_ns() + std::chrono::nanoseconds(kDeadline).count(),
                   __ATOMIC_RELAXED);
}

void KernelRelay::remove(std::uint32_t slot, const hl_relay_key& key) {
  (void)bpf_map_delete_elem(index_fd_, &key);
  std::lock_guard lock(mu_);
  // A program that found the slot just before the delete may still be running
  // on another CPU; a second is ages for it.
  released_.push_back({slot, monotonic_ns() + 1'000'000'000u});
}

#endif

}  // namespace hotline::media
