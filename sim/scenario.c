/*
 * Scenarios: parameters, the text format, validation and the per-slot
 * planning draws. See scenario.h for the model and docs/simulator.md for
 * every key.
 *
 * Keys are one table (name, kind, field offset, bounds), so the parser, the
 * flags and the formatter share one description and cannot drift apart.
 */
#include "scenario.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventq.h"
#include "pollute.h"
#include "strata/control.h"
#include "strata/peer.h"
#include "strata/source.h"

/* Random streams of the planning draws (eventq.h numbering). */
enum scn_stream {
    STREAM_JOIN = STRATA_SIM_STREAM_USER + 1,
    STREAM_FLASH = STRATA_SIM_STREAM_USER + 2,
    STREAM_SESSION = STRATA_SIM_STREAM_USER + 3,
    STREAM_GRACEFUL = STRATA_SIM_STREAM_USER + 4,
    STREAM_REJOIN = STRATA_SIM_STREAM_USER + 5,
    STREAM_EVENT = STRATA_SIM_STREAM_USER + 6,
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) STRATA_PRINTF(3, 4);

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void strata_scenario_default(strata_scenario *s)
{
    memset(s, 0, sizeof *s);
    s->nodes = 100;
    s->duration_ns = STRATA_S(60);
    s->rate_kbps = 1000;
    s->seed = 1;
    memcpy(s->algorithm, "strata", 7);
    s->packet_bytes = 1316;
    s->trains = 1;
    s->fixed_delay_ms = 20;
    s->attach = STRATA_SCN_ATTACH_RANDOM;
    s->access_min_ms = 1;
    s->access_max_ms = 10;
    snprintf(s->capacity_mix, sizeof s->capacity_mix, "%s",
             "dsl:0.3:1000,cable:0.5:5000,fibre:0.2:20000");
    s->source_upload_kbps = 10000;
    s->queue_bytes = 0;
    s->loss = 0;
    s->region_mode = STRATA_SCN_REGION_ONE;
    s->levels = STRATA_SCN_LEVELS_THREE; /* as `strata control` */
    s->group_max_members = 256;
    s->group_cache_entries = 32;
    s->group_wait_ms = 1; /* as `strata peer`: join at once, follow the group when found */
    s->k = 4;
    s->capacity_check = 1; /* as `strata control` (--capacity-check) */
    s->liar_upload_kbps = 20000;
    snprintf(s->polluter_kinds, sizeof s->polluter_kinds, "all");
    s->polluter_rate = 0.5;
    s->polluter_hold_ms = 1000;
    s->waypoint_upload_kbps = 20000;
    s->heartbeat_ms = STRATA_CONTROL_DEFAULT_HEARTBEAT_MS; /* what the daemons use */
    s->playout_delay_ms = 3000;
    s->store_packets = 0;
    s->join = STRATA_SCN_JOIN_ALL;
    s->join_window_ns = STRATA_S(5);
    s->flash_at_ns = STRATA_S(30);
    s->flash_share = 0.5;
    s->flash_window_ns = STRATA_S(5);
    s->session = STRATA_SCN_SESSION_NONE;
    s->session_mean_s = 300;
    s->session_median_s = 180;
    s->session_sigma = 1.0;
    s->leave_share = 0.5;
    s->rejoin = 1;
    s->rejoin_mean_s = 30;
    s->csv_interval_ns = STRATA_S(1);
    s->startup_grace_ns = 0;
}

/* --- values ---------------------------------------------------------------- */

