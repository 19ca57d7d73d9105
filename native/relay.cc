// vpcep_relay: the native data path. Accepts client connections on listening sockets polled by
// Node's own event loop, hands each one to TypeScript for admission (the cap, the whitelist, the
// route: every rule stays in TypeScript), then connects the backend and relays the bytes
// kernel-side on a few threads, each with its own edge-triggered epoll: socket -> pipe -> socket
// with splice(2). No Node socket object is ever made for a relayed connection.
//
// Per connection, the JS thread does accept4() and one synchronous call into the admission code;
// the relay thread does socket/bind/connect, the PROXY preamble, the splicing and the close (the
// calls it need not wait on through io_uring where the kernel has it: IoRing).
// Connects, closes and their byte counts come back to the JS thread in batches, one threadsafe
// call per epoll round; those of the fast path (its connections and refusals) on a timer
// (FastDefer: timed reports).
//
// Rules kept here: no C++ exceptions (NAPI_DISABLE_CPP_EXCEPTIONS), nothing thrown across
// threads; every fd this file opens is closed exactly once, by the thread that owns it; a
// connection is freed only after the epoll batch that may still name it.
#include <napi.h>
#include <uv.h>
#include <v8.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <malloc.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef VPCEP_URING
#include <liburing.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <future>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <queue>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace {

// How much one direction holds in its pipe before it stops reading its source (the watermark),
// unless init() is told a smaller size (an unprivileged user's pipe-user-pages-soft).
constexpr size_t kPipeBytes = 1024 * 1024;
// Ids stay exact as JS numbers (2^53): at 12,000 connections/s that is 23,000 years.
constexpr uint64_t kMaxId = (uint64_t(1) << 53) - 1;
// The epoll tag of the worker's eventfd; connections are tagged generation << 32 | slot << 1 | side.
constexpr uint64_t kWakeTag = ~uint64_t(0);
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
// Connections accepted per readiness of a listener before TypeScript decides on them.
constexpr int kAcceptBatch = 64;
// Doubles per event handed to JS: id, kind, reason, received, sent, connect time (µs).
constexpr int kEventWidth = 7;

// Close reasons; the numbers are the indexes of REASONS in src/dataplane/native-relay.ts.
enum class Reason : int {
  Done = 0, ClientReset, BackendReset, Cut, Closed, Error,
  // the backend connect failed (the client is reset): refusal reasons of the admission table
  BackendUnreachable, BackendTimeout, SnatExhausted, FdLimit, BackendError,
};

enum EventKind { kConnected = 1, kClosedEvent = 2, kDetachedEvent = 3 };

// A connection handed back to TypeScript (a toxic added live, issue 15): its two sockets, out of
// the relay's epoll, and the bytes its pipes held (and the rest of the preamble), to be written
// first. TypeScript takes it with takeDetached(id) when the detached event arrives.
struct Detached {
  int fd[2] = {-1, -1};
  std::string pending[2];  // 0: for the backend, 1: for the client
};

Reason ConnectFailure(int err) {
  switch (err) {
    case ECONNREFUSED: case EHOSTUNREACH: case ENETUNREACH: return Reason::BackendUnreachable;
    case ETIMEDOUT: return Reason::BackendTimeout;
    case EADDRNOTAVAIL: case EADDRINUSE: return Reason::SnatExhausted;
    case EMFILE: case ENFILE: return Reason::FdLimit;
    default: return Reason::BackendError;
  }
}

int64_t NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// Shared between the owning relay thread (writes) and the JS thread (reads).
struct Counters {
  std::atomic<uint64_t> received{0};  // bytes read from the client
  std::atomic<uint64_t> sent{0};      // bytes written to the client
  std::atomic<bool> touched{false};   // any bytes since the JS sweep last asked
};

struct Pipe {
  int r = -1;
  int w = -1;
};

// A direction's bandwidth limit (issue 15): a token bucket charged by the bytes read from the
// source. Out of tokens, the direction stops reading (edge-triggered epoll reports nothing new
// while the source's bytes wait: no epoll_ctl needed) and a wake on the thread's own queue, timed
// by epoll_wait's timeout, reads it again. rate 0: no limit, no clock read, no syscall.
struct Bucket {
  uint64_t rate = 0;         // bytes/s
  int64_t tokens = 0;        // bytes; below 0 after a read made in debt
  int64_t lastUs = 0;        // when it was last refilled
  int64_t heldSinceUs = -1;  // held back since then (the throttled-time figure), -1: not held
  bool armed = false;        // a wake is queued for it
};

// 50 ms of the rate, at least 16 KiB: the most a direction sends at once after a pause.
int64_t BurstOf(uint64_t rate) { return std::max<int64_t>(int64_t(rate / 20), 16 * 1024); }
// A held direction waits until the bucket holds 10 ms of the rate (a wake per ~10 ms, not per read).
int64_t QuantumOf(uint64_t rate) { return std::min<int64_t>(int64_t(rate / 100), BurstOf(rate)); }

// One direction of a connection: bytes read from fd[d] wait in `pipe` until fd[1-d] takes them.
struct Flow {
  Bucket bucket;
  Pipe pipe;
  size_t inPipe = 0;
  bool eof = false;   // the source sent its FIN
  bool shut = false;  // the FIN was passed on (shutdown(SHUT_WR) of the destination)
  bool bulk = false;  // read a full small-copy buffer once: splice from now on (CopySmall)
  bool hup = false;   // the source's FIN (or reset) was reported by epoll: read it to the end
  bool fin = false;   // ... a FIN alone (EPOLLRDHUP, no EPOLLHUP or EPOLLERR): a short read reached it
};

// Small messages (issue 16, the latency tail): a direction whose pipe is empty and that has never
// read a full buffer moves its bytes with recv/send through this many bytes on the stack, one read
// and one write, rather than two splices through a pipe. PIPE_BUF: what the destination cannot
// take goes into the (empty) pipe in one atomic write, whatever size the kernel gave the pipe.
constexpr size_t kSmallCopyBytes = 4096;
// VPCEP_RELAY_SPLICE_ONLY=1 turns it off (the comparison in README "Performance")
const bool kSmallCopy = getenv("VPCEP_RELAY_SPLICE_ONLY") == nullptr;
// A direction's last short message and its FIN in one segment (CopySmall); VPCEP_RELAY_FIN_WITH_DATA=off
// sends them apart, as before (a measure's switch, issue 16).
const bool kFinWithData = getenv("VPCEP_RELAY_FIN_WITH_DATA") == nullptr || strcmp(getenv("VPCEP_RELAY_FIN_WITH_DATA"), "off") != 0;

// ---- the fast path (issue 16): accept, admit, connect and relay on the relay threads ----------
// An endpoint whose admission TypeScript can compile has its listening sockets in every relay
// thread's epoll (EPOLLEXCLUSIVE): the thread that wakes accepts, decides admission from the
// rules TypeScript published (FastRules, replaced whole on every change), takes a SNAT port,
// chooses the backend and connects, in its own loop. TypeScript hears of each connection after
// the fact, in the thread's event batch (kOpenedEvent, kRefusedEvent).

// Refusal codes: the indexes of REFUSAL_REASONS in src/model/admission.ts.
enum FastRefusal : int {
  kCap = 0, kWhitelist = 1, kPolicy = 2, kNotAccepted = 3, kDaemonLimit = 4, kFdLimit = 5, kSnatExhausted = 6,
  kBackendUnreachable = 7, kVpc = 10, kOnPremises = 11, kSecurityGroup = 12, kZoneDown = 14, kNetworkAcl = 15,
};

// The SNAT source ports of one endpoint's address (src/net/snat-pool.ts's order: never-used
// ports lowest first, then those given back, first in first out), shared by the threads.
struct FastPorts {
  std::mutex mu;
  uint32_t next = 1024;
  uint32_t high = 65535;
  // the ports given back, oldest first; made at the first one: a deque allocates 0.6 KiB when made,
  // which an endpoint that never carried a connection does not need (issue 16, memory per endpoint)
  std::unique_ptr<std::deque<uint16_t>> back;
  uint32_t taken = 0;
  uint16_t Take() {
    std::lock_guard<std::mutex> lock(mu);
    uint16_t port = 0;
    if (next <= high) {
      port = uint16_t(next++);
    } else if (back && !back->empty()) {
      port = back->front();
      back->pop_front();
    }
    if (port != 0) taken++;
    return port;
  }
  void Give(uint16_t port) {
    if (port == 0) return;
    std::lock_guard<std::mutex> lock(mu);
    if (!back) back = std::make_unique<std::deque<uint16_t>>();
    back->push_back(port);
    taken--;
  }
};

// One endpoint on the fast path: its connections (the cap's count, exact across threads), its
// SNAT ports, and the bytes its fast connections moved, live ones included (Move() adds them:
// the scrape reads one pair of counters per endpoint, not every connection).
struct FastEndpoint {
  uint32_t id = 0;
  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> sent{0};
  FastPorts ports;
};

struct FastTarget {
  uint32_t ip = 0;
  uint32_t port = 0;
  uint32_t index = 0;    // the target's index in the terminal port's targets (TypeScript's)
  bool refuse = false;   // fail open chose a backend of a down zone: backend_unreachable
};

// What TypeScript compiled for one listener (one ENI and terminal port); immutable once published.
struct FastRules {
  int state = kNotAccepted;  // -1: accepting, else the refusal code of every connection
  bool zoneDown = false;
  int64_t capLeft = 0;       // the cap less the endpoint's connections on TypeScript's path
  uint32_t vpcNumber = 0;
  uint32_t vpcBase = 0;
  uint32_t port = 0;
  uint32_t eniHostIp = 0;    // the ENI's host address: the flow hash reads it
  uint32_t sourceIp = 0;     // kernel SNAT: the endpoint's SNAT address (0: logical, no bind)
  bool whitelistEnabled = false;
  std::vector<std::pair<uint32_t, uint32_t>> whitelist;  // [low, high] simulated addresses
  bool securityEnabled = false;
  bool aclEnabled = false;
  struct Rule { uint32_t lo, hi, from, to; };
  std::vector<Rule> security;
  // the network ACL's rules in number order, the first holding the address and port deciding:
  // inbound the client and the terminal port, outbound the client and its source port (the
  // ENI's answers: AWS's ACLs are stateless)
  struct AclRule { uint32_t lo, hi, from, to; bool allow; };
  std::vector<AclRule> acl;
  std::vector<AclRule> aclOut;
  std::vector<FastTarget> candidates;  // flow hash % size picks one
  int choiceReason = 0;                // CHOICE_REASONS index
  uint64_t rate = 0;                   // each connection's bandwidth limit both ways, bytes/s (0: none)
  uint32_t idleMs = 0;                 // its connections' idle timeout (ms), the NLB listener's; 0: the daemon's (kGlobalIdleMs)
  std::string preamble;                // a PROXY v2 header with source address and port 0, or empty
};

// A public service's listener (gateway routing, src/dataplane/fast-routes.ts compileRoutes()): the
// outcome of src/model/routing.ts decide() per client VPC and subnet, the destination being the
// listener's; per connection the threads check the policy's allowed source ranges and the cap.
struct FastRouteEntry {
  std::shared_ptr<FastEndpoint> endpoint;  // entry 0: the internet path; else a gateway endpoint
  int64_t capLeft = 0;
};
struct FastSubnet {
  uint32_t lo = 0, hi = 0;  // its simulated addresses
  int kind = 0;             // src/dataplane/fast-routes.ts ROUTE_TARGETS index
  int refusal = -1;         // src/model/routing.ts ROUTE_REFUSALS index, -1: none decided yet
  int entry = -1;           // the entry it goes through (-1: none)
  std::vector<std::pair<uint32_t, uint32_t>> allowed;  // the policy's allowed sources (a gateway endpoint's)
};
struct FastVpc {
  uint32_t number = 0, base = 0;
  std::vector<FastSubnet> subnets;  // in the view's order: the first holding the source decides
};
struct FastRoutes {
  uint32_t publicIp = 0, port = 0, targetIp = 0, targetPort = 0, version = 0;
  std::vector<FastRouteEntry> entries;
  std::vector<FastVpc> vpcs;
};

struct FastListener {
  uint32_t id = 0;
  int fd = -1;
  std::shared_ptr<FastEndpoint> endpoint;
  std::shared_ptr<const FastRules> rules;    // std::atomic_load/atomic_store
  std::shared_ptr<const FastRoutes> routes;  // a public service's listener: set once, replaced by atomic_store
};

// Daemon-wide inputs TypeScript writes into a Uint32Array the threads read: see kGlobal*.
constexpr int kGlobalMax = 0, kGlobalFdBudget = 1, kGlobalListeners = 2, kGlobalSlowActive = 3, kGlobalOnPremAllow = 4;
// the connect and idle timeouts (ms) the threads apply to their own connections; 0: TypeScript's sweep does
constexpr int kGlobalConnectMs = 5, kGlobalIdleMs = 6;
constexpr int kGlobalVpcBase = 8;                 // 256 words: the network base of VPC number k
constexpr int kGlobalIsVpc = kGlobalVpcBase + 256;  // 8 words: a bit per VPC number in use
constexpr int kGlobalWords = kGlobalIsVpc + 8;

struct Fast {
  std::shared_mutex mu;  // the listeners: shared by the accepting threads, unique to change them
  std::unordered_map<uint32_t, std::shared_ptr<FastListener>> listeners;
  std::unordered_map<uint32_t, std::shared_ptr<FastEndpoint>> endpoints;  // JS thread only
  uint32_t nextEndpoint = 1;                                               // JS thread only
  std::atomic<int64_t> active{0};  // connections on the fast path, daemon-wide
  uint32_t* globals = nullptr;     // kGlobalWords, owned by a JS Uint32Array kept referenced
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> reports{0};  // batches of events handed to the JS thread (each a wake of it)
};
Fast& fast = *new Fast;

inline uint32_t Global(int i) { return fast.globals ? __atomic_load_n(&fast.globals[i], __ATOMIC_RELAXED) : 0; }

// The epoll tag of a fast listener: the top bit set (connection tags keep it clear).
constexpr uint64_t kListenTagBit = uint64_t(1) << 63;
constexpr int kOpenedEvent = 4, kRefusedEvent = 5;
// a fast connection opened and closed within one report window, in one event (FastCollapse):
// [target * 4 + choice, kind, close reason, listener, connect µs (-1: never connected), 0]
constexpr int kBriefEvent = 6;
// How long a relay thread holds its fast connections' events before it reports them (one wake of
// the JS thread per window and thread, not one per epoll round), and how many it holds at most.
constexpr int64_t kReportUs = 10000;
constexpr size_t kReportEvents = 4096;

struct Conn {
  uint64_t id = 0;
  uint32_t slot = 0;  // the worker's slot and its generation: the epoll tag (see Tag())
  uint32_t gen = 0;
  int fd[2] = {-1, -1};  // 0: the client, 1: the backend
  Flow flow[2];          // 0: client -> backend, 1: backend -> client
  sockaddr_in target{};  // the backend
  sockaddr_in source{};  // the source to bind (SNAT), or sin_addr 0 for the kernel's choice
  bool kernelPort = false;  // its pool port was held elsewhere: the kernel chose the port at connect
  std::string preamble;  // written to the backend before any payload (a PROXY v2 header)
  size_t preambleOff = 0;
  int64_t startUs = 0;
  std::shared_ptr<Counters> counters;
  bool connecting = true;
  bool closed = false;
  std::shared_ptr<FastEndpoint> fastEndpoint;  // the fast path's: released at the close
  uint16_t fastPort = 0;                       // its SNAT port, back to the endpoint's pool then
  uint64_t fastSeen = 0;                       // bytes both ways at its last timeout check
  int64_t fastActiveUs = 0;                    // when bytes last moved (seen by the check)
  // the fast listener it came through (0: none, a routed one) and that listener's idle timeout when
  // it was admitted (ms, 0: the daemon's): the check reads the listener's rules as they are now, so a
  // changed tcp.idle_timeout.seconds applies to live connections; this one once the listener is gone
  uint32_t fastListener = 0;
  uint32_t fastIdleMs = 0;
  // A routed connection's (a public service's listener) opened event is reported at once (the
  // gateway makes nothing of a brief event), so its connected and closed events are too: from the
  // outbox, the delivery of an earlier batch could take them ahead of its opened one, still queued,
  // and TypeScript dropped them (the connection, left connecting, was failed as backend_timeout
  // at the connect deadline though it relayed; a close dropped so kept its slot).
  bool fastRouted = false;
  // writes to the backend socket before TCP_NODELAY and SO_SNDBUF are set on it (Worker::Start:
  // 2, set before the second write; 0: set, as an adopted connection's sockets come)
  uint8_t untunedWrites = 0;
  uint64_t addTurn = 0;  // the worker's turn whose ring queue holds the ADDs of its sockets (0: none)
};

struct Event {
  uint64_t id;
  int kind;
  Reason reason;
  uint64_t received;
  uint64_t sent;
  int64_t connectUs;
  // a fast-path connection's opened, connected or closed, or a refusal: reported on the thread's timer (FastDefer)
  bool deferrable = false;
  // connected, or closed before it was: the source port the kernel chose, its pool port being held
  // by another socket (0: the pool's, or none); the flow log names the port the backend saw
  uint32_t kernelPort = 0;
};

struct Command {
  enum Kind { Open, Cut, Close, Stop, Break, Shape, Detach, Adopt, CutEndpoint, ShapeEndpoint, FastHandOver, Ping, Stall } kind;
  uint64_t id;
  Conn* conn;
  uint64_t rate = 0;  // Shape: bytes/s, 0: no limit
  // FastHandOver: a client another thread accepted on fast listener `id`, for this one to admit
  int fd = -1;
  uint32_t ip = 0;
  uint32_t port = 0;
};

