/*
 * The source of a channel (SPEC P1 ingest is the host's job; this is the
 * protocol side). It announces the channel with a JOIN of role SOURCE,
 * packetises the bytes the host pushes into DATA packets of
 * STRATA_SOURCE_DEFAULT_PAYLOAD_BYTES (7 MPEG-TS packets), numbers them,
 * and sends each to the roots of its substream's tree in every region, as
 * the control center's INSTRUCTIONs say. It keeps recent packets to answer
 * REPAIR_REQUESTs (it is the repairer of last resort), spending at most
 * STRATA_PKTSTORE_REPAIR_SHARE_PERCENT (25%) of a limited upload on them,
 * and sends heartbeats. Its control session (join, heartbeats, joining
 * again when a restarted control center does not know it) is the one the
 * peers use (core/session.h).
 *
 * With a channel key it also signs the stream (SPEC P3): a MANIFEST per
 * batch of packets (core/signer.h), sent when the batch closes to the
 * roots of the substream of its last packet, kept to answer
 * MANIFEST_REQUESTs. Each packet of a signed stream goes to the roots
 * two batch times (2 x batch_ms) after its push, so that its manifest
 * travels ahead of it.
 *
 * Timers: join retry, heartbeat, the open batch's close, the oldest held
 * packet.
 */
#ifndef STRATA_SOURCE_H
#define STRATA_SOURCE_H

#include "strata/common.h"
#include "strata/manifest.h"
#include "strata/wire.h"

typedef struct strata_source strata_source;

typedef struct strata_source_config {
    strata_node_id node;
    const char *channel;
    strata_addr control;
    uint32_t rate_kbps;     /* nominal stream rate, > 0 */
    uint32_t upload_kbps;   /* 0 = unlimited */
    uint32_t payload_bytes; /* 0 = default */
    uint32_t store_packets; /* 0 = default */
    /* Repair answers are charged at least this many bytes against the
     * repair budget (pktstore.h); 0 = their real size. The simulator sets
     * the packet size its network charges. */
    uint32_t repair_charge_bytes;
    uint64_t seed;
    /* The node's outbox to queue into (borrowed, must outlive the source);
     * NULL = one of its own. */
    strata_outbox *outbox;
    const strata_log *log;
    /* Signed stream (SPEC P3, strata/manifest.h): with sign set, the
     * source signs a MANIFEST per batch with channel_sk (libsodium's
     * 64-byte Ed25519 secret key, which the driver reads; copied), covering
     * parity indexes 0 .. sign_parity - 1 of every group (at most
     * STRATA_WIRE_MAX_PARITY) and closing a batch after batch_ms at the
     * latest (0 = 200). sign 0 leaves the channel unsigned. */
    int sign;
    uint8_t channel_sk[STRATA_MANIFEST_SECRET_KEY_BYTES];
    uint8_t sign_parity;
    uint32_t batch_ms;
    /* Channel access (strata/token.h): the token every JOIN carries, which
     * must give the right to publish (borrowed: it must outlive the
     * source; token_len 0 = none). */
    const uint8_t *token;
    size_t token_len;
    /* Node authentication (core/auth.h): the node's key state, borrowed;
     * the node object sets it (NULL = the control messages go bare). */
    struct strata_auth_node *auth;
} strata_source_config;

enum strata_source_defaults {
    STRATA_SOURCE_DEFAULT_PAYLOAD_BYTES = 1316,
    STRATA_SOURCE_DEFAULT_STORE_PACKETS = 8192,
};

typedef struct strata_source_stats {
    int joined;
    uint64_t packets_sent, bytes_in, tx_data_packets, tx_data_bytes;
    uint64_t repair_requests_served;
    uint64_t repair_requests_refused; /* answered only in part or not at all: over budget */
    uint64_t next_seq;
    size_t roots; /* distinct root children across substreams and regions */
    /* Signed streams: manifests made and their datagrams sent; requests
     * for a manifest or a hash list answered (within the repair budget). */
    uint64_t manifests_signed, manifests_sent, manifest_requests_served;
    strata_drop_counters drops;
} strata_source_stats;

strata_source *strata_source_new(const strata_source_config *cfg, const strata_alloc *a,
                                 uint64_t now);
void strata_source_del(strata_source *s);

/* True once the control center has accepted the source; the host should
 * hold input until then so that the first packets reach the trees. */
int strata_source_ready(const strata_source *s);

/* Appends input bytes; every full payload becomes one DATA packet sent now.
 * Returns 0, STRATA_ERR_NOMEM, or STRATA_ERR_INVAL before the source is
 * ready (k is not known yet; nothing is kept). */
int strata_source_push(strata_source *s, const uint8_t *buf, size_t len, uint64_t now);
/* Sends any partial payload, then the end-of-stream marker. */
int strata_source_finish(strata_source *s, uint64_t now);

int strata_source_handle_datagram(strata_source *s, strata_addr from, const uint8_t *buf,
                                  size_t buflen, uint64_t now);
void strata_source_handle_timeout(strata_source *s, uint64_t now);
uint64_t strata_source_next_timeout(const strata_source *s);
void strata_source_leave(strata_source *s, uint64_t now);

strata_outbox *strata_source_outbox(strata_source *s);
void strata_source_get_stats(const strata_source *s, strata_source_stats *st);

#endif