static int parse_u64(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!v || *v < '0' || *v > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end != '\0' || x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

static int parse_double(const char *v, double min, double max, double *out)
{
    if (!v || !*v)
        return -1;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end != '\0' || !isfinite(x) || x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

/* Seconds as a decimal into integer ns. */
static int parse_seconds(const char *v, double max_s, uint64_t *out)
{
    double x;
    if (parse_double(v, 0, max_s, &x) < 0)
        return -1;
    *out = (uint64_t)llround(x * 1e9);
    return 0;
}

enum key_kind { K_U32, K_U64, K_U8, K_DOUBLE, K_SECONDS, K_STRING, K_ENUM, K_BOOL };

typedef struct key_desc {
    const char *name;
    uint8_t kind;
    size_t off;
    double min, max;          /* numbers and seconds; max bytes for strings */
    const char *const *names; /* enums: value names, NULL-terminated */
} key_desc;

static const char *const JOIN_NAMES[] = {"all", "poisson", "flash", NULL};
static const char *const SESSION_NAMES[] = {"none", "exp", "lognormal", NULL};
static const char *const REGION_NAMES[] = {"one", "host", "groups", NULL};
static const char *const LEVELS_NAMES[] = {"backbone", "mesh", "ec", "3", NULL};
static const char *const TOP_NAMES[] = {"flood", "tree", "auto", NULL};
static const char *const ATTACH_NAMES[] = {"round_robin", "random", NULL};

#define OFF(f) offsetof(strata_scenario, f)
static const key_desc KEYS[] = {
    {"nodes", K_U32, OFF(nodes), 1, STRATA_SCN_MAX_NODES, NULL},
    {"duration_s", K_SECONDS, OFF(duration_ns), 0.001, 864000, NULL},
    {"rate_kbps", K_U32, OFF(rate_kbps), 1, 1000000, NULL},
    {"seed", K_U64, OFF(seed), 0, 1.8e19, NULL},
    {"algorithm", K_STRING, OFF(algorithm), 0, STRATA_SCN_NAME_BYTES, NULL},
    {"packet_bytes", K_U32, OFF(packet_bytes), 64, 16 << 20, NULL},
    {"trains", K_BOOL, OFF(trains), 0, 0, NULL},
    {"latency", K_STRING, OFF(latency), 0, STRATA_SCN_PATH_BYTES, NULL},
    {"fixed_delay_ms", K_DOUBLE, OFF(fixed_delay_ms), 0, 10000, NULL},
    {"attach", K_ENUM, OFF(attach), 0, 0, ATTACH_NAMES},
    {"access_min_ms", K_DOUBLE, OFF(access_min_ms), 0, 1000, NULL},
    {"access_max_ms", K_DOUBLE, OFF(access_max_ms), 0, 1000, NULL},
    {"capacity_mix", K_STRING, OFF(capacity_mix), 0, STRATA_SCN_MIX_BYTES, NULL},
    {"source_upload_kbps", K_U32, OFF(source_upload_kbps), 0, 4000000000.0, NULL},
    {"queue_bytes", K_U32, OFF(queue_bytes), 0, 1u << 30, NULL},
    {"loss", K_DOUBLE, OFF(loss), 0, 1, NULL},
    {"region", K_ENUM, OFF(region_mode), 0, 0, REGION_NAMES},
    {"levels", K_ENUM, OFF(levels), 0, 0, LEVELS_NAMES},
    {"preferred_per_region", K_U8, OFF(preferred_per_region), 0, 16, NULL},
    {"top", K_ENUM, OFF(top), 0, 0, TOP_NAMES},
    {"region_policy", K_BOOL, OFF(region_policy), 0, 0, NULL},
    {"group_max_members", K_U32, OFF(group_max_members), 2, 1u << 20, NULL},
    {"group_cache_entries", K_U32, OFF(group_cache_entries), 1, 1u << 20, NULL},
    {"group_wait_ms", K_U32, OFF(group_wait_ms), 1, 600000, NULL},
    {"k", K_U8, OFF(k), 1, 16, NULL},
    {"heartbeat_ms", K_U32, OFF(heartbeat_ms), 10, 600000, NULL},
    {"playout_delay_ms", K_U32, OFF(playout_delay_ms), 10, 600000, NULL},
    {"repair_after_ms", K_U32, OFF(repair_after_ms), 0, 600000, NULL},
    {"store_packets", K_U32, OFF(store_packets), 0, 1u << 20, NULL},
    {"capacity_check", K_BOOL, OFF(capacity_check), 0, 0, NULL},
    {"parity", K_U8, OFF(parity), 0, STRATA_WIRE_MAX_PARITY, NULL},
    {"parity_max", K_U8, OFF(parity_max), 0, STRATA_WIRE_MAX_PARITY, NULL},
    {"liar_share", K_DOUBLE, OFF(liar_share), 0, 1, NULL},
    {"liar_upload_kbps", K_U32, OFF(liar_upload_kbps), 1, 4000000000.0, NULL},
    {"liar_forward", K_DOUBLE, OFF(liar_forward), 0, 1, NULL},
    {"waypoint_share", K_DOUBLE, OFF(waypoint_share), 0, 1, NULL},
    {"waypoint_upload_kbps", K_U32, OFF(waypoint_upload_kbps), 1, 4000000000.0, NULL},
    {"signed", K_BOOL, OFF(signed_stream), 0, 0, NULL},
    {"polluter_share", K_DOUBLE, OFF(polluter_share), 0, 1, NULL},
    {"polluter_kinds", K_STRING, OFF(polluter_kinds), 0, STRATA_SCN_KINDS_BYTES, NULL},
    {"polluter_rate", K_DOUBLE, OFF(polluter_rate), 0, 1, NULL},
    {"polluter_hold_ms", K_U32, OFF(polluter_hold_ms), 1, 600000, NULL},
    {"join", K_ENUM, OFF(join), 0, 0, JOIN_NAMES},
    {"join_window_s", K_SECONDS, OFF(join_window_ns), 0, 864000, NULL},
    {"flash_at_s", K_SECONDS, OFF(flash_at_ns), 0, 864000, NULL},
    {"flash_share", K_DOUBLE, OFF(flash_share), 0, 1, NULL},
    {"flash_window_s", K_SECONDS, OFF(flash_window_ns), 0, 864000, NULL},
    {"session", K_ENUM, OFF(session), 0, 0, SESSION_NAMES},
    {"session_mean_s", K_DOUBLE, OFF(session_mean_s), 0.001, 1e9, NULL},
    {"session_median_s", K_DOUBLE, OFF(session_median_s), 0.001, 1e9, NULL},
    {"session_sigma", K_DOUBLE, OFF(session_sigma), 0, 10, NULL},
    {"leave_share", K_DOUBLE, OFF(leave_share), 0, 1, NULL},
    {"rejoin", K_BOOL, OFF(rejoin), 0, 0, NULL},
    {"rejoin_mean_s", K_DOUBLE, OFF(rejoin_mean_s), 0, 1e9, NULL},
    {"csv_interval_s", K_SECONDS, OFF(csv_interval_ns), 0.001, 864000, NULL},
    {"startup_grace_s", K_SECONDS, OFF(startup_grace_ns), 0, 864000, NULL},
};
#undef OFF

static const key_desc *find_key(const char *name)
{
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++)
        if (strcmp(KEYS[i].name, name) == 0)
            return &KEYS[i];
    return NULL;
}

/* "a|b|c" into buf. */
static void enum_list(const char *const *names, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; names[i] && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "|" : "", names[i]);
}