// A held direction's wake: when, and the epoll tag of its connection and direction (a stale tag
// names no connection and is dropped, as a stale epoll event is).
struct Wake {
  int64_t atUs;
  uint64_t tag;
  bool operator>(const Wake& o) const { return atUs > o.atUs; }
};

class Worker;

// A listening socket polled by Node's event loop; accepted connections go to JS in batches.
struct Listener {
  uv_poll_t poll;
  int fd = -1;
  uint32_t id = 0;
};

// The process-wide relay: its threads, the id -> counters table read by the JS thread, the
// listeners and the callbacks.
struct Relay {
  std::vector<std::unique_ptr<Worker>> workers;
  std::mutex mu;
  struct Entry {
    std::shared_ptr<Counters> counters;
    Worker* worker;
  };
  std::unordered_map<uint64_t, Entry> table;  // guarded by mu
  std::atomic<uint64_t> nextId{1};            // the JS thread and the fast path's threads
  size_t nextWorker = 0;                      // JS thread only
  Napi::ThreadSafeFunction onEvents;
  Napi::ThreadSafeFunction onFatal;  // a relay thread died: the daemon must stop
  // epoll events naming a connection already freed (its slot empty or reused): ignored
  std::atomic<uint64_t> staleEvents{0};
  // pipes the kernel left smaller than pipeBytes (F_SETPIPE_SZ refused: the user's pipe quota)
  std::atomic<uint64_t> pipesUndersized{0};
  // µs limited directions were held back by their bandwidth (all threads)
  std::atomic<uint64_t> throttledUs{0};
  size_t pipeBytes = kPipeBytes;  // set by the first init(), before the threads start
  bool uringWanted = true;        // set by the first init(): false makes every call a direct one
  bool socketsAhead = true;       // and whether the ring makes backend sockets ahead (not under a low fd limit)
  int socketBuffer = 0;           // SO_RCVBUF/SO_SNDBUF of relayed sockets; 0: the kernel's autotuning
  // Test hook: copies of new connections' sockets, held as a forked child would (epoll(7) Q6).
  std::atomic<bool> holdCopies{false};
  std::vector<int> heldCopies;  // guarded by mu
  std::unordered_map<uint64_t, Detached> detached;  // guarded by mu: detached, not yet taken by JS
  std::atomic<bool> live{false};
  // JS thread only:
  napi_env env = nullptr;
  Napi::FunctionReference onAccept;
  Napi::Reference<Napi::Uint32Array> acceptBuffer;  // kAcceptBatch x [fd, ip, port], shared with JS
  uint32_t* accepted = nullptr;
  std::unique_ptr<Napi::AsyncContext> acceptContext;
  std::unordered_map<uint32_t, Listener*> listeners;
  uint32_t nextListener = 1;
  int spare = -1;  // a descriptor kept to accept-and-reset one connection when the process has none left
  // Empty pipes kept per thread for the next busy connection (idle connections hold none); set
  // by the first init(), before the threads start.
  size_t poolMax = 64;
};

// Never destroyed: at exit() the threads may still run (an exit without the env cleanup hook).
Relay& g = *new Relay;

void CloseFd(int& fd) {
  if (fd >= 0) {
    // close(2) may report EINTR, but on Linux the fd is released anyway: never retry.
    close(fd);
    fd = -1;
  }
}

void Linger0(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// Clamps a socket's kernel buffers (HAProxy's tune.rcvbuf/tune.sndbuf): with autotuning a peer
// that stops reading pins up to tcp_rmem + tcp_wmem (16 MiB) per connection.
void ClampReceive(int fd) {
  if (g.socketBuffer > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &g.socketBuffer, sizeof g.socketBuffer);
}
void ClampSend(int fd) {
  if (g.socketBuffer > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &g.socketBuffer, sizeof g.socketBuffer);
}
void ClampBuffers(int fd) {
  ClampReceive(fd);
  ClampSend(fd);
}

// Runs on the JS thread: one batch of a worker's events. Closed connections leave the table
// only now, so that the byte counts read in between never go back.
Napi::Float64Array EncodeEvents(Napi::Env env, const std::vector<Event>& events) {
  auto out = Napi::Float64Array::New(env, events.size() * kEventWidth);
  double* p = out.Data();
  for (const Event& e : events) {
    *p++ = e.id;
    *p++ = e.kind;
    *p++ = double(int(e.reason));
    *p++ = double(e.received);
    *p++ = double(e.sent);
    *p++ = double(e.connectUs);
    *p++ = double(e.kernelPort);
  }
  return out;
}

// Closed connections leave the id table once their close is on its way to TypeScript.
void ForgetClosed(const std::vector<Event>& events) {
  std::lock_guard<std::mutex> lock(g.mu);
  for (const Event& e : events) {
    if (e.kind == kClosedEvent || e.kind == kDetachedEvent) g.table.erase(e.id);
  }
}

void FastTakeReports(std::vector<Event>& out);

void DeliverEvents(Napi::Env env, Napi::Function cb, std::vector<Event>* batch) {
  // every thread's outbox goes along (the fast connections' events, after this batch)
  if (env != nullptr) FastTakeReports(*batch);
  ForgetClosed(*batch);
  if (env != nullptr && cb != nullptr && !batch->empty()) cb.Call({EncodeEvents(env, *batch)});
  delete batch;
}

// ---- io_uring: the calls a relay thread does not wait on (issue 16, the connection rate) -----
// On this guest a kernel entry costs 1.0-1.5 µs (bench/uring-ops.c), and each relayed connection
// makes four whose answer its thread does not need before its next wait: the epoll_ctl ADDs of
// its two sockets and their two closes. With a ring they are queued during the turn and handed to
// the kernel with the wait itself (IORING_OP_EPOLL_WAIT, Linux 6.15): one io_uring_enter per turn
// for all of them and the wait. Where io_uring or one of the operations is missing (an older
// kernel, seccomp, io_uring_disabled, a build without liburing) or VPCEP_RELAY_URING=off, the
// same calls are made directly, as before; io() says which, and why.
//
// Order. A close needs none: a descriptor's number is not handed out again before its close runs,
// and a freed connection's late events are stale by their tag. An ADD must never run after its
// socket's close (a number reused by the next accept would be registered under the old tag), and
// io_uring runs an ADD on one of its worker threads when the epoll's mutex is taken (the JS thread
// adding a listener): so a turn's ADDs are hard-linked in front of the wait, and no wait is left
// in flight between turns (one that timed out is cancelled). Every ADD handed to the kernel has
// run when Wait() returns; one still queued when its connection finishes is dropped, unsent.
constexpr uint8_t kOpEpollWait = 59;  // IORING_OP_EPOLL_WAIT: newer than Debian's 6.1 headers
constexpr uint64_t kRingWaitTag = 1, kRingFenceTag = 2, kRingCloseTag = 3, kRingCancelTag = 4, kRingSocketTag = 5;
constexpr uint64_t kRingAddBit = uint64_t(1) << 63;  // an ADD's completion: the bit and its epoll tag
constexpr uint64_t kRingOptionBit = uint64_t(1) << 62;  // a socket option's: the bit and the socket
constexpr unsigned kRingEntries = 1024;
// SOCKET_URING_OP_SETSOCKOPT (Linux 6.7), an IORING_OP_URING_CMD on a socket: newer than the headers
constexpr uint32_t kSocketCmdSetsockopt = 3;
// Backend sockets a thread keeps made ahead: a batch when fewer than kSocketsLow are left
constexpr size_t kSocketsLow = 16, kSocketsBatch = 32;

class IoRing {
 public:
  // an ADD the kernel refused: its epoll tag and errno
  struct Failure {
    uint64_t tag;
    int err;
  };

  // On the relay thread (the ring belongs to the thread that made it): "" when on, else why not.
  std::string Open() {
#ifdef VPCEP_URING
    if (!g.uringWanted) return "VPCEP_RELAY_URING=off";
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    int rc = io_uring_queue_init_params(kRingEntries, &ring_, &p);
    if (rc < 0) return std::string("io_uring_setup: ") + strerror(-rc);
    const char* missing = nullptr;
    if (!(p.features & IORING_FEAT_EXT_ARG)) missing = "IORING_FEAT_EXT_ARG (Linux 5.11)";
    if (!(p.features & IORING_FEAT_CQE_SKIP)) missing = "IORING_FEAT_CQE_SKIP (Linux 5.17)";
    if (io_uring_probe* probe = io_uring_get_probe_ring(&ring_)) {
      if (!io_uring_opcode_supported(probe, kOpEpollWait)) missing = "IORING_OP_EPOLL_WAIT (Linux 6.15)";
      if (!io_uring_opcode_supported(probe, IORING_OP_EPOLL_CTL)) missing = "IORING_OP_EPOLL_CTL";
      if (!io_uring_opcode_supported(probe, IORING_OP_CLOSE)) missing = "IORING_OP_CLOSE";
      if (!io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL)) missing = "IORING_OP_ASYNC_CANCEL";
      io_uring_free_probe(probe);
    } else {
      missing = "IORING_REGISTER_PROBE";
    }
    if (missing != nullptr) {
      io_uring_queue_exit(&ring_);
      return std::string("the kernel has no ") + missing;
    }
    on_ = true;
    sockets_ = g.socketsAhead && ProbeSockets();
    return "";
#else
    return "built without liburing (liburing-dev was not installed)";
#endif
  }

  bool on() const { return on_; }

  void Add(int fd, uint64_t tag, uint32_t events) {
    epoll_event e{};
    e.events = events;
    e.data.u64 = tag;
    adds_.push_back({fd, e});
  }

  // the queued ADD of FD (its connection finished or left in the same turn) is not sent
  void Drop(int fd) {
    for (Pending& a : adds_) {
      if (a.fd == fd) a.fd = -1;
    }
  }

  void Close(int fd) { closes_.push_back(fd); }

  // A backend socket made ahead (non-blocking, close-on-exec, SO_REUSEADDR set, its receive
  // buffer clamped to RCVBUF as Worker::Start() would): its descriptor, or -1 when none is ready
  // (the caller makes one directly). One made for another clamp (a data plane made since) is
  // closed: there is no taking a clamp back.
  int TakeSocket(int rcvbuf) {
    while (!ready_.empty()) {
      Made m = ready_.back();
      ready_.pop_back();
      held_.fetch_sub(1, std::memory_order_relaxed);
      if (m.rcvbuf == rcvbuf) return m.fd;
      closes_.push_back(m.fd);
    }
    return -1;
  }

  // made-ahead sockets held now (read by any thread: figures())
  size_t held() const { return held_.load(std::memory_order_relaxed); }

  // the descriptors the thread may hold in made-ahead sockets at most (the fd budget leaves them out)
  static constexpr size_t kSocketsMax = kSocketsLow + kSocketsBatch;
  bool sockets() const { return sockets_; }

  // The turn's closes and ADDs, then the wait for up to MAX events (TIMEOUT ms, -1: none): the
  // number of events, or -1 with errno (as epoll_wait). FAILED gets the ADDs the kernel refused.
  int Wait(int ep, epoll_event* events, int max, int timeoutMs, std::vector<Failure>& failed) {
#ifdef VPCEP_URING
    for (int fd : closes_) {
      io_uring_sqe* s = Next(false, failed);
      io_uring_prep_close(s, fd);
      s->flags |= IOSQE_CQE_SKIP_SUCCESS;
      s->user_data = kRingCloseTag;
    }
    closes_.clear();
    // More backend sockets when few are left; their completions carry the descriptors, and the
    // wait below counts those not yet read, so that they do not end it early.
    if (sockets_ && ready_.size() + made_.size() + making_ < kSocketsLow) {
      for (size_t i = 0; i < kSocketsBatch; i++) {
        io_uring_sqe* s = Next(false, failed);
        io_uring_prep_socket(s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, 0);
        s->user_data = kRingSocketTag;
        making_++;
      }
    }
    bool chained = false;
    // The options of the sockets made last turn, in the chain in front of the wait: they are set
    // when the wait completes, and only then are the sockets handed out.
    for (const Made& m : made_) {
      chained = Option(m.fd, SO_REUSEADDR, &one_, chained, failed);
      if (m.rcvbuf > 0) chained = Option(m.fd, SO_RCVBUF, &m.rcvbuf, chained, failed);
    }
    for (Pending& a : adds_) {
      if (a.fd < 0) continue;
      io_uring_sqe* s = Next(chained, failed);
      io_uring_prep_epoll_ctl(s, ep, a.fd, EPOLL_CTL_ADD, &a.ev);
      s->flags |= IOSQE_IO_HARDLINK | IOSQE_CQE_SKIP_SUCCESS;
      s->user_data = kRingAddBit | a.ev.data.u64;
      chained = true;
    }
    io_uring_sqe* s = Next(chained, failed);
    io_uring_prep_rw(kOpEpollWait, s, ep, events, unsigned(max), 0);
    s->user_data = kRingWaitTag;
    waiting_ = true;
    result_ = 0;
    const unsigned expected = 1 + unsigned(making_);
    int rc;
    if (timeoutMs < 0) {
      rc = io_uring_submit_and_wait(&ring_, expected);
    } else {
      __kernel_timespec ts{timeoutMs / 1000, (timeoutMs % 1000) * 1000000LL};
      io_uring_cqe* cqe = nullptr;
      rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, expected, &ts, nullptr);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
      errno = -rc;
      return -1;
    }
    // Entries the kernel did not take (EAGAIN or EBUSY: no memory for a request, a full
    // completion queue) go again, the completions read first to make room: the ADDs' events and
    // the options' values they point at must stay as they are until the kernel has read them.
    while (io_uring_sq_ready(&ring_) > 0) {
      Harvest(failed);
      rc = io_uring_submit(&ring_);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        errno = -rc;
        return -1;
      }
    }
    adds_.clear();  // the kernel copied their events (and the options their values) as it took them
    Harvest(failed);
    while (waiting_) Cancel(failed);
    // the chain has run: the sockets whose options were in it are ready, but for a refused option
    for (const Made& m : made_) {
      if (std::find(spoiled_.begin(), spoiled_.end(), m.fd) == spoiled_.end()) ready_.push_back(m);
      else closes_.push_back(m.fd);
    }
    made_.swap(fresh_);
    fresh_.clear();
    spoiled_.clear();
    held_.store(ready_.size() + made_.size(), std::memory_order_relaxed);
    if (result_ < 0) {
      errno = -result_;
      return -1;
    }
    return result_;
#else
    (void)ep, (void)events, (void)max, (void)timeoutMs, (void)failed;
    errno = ENOSYS;
    return -1;
#endif
  }

  // at the thread's end: what is queued or made ahead is closed directly, the ring goes
  void Exit() {
    for (int fd : closes_) close(fd);
    for (const Made& m : ready_) close(m.fd);
    for (const Made& m : made_) close(m.fd);
    for (const Made& m : fresh_) close(m.fd);
    closes_.clear();
    ready_.clear();
    made_.clear();
    fresh_.clear();
    held_.store(0);
#ifdef VPCEP_URING
    if (on_) io_uring_queue_exit(&ring_);
#endif
    on_ = false;
  }

 private:
  struct Pending {
    int fd;
    epoll_event ev;  // read by the kernel when it takes the entry (at the submit)
  };
  // a socket made ahead, and the receive buffer it is (or will be) clamped to (0: autotuned)
  struct Made {
    int fd;
    int rcvbuf;
  };

