/*
 * Delivery coordinator manager, DCM (SPEC C7, C8, C11).
 *
 * One DCM serves one channel in one region. It owns the bottom-level
 * multi-tree (strata_mtree) of its members and knows every member's address
 * and the channel source's, so it can say to each node, per substream,
 * "your parent is P, your children are C1..Cm" (an INSTRUCTION, C11).
 *
 * The source is not a member: it is the root of every tree (the mtree's
 * STRATA_MTREE_SOURCE) of every DCM of its channel. A DCM may exist before
 * its source is known; it then builds trees for a provisional rate and sends
 * parent refs to the source as zero until set_source gives it one.
 *
 * Dirty set: every change records which nodes' instructions changed. The
 * mtree reports parent and child changes; the DCM adds what the mtree cannot
 * see (a node's address changed, so its neighbours need new refs; the
 * source's ref changed, so every member needs new instructions, since each
 * names the source). The control center
 * drains the set after each change and sends those nodes their
 * instructions. Epochs are chosen by the control center (one counter for
 * all DCMs), not here.
 *
 * Heartbeats: the DCM reads its members' heartbeats against its trees
 * (strata_dcm_heartbeat): a member that follows other parents than its
 * trees give it needs its instructions again, and a parent that stopped
 * delivering one substream is replaced (stall detection, SPEC C13).
 *
 * Topology. A DCM runs one algorithm for its cluster (SPEC C9, C11):
 * STRATA_ALG_TREE, the multi-tree above; STRATA_ALG_EC_TREE, the same
 * multi-tree with k + n trees, k carrying the data substreams and n the
 * parity symbols of each group of k packets (protocol.md 3.1.1: trees are
 * numbered as substreams, parity tree i is k + i); or STRATA_ALG_FLOOD, the top
 * level's c-connected mesh (strata/mesh.h) over which every member floods
 * every substream: its instructions name no parent and list the node's
 * neighbours as children in each substream, the source is a node of the
 * mesh linked to c members, and nothing stalls (there is no parent to
 * replace). Members are added with the region they come from, so that the
 * mesh keeps links across regions. docs/hierarchy.md has the levels.
 *
 * Nothing here sends, reads a clock or logs.
 */
#ifndef STRATA_DCM_H
#define STRATA_DCM_H

#include "strata/common.h"
#include "strata/mesh.h"
#include "strata/tree.h"
#include "strata/wire.h"

typedef struct strata_dcm strata_dcm;

typedef struct strata_dcm_config {
    strata_dcm_id id;            /* logical id, nonzero */
    strata_channel_id channel;   /* nonzero */
    uint8_t k;                   /* 1..STRATA_WIRE_MAX_SUBSTREAMS */
    uint32_t rate_kbps;          /* stream rate (provisional until the source announces), > 0 */
    uint32_t source_upload_kbps; /* 0 = let the source feed up to max children per tree */
    const char *region;          /* region string, copied; may be NULL when region_len is 0 */
    size_t region_len;           /* <= STRATA_WIRE_MAX_REGION_BYTES */
    uint64_t seed;               /* hash seed for the member table */
    uint64_t stall_ns;           /* see strata_dcm_heartbeat; 0 = no stall detection */
    uint8_t algorithm;           /* 0 or STRATA_ALG_TREE: multi-tree; STRATA_ALG_FLOOD: mesh;
                                    STRATA_ALG_EC_TREE: multi-tree of k data and n parity trees */
    uint8_t mesh_c;              /* FLOOD: the mesh's connectivity, 0 = STRATA_MESH_DEFAULT_C */
    uint8_t mesh_top;            /* FLOOD: what the mesh's instructions say (enum
                                    strata_dcm_mesh_top): FLOOD, MESH_TREE (a tree per
                                    substream inside the mesh), or MESH_TREE while the
                                    mesh has been stable (strata_dcm_mesh_choose) */
    uint64_t mesh_stable_ns;     /* AUTO: how long; 0 = STRATA_DCM_MESH_STABLE_S */
    uint8_t parity;              /* EC_TREE: n, 1..STRATA_WIRE_MAX_PARITY; ignored otherwise.
                                    With parity_max, the fewest n the loss may bring */
    uint8_t parity_max;          /* EC_TREE: the most parity trees the loss may bring
                                    (parity..STRATA_WIRE_MAX_PARITY, k + parity_max <=
                                    STRATA_WIRE_MAX_TREES); 0 = n stays parity */
    uint64_t parity_window_ns;   /* the loss window (below); 0 = STRATA_DCM_PARITY_WINDOW_S */
    uint8_t level;               /* the level its instructions name, 0..STRATA_WIRE_MAX_LEVEL */
    uint64_t capacity_ns;        /* tree DCMs: the window of the capacity check (below);
                                    0 = declared uploads are believed */
} strata_dcm_config;

