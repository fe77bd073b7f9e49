// An experiment, not part of the product (BENCHMARKS.md, thirty-third session): the cheapest
// server this machine can run for the user-service's PUT /user-service/update, to bound what any
// implementation can reach against pgbench. One thread, one epoll set for the HTTP connections and
// the database sessions (libpq's non-blocking API), so that a request costs no thread hand-off at
// all; HTTP/1.1 keep-alive parsed as little as wrk needs (no chunked bodies, no pipelining); the
// JSON body's four fields picked out without a parser; the same UPDATE ... RETURNING with the
// token, bound as parameters; a hand-written JSON answer. No validation, logging, metrics, request
// ids or timeouts.
//
//   cc -O2 -o ceiling ceiling.c -I"$(pg_config --includedir)" -lpq
//   DATABASE_URL=postgresql://... SESSIONS=10 PORT=18096 ./ceiling
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum kind { LISTENER, CLIENT, SESSION };

struct client {
    enum kind kind;
    int fd;
    char in[8192];
    size_t used;
    struct client *next_waiting;
    int waiting;
};

struct session {
    enum kind kind;
    PGconn *conn;
    struct client *owner;
};

static int ep;
static struct session *sessions;
static int session_count;
static struct client *queue_head, *queue_tail;

static const char *statement =
    "UPDATE user_service.users SET firstname = $2, lastname = $3, email = $4 WHERE id = $1 "
    "RETURNING id, firstname, lastname, email, user_service.transaction_token()";

// The string value of "key" in a flat JSON object, copied into out (no escapes).
static int field(const char *body, const char *key, char *out, size_t size) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\"", key);
    const char *p = strstr(body, pattern);
    if (!p) return 0;
    p = strchr(p + strlen(pattern), ':');
    if (!p) return 0;
    p++;
    while (*p == ' ') p++;
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (*p && *p != '"' && n + 1 < size) out[n++] = *p++;
    } else {
        while (*p && ((*p >= '0' && *p <= '9') || *p == '-') && n + 1 < size) out[n++] = *p++;
    }
    out[n] = 0;
    return 1;
}

static void respond(struct client *c, int status, const char *body) {
    char out[1024];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", status,
                     status == 200 ? "OK" : "Error", strlen(body), body);
    if (write(c->fd, out, n) != n) perror("write");
}

// Returns the length of a whole request at the front of c->in, or 0.
static size_t whole_request(struct client *c) {
    c->in[c->used] = 0;
    char *end = strstr(c->in, "\r\n\r\n");
    if (!end) return 0;
    size_t head = end + 4 - c->in;
    size_t length = 0;
    char *cl = strcasestr(c->in, "content-length:");
    if (cl && cl < end) length = strtoul(cl + 15, NULL, 10);
    if (c->used < head + length) return 0;
    return head + length;
}

static void start(struct session *s, struct client *c) {
    size_t total = whole_request(c);
    char *body = strstr(c->in, "\r\n\r\n") + 4;
    char saved = c->in[total];
    c->in[total] = 0;
    char id[32], first[256], last[256], email[256];
    int ok = field(body, "id", id, sizeof id) && field(body, "firstname", first, sizeof first) &&
             field(body, "lastname", last, sizeof last) && field(body, "email", email, sizeof email);
    c->in[total] = saved;
    memmove(c->in, c->in + total, c->used - total);
    c->used -= total;
    if (!ok) {
        respond(c, 400, "{\"error\":\"bad body\"}");
        return;
    }
    const char *values[4] = {id, first, last, email};
    if (!PQsendQueryPrepared(s->conn, "update", 4, values, NULL, NULL, 0)) {
        respond(c, 500, "{\"error\":\"send\"}");
        return;
    }
    PQflush(s->conn);
    s->owner = c;
}

static void dispatch(struct client *c) {
    for (int i = 0; i < session_count; i++) {
        if (!sessions[i].owner) {
            start(&sessions[i], c);
            return;
        }
    }
    c->waiting = 1;
    c->next_waiting = NULL;
    if (queue_tail) queue_tail->next_waiting = c; else queue_head = c;
    queue_tail = c;
}

static void answered(struct session *s) {
    if (!PQconsumeInput(s->conn)) { fprintf(stderr, "%s", PQerrorMessage(s->conn)); exit(1); }
    if (PQisBusy(s->conn)) return;
    PGresult *r;
    char body[1024] = "";
    int status = 500;
    while ((r = PQgetResult(s->conn))) {
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            snprintf(body, sizeof body, "{\"id\":%s,\"firstname\":\"%s\",\"lastname\":\"%s\",\"email\":\"%s\"}",
                     PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
            status = 200;
        } else if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            strcpy(body, "{\"error\":\"no such user\"}");
            status = 404;
        } else if (status != 200) {
            strcpy(body, "{\"error\":\"database\"}");
        }
        PQclear(r);
    }
    struct client *c = s->owner;
    s->owner = NULL;
    if (c) {
        respond(c, status, body);
        if (whole_request(c)) dispatch(c);
    }
    if (queue_head) {
        struct client *next = queue_head;
        queue_head = next->next_waiting;
        if (!queue_head) queue_tail = NULL;
        next->waiting = 0;
        start(s, next);
    }
}

int main(void) {
    const char *url = getenv("DATABASE_URL");
    session_count = getenv("SESSIONS") ? atoi(getenv("SESSIONS")) : 10;
    int port = getenv("PORT") ? atoi(getenv("PORT")) : 18096;
    ep = epoll_create1(0);
    sessions = calloc(session_count, sizeof *sessions);
    for (int i = 0; i < session_count; i++) {
        struct session *s = &sessions[i];
        s->kind = SESSION;
        s->conn = PQconnectdb(url);
        if (PQstatus(s->conn) != CONNECTION_OK) { fprintf(stderr, "%s", PQerrorMessage(s->conn)); return 1; }
        PGresult *r = PQprepare(s->conn, "update", statement, 4, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) { fprintf(stderr, "%s", PQerrorMessage(s->conn)); return 1; }
        PQclear(r);
        PQsetnonblocking(s->conn, 1);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = s};
        epoll_ctl(ep, EPOLL_CTL_ADD, PQsocket(s->conn), &e);
    }
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) || listen(listener, 1024)) { perror("listen"); return 1; }
    static enum kind listener_kind = LISTENER;
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = &listener_kind};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &le);
    fprintf(stderr, "listening on 127.0.0.1:%d with %d sessions\n", port, session_count);
    struct epoll_event events[64];
    for (;;) {
        int n = epoll_wait(ep, events, 64, -1);
        for (int i = 0; i < n; i++) {
            enum kind *kind = events[i].data.ptr;
            if (*kind == LISTENER) {
                int fd = accept(listener, NULL, NULL);
                if (fd < 0) continue;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct client *c = calloc(1, sizeof *c);
                c->kind = CLIENT;
                c->fd = fd;
                struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
            } else if (*kind == CLIENT) {
                struct client *c = (struct client *)kind;
                ssize_t got = read(c->fd, c->in + c->used, sizeof c->in - 1 - c->used);
                if (got <= 0) {
                    // Closing a client with a statement in flight or queued is not handled: wrk
                    // closes only at the end of a run.
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    continue;
                }
                c->used += got;
                int busy = c->waiting;
                for (int j = 0; j < session_count; j++) if (sessions[j].owner == c) busy = 1;
                if (!busy && whole_request(c)) dispatch(c);
            } else {
                answered((struct session *)kind);
            }
        }
    }
}
