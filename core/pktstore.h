/*
 * Packet store: a bounded ring of recently seen DATA packets, keyed by
 * sequence number, shared by the peer and the source (SPEC C7 repair).
 *
 * Each stored packet is one reference-counted strata_buf holding the
 * packet's canonical encoding (the REPAIR flag cleared), so relaying it to
 * many children queues the same buffer many times, and a repair answer is
 * a fresh copy with the REPAIR flag set. Seq s lives in slot s mod cap; a
 * newer packet evicts an older one from its slot and an older one never
 * evicts a newer one, so the store always holds the most recent packets.
 * The capacity is fixed at init: nothing a peer sends makes it grow.
 */
#ifndef STRATA_PKTSTORE_H
#define STRATA_PKTSTORE_H

#include "strata/common.h"
#include "strata/wire.h"

enum strata_pktstore_limits {
    STRATA_PKTSTORE_MIN_PACKETS = 64,       /* at least one repair span */
    STRATA_PKTSTORE_MAX_PACKETS = 1u << 20, /* ~1.4 GB of payload at most */
};

typedef struct strata_pktstore_entry {
    uint64_t seq;
    uint64_t send_ts_ns;
    strata_buf *buf;      /* canonical encoding; NULL when the slot is empty */
    uint16_t payload_off; /* payload bytes within buf->data */
    uint16_t payload_len;
    uint8_t substream;
    uint8_t flags; /* STRATA_DATA_FLAG_EOS or 0 */
    uint8_t recovered; /* rebuilt or repaired, and no copy came down the trees since */
} strata_pktstore_entry;

typedef struct strata_pktstore {
    strata_pktstore_entry *slots;
    size_t cap;
    size_t count; /* occupied slots */
    /* Entries that left the store still marked recovered: packets the
     * node's trees never brought while it held them (lost, not late). */
    uint64_t lost_recovered;
    const strata_alloc *alloc;
} strata_pktstore;

/* Prepares a store of cap packets (clamped to the limits above). Returns 0
 * or STRATA_ERR_NOMEM. */
int strata_pktstore_init(strata_pktstore *ps, const strata_alloc *a, size_t cap);
/* Releases every stored buffer and the ring. Safe on a zeroed struct. */
void strata_pktstore_free(strata_pktstore *ps);

/* The entry for seq, or NULL if it is not stored. Valid until the next put. */
const strata_pktstore_entry *strata_pktstore_get(const strata_pktstore *ps, uint64_t seq);

/* Encodes m canonically (REPAIR flag cleared) into a new buffer and stores
 * it under m->seq. Returns 0 and the entry in *out (may be NULL), or
 * STRATA_ERR_EXISTS when seq is already stored, STRATA_ERR_RANGE when a
 * newer packet holds its slot, STRATA_ERR_INVAL when m does not encode, or
 * STRATA_ERR_NOMEM. */
int strata_pktstore_put_data(strata_pktstore *ps, const strata_msg_data *m,
                             const strata_pktstore_entry **out);

/* Marks the entry of seq recovered (it was rebuilt or came as a repair)
 * or not (its copy came down the trees after all). Nothing when seq is
 * not stored. */
void strata_pktstore_set_recovered(strata_pktstore *ps, uint64_t seq, int recovered);

/* Answers a repair request from the store: queues one DATA packet flagged
 * REPAIR for every named seq that is stored, to the address to. At most
 * STRATA_WIRE_REPAIR_SPAN packets by construction of the mask. Adds the
 * datagrams queued and their bytes to *packets and *bytes. Returns 0 or
 * STRATA_ERR_NOMEM (what was queued stays queued). */
int strata_pktstore_answer_repair(const strata_pktstore *ps, const strata_msg_repair *req,
                                  strata_addr to, strata_outbox *ob, uint64_t *packets,
                                  uint64_t *bytes);