int strata_scenario_set(strata_scenario *s, const char *key, const char *value, char *err,
                        size_t errlen)
{
    const key_desc *k = find_key(key);
    if (!k) {
        set_err(err, errlen, "unknown key '%s'", key);
        return STRATA_ERR_NOTFOUND;
    }
    char *base = (char *)s + k->off;
    uint64_t u;
    double d;
    switch (k->kind) {
    case K_U32:
    case K_U8:
    case K_U64:
        if (parse_u64(value, (uint64_t)k->min, k->kind == K_U64 ? UINT64_MAX : (uint64_t)k->max,
                      &u) < 0) {
            if (k->kind == K_U64)
                set_err(err, errlen, "%s needs a whole number, got '%s'", key, value);
            else
                set_err(err, errlen, "%s needs a whole number in [%.0f, %.0f], got '%s'", key,
                        k->min, k->max, value);
            return STRATA_ERR_RANGE;
        }
        if (k->kind == K_U32) {
            uint32_t v32 = (uint32_t)u;
            memcpy(base, &v32, sizeof v32);
        } else if (k->kind == K_U8) {
            *(uint8_t *)base = (uint8_t)u;
        } else {
            memcpy(base, &u, sizeof u);
        }
        return 0;
    case K_DOUBLE:
        if (parse_double(value, k->min, k->max, &d) < 0) {
            set_err(err, errlen, "%s needs a number in [%g, %g], got '%s'", key, k->min, k->max,
                    value);
            return STRATA_ERR_RANGE;
        }
        memcpy(base, &d, sizeof d);
        return 0;
    case K_SECONDS:
        if (parse_seconds(value, k->max, &u) < 0 || (double)u < k->min * 1e9) {
            set_err(err, errlen, "%s needs seconds in [%g, %g], got '%s'", key, k->min, k->max,
                    value);
            return STRATA_ERR_RANGE;
        }
        memcpy(base, &u, sizeof u);
        return 0;
    case K_STRING: {
        size_t len = strlen(value);
        if (len >= (size_t)k->max) {
            set_err(err, errlen, "%s is too long (at most %.0f bytes)", key, k->max - 1);
            return STRATA_ERR_RANGE;
        }
        memcpy(base, value, len + 1);
        return 0;
    }
    case K_ENUM:
        for (size_t i = 0; k->names[i]; i++) {
            if (strcmp(k->names[i], value) == 0) {
                *(uint8_t *)base = (uint8_t)i;
                return 0;
            }
        }
        {
            char list[128];
            enum_list(k->names, list, sizeof list);
            set_err(err, errlen, "%s must be one of %s, got '%s'", key, list, value);
        }
        return STRATA_ERR_RANGE;
    case K_BOOL:
        if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0 || strcmp(value, "1") == 0) {
            *(uint8_t *)base = 1;
            return 0;
        }
        if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0 || strcmp(value, "0") == 0) {
            *(uint8_t *)base = 0;
            return 0;
        }
        set_err(err, errlen, "%s must be yes or no, got '%s'", key, value);
        return STRATA_ERR_RANGE;
    default:
        return STRATA_ERR_INVAL;
    }
}

