/*
 * Wire protocol v1: encoders and decoders for every strata datagram.
 * docs/protocol.md is normative; section numbers there are cited here.
 *
 * Every message starts with a 4-byte header: magic "ST" (0x53 0x54),
 * version (1), type. All integers are big-endian. Decoders check the
 * remaining length before every read, reject trailing bytes, and validate
 * every count and enum against the limits below. Decoded structs are plain
 * values; variable-length fields (payload, names) point into the input
 * buffer, which the caller must keep alive while using them.
 */
#ifndef STRATA_WIRE_H
#define STRATA_WIRE_H

#include "strata/common.h"

/* Protocol limits (protocol.md section 2). */
enum strata_wire_limits {
    STRATA_WIRE_VERSION = 1,
    STRATA_WIRE_HEADER_BYTES = 4,
    STRATA_WIRE_MAX_DATAGRAM_BYTES = 1472,  /* fits a 1500-byte MTU */
    STRATA_WIRE_MAX_PAYLOAD_BYTES = 1400,   /* data payload */
    STRATA_WIRE_MAX_AUTH_TAG_BYTES = 64,    /* room for an Ed25519 signature (P3) */
    STRATA_WIRE_MAX_SUBSTREAMS = 16,        /* k: data substreams */
    STRATA_WIRE_MAX_PARITY = 8,             /* n: parity trees of an EC cluster */
    STRATA_WIRE_MAX_TREES = 24,             /* k + n: substreams a node may hold instructions for */
    STRATA_WIRE_MAX_LEVEL = 4,              /* levels of a channel's hierarchy */
    STRATA_WIRE_PARITY_TRAILER_BYTES = 2,   /* a parity symbol ends with the length (fec.h) */
    STRATA_WIRE_MAX_PARITY_BYTES = STRATA_WIRE_MAX_PAYLOAD_BYTES + STRATA_WIRE_PARITY_TRAILER_BYTES,
    STRATA_WIRE_MAX_CHILDREN = 64,          /* children per substream in one instruction */
    STRATA_WIRE_MAX_HB_CHILDREN = 64,       /* child entries in one heartbeat */
    STRATA_WIRE_MAX_NAME_BYTES = 64,        /* channel name */
    STRATA_WIRE_MAX_REGION_BYTES = 32,      /* region label */
    STRATA_WIRE_MAX_TOKEN_BYTES = 128,      /* access token in a JOIN (strata/token.h: 90) */
    STRATA_WIRE_REPAIR_SPAN = 64,           /* packets one repair request can name */
    STRATA_WIRE_MAX_BOOTSTRAP_LEADERS = 8,  /* leaders in one GROUP_BOOTSTRAP_REPLY */
    STRATA_WIRE_MAX_REPORT_NEAR = 8,        /* nearest groups in one GROUP_REPORT */
};

enum strata_msg_type {
    STRATA_MSG_DATA = 1,
    STRATA_MSG_HEARTBEAT = 2,
    STRATA_MSG_JOIN = 3,
    STRATA_MSG_JOIN_REPLY = 4,
    STRATA_MSG_INSTRUCTION = 5,
    STRATA_MSG_PROBE = 6,
    STRATA_MSG_PROBE_REPLY = 7,
    STRATA_MSG_LEAVE = 8,
    STRATA_MSG_REPAIR_REQUEST = 9,
    /* Locality groups (SPEC L1-L11, protocol.md 3.8) */
    STRATA_MSG_GROUP_QUERY = 10,
    STRATA_MSG_GROUP_INFO = 11,
    STRATA_MSG_GROUP_JOIN = 12,
    STRATA_MSG_GROUP_STATE = 13,
    STRATA_MSG_GROUP_KEEPALIVE = 14,
    STRATA_MSG_GROUP_LEAVE = 15,
    STRATA_MSG_GROUP_LINK = 16,
    STRATA_MSG_GROUP_PING = 17,
    STRATA_MSG_GROUP_PONG = 18,
    /* Group bootstrap through the control center (protocol.md 3.9) */
    STRATA_MSG_GROUP_REPORT = 19,
    STRATA_MSG_GROUP_BOOTSTRAP = 20,
    STRATA_MSG_GROUP_BOOTSTRAP_REPLY = 21,
    STRATA_MSG_RECRUIT = 22,
    /* Signed streams (SPEC P3, protocol.md 3.11, strata/manifest.h) */
    STRATA_MSG_MANIFEST = 23,
    STRATA_MSG_MANIFEST_REQUEST = 24,
    STRATA_MSG_PARITY_HASHES = 25,
    /* The top level's tree inside its mesh (protocol.md 3.13) */
    STRATA_MSG_MESH_STATE = 26,
    STRATA_MSG_TYPE_MAX = 26,
};