/* Capacity check (issue 13 item 5; dcm_capacity.c has the model). With
 * capacity_ns set, a tree DCM gives a member's trees no more upload than
 * its credit: a newcomer's is STRATA_DCM_PROBATION_RATES times the rate;
 * a window of capacity_ns in which it delivered (its heartbeats' transmit
 * counter) at least 3/4 of what its child links ask, using at least half
 * of its slots, doubles it, up to the declared upload; one in which it
 * delivered less than half sets it to what it delivered; a child that
 * stalls under it while it had the packets (children's reports) halves it.
 * A credit that gives no slot strikes the member: it is a leaf for
 * STRATA_DCM_HOLD_S << (strikes - 1) seconds, then on probation again.
 * A mesh DCM keeps its members' credits without applying them: only
 * reports cut them there (strata_dcm_feeder_stalled, dcm_mesh.c "Stalls"),
 * and the control center chooses preferred nodes by them. */
enum strata_dcm_capacity {
    STRATA_DCM_PROBATION_RATES = 2,
    STRATA_DCM_HOLD_S = 30,
    STRATA_DCM_HOLD_MAX_S = 1920, /* 32 minutes */
    STRATA_DCM_FORGIVE_S = 600,   /* a strike is forgiven after this long without one */
    STRATA_DCM_MIN_RX_SHARE = 8,  /* no judgement while it receives under rate / this */
    STRATA_DCM_MAX_CUT = 8,       /* strata_dcm_heard's cut[] */
};

/* What the capacity check holds of one member; the control center carries
 * it when it moves a member between DCMs or into them again. */
typedef struct strata_dcm_trust {
    uint32_t credit_kbps; /* the most its trees are given (UINT32_MAX: unchecked) */
    uint8_t strikes;      /* credit lost below one slot, forgiven one per STRATA_DCM_FORGIVE_S */
    uint8_t demoted;      /* its credit was cut by evidence and has not come back */
    uint64_t retry_ns;    /* struck: on probation again from then (0: not held) */
    uint64_t last_strike_ns;
} strata_dcm_trust;

/* Parity from loss (SPEC C6: "the redundancy n is chosen per cluster
 * from its network quality"; dcm_parity.c has the model). An EC_TREE DCM
 * with parity_max > parity sums its members' heartbeats over a window:
 * the packets they missed or recovered (repairs, rebuilt from parity:
 * HEARTBEAT recovered_packets) against those due, the loss their links see
 * before recovery. At the window's end it takes the fewest n >= parity
 * with which a group of k + n symbols, each lost with that probability,
 * keeps more than n with probability at most STRATA_DCM_PARITY_TARGET_PPM
 * per million, and at most parity_max (and what the members' upload can
 * carry: k + n trees for each). More parity applies at once; less only
 * after STRATA_DCM_PARITY_CALM_WINDOWS windows in a row wanted less, one
 * tree at a time. The multi-tree holds k + parity_max trees from the
 * start, those beyond k + n idle (tree.h), so a change moves only the
 * nodes interior in a tree that starts or stops, and every member gets its
 * instructions again (they name n). A tree that starts has no feeder yet:
 * the control center gives it one (strata_dcm_heard's parity_changed). */
/* How a mesh carries the stream (SPEC C4, C9; docs/hierarchy.md, "A tree
 * inside the mesh"). AUTO chooses per member, from the mesh's history:
 * MESH_TREE for a member whose mesh links have not changed for
 * mesh_stable_ns (the seed's "a plain tree when the nodes are stable"),
 * FLOOD again when they change (a neighbour joined, left or moved). The
 * two kinds interoperate: a FLOOD member sends no MESH_STATE, so its
 * MESH_TREE neighbours push it everything. */
enum strata_dcm_mesh_top { STRATA_DCM_TOP_FLOOD = 0, STRATA_DCM_TOP_TREE = 1, STRATA_DCM_TOP_AUTO = 2 };
enum { STRATA_DCM_MESH_STABLE_S = 60 };