/* --- timeline ---------------------------------------------------------------- */

/* Splits "name=value" at '='; returns the value or NULL. */
static char *split_arg(char *arg)
{
    char *eq = strchr(arg, '=');
    if (!eq)
        return NULL;
    *eq = '\0';
    return eq + 1;
}

int strata_scenario_add_event(strata_scenario *s, const char *at_s, const char *rest, uint32_t line,
                              char *err, size_t errlen)
{
    if (s->nevents >= STRATA_SCN_MAX_EVENTS) {
        set_err(err, errlen, "too many timeline events (at most %d)", STRATA_SCN_MAX_EVENTS);
        return STRATA_ERR_RANGE;
    }
    strata_scn_event ev;
    memset(&ev, 0, sizeof ev);
    ev.line = line;
    if (parse_seconds(at_s, 864000, &ev.at_ns) < 0) {
        set_err(err, errlen, "'at' needs a time in seconds, got '%s'", at_s);
        return STRATA_ERR_RANGE;
    }
    char buf[STRATA_SCN_MAX_LINE_BYTES];
    if (strlen(rest) >= sizeof buf) {
        set_err(err, errlen, "event too long");
        return STRATA_ERR_RANGE;
    }
    strcpy(buf, rest);
    char *save = NULL;
    char *action = strtok_r(buf, " \t", &save);
    if (!action) {
        set_err(err, errlen,
                "'at %s' needs an action: kill, leave, upload, loss, control-restart or "
                "kill-preferred",
                at_s);
        return STRATA_ERR_RANGE;
    }
    int have_share = 0, have_region = 0, have_kbps = 0, have_loss = 0;
    if (strcmp(action, "kill") == 0) {
        ev.action = STRATA_SCN_KILL;
    } else if (strcmp(action, "leave") == 0) {
        ev.action = STRATA_SCN_LEAVE;
    } else if (strcmp(action, "upload") == 0) {
        ev.action = STRATA_SCN_UPLOAD;
    } else if (strcmp(action, "loss") == 0) {
        ev.action = STRATA_SCN_LOSS;
        char *v = strtok_r(NULL, " \t", &save);
        if (!v || parse_double(v, 0, 1, &ev.loss) < 0) {
            set_err(err, errlen, "'loss' needs a probability in [0, 1], got '%s'", v ? v : "");
            return STRATA_ERR_RANGE;
        }
        have_loss = 1;
    } else if (strcmp(action, "control-restart") == 0) {
        ev.action = STRATA_SCN_CONTROL_RESTART;
    } else if (strcmp(action, "kill-preferred") == 0) {
        ev.action = STRATA_SCN_KILL_PREFERRED;
        ev.regions = 1;
    } else {
        set_err(err, errlen,
                "unknown action '%s' (kill, leave, upload, loss, control-restart or "
                "kill-preferred)",
                action);
        return STRATA_ERR_RANGE;
    }
    char *arg;
    while ((arg = strtok_r(NULL, " \t", &save)) != NULL) {
        char *v = split_arg(arg);
        if (v && ev.action == STRATA_SCN_CONTROL_RESTART && strcmp(arg, "down") == 0) {
            if (parse_seconds(v, 864000, &ev.down_ns) < 0) {
                set_err(err, errlen, "down needs seconds, got '%s'", v);
                return STRATA_ERR_RANGE;
            }
            continue;
        }
        if (v && ev.action == STRATA_SCN_KILL_PREFERRED && strcmp(arg, "regions") == 0) {
            uint64_t n;
            if (parse_u64(v, 1, 1000000, &n) < 0) {
                set_err(err, errlen, "regions needs a whole number of 1 or more, got '%s'", v);
                return STRATA_ERR_RANGE;
            }
            ev.regions = (uint32_t)n;
            continue;
        }
        if (v && ev.action == STRATA_SCN_LOSS && strcmp(arg, "side") == 0) {
            if (strcmp(v, "send") == 0) {
                ev.side = STRATA_SCN_LOSS_SEND;
            } else if (strcmp(v, "receive") == 0) {
                ev.side = STRATA_SCN_LOSS_RECEIVE;
            } else if (strcmp(v, "both") == 0) {
                ev.side = STRATA_SCN_LOSS_BOTH;
            } else {
                set_err(err, errlen, "side needs send, receive or both, got '%s'", v);
                return STRATA_ERR_RANGE;
            }
            continue;
        }
        if (!v || ev.action == STRATA_SCN_CONTROL_RESTART || ev.action == STRATA_SCN_KILL_PREFERRED ||
            (ev.action == STRATA_SCN_LOSS && strcmp(arg, "region") != 0)) {
            set_err(err, errlen, "unexpected '%s' after '%s'", arg, action);
            return STRATA_ERR_RANGE;
        }
        if (strcmp(arg, "share") == 0) {
            if (parse_double(v, 0, 1, &ev.share) < 0) {
                set_err(err, errlen, "share needs a number in [0, 1], got '%s'", v);
                return STRATA_ERR_RANGE;
            }
            have_share = 1;
        } else if (strcmp(arg, "region") == 0 && ev.action != STRATA_SCN_UPLOAD) {
            size_t len = strlen(v);
            if (len == 0 || len >= sizeof ev.region) {
                set_err(err, errlen, "region needs a label of 1 to %zu bytes",
                        sizeof ev.region - 1);
                return STRATA_ERR_RANGE;
            }
            memcpy(ev.region, v, len + 1);
            have_region = 1;
        } else if (strcmp(arg, "kbps") == 0 && ev.action == STRATA_SCN_UPLOAD) {
            uint64_t kb;
            if (parse_u64(v, 0, UINT32_MAX, &kb) < 0) {
                set_err(err, errlen, "kbps needs a whole number, got '%s'", v);
                return STRATA_ERR_RANGE;
            }
            ev.kbps = (uint32_t)kb;
            have_kbps = 1;
        } else {
            set_err(err, errlen, "'%s' does not take '%s='", action, arg);
            return STRATA_ERR_RANGE;
        }
    }
    if (ev.action == STRATA_SCN_KILL || ev.action == STRATA_SCN_LEAVE) {
        if (have_share == have_region) {
            set_err(err, errlen, "'%s' needs exactly one of share=P or region=LABEL", action);
            return STRATA_ERR_RANGE;
        }
        ev.by_region = (uint8_t)have_region;
    } else if (ev.action == STRATA_SCN_LOSS) {
        ev.by_region = (uint8_t)have_region;
    } else if (ev.action == STRATA_SCN_UPLOAD && (!have_share || !have_kbps)) {
        set_err(err, errlen, "'upload' needs share=P and kbps=K");
        return STRATA_ERR_RANGE;
    }
    (void)have_loss;
    s->events[s->nevents++] = ev;
    return 0;
}