#ifdef VPCEP_URING
  // The next entry. With fewer than two left, what is queued goes now: a chain of ADDs ends in a
  // no-op whose completion is awaited, so that those ADDs have run before anything after them.
  io_uring_sqe* Next(bool chained, std::vector<Failure>& failed) {
    if (io_uring_sq_space_left(&ring_) >= 2) return io_uring_get_sqe(&ring_);
    fenced_ = !chained;
    if (chained) {
      io_uring_sqe* nop = io_uring_get_sqe(&ring_);
      io_uring_prep_nop(nop);
      nop->user_data = kRingFenceTag;
    }
    // (a submit the kernel turns away, EAGAIN or EBUSY, is tried again once the completions are read)
    while (!fenced_ || io_uring_sq_space_left(&ring_) < 2) {
      io_uring_submit_and_wait(&ring_, fenced_ ? 0 : 1);
      Harvest(failed);
    }
    return io_uring_get_sqe(&ring_);
  }

  // SOCKET_URING_OP_SETSOCKOPT: an IORING_OP_URING_CMD on the socket whose level and name sit
  // where addr is, the value's length where file_index is, its address where addr3 is (read when
  // the kernel takes the entry)
  static void PrepOption(io_uring_sqe* s, int fd, int name, const int* value) {
    io_uring_prep_rw(IORING_OP_URING_CMD, s, fd, nullptr, 0, 0);
    s->off = kSocketCmdSetsockopt;  // cmd_op
    s->addr = uint64_t(uint32_t(SOL_SOCKET)) | uint64_t(uint32_t(name)) << 32;
    s->file_index = sizeof(int);
    s->addr3 = uint64_t(uintptr_t(value));
  }

  // One socket option through the ring, hard-linked in the chain in front of the wait. True: the
  // chain is open.
  bool Option(int fd, int name, const int* value, bool chained, std::vector<Failure>& failed) {
    io_uring_sqe* s = Next(chained, failed);
    PrepOption(s, fd, name, value);
    s->flags |= IOSQE_IO_HARDLINK | IOSQE_CQE_SKIP_SUCCESS;
    s->user_data = kRingOptionBit | uint64_t(uint32_t(fd));
    return true;
  }

  // Whether this kernel makes sockets and sets their options through the ring (IORING_OP_SOCKET,
  // 5.19; SOCKET_URING_OP_SETSOCKOPT, 6.7): one socket made and given SO_REUSEADDR, then closed.
  bool ProbeSockets() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    io_uring_prep_socket(s, AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, 0);
    io_uring_cqe* cqe = nullptr;
    if (io_uring_submit_and_wait(&ring_, 1) < 0 || io_uring_peek_cqe(&ring_, &cqe) != 0) return false;
    const int fd = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    if (fd < 0) return false;
    PrepOption(io_uring_get_sqe(&ring_), fd, SO_REUSEADDR, &one_);
    cqe = nullptr;
    int set = 0;
    socklen_t len = sizeof set;
    bool ok = io_uring_submit_and_wait(&ring_, 1) >= 0 && io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe->res == 0;
    if (cqe != nullptr) io_uring_cqe_seen(&ring_, cqe);
    ok = ok && getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &set, &len) == 0 && set != 0;
    close(fd);
    return ok;
  }

  // A wait still in flight (timed out, or woken by another completion) is cancelled; its
  // completion may still bring events (a race the cancel lost), which the caller then takes.
  void Cancel(std::vector<Failure>& failed) {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    io_uring_prep_cancel64(s, kRingWaitTag, 0);
    s->flags |= IOSQE_CQE_SKIP_SUCCESS;
    s->user_data = kRingCancelTag;
    io_uring_submit_and_wait(&ring_, 1);
    Harvest(failed);
  }

  void Harvest(std::vector<Failure>& failed) {
    unsigned head, n = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      n++;
      const uint64_t ud = cqe->user_data;
      if (ud & kRingAddBit) {
        failed.push_back({ud & ~kRingAddBit, -cqe->res});  // only a failure completes (CQE_SKIP_SUCCESS)
      } else if (ud == kRingWaitTag) {
        waiting_ = false;
        // -EAGAIN: a turn with no event, where epoll_wait(2) would have slept on. The ring's wait
        // never sleeps in the kernel: woken with no event left to give (the other thread's epoll
        // took the client of a fast listener both poll, EPOLLEXCLUSIVE), it is retried at the
        // next wake, and past io_uring's limit of retries ends -EAGAIN. Read as an error, it
        // ended the thread (a storm of clients stopped the daemon).
        result_ = cqe->res == -ECANCELED || cqe->res == -EINTR || cqe->res == -EAGAIN ? 0 : cqe->res;
      } else if (ud == kRingFenceTag) {
        fenced_ = true;
      } else if (ud & kRingOptionBit) {
        spoiled_.push_back(int(uint32_t(ud)));  // only a refused option completes
      } else if (ud == kRingSocketTag) {
        making_--;
        if (cqe->res >= 0) fresh_.push_back({cqe->res, rcvbuf_});
        // (EMFILE and the like: Start() makes its socket directly meanwhile)
      }
      // kRingCancelTag: the cancel found no wait (it had ended, or waits behind an ADD run on
      // io_uring's worker): Wait() tries again while its wait is in flight. kRingCloseTag: a
      // close the kernel refused (the descriptor is the thread's own: EBADF cannot come),
      // ignored as a direct close's result is.
    }
    io_uring_cq_advance(&ring_, n);
  }

  io_uring ring_{};
#endif
  bool on_ = false;
  bool sockets_ = false;  // backend sockets are made ahead through the ring
  bool waiting_ = false;  // the turn's wait has not completed
  bool fenced_ = false;
  int result_ = 0;        // the wait's completion: events, or -errno
  std::vector<Pending> adds_;
  std::vector<int> closes_;
  // made-ahead sockets: being made (count), made this turn (fresh_), options queued (made_), ready
  size_t making_ = 0;
  std::vector<Made> fresh_, made_, ready_;
  std::vector<int> spoiled_;  // made_ sockets whose option the kernel refused
  std::atomic<size_t> held_{0};
 public:
  int rcvbuf_ = 0;            // the clamp sockets are made for now (g.socketBuffer, set by the thread)
 private:
  const int one_ = 1;
};

