#ifndef CTLS_H
#define CTLS_H
#include <stddef.h>

// A narrow C face over OpenSSL for the Swift TLS target: opaque handles, plain integers, and
// the handful of OpenSSL macros Swift cannot import (SNI, modes) wrapped as functions.
struct ssl_st;
struct ssl_ctx_st;

enum {
    CTLS_OK = 1,
    CTLS_EOF = 0,          // clean close_notify
    CTLS_ERROR = -1,       // see ctls_describe_error
    CTLS_WANT_READ = -2,
    CTLS_WANT_WRITE = -3,
    CTLS_ABRUPT_EOF = -4,  // the peer closed the TCP connection without close_notify
    CTLS_SYSCALL = -5,     // a socket error: errno holds it
};

/// A client context: system CA store (or `cert_file` in its place), plus `extra_ca_file`.
/// `verify` 0 turns certificate and host-name checks off. NULL with `error` filled on failure.
struct ssl_ctx_st *ctls_client_context(int verify, const char *cert_file, const char *extra_ca_file, char *error, size_t error_size);
/// A server context (tests and the fake upstream's TLS front).
struct ssl_ctx_st *ctls_server_context(const char *cert_pem, const char *key_pem, char *error, size_t error_size);
void ctls_context_free(struct ssl_ctx_st *context);

/// A client connection on `fd`: SNI and host-name (or IP) verification for `host`.
struct ssl_st *ctls_client(struct ssl_ctx_st *context, int fd, const char *host, char *error, size_t error_size);
struct ssl_st *ctls_server(struct ssl_ctx_st *context, int fd);
void ctls_free(struct ssl_st *ssl);

int ctls_handshake(struct ssl_st *ssl);
/// Bytes read (> 0) or one of the CTLS_ codes.
int ctls_read(struct ssl_st *ssl, void *buffer, int size);
int ctls_write(struct ssl_st *ssl, const void *buffer, int size);
/// For a pooled connection: CTLS_WANT_READ means nothing but protocol records (session
/// tickets) were waiting, so the connection is idle and usable; anything else means it is not.
int ctls_peek_idle(struct ssl_st *ssl);
/// Sends close_notify without waiting for the answer.
void ctls_shutdown(struct ssl_st *ssl);

/// Why the last call failed, for a person: the certificate verdict when there is one, else
/// OpenSSL's error queue (which this clears).
void ctls_describe_error(struct ssl_st *ssl, char *buffer, size_t size);

#endif