/* --- text ---------------------------------------------------------------------- */

static char *trim(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    char *e = p + strlen(p);
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return p;
}

/* One line, without its newline; comment stripped. */
static int parse_line(strata_scenario *s, char *text, uint32_t line, char *err, size_t errlen)
{
    char *hash = strchr(text, '#');
    if (hash)
        *hash = '\0';
    char *p = trim(text);
    if (*p == '\0')
        return 0;
    if (strncmp(p, "at", 2) == 0 && (p[2] == ' ' || p[2] == '\t')) {
        char *q = trim(p + 2);
        char *sp = q;
        while (*sp && *sp != ' ' && *sp != '\t')
            sp++;
        if (*sp == '\0') {
            set_err(err, errlen,
                    "'at %s' needs an action: kill, leave, upload, loss or control-restart", q);
            return STRATA_ERR_RANGE;
        }
        *sp = '\0';
        return strata_scenario_add_event(s, q, trim(sp + 1), line, err, errlen);
    }
    char *eq = strchr(p, '=');
    if (!eq) {
        set_err(err, errlen, "expected 'key = value' or 'at SECONDS ACTION ...', got '%s'", p);
        return STRATA_ERR_RANGE;
    }
    *eq = '\0';
    char *key = trim(p);
    char *value = trim(eq + 1);
    if (*key == '\0') {
        set_err(err, errlen, "missing key before '='");
        return STRATA_ERR_RANGE;
    }
    return strata_scenario_set(s, key, value, err, errlen);
}

