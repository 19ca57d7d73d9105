// vpcep_relay: the native fast path of the data plane. Relays the bytes of proxied TCP
// connections kernel-side: socket -> pipe -> socket with splice(2), on a few threads, each with
// its own edge-triggered epoll. TypeScript admits a connection, connects the backend and then
// hands both sockets over (open); byte counts and the close of each connection come back to the
// JS thread through a threadsafe function.
//
// Rules kept here: no C++ exceptions (NAPI_DISABLE_CPP_EXCEPTIONS), nothing thrown across
// threads; every fd this file opens is closed exactly once, by the thread that owns it; a
// connection is freed only after the epoll batch that may still name it.
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

// How much one direction holds in its pipe before it stops reading its source (the watermark).
constexpr size_t kPipeBytes = 1024 * 1024;
// Empty pipes kept per thread for the next busy connection; idle connections hold none.
constexpr size_t kPoolMax = 64;
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

enum class Reason { Done, ClientReset, BackendReset, Cut, Closed, Error };

const char* ReasonName(Reason r) {
  switch (r) {
    case Reason::Done: return "done";
    case Reason::ClientReset: return "client_reset";
    case Reason::BackendReset: return "backend_reset";
    case Reason::Cut: return "cut";
    case Reason::Closed: return "closed";
    case Reason::Error: return "error";
  }
  return "error";
}

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Shared between the owning relay thread (writes) and the JS thread (reads).
struct Counters {
  std::atomic<uint64_t> received{0};  // bytes read from the client
  std::atomic<uint64_t> sent{0};      // bytes written to the client
  std::atomic<bool> touched{false};   // any bytes since the JS sweep last asked
  std::atomic<int64_t> lastActiveMs{0};
};

struct Pipe {
  int r = -1;
  int w = -1;
};

// One direction of a connection: bytes read from fd[d] wait in `pipe` until fd[1-d] takes them.
struct Flow {
  Pipe pipe;
  size_t inPipe = 0;
  bool eof = false;   // the source sent its FIN
  bool shut = false;  // the FIN was passed on (shutdown(SHUT_WR) of the destination)
};

struct Conn {
  uint32_t id = 0;
  int fd[2] = {-1, -1};  // 0: the client, 1: the backend
  Flow flow[2];          // 0: client -> backend, 1: backend -> client
  std::string preamble;  // written to the backend before any payload (a PROXY v2 header)
  size_t preambleOff = 0;
  std::shared_ptr<Counters> counters;
  bool closed = false;
};

struct CloseEvent {
  uint32_t id;
  double received;
  double sent;
  Reason reason;
};

struct Command {
  enum Kind { Open, Cut, Close, Stop } kind;
  uint32_t id;
  Conn* conn;
};

class Worker;

// The process-wide relay: its threads, the id -> counters table read by the JS thread, and the
// close callback.
struct Relay {
  std::vector<std::unique_ptr<Worker>> workers;
  std::mutex mu;
  struct Entry {
    std::shared_ptr<Counters> counters;
    Worker* worker;
  };
  std::unordered_map<uint32_t, Entry> table;  // guarded by mu
  uint32_t nextId = 1;                        // JS thread only
  size_t nextWorker = 0;                      // JS thread only
  Napi::ThreadSafeFunction onClose;
  std::atomic<bool> live{false};
};

// Never destroyed: at exit() the threads may still run (an exit without the env cleanup hook).
Relay& g = *new Relay;

// The table keeps a closed connection's counters until its callback runs on the JS thread, so
// that the byte counts read in between never go back.
void Forget(uint32_t id) {
  std::lock_guard<std::mutex> lock(g.mu);
  g.table.erase(id);
}

void DeliverClose(Napi::Env env, Napi::Function cb, CloseEvent* e) {
  Forget(e->id);
  if (env != nullptr && cb != nullptr) {
    cb.Call({Napi::Number::New(env, e->id), Napi::Number::New(env, e->received), Napi::Number::New(env, e->sent),
             Napi::String::New(env, ReasonName(e->reason))});
  }
  delete e;
}

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

