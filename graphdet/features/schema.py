"""The feature schema: every combiner input, named, documented, in a fixed order.

The vector is ``BEHAVIOUR_FEATURES`` (graph statistics of the sender, the recipients and the
pairs, GNN signals, direction, tenant maturity) followed by the rules' message signals
(prefixed ``sig_``) and one 0/1 column per rule (``rule_<ID>``). :class:`FeatureSchema` fixes
that order for a rule set and gives it a version (a hash of the names), which the model
artifact records and serving checks.

Families (for ablations): ``message`` (signals, rule hits, direction), ``graph`` (statistics
of the snapshot and live state) and ``gnn``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["BEHAVIOUR_FEATURES", "FEATURE_FAMILIES", "FeatureSchema", "behaviour_family"]

# name -> (family, description). NaN means "unknown" (a new node, an immature tenant).
BEHAVIOUR_FEATURES: dict[str, tuple[str, str]] = {
    "dir_inbound": ("message", "the message comes from outside the tenant"),
    "dir_internal": ("message", "sender and all recipients are internal"),
    "rcpt_count": ("message", "distinct recipients (To + Cc, sender excluded)"),
    "tenant_history_days": ("graph", "days of history the tenant's state has (cold start when small)"),
    "sender_known": ("graph", "the sender sent mail in this tenant before"),
    "sender_msgs_sent_log": ("graph", "log(1 + messages the sender sent before)"),
    "sender_out_degree_log": ("graph", "log(1 + distinct recipients the sender wrote to before)"),
    "sender_in_degree_log": ("graph", "log(1 + distinct addresses that wrote to the sender)"),
    "sender_days_known": ("graph", "days since the sender was first seen (0 when new)"),
    "sender_reciprocity": ("graph", "snapshot per-node reciprocity of the sender (NaN if not in it)"),
    "sender_pagerank_log": ("graph", "log(PageRank x nodes) of the sender in the snapshot (NaN if not in it)"),
    "sender_clustering": ("graph", "local clustering coefficient of the sender (NaN if not in it)"),
    "sender_is_internal": ("graph", "the sender's domain is one of the tenant's own"),
    "sender_domain_known": ("graph", "the sender's domain was seen in the tenant before"),
    "sender_domain_days_known": ("graph", "days since the sender's domain was first seen (0 when new)"),
    "sender_name_new": ("graph", "a known sender uses a display name it never used before"),
    "sender_name_shared": ("graph", "other addresses of the tenant sent with the same (folded) display name"),
    "sender_name_internal_other": (
        "graph", "the display name is an internal person's, but this address is not theirs"),
    "rcpt_internal_share": ("graph", "share of recipients that are internal"),
    "rcpt_first_contact_share": ("graph", "share of recipients the sender never wrote to before"),
    "rcpt_first_contact_count": ("graph", "recipients the sender never wrote to before"),
    "pair_msgs_min_log": ("graph", "log(1 + fewest earlier messages sender -> a recipient)"),
    "pair_msgs_max_log": ("graph", "log(1 + most earlier messages sender -> a recipient)"),
    "pair_reverse_max_log": ("graph", "log(1 + most earlier messages from a recipient to the sender)"),
    "pair_common_neighbors_max": ("graph", "most correspondents shared by the sender and a recipient"),
    "pair_adamic_adar_max": ("graph", "highest Adamic-Adar of sender and a recipient"),
    "pair_same_community_share": ("graph", "share of recipients in the sender's community (NaN if unknown)"),
    "rcpt_known_share_mean": ("graph", "mean share of a recipient's inbound mail from known senders"),
    "rcpt_received_log_mean": ("graph", "mean log(1 + messages a recipient received before)"),
    "rcpt_pagerank_log_max": ("graph", "highest log(PageRank x nodes) among the recipients"),
    "rcpt_attacked_before": ("graph", "a recipient was the target of a labelled attack earlier"),
    "gnn_plausibility_min": ("gnn", "lowest GNN plausibility of sender -> recipient over recipients"),
    "gnn_plausibility_mean": ("gnn", "mean GNN plausibility of sender -> recipient"),
    "gnn_similarity_mean": ("gnn", "mean cosine of the sender to each recipient's usual correspondents"),
    "gnn_fallback": ("gnn", "the sender had no GNN node: its domain's or the unknown row was used"),
}

FEATURE_FAMILIES = ("message", "graph", "gnn")


def behaviour_family(name: str) -> str:
    return BEHAVIOUR_FEATURES[name][0]


@dataclass(frozen=True)
class FeatureSchema:
    """The column order for one rule set: behaviour features, signals, then rule hits."""

    signal_names: tuple[str, ...]
    rule_ids: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (
            tuple(BEHAVIOUR_FEATURES)
            + tuple(f"sig_{n}" for n in self.signal_names)
            + tuple(f"rule_{r}" for r in self.rule_ids)
        )

    @property
    def version(self) -> str:
        return "f1-" + hashlib.sha256("\n".join(self.names).encode()).hexdigest()[:12]

    def family(self, name: str) -> str:
        if name in BEHAVIOUR_FEATURES:
            return BEHAVIOUR_FEATURES[name][0]
        return "message"

    def describe(self, name: str) -> str:
        if name in BEHAVIOUR_FEATURES:
            return BEHAVIOUR_FEATURES[name][1]
        if name.startswith("rule_"):
            return f"rule {name[5:]} fired"
        return f"message signal {name.removeprefix('sig_')}"

    def indices(self, families: tuple[str, ...]) -> list[int]:
        """Column indices of the features in the given families."""
        return [i for i, n in enumerate(self.names) if self.family(n) in families]