int strata_scenario_parse(strata_scenario *s, const char *text, size_t len, const char *name,
                          char *err, size_t errlen)
{
    if (len > STRATA_SCN_MAX_FILE_BYTES) {
        set_err(err, errlen, "%s: larger than %d bytes", name, STRATA_SCN_MAX_FILE_BYTES);
        return STRATA_ERR_INVAL;
    }
    char buf[STRATA_SCN_MAX_LINE_BYTES];
    char msg[512];
    uint32_t line = 0;
    size_t i = 0;
    while (i < len) {
        line++;
        size_t start = i;
        while (i < len && text[i] != '\n')
            i++;
        size_t n = i - start;
        if (i < len)
            i++; /* the newline */
        if (n >= sizeof buf) {
            set_err(err, errlen, "%s:%u: line longer than %d bytes", name, line,
                    STRATA_SCN_MAX_LINE_BYTES - 1);
            return STRATA_ERR_RANGE;
        }
        memcpy(buf, text + start, n);
        buf[n] = '\0';
        if (memchr(buf, '\0', n)) {
            set_err(err, errlen, "%s:%u: NUL byte in line", name, line);
            return STRATA_ERR_RANGE;
        }
        msg[0] = '\0';
        int rc = parse_line(s, buf, line, msg, sizeof msg);
        if (rc < 0) {
            set_err(err, errlen, "%s:%u: %s", name, line, msg);
            return rc;
        }
    }
    return 0;
}

int strata_scenario_load(strata_scenario *s, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: %s", path, strerror(errno));
        return STRATA_ERR_NOTFOUND;
    }
    size_t cap = STRATA_SCN_MAX_FILE_BYTES + 1;
    char *text = malloc(cap);
    if (!text) {
        fclose(f);
        set_err(err, errlen, "%s: out of memory", path);
        return STRATA_ERR_NOMEM;
    }
    size_t len = fread(text, 1, cap, f);
    int bad = ferror(f);
    fclose(f);
    int rc;
    if (bad) {
        set_err(err, errlen, "%s: read error", path);
        rc = STRATA_ERR_NOTFOUND;
    } else {
        rc = strata_scenario_parse(s, text, len, path, err, errlen);
    }
    free(text);
    return rc;
}

static int cmp_event(const void *a, const void *b)
{
    const strata_scn_event *x = a, *y = b;
    if (x->at_ns != y->at_ns)
        return x->at_ns < y->at_ns ? -1 : 1;
    /* Stable: keep the written order of simultaneous events. */
    return x->line < y->line ? -1 : x->line > y->line;
}

int strata_scenario_validate(strata_scenario *s, char *err, size_t errlen)
{
    if (strcmp(s->algorithm, "") == 0) {
        set_err(err, errlen, "algorithm must not be empty");
        return STRATA_ERR_RANGE;
    }
    if (s->access_min_ms > s->access_max_ms) {
        set_err(err, errlen, "access_min_ms (%g) is above access_max_ms (%g)", s->access_min_ms,
                s->access_max_ms);
        return STRATA_ERR_RANGE;
    }
    if (s->packet_bytes > 0 && strata_scenario_packet_interval_ns(s) < 1000) {
        set_err(err, errlen,
                "packet_bytes %u at %u kbit/s is more than a packet per microsecond; "
                "choose bigger packets",
                s->packet_bytes, s->rate_kbps);
        return STRATA_ERR_RANGE;
    }
    uint64_t seqs = s->duration_ns / strata_scenario_packet_interval_ns(s);
    if (seqs > (1u << 26)) {
        set_err(err, errlen, "%llu packets in the run: choose bigger packets or a shorter run",
                (unsigned long long)seqs);
        return STRATA_ERR_RANGE;
    }
    if (s->join == STRATA_SCN_JOIN_POISSON && s->join_window_ns == 0) {
        set_err(err, errlen, "join = poisson needs join_window_s > 0 (nodes arrive over it)");
        return STRATA_ERR_RANGE;
    }
    if (strata_simpol_parse_kinds(s->polluter_kinds, &s->polluter_mask) < 0) {
        set_err(err, errlen,
                "polluter_kinds is a comma list of forge, seq, corrupt, replay, reorder, eos, "
                "drop, lie or all; got '%s'",
                s->polluter_kinds);
        return STRATA_ERR_RANGE;
    }
    /* Line numbers order simultaneous events; give the ones added without a
     * file (line 0) their insertion order after any file lines. */
    uint32_t next = 1u << 30;
    for (size_t i = 0; i < s->nevents; i++)
        if (s->events[i].line == 0)
            s->events[i].line = next++;
    qsort(s->events, s->nevents, sizeof s->events[0], cmp_event);
    return 0;
}