class Worker {
 public:
  Worker() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    ev_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = 0;  // 0 names the eventfd; connections are named by pointer
    epoll_ctl(ep_, EPOLL_CTL_ADD, ev_, &e);
    thread_ = std::thread([this] { Run(); });
  }

  ~Worker() {
    if (thread_.joinable()) thread_.detach();
  }

  bool ok() const { return ep_ >= 0 && ev_ >= 0; }

  void Post(Command c) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(c);
    }
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
    epoll_event events[256];
    bool stopping = false;
    while (!stopping) {
      int n = epoll_wait(ep_, events, 256, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      for (int i = 0; i < n; i++) {
        uint64_t tag = events[i].data.u64;
        if (tag == 0) {
          stopping = Commands() || stopping;
          continue;
        }
        Conn* c = reinterpret_cast<Conn*>(tag & ~uint64_t(1));
        int side = int(tag & 1);
        if (c->closed) continue;
        if (events[i].events & EPOLLERR) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(c->fd[side], SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            Finish(c, side == 0 ? Reason::ClientReset : Reason::BackendReset, true);
            continue;
          }
        }
        Pump(c);
      }
      for (Conn* c : graveyard_) delete c;
      graveyard_.clear();
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
    }
    bool stop = false;
    for (const Command& cmd : batch) {
      switch (cmd.kind) {
        case Command::Open: Add(cmd.conn); break;
        case Command::Cut:
        case Command::Close: {
          auto it = conns_.find(cmd.id);
          if (it != conns_.end() && !it->second->closed) {
            Finish(it->second, cmd.kind == Command::Cut ? Reason::Cut : Reason::Closed, cmd.kind == Command::Cut);
          }
          break;
        }
        case Command::Stop: stop = true; break;
      }
    }
    return stop;
  }

  void Add(Conn* c) {
    conns_[c->id] = c;
    for (int s = 0; s < 2; s++) {
      epoll_event e{};
      // Edge-triggered: each readiness change is reported once, and Pump() runs every flow
      // until the kernel says EAGAIN (or the pipe is full and the destination cannot take more).
      e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      e.data.u64 = reinterpret_cast<uint64_t>(c) | uint64_t(s);
      if (epoll_ctl(ep_, EPOLL_CTL_ADD, c->fd[s], &e) < 0) {
        Finish(c, Reason::Error, true);
        return;
      }
    }
  }

  bool TakePipe(Pipe& p) {
    if (!pool_.empty()) {
      p = pool_.back();
      pool_.pop_back();
      return true;
    }
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return false;
    fcntl(fds[1], F_SETPIPE_SZ, int(kPipeBytes));  // best effort: the default (64 KiB) also works
    p.r = fds[0];
    p.w = fds[1];
    return true;
  }

  void GiveBackPipe(Flow& f) {
    if (f.pipe.r < 0) return;
    if (f.inPipe == 0 && pool_.size() < kPoolMax) {
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

  void Pump(Conn* c) {
    for (int d = 0; d < 2 && !c->closed; d++) Move(c, d);
    if (!c->closed && c->flow[0].shut && c->flow[1].shut) Finish(c, Reason::Done, false);
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
        ssize_t n = splice(f.pipe.r, nullptr, dst, nullptr, f.inPipe, kSpliceFlags);
        if (n > 0) {
          f.inPipe -= size_t(n);
          if (d == 1) k.sent.fetch_add(uint64_t(n), std::memory_order_relaxed);
          progress = moved = true;
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else if (!(n < 0 && errno == EAGAIN)) {
          Finish(c, d == 0 ? Reason::BackendReset : Reason::ClientReset, true);
          return;
        }
      }
      if (!f.eof && f.inPipe < kPipeBytes) {
        if (f.pipe.r < 0 && !TakePipe(f.pipe)) {
          Finish(c, Reason::Error, true);
          return;
        }
        ssize_t n = splice(src, nullptr, f.pipe.w, nullptr, kPipeBytes - f.inPipe, kSpliceFlags);
        if (n > 0) {
          f.inPipe += size_t(n);
          if (d == 0) k.received.fetch_add(uint64_t(n), std::memory_order_relaxed);
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
    if (moved) {
      k.touched.store(true, std::memory_order_relaxed);
      k.lastActiveMs.store(NowMs(), std::memory_order_relaxed);
    }
    if (f.inPipe == 0) GiveBackPipe(f);
    // Half-close carried through: the FIN follows the last byte (and the preamble).
    if (f.eof && f.inPipe == 0 && (d == 1 || c->preambleOff == c->preamble.size())) {
      shutdown(dst, SHUT_WR);
      f.shut = true;
    }
  }

  // Closes both sockets (with RST when `reset`), frees the pipes, reports the close once.
  void Finish(Conn* c, Reason reason, bool reset) {
    c->closed = true;
    for (int s = 0; s < 2; s++) {
      if (c->fd[s] < 0) continue;
      epoll_ctl(ep_, EPOLL_CTL_DEL, c->fd[s], nullptr);
      if (reset) Linger0(c->fd[s]);
      CloseFd(c->fd[s]);
    }
    for (Flow& f : c->flow) GiveBackPipe(f);
    conns_.erase(c->id);
    graveyard_.push_back(c);
    auto* e = new CloseEvent{c->id, double(c->counters->received.load()), double(c->counters->sent.load()), reason};
    bool queued;
    {
      std::lock_guard<std::mutex> lock(g.mu);  // onClose may be swapped by a second init()
      queued = g.live.load() && g.onClose.NonBlockingCall(e, DeliverClose) == napi_ok;
    }
    if (!queued) {
      Forget(c->id);
      delete e;
    }
  }

  int ep_ = -1;
  int ev_ = -1;
  std::mutex mu_;
  std::vector<Command> queue_;  // guarded by mu_
  // Owned by the thread:
  std::unordered_map<uint32_t, Conn*> conns_;
  std::vector<Conn*> graveyard_;
  std::vector<Pipe> pool_;
  std::thread thread_;
};

void Shutdown(void*) {
  for (auto& w : g.workers) w->Join();
  g.workers.clear();
  std::lock_guard<std::mutex> lock(g.mu);
  if (g.live.exchange(false)) g.onClose.Release();
}

Napi::Value Fail(Napi::Env env, const char* msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

// init(onClose(id, received, sent, reason), threads): starts the relay threads once.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) return Fail(env, "init(onClose, threads?)");
  {
    std::lock_guard<std::mutex> lock(g.mu);
    // A second load of the JS boundary in this process (test isolation): the new callback wins.
    if (g.live.exchange(false)) g.onClose.Release();
    g.onClose = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "vpcep_relay.onClose", 0, 1);
    g.onClose.Unref(env);  // the relay never keeps the process alive by itself
    g.live.store(true);
  }
  if (g.workers.empty()) {
    unsigned n = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; i++) {
      g.workers.push_back(std::make_unique<Worker>());
      if (!g.workers.back()->ok()) return Fail(env, "vpcep_relay: epoll or eventfd failed");
    }
    napi_add_env_cleanup_hook(env, Shutdown, nullptr);
  }
  return Napi::Number::New(env, double(g.workers.size()));
}

// open(clientFd, backendFd, preamble?) -> id, or 0 when the relay cannot take the connection
// (the caller keeps relaying it in JS). The relay owns dups of both fds; the caller closes its own.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g.workers.empty()) return Fail(env, "vpcep_relay: init() first");
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) return Fail(env, "open(clientFd, backendFd, preamble?)");
  int fds[2] = {info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value()};
  int dups[2] = {-1, -1};
  for (int s = 0; s < 2; s++) {
    dups[s] = fcntl(fds[s], F_DUPFD_CLOEXEC, 0);
    if (dups[s] < 0) {
      CloseFd(dups[0]);
      return Napi::Number::New(env, 0);
    }
    int fl = fcntl(dups[s], F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK)) fcntl(dups[s], F_SETFL, fl | O_NONBLOCK);
  }
  auto* c = new Conn();
  c->id = g.nextId++;
  if (g.nextId == 0) g.nextId = 1;
  c->fd[0] = dups[0];
  c->fd[1] = dups[1];
  if (info.Length() > 2 && info[2].IsBuffer()) {
    auto b = info[2].As<Napi::Buffer<char>>();
    c->preamble.assign(b.Data(), b.Length());
  }
  c->counters = std::make_shared<Counters>();
  c->counters->lastActiveMs.store(NowMs());
  Worker* w = g.workers[g.nextWorker++ % g.workers.size()].get();
  {
    std::lock_guard<std::mutex> lock(g.mu);
    g.table[c->id] = {c->counters, w};
  }
  // Read the id before posting: once posted, the worker owns `c` and may close and free it
  // before this thread runs another line.
  const uint32_t id = c->id;
  w->Post({Command::Open, id, c});
  return Napi::Number::New(env, id);
}