/* How many child entries a heartbeat with n_parents parent entries can
 * carry within STRATA_WIRE_MAX_DATAGRAM_BYTES (protocol.md 3.2); a node
 * with more children reports the rest in later heartbeats, round robin. */
size_t strata_wire_hb_max_children(uint8_t n_parents);

/* Reads the header; returns the message type (1..STRATA_MSG_TYPE_MAX) or a
 * negative STRATA_ERR_* (SHORT, MAGIC, VERSION, TYPE). */
int strata_wire_peek_type(const uint8_t *buf, size_t buflen);

/* Reads the channel id of a message that belongs to one channel's session
 * (DATA, JOIN_REPLY, INSTRUCTION, REPAIR_REQUEST, MANIFEST,
 * MANIFEST_REQUEST, PARITY_HASHES, MESH_STATE) without decoding the
 * rest: a node routes the datagram by it, and the session decodes it in
 * full. Returns the message type, or a header error, STRATA_ERR_TYPE for
 * another type, STRATA_ERR_SHORT when the id does not fit. */
int strata_wire_peek_channel(const uint8_t *buf, size_t buflen, strata_channel_id *out);

/* --- DATA (protocol.md 3.1) ------------------------------------------- */
enum strata_data_flags {
    STRATA_DATA_FLAG_REPAIR = 0x01, /* a retransmission answering a repair request */
    STRATA_DATA_FLAG_EOS = 0x02,    /* end of stream: no payload, seq is one past the last */
    STRATA_DATA_FLAG_PARITY = 0x04, /* a parity symbol of the group that starts at seq (3.1.1) */
    STRATA_DATA_FLAGS_KNOWN = 0x07,
};
typedef struct strata_msg_data {
    strata_channel_id channel;
    uint64_t seq;            /* substream = seq mod k; with PARITY the group's first seq */
    uint8_t substream;       /* < STRATA_WIRE_MAX_SUBSTREAMS; with PARITY k + parity index,
                                < STRATA_WIRE_MAX_TREES */
    uint8_t flags;           /* only STRATA_DATA_FLAGS_KNOWN bits */
    uint64_t send_ts_ns;     /* source clock when the source sent it */
    uint16_t auth_tag_len;   /* <= STRATA_WIRE_MAX_AUTH_TAG_BYTES; senders send 0 (protocol.md 5) */
    const uint8_t *auth_tag;
    uint16_t payload_len;    /* <= STRATA_WIRE_MAX_PAYLOAD_BYTES; 0 with EOS; with PARITY
                                2..STRATA_WIRE_MAX_PAYLOAD_BYTES + 2 (a symbol, fec.h) */
    const uint8_t *payload;
} strata_msg_data;

/* --- HEARTBEAT (protocol.md 3.2, SPEC C13) ------------------------------ */
typedef struct strata_hb_parent {
    strata_node_id parent;   /* zero when substream i has no parent yet */
    uint32_t buffer_packets; /* buffered packets of substream i (S_i) */
    uint64_t last_rx_ts_ns;  /* local time of the last packet from the parent (TP_i) */
    uint64_t last_rx_seq;    /* seq of the last packet from the parent */
} strata_hb_parent;

typedef struct strata_hb_child {
    strata_node_id child;
    uint8_t substream;
    uint64_t last_tx_ts_ns;  /* local time of the last packet sent to it (CT_j) */
    uint64_t last_tx_seq;
} strata_hb_child;