size_t strata_scenario_format(const strata_scenario *s, char *buf, size_t buflen)
{
    size_t n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(buf ? buf + (n < buflen ? n : buflen) : NULL,                            \
                          buf && n < buflen ? buflen - n : 0, __VA_ARGS__);                        \
        if (w_ > 0)                                                                                \
            n += (size_t)w_;                                                                       \
    } while (0)
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++) {
        const key_desc *k = &KEYS[i];
        const char *base = (const char *)s + k->off;
        uint32_t u32;
        uint64_t u64;
        double d;
        switch (k->kind) {
        case K_U32:
            memcpy(&u32, base, sizeof u32);
            PUT("%s = %u\n", k->name, u32);
            break;
        case K_U8:
            PUT("%s = %u\n", k->name, (unsigned)*(const uint8_t *)base);
            break;
        case K_U64:
            memcpy(&u64, base, sizeof u64);
            PUT("%s = %llu\n", k->name, (unsigned long long)u64);
            break;
        case K_DOUBLE:
            memcpy(&d, base, sizeof d);
            PUT("%s = %.17g\n", k->name, d);
            break;
        case K_SECONDS:
            memcpy(&u64, base, sizeof u64);
            PUT("%s = %.9f\n", k->name, (double)u64 / 1e9);
            break;
        case K_STRING:
            PUT("%s = %s\n", k->name, base);
            break;
        case K_ENUM:
            PUT("%s = %s\n", k->name, k->names[*(const uint8_t *)base]);
            break;
        case K_BOOL:
            PUT("%s = %s\n", k->name, *(const uint8_t *)base ? "yes" : "no");
            break;
        default:
            break;
        }
    }
    for (size_t i = 0; i < s->nevents; i++) {
        const strata_scn_event *e = &s->events[i];
        double at = (double)e->at_ns / 1e9;
        switch (e->action) {
        case STRATA_SCN_KILL:
        case STRATA_SCN_LEAVE:
            if (e->by_region)
                PUT("at %.9f %s region=%s\n", at, e->action == STRATA_SCN_KILL ? "kill" : "leave",
                    e->region);
            else
                PUT("at %.9f %s share=%.17g\n", at, e->action == STRATA_SCN_KILL ? "kill" : "leave",
                    e->share);
            break;
        case STRATA_SCN_UPLOAD:
            PUT("at %.9f upload share=%.17g kbps=%u\n", at, e->share, e->kbps);
            break;
        case STRATA_SCN_LOSS:
            PUT("at %.9f loss %.17g", at, e->loss);
            if (e->by_region)
                PUT(" region=%s", e->region);
            if (e->side != STRATA_SCN_LOSS_SEND)
                PUT(" side=%s", e->side == STRATA_SCN_LOSS_RECEIVE ? "receive" : "both");
            PUT("\n");
            break;
        case STRATA_SCN_CONTROL_RESTART:
            PUT("at %.9f control-restart down=%.9f\n", at, (double)e->down_ns / 1e9);
            break;
        case STRATA_SCN_KILL_PREFERRED:
            PUT("at %.9f kill-preferred regions=%u\n", at, e->regions);
            break;
        default:
            break;
        }
    }
#undef PUT
    return n;
}

/* --- derived quantities --------------------------------------------------------- */

uint64_t strata_scenario_packet_interval_ns(const strata_scenario *s)
{
    /* bytes * 8 bits / (kbps * 1000) s = bytes * 8e6 / kbps ns. */
    uint64_t kbps = s->rate_kbps ? s->rate_kbps : 1;
    uint64_t ns = (uint64_t)s->packet_bytes * 8000000ull / kbps;
    return ns ? ns : 1;
}

uint32_t strata_scenario_queue_bytes(const strata_scenario *s)
{
    if (s->queue_bytes)
        return s->queue_bytes;
    /* A relay sends each packet to all its children at once (up to
     * STRATA_WIRE_MAX_CHILDREN = 64 of them); the queue must hold such a
     * burst whatever the simulated packet size, with room to spare for
     * heartbeats and repairs: 80 packets. (The daemons ask the kernel for
     * 4 MiB of socket buffer, more than this at any packet size used.) */
    uint64_t q = 80ull * s->packet_bytes;
    if (q < 65536)
        q = 65536;
    return q > (1u << 30) ? 1u << 30 : (uint32_t)q;
}

uint32_t strata_scenario_store_packets(const strata_scenario *s)
{
    if (s->store_packets)
        return s->store_packets;
    /* The playout window must span the playout delay plus the time a packet
     * may travel (another delay's worth) and the k - 1 packets of the other
     * substreams; rounded up to a power of two. */
    uint64_t iv = strata_scenario_packet_interval_ns(s);
    uint64_t need = 2ull * STRATA_MS(s->playout_delay_ms) / iv + 2ull * s->k + 1;
    uint64_t p = 64;
    while (p < need && p < (1u << 20))
        p *= 2;
    return (uint32_t)p;
}