class Worker {
 public:
  Worker() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    ev_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = kWakeTag;
    epoll_ctl(ep_, EPOLL_CTL_ADD, ev_, &e);
    fastSpare_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ringReady_ = ringOpened_.get_future();
    thread_ = std::thread([this] { Run(); });
  }

  // Waits until the thread has set up its ring (or found why not): "" when its calls go through
  // io_uring, else the reason they are direct.
  const std::string& RingWhy() {
    ringReady_.wait();
    return ringWhy_;
  }
  // whether the thread makes its backend sockets ahead through the ring (after RingWhy())
  bool RingSockets() const { return ring_.sockets(); }
  size_t RingSocketsHeld() const { return ring_.held(); }
  // the thread's turns that had events since start (its wake-ups for work): the daemon's
  // memory release waits for the threads to be quiet too (src/memory-release.ts)
  uint64_t Turns() const { return busyTurns_.load(std::memory_order_relaxed); }

  ~Worker() {
    if (thread_.joinable()) thread_.detach();
  }

  bool ok() const { return ep_ >= 0 && ev_ >= 0; }
  int epfd() const { return ep_; }

  // the fast path (defined below, after the listeners)
  void FastAccept(uint32_t listenerId);
  // A client accepted on a fast listener: admitted by its routes (a public listener) or rules.
  void FastAdmitAccepted(const FastListener& l, int fd, uint32_t ip, uint32_t port);
  // A client another thread accepted and handed over (Spread): admitted here, unless its listener went.
  void FastTakeOver(uint32_t listenerId, int fd, uint32_t ip, uint32_t port);
  // The thread a client just accepted here should run on: the one with the fewest connections
  // (live and handed over), this one unless it has more than kSpreadSlack more. The thread that
  // wakes first takes a whole burst of clients from a listener (EPOLLEXCLUSIVE); handing the
  // surplus over spreads kept-alive connections over the threads, as HAProxy's threads share
  // accepted connections (the latency scenario's 20 connections had put 75% of the relay work
  // on one of two threads; a test's burst of 20 went 17/3 and 19/1).
  Worker* Spread();
  // the connections this thread holds and those handed over to it not yet taken
  int Load() const { return live_.load(std::memory_order_relaxed) + inbound_.load(std::memory_order_relaxed); }
  // How long (µs) a command posted to this thread has waited for it to turn its loop (0: none
  // waits); with none waiting and PING, a no-op is posted, so that the next call measures the
  // thread. A thread is woken at once by a post: a wait of seconds means it is stuck (or gone: dead()).
  int64_t Probe(bool ping) {
    const int64_t posted = postedUs_.load(std::memory_order_relaxed);
    if (posted != 0) return std::max<int64_t>(1, NowUs() - posted);
    if (ping && !dead_.load(std::memory_order_relaxed)) Post({Command::Ping, 0, nullptr});
    return 0;
  }
  int Live() const { return live_.load(std::memory_order_relaxed); }
  int Inbound() const { return inbound_.load(std::memory_order_relaxed); }
  // the thread left its loop (Die): its connections stay as they are until the process ends
  bool dead() const { return dead_.load(std::memory_order_relaxed); }
  void FastAdmit(const FastListener& l, const FastRules& r, int fd, uint32_t ip, uint32_t port);
  void FastRouteAdmit(const FastListener& l, const FastRoutes& r, int fd, uint32_t ip, uint32_t port);
  void FastRelease(Conn* c);
  void FastDetached(Conn* c);
  void FastCutEndpoint(uint32_t endpoint);
  void FastShapeEndpoint(uint32_t endpoint, uint64_t rate);
  int FastTimeout(int timeout) const;
  void FastSweep();
  void FastResetRefused();
  bool FastDefer();
  void TakeOutbox(std::vector<Event>& out) {
    std::lock_guard<std::mutex> lock(outMu_);
    out.insert(out.end(), outbox_.begin(), outbox_.end());
    outbox_.clear();
  }
  std::mutex outMu_;
  std::vector<Event> outbox_;   // guarded by outMu_: fast connections' events for the next report
  int64_t fastReportAtUs_ = 0;  // when the outbox is reported (0: not due)
  std::vector<int> fastRefused_;  // clients refused this round: reset once their report is on its way
  int fastSpare_ = -1;
  size_t fastConns_ = 0;       // this thread's fast-path connections open
  int64_t fastSweepAtUs_ = 0;  // when its timeouts are checked next  // a descriptor kept to accept-and-reset one client when the process has none left

  void Post(Command c) {
    bool wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      // The thread drains the whole queue once woken: one wake-up per batch of commands.
      wake = queue_.empty();
      queue_.push_back(c);
      if (wake) postedUs_.store(NowUs(), std::memory_order_relaxed);
    }
    if (!wake) return;
    uint64_t one = 1;
    while (write(ev_, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }

  void Join() {
    Post({Command::Stop, 0, nullptr});
    if (thread_.joinable()) thread_.join();
    CloseFd(ep_);
    CloseFd(ev_);
  }

 private:
  void Run() {
    // named for ps, top and /proc/<pid>/task/*/comm (the JS thread's cost told from the threads')
    pthread_setname_np(pthread_self(), "vpcep-relay");
    ringWhy_ = ring_.Open();
    ringOpened_.set_value();
    epoll_event* events = events_buf_;
    bool stopping = false;
    while (!stopping) {
      // No limited direction held: sleep until an event. Else until the earliest wake.
      int timeout = -1;
      if (!wakes_.empty()) timeout = int(std::max<int64_t>(0, (wakes_.top().atUs - NowUs() + 999) / 1000));
      timeout = FastTimeout(timeout);
      int n = WaitEvents(events, kMaxEvents, timeout);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Die("epoll_wait", errno);
      }
      // written by this thread only: a plain store, no locked add on the hot path
      if (n > 0) busyTurns_.store(busyTurns_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      for (int i = 0; i < n; i++) {
        uint64_t tag = events[i].data.u64;
        if (tag == kWakeTag) {
          stopping = Commands() || stopping;
          continue;
        }
        if (tag & kListenTagBit) {
          FastAccept(uint32_t(tag));
          continue;
        }
        Conn* c = Named(tag);
        int side = int(tag & 1);
        if (c == nullptr) {
          g.staleEvents.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        if (c->closed) continue;
        if (c->connecting) {
          Connecting(c, side, events[i].events);
          continue;
        }
        if (events[i].events & EPOLLERR) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(c->fd[side], SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            Finish(c, side == 0 ? Reason::ClientReset : Reason::BackendReset, true);
            continue;
          }
        }
        Ready(c, side, events[i].events);
      }
      if (!wakes_.empty()) Wakes();
      FastSweep();
      for (Conn* c : graveyard_) Free(c);
      graveyard_.clear();
      Flush();
      FastResetRefused();
    }
    // Process exit: drop what is left without callbacks (the JS side is going away).
    for (auto& [id, c] : conns_) {
      for (int s = 0; s < 2; s++) CloseFd(c->fd[s]);
      for (Flow& f : c->flow) ClosePipe(f.pipe);
      delete c;
    }
    conns_.clear();
    for (Pipe& p : pool_) ClosePipe(p);
    pool_.clear();
    ring_.Exit();
  }

  // epoll_wait(), or the ring's wait with the turn's queued calls (IoRing); an ADD the kernel
  // refused finishes its connection before the turn's events are read.
  int WaitEvents(epoll_event* events, int max, int timeout) {
    if (!ring_.on()) return epoll_wait(ep_, events, max, timeout);
    turn_++;
    ring_.rcvbuf_ = g.socketBuffer;
    ringFailures_.clear();
    int n = ring_.Wait(ep_, events, max, timeout, ringFailures_);
    const int err = errno;
    for (const IoRing::Failure& f : ringFailures_) {
      Conn* c = Named(f.tag);
      if (c != nullptr && !c->closed) Finish(c, c->connecting ? ConnectFailure(f.err) : Reason::Error, true);
    }
    errno = err;
    return n;
  }

  // One socket of C into the epoll set, edge-triggered: through the ring (sent with the wait) or
  // directly. False: the direct call failed (errno).
  bool Watch(Conn* c, int side) {
    // Edge-triggered: each readiness change is reported once, and Move() runs its flow until
    // the kernel says EAGAIN (or the pipe is full and the destination cannot take more).
    const uint32_t events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    if (ring_.on()) {
      ring_.Add(c->fd[side], Tag(c, side), events);
      c->addTurn = turn_ + 1;  // sent with the next wait
      return true;
    }
    epoll_event e{};
    e.events = events;
    e.data.u64 = Tag(c, side);
    return epoll_ctl(ep_, EPOLL_CTL_ADD, c->fd[side], &e) == 0;
  }

  // The ADDs of C still queued (its sockets watched this turn) are not sent: it finished or left.
  void Unwatch(Conn* c) {
    if (c->addTurn != turn_ + 1) return;
    for (int fd : c->fd) {
      if (fd >= 0) ring_.Drop(fd);
    }
    c->addTurn = 0;
  }

  // Closes a relayed socket: queued on the ring (sent with the wait) or directly.
  void CloseSocket(int& fd) {
    if (fd < 0) return;
    if (!ring_.on()) return CloseFd(fd);
    ring_.Close(fd);
    fd = -1;
  }

  // Runs the queued commands; true when told to stop.
  bool Commands() {
    uint64_t count;
    while (read(ev_, &count, sizeof count) < 0 && errno == EINTR) {
    }
    std::vector<Command> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(queue_);
      postedUs_.store(0, std::memory_order_relaxed);
    }
    bool stop = false;
    for (const Command& cmd : batch) {
      switch (cmd.kind) {
        case Command::Open: Start(cmd.conn); break;
        case Command::Cut:
        case Command::Close: {
          auto it = conns_.find(cmd.id);
          if (it != conns_.end() && !it->second->closed) {
            Finish(it->second, cmd.kind == Command::Cut ? Reason::Cut : Reason::Closed, cmd.kind == Command::Cut);
          }
          break;
        }
        case Command::Shape: {
          auto it = conns_.find(cmd.id);
          if (it != conns_.end() && !it->second->closed) Shape(it->second, cmd.rate);
          break;
        }
        case Command::Adopt: Adopt(cmd.conn); break;
        case Command::Detach: {
          auto it = conns_.find(cmd.id);
          if (it != conns_.end() && !it->second->closed && !it->second->connecting) Detach(it->second);
          break;
        }
        case Command::Stop: stop = true; break;
        case Command::Break: CloseFd(ep_); break;  // test hook: the next epoll_wait fails (EBADF)
        case Command::CutEndpoint: FastCutEndpoint(uint32_t(cmd.id)); break;
        case Command::FastHandOver:
          inbound_.fetch_sub(1, std::memory_order_relaxed);
          FastTakeOver(uint32_t(cmd.id), cmd.fd, cmd.ip, cmd.port);
          break;
        case Command::ShapeEndpoint: FastShapeEndpoint(uint32_t(cmd.id), cmd.rate); break;
        case Command::Ping: break;  // Probe(): the wake alone is the answer
        case Command::Stall: std::this_thread::sleep_for(std::chrono::milliseconds(cmd.id)); break;  // test hook
      }
    }
    return stop;
  }

  // Hands this round's events to the JS thread in one call; a fast connection's wait in the
  // outbox for the report window (FastDefer), or go along with the next call.
  void Flush() {
    bool report = FastDefer();
    if (events_.empty() && !report) return;
    auto* batch = new std::vector<Event>();
    batch->swap(events_);
    bool queued;
    {
      std::lock_guard<std::mutex> lock(g.mu);  // onEvents may be swapped by a second init()
      queued = g.live.load() && g.onEvents.NonBlockingCall(batch, DeliverEvents) == napi_ok;
    }
    if (queued) fast.reports.fetch_add(1, std::memory_order_relaxed);
    if (!queued) {
      std::lock_guard<std::mutex> lock(g.mu);
      for (const Event& e : *batch) {
        if (e.kind == kClosedEvent || e.kind == kDetachedEvent) g.table.erase(e.id);
      }
      delete batch;
    }
  }

  // A new connection: the backend socket, its SNAT source, a non-blocking connect. The client is
  // not read until the connect completes (pause on accept).
  void Start(Conn* c) {
    conns_[c->id] = c;
    live_.store(int(conns_.size()), std::memory_order_relaxed);
    Occupy(c);
    // A socket the ring made ahead comes with SO_REUSEADDR and the receive buffer set (IoRing).
    int fd = ring_.TakeSocket(g.socketBuffer);
    const bool ready = fd >= 0;
    if (!ready) fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Finish(c, ConnectFailure(errno), true);
    c->fd[1] = fd;
    // The receive buffer before connect(): the window scale the SYN offers follows it, and a window
    // once offered cannot be taken back. TCP_NODELAY and the send buffer wait for the backend's
    // second write (BeforeBackendWrite): two system calls fewer for a connection whose request is
    // one message (issue 16, the connection rate).
    if (!ready) ClampReceive(fd);
    c->untunedWrites = 2;
    if (g.holdCopies.load()) Hold(c);
    if (c->source.sin_addr.s_addr != 0 && !Bind(fd, c->source, ready, &c->kernelPort)) return Finish(c, ConnectFailure(errno), true);
    for (int s = 0; s < 2; s++) {
      if (!Watch(c, s)) return Finish(c, ConnectFailure(errno), true);
    }
    if (connect(fd, reinterpret_cast<const sockaddr*>(&c->target), sizeof c->target) == 0) return Connected(c);
    if (errno != EINPROGRESS && errno != EINTR) return Finish(c, ConnectFailure(errno), true);
    // EPOLLOUT (or EPOLLERR) on the backend tells when the connect is done.
  }

  // Kernel SNAT binds the source address and port explicitly: an implicit bind would not reuse
  // ports still in TIME_WAIT and would run an address's ports dry under churn. SO_REUSEADDR lets
  // a port whose last connection is in TIME_WAIT be bound again; when a live socket elsewhere
  // holds the port, the kernel picks one at connect (IP_BIND_ADDRESS_NO_PORT).
  static bool Bind(int fd, sockaddr_in source, bool reuseSet, bool* kernelPort) {
    int one = 1;
    if (!reuseSet) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (source.sin_port == 0) setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    if (bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof source) == 0) return true;
    if (errno != EADDRINUSE || source.sin_port == 0) return false;
    source.sin_port = 0;
    *kernelPort = true;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    return bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof source) == 0;
  }

  void Connecting(Conn* c, int side, uint32_t events) {
    NoteHup(c, side, events);
    if (side == 0) {
      // The client reset before its backend answered; a FIN waits for the relay (half-close).
      if (events & EPOLLERR) Finish(c, Reason::ClientReset, true);
      return;
    }
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    // A failed connect reports EPOLLERR (and EPOLLHUP): only then is SO_ERROR worth a system call;
    // EPOLLOUT alone says the connect completed.
    if (events & (EPOLLERR | EPOLLHUP)) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return Finish(c, ConnectFailure(err), true);
    }
    Connected(c, events);
  }

  // The client's bytes (and FIN) held back since accept may go now; the backend is read when
  // this readiness says it has something.
  void Connected(Conn* c, uint32_t events = EPOLLIN) {
    c->connecting = false;
    events_.push_back({c->id, kConnected, Reason::Done, 0, 0, NowUs() - c->startUs, c->fastEndpoint != nullptr && !c->fastRouted, KernelPort(c)});
    Move(c, 0);
    if (!c->closed && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) Move(c, 1);
    Done(c);
  }

  bool TakePipe(Pipe& p) {
    if (!pool_.empty()) {
      p = pool_.back();
      pool_.pop_back();
      return true;
    }
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return false;
    // Past the user's pipe-user-pages-soft an unprivileged F_SETPIPE_SZ fails (EPERM) and the
    // pipe keeps what the kernel gave it (down to 8 KiB): it still works, counted as undersized.
    if (fcntl(fds[1], F_SETPIPE_SZ, int(g.pipeBytes)) < int(g.pipeBytes)) {
      g.pipesUndersized.fetch_add(1, std::memory_order_relaxed);
    }
    p.r = fds[0];
    p.w = fds[1];
    return true;
  }

  void GiveBackPipe(Flow& f) {
    if (f.pipe.r < 0) return;
    if (f.inPipe == 0 && pool_.size() < g.poolMax) {
      pool_.push_back(f.pipe);
      f.pipe = Pipe{};
    } else {
      ClosePipe(f.pipe);
    }
    f.inPipe = 0;
  }

  static void ClosePipe(Pipe& p) {
    CloseFd(p.r);
    CloseFd(p.w);
  }

  // A new limit for both directions, live: a direction held by the old one reads again at once
  // when the limit is lifted, else by the new rate from its next wake.
  void Shape(Conn* c, uint64_t rate) {
    bool resume = false;
    for (Flow& f : c->flow) {
      Bucket& b = f.bucket;
      if (rate == 0) {
        resume = resume || b.heldSinceUs >= 0;
        Release(b, NowUs());
        b = Bucket{};
      } else {
        if (b.rate == 0) {
          b.tokens = BurstOf(rate);
          b.lastUs = NowUs();
        }
        b.rate = rate;
        b.tokens = std::min(b.tokens, BurstOf(rate));
      }
    }
    if (resume && !c->connecting) {
      Move(c, 0);
      if (!c->closed) Move(c, 1);
      if (!c->closed) Done(c);
    }
  }

  // How many bytes direction d may read now (up to `room`): 0 when its bucket is empty, which
  // holds the direction and queues its wake.
  size_t Allowed(Conn* c, int d, size_t room) {
    Bucket& b = c->flow[d].bucket;
    int64_t now = NowUs();
    b.tokens = std::min(BurstOf(b.rate), b.tokens + int64_t((now - b.lastUs) * double(b.rate) / 1e6));
    b.lastUs = now;
    // Below a useful read (16 KiB, or 10 ms of a slower rate) the direction waits: reading what
    // trickles in per microsecond would spin this thread.
    if (b.tokens >= std::min<int64_t>(16 * 1024, QuantumOf(b.rate))) {
      Release(b, now);
      return std::min(room, size_t(b.tokens));
    }
    if (b.heldSinceUs < 0) b.heldSinceUs = now;
    if (!b.armed) {
      b.armed = true;
      wakes_.push({now + int64_t((QuantumOf(b.rate) - b.tokens) * 1e6 / double(b.rate)), Tag(c, d)});
    }
    return 0;
  }

  static void Release(Bucket& b, int64_t now) {
    if (b.heldSinceUs < 0) return;
    g.throttledUs.fetch_add(uint64_t(now - b.heldSinceUs), std::memory_order_relaxed);
    b.heldSinceUs = -1;
  }

  // The wakes that are due: each held direction reads again (and is held again if still short).
  void Wakes() {
    int64_t now = NowUs();
    while (!wakes_.empty() && wakes_.top().atUs <= now) {
      uint64_t tag = wakes_.top().tag;
      wakes_.pop();
      Conn* c = Named(tag);
      if (c == nullptr || c->closed) continue;
      int d = int(tag & 1);
      c->flow[d].bucket.armed = false;
      if (c->connecting) continue;
      Move(c, d);
      Done(c);
    }
  }

  // One readiness of one side: reads from it when it has bytes (or its FIN), writes to it only
  // when a flow towards it was waiting for room (a reported EPOLLOUT alone is no news).
  void Ready(Conn* c, int side, uint32_t events) {
    NoteHup(c, side, events);
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) Move(c, side);
    const Flow& back = c->flow[1 - side];
    if (!c->closed && (events & EPOLLOUT) && (back.inPipe > 0 || (side == 1 && c->preambleOff < c->preamble.size()))) Move(c, 1 - side);
    Done(c);
  }

  // A FIN reported with (or before) the bytes brings no later edge: the direction it ends reads
  // on to it. Without one, a short read drained the source (CopySmall): anything that comes after
  // it, bytes or FIN, is a new edge. A FIN alone comes after every byte, so a short read once it
  // is reported has reached it (HAProxy's read0): no recv for the 0. A reset or error is read.
  static void NoteHup(Conn* c, int side, uint32_t events) {
    Flow& f = c->flow[side];
    if (events & (EPOLLHUP | EPOLLERR)) {
      f.hup = true;
      f.fin = false;
    } else if ((events & EPOLLRDHUP) && !f.hup) {
      f.hup = f.fin = true;
    }
  }

  void Done(Conn* c) {
    if (!c->closed && c->flow[0].shut && c->flow[1].shut) Finish(c, Reason::Done, false);
  }

  // Before each write to the backend socket. Nagle's algorithm holds a small segment back only
  // while another small one is unacknowledged (Linux's Minshall variant), so a socket's first
  // write is never held; and a first write queues at most what one read took from the client,
  // whose receive buffer is clamped (the listener's): set before the second write, the options
  // bound what they bound when set at the socket's start. The kernel raises the send buffer's
  // limit as the connect completes; a limit holds no memory until bytes are written.
  static void BeforeBackendWrite(Conn* c) {
    if (c->untunedWrites > 0 && --c->untunedWrites == 0) TuneBackend(c);
  }

  // the backend socket's options that Start() left for later
  static void TuneBackend(Conn* c) {
    c->untunedWrites = 0;
    NoDelay(c->fd[1]);
    ClampSend(c->fd[1]);
  }

  // Moves one direction as far as the kernel lets it: pipe -> destination first (to make room),
  // then source -> pipe, until neither makes progress.
  void Move(Conn* c, int d) {
    Flow& f = c->flow[d];
    if (f.shut) return;
    const int src = c->fd[d];
    const int dst = c->fd[1 - d];
    Counters& k = *c->counters;
    bool moved = false;
    for (;;) {
      bool progress = false;
      if (d == 0 && c->preambleOff < c->preamble.size()) {
        BeforeBackendWrite(c);
        ssize_t n = send(dst, c->preamble.data() + c->preambleOff, c->preamble.size() - c->preambleOff, MSG_NOSIGNAL);
        if (n > 0) {
          c->preambleOff += size_t(n);
          continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;  // EPOLLOUT on the backend brings us back
        Finish(c, Reason::BackendReset, true);
        return;
      }
      if (f.inPipe > 0) {
        if (d == 0) BeforeBackendWrite(c);
        ssize_t n = splice(f.pipe.r, nullptr, dst, nullptr, f.inPipe, kSpliceFlags);
        if (n > 0) {
          f.inPipe -= size_t(n);
          if (d == 1) k.sent.fetch_add(uint64_t(n), std::memory_order_relaxed);
          if (d == 1 && c->fastEndpoint) c->fastEndpoint->sent.fetch_add(uint64_t(n), std::memory_order_relaxed);
          progress = moved = true;
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else if (!(n < 0 && errno == EAGAIN)) {
          Finish(c, d == 0 ? Reason::BackendReset : Reason::ClientReset, true);
          return;
        }
      }
      if (kSmallCopy && !f.bulk && f.inPipe == 0 && !f.eof && f.bucket.rate == 0 && (d == 1 || c->preambleOff == c->preamble.size())) {
        int r = CopySmall(c, d, f, k);
        if (r < 0) return;  // finished
        if (r > 0) moved = true;
        if (r == kCopiedShort && f.fin) f.eof = true;
        // drained (EAGAIN, or a short read with no FIN reported: HAProxy's rule, one recv fewer per
        // message), or the destination is full
        if (r == kCopiedNothing || f.inPipe > 0 || (r == kCopiedShort && !f.hup)) break;
        continue;  // read on to the reported FIN; a full buffer: bulk, spliced from now on
      }
      size_t room = f.eof ? 0 : g.pipeBytes - f.inPipe;
      if (room > 0 && f.bucket.rate > 0) room = Allowed(c, d, room);
      if (room > 0) {
        if (f.pipe.r < 0 && !TakePipe(f.pipe)) {
          Finish(c, Reason::Error, true);
          return;
        }
        ssize_t n = splice(src, nullptr, f.pipe.w, nullptr, room, kSpliceFlags);
        if (n > 0) {
          f.inPipe += size_t(n);
          if (f.bucket.rate > 0) f.bucket.tokens -= n;
          if (d == 0) k.received.fetch_add(uint64_t(n), std::memory_order_relaxed);
          if (d == 0 && c->fastEndpoint) c->fastEndpoint->received.fetch_add(uint64_t(n), std::memory_order_relaxed);
          progress = moved = true;
        } else if (n == 0) {
          f.eof = true;
          progress = true;
        } else if (errno == EINTR) {
          continue;
        } else if (errno != EAGAIN) {
          // EAGAIN: the source is empty, or (with bytes in the pipe) the pipe is full.
          Finish(c, d == 0 ? Reason::ClientReset : Reason::BackendReset, true);
          return;
        }
      }
      if (!progress) break;
    }
    if (moved) k.touched.store(true, std::memory_order_relaxed);
    if (f.inPipe == 0) GiveBackPipe(f);
    // Half-close carried through: the FIN follows the last byte (and the preamble). When the
    // other way is already shut, the close that follows sends the FIN.
    if (f.eof && f.inPipe == 0 && (d == 1 || c->preambleOff == c->preamble.size())) {
      if (!c->flow[1 - d].shut) shutdown(dst, SHUT_WR);
      f.shut = true;
    }
  }

  // CopySmall's outcomes: finished (closed), nothing read, a short read moved, a full buffer
  // moved (the direction is bulk from now on), the source's FIN.
  static constexpr int kCopyFinished = -1, kCopiedNothing = 0, kCopiedShort = 1, kCopiedFull = 2, kCopiedEof = 3;

  // One recv/send of direction d through a buffer on the stack (kSmallCopyBytes); what the
  // destination does not take waits in the pipe, as spliced bytes would.
  int CopySmall(Conn* c, int d, Flow& f, Counters& k) {
    char buf[kSmallCopyBytes];
    ssize_t n;
    do {
      n = recv(c->fd[d], buf, sizeof buf, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      f.eof = true;
      return kCopiedEof;
    }
    if (n < 0) {
      if (errno == EAGAIN) return kCopiedNothing;
      Finish(c, d == 0 ? Reason::ClientReset : Reason::BackendReset, true);
      return kCopyFinished;
    }
    if (d == 0) {
      k.received.fetch_add(uint64_t(n), std::memory_order_relaxed);
      if (c->fastEndpoint) c->fastEndpoint->received.fetch_add(uint64_t(n), std::memory_order_relaxed);
    }
    if (d == 0) BeforeBackendWrite(c);
    // A short read after epoll reported the source's FIN alone is the direction's last (Move passes
    // the FIN on next, by shutdown or by the close): MSG_MORE keeps the bytes in the socket and the
    // FIN goes out in their segment (tcp_send_fin adds it to an unsent tail), one segment and one
    // wake of the peer fewer (issue 16, the connection rate). Not after a full buffer (more may
    // follow), nor after EPOLLHUP or EPOLLERR (read on to the end, as Move does).
    const int more = kFinWithData && f.fin && size_t(n) < sizeof buf ? MSG_MORE : 0;
    ssize_t m;
    do {
      m = send(c->fd[1 - d], buf, size_t(n), MSG_NOSIGNAL | MSG_DONTWAIT | more);
    } while (m < 0 && errno == EINTR);
    if (m < 0 && errno != EAGAIN) {
      Finish(c, d == 0 ? Reason::BackendReset : Reason::ClientReset, true);
      return kCopyFinished;
    }
    if (m < 0) m = 0;
    if (d == 1 && m > 0) {
      k.sent.fetch_add(uint64_t(m), std::memory_order_relaxed);
      if (c->fastEndpoint) c->fastEndpoint->sent.fetch_add(uint64_t(m), std::memory_order_relaxed);
    }
    if (m < n) {
      // the rest waits in the empty pipe (one atomic write of at most PIPE_BUF); the
      // destination's EPOLLOUT moves it on
      if (f.pipe.r < 0 && !TakePipe(f.pipe)) {
        Finish(c, Reason::Error, true);
        return kCopyFinished;
      }
      ssize_t w;
      do {
        w = write(f.pipe.w, buf + m, size_t(n - m));
      } while (w < 0 && errno == EINTR);
      if (w != n - m) {
        Finish(c, Reason::Error, true);
        return kCopyFinished;
      }
      f.inPipe += size_t(w);
    }
    if (size_t(n) == sizeof buf) {
      f.bulk = true;
      return kCopiedFull;
    }
    return kCopiedShort;
  }

  // Closes both sockets (with RST when `reset`), frees the pipes, reports the close once.
  // the source port the kernel chose in place of a pool port held elsewhere (0: none such)
  static uint32_t KernelPort(const Conn* c) {
    if (!c->kernelPort || c->fd[1] < 0) return 0;
    sockaddr_in local{};
    socklen_t len = sizeof local;
    return getsockname(c->fd[1], reinterpret_cast<sockaddr*>(&local), &len) == 0 ? ntohs(local.sin_port) : 0;
  }

  void Finish(Conn* c, Reason reason, bool reset) {
    // a connect that failed went out from this port: read before the socket closes
    const uint32_t kernelPort = c->connecting ? KernelPort(c) : 0;
    c->closed = true;
    Unwatch(c);
    // Closing an fd (this file holds the only one) also takes it out of the epoll set.
    for (int s = 0; s < 2; s++) {
      if (c->fd[s] < 0) continue;
      if (reset) Linger0(c->fd[s]);
      CloseSocket(c->fd[s]);
    }
    for (Flow& f : c->flow) {
      GiveBackPipe(f);
      Release(f.bucket, f.bucket.heldSinceUs >= 0 ? NowUs() : 0);
    }
    conns_.erase(c->id);
    live_.store(int(conns_.size()), std::memory_order_relaxed);
    const bool fastConn = c->fastEndpoint != nullptr;
    if (fastConn) FastRelease(c);
    graveyard_.push_back(c);
    events_.push_back({c->id, kClosedEvent, reason, c->counters->received.load(), c->counters->sent.load(), 0, fastConn && !c->fastRouted, kernelPort});
  }

  // ---- detach (issue 15: a toxic added live) ----------------------------------------------
  // Between epoll rounds, the connection's state is whole: each direction's bytes are either in
  // the destination socket (sent on, in order) or in its pipe. The pipe's bytes are read out and
  // handed over with both sockets, which leave this thread's epoll set (they stay open); the
  // event reports the final byte counts as a close would, with kind kDetachedEvent. A FIN already
  // read is read again by the new owner (a socket past its FIN reads 0 again); one already passed
  // on (shutdown) leaves nothing more to write that way.
  void Detach(Conn* c) {
    Detached d;
    for (int dir = 0; dir < 2; dir++) {
      Flow& f = c->flow[dir];
      std::string& out = d.pending[dir];
      if (dir == 0 && c->preambleOff < c->preamble.size()) out.assign(c->preamble, c->preambleOff, std::string::npos);
      size_t want = f.inPipe;
      size_t at = out.size();
      out.resize(at + want);
      while (want > 0) {
        ssize_t n = read(f.pipe.r, &out[at], want);
        if (n > 0) {
          at += size_t(n);
          want -= size_t(n);
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else {
          break;  // cannot happen (the pipe holds inPipe bytes): what was read is handed over
        }
      }
      out.resize(at);
      f.inPipe = 0;
      GiveBackPipe(f);
      Release(f.bucket, f.bucket.heldSinceUs >= 0 ? NowUs() : 0);
    }
    // TypeScript writes to the backend from here on, with the options set
    if (c->untunedWrites > 0) TuneBackend(c);
    Unwatch(c);  // (its ADDs not sent yet: then there is nothing to take out)
    for (int s = 0; s < 2; s++) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c->fd[s], nullptr);
      d.fd[s] = c->fd[s];
      c->fd[s] = -1;
    }
    c->closed = true;
    if (c->fastEndpoint) FastDetached(c);
    {
      std::lock_guard<std::mutex> lock(g.mu);
      g.detached[c->id] = std::move(d);
    }
    conns_.erase(c->id);
    live_.store(int(conns_.size()), std::memory_order_relaxed);
    graveyard_.push_back(c);
    events_.push_back({c->id, kDetachedEvent, Reason::Done, c->counters->received.load(), c->counters->sent.load(), 0});
  }

  // A connection handed back by TypeScript once its last toxic is gone: both sockets connected,
  // nothing pending on either side (TypeScript waits for that); relayed from here as if opened.
  void Adopt(Conn* c) {
    conns_[c->id] = c;
    live_.store(int(conns_.size()), std::memory_order_relaxed);
    Occupy(c);
    c->connecting = false;
    for (int s = 0; s < 2; s++) {
      if (!Watch(c, s)) return Finish(c, Reason::Error, true);
    }
    Move(c, 0);
    if (!c->closed) Move(c, 1);
    Done(c);
  }

  // Epoll events name a connection by slot and generation, not by pointer: a socket whose copy
  // lives on in a forked child stays in the epoll set after close (epoll(7) Q6), and its events
  // must not reach a freed (or reused) connection.
  static uint64_t Tag(const Conn* c, int side) { return uint64_t(c->gen) << 32 | uint64_t(c->slot) << 1 | uint64_t(side); }

  Conn* Named(uint64_t tag) const {
    size_t slot = size_t((tag & 0xffffffffu) >> 1);
    Conn* c = slot < slots_.size() ? slots_[slot] : nullptr;
    return c != nullptr && c->gen == uint32_t(tag >> 32) ? c : nullptr;
  }

  void Occupy(Conn* c) {
    if (free_.empty()) {
      free_.push_back(uint32_t(slots_.size()));
      slots_.push_back(nullptr);
      gens_.push_back(0);
    }
    c->slot = free_.back();
    free_.pop_back();
    c->gen = ++gens_[c->slot] & 0x7fffffffu;  // the top bit of a tag names a fast listener
    if (c->gen == 0) c->gen = gens_[c->slot] = 1;
    slots_[c->slot] = c;
  }

  void Free(Conn* c) {
    slots_[c->slot] = nullptr;
    free_.push_back(c->slot);
    delete c;
  }

  static void Hold(const Conn* c) {
    std::lock_guard<std::mutex> lock(g.mu);
    for (int fd : c->fd) {
      if (fd >= 0) g.heldCopies.push_back(fcntl(fd, F_DUPFD_CLOEXEC, 0));
    }
  }

  // The thread cannot go on: its connections would hang unseen. Tells the JS thread, which stops
  // the daemon (exit 70) with this cause in its last log line.
  void Die(const char* what, int err) {
    dead_.store(true, std::memory_order_relaxed);
    auto* cause = new std::string(std::string("relay thread: ") + what + ": " + strerror(err));
    std::lock_guard<std::mutex> lock(g.mu);
    if (!g.live.load() || g.onFatal.BlockingCall(cause, [](Napi::Env env, Napi::Function cb, std::string* m) {
          if (env != nullptr && cb != nullptr) cb.Call({Napi::String::New(env, *m)});
          delete m;
        }) != napi_ok) {
      fprintf(stderr, "vpcep_relay: %s\n", cause->c_str());
      delete cause;
      abort();
    }
  }

  int ep_ = -1;
  int ev_ = -1;
  IoRing ring_;
  std::string ringWhy_;
  std::promise<void> ringOpened_;
  std::future<void> ringReady_;
  uint64_t turn_ = 0;  // waits through the ring so far
  std::vector<IoRing::Failure> ringFailures_;
  static constexpr int kMaxEvents = 256;
  epoll_event events_buf_[kMaxEvents];  // the wait's events (the ring's wait writes them as it completes)
  std::mutex mu_;
  std::vector<Command> queue_;  // guarded by mu_
  // Owned by the thread:
  std::vector<Conn*> slots_;     // a live (or this round's closed) connection per slot
  std::vector<uint32_t> gens_;   // per slot: bumped at each reuse
  std::vector<uint32_t> free_;   // empty slots
  std::unordered_map<uint64_t, Conn*> conns_;
  // conns_.size() and the clients other threads handed over not yet taken, read by their Spread()
  std::atomic<int> live_{0};
  std::atomic<int> inbound_{0};
  std::atomic<uint64_t> busyTurns_{0};  // Turns(): written by the thread, read by the JS thread
  std::atomic<int64_t> postedUs_{0};    // when the command queue last became non-empty (0: empty): Probe()
  std::atomic<bool> dead_{false};
  std::vector<Conn*> graveyard_;
  std::vector<Pipe> pool_;
  std::vector<Event> events_;
  // held directions' wakes, earliest first (empty unless some limited direction is held)
  std::priority_queue<Wake, std::vector<Wake>, std::greater<Wake>> wakes_;
  std::thread thread_;
};

// ---- listeners: on the JS thread ------------------------------------------------------------

// One readiness of a listener: accept what is queued (up to a batch), then let TypeScript decide
// on each connection (entries [fd, ip, port] in the shared buffer; fd -1: refused for lack of
// descriptors, already reset here).
// accept4() of one client on listening socket LFD: its fd (>= 0, IP and PORT set); -1: none
// queued now; kNoFdReset: no descriptor was left, and the client at the head of the queue was
// accepted with the SPARE descriptor and reset. The client learns at once, and the listener does
// not wake the loop forever. accept4() says EMFILE whether or not a client waits: only a client
// taken is counted, and the batch stops there (the readiness is level-triggered: the rest of the
// queue comes back next turn, after the loop has run what may free descriptors).
constexpr int kNoFdReset = -2;
int AcceptClient(int lfd, int& spare, uint32_t* ip, uint32_t* port) {
  for (;;) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    int fd = accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      *ip = ntohl(peer.sin_addr.s_addr);
      *port = ntohs(peer.sin_port);
      return fd;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if ((errno != EMFILE && errno != ENFILE) || spare < 0) return -1;  // EAGAIN: nothing more queued
    CloseFd(spare);
    int victim = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    const bool taken = victim >= 0;
    if (taken) {
      Linger0(victim);
      CloseFd(victim);
    }
    spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return taken ? kNoFdReset : -1;
  }
}