typedef struct strata_msg_heartbeat {
    strata_node_id node;
    strata_channel_id channel;
    strata_dcm_id dcm;       /* whose instructions it follows (the JOIN_REPLY's before any) */
    uint32_t hb_seq;
    uint64_t local_ts_ns;
    uint32_t instr_epoch;    /* newest instruction epoch applied */
    uint32_t upload_kbps;
    uint64_t played_packets; /* counters since join, for delivery metrics */
    uint64_t missed_packets;
    uint64_t rx_data_bytes;
    uint64_t tx_data_bytes;
    /* Packets played since join that did not come down the node's trees
     * before they played: answers to its repair requests and packets
     * rebuilt from parity whose own copy never came (one that came late
     * was not lost). With missed_packets, the loss its links see before
     * recovery: an erasure-coded cluster's DCM chooses its parity from it
     * (dcm.h). */
    uint64_t recovered_packets;
    uint8_t n_parents;       /* k, or k + n in an EC cluster; <= STRATA_WIRE_MAX_TREES */
    uint8_t n_children;      /* <= STRATA_WIRE_MAX_HB_CHILDREN */
    uint8_t level;           /* level of the DCM named in dcm (its instructions'); 0 = none */
    strata_hb_parent parents[STRATA_WIRE_MAX_TREES];
    strata_hb_child children[STRATA_WIRE_MAX_HB_CHILDREN];
} strata_msg_heartbeat;

/* --- JOIN and JOIN_REPLY (protocol.md 3.3) ----------------------------- */
/* A RELAY is a peer that receives and forwards a channel it does not play
 * (recruited by the control center, SPEC C12, protocol.md 3.10). A
 * WAYPOINT is an operator-run relay (SPEC C5, protocol.md 3.3.3): it offers
 * itself for a channel and is placed only where a region lacks
 * high-capacity nodes; elsewhere its JOIN is answered STANDBY. */
enum strata_role {
    STRATA_ROLE_PEER = 0,
    STRATA_ROLE_SOURCE = 1,
    STRATA_ROLE_RELAY = 2,
    STRATA_ROLE_WAYPOINT = 3,
    STRATA_ROLE_MAX = 3,
};
typedef struct strata_msg_join {
    strata_node_id node;     /* chosen at random by the node, never zero */
    uint8_t role;            /* enum strata_role */
    uint32_t upload_kbps;
    uint32_t rate_kbps;      /* stream rate, sources only; 0 for peers */
    uint8_t name_len;        /* 1..STRATA_WIRE_MAX_NAME_BYTES */
    const uint8_t *name;     /* channel name */
    uint8_t region_len;      /* 0..STRATA_WIRE_MAX_REGION_BYTES; 0 = let the control decide */
    const uint8_t *region;
    uint8_t priority;        /* among the node's channels: 0 first, then 1, ... (C12) */
    uint8_t token_len;       /* 0..STRATA_WIRE_MAX_TOKEN_BYTES; 0 = none (no field) */
    const uint8_t *token;    /* opaque here; strata/token.h reads it */
} strata_msg_join;

enum strata_join_status {
    STRATA_JOIN_OK = 0,
    STRATA_JOIN_REFUSED = 1,       /* e.g. a second source for a channel */
    STRATA_JOIN_OVERLOADED = 2,
    STRATA_JOIN_UNKNOWN = 3,   /* answer to a HEARTBEAT from a node the control does not know */
    STRATA_JOIN_FORBIDDEN = 4, /* the channel needs an access token this JOIN lacks */
    STRATA_JOIN_STANDBY = 5,   /* a waypoint no region needs now: offer again later */
    STRATA_JOIN_STATUS_MAX = 5,
};
typedef struct strata_msg_join_reply {
    strata_node_id node;     /* echo of the join */
    strata_channel_id channel;
    uint8_t status;          /* enum strata_join_status */
    strata_dcm_id dcm;       /* logical DCM the node now reports to */
    uint8_t k;               /* substreams, 1..STRATA_WIRE_MAX_SUBSTREAMS */
    uint32_t rate_kbps;      /* 0 while no source has announced */
    uint32_t heartbeat_ms;   /* heartbeat interval the node must keep, > 0 */
    uint64_t start_seq;      /* where playout should begin; 0 before the stream starts */
} strata_msg_join_reply;

/* --- INSTRUCTION (protocol.md 3.4, SPEC C11) ------------------------------
 * One message per substream. A node keeps, per substream, the instruction
 * with the highest epoch it has seen from its DCM. Every instruction also
 * names the channel's source, the one node that holds every packet. */
