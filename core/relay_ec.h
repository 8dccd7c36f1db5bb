/*
 * The group coder of a node with parity trees: the EC_TREE strategy of
 * relay.h (SPEC C6; protocol.md 3.1.1 and 3.4; docs/fec.md for the code).
 *
 * Model. Data packets gk .. gk + k - 1 form group g; parity tree i carries
 * the group's symbol i, a DATA with the PARITY flag whose seq is gk. The
 * coder keeps, per group inside the playout window, the parity symbols it
 * holds (the received datagrams, by index) and which symbols it has sent:
 *
 *  - a symbol i that arrives is relayed at once to the children of parity
 *    tree k + i, unless the node already sent that symbol, and kept while
 *    its group lacks data; on a signed channel a symbol that came before
 *    its hash list (unvouched) is kept and may decode, but is not relayed
 *    (the peer checks every packet it rebuilds against its manifest), and
 *    its vouched copy replaces it when the list comes;
 *  - once the node holds k of the group's k + n symbols while data is
 *    missing, it rebuilds the missing packets (strata_fec_decode) and
 *    hands them to the peer, which takes them as received;
 *  - once the group's k data packets are all held (received, repaired or
 *    rebuilt), the symbols the node owes its parity children and has not
 *    sent are computed (strata_fec_encode) and sent, and the group's state
 *    is freed: nothing more is needed of it.
 *
 * A group holding the end of the stream is cut short: it has no parity, so
 * its symbols are refused. A group whose decode fails (symbols that do not
 * belong together, which parity from an untrusted sender may be) takes no
 * more symbols; repairs fill it.
 *
 * Memory. One slot per group of the window (window / k + 2, group g in
 * slot g mod that), each with up to STRATA_WIRE_MAX_PARITY symbol buffers;
 * the slots of groups wholly before the window are freed as it moves. The
 * encoder and decoder (about 92 KB, and 33 KB plus 4 KB a cached loss
 * pattern) are the ones the peer's caller shares among its peers
 * (strata_peer_config: the simulator's thousands of peers in one process),
 * or else the coder's own, made on first use, so a node that never codes
 * never pays for them.
 */
#ifndef STRATA_RELAY_EC_H
#define STRATA_RELAY_EC_H

#include "relay.h"

enum strata_relay_ec_limits {
    /* Decode tables kept: a dead tree is one loss pattern in every group,
     * so a few cover trees failing in turn. */
    STRATA_RELAY_EC_DECODE_PATTERNS = 8,
};

/* Makes the coder of a k-packet group code for a playout window of
 * window_packets; NULL when out of memory. */
strata_relay_ec *strata_relay_ec_new(const strata_alloc *a, uint8_t k, size_t window_packets);
/* Frees the coder and every symbol it holds. NULL is a no-op. */
void strata_relay_ec_del(strata_relay_ec *ec);

/* A data packet seq was stored (received or repaired): its group may now
 * be complete (parity to send) or decodable. */
void strata_relay_ec_data(strata_relay *r, uint64_t seq, uint64_t now);

/* Forgets the groups wholly before first_seq. */
void strata_relay_ec_window(strata_relay_ec *ec, uint64_t first_seq);

/* Parity symbols of index i held now (a parity tree's buffer, for the
 * heartbeat). */
uint32_t strata_relay_ec_held(const strata_relay_ec *ec, unsigned i);

/* The encoder the coder uses (the peer's shared one, or its own, made on
 * first use); NULL while the node has no parity trees, or out of memory.
 * A root of parity trees hashes its symbols with it (peer_sign.c). */
strata_fec_encoder *strata_relay_ec_encoder(strata_relay *r);

#endif