/* AUTO: decides at now, member by member, whether its links have been
 * stable long enough (see strata_dcm_mesh_top); a member whose choice
 * changes is dirty. Returns 1 when any did, else 0. Call it periodically
 * (the control center does at every evaluation of the preferred nodes). */
int strata_dcm_mesh_choose(strata_dcm *d, uint64_t now);
/* Whether member node's mesh instructions say MESH_TREE now. */
int strata_dcm_mesh_tree(const strata_dcm *d, strata_node_id node);
/* The child links (a k-th of the rate each) mesh member node can be
 * expected to serve, which its delivered upload is judged against
 * (preferred.h's reliability): FLOOD sends each packet to every neighbour
 * but the one it came from; MESH_TREE to those that want it, which only
 * they know, so only its leaves count. 0 for a DCM without a mesh. */
size_t strata_dcm_mesh_expected_links(const strata_dcm *d, strata_node_id node);

enum strata_dcm_parity_limits {
    STRATA_DCM_PARITY_WINDOW_S = 20,
    STRATA_DCM_PARITY_MIN_PACKETS = 2000, /* due in a window before it decides */
    STRATA_DCM_PARITY_TARGET_PPM = 1000,  /* groups that lose more than n */
    STRATA_DCM_PARITY_CALM_WINDOWS = 3,
};
enum strata_dcm_parity_change { STRATA_DCM_PARITY_RAISED = 1, STRATA_DCM_PARITY_LOWERED = 2 };
typedef struct strata_dcm_loss {
    uint32_t last_ppm;     /* the last window's loss, parts per million */
    uint64_t windows;      /* windows decided */
    uint64_t raises, lowers; /* changes of n */
} strata_dcm_loss;

/* The fewest n in [n_min, n_max] with which a group of k data and n parity
 * symbols, each lost with probability loss_ppm per million independently,
 * loses more than n with probability at most target_ppm per million;
 * n_max when none does. */
uint8_t strata_dcm_parity_for_loss(uint8_t k, uint32_t loss_ppm, uint8_t n_min, uint8_t n_max,
                                   uint32_t target_ppm);

/* Creates an empty DCM; NULL on a bad config or no memory. */
strata_dcm *strata_dcm_new(const strata_alloc *a, const strata_dcm_config *cfg);
void strata_dcm_del(strata_dcm *d);

strata_dcm_id strata_dcm_id_of(const strata_dcm *d);
strata_channel_id strata_dcm_channel(const strata_dcm *d);
/* The region string (not NUL-terminated); its length goes to *len. */
const char *strata_dcm_region(const strata_dcm *d, size_t *len);
uint8_t strata_dcm_k(const strata_dcm *d);
/* The trees of its multi-tree: k, or k + n for an EC cluster (k for a mesh). */
uint8_t strata_dcm_trees(const strata_dcm *d);
uint32_t strata_dcm_rate(const strata_dcm *d);
/* The source upload (kbit/s) the trees need so that no pair is detached
 * (strata_mtree_source_need), and the budget they have now. */
uint32_t strata_dcm_source_need_kbps(const strata_dcm *d);
uint32_t strata_dcm_source_budget_kbps(const strata_dcm *d);
/* The root budget that gives each of the trees `links` root slots. */
uint32_t strata_dcm_root_links_kbps(const strata_dcm *d, unsigned links);
size_t strata_dcm_count(const strata_dcm *d);
/* Member i (0 <= i < strata_dcm_count) in no particular order: a join or
 * a leave reorders them. */
strata_node_id strata_dcm_member_at(const strata_dcm *d, size_t i);
int strata_dcm_has(const strata_dcm *d, strata_node_id node);
/* The upload member node gives this DCM (0 when it is no member). */
uint32_t strata_dcm_member_kbps(const strata_dcm *d, strata_node_id node);
/* The upload member node is believed to have (the capacity check):
 * min(declared, credit), the declared one with the check off; 0 when it is
 * no member. */
uint32_t strata_dcm_member_believed_kbps(const strata_dcm *d, strata_node_id node);
/* The member with the largest believed upload (above) of at least min_kbps
 * (ties: the larger declared upload, then the smallest id), or the zero id
 * if none has that much: with the
 * capacity check a newcomer's declared 10 Mbit/s counts as its probation's
 * credit until it delivers more, so it heads no region ahead of members
 * that have shown their upload. With min_kbps > 0 a member the capacity
 * check demoted (strata_dcm_trust) is not chosen, here nor in
 * top_members: its declared upload is not what it delivers. */