enum strata_algorithm {
    STRATA_ALG_TREE = 1,       /* push along a tree (C7) */
    STRATA_ALG_FLOOD = 2,      /* mesh flooding (C4) */
    STRATA_ALG_EC_TREE = 3,    /* erasure-coded multi-tree (C6): k data and n parity trees */
    STRATA_ALG_MESH_TREE = 4,  /* a tree per substream inside the mesh, self-repairing (C4, C9) */
    STRATA_ALG_MAX = 4,
};
typedef struct strata_peer_ref {
    strata_node_id node;
    strata_addr addr;
} strata_peer_ref;

typedef struct strata_msg_instruction {
    strata_dcm_id dcm;
    strata_channel_id channel;
    strata_node_id node;     /* the node this instruction is for */
    uint32_t epoch;          /* increases with every change the DCM makes */
    uint8_t k;               /* 1..STRATA_WIRE_MAX_SUBSTREAMS */
    uint8_t substream;       /* < k, or < k + n with EC_TREE (k + i: parity tree i) */
    uint8_t algorithm;       /* enum strata_algorithm */
    uint8_t n;               /* parity trees, <= STRATA_WIRE_MAX_PARITY; 0 but with EC_TREE */
    uint8_t n_neighbours;    /* MESH_TREE: the first n_neighbours children are mesh
                                neighbours (<= n_children); 0 with other algorithms */
    uint8_t level;           /* the node's level in the channel, 1..STRATA_WIRE_MAX_LEVEL; 0 = none */
    strata_peer_ref parent;  /* zero node = none yet */
    strata_peer_ref source;  /* the channel's source; all zero = not known yet */
    uint8_t n_children;      /* <= STRATA_WIRE_MAX_CHILDREN */
    strata_peer_ref children[STRATA_WIRE_MAX_CHILDREN];
} strata_msg_instruction;

/* --- PROBE and PROBE_REPLY (protocol.md 3.5) -------------------------- */
typedef struct strata_msg_probe {
    strata_node_id node;     /* sender of the probe */
    uint32_t probe_id;
    uint64_t send_ts_ns;     /* sender's clock, echoed back */
} strata_msg_probe;

typedef struct strata_msg_probe_reply {
    strata_node_id node;     /* echo: who probed */
    uint32_t probe_id;
    uint64_t send_ts_ns;     /* echo */
    strata_node_id responder;
} strata_msg_probe_reply;

/* --- LEAVE (protocol.md 3.6) -------------------------------------------- */
typedef struct strata_msg_leave {
    strata_node_id node;
    strata_channel_id channel;
    strata_dcm_id dcm;
} strata_msg_leave;

/* --- REPAIR_REQUEST (protocol.md 3.7) -----------------------------------
 * Asks for packets first_seq + i for every bit i set in mask. */
typedef struct strata_msg_repair {
    strata_node_id node;
    strata_channel_id channel;
    uint64_t first_seq;
    uint64_t mask;           /* nonzero */
} strata_msg_repair;

/* --- Locality groups (protocol.md 3.8, SPEC L1-L11) ---------------------
 * Exchanged between group agents (core/groups.c). Distances travel as u32
 * in the unit of the metric named alongside: microseconds for RTT and
 * one-way latency, routing hops for HOPS; STRATA_GROUP_DISTANCE_UNKNOWN
 * when not measured. */
enum strata_wire_group_limits {
    STRATA_WIRE_MAX_GROUP_NEIGHBOURS = 32, /* neighbour entries in INFO and STATE */
    STRATA_WIRE_MAX_GROUP_SUCCESSORS = 8,  /* leadership list in STATE */
    STRATA_WIRE_MAX_GROUP_PAGE = 64,       /* member entries in one STATE */
};
#define STRATA_GROUP_DISTANCE_UNKNOWN UINT32_MAX

enum strata_group_metric {
    STRATA_GROUP_METRIC_RTT = 1,     /* round trip, PROBE / PROBE_REPLY */
    STRATA_GROUP_METRIC_ONE_WAY = 2, /* one way, GROUP_PING / GROUP_PONG, shared clocks */
    STRATA_GROUP_METRIC_HOPS = 3,    /* routing hops from the received IP TTL */
    STRATA_GROUP_METRIC_MAX = 3,
};

/* One neighbour group: its id, its leader, and the sender's distance to it. */
typedef struct strata_group_nb {
    strata_group_id group;   /* nonzero */
    strata_peer_ref leader;  /* node nonzero */
    uint32_t distance;       /* metric units, or STRATA_GROUP_DISTANCE_UNKNOWN */
} strata_group_nb;

