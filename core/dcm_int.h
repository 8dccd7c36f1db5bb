/*
 * What the DCM's modules share (dcm.h has the model): the member table,
 * the dirty set and instruction building live in dcm.c, the top level's
 * mesh topology (its leaves and FLOOD instructions) in dcm_mesh.c. Not
 * part of the library's API.
 */
#ifndef STRATA_DCM_INT_H
#define STRATA_DCM_INT_H

#include "dcm.h"
#include "idmap.h"

typedef struct dcm_member {
    strata_node_id id;
    strata_addr addr;
    uint32_t upload_kbps;
    uint32_t region;        /* a mesh's members: which region they are of (strata_mesh_add) */
    strata_node_id leaf_of; /* a mesh's leaf: the member feeding it (see "Leaves"); 0 = none */
    uint16_t leaves;        /* a mesh member: the leaves it feeds */
    /* --top auto (strata_dcm_mesh_choose): since when its mesh links have
     * not changed (0: they just did), and whether it is told MESH_TREE. */
    uint64_t links_since_ns;
    uint8_t mesh_tree;
    uint8_t dirty;
    uint8_t stall_init;      /* its stall baselines are set (see "Stalls") */
    uint8_t mismatch_streak; /* consecutive heartbeats whose parents differ from the trees */
    uint32_t dirty_subs;     /* the trees whose instruction it needs again */
    strata_dcm_trust trust;  /* the upload its trees believe (see "Capacity", dcm_capacity.c) */
    uint16_t cap_links_min;  /* the fewest child links it had in the current window */
    uint64_t cap_since_ns;   /* the window's start (0: none yet) */
    uint64_t cap_tx, cap_rx; /* its heartbeat counters then */
    /* Its loss counters as last heard (see "Parity from loss", dcm_parity.c). */
    uint8_t loss_seen;
    uint64_t seen_played, seen_missed, seen_recovered;
} dcm_member;

/* Stall detection state of one substream of one member (SPEC C13). */
typedef struct dcm_stall {
    uint64_t seq;        /* last_rx_seq as last reported */
    uint64_t since_ns;   /* when it last advanced, or the baseline was reset */
    uint64_t other_base; /* highest last_rx_seq of the other substreams then */
    uint64_t parent;     /* tree parent (as reported) the baseline belongs to */
} dcm_stall;

struct strata_dcm {
    const strata_alloc *alloc;
    strata_dcm_id id;
    strata_channel_id channel;
    uint8_t k;     /* data substreams */
    uint8_t n;     /* parity trees in use (EC_TREE), else 0 */
    uint8_t trees; /* k + n: the trees in use, those instructions and heartbeats name */
    /* EC_TREE: n moves between these with the loss heard (dcm_parity.c);
     * the multi-tree holds k + n_max trees, those from k + n up idle. */
    uint8_t n_min, n_max;
    uint8_t tree_cap; /* k + n_max: the multi-tree's trees, the stall entries per member */
    uint8_t level; /* stamped into instructions (0: not said) */
    uint8_t region_len;
    char region[STRATA_WIRE_MAX_REGION_BYTES];
    uint32_t rate_kbps;
    uint32_t source_upload_kbps;
    unsigned share_percent;      /* of declared uploads the trees use, see "Upload headroom" */
    uint64_t share_failed_slots; /* scaled capacity at the last failed try, 0 = none */
    strata_peer_ref source;
    /* who feeds each tree's root children in the source's place (a region's
     * head); a zero ref: the source itself */
    strata_peer_ref sub_root[STRATA_WIRE_MAX_TREES];
    uint32_t source_dirty; /* the trees whose instruction the source needs again */
    uint8_t algorithm;     /* TREE or EC_TREE: the multi-tree; FLOOD: the mesh */
    uint8_t mesh_c;
    uint8_t mesh_top;  /* enum strata_dcm_mesh_top */
    uint64_t mesh_stable_ns; /* AUTO: how long a member's links must not change */
    strata_mtree *tree; /* the topology: one of these two */
    strata_mesh *mesh;

    dcm_member *members; /* dense; index maps id -> position */
    dcm_stall *stall;    /* k entries per member, in the members' order */
    size_t count, cap;
    uint64_t stall_ns;
    uint64_t scaled_slots; /* the members' slots at the scaled share, kept up to date */
    strata_idmap index;

    strata_node_id *dirty; /* FIFO of possibly dirty member ids */
    size_t dirty_head, dirty_len, dirty_cap;
    uint32_t source_leaves; /* a mesh: leaves the source feeds itself (dcm_mesh.c) */
    uint64_t capacity_ns;   /* the capacity check's window; 0 = declared uploads believed */
    /* Parity from loss (dcm_parity.c): the window being summed. */
    uint64_t parity_window_ns;
    uint64_t loss_since_ns; /* 0: no window open */
    uint64_t loss_lost, loss_total;
    uint8_t loss_calm; /* windows in a row that wanted fewer parity trees */
    strata_dcm_loss loss;
};

enum { DCM_MIN_MEMBERS = 16, DCM_DIRTY_CHUNK = 64 };

/* The share of declared uploads the topologies are built from; see "Upload
 * headroom" in dcm.c. */