void OnReadable(uv_poll_t* handle, int status, int) {
  auto* l = static_cast<Listener*>(handle->data);
  if (status < 0 || g.accepted == nullptr) return;
  uint32_t* out = g.accepted;
  int n = 0;
  while (n < kAcceptBatch) {
    uint32_t ip = 0, port = 0;
    int fd = AcceptClient(l->fd, g.spare, &ip, &port);
    if (fd == -1) break;
    out[n * 3] = fd == kNoFdReset ? uint32_t(-1) : uint32_t(fd);  // uint32_t(-1): NO_FD in native-relay.ts
    out[n * 3 + 1] = ip;
    out[n * 3 + 2] = port;
    n++;
    if (fd == kNoFdReset) break;
  }
  if (n == 0) return;
  Napi::Env env(g.env);
  Napi::HandleScope scope(env);
  // MakeCallback: the microtasks queued by the handler run before control returns to the loop.
  g.onAccept.MakeCallback(env.Global(), {Napi::Number::New(env, l->id), Napi::Number::New(env, n)}, *g.acceptContext);
  if (env.IsExceptionPending()) {
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(g.env, e.Value());
  }
}

Napi::Value Fail(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

void Shutdown(void*) {
  for (auto& w : g.workers) w->Join();
  g.workers.clear();
  std::lock_guard<std::mutex> lock(g.mu);
  if (g.live.exchange(false)) {
    g.onEvents.Release();
    g.onFatal.Release();
  }
}

uint32_t U32(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().Uint32Value() : 0;
}

uint64_t Id(const Napi::CallbackInfo& info, size_t i) {
  int64_t v = info.Length() > i && info[i].IsNumber() ? info[i].As<Napi::Number>().Int64Value() : 0;
  return v > 0 ? uint64_t(v) : 0;
}

// init(onEvents(Float64Array), onAccept(listenerId, count), acceptBuffer: Uint32Array, threads,
// poolPipes, pipeBytes, onFatal(cause), io: "auto" | "no-sockets" | "off") starts the relay
// threads once (io "off": no io_uring, every call direct; "no-sockets": no backend sockets made
// ahead, for a low open-file limit); later calls only take the new callbacks.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsFunction() || !info[1].IsFunction() || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
      info[2].As<Napi::Uint32Array>().ElementLength() < size_t(kAcceptBatch * 3)) {
    return Fail(env, "init(onEvents, onAccept, acceptBuffer: Uint32Array(192), threads, poolPipes, pipeBytes, onFatal)");
  }
  if (info.Length() < 7 || !info[6].IsFunction()) return Fail(env, "init(): onFatal must be a function");
  {
    std::lock_guard<std::mutex> lock(g.mu);
    // A second load of the JS boundary in this process (test isolation): the new callbacks win.
    if (g.live.exchange(false)) {
      g.onEvents.Release();
      g.onFatal.Release();
    }
    g.onEvents = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "vpcep_relay.onEvents", 0, 1);
    g.onEvents.Unref(env);  // the relay never keeps the process alive by itself
    g.onFatal = Napi::ThreadSafeFunction::New(env, info[6].As<Napi::Function>(), "vpcep_relay.onFatal", 0, 1);
    g.onFatal.Unref(env);
    g.live.store(true);
  }
  g.env = env;
  g.onAccept = Napi::Persistent(info[1].As<Napi::Function>());
  auto buffer = info[2].As<Napi::Uint32Array>();
  g.acceptBuffer = Napi::Persistent(buffer);
  g.accepted = buffer.Data();
  g.acceptContext = std::make_unique<Napi::AsyncContext>(env, "vpcep_relay.accept");
  if (g.spare < 0) g.spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (g.workers.empty()) {
    const std::string io = info.Length() > 7 && info[7].IsString() ? info[7].As<Napi::String>().Utf8Value() : "auto";
    g.uringWanted = io != "off";
    g.socketsAhead = io == "auto";
    g.poolMax = U32(info, 4);
    if (U32(info, 5) > 0) g.pipeBytes = U32(info, 5);
    unsigned n = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; i++) {
      g.workers.push_back(std::make_unique<Worker>());
      if (!g.workers.back()->ok()) return Fail(env, "vpcep_relay: epoll or eventfd failed");
    }
    napi_add_env_cleanup_hook(env, Shutdown, nullptr);
  }
  return Napi::Number::New(env, double(g.workers.size()));
}

sockaddr_in Address(uint32_t ip, uint32_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  a.sin_port = htons(uint16_t(port));
  return a;
}

// listen(ip, port, backlog) -> listener id (> 0), or -errno when the address cannot be bound.
Napi::Value Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g.env == nullptr) return Fail(env, "vpcep_relay: init() first");
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return Fail(env, "vpcep_relay: no event loop");
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Napi::Number::New(env, -errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Accepted sockets inherit both: one setsockopt per listener, not per connection (the buffer
  // sizes before listen(), so that the window scale offered to clients matches them).
  NoDelay(fd);
  ClampBuffers(fd);
  sockaddr_in a = Address(U32(info, 0), U32(info, 1));
  if (bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) < 0 || listen(fd, int(U32(info, 2))) < 0) {
    int err = errno;
    CloseFd(fd);
    return Napi::Number::New(env, -err);
  }
  auto* l = new Listener();
  l->fd = fd;
  l->id = g.nextListener++;
  l->poll.data = l;
  int rc = uv_poll_init(loop, &l->poll, fd);
  if (rc == 0) rc = uv_poll_start(&l->poll, UV_READABLE, OnReadable);
  if (rc != 0) {
    // uv errors are -errno on Unix; a handle that failed to init was never registered.
    CloseFd(l->fd);
    delete l;
    return Napi::Number::New(env, rc);
  }
  g.listeners[l->id] = l;
  return Napi::Number::New(env, l->id);
}

// unlisten(id): stops accepting and closes the listening socket before it returns, so that the
// address is free when the teardown is acknowledged (a new endpoint may bind it at once).
// uv_poll_stop() takes the fd out of libuv's epoll set first (uv__platform_invalidate_fd), so
// closing it here cannot drop a reused fd from the loop; connections already accepted go on.
void FastOff(uint32_t id);

Napi::Value Unlisten(const Napi::CallbackInfo& info) {
  FastOff(U32(info, 0));
  auto it = g.listeners.find(U32(info, 0));
  if (it != g.listeners.end()) {
    Listener* l = it->second;
    g.listeners.erase(it);
    uv_poll_stop(&l->poll);
    CloseFd(l->fd);
    uv_close(reinterpret_cast<uv_handle_t*>(&l->poll), [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
  }
  return info.Env().Undefined();
}

// reset(fd): refuses an accepted connection (RST).
Napi::Value Reset(const Napi::CallbackInfo& info) {
  int fd = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  if (fd >= 0) {
    Linger0(fd);
    CloseFd(fd);
  }
  return info.Env().Undefined();
}

// A connection made on the JS thread (open, adopt): its id, counters and thread, in the table
// before the thread hears of it (a command may follow at once), then posted as KIND. Returns its
// id, read before posting: once posted, the worker owns `c` and may close and free it before this
// thread runs another line.
uint64_t Hand(Conn* c, Command::Kind kind) {
  c->id = g.nextId.fetch_add(1);
  if (c->id >= kMaxId) g.nextId.store(1);
  c->startUs = NowUs();
  c->counters = std::make_shared<Counters>();
  Worker* w = g.workers[g.nextWorker++ % g.workers.size()].get();
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.table[c->id] = {c->counters, w};
  }
  const uint64_t id = c->id;
  w->Post({kind, id, c});
  return id;
}

// open(clientFd, backendIp, backendPort, sourceIp, sourcePort, preamble?) -> id. The relay owns
// the client's fd from here on; it connects the backend (from sourceIp:sourcePort when sourceIp
// is not 0; port 0: the kernel's choice) and reports the connect, then the close.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g.workers.empty()) return Fail(env, "vpcep_relay: init() first");
  if (info.Length() < 5 || !info[0].IsNumber()) return Fail(env, "open(clientFd, backendIp, backendPort, sourceIp, sourcePort, preamble?)");
  auto* c = new Conn();
  c->fd[0] = info[0].As<Napi::Number>().Int32Value();
  c->target = Address(U32(info, 1), U32(info, 2));
  c->source = Address(U32(info, 3), U32(info, 4));
  if (info.Length() > 5 && info[5].IsBuffer()) {
    auto b = info[5].As<Napi::Buffer<char>>();
    c->preamble.assign(b.Data(), b.Length());
  }
  return Napi::Number::New(env, double(Hand(c, Command::Open)));
}

Worker* WorkerOf(uint64_t id) {
  std::lock_guard<std::mutex> lock(g.mu);
  auto it = g.table.find(id);
  return it == g.table.end() ? nullptr : it->second.worker;
}

std::shared_ptr<Counters> CountersOf(uint64_t id) {
  std::lock_guard<std::mutex> lock(g.mu);
  auto it = g.table.find(id);
  return it == g.table.end() ? nullptr : it->second.counters;
}

// cut(id): both sockets reset. close(id): both closed gracefully (the idle timeout).
// Each ends in one close event; an id already closed is ignored (by the worker).
Napi::Value Cut(const Napi::CallbackInfo& info) {
  uint64_t id = Id(info, 0);
  if (Worker* w = WorkerOf(id)) w->Post({Command::Cut, id, nullptr});
  return info.Env().Undefined();
}

Napi::Value CloseConn(const Napi::CallbackInfo& info) {
  uint64_t id = Id(info, 0);
  if (Worker* w = WorkerOf(id)) w->Post({Command::Close, id, nullptr});
  return info.Env().Undefined();
}

// shape(id, bytesPerSecond): the bandwidth limit of both directions (0: none), live.
Napi::Value ShapeConn(const Napi::CallbackInfo& info) {
  uint64_t id = Id(info, 0);
  double rate = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  if (!(rate > 0)) rate = 0;
  if (Worker* w = WorkerOf(id)) w->Post({Command::Shape, id, nullptr, uint64_t(std::min(rate, 1e15))});
  return info.Env().Undefined();
}

// detach(id): the relay thread stops relaying the connection (issue 15: a toxic added live) and
// reports it detached; takeDetached(id) -> [clientFd, backendFd, forBackend: Buffer,
// forClient: Buffer] then hands its sockets and the bytes its pipes held to the caller, once.
Napi::Value DetachConn(const Napi::CallbackInfo& info) {
  uint64_t id = Id(info, 0);
  if (Worker* w = WorkerOf(id)) w->Post({Command::Detach, id, nullptr});
  return info.Env().Undefined();
}

Napi::Value TakeDetached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Detached d;
  {
    std::lock_guard<std::mutex> lock(g.mu);
    auto it = g.detached.find(Id(info, 0));
    if (it == g.detached.end()) return env.Undefined();
    d = std::move(it->second);
    g.detached.erase(it);
  }
  auto a = Napi::Array::New(env, 4);
  a.Set(0u, Napi::Number::New(env, d.fd[0]));
  a.Set(1u, Napi::Number::New(env, d.fd[1]));
  a.Set(2u, Napi::Buffer<char>::Copy(env, d.pending[0].data(), d.pending[0].size()));
  a.Set(3u, Napi::Buffer<char>::Copy(env, d.pending[1].data(), d.pending[1].size()));
  return a;
}

// adopt(clientFd, backendFd) -> id: a connected pair handed back by TypeScript (its last toxic
// removed), nothing pending on either; relayed from here as open() would, reported as it would.
// dup(fd) -> a copy of fd (close-on-exec), or -errno: the pair's descriptors outlive Node's.
Napi::Value AdoptConn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g.workers.empty()) return Fail(env, "vpcep_relay: init() first");
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) return Fail(env, "adopt(clientFd, backendFd)");
  auto* c = new Conn();
  c->fd[0] = info[0].As<Napi::Number>().Int32Value();
  c->fd[1] = info[1].As<Napi::Number>().Int32Value();
  return Napi::Number::New(env, double(Hand(c, Command::Adopt)));
}