/* GROUP_QUERY (3.8.1): "which group do you lead, and its neighbours?" */
typedef struct strata_msg_group_query {
    strata_node_id node;     /* asker */
    uint32_t query_id;       /* echoed in the GROUP_INFO */
    strata_group_id group;   /* group asked about; 0 = whichever the receiver is in */
} strata_msg_group_query;

enum strata_group_info_status {
    STRATA_GROUP_INFO_LEADER = 0,   /* the sender leads `group`; neighbours follow */
    STRATA_GROUP_INFO_MEMBER = 1,   /* the sender is a member; `leader` leads `group` */
    STRATA_GROUP_INFO_NO_GROUP = 2, /* the sender is in no group (yet) */
    STRATA_GROUP_INFO_FULL = 3,     /* the sender leads `group` and admits nobody more */
    STRATA_GROUP_INFO_STATUS_MAX = 3,
};

/* GROUP_INFO (3.8.2): the answer to GROUP_QUERY, GROUP_JOIN (refusals) and
 * misdirected GROUP_KEEPALIVE / GROUP_LINK. */
typedef struct strata_msg_group_info {
    strata_node_id node;     /* responder */
    uint32_t query_id;       /* echo; 0 when unsolicited */
    uint8_t status;          /* enum strata_group_info_status */
    uint8_t metric;          /* enum strata_group_metric of the distances */
    strata_group_id group;   /* 0 iff NO_GROUP */
    uint32_t term;           /* leadership term of the group */
    strata_peer_ref leader;  /* LEADER/FULL: the responder; MEMBER: its leader; NO_GROUP: zero */
    uint32_t n_members;      /* as the responder knows it */
    uint8_t n_neighbours;    /* <= STRATA_WIRE_MAX_GROUP_NEIGHBOURS; 0 unless LEADER/FULL */
    strata_group_nb neighbours[STRATA_WIRE_MAX_GROUP_NEIGHBOURS];
} strata_msg_group_info;

/* GROUP_JOIN (3.8.3): a newcomer asks a leader to admit it. Its address is
 * the datagram's source address. */
typedef struct strata_msg_group_join {
    strata_node_id node;
    uint32_t join_id;        /* echoed as the STATE's reply_id or the INFO's query_id */
    strata_group_id group;   /* nonzero */
} strata_msg_group_join;

/* GROUP_STATE (3.8.4): the leader's replica of the intra-group cache (L6),
 * sent to one member: the leadership list, optionally the neighbour groups,
 * and one page of the ordered member list. */
typedef struct strata_msg_group_state {
    strata_node_id leader;
    strata_group_id group;
    uint32_t term;
    uint32_t epoch;          /* increases with every change within a term */
    strata_node_id member;   /* the addressee */
    uint32_t reply_id;       /* join_id or keepalive seq answered; 0 when pushed */
    uint32_t n_members;      /* >= 1, leader included */
    uint32_t page_offset;    /* index of page[0] in the ordered member list */
    uint8_t metric;
    uint8_t n_successors;    /* <= STRATA_WIRE_MAX_GROUP_SUCCESSORS, < n_members */
    uint8_t n_neighbours;    /* <= STRATA_WIRE_MAX_GROUP_NEIGHBOURS */
    uint8_t n_page;          /* <= STRATA_WIRE_MAX_GROUP_PAGE, and the size rule */
    strata_peer_ref successors[STRATA_WIRE_MAX_GROUP_SUCCESSORS];
    strata_group_nb neighbours[STRATA_WIRE_MAX_GROUP_NEIGHBOURS];
    strata_peer_ref page[STRATA_WIRE_MAX_GROUP_PAGE];
} strata_msg_group_state;

/* How many member entries a GROUP_STATE with these counts can carry within
 * STRATA_WIRE_MAX_DATAGRAM_BYTES (protocol.md 3.8.4); 0 for bad counts. */
size_t strata_wire_group_state_max_page(uint8_t n_successors, uint8_t n_neighbours);

enum strata_group_keepalive_flags {
    STRATA_GROUP_KA_TAKEOVER = 0x01, /* my leader is lost: lead us, if you are next */
    STRATA_GROUP_KA_LEFT = 0x02,     /* ... because it said it left (with TAKEOVER only) */
    STRATA_GROUP_KA_FLAGS_KNOWN = 0x03,
};

