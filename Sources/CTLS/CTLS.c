#include "CTLS.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static void queue_text(char *buffer, size_t size) {
    unsigned long code = ERR_get_error();
    if (code == 0) { snprintf(buffer, size, "unknown TLS error"); }
    else {
        char text[256];
        ERR_error_string_n(code, text, sizeof text);
        snprintf(buffer, size, "%s", text);
    }
    ERR_clear_error();
}

static void base_modes(SSL_CTX *context) {
    // OpenSSL's socket BIO sends with flags 0, not MSG_NOSIGNAL: a close_notify written to a peer
    // that reset would raise SIGPIPE and kill the process (check-config has no server that
    // ignores it). Whoever uses TLS gets EPIPE instead.
    signal(SIGPIPE, SIG_IGN);
    // Partial writes and moving buffers: Swift arrays may move between retries of SSL_write.
    // Released buffers: an idle pooled connection should not hold 2 × 16 KiB of TLS buffers.
    SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
}

SSL_CTX *ctls_client_context(int verify, const char *cert_file, const char *extra_ca_file, char *error, size_t error_size) {
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (!context) { queue_text(error, error_size); return NULL; }
    base_modes(context);
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    if (verify) {
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
        int loaded = (cert_file && *cert_file)
            ? SSL_CTX_load_verify_locations(context, cert_file, NULL)
            : SSL_CTX_set_default_verify_paths(context);
        if (loaded != 1) {
            char text[256];
            queue_text(text, sizeof text);
            snprintf(error, error_size, "cannot load CA certificates from %s: %s", (cert_file && *cert_file) ? cert_file : "the system store", text);
            SSL_CTX_free(context);
            return NULL;
        }
        if (extra_ca_file && *extra_ca_file && SSL_CTX_load_verify_locations(context, extra_ca_file, NULL) != 1) {
            char text[256];
            queue_text(text, sizeof text);
            snprintf(error, error_size, "cannot load CA certificates from %s: %s", extra_ca_file, text);
            SSL_CTX_free(context);
            return NULL;
        }
    } else {
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, NULL);
    }
    return context;
}

SSL_CTX *ctls_server_context(const char *cert_pem, const char *key_pem, char *error, size_t error_size) {
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    if (!context) { queue_text(error, error_size); return NULL; }
    base_modes(context);
    if (SSL_CTX_use_certificate_chain_file(context, cert_pem) != 1 ||
        SSL_CTX_use_PrivateKey_file(context, key_pem, SSL_FILETYPE_PEM) != 1) {
        queue_text(error, error_size);
        SSL_CTX_free(context);
        return NULL;
    }
    return context;
}

void ctls_context_free(SSL_CTX *context) { SSL_CTX_free(context); }

SSL *ctls_client(SSL_CTX *context, int fd, const char *host, char *error, size_t error_size) {
    SSL *ssl = SSL_new(context);
    if (!ssl) { queue_text(error, error_size); return NULL; }
    if (SSL_set_fd(ssl, fd) != 1) { queue_text(error, error_size); SSL_free(ssl); return NULL; }
    unsigned char address[16];
    int literal = inet_pton(AF_INET, host, address) == 1 || inet_pton(AF_INET6, host, address) == 1;
    if (literal) {
        // No SNI for addresses (RFC 6066); the certificate must name the IP.
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1) { queue_text(error, error_size); SSL_free(ssl); return NULL; }
    } else {
        if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1) {
            queue_text(error, error_size);
            SSL_free(ssl);
            return NULL;
        }
    }
    SSL_set_connect_state(ssl);
    return ssl;
}

SSL *ctls_server(SSL_CTX *context, int fd) {
    SSL *ssl = SSL_new(context);
    if (!ssl) return NULL;
    if (SSL_set_fd(ssl, fd) != 1) { SSL_free(ssl); return NULL; }
    SSL_set_accept_state(ssl);
    return ssl;
}

void ctls_free(SSL *ssl) { SSL_free(ssl); }

static int classify(SSL *ssl, int rc) {
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ: return CTLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return CTLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: return CTLS_EOF;
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) return errno == 0 ? CTLS_ABRUPT_EOF : CTLS_SYSCALL;
        return CTLS_ERROR;
    case SSL_ERROR_SSL:
        // OpenSSL 3 reports a TCP close without close_notify as this reason.
        if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) { ERR_clear_error(); return CTLS_ABRUPT_EOF; }
        return CTLS_ERROR;
    default: return CTLS_ERROR;
    }
}

int ctls_handshake(SSL *ssl) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(ssl);
    return rc == 1 ? CTLS_OK : classify(ssl, rc);
}

int ctls_read(SSL *ssl, void *buffer, int size) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_read(ssl, buffer, size);
    return rc > 0 ? rc : classify(ssl, rc);
}

int ctls_write(SSL *ssl, const void *buffer, int size) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_write(ssl, buffer, size);
    return rc > 0 ? rc : classify(ssl, rc);
}

int ctls_peek_idle(SSL *ssl) {
    unsigned char byte;
    ERR_clear_error();
    errno = 0;
    int rc = SSL_peek(ssl, &byte, 1);
    if (rc > 0) return CTLS_OK;  // unexpected data: not idle
    int code = classify(ssl, rc);
    ERR_clear_error();
    return code;
}

void ctls_shutdown(SSL *ssl) {
    ERR_clear_error();
    (void)SSL_shutdown(ssl);
    ERR_clear_error();
}

void ctls_describe_error(SSL *ssl, char *buffer, size_t size) {
    long verdict = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (verdict != X509_V_OK) {
        const char *kind;
        switch (verdict) {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            kind = "unknown CA"; break;
        case X509_V_ERR_CERT_HAS_EXPIRED:
            kind = "certificate expired"; break;
        case X509_V_ERR_CERT_NOT_YET_VALID:
            kind = "certificate not yet valid"; break;
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            kind = "name mismatch"; break;
        default:
            kind = "certificate rejected"; break;
        }
        snprintf(buffer, size, "%s: %s", kind, X509_verify_cert_error_string(verdict));
        ERR_clear_error();
        return;
    }
    char text[256];
    queue_text(text, sizeof text);
    snprintf(buffer, size, "protocol error: %s", text);
}