Napi::Value Dup(const Napi::CallbackInfo& info) {
  int fd = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  int copy = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
  return Napi::Number::New(info.Env(), copy >= 0 ? copy : -errno);
}

// stats(id) -> [received, sent], or undefined once its close event was delivered
Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto k = CountersOf(Id(info, 0));
  if (!k) return env.Undefined();
  auto a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, double(k->received.load(std::memory_order_relaxed))));
  a.Set(1u, Napi::Number::New(env, double(k->sent.load(std::memory_order_relaxed))));
  return a;
}

// touched(id): were bytes moved since the last call? (read and cleared, for the idle sweep)
Napi::Value Touched(const Napi::CallbackInfo& info) {
  auto k = CountersOf(Id(info, 0));
  return Napi::Boolean::New(info.Env(), k && k->touched.exchange(false, std::memory_order_relaxed));
}

// socketBuffer(bytes): SO_RCVBUF/SO_SNDBUF of the listeners and backend sockets made from now
// on (0: the kernel's autotuning).
Napi::Value SocketBuffer(const Napi::CallbackInfo& info) {
  g.socketBuffer = int(std::min<uint32_t>(U32(info, 0), INT32_MAX / 2));
  return info.Env().Undefined();
}

// clamp(fd, bytes): SO_RCVBUF/SO_SNDBUF of one socket (the JS relay's: Node has no setsockopt).
Napi::Value Clamp(const Napi::CallbackInfo& info) {
  int fd = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1;
  int bytes = int(std::min<uint32_t>(U32(info, 1), INT32_MAX / 2));
  if (fd >= 0 && bytes > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
  return info.Env().Undefined();
}

// localRoute(add, ip, prefixLen) -> 0, or -errno: adds (or deletes) the route "local ip/len dev
// lo" of the local table, scope host (what `ip route add local 198.19.128.0/17 dev lo` sends), over
// rtnetlink from this process: a capability it holds through its file (setcap cap_net_admin=+ep)
// is not passed on to a child program such as ip (only ambient ones are).
Napi::Value LocalRoute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool add = info.Length() > 0 && info[0].ToBoolean().Value();
  uint32_t ip = U32(info, 1);
  uint32_t len = U32(info, 2);
  if (len > 32) return Napi::Number::New(env, -EINVAL);
  unsigned lo = if_nametoindex("lo");
  if (lo == 0) return Napi::Number::New(env, -errno);
  struct {
    nlmsghdr h;
    rtmsg r;
    char attrs[2 * RTA_SPACE(sizeof(uint32_t))];
  } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof(rtmsg));
  req.h.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  req.h.nlmsg_seq = 1;
  req.r.rtm_family = AF_INET;
  req.r.rtm_dst_len = uint8_t(len);
  req.r.rtm_table = RT_TABLE_LOCAL;
  req.r.rtm_protocol = RTPROT_BOOT;
  req.r.rtm_scope = RT_SCOPE_HOST;
  req.r.rtm_type = RTN_LOCAL;
  auto attr = [&req](unsigned short type, uint32_t value) {
    auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&req) + NLMSG_ALIGN(req.h.nlmsg_len));
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(sizeof value);
    memcpy(RTA_DATA(a), &value, sizeof value);
    req.h.nlmsg_len = NLMSG_ALIGN(req.h.nlmsg_len) + RTA_ALIGN(a->rta_len);
  };
  attr(RTA_DST, htonl(ip));
  attr(RTA_OIF, lo);
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return Napi::Number::New(env, -errno);
  timeval wait{5, 0};  // the kernel answers at once; never hang the JS thread on it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  int result = 0;
  if (sendto(fd, &req, req.h.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    result = -errno;
  } else {
    // the answer: one NLMSG_ERROR, its error 0 for the acknowledgement
    union {
      nlmsghdr h;
      char bytes[1024];
    } answer;
    ssize_t n = recv(fd, &answer, sizeof answer, 0);
    if (n < 0) result = -errno;
    else if (size_t(n) < NLMSG_LENGTH(sizeof(nlmsgerr)) || answer.h.nlmsg_type != NLMSG_ERROR) result = -EPROTO;
    else result = reinterpret_cast<nlmsgerr*>(NLMSG_DATA(&answer.h))->error;
  }
  close(fd);
  return Napi::Number::New(env, result);
}

// releaseMemory(): what the daemon does once quiet after a burst of work (src/memory-release.ts).
// V8 keeps the heap a burst grew (its young generation doubled up to 16 MiB semispaces, old-space
// pages) and glibc keeps freed memory in its arenas (the main thread's, the relay and worker
// threads'): a moderate memory-pressure notification starts an incremental GC that shrinks the
// heap (N-API has no such call: the embedder API of the Node that built the addon), and
// malloc_trim(0) gives the arenas' free pages back to the kernel.
Napi::Value ReleaseMemory(const Napi::CallbackInfo& info) {
  v8::Isolate::GetCurrent()->MemoryPressureNotification(v8::MemoryPressureLevel::kModerate);
  malloc_trim(0);
  return info.Env().Undefined();
}

// io(): [threads whose calls go through io_uring, why the others' do not ("" when all do), the
// descriptors the threads may hold in backend sockets made ahead through the ring]
Napi::Value Io(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t on = 0, sockets = 0;
  std::string why;
  for (auto& w : g.workers) {
    const std::string& r = w->RingWhy();
    if (r.empty()) on++;
    else if (why.empty()) why = r;
    if (r.empty() && w->RingSockets()) sockets += uint32_t(IoRing::kSocketsMax);
  }
  auto a = Napi::Array::New(env, 3);
  a.Set(0u, Napi::Number::New(env, double(on)));
  a.Set(1u, Napi::String::New(env, why));
  a.Set(2u, Napi::Number::New(env, double(sockets)));
  return a;
}

// figures() -> [pipeBytes, pipesUndersized, staleEvents, throttledUs, socketsAhead (held now), busy turns (every thread, since start)]
Napi::Value Figures(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t ahead = 0;
  uint64_t turns = 0;
  for (auto& w : g.workers) {
    ahead += w->RingSocketsHeld();
    turns += w->Turns();
  }
  auto a = Napi::Array::New(env, 6);
  a.Set(0u, Napi::Number::New(env, double(g.pipeBytes)));
  a.Set(1u, Napi::Number::New(env, double(g.pipesUndersized.load())));
  a.Set(2u, Napi::Number::New(env, double(g.staleEvents.load())));
  a.Set(3u, Napi::Number::New(env, double(g.throttledUs.load())));
  a.Set(4u, Napi::Number::New(env, double(ahead)));
  a.Set(5u, Napi::Number::New(env, double(turns)));
  return a;
}

// Test hooks. testHoldCopies(true): the sockets of connections opened from now on get a copy
// held elsewhere, as a forked child would hold them; (false): those copies are closed.
// testNextId(n): the next connection id. testBreakThread(): a relay thread's epoll fd is closed.
Napi::Value TestHoldCopies(const Napi::CallbackInfo& info) {
  bool on = info.Length() > 0 && info[0].ToBoolean().Value();
  g.holdCopies.store(on);
  if (!on) {
    std::lock_guard<std::mutex> lock(g.mu);
    for (int& fd : g.heldCopies) CloseFd(fd);
    g.heldCopies.clear();
  }
  return info.Env().Undefined();
}

Napi::Value TestNextId(const Napi::CallbackInfo& info) {
  uint64_t id = Id(info, 0);
  if (id > 0 && id <= kMaxId) g.nextId = id;
  return info.Env().Undefined();
}

Napi::Value TestBreakThread(const Napi::CallbackInfo& info) {
  if (!g.workers.empty()) g.workers[0]->Post({Command::Break, 0, nullptr});
  return info.Env().Undefined();
}

// threads(ping) -> per relay thread [connections, clients handed over not yet taken, ms a command
// has waited for the thread (0: none), 1 when the thread died]; with PING a thread with no command
// waiting is sent a no-op, measured by the next call (Worker::Probe). (A no-op wakes the thread:
// a turn with an event, which the memory release reads as work; the metrics read without.)
Napi::Value Threads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool ping = info.Length() > 0 && info[0].ToBoolean().Value();
  Napi::Array out = Napi::Array::New(env, g.workers.size());
  for (size_t i = 0; i < g.workers.size(); i++) {
    Worker& w = *g.workers[i];
    const int64_t waitedUs = w.Probe(ping);
    Napi::Array t = Napi::Array::New(env, 4);
    t.Set(0u, Napi::Number::New(env, w.Live()));
    t.Set(1u, Napi::Number::New(env, w.Inbound()));
    t.Set(2u, Napi::Number::New(env, double(waitedUs) / 1000));
    t.Set(3u, Napi::Number::New(env, w.dead() ? 1 : 0));
    out.Set(uint32_t(i), t);
  }
  return out;
}

// testStallThread(ms): the first relay thread sleeps MS in its command handling (a stuck thread)
Napi::Value TestStallThread(const Napi::CallbackInfo& info) {
  if (!g.workers.empty()) g.workers[0]->Post({Command::Stall, U32(info, 0), nullptr});
  return info.Env().Undefined();
}

// testThreadLoads(): the connections each relay thread holds now (Worker::Spread's count)
Napi::Value TestThreadLoads(const Napi::CallbackInfo& info) {
  Napi::Array out = Napi::Array::New(info.Env(), g.workers.size());
  for (size_t i = 0; i < g.workers.size(); i++) out.Set(uint32_t(i), Napi::Number::New(info.Env(), g.workers[i]->Load()));
  return out;
}


// ---- the fast path (issue 16): the threads' side, then the JS boundary ------------------------

// FNV-1a over a word's four bytes, most significant first (backend-choice.ts fnvWord())
inline uint32_t FnvWord(uint32_t h, uint32_t w) {
  for (int shift = 24; shift >= 0; shift -= 8) h = (h ^ ((w >> shift) & 255)) * 0x01000193u;
  return h;
}

// The flow hash of src/model/backend-choice.ts flowHash(): FNV-1a over the client's address, its
// port with the terminal port, and the ENI's host address, as integers; then murmur3's finalizer.
uint32_t FastFlowHash(uint32_t clientIp, uint32_t clientPort, uint32_t eniHostIp, uint32_t port) {
  uint32_t h = FnvWord(0x811c9dc5u, clientIp);
  h = FnvWord(h, (clientPort & 0xffff) << 16 | (port & 0xffff));
  h = FnvWord(h, eniHostIp);
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// src/net/loopback.ts hostNumber(): the VPC number of 127.k.c.d (0 outside 127.1-255.x.x)
uint32_t FastHostNumber(uint32_t ip) { return ip >> 24 == 127 ? (ip >> 16) & 255 : 0; }
bool FastIsVpc(uint32_t k) { return k != 0 && k != 255 && (Global(kGlobalIsVpc + int(k >> 5)) >> (k & 31) & 1) != 0; }
uint32_t FastSimulated(uint32_t base, uint32_t ip) { return (base & 0xffff0000u) | (ip & 0xffffu); }

// The first of an ACL direction's RULES holding address SIM and PORT allows (none: the `*` rule denies).
bool FastAclAllows(const std::vector<FastRules::AclRule>& rules, uint32_t sim, uint32_t port) {
  for (const auto& x : rules) if (port >= x.from && port <= x.to && sim >= x.lo && sim <= x.hi) return x.allow;
  return false;
}

// The gate of src/model/admission.ts admit(), in its order, on given counts (no side effect):
// the refusal code, or -1 to admit. CLIENTPORT: the client's source port (the ACL's outbound rules).
int FastCheck(const FastRules& r, uint32_t ip, uint32_t clientPort, int64_t daemonActive, int64_t endpointActive) {
  if (r.state >= 0) return r.state;
  if (r.zoneDown) return kZoneDown;
  uint32_t k = FastHostNumber(ip);
  if (!FastIsVpc(k)) {
    if (Global(kGlobalOnPremAllow) == 0) return kOnPremises;
  } else if (k != r.vpcNumber) {
    return kVpc;
  }
  if (daemonActive >= int64_t(Global(kGlobalMax))) return kDaemonLimit;
  if (daemonActive * 2 + int64_t(Global(kGlobalListeners)) + 2 > int64_t(Global(kGlobalFdBudget))) return kFdLimit;
  if (endpointActive >= r.capLeft) return kCap;
  if (r.whitelistEnabled) {
    bool in = false;
    if (k == r.vpcNumber) {
      uint32_t sim = FastSimulated(r.vpcBase, ip);
      for (const auto& [lo, hi] : r.whitelist) if (sim >= lo && sim <= hi) { in = true; break; }
    }
    if (!in) return kWhitelist;
  }
  if (r.aclEnabled) {
    uint32_t sim = k == r.vpcNumber ? FastSimulated(r.vpcBase, ip) : ip;
    if (!FastAclAllows(r.acl, sim, r.port) || !FastAclAllows(r.aclOut, sim, clientPort)) return kNetworkAcl;
  }
  if (r.securityEnabled) {
    uint32_t sim = k == r.vpcNumber ? FastSimulated(r.vpcBase, ip) : ip;
    bool in = false;
    for (const auto& x : r.security) if (r.port >= x.from && r.port <= x.to && sim >= x.lo && sim <= x.hi) { in = true; break; }
    if (!in) return kSecurityGroup;
  }
  return -1;
}

int64_t FastDaemonActive() { return fast.active.load(std::memory_order_relaxed) + int64_t(Global(kGlobalSlowActive)); }

void Worker::FastAccept(uint32_t listenerId) {
  std::shared_ptr<FastListener> l;
  int fds[kAcceptBatch];
  uint32_t ips[kAcceptBatch], ports[kAcceptBatch];
  int n = 0;
  {
    std::shared_lock<std::shared_mutex> lock(fast.mu);
    auto it = fast.listeners.find(listenerId);
    if (it == fast.listeners.end()) return;
    l = it->second;
    while (n < kAcceptBatch) {
      int fd = AcceptClient(l->fd, fastSpare_, &ips[n], &ports[n]);
      if (fd == kNoFdReset) events_.push_back({0, kRefusedEvent, Reason(kFdLimit), listenerId, 0, 0, true});
      if (fd < 0) break;
      fds[n++] = fd;
    }
  }
  if (n == 0) return;
  fast.accepted.fetch_add(uint64_t(n), std::memory_order_relaxed);
  for (int i = 0; i < n; i++) {
    Worker* w = Spread();
    if (w == this) {
      FastAdmitAccepted(*l, fds[i], ips[i], ports[i]);
      continue;
    }
    w->inbound_.fetch_add(1, std::memory_order_relaxed);
    Command c{Command::FastHandOver, listenerId, nullptr};
    c.fd = fds[i];
    c.ip = ips[i];
    c.port = ports[i];
    w->Post(c);
  }
}

void Worker::FastAdmitAccepted(const FastListener& l, int fd, uint32_t ip, uint32_t port) {
  if (std::shared_ptr<const FastRoutes> routes = std::atomic_load(&l.routes)) return FastRouteAdmit(l, *routes, fd, ip, port);
  std::shared_ptr<const FastRules> rules = std::atomic_load(&l.rules);
  FastAdmit(l, *rules, fd, ip, port);
}

void Worker::FastTakeOver(uint32_t listenerId, int fd, uint32_t ip, uint32_t port) {
  std::shared_ptr<FastListener> l;
  {
    std::shared_lock<std::shared_mutex> lock(fast.mu);
    auto it = fast.listeners.find(listenerId);
    if (it != fast.listeners.end()) l = it->second;
  }
  if (!l) {
    // its listener closed meanwhile: as a client still in its accept queue would be, reset
    Linger0(fd);
    CloseFd(fd);
    return;
  }
  FastAdmitAccepted(*l, fd, ip, port);
}

Worker* Worker::Spread() {
  constexpr int kSpreadSlack = 2;
  const int mine = Load();
  Worker* best = this;
  int least = mine;
  for (const auto& w : g.workers) {
    const int load = w->Load();
    if (load < least) {
      least = load;
      best = w.get();
    }
  }
  return mine > least + kSpreadSlack ? best : this;
}

void Worker::FastAdmit(const FastListener& l, const FastRules& r, int fd, uint32_t ip, uint32_t port) {
  FastEndpoint& ep = *l.endpoint;
  auto refuse = [&](int code, uint64_t target) {
    fastRefused_.push_back(fd);
    events_.push_back({target, kRefusedEvent, Reason(code), l.id, ip, int64_t(port), true});
  };
  int code = FastCheck(r, ip, port, FastDaemonActive(), ep.active.load(std::memory_order_relaxed));
  if (code >= 0) return refuse(code, 0);
  // The counts taken exactly: the daemon's, then the endpoint's (never cap + 1 across threads).
  for (int64_t cur = fast.active.load();;) {
    int64_t total = cur + int64_t(Global(kGlobalSlowActive));
    if (total >= int64_t(Global(kGlobalMax))) return refuse(kDaemonLimit, 0);
    if (total * 2 + int64_t(Global(kGlobalListeners)) + 2 > int64_t(Global(kGlobalFdBudget))) return refuse(kFdLimit, 0);
    if (fast.active.compare_exchange_weak(cur, cur + 1)) break;
  }
  for (int64_t cur = ep.active.load();;) {
    if (cur >= r.capLeft) {
      fast.active.fetch_sub(1);
      return refuse(kCap, 0);
    }
    if (ep.active.compare_exchange_weak(cur, cur + 1)) break;
  }
  uint16_t snat = ep.ports.Take();
  const FastTarget* t = nullptr;
  if (snat != 0 && !r.candidates.empty()) t = &r.candidates[FastFlowHash(ip, port, r.eniHostIp, r.port) % r.candidates.size()];
  if (snat == 0 || t == nullptr || t->refuse) {
    ep.ports.Give(snat);
    ep.active.fetch_sub(1);
    fast.active.fetch_sub(1);
    return refuse(snat == 0 ? kSnatExhausted : kBackendUnreachable, t == nullptr ? 0 : (uint64_t(t->index) + 1) * 4 + uint64_t(r.choiceReason));
  }
  auto* c = new Conn();
  c->id = g.nextId.fetch_add(1);
  if (c->id >= kMaxId) g.nextId.store(1);
  c->fd[0] = fd;
  c->target = Address(t->ip, t->port);
  c->source = r.sourceIp != 0 ? Address(r.sourceIp, snat) : Address(0, 0);
  if (!r.preamble.empty()) {
    // PROXY v2 from integers: the client's simulated address and port into the compiled header
    c->preamble = r.preamble;
    uint32_t k = FastHostNumber(ip);
    uint32_t src = htonl(FastIsVpc(k) ? FastSimulated(Global(kGlobalVpcBase + int(k)), ip) : ip);
    uint16_t sport = htons(uint16_t(port));
    if (c->preamble.size() >= 28) {
      memcpy(&c->preamble[16], &src, 4);
      memcpy(&c->preamble[24], &sport, 2);
    }
  }
  c->startUs = NowUs();
  c->counters = std::make_shared<Counters>();
  c->fastEndpoint = l.endpoint;
  c->fastPort = snat;
  c->fastActiveUs = c->startUs;
  c->fastListener = l.id;
  c->fastIdleMs = r.idleMs;
  // the endpoint's per-connection bandwidth limit: this thread's token buckets, from the first byte
  if (r.rate > 0) Shape(c, r.rate);
  fastConns_++;
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.table[c->id] = {c->counters, this};
  }
  events_.push_back({c->id, kOpenedEvent, Reason(int(t->index) * 4 + r.choiceReason), l.id, ip, int64_t(port) << 16 | snat, true});
  Start(c);
}