/* GROUP_KEEPALIVE (3.8.5): a member to its leader (or, with TAKEOVER, to
 * the next in the leadership list). */
typedef struct strata_msg_group_keepalive {
    strata_node_id node;
    strata_group_id group;      /* nonzero */
    uint32_t term;              /* newest term the member knows */
    uint32_t seq;               /* echoed as the STATE's reply_id */
    uint8_t flags;              /* enum strata_group_keepalive_flags */
    strata_node_id lost_leader; /* nonzero iff TAKEOVER */
} strata_msg_group_keepalive;

/* GROUP_LEAVE (3.8.6): a node leaves its group; a leader names who its
 * members follow next (a successor of the same group, or another group it
 * merges into). */
typedef struct strata_msg_group_leave {
    strata_node_id node;
    strata_group_id group;       /* nonzero */
    uint32_t term;
    strata_group_id next_group;  /* 0 = none */
    strata_peer_ref next_leader; /* all zero iff next_group is 0 */
} strata_msg_group_leave;

enum strata_group_link_kind {
    STRATA_GROUP_LINK_REQUEST = 0, /* please keep a link to my group */
    STRATA_GROUP_LINK_ACCEPT = 1,
    STRATA_GROUP_LINK_REFUSE = 2,
    STRATA_GROUP_LINK_REFRESH = 3, /* the link lives; also a new leader's announcement */
    STRATA_GROUP_LINK_UNLINK = 4,
    STRATA_GROUP_LINK_KIND_MAX = 4,
};

/* GROUP_LINK (3.8.7): leader to leader, about the link between two groups. */
typedef struct strata_msg_group_link {
    strata_node_id node;         /* sender, leader of group */
    strata_group_id group;       /* nonzero */
    uint32_t term;
    strata_group_id peer_group;  /* the receiver's group as the sender knows it; 0 = unknown */
    uint8_t kind;                /* enum strata_group_link_kind */
    uint32_t distance;           /* sender's distance to the receiver, metric units */
} strata_msg_group_link;

/* GROUP_PING and GROUP_PONG (3.8.8): a probe whose answer carries the
 * responder's clock, for the one-way metric. */
typedef struct strata_msg_group_ping {
    strata_node_id node;
    uint32_t ping_id;
    uint64_t send_ts_ns;     /* sender's clock */
} strata_msg_group_ping;

typedef struct strata_msg_group_pong {
    strata_node_id node;     /* echo: who pinged */
    uint32_t ping_id;        /* echo */
    uint64_t send_ts_ns;     /* echo */
    strata_node_id responder;
    uint64_t rx_ts_ns;       /* responder's clock when the ping arrived */
} strata_msg_group_pong;

/* --- MESH_STATE (protocol.md 3.13) ---------------------------------------
 * What a member of the top level's mesh tells each neighbour, a few times
 * a second, in a channel whose mesh runs MESH_TREE: which substreams it
 * wants pushed by that neighbour, and how far it has each. */
enum {
    STRATA_MESH_STATE_BEHIND_NONE = 0xffff, /* nothing of the substream, or that far behind */
    STRATA_WIRE_MESH_STATE_FIXED_BYTES = 33,
    STRATA_WIRE_MESH_STATE_MAX_BYTES =
        STRATA_WIRE_MESH_STATE_FIXED_BYTES + 2 * STRATA_WIRE_MAX_SUBSTREAMS,
};
typedef struct strata_msg_mesh_state {
    strata_channel_id channel;
    strata_node_id node;     /* the sender */
    uint8_t k;               /* 1..STRATA_WIRE_MAX_SUBSTREAMS */
    uint32_t want;           /* bit s: push substream s to me; no bit at or above k */
    uint64_t top;            /* the highest seq the sender holds; 0 = none yet */
    /* top - the highest seq of substream s it holds, capped at
     * STRATA_MESH_STATE_BEHIND_NONE (also: none of s yet) */
    uint16_t behind[STRATA_WIRE_MAX_SUBSTREAMS];
} strata_msg_mesh_state;

/* Encoders write one complete datagram into buf and return its length, or
 * STRATA_ERR_NOSPACE if buflen is too small, or STRATA_ERR_INVAL if the
 * struct breaks a limit (the encoder never writes what the decoder rejects).
 * Decoders parse one complete datagram (header included) and return the
 * bytes consumed (== buflen) or a negative STRATA_ERR_* input error. */