uint32_t strata_scenario_repair_after_ms(const strata_scenario *s)
{
    if (s->repair_after_ms)
        return s->repair_after_ms;
    /* Serialisation skew between substreams grows with the packet size: a
     * relay sends a packet to its children one after the other. The core's
     * wait is tuned for real packets, so it is scaled with them. */
    uint64_t ms = (uint64_t)STRATA_PEER_DEFAULT_REPAIR_AFTER_MS * s->packet_bytes /
                  STRATA_SOURCE_DEFAULT_PAYLOAD_BYTES;
    if (ms < STRATA_PEER_DEFAULT_REPAIR_AFTER_MS)
        ms = STRATA_PEER_DEFAULT_REPAIR_AFTER_MS;
    return ms > 600000 ? 600000 : (uint32_t)ms;
}

/* --- planning ---------------------------------------------------------------------- */

static double unit_of(const strata_scenario *s, uint32_t slot, uint64_t stream)
{
    strata_rng r;
    strata_sim_rng_stream(&r, s->seed, slot, stream);
    return strata_rng_unit(&r);
}

static uint64_t secs_to_ns(double x)
{
    if (!(x > 0))
        return 0;
    if (x > 1.8e10)
        return STRATA_NEVER - 1;
    return (uint64_t)llround(x * 1e9);
}

/* Exponential with the given mean (s), from u in [0, 1). */
static double exp_draw(double mean, double u)
{
    return -mean * log1p(-u);
}

void strata_scenario_first_joins(const strata_scenario *s, uint32_t slots, uint64_t *out)
{
    double t = 0;
    for (uint32_t i = 0; i < slots; i++) {
        double u = unit_of(s, i, STREAM_JOIN);
        switch (s->join) {
        case STRATA_SCN_JOIN_POISSON: {
            double mean_gap = (double)s->join_window_ns / 1e9 / (double)slots;
            t += exp_draw(mean_gap, u);
            out[i] = secs_to_ns(t);
            break;
        }
        case STRATA_SCN_JOIN_FLASH:
            if (unit_of(s, i, STREAM_FLASH) < s->flash_share) {
                out[i] = s->flash_at_ns + (uint64_t)(u * (double)s->flash_window_ns);
                break;
            }
            out[i] = (uint64_t)(u * (double)s->join_window_ns);
            break;
        default:
            out[i] = (uint64_t)(u * (double)s->join_window_ns);
            break;
        }
    }
}

static uint64_t session_stream(uint64_t base, uint32_t session)
{
    return base ^ ((uint64_t)session << 32);
}

uint64_t strata_scenario_session_ns(const strata_scenario *s, uint32_t slot, uint32_t session)
{
    if (s->session == STRATA_SCN_SESSION_NONE)
        return STRATA_NEVER;
    strata_rng r;
    strata_sim_rng_stream(&r, s->seed, slot, session_stream(STREAM_SESSION, session));
    double len;
    if (s->session == STRATA_SCN_SESSION_EXP) {
        len = exp_draw(s->session_mean_s, strata_rng_unit(&r));
    } else {
        /* Box-Muller; u1 in (0, 1] so the log is finite. */
        double u1 = 1.0 - strata_rng_unit(&r);
        double u2 = strata_rng_unit(&r);
        double z = sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
        len = s->session_median_s * exp(s->session_sigma * z);
    }
    uint64_t ns = secs_to_ns(len);
    return ns ? ns : 1;
}

int strata_scenario_graceful(const strata_scenario *s, uint32_t slot, uint32_t session)
{
    strata_rng r;
    strata_sim_rng_stream(&r, s->seed, slot, session_stream(STREAM_GRACEFUL, session));
    return strata_rng_unit(&r) < s->leave_share;
}

uint64_t strata_scenario_rejoin_ns(const strata_scenario *s, uint32_t slot, uint32_t session)
{
    if (!s->rejoin)
        return STRATA_NEVER;
    strata_rng r;
    strata_sim_rng_stream(&r, s->seed, slot, session_stream(STREAM_REJOIN, session));
    return secs_to_ns(exp_draw(s->rejoin_mean_s, strata_rng_unit(&r)));
}

int strata_scenario_event_hits(const strata_scenario *s, size_t ev, uint32_t slot,
                               const char *region)
{
    if (ev >= s->nevents)
        return 0;
    const strata_scn_event *e = &s->events[ev];
    if (e->action == STRATA_SCN_KILL_PREFERRED)
        return 0; /* chosen when it happens */
    if (e->action == STRATA_SCN_LOSS && !e->by_region)
        return 1; /* everyone */
    if (e->by_region)
        return region && strcmp(region, e->region) == 0;
    /* The stream is named by the event's time and action, not its index, so
     * adding an event elsewhere in the timeline does not change who this
     * one hits. */
    uint64_t stream = STREAM_EVENT ^ strata_sim_mix64(e->at_ns * 8u + e->action);
    return unit_of(s, slot, stream) < e->share;
}