// Route refusals (ROUTE_REFUSALS) as counted (src/model/routing.ts routeRefusalReason())
constexpr int kRoutePolicy = 9, kRouteCap = 10;
constexpr int kTargetGateway = 0, kTargetIgw = 1;
int FastRouteReason(int refusal) { return refusal == kRoutePolicy ? kPolicy : refusal == kRouteCap ? kCap : kNotAccepted; }

// What src/model/routing.ts decide() answers for a client (its host address) of a public
// listener, on its entries' counts: the target, the route refusal (-1: none) and the entry.
struct FastRouteOutcome { int kind; int refusal; int entry; };
template <typename Active>
FastRouteOutcome FastRouteDecision(const FastRoutes& r, uint32_t ip, Active active) {
  uint32_t k = FastHostNumber(ip);
  const FastVpc* vpc = nullptr;
  for (const FastVpc& v : r.vpcs) if (v.number == k) { vpc = &v; break; }
  // a client outside every VPC reaches a public service as internet traffic
  if (vpc == nullptr) return {kTargetIgw, -1, 0};
  uint32_t src = FastSimulated(vpc->base, ip);
  for (const FastSubnet& s : vpc->subnets) {
    if (src < s.lo || src > s.hi) continue;
    if (s.refusal >= 0 || s.kind != kTargetGateway || s.entry < 0) return {s.kind, s.refusal, s.entry};
    bool allowed = false;
    for (const auto& [lo, hi] : s.allowed) if (src >= lo && src <= hi) { allowed = true; break; }
    if (!allowed) return {s.kind, kRoutePolicy, s.entry};
    if (active(s.entry) >= r.entries[size_t(s.entry)].capLeft) return {s.kind, kRouteCap, s.entry};
    return {s.kind, -1, s.entry};
  }
  return {4 /* none */, 1 /* no_subnet */, -1};
}

// A client of a public service's listener: routed as decide() says, then admitted as
// EndpointRuntime.relayRouted() admits (the daemon's limits, the exact cap, a SNAT port), and
// connected to the service's real server, from the client's host address through a gateway
// endpoint (the service sees the private address), from the kernel's through the internet path.
// Reports: opened with target (version << 12 | entry), refused with target ((version << 16 | entry + 1) << 3 | kind).
void Worker::FastRouteAdmit(const FastListener& l, const FastRoutes& r, int fd, uint32_t ip, uint32_t port) {
  FastRouteOutcome o = FastRouteDecision(r, ip, [&](int e) { return r.entries[size_t(e)].endpoint->active.load(std::memory_order_relaxed); });
  auto refuse = [&](int code) {
    fastRefused_.push_back(fd);
    uint64_t target = (uint64_t(r.version & 0xffff) << 16 | uint64_t(o.entry + 1)) << 3 | uint64_t(o.kind);
    events_.push_back({target * 4, kRefusedEvent, Reason(code), l.id, ip, int64_t(port), true});
  };
  if (o.refusal >= 0) return refuse(FastRouteReason(o.refusal));
  if (o.entry < 0) return refuse(kNotAccepted);
  const FastRouteEntry& e = r.entries[size_t(o.entry)];
  FastEndpoint& ep = *e.endpoint;
  for (int64_t cur = fast.active.load();;) {
    int64_t total = cur + int64_t(Global(kGlobalSlowActive));
    if (total >= int64_t(Global(kGlobalMax))) return refuse(kDaemonLimit);
    if (total * 2 + int64_t(Global(kGlobalListeners)) + 2 > int64_t(Global(kGlobalFdBudget))) return refuse(kFdLimit);
    if (fast.active.compare_exchange_weak(cur, cur + 1)) break;
  }
  for (int64_t cur = ep.active.load();;) {
    if (cur >= e.capLeft) {
      fast.active.fetch_sub(1);
      return refuse(kCap);
    }
    if (ep.active.compare_exchange_weak(cur, cur + 1)) break;
  }
  uint16_t snat = ep.ports.Take();
  if (snat == 0) {
    ep.active.fetch_sub(1);
    fast.active.fetch_sub(1);
    return refuse(kSnatExhausted);
  }
  auto* c = new Conn();
  c->id = g.nextId.fetch_add(1);
  if (c->id >= kMaxId) g.nextId.store(1);
  c->fd[0] = fd;
  c->target = Address(r.targetIp, r.targetPort);
  // 002_05e46307768ae273.txt: behind a gateway endpoint the service sees the client's private address (its host address here)
  c->source = o.kind == kTargetGateway ? Address(ip, 0) : Address(0, 0);
  c->startUs = NowUs();
  c->counters = std::make_shared<Counters>();
  c->fastEndpoint = e.endpoint;
  c->fastRouted = true;
  c->fastPort = snat;
  c->fastActiveUs = c->startUs;
  fastConns_++;
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.table[c->id] = {c->counters, this};
  }
  events_.push_back({c->id, kOpenedEvent, Reason(int((r.version & 0xffff) << 12 | uint32_t(o.entry)) * 4), l.id, ip, int64_t(port) << 16 | snat});
  Start(c);
}

void Worker::FastRelease(Conn* c) {
  FastEndpoint& ep = *c->fastEndpoint;
  ep.ports.Give(c->fastPort);
  ep.active.fetch_sub(1);
  fast.active.fetch_sub(1);
  c->fastEndpoint.reset();
  fastConns_--;
}

// A fast connection handed to TypeScript (detach: a toxic added live): its endpoint's count, the
// daemon's and its SNAT port stay taken while it lives on, until TypeScript's fastDone() at its close.
void Worker::FastDetached(Conn* c) {
  c->fastEndpoint.reset();
  fastConns_--;
}

// fastDone(endpointHandle, snatPort): a fast connection handed to TypeScript closed: what it held
// on the threads is given back (the endpoint's handle may be gone: the daemon's count still is).
Napi::Value FastDone(const Napi::CallbackInfo& info) {
  fast.active.fetch_sub(1);
  auto it = fast.endpoints.find(U32(info, 0));
  if (it != fast.endpoints.end()) {
    it->second->ports.Give(uint16_t(U32(info, 1)));
    it->second->active.fetch_sub(1);
  }
  return info.Env().Undefined();
}

// The sweep's period: a quarter of the shorter timeout, 25 ms to 1 s (data-plane.ts's tick).
int64_t FastTickUs() {
  uint32_t connect = Global(kGlobalConnectMs), idle = Global(kGlobalIdleMs);
  if (connect == 0 || idle == 0) return 0;
  return std::min<int64_t>(1000, std::max<int64_t>(25, std::min(connect, idle) / 4)) * 1000;
}

// epoll_wait's timeout with this thread's next timeout check in it (none when it has no fast connection)
int Worker::FastTimeout(int timeout) const {
  if (fastReportAtUs_ != 0) {
    int report = int(std::max<int64_t>(0, (fastReportAtUs_ - NowUs() + 999) / 1000));
    timeout = timeout < 0 ? report : std::min(timeout, report);
  }
  if (fastConns_ == 0 || FastTickUs() == 0) return timeout;
  int ms = int(std::max<int64_t>(0, (fastSweepAtUs_ - NowUs() + 999) / 1000));
  return timeout < 0 ? ms : std::min(timeout, ms);
}

// The connect and idle timeouts of this thread's fast connections, checked every tick on the
// thread (no timer per connection, nothing on the event loop): a connect past its deadline fails
// as backend_timeout (the client reset), a connection that moved no byte for the idle timeout (its
// listener's, an NLB listener's tcp.idle_timeout.seconds, else the daemon's) is closed gracefully
// (reported as `closed`: TypeScript counts it idle).
void Worker::FastSweep() {
  int64_t tick = FastTickUs();
  if (fastConns_ == 0 || tick == 0) return;
  int64_t now = NowUs();
  if (now < fastSweepAtUs_) return;
  fastSweepAtUs_ = now + tick;
  const int64_t connectUs = int64_t(Global(kGlobalConnectMs)) * 1000, idleUs = int64_t(Global(kGlobalIdleMs)) * 1000;
  // each listener's idle timeout as its rules say now, read under the listeners' lock once per sweep
  // (not per connection: the JS thread's fastListen() waits for it); kGone: off the threads or closed
  constexpr uint32_t kGone = UINT32_MAX;
  std::unordered_map<uint32_t, uint32_t> listenerIdleMs;
  for (auto& [id, c] : conns_) if (!c->closed && c->fastEndpoint && c->fastListener != 0) listenerIdleMs.emplace(c->fastListener, kGone);
  if (!listenerIdleMs.empty()) {
    std::shared_lock<std::shared_mutex> lock(fast.mu);
    for (auto& [id, ms] : listenerIdleMs) {
      auto it = fast.listeners.find(id);
      if (it == fast.listeners.end()) continue;
      if (std::shared_ptr<const FastRules> rules = std::atomic_load(&it->second->rules)) ms = rules->idleMs;
    }
  }
  std::vector<std::pair<Conn*, Reason>> due;
  for (auto& [id, c] : conns_) {
    if (c->closed || !c->fastEndpoint) continue;
    if (c->connecting) {
      if (now - c->startUs > connectUs) due.push_back({c, Reason::BackendTimeout});
      continue;
    }
    uint32_t ownMs = c->fastIdleMs;
    if (c->fastListener != 0) {
      auto it = listenerIdleMs.find(c->fastListener);
      if (it != listenerIdleMs.end() && it->second != kGone) ownMs = it->second;
    }
    uint64_t seen = c->counters->received.load(std::memory_order_relaxed) + c->counters->sent.load(std::memory_order_relaxed);
    if (seen != c->fastSeen) {
      c->fastSeen = seen;
      c->fastActiveUs = now;
    } else if (now - c->fastActiveUs > (ownMs != 0 ? int64_t(ownMs) * 1000 : idleUs)) {
      due.push_back({c, Reason::Closed});
    }
  }
  for (auto& [c, reason] : due) Finish(c, reason, reason == Reason::BackendTimeout);
}

// The round's refused clients are reset after Flush() put their refusals in the outbox: a read of
// the counts (TypeScript's report(): fastTake) sees them before a client can see its reset.
void Worker::FastResetRefused() {
  for (int& fd : fastRefused_) {
    Linger0(fd);
    CloseSocket(fd);
  }
  fastRefused_.clear();
}

// Timed reports (issue 16): a fast connection's opened, connected and closed events and the fast
// path's refusals wait in the thread's outbox for up to kReportUs (or kReportEvents), so that the
// JS thread is woken once per window and thread rather than once per epoll round (a storm of
// refused clients too); any other event (an event-loop connection's) is reported at once, as
// before, and takes every outbox along. A scrape takes them
// at once (fastTake). A connection's events all go one way, so their order holds. True: wake the
// JS thread to take the outboxes now.
bool Worker::FastDefer() {
  bool due = false;
  if (!events_.empty()) {
    size_t kept = 0;
    std::lock_guard<std::mutex> lock(outMu_);
    const bool waiting = !outbox_.empty();
    for (Event& e : events_) {
      if (e.deferrable) outbox_.push_back(e);
      else events_[kept++] = e;
    }
    events_.resize(kept);
    if (!waiting && !outbox_.empty()) fastReportAtUs_ = NowUs() + kReportUs;
    due = outbox_.size() >= kReportEvents;
  }
  // the round's other events are reported now: the outbox goes with them
  if (!events_.empty()) fastReportAtUs_ = 0;
  if (fastReportAtUs_ == 0 || (!due && NowUs() < fastReportAtUs_)) return false;
  fastReportAtUs_ = 0;
  return true;
}

// On the JS thread: every thread's outbox, appended to OUT, where a fast connection opened and
// closed within the window becomes one kBriefEvent (TypeScript counts it, makes no object for
// it; its connected event folds into it). Its id leaves the table here: TypeScript never hears it.
void FastTakeReports(std::vector<Event>& out) {
  const size_t from = out.size();
  for (auto& w : g.workers) w->TakeOutbox(out);
  if (out.size() == from) return;
  constexpr size_t kNone = ~size_t(0);
  struct Open { size_t at; size_t connected; };
  std::unordered_map<uint64_t, Open> open;
  std::vector<uint64_t> gone;
  for (size_t i = from; i < out.size(); i++) {
    Event& e = out[i];
    if (e.kind == kOpenedEvent) {
      open[e.id] = {i, kNone};
      continue;
    }
    auto it = open.find(e.id);
    if (it == open.end()) continue;
    if (e.kind == kConnected) {
      it->second.connected = i;
      continue;
    }
    Event& o = out[it->second.at];
    int64_t connectUs = -1;
    if (it->second.connected != kNone) {
      connectUs = out[it->second.connected].connectUs;
      out[it->second.connected].kind = 0;
    }
    gone.push_back(o.id);
    o = {uint64_t(o.reason), kBriefEvent, e.reason, o.received, o.sent, connectUs, true};
    e.kind = 0;
    open.erase(it);
  }
  if (gone.empty()) return;
  out.erase(std::remove_if(out.begin() + ptrdiff_t(from), out.end(), [](const Event& e) { return e.kind == 0; }), out.end());
  std::lock_guard<std::mutex> lock(g.mu);
  for (uint64_t id : gone) g.table.erase(id);
}

// fastTake() -> the fast connections' events waiting in the threads' outboxes (a Float64Array of
// events, as onEvents gets them), or undefined: a scrape reads counts that include them.
Napi::Value FastTake(const Napi::CallbackInfo& info) {
  std::vector<Event> events;
  FastTakeReports(events);
  if (events.empty()) return info.Env().Undefined();
  ForgetClosed(events);
  return EncodeEvents(info.Env(), events);
}

void Worker::FastCutEndpoint(uint32_t endpoint) {
  std::vector<Conn*> cut;
  for (auto& [id, c] : conns_) {
    if (!c->closed && c->fastEndpoint && c->fastEndpoint->id == endpoint) cut.push_back(c);
  }
  for (Conn* c : cut) Finish(c, Reason::Cut, true);
}

// A new bandwidth limit of an endpoint reaches this thread's fast connections of it, those
// TypeScript has not heard of yet included (the new rules were published before this command).
void Worker::FastShapeEndpoint(uint32_t endpoint, uint64_t rate) {
  for (auto& [id, c] : conns_) {
    if (!c->closed && c->fastEndpoint && c->fastEndpoint->id == endpoint) Shape(c, rate);
  }
}

// The rules of one listener from TypeScript's compiled Uint32Array (src/dataplane/fast-path.ts
// compileRules() writes this layout) and its PROXY v2 template.
std::shared_ptr<FastRules> FastParse(const uint32_t* w, size_t len, const Napi::Value& preamble) {
  constexpr size_t kHead = 19;
  if (len < kHead) return nullptr;
  auto r = std::make_shared<FastRules>();
  r->state = int32_t(w[0]);
  r->zoneDown = w[1] != 0;
  r->capLeft = int32_t(w[2]);
  r->vpcNumber = w[3];
  r->vpcBase = w[4];
  r->port = w[5];
  r->eniHostIp = w[6];
  r->sourceIp = w[7];
  r->whitelistEnabled = w[8] != 0;
  size_t nWhite = w[9];
  r->securityEnabled = w[10] != 0;
  size_t nRules = w[11];
  size_t nCand = w[12];
  r->choiceReason = int(w[13]);
  r->rate = w[14];
  r->idleMs = w[15];
  r->aclEnabled = w[16] != 0;
  size_t nAcl = w[17], nAclOut = w[18];
  if (len < kHead + nWhite * 2 + nRules * 4 + (nAcl + nAclOut) * 5 + nCand * 4) return nullptr;
  const uint32_t* p = w + kHead;
  for (size_t i = 0; i < nWhite; i++, p += 2) r->whitelist.push_back({p[0], p[1]});
  for (size_t i = 0; i < nRules; i++, p += 4) r->security.push_back({p[0], p[1], p[2], p[3]});
  for (size_t i = 0; i < nAcl; i++, p += 5) r->acl.push_back({p[0], p[1], p[2], p[3], p[4] != 0});
  for (size_t i = 0; i < nAclOut; i++, p += 5) r->aclOut.push_back({p[0], p[1], p[2], p[3], p[4] != 0});
  for (size_t i = 0; i < nCand; i++, p += 4) r->candidates.push_back({p[0], p[1], p[2], p[3] != 0});
  if (preamble.IsBuffer()) {
    auto b = preamble.As<Napi::Buffer<char>>();
    r->preamble.assign(b.Data(), b.Length());
  }
  return r;
}