int strata_wire_encode_data(uint8_t *buf, size_t buflen, const strata_msg_data *m);
int strata_wire_decode_data(const uint8_t *buf, size_t buflen, strata_msg_data *m);
int strata_wire_encode_heartbeat(uint8_t *buf, size_t buflen, const strata_msg_heartbeat *m);
int strata_wire_decode_heartbeat(const uint8_t *buf, size_t buflen, strata_msg_heartbeat *m);
int strata_wire_encode_join(uint8_t *buf, size_t buflen, const strata_msg_join *m);
int strata_wire_decode_join(const uint8_t *buf, size_t buflen, strata_msg_join *m);
int strata_wire_encode_join_reply(uint8_t *buf, size_t buflen, const strata_msg_join_reply *m);
int strata_wire_decode_join_reply(const uint8_t *buf, size_t buflen, strata_msg_join_reply *m);
int strata_wire_encode_instruction(uint8_t *buf, size_t buflen, const strata_msg_instruction *m);
int strata_wire_decode_instruction(const uint8_t *buf, size_t buflen, strata_msg_instruction *m);
int strata_wire_encode_probe(uint8_t *buf, size_t buflen, const strata_msg_probe *m);
int strata_wire_decode_probe(const uint8_t *buf, size_t buflen, strata_msg_probe *m);
int strata_wire_encode_probe_reply(uint8_t *buf, size_t buflen, const strata_msg_probe_reply *m);
int strata_wire_decode_probe_reply(const uint8_t *buf, size_t buflen, strata_msg_probe_reply *m);
int strata_wire_encode_leave(uint8_t *buf, size_t buflen, const strata_msg_leave *m);
int strata_wire_decode_leave(const uint8_t *buf, size_t buflen, strata_msg_leave *m);
int strata_wire_encode_repair(uint8_t *buf, size_t buflen, const strata_msg_repair *m);
int strata_wire_decode_repair(const uint8_t *buf, size_t buflen, strata_msg_repair *m);
int strata_wire_encode_mesh_state(uint8_t *buf, size_t buflen, const strata_msg_mesh_state *m);
int strata_wire_decode_mesh_state(const uint8_t *buf, size_t buflen, strata_msg_mesh_state *m);

int strata_wire_encode_group_query(uint8_t *buf, size_t buflen, const strata_msg_group_query *m);
int strata_wire_decode_group_query(const uint8_t *buf, size_t buflen, strata_msg_group_query *m);
int strata_wire_encode_group_info(uint8_t *buf, size_t buflen, const strata_msg_group_info *m);
int strata_wire_decode_group_info(const uint8_t *buf, size_t buflen, strata_msg_group_info *m);
int strata_wire_encode_group_join(uint8_t *buf, size_t buflen, const strata_msg_group_join *m);
int strata_wire_decode_group_join(const uint8_t *buf, size_t buflen, strata_msg_group_join *m);
int strata_wire_encode_group_state(uint8_t *buf, size_t buflen, const strata_msg_group_state *m);
int strata_wire_decode_group_state(const uint8_t *buf, size_t buflen, strata_msg_group_state *m);
int strata_wire_encode_group_keepalive(uint8_t *buf, size_t buflen,
                                       const strata_msg_group_keepalive *m);
int strata_wire_decode_group_keepalive(const uint8_t *buf, size_t buflen,
                                       strata_msg_group_keepalive *m);
int strata_wire_encode_group_leave(uint8_t *buf, size_t buflen, const strata_msg_group_leave *m);
int strata_wire_decode_group_leave(const uint8_t *buf, size_t buflen, strata_msg_group_leave *m);
int strata_wire_encode_group_link(uint8_t *buf, size_t buflen, const strata_msg_group_link *m);
int strata_wire_decode_group_link(const uint8_t *buf, size_t buflen, strata_msg_group_link *m);
int strata_wire_encode_group_ping(uint8_t *buf, size_t buflen, const strata_msg_group_ping *m);
int strata_wire_decode_group_ping(const uint8_t *buf, size_t buflen, strata_msg_group_ping *m);
int strata_wire_encode_group_pong(uint8_t *buf, size_t buflen, const strata_msg_group_pong *m);
int strata_wire_decode_group_pong(const uint8_t *buf, size_t buflen, strata_msg_group_pong *m);

