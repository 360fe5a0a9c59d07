#ifndef CSYSTEM_H
#define CSYSTEM_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>

// Thin wrappers so Swift sees stable signatures (Glibc's module lacks these).
int csystem_epoll_create(void);
int csystem_epoll_add(int epfd, int fd, uint32_t events, uint64_t data);
int csystem_epoll_del(int epfd, int fd);
/// Waits for events; writes up to `max` (data, events) pairs; returns the count or -1.
int csystem_epoll_wait(int epfd, uint64_t *datas, uint32_t *events, int max, int timeout_ms);
int csystem_eventfd(void);
int csystem_eventfd_signal(int fd);
int csystem_eventfd_drain(int fd);
int csystem_accept4(int fd);
/// Returns freed heap memory to the system (glibc); call when idle.
int csystem_malloc_trim(void);
/// 1 when the TCP peer has sent FIN or RST (state CLOSE_WAIT or CLOSE), even while received bytes
/// wait unread; 0 otherwise; -1 when the state cannot be read (not TCP).
int csystem_tcp_peer_closed(int fd);

extern const uint32_t csystem_EPOLLIN;
extern const uint32_t csystem_EPOLLOUT;
extern const uint32_t csystem_EPOLLET;
extern const uint32_t csystem_EPOLLRDHUP;
extern const uint32_t csystem_EPOLLHUP;
extern const uint32_t csystem_EPOLLERR;

#endif