strata_node_id strata_dcm_best_member(const strata_dcm *d, uint32_t min_kbps);
/* Up to max members with at least min_kbps of believed upload, the largest
 * first (ties as best_member); returns how many were written. */
size_t strata_dcm_top_members(const strata_dcm *d, uint32_t min_kbps, strata_node_id *out,
                              size_t max);
/* 1 when member node receives the stream from this DCM's topology: always
 * in a tree (it has a parent slot in each, or waits for one); in a mesh
 * when it has links or is a leaf with a feeder (dcm.c, "Leaves"). */
int strata_dcm_fed(const strata_dcm *d, strata_node_id node);
/* Up to max members that strata_dcm_fed says receive nothing (a mesh's
 * leaves whose feeder went and found no other); returns how many. */
size_t strata_dcm_unfed(const strata_dcm *d, strata_node_id *out, size_t max);
/* The child links node (a member or STRATA_MTREE_SOURCE) has in the trees
 * whose bit is set in subs; in a mesh, its neighbours (not the source)
 * times the substreams in subs, as each carries every substream. */
size_t strata_dcm_child_links(const strata_dcm *d, strata_node_id node, uint32_t subs);

/* EC_TREE: the parity trees in use (n), and the range the loss moves it
 * in; 0 otherwise. */
uint8_t strata_dcm_parity(const strata_dcm *d);
uint8_t strata_dcm_parity_max(const strata_dcm *d);
/* Puts n parity trees in use (the control center restoring what its
 * members report after a restart; tests). Trees that stop lose their
 * feeder; every member and the source become dirty. Returns 0 (also when
 * n is already in use), STRATA_ERR_INVAL (not an EC_TREE DCM) or
 * STRATA_ERR_RANGE (n outside [parity, max(parity, parity_max)]). */
int strata_dcm_set_parity(strata_dcm *d, uint8_t n);
/* What the loss windows saw and did. */
void strata_dcm_loss_stats(const strata_dcm *d, strata_dcm_loss *out);

/* The multi-tree (NULL for a mesh DCM), for queries, stats and invariant
 * checks. */
const strata_mtree *strata_dcm_tree(const strata_dcm *d);
/* The mesh of a FLOOD DCM (NULL for a tree DCM). */
const strata_mesh *strata_dcm_mesh(const strata_dcm *d);
/* STRATA_ALG_TREE, STRATA_ALG_FLOOD or STRATA_ALG_EC_TREE. */
uint8_t strata_dcm_algorithm(const strata_dcm *d);
/* The level its instructions name (config's level). */
uint8_t strata_dcm_level(const strata_dcm *d);

/* Adds a member and attaches it to every tree; the member and every node
 * whose instructions changed become dirty. Returns 0, STRATA_ERR_EXISTS,
 * STRATA_ERR_INVAL (zero or reserved id) or STRATA_ERR_NOMEM. */
int strata_dcm_add(strata_dcm *d, strata_node_id node, strata_addr addr, uint32_t upload_kbps);
/* The same for a member of a region (a small integer of the caller's: a
 * mesh keeps links across regions; a tree ignores it). A mesh DCM also
 * refuses the source's id (STRATA_ERR_EXISTS). */
int strata_dcm_add_in_region(strata_dcm *d, strata_node_id node, strata_addr addr,
                             uint32_t upload_kbps, uint32_t region);
/* strata_dcm_add_in_region with the capacity check's state of a member
 * that was in a DCM of the control center before (strata_dcm_trust_of),
 * instead of a newcomer's probation; trust NULL: a newcomer. */
int strata_dcm_add_trusted(strata_dcm *d, strata_node_id node, strata_addr addr,
                           uint32_t upload_kbps, uint32_t region, const strata_dcm_trust *trust);
/* The capacity check's state of member node. Returns 0 or
 * STRATA_ERR_NOTFOUND. */
int strata_dcm_trust_of(const strata_dcm *d, strata_node_id node, strata_dcm_trust *out);

/* What a member reports of its place in the trees (SPEC C13, C14): a
 * restarted control center rebuilds a DCM from these, with no state
 * transfer. parents[s] is STRATA_MTREE_SOURCE, another member, or 0
 * (none, or a node outside this DCM); interior is the tree it has children
 * in (-1: none known). In a mesh, parents[0] of a leaf is its feeder. */