enum { STRATA_DCM_UPLOAD_SHARE_PERCENT = 85, DCM_FULL_SHARE_PERCENT = 100 };

/* --- dcm.c ----------------------------------------------------------------- */

dcm_member *dcm_member_get(const strata_dcm *d, strata_node_id id);
/* Marks id (a member or STRATA_MTREE_SOURCE) dirty in every tree. */
void dcm_mark(strata_dcm *d, strata_node_id id);
/* The ref instructions give id (a member, or STRATA_MTREE_SOURCE for the source). */
strata_peer_ref dcm_ref_of(const strata_dcm *d, strata_node_id id);
/* Starts out[*n_out], the instruction for substream s, with what every
 * algorithm's has; returns it, or NULL when out has no room left. */
strata_msg_instruction *dcm_begin_instruction(const strata_dcm *d, strata_node_id node, uint8_t s,
                                              uint32_t epoch, strata_msg_instruction *out,
                                              size_t max, int *n_out);

/* The upload member m gives the topology: its declared upload, or less
 * while the capacity check has not seen it deliver that much. */
static inline uint32_t dcm_member_kbps(const dcm_member *m)
{
    return m->upload_kbps < m->trust.credit_kbps ? m->upload_kbps : m->trust.credit_kbps;
}
/* Member m's credit becomes credit_kbps: its slots in the trees follow in
 * place (strata_mtree_set_upload) and the share is chosen again. */
void dcm_set_credit(strata_dcm *d, dcm_member *m, uint32_t credit_kbps);
/* Picks the share the trees use now (see "Upload headroom"). */
void dcm_choose_share(strata_dcm *d);

/* --- dcm_parity.c: parity from loss ------------------------------------- */

/* A member's heartbeat summed into the loss window. */
void dcm_parity_heartbeat(strata_dcm *d, dcm_member *m, const strata_msg_heartbeat *hb,
                          uint64_t now, strata_dcm_heard *out);
/* dcm.c: 1 when the trees' capacity holds k + n trees for every member. */
int dcm_parity_fits(const strata_dcm *d, uint8_t n);

/* --- dcm_capacity.c: declared against delivered upload ------------------ */

/* What a newcomer starts with (credit unlimited with the check off). */
strata_dcm_trust dcm_trust_new(const strata_dcm *d);
/* Member m's heartbeat: counters against the child links it was given. */
void dcm_capacity_heartbeat(strata_dcm *d, dcm_member *m, const strata_msg_heartbeat *hb,
                            uint64_t now, strata_dcm_heard *out);
/* Child `child` stalled in tree s under member p, whose own progress there
 * its last heartbeat reported as p_seq against the child's child_seq. */
void dcm_capacity_stalled(strata_dcm *d, dcm_member *p, uint8_t s, uint64_t p_seq,
                          uint64_t child_seq, uint64_t now, strata_dcm_heard *out);

/* --- dcm_mesh.c: the FLOOD topology ---------------------------------------- */

/* What a new member offers the mesh (see "Leaves" in dcm_mesh.c). */
uint32_t dcm_mesh_member_upload(const strata_dcm *d, uint32_t upload_kbps);
/* Members without a link and without a feeder get one where there is room;
 * a leaf that has links now lets its feeder go. */
void dcm_mesh_leaves_attach_all(strata_dcm *d);
/* A restored member without links goes back under the feeder it reports
 * when that one is linked and has room; 1 when it did. */
int dcm_mesh_leaf_restore(strata_dcm *d, strata_node_id leaf, strata_node_id feeder);
/* Member id leaves the mesh: its feeder gets the room back, its leaves are
 * detached (attached again by dcm_mesh_leaves_attach_all). */
void dcm_mesh_leaves_release(strata_dcm *d, strata_node_id id);
/* Marks id's neighbours, its feeder and its leaves: their refs name it. */
void dcm_mesh_mark_neighbours(strata_dcm *d, strata_node_id id);
/* Member m of a mesh reported its progress (st: its stall entries, each
 * substream's last_rx_seq already recorded): when it stood still for
 * stall_ns, the neighbours and feeder that held more are judged (the
 * capacity check). */
void dcm_mesh_stall_check(strata_dcm *d, dcm_member *m, dcm_stall *st, uint64_t now,
                          strata_dcm_heard *out);
/* 1 when member m has a link or a feeder. */
int dcm_mesh_fed(const strata_dcm *d, const dcm_member *m);
/* strata_dcm_child_links of a mesh. */
size_t dcm_mesh_child_links(const strata_dcm *d, strata_node_id node, uint32_t subs);
/* The rate changed: what a leaf costs its feeder with it. */
void dcm_mesh_rate_changed(strata_dcm *d);
/* The source's upload as the mesh sees it: budget_kbps less what the
 * leaves it feeds take (0: unlimited). */
uint32_t dcm_mesh_source_upload(const strata_dcm *d, uint32_t budget_kbps);
/* The source's budget or id changed: the leaves it feeds follow. */
void dcm_mesh_source_changed(strata_dcm *d);
/* strata_dcm_instructions_subs of a mesh. */
int dcm_mesh_instructions(const strata_dcm *d, strata_node_id node, uint32_t subs, uint32_t epoch,
                          strata_msg_instruction *out, size_t max);

#endif