/* Repair budget: a token bucket of bytes that bounds what a node spends on
 * answering repairs. Its rate is what the node's trees leave of its
 * upload: up to STRATA_PKTSTORE_UPLINK_USE_PERCENT of the upload for trees
 * and repairs together, but never more than
 * STRATA_PKTSTORE_REPAIR_SHARE_PERCENT nor less than
 * STRATA_PKTSTORE_REPAIR_MIN_PERCENT of it. A node that answered at a
 * fixed share on top of full trees (the trees use up to 85% of an upload,
 * dcm.c) overflowed its own queue: the source, asked by many peers at once
 * after a parent died, let its tree packets queue behind answers for a
 * second, every peer fell late, asked for more, and the stream never
 * recovered under churn. The bucket holds up to
 * STRATA_PKTSTORE_REPAIR_BURST_MS of budget, but never less than one
 * STRATA_PKTSTORE_REPAIR_BURST_PACKETS packets of the largest size, so a
 * slow uplink can still answer a small request whole. An upload of 0 (a
 * node that offers none: a leaf) still answers, but only
 * STRATA_PKTSTORE_REPAIR_ZERO_UPLOAD_PACKETS packets a second: no node
 * answers without a budget (issue 13, item 4). */
enum strata_pktstore_repair_budget_limits {
    STRATA_PKTSTORE_REPAIR_SHARE_PERCENT = 25,
    STRATA_PKTSTORE_REPAIR_MIN_PERCENT = 10,
    STRATA_PKTSTORE_UPLINK_USE_PERCENT = 100,
    STRATA_PKTSTORE_REPAIR_BURST_MS = 1000,
    STRATA_PKTSTORE_REPAIR_BURST_PACKETS = 4,
    STRATA_PKTSTORE_REPAIR_ZERO_UPLOAD_PACKETS = 4, /* a second, for a node of upload 0 */
};

typedef struct strata_repair_budget {
    uint32_t upload_kbps;      /* 0: the node offers none (a small fixed budget) */
    uint64_t rate_bytes_per_s;
    uint64_t burst_bytes;
    uint64_t fill_ns; /* an empty bucket is full again after this */
    uint64_t tokens;  /* bytes */
    uint64_t last_ns;
    uint64_t frac; /* sub-byte remainder of the refill, in byte-nanoseconds */
    uint32_t min_charge_bytes; /* an answer costs at least this much */
} strata_repair_budget;

/* Sets the budget for a node of upload_kbps (0: see above) whose trees
 * take nothing yet, full. Each answer is charged its length, or
 * min_charge_bytes if that is more: the simulator sends tiny payloads that
 * its network charges at a simulated packet size, and the budget must
 * count what the uplink pays (0 = the real length, as the daemons use). */
void strata_repair_budget_init(strata_repair_budget *b, uint32_t upload_kbps,
                               uint32_t min_charge_bytes, uint64_t now);
/* Tells the budget what the node's trees now send (kbit/s, the stream's
 * share for every child link it feeds); the rate follows (see above). The
 * tokens earned so far are kept, up to the new burst. */
void strata_repair_budget_set_tree_kbps(strata_repair_budget *b, uint64_t tree_kbps,
                                        uint64_t now);
/* The same from the node's child links in its trees (summed over the k
 * substreams of a stream of rate_kbps): each link carries one substream,
 * rate_kbps / k. */
void strata_repair_budget_set_tree_links(strata_repair_budget *b, uint64_t links,
                                         uint32_t rate_kbps, uint8_t k, uint64_t now);
/* Takes bytes from the bucket after refilling it up to now; returns 1 when
 * they were there (and are now spent), else 0 (nothing is taken). */
int strata_repair_budget_take(strata_repair_budget *b, uint64_t bytes, uint64_t now);

/* As strata_pktstore_answer_repair, but each answer must fit budget (NULL =
 * unlimited); the named seqs that are stored but did not fit are added to
 * *refused. */
int strata_pktstore_answer_repair_budget(const strata_pktstore *ps, const strata_msg_repair *req,
                                         strata_addr to, strata_outbox *ob,
                                         strata_repair_budget *budget, uint64_t now,
                                         uint64_t *packets, uint64_t *bytes, uint64_t *refused);

#endif
