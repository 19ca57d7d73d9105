// What a kernel entry costs on this machine: operations of a relayed connection's set-up and
// tear-down (setsockopt, epoll_ctl, socket, bind, close), each as a direct system call against
// the same operation queued on an io_uring, 32 to an io_uring_enter (issue 16, README "Accepting
// on the relay threads"). CPU microseconds per operation, this process's user + system time.
// The ring's operations here run inline: on Linux 6.18 no io_uring worker thread (`iou-wrk-*` in
// `ps -eLo comm`) appeared during a run, whose context switches stayed under 100.
//
//   apt-get install liburing-dev     (Debian's 2.3; the opcodes it has no helper for are filled here)
//   gcc -O2 -o /tmp/uring-ops bench/uring-ops.c -luring && /tmp/uring-ops [N]
//
// Needs Linux 6.7 for setsockopt through the ring and 6.11 for bind; prints "failed" counts so
// that a kernel without them shows as such, not as a fast figure.
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { OP_URING_CMD = 46, OP_BIND = 56, SOCKET_URING_OP_SETSOCKOPT = 3, BATCH = 32 };

static struct io_uring ring;
static int one = 1;

static double cpu_us(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

/** setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1) as a socket command (liburing 2.5's io_uring_prep_cmd_sock) */
static void prep_setsockopt(struct io_uring_sqe* sqe, int fd) {
  io_uring_prep_rw(OP_URING_CMD, sqe, fd, NULL, 0, 0);
  uint8_t* b = (uint8_t*)sqe;
  *(uint32_t*)(b + 8) = SOCKET_URING_OP_SETSOCKOPT;  // cmd_op
  *(uint32_t*)(b + 16) = SOL_SOCKET;                  // level
  *(uint32_t*)(b + 20) = SO_REUSEADDR;                // optname
  *(uint32_t*)(b + 44) = sizeof one;                  // optlen
  *(uint64_t*)(b + 48) = (uint64_t)(uintptr_t)&one;   // optval
}

/** waits for N completions; returns how many failed, and the results in RES when given */
static int reap(int n, int* res) {
  int failed = 0;
  for (int i = 0; i < n; i++) {
    struct io_uring_cqe* cqe;
    if (io_uring_wait_cqe(&ring, &cqe)) { failed++; continue; }
    if (cqe->res < 0) failed++;
    if (res) res[i] = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
  }
  return failed;
}

static void report(const char* what, double direct, int directFailed, double ringed, int failed) {
  printf("%-26s direct %6.3f us (%d failed)   io_uring %6.3f us (%d failed)\n", what, direct, directFailed, ringed, failed);
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 200000;
  n -= n % BATCH;
  if (n <= 0 || io_uring_queue_init(256, &ring, 0)) { fprintf(stderr, "usage: uring-ops [N, a multiple of %d]; io_uring must work\n", BATCH); return 2; }
  int s = socket(AF_INET, SOCK_STREAM, 0);
  double t, direct;
  int failed, directFailed = 0;

  t = cpu_us();
  for (int i = 0; i < n; i++) directFailed += setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0;
  direct = (cpu_us() - t) / n;
  t = cpu_us(), failed = 0;
  for (int i = 0; i < n; i += BATCH) {
    for (int j = 0; j < BATCH; j++) prep_setsockopt(io_uring_get_sqe(&ring), s);
    io_uring_submit(&ring);
    failed += reap(BATCH, NULL);
  }
  report("setsockopt", direct, directFailed, (cpu_us() - t) / n, failed);

  // epoll_ctl: an ADD and a DEL per socket, 16 sockets to a batch
  int ep = epoll_create1(0), fds[BATCH];
  struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
  for (int j = 0; j < BATCH / 2; j++) fds[j] = socket(AF_INET, SOCK_STREAM, 0);
  t = cpu_us(), directFailed = 0;
  for (int i = 0; i < n / 2; i++) {
    directFailed += epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) != 0;
    directFailed += epoll_ctl(ep, EPOLL_CTL_DEL, s, NULL) != 0;
  }
  direct = (cpu_us() - t) / n;
  t = cpu_us(), failed = 0;
  for (int i = 0; i < n; i += BATCH) {
    for (int j = 0; j < BATCH / 2; j++) {
      struct io_uring_sqe* add = io_uring_get_sqe(&ring);
      io_uring_prep_epoll_ctl(add, ep, fds[j], EPOLL_CTL_ADD, &ev);
      add->flags |= IOSQE_IO_LINK;
      io_uring_prep_epoll_ctl(io_uring_get_sqe(&ring), ep, fds[j], EPOLL_CTL_DEL, NULL);
    }
    io_uring_submit(&ring);
    failed += reap(BATCH, NULL);
  }
  report("epoll_ctl", direct, directFailed, (cpu_us() - t) / n, failed);

  // a socket made and closed; then made, bound to 127.9.9.9:port and closed (per pair, per triple)
  int m = n / 4 - (n / 4) % BATCH;
  struct sockaddr_in addr = { .sin_family = AF_INET }, addrs[BATCH];
  inet_pton(AF_INET, "127.9.9.9", &addr.sin_addr);
  for (int bind_too = 0; bind_too < 2; bind_too++) {
    t = cpu_us(), directFailed = 0;
    for (int i = 0; i < m; i++) {
      int f = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      addr.sin_port = htons(20000 + i % 20000);
      if (bind_too) directFailed += bind(f, (struct sockaddr*)&addr, sizeof addr) != 0;
      directFailed += f < 0 || close(f) != 0;
    }
    direct = (cpu_us() - t) / m;
    t = cpu_us(), failed = 0;
    for (int i = 0; i < m; i += BATCH) {
      for (int j = 0; j < BATCH; j++) io_uring_prep_socket(io_uring_get_sqe(&ring), AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0, 0);
      io_uring_submit(&ring);
      failed += reap(BATCH, fds);
      for (int j = 0; j < BATCH; j++) {
        if (bind_too) {
          addrs[j] = addr;
          addrs[j].sin_port = htons(20000 + (i + j) % 20000);
          struct io_uring_sqe* b = io_uring_get_sqe(&ring);
          io_uring_prep_rw(OP_BIND, b, fds[j], &addrs[j], 0, sizeof addrs[j]);  // liburing 2.7's io_uring_prep_bind
          b->flags |= IOSQE_IO_LINK;
        }
        io_uring_prep_close(io_uring_get_sqe(&ring), fds[j]);
      }
      io_uring_submit(&ring);
      failed += reap(bind_too ? 2 * BATCH : BATCH, NULL);
    }
    report(bind_too ? "socket + bind + close" : "socket + close", direct, directFailed, (cpu_us() - t) / m, failed);
  }
  return 0;
}