// A public listener's routes from compileRoutes()'s words (src/dataplane/fast-routes.ts); null
// when short or naming an endpoint handle that is gone. JS thread (the handles' map).
std::shared_ptr<FastRoutes> FastRouteParse(const uint32_t* w, size_t len, bool resolve) {
  constexpr size_t kHead = 8;
  if (len < kHead) return nullptr;
  auto r = std::make_shared<FastRoutes>();
  r->publicIp = w[0];
  r->port = w[1];
  r->targetIp = w[2];
  r->targetPort = w[3];
  size_t nEntries = w[4], nVpcs = w[5];
  r->version = w[6];
  size_t o = kHead;
  if (nEntries == 0 || len < o + nEntries * 2) return nullptr;
  for (size_t i = 0; i < nEntries; i++, o += 2) {
    FastRouteEntry e;
    if (resolve) {
      auto it = fast.endpoints.find(w[o]);
      if (it == fast.endpoints.end()) return nullptr;
      e.endpoint = it->second;
    }
    e.capLeft = int32_t(w[o + 1]);
    r->entries.push_back(std::move(e));
  }
  for (size_t v = 0; v < nVpcs; v++) {
    if (len < o + 3) return nullptr;
    FastVpc vpc;
    vpc.number = w[o];
    vpc.base = w[o + 1];
    size_t nSubnets = w[o + 2];
    o += 3;
    for (size_t i = 0; i < nSubnets; i++) {
      if (len < o + 6) return nullptr;
      FastSubnet s;
      s.lo = w[o];
      s.hi = w[o + 1];
      s.kind = int(w[o + 2]);
      s.refusal = int32_t(w[o + 3]);
      s.entry = int32_t(w[o + 4]);
      size_t nAllowed = w[o + 5];
      o += 6;
      if (len < o + nAllowed * 2 || (s.entry >= 0 && size_t(s.entry) >= nEntries)) return nullptr;
      for (size_t a = 0; a < nAllowed; a++, o += 2) s.allowed.push_back({w[o], w[o + 1]});
      vpc.subnets.push_back(std::move(s));
    }
    r->vpcs.push_back(std::move(vpc));
  }
  return r;
}

const uint32_t* U32Data(const Napi::Value& v, size_t* len) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) return nullptr;
  auto a = v.As<Napi::Uint32Array>();
  *len = a.ElementLength();
  return a.Data();
}

// Takes a listener off the threads' epolls; RESUME: back to the JS thread's accept (uv_poll).
void FastOffListener(uint32_t id, bool resume) {
  std::shared_ptr<FastListener> l;
  {
    std::unique_lock<std::shared_mutex> lock(fast.mu);
    auto it = fast.listeners.find(id);
    if (it == fast.listeners.end()) return;
    l = it->second;
    fast.listeners.erase(it);
    for (auto& w : g.workers) epoll_ctl(w->epfd(), EPOLL_CTL_DEL, l->fd, nullptr);
  }
  auto it = g.listeners.find(id);
  if (resume && it != g.listeners.end()) uv_poll_start(&it->second->poll, UV_READABLE, OnReadable);
}

void FastOff(uint32_t id) { FastOffListener(id, false); }

// fastGlobals(Uint32Array(kGlobalWords)): the daemon-wide inputs, written by TypeScript
Napi::Value FastGlobals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t len = 0;
  auto* data = info.Length() > 0 ? const_cast<uint32_t*>(U32Data(info[0], &len)) : nullptr;
  if (data == nullptr || len < size_t(kGlobalWords)) return Fail(env, "fastGlobals(Uint32Array(272))");
  static Napi::Reference<Napi::Uint32Array> keep;
  keep = Napi::Persistent(info[0].As<Napi::Uint32Array>());
  fast.globals = data;
  return Napi::Number::New(env, kGlobalWords);
}

// fastEndpoint(lowPort, highPort) -> a handle for the endpoint's cap count and SNAT ports
Napi::Value FastEndpointNew(const Napi::CallbackInfo& info) {
  auto ep = std::make_shared<FastEndpoint>();
  ep->id = fast.nextEndpoint++;
  ep->ports.next = std::max<uint32_t>(1, U32(info, 0));
  ep->ports.high = std::min<uint32_t>(65535, U32(info, 1));
  fast.endpoints[ep->id] = ep;
  return Napi::Number::New(info.Env(), ep->id);
}

// fastEndpointDrop(handle): forgotten (its live connections keep what they hold until they close)
Napi::Value FastEndpointDrop(const Napi::CallbackInfo& info) {
  fast.endpoints.erase(U32(info, 0));
  return info.Env().Undefined();
}

// fastEndpointStats(handle) -> [active, received, sent (by its fast connections, live included), snatPortsInUse]
Napi::Value FastEndpointStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto it = fast.endpoints.find(U32(info, 0));
  auto a = Napi::Array::New(env, 4);
  if (it == fast.endpoints.end()) return env.Undefined();
  FastEndpoint& ep = *it->second;
  uint32_t taken;
  {
    std::lock_guard<std::mutex> lock(ep.ports.mu);
    taken = ep.ports.taken;
  }
  a.Set(0u, Napi::Number::New(env, double(ep.active.load())));
  a.Set(1u, Napi::Number::New(env, double(ep.received.load())));
  a.Set(2u, Napi::Number::New(env, double(ep.sent.load())));
  a.Set(3u, Napi::Number::New(env, double(taken)));
  return a;
}

// ---- the endpoint's one SNAT port pool: the event loop's connections take theirs here too ----
// An endpoint's SNAT address has one pool of source ports. With the fast path on, the event loop's
// connections of the endpoint (a toxic, a bandwidth limit, flow logs) take and give back their
// ports in the threads' pool of its handle: with a pool each, both handed out the lowest ports
// first, and a connection on one path bound the port a connection on the other had just closed
// (its TIME_WAIT to the same backend: connect() failed EADDRNOTAVAIL, the client was reset).

// fastPortTake(handle) -> a port of the endpoint's pool, 0: none left (or no such handle)
Napi::Value FastPortTake(const Napi::CallbackInfo& info) {
  auto it = fast.endpoints.find(U32(info, 0));
  return Napi::Number::New(info.Env(), it == fast.endpoints.end() ? 0 : it->second->ports.Take());
}

// fastPortGive(handle, port): the port back to the endpoint's pool (its handle dropped: nothing)
Napi::Value FastPortGive(const Napi::CallbackInfo& info) {
  auto it = fast.endpoints.find(U32(info, 0));
  if (it != fast.endpoints.end()) it->second->ports.Give(uint16_t(U32(info, 1)));
  return info.Env().Undefined();
}

// Puts L on every thread's epoll in place of the listener of its id the threads accepted on, if
// any, and off the JS thread's accept (fast.mu held uniquely).
void FastPut(uv_poll_t* poll, const std::shared_ptr<FastListener>& l) {
  auto it = fast.listeners.find(l->id);
  if (it != fast.listeners.end()) {
    for (auto& w : g.workers) epoll_ctl(w->epfd(), EPOLL_CTL_DEL, it->second->fd, nullptr);
    fast.listeners.erase(it);
  }
  fast.listeners[l->id] = l;
  uv_poll_stop(poll);
  for (auto& w : g.workers) {
    epoll_event e{};
    e.events = EPOLLIN | EPOLLEXCLUSIVE;
    e.data.u64 = kListenTagBit | l->id;
    epoll_ctl(w->epfd(), EPOLL_CTL_ADD, l->fd, &e);
  }
}

// fastListen(listenerId, endpointHandle, rules: Uint32Array, preamble: Buffer | null) -> true
// when the threads accept on it from now on; endpointHandle 0: back to the JS thread's accept.
Napi::Value FastListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = U32(info, 0);
  uint32_t handle = U32(info, 1);
  auto li = g.listeners.find(id);
  if (li == g.listeners.end()) return Napi::Boolean::New(env, false);
  if (handle == 0) {
    FastOffListener(id, true);
    return Napi::Boolean::New(env, false);
  }
  auto ei = fast.endpoints.find(handle);
  size_t len = 0;
  const uint32_t* w = info.Length() > 2 ? U32Data(info[2], &len) : nullptr;
  if (ei == fast.endpoints.end() || w == nullptr) return Fail(env, "fastListen(listener, endpoint, rules: Uint32Array, preamble)");
  auto rules = FastParse(w, len, info.Length() > 3 ? info[3] : env.Null());
  if (!rules) return Fail(env, "fastListen(): rules too short");
  std::shared_ptr<const FastRules> frozen = rules;
  std::unique_lock<std::shared_mutex> lock(fast.mu);
  auto it = fast.listeners.find(id);
  if (it != fast.listeners.end() && it->second->endpoint == ei->second) {
    std::atomic_store(&it->second->rules, frozen);
    return Napi::Boolean::New(env, true);
  }
  auto l = std::make_shared<FastListener>();
  l->id = id;
  l->fd = li->second->fd;
  l->endpoint = ei->second;
  l->rules = frozen;
  FastPut(&li->second->poll, l);
  return Napi::Boolean::New(env, true);
}

// fastRoute(listenerId, routes: Uint32Array) -> true when the threads accept on the public
// listener from now on, deciding routes from the compiled words (fastListen(id, 0) takes it back).
Napi::Value FastRoute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = U32(info, 0);
  auto li = g.listeners.find(id);
  if (li == g.listeners.end()) return Napi::Boolean::New(env, false);
  size_t len = 0;
  const uint32_t* w = info.Length() > 1 ? U32Data(info[1], &len) : nullptr;
  auto routes = w ? FastRouteParse(w, len, true) : nullptr;
  if (!routes) return Fail(env, "fastRoute(listener, routes: Uint32Array): short, or an endpoint handle that is gone");
  std::shared_ptr<const FastRoutes> frozen = routes;
  std::unique_lock<std::shared_mutex> lock(fast.mu);
  auto it = fast.listeners.find(id);
  if (it != fast.listeners.end() && it->second->routes) {
    std::atomic_store(&it->second->routes, frozen);
    return Napi::Boolean::New(env, true);
  }
  auto l = std::make_shared<FastListener>();
  l->id = id;
  l->fd = li->second->fd;
  l->routes = frozen;
  FastPut(&li->second->poll, l);
  return Napi::Boolean::New(env, true);
}

// Test entry: fastRouteDecide(routes, clientIp, endpointActive) -> [target kind, route refusal
// (-1: none), entry (-1: none)]: the threads' route decision for one client, each entry's count
// being endpointActive, for the agreement test with decide().
Napi::Value FastRouteDecide(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t len = 0;
  const uint32_t* w = info.Length() > 0 ? U32Data(info[0], &len) : nullptr;
  auto r = w ? FastRouteParse(w, len, false) : nullptr;
  if (!r) return Fail(env, "fastRouteDecide(routes, clientIp, endpointActive)");
  int64_t active = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int64Value() : 0;
  FastRouteOutcome o = FastRouteDecision(*r, U32(info, 1), [&](int) { return active; });
  auto a = Napi::Array::New(env, 3);
  a.Set(0u, Napi::Number::New(env, o.kind));
  a.Set(1u, Napi::Number::New(env, o.refusal));
  a.Set(2u, Napi::Number::New(env, o.entry));
  return a;
}

// fastCut(endpointHandle): every thread resets the endpoint's fast connections (reject, delete),
// those TypeScript has not heard of yet included.
Napi::Value FastCut(const Napi::CallbackInfo& info) {
  uint32_t handle = U32(info, 0);
  for (auto& w : g.workers) w->Post({Command::CutEndpoint, handle, nullptr});
  return info.Env().Undefined();
}

// fastShape(endpointHandle, bytesPerSecond): every thread gives the endpoint's fast connections
// the new per-connection limit (0: none), those not reported yet included.
Napi::Value FastShape(const Napi::CallbackInfo& info) {
  uint32_t handle = U32(info, 0);
  double rate = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  if (!(rate > 0)) rate = 0;
  for (auto& w : g.workers) w->Post({Command::ShapeEndpoint, handle, nullptr, uint64_t(std::min(rate, 1e15))});
  return info.Env().Undefined();
}

// Test entry: fastDecide(rules, preamble, clientIp, clientPort, daemonActive, endpointActive,
// snatLeft) -> [refusal (-1: admitted), target index (-1: none), choice reason, flow hash]: the
// threads' decision for one client on given counts, for the agreement test with admit().
Napi::Value FastDecide(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  size_t len = 0;
  const uint32_t* w = info.Length() > 0 ? U32Data(info[0], &len) : nullptr;
  auto r = w ? FastParse(w, len, info[1]) : nullptr;
  if (!r) return Fail(env, "fastDecide(rules, preamble, clientIp, clientPort, daemonActive, endpointActive, snatLeft)");
  uint32_t ip = U32(info, 2), port = U32(info, 3);
  int64_t daemonActive = info[4].As<Napi::Number>().Int64Value();
  int64_t endpointActive = info[5].As<Napi::Number>().Int64Value();
  int code = FastCheck(*r, ip, port, daemonActive, endpointActive);
  int index = -1;
  uint32_t h = FastFlowHash(ip, port, r->eniHostIp, r->port);
  if (code < 0 && U32(info, 6) == 0) code = kSnatExhausted;
  if (code < 0) {
    const FastTarget* t = r->candidates.empty() ? nullptr : &r->candidates[h % r->candidates.size()];
    if (t == nullptr || t->refuse) code = kBackendUnreachable;
    if (t != nullptr) index = int(t->index);
  }
  auto a = Napi::Array::New(env, 4);
  a.Set(0u, Napi::Number::New(env, code));
  a.Set(1u, Napi::Number::New(env, index));
  a.Set(2u, Napi::Number::New(env, r->choiceReason));
  a.Set(3u, Napi::Number::New(env, h));
  return a;
}

// fastFigures() -> [connections accepted by the threads, fast connections open, event batches reported]
Napi::Value FastFigures(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto a = Napi::Array::New(env, 3);
  a.Set(0u, Napi::Number::New(env, double(fast.accepted.load())));
  a.Set(1u, Napi::Number::New(env, double(fast.active.load())));
  a.Set(2u, Napi::Number::New(env, double(fast.reports.load())));
  return a;
}

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  exports.Set("socketBuffer", Napi::Function::New(env, SocketBuffer));
  exports.Set("figures", Napi::Function::New(env, Figures));
  exports.Set("io", Napi::Function::New(env, Io));
  exports.Set("clamp", Napi::Function::New(env, Clamp));
  exports.Set("releaseMemory", Napi::Function::New(env, ReleaseMemory));
  exports.Set("localRoute", Napi::Function::New(env, LocalRoute));
  exports.Set("testHoldCopies", Napi::Function::New(env, TestHoldCopies));
  exports.Set("testNextId", Napi::Function::New(env, TestNextId));
  exports.Set("testBreakThread", Napi::Function::New(env, TestBreakThread));
  exports.Set("testThreadLoads", Napi::Function::New(env, TestThreadLoads));
  exports.Set("testStallThread", Napi::Function::New(env, TestStallThread));
  exports.Set("threads", Napi::Function::New(env, Threads));
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("listen", Napi::Function::New(env, Listen));
  exports.Set("unlisten", Napi::Function::New(env, Unlisten));
  exports.Set("reset", Napi::Function::New(env, Reset));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("cut", Napi::Function::New(env, Cut));
  exports.Set("close", Napi::Function::New(env, CloseConn));
  exports.Set("shape", Napi::Function::New(env, ShapeConn));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("detach", Napi::Function::New(env, DetachConn));
  exports.Set("takeDetached", Napi::Function::New(env, TakeDetached));
  exports.Set("adopt", Napi::Function::New(env, AdoptConn));
  exports.Set("dup", Napi::Function::New(env, Dup));
  exports.Set("touched", Napi::Function::New(env, Touched));
  exports.Set("fastGlobals", Napi::Function::New(env, FastGlobals));
  exports.Set("fastEndpoint", Napi::Function::New(env, FastEndpointNew));
  exports.Set("fastEndpointDrop", Napi::Function::New(env, FastEndpointDrop));
  exports.Set("fastEndpointStats", Napi::Function::New(env, FastEndpointStats));
  exports.Set("fastPortTake", Napi::Function::New(env, FastPortTake));
  exports.Set("fastPortGive", Napi::Function::New(env, FastPortGive));
  exports.Set("fastListen", Napi::Function::New(env, FastListen));
  exports.Set("fastCut", Napi::Function::New(env, FastCut));
  exports.Set("fastShape", Napi::Function::New(env, FastShape));
  exports.Set("fastRoute", Napi::Function::New(env, FastRoute));
  exports.Set("fastRouteDecide", Napi::Function::New(env, FastRouteDecide));
  exports.Set("fastDecide", Napi::Function::New(env, FastDecide));
  exports.Set("fastFigures", Napi::Function::New(env, FastFigures));
  exports.Set("fastTake", Napi::Function::New(env, FastTake));
  exports.Set("fastDone", Napi::Function::New(env, FastDone));
  return exports;
}

}  // namespace

NODE_API_MODULE(vpcep_relay, Module)