/* --- Group bootstrap (protocol.md 3.9) ----------------------------------- */

/* A group near the reporting leader's: nonzero, not its own. */
typedef struct strata_group_near {
    strata_group_id group;
    uint32_t distance; /* metric units; 0xFFFFFFFF unknown */
} strata_group_near;

/* GROUP_REPORT (3.9.1): a leader tells the control center which group it
 * leads; n_members 0 withdraws the report (it no longer leads it). Its
 * address is the datagram's source address. */
typedef struct strata_msg_group_report {
    strata_node_id node;   /* the leader, nonzero */
    strata_group_id group; /* nonzero */
    uint32_t term;
    uint32_t n_members; /* leader included; 0 = withdrawn */
    /* The leader's nearest linked groups (7.6) and its distance to each,
     * in the deployment's metric (3.8): what the control center's regions
     * by policy weigh (7.8). */
    uint8_t n_near; /* <= STRATA_WIRE_MAX_REPORT_NEAR */
    strata_group_near near[STRATA_WIRE_MAX_REPORT_NEAR];
} strata_msg_group_report;

/* GROUP_BOOTSTRAP (3.9.2): a newcomer asks the control center for group
 * leaders to start its join walk from. */
typedef struct strata_msg_group_bootstrap {
    strata_node_id node; /* asker, nonzero */
    uint32_t request_id; /* echoed */
} strata_msg_group_bootstrap;

/* One leader of a GROUP_BOOTSTRAP_REPLY. */
typedef struct strata_group_leader_entry {
    strata_group_id group;  /* nonzero */
    strata_peer_ref leader; /* node nonzero */
    uint32_t n_members;     /* >= 1, as last reported */
} strata_group_leader_entry;

/* GROUP_BOOTSTRAP_REPLY (3.9.3): the answer; no leaders means "found the
 * first group". */
typedef struct strata_msg_group_bootstrap_reply {
    strata_node_id node; /* echo of the asker */
    uint32_t request_id; /* echo */
    uint8_t n_leaders;   /* <= STRATA_WIRE_MAX_BOOTSTRAP_LEADERS */
    strata_group_leader_entry leaders[STRATA_WIRE_MAX_BOOTSTRAP_LEADERS];
} strata_msg_group_bootstrap_reply;

int strata_wire_encode_group_report(uint8_t *buf, size_t buflen, const strata_msg_group_report *m);
int strata_wire_decode_group_report(const uint8_t *buf, size_t buflen, strata_msg_group_report *m);
int strata_wire_encode_group_bootstrap(uint8_t *buf, size_t buflen,
                                       const strata_msg_group_bootstrap *m);
int strata_wire_decode_group_bootstrap(const uint8_t *buf, size_t buflen,
                                       strata_msg_group_bootstrap *m);
int strata_wire_encode_group_bootstrap_reply(uint8_t *buf, size_t buflen,
                                             const strata_msg_group_bootstrap_reply *m);
int strata_wire_decode_group_bootstrap_reply(const uint8_t *buf, size_t buflen,
                                             strata_msg_group_bootstrap_reply *m);

/* Per-reason drop counters, indexed by -err for input errors (1..99). A
 * node or control center keeps one of these and the metrics export it. */
typedef struct strata_drop_counters {
    uint64_t by_reason[16];
    uint64_t total;
} strata_drop_counters;

/* --- RECRUIT (protocol.md 3.10) ---------------------------------------- */
enum strata_recruit_flags { STRATA_RECRUIT_RELEASE = 0x01, STRATA_RECRUIT_FLAGS_KNOWN = 0x01 };
typedef struct strata_msg_recruit {
    strata_node_id node; /* the node asked to relay (or released) */
    uint8_t flags;       /* RELEASE: stop relaying the channel */
    uint8_t name_len;    /* 1..STRATA_WIRE_MAX_NAME_BYTES */
    const uint8_t *name; /* the channel's name, which the node JOINs by */
} strata_msg_recruit;

int strata_wire_encode_recruit(uint8_t *buf, size_t buflen, const strata_msg_recruit *m);
int strata_wire_decode_recruit(const uint8_t *buf, size_t buflen, strata_msg_recruit *m);

/* Counts one rejected datagram under err (an input-band error). */
void strata_drop_count(strata_drop_counters *c, int err);

#endif