typedef struct strata_dcm_report {
    strata_node_id node;
    strata_addr addr;
    uint32_t upload_kbps;
    int interior;
    uint32_t region; /* a mesh member's region (as strata_dcm_add_in_region), else 0 */
    strata_node_id parents[STRATA_WIRE_MAX_TREES];
} strata_dcm_report;

/* Fills an empty DCM with n members at the places they report, where those
 * keep the trees' invariants (each member's upload, interior in one tree,
 * no cycle), and the rest as add would (strata_mtree_adopt, settle); every
 * member and the source become dirty. Returns 0, STRATA_ERR_UNEXPECTED
 * (the DCM has members), STRATA_ERR_INVAL (a zero or reserved id) or
 * STRATA_ERR_NOMEM (nothing changed). */
int strata_dcm_restore(strata_dcm *d, const strata_dcm_report *r, size_t n);

/* Removes a member; its former neighbours become dirty. Returns 0 or
 * STRATA_ERR_NOTFOUND. */
int strata_dcm_remove(strata_dcm *d, strata_node_id node);

/* Records a member's new address; the member, its parents and its children
 * become dirty (they hold refs with the old address). Returns 0 or
 * STRATA_ERR_NOTFOUND. */
int strata_dcm_set_addr(strata_dcm *d, strata_node_id node, strata_addr addr);

/* Tells the DCM who the source is. A new node id or address makes the
 * source and every member dirty. A new rate (rate_kbps > 0 and not
 * the current one) changes the trees' rate and rebuilds them; a new
 * source_upload_kbps changes the source's slots in place
 * (strata_mtree_set_source_upload: only the nodes that move are dirty).
 * The source ref is kept until the next call: when a source leaves, its
 * children keep their trees. Returns 0, STRATA_ERR_INVAL, or
 * STRATA_ERR_NOMEM (the ref and the budget are updated, the trees keep
 * their old rate). */
int strata_dcm_set_source(strata_dcm *d, strata_node_id source, strata_addr addr,
                          uint32_t rate_kbps, uint32_t source_upload_kbps);
/* The source ref instructions name (zero node while unknown). */
strata_peer_ref strata_dcm_source(const strata_dcm *d);

/* Hands tree s's root children to another feeder: a region's head, which
 * relays substream s to them in the source's place (their parent ref names
 * it; the source's own instruction still lists them, and the control
 * center leaves them out of what it sends the source). A zero ref gives
 * them back to the source. The changed children and the source become
 * dirty. Returns 0, STRATA_ERR_RANGE (s >= k) or STRATA_ERR_INVAL (a mesh
 * DCM: it has no root children). */
int strata_dcm_set_substream_root(strata_dcm *d, uint8_t s, strata_peer_ref root);
/* Tree s's feeder in the source's place, or a zero ref. */
strata_peer_ref strata_dcm_substream_root(const strata_dcm *d, uint8_t s);

/* Moves node to another parent in substream s (its parent stopped
 * delivering); see strata_mtree_reparent. The changed nodes become dirty.
 * STRATA_ERR_INVAL for a mesh DCM. */
int strata_dcm_reparent(strata_dcm *d, strata_node_id node, uint8_t s);

/* What a member's heartbeat told the DCM. */
typedef struct strata_dcm_heard {
    uint8_t resend;     /* its reported parents differed twice in a row: send again */
    uint8_t reparented; /* substreams moved to another parent because theirs stalled */
    strata_node_id stalled[STRATA_WIRE_MAX_TREES]; /* per tree: that parent, or 0 */
    uint8_t promoted; /* the capacity check raised a member's credit (this one's) */
    uint8_t demoted;  /* ... cut one (this one's, or a stalled parent's; a mesh: how many) */
    uint8_t struck;   /* ... cut one below a slot (a mesh: how many) */
    /* Per tree: a parent that stalled and is no member here but feeds the
     * tree in the source's place (a preferred node, a relay member feeding
     * a common cluster; not the source), or 0, with the member's
     * last_rx_seq there: the control center has it judged in its own DCM
     * (strata_dcm_feeder_stalled). Set whether or not the member could be
     * moved to another parent. */
    strata_node_id feeder[STRATA_WIRE_MAX_TREES];
    uint64_t feeder_child_seq[STRATA_WIRE_MAX_TREES];
    /* A mesh: the members whose credit this heartbeat cut (neighbours, or
     * the feeder of a leaf, that held packets and did not pass them on:
     * dcm_mesh.c, "Stalls"), the first STRATA_DCM_MAX_CUT of n_cut. */
    strata_node_id cut[STRATA_DCM_MAX_CUT];
    uint8_t n_cut;
    /* The heartbeat closed a loss window that changed n (see "Parity from
     * loss"): STRATA_DCM_PARITY_RAISED (new trees need feeders) or
     * STRATA_DCM_PARITY_LOWERED (trees k + n .. lost theirs); 0: no change. */
    uint8_t parity_changed;
} strata_dcm_heard;

