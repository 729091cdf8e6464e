/* stub_server.h -- a tiny HTTP/1.1 server for the unit tests of outbound HTTP
 * (test_http.c, test_platform.c, test_dynreg.c): one connection at a time on 127.0.0.1,
 * GETs and POSTs (last_head keeps the whole request), answers chosen by path, in a plain
 * pthread (apr_thread_exit trips ASan).  Functions are static: each test binary includes
 * it once. */
#ifndef PTECH_STUB_SERVER_H
#define PTECH_STUB_SERVER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unit.h"

/* ---- a tiny HTTP/1.1 server: one connection at a time, answers chosen by path ---- */

/* Returns the raw response for path, or NULL to never answer (the connection is held open
 * until the server stops). */
typedef const char *srv_answer_fn(void *baton, const char *path);

#define SRV_HELD_MAX 8
/* Largest request (head and body) the server reads and keeps. */
#define SRV_REQ_MAX 16384

typedef struct srv_t {
    int fd, port, stop[2];
    pthread_t thread;
    pthread_mutex_t mu;
    srv_answer_fn *answer;
    void *baton;
    int requests;               /* under mu */
    char last_path[256];        /* under mu */
    char last_head[SRV_REQ_MAX]; /* under mu: the whole request, body included */
    char buf[SRV_REQ_MAX];       /* the server thread's */
    int held[SRV_HELD_MAX], nheld;
} srv_t;

/* Whether buf (len bytes) holds a whole request: the head, and for a POST the body of its
 * Content-Length. */
static int request_complete(const char *buf, size_t len)
{
    const char *end = strstr(buf, "\r\n\r\n");
    const char *cl;

    if (end == NULL) {
        return 0;
    }
    if (strncmp(buf, "POST ", 5) != 0) {
        return 1;
    }
    cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl == NULL || cl > end) {
        return 1;
    }
    return len >= (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10);
}

/* Reads a request (GET, or POST with its body; up to the blank line or the body's end, or
 * 1 s of silence) into buf (SRV_REQ_MAX bytes); returns the path or "". */
static void read_path(int c, char *buf, char *path, size_t size)
{
    size_t len = 0;
    struct pollfd pf = {c, POLLIN, 0};

    path[0] = '\0';
    while (len < SRV_REQ_MAX - 1 && poll(&pf, 1, 1000) == 1) {
        ssize_t n = recv(c, buf + len, SRV_REQ_MAX - 1 - len, 0);

        if (n <= 0) {
            break;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (request_complete(buf, len)
            || (len >= 5 && strncmp(buf, "GET ", 4) != 0 && strncmp(buf, "POST ", 5) != 0)) {
            break;      /* a whole request, or not HTTP at all (a TLS handshake) */
        }
    }
    buf[len] = '\0';
    if (strncmp(buf, "GET ", 4) == 0 || strncmp(buf, "POST ", 5) == 0) {
        const char *start = strchr(buf, ' ') + 1;
        const char *end = strchr(start, ' ');
        size_t n = end ? (size_t)(end - start) : 0;

        if (n < size) {
            memcpy(path, start, n);
            path[n] = '\0';
        }
    }
}

static void send_all(int c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c, data, len, MSG_NOSIGNAL);

        if (n <= 0) {
            return;     /* the client went away (a body over its cap) */
        }
        data += n;
        len -= (size_t)n;
    }
}

static void *srv_main(void *data)
{
    srv_t *s = data;
    struct pollfd pf[2] = {{s->fd, POLLIN, 0}, {s->stop[0], POLLIN, 0}};

    for (;;) {
        char path[256], *head = s->buf;
        const char *answer;
        int c;

        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (pf[1].revents) {
            break;
        }
        if ((c = accept(s->fd, NULL, NULL)) < 0) {
            continue;
        }
        read_path(c, head, path, sizeof(path));
        pthread_mutex_lock(&s->mu);
        s->requests++;
        snprintf(s->last_path, sizeof(s->last_path), "%s", path);
        snprintf(s->last_head, sizeof(s->last_head), "%s", head);
        answer = s->answer(s->baton, path);
        if (answer != NULL) {
            send_all(c, answer, strlen(answer));
        }
        pthread_mutex_unlock(&s->mu);
        if (answer == NULL && s->nheld < SRV_HELD_MAX) {
            s->held[s->nheld++] = c;
        }
        else {
            close(c);
        }
    }
    return NULL;
}

/* Starts a server on 127.0.0.1 on a free port. */
static void srv_start(srv_t *s, srv_answer_fn *answer, void *baton)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;

    memset(s, 0, sizeof(*s));
    s->answer = answer;
    s->baton = baton;
    pthread_mutex_init(&s->mu, NULL);
    assert_int_equal(pipe(s->stop), 0);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, srv_main, s), 0);
}

static void srv_stop(srv_t *s)
{
    assert_int_equal(write(s->stop[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < s->nheld; i++) {
        close(s->held[i]);
    }
    close(s->fd);
    close(s->stop[0]);
    close(s->stop[1]);
    pthread_mutex_destroy(&s->mu);
}

static int srv_requests(srv_t *s)
{
    int n;

    pthread_mutex_lock(&s->mu);
    n = s->requests;
    pthread_mutex_unlock(&s->mu);
    return n;
}

#endif