Worker* WorkerOf(uint32_t id) {
  std::lock_guard<std::mutex> lock(g.mu);
  auto it = g.table.find(id);
  return it == g.table.end() ? nullptr : it->second.worker;
}

std::shared_ptr<Counters> CountersOf(uint32_t id) {
  std::lock_guard<std::mutex> lock(g.mu);
  auto it = g.table.find(id);
  return it == g.table.end() ? nullptr : it->second.counters;
}

uint32_t IdArg(const Napi::CallbackInfo& info) {
  return info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Uint32Value() : 0;
}

// cut(id): both sockets reset. close(id): both closed gracefully (the idle timeout).
// Each ends in one close callback; an id already closed is ignored (by the worker).
Napi::Value Cut(const Napi::CallbackInfo& info) {
  uint32_t id = IdArg(info);
  if (Worker* w = WorkerOf(id)) w->Post({Command::Cut, id, nullptr});
  return info.Env().Undefined();
}

Napi::Value CloseConn(const Napi::CallbackInfo& info) {
  uint32_t id = IdArg(info);
  if (Worker* w = WorkerOf(id)) w->Post({Command::Close, id, nullptr});
  return info.Env().Undefined();
}

// stats(id) -> [received, sent, idleMs], or undefined once its close callback ran
Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto k = CountersOf(IdArg(info));
  if (!k) return env.Undefined();
  auto a = Napi::Array::New(env, 3);
  a.Set(0u, Napi::Number::New(env, double(k->received.load(std::memory_order_relaxed))));
  a.Set(1u, Napi::Number::New(env, double(k->sent.load(std::memory_order_relaxed))));
  a.Set(2u, Napi::Number::New(env, double(NowMs() - k->lastActiveMs.load(std::memory_order_relaxed))));
  return a;
}

// touched(id): were bytes moved since the last call? (read and cleared, for the idle sweep)
Napi::Value Touched(const Napi::CallbackInfo& info) {
  auto k = CountersOf(IdArg(info));
  return Napi::Boolean::New(info.Env(), k && k->touched.exchange(false, std::memory_order_relaxed));
}

Napi::Object Module(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("cut", Napi::Function::New(env, Cut));
  exports.Set("close", Napi::Function::New(env, CloseConn));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("touched", Napi::Function::New(env, Touched));
  return exports;
}

}  // namespace

NODE_API_MODULE(vpcep_relay, Module)