/* A heartbeat of a member (hb->node), checked against its trees (SPEC C13):
 * the parents it follows against its tree parents, and each substream's
 * progress against the others' to find a parent that stopped delivering
 * (its last_rx_seq stood still for stall_ns while the others advanced by
 * 2k packets; the member is then re-parented in that tree and the changed
 * nodes become dirty). Returns 0 or STRATA_ERR_NOTFOUND. */
int strata_dcm_heartbeat(strata_dcm *d, const strata_msg_heartbeat *hb, uint64_t now,
                         strata_dcm_heard *out);
/* A child in another DCM stalled in its tree s under member parent of d,
 * which feeds that tree in the source's place (strata_dcm_heard's feeder;
 * s may be a parity tree there, beyond d's trees): the capacity check
 * judges parent as it judges a stalled parent in d's own trees, against
 * what parent's last heartbeat to d reported of that substream (of the
 * whole stream for a parity tree), child_seq being the child's. A mesh's
 * members are judged so too: their credit is kept, not applied to the
 * mesh, and the control center chooses preferred nodes by it. Fills *out
 * (promoted, demoted, struck). Returns 0, or STRATA_ERR_NOTFOUND. */
int strata_dcm_feeder_stalled(strata_dcm *d, strata_node_id parent, uint8_t s, uint64_t child_seq,
                              uint64_t now, strata_dcm_heard *out);
/* The member was sent its instructions: a mismatch seen so far is answered. */
void strata_dcm_instructions_sent(strata_dcm *d, strata_node_id node);

/* Marks a member, or STRATA_MTREE_SOURCE, dirty so that it gets its
 * instructions with the next drain. Returns 0 or STRATA_ERR_NOTFOUND. */
int strata_dcm_mark_dirty(strata_dcm *d, strata_node_id node);

/* Takes up to max dirty nodes (members, and STRATA_MTREE_SOURCE for the
 * source) and clears them; returns how many were written. Call until it
 * returns less than max to drain everything. */
size_t strata_dcm_take_dirty(strata_dcm *d, strata_node_id *out, size_t max);
/* The same, and subs[i] (if subs is not NULL) gets the substreams whose
 * instruction out[i] needs again (bit s for substream s, only bits below
 * k): those whose parent or children changed, every one for a newcomer, a
 * rebuild or strata_dcm_mark_dirty. */
size_t strata_dcm_take_dirty_subs(strata_dcm *d, strata_node_id *out, uint32_t *subs, size_t max);

/* Fills out[0..k-1] with node's instructions, one per substream, stamped
 * with epoch: algorithm tree, the parent as a ref (the source's ref when
 * the tree parent is the source, a zero ref when it has none or it is
 * unknown), the channel's source ref (zero while unknown) and the children
 * as refs. node is a member or
 * STRATA_MTREE_SOURCE (then the instruction's node is the source's id and
 * the parent is zero). Returns k, STRATA_ERR_NOTFOUND, or STRATA_ERR_INVAL
 * when the source is asked for but not known. */
int strata_dcm_instructions(const strata_dcm *d, strata_node_id node, uint32_t epoch,
                            strata_msg_instruction *out, size_t max);
/* The same for the substreams in subs only (bit s for substream s), in
 * order, written from out[0]; returns how many (0..k) or an error as
 * above. Computing one substream's instruction costs a lookup per child. */
int strata_dcm_instructions_subs(const strata_dcm *d, strata_node_id node, uint32_t subs,
                                 uint32_t epoch, strata_msg_instruction *out, size_t max);

/* The tree parent of node in substream s as the node would report it in a
 * heartbeat: a member id, the source's id (zero while unknown) or zero. */
strata_node_id strata_dcm_parent_id(const strata_dcm *d, strata_node_id node, uint8_t s);
/* The same for every substream at once (one lookup of node): out[0..k-1].
 * Returns k, or 0 if node is not a member (out untouched). */
int strata_dcm_parent_ids(const strata_dcm *d, strata_node_id node, strata_node_id *out,
                          size_t max);

#endif
