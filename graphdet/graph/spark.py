"""The scale-out engine: the rebuild's aggregation and per-tenant statistics on Apache Spark.

Same outputs as :class:`~graphdet.graph.local.LocalEngine` (a test compares every table of
both engines' snapshots): the base tables are Spark DataFrame aggregations of the Parquet
message log that follow the local engine's SQL clause by clause, and the statistics are the
same igraph function, :func:`graphdet.graph.stats.add_statistics`, run once per tenant inside
Spark with ``cogroup(...).applyInPandas`` (one Python worker holds one tenant's graph). The
driver collects the tables and the statistics through Arrow, puts the statistics next to their
rows, and the rebuild job writes the snapshot and manifest exactly as for the local engine.

Skew (a tenant far larger than the others). Every aggregation is keyed by the tenant *and*
an address, pair or name, so a big tenant spreads over all tasks; one hot key (a bulk sender
mailing one mailbox millions of times) is pre-aggregated map-side by Spark and, with
``salt_buckets > 1``, the message-recipient rows of each (sender, recipient) pair are first
aggregated in ``salt_buckets`` buckets by a hash of the message's day and then merged (exact:
see :meth:`SparkEngine._edge_aggregate`). Joins are left to adaptive query
execution's skew-join split (``spark.sql.adaptive.skewJoin.enabled``, on by default). What a
single task still holds is one tenant's node-id numbering (a window partitioned by tenant,
which Spark spills to disk) and one tenant's graph in the statistics step: the igraph
algorithms are not distributed, so the largest tenant's graph must fit one Python worker's
memory (README, "Scale-out (Spark)", gives the sizes).

pyspark is an optional extra (``pip install 'graphdet[spark]'``, Java 17); importing this
module without it fails, :func:`graphdet.graph.engine.resolve_engine` says what to install.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graphdet.exceptions import ConfigError, NothingToBuild, SnapshotError
from graphdet.graph.columns import table_schema
from graphdet.graph.engine import BASE_COLUMNS, Window
from graphdet.graph.spark_session import DEFAULT_MASTER, create_session, quiet_pandas_warning
from graphdet.graph.stats import add_statistics
from graphdet.messagelog import read_log_info

with quiet_pandas_warning():
    from py4j.protocol import Py4JError
    from pyspark import StorageLevel
    from pyspark.errors import PySparkException
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql import Window as SparkWindow
    from pyspark.sql import functions as F

__all__ = ["DEFAULT_MASTER", "SparkEngine", "create_session"]

logger = logging.getLogger(__name__)

# Statistics of every tenant come back from the Python workers as one long table: a row per
# node, per edge and one summary row per tenant ("part"); columns a part does not use are 0.
_NODE_STATS = ["out_degree", "in_degree", "out_strength", "in_strength", "reciprocity", "pagerank",
               "community", "clustering", "inbound_known_share"]
_EDGE_STATS = ["common_neighbors", "adamic_adar"]
_FLOAT_STATS = {"reciprocity", "pagerank", "clustering", "inbound_known_share", "adamic_adar"}
_STATS_SCHEMA = ", ".join(
    ["tenant string", "part string", "node long", "dst_node long"]
    + [f"{c} {'double' if c in _FLOAT_STATS else 'long'}" for c in _NODE_STATS + _EDGE_STATS]
    + ["summary string"]
)
_SORT_KEYS = {
    "nodes": ["tenant", "addr"],
    "edges": ["tenant", "src", "dst"],
    "domains": ["tenant", "domain"],
    "domain_edges": ["tenant", "src_domain", "dst_domain"],
    "display_names": ["tenant", "name_key", "addr"],
}


# ------------------------------------------------------------------ per-tenant statistics


def _tenant_statistics(seed: int, nodes: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """One tenant's statistics (runs in a Spark Python worker): the rows come in any order,
    so they are put in the local engine's order (nodes by id, edges by (src, dst) address,
    which node ids follow) before the same :func:`add_statistics` call."""
    tenant = str(nodes["tenant"].iloc[0])
    nodes = nodes[["node"]].sort_values("node").reset_index(drop=True)
    edges = edges[["src_node", "dst_node", "msgs"]].sort_values(["src_node", "dst_node"]).reset_index(drop=True)
    n_stats, e_stats, summary = add_statistics(nodes, edges, seed=seed)
    n, e = len(n_stats), len(e_stats)
    parts = []
    for part, rows, ids, dst in (("node", n, n_stats["node"], np.zeros(n, np.int64)),
                                 ("edge", e, e_stats["src_node"], e_stats["dst_node"])):
        frame = pd.DataFrame({"tenant": [tenant] * rows, "part": part,
                              "node": np.asarray(ids, np.int64), "dst_node": np.asarray(dst, np.int64)})
        for col in _NODE_STATS + _EDGE_STATS:
            source = n_stats if part == "node" else e_stats
            kind = np.float64 if col in _FLOAT_STATS else np.int64
            frame[col] = source[col].to_numpy(kind) if col in source else np.zeros(rows, kind)
        frame["summary"] = ""
        parts.append(frame)
    head = {"tenant": [tenant], "part": "summary", "node": 0, "dst_node": 0}
    row = pd.DataFrame({**head, **{c: 0.0 if c in _FLOAT_STATS else 0 for c in _NODE_STATS + _EDGE_STATS},
                        "summary": json.dumps(summary)})
    out = pd.concat([*parts, row], ignore_index=True)
    for col in ("tenant", "part", "summary"):  # pyspark's Arrow writer cannot take pandas 3's
        out[col] = out[col].astype(object)  # Arrow-backed strings (chunked arrays)
    return out


# ----------------------------------------------------------------------------- the engine


def _dom(col: Column | str) -> Column:
    """The local engine's ``dom()``: lower(text after the last '@'), the whole text if none."""
    return F.lower(F.substring_index(col, "@", -1))


def _addrs(col: str) -> Column:
    """Distinct non-null addresses of an Address list (DuckDB's list_distinct drops NULLs)."""
    return F.array_distinct(F.filter(F.transform(F.col(col), lambda a: a["addr"]), lambda a: a.isNotNull()))


class SparkEngine:
    """The rebuild on Spark. ``master``: a Spark master URL (None: spark-submit's, else
    ``local[*]``); ``spark``: an existing session to use (it is left running; so is a session
    already active in this process); ``salt_buckets``: buckets of the salted edge aggregation
    (1: no salting); ``conf``: extra Spark settings for a session the engine starts (and stops
    when the build is done). After a build, ``timings_`` holds its phases' seconds
    (aggregate, statistics, collect to the driver)."""

    name = "spark"

    def __init__(
        self, *, master: str | None = None, spark: SparkSession | None = None, salt_buckets: int = 1,
        conf: Mapping[str, str] | None = None,
    ) -> None:
        self.master = master
        self.spark = spark
        self.salt_buckets = salt_buckets
        self.conf = conf

    # ------------------------------------------------------------------ public interface

    def build(self, log_dir: Path, window: Window) -> dict[str, pd.DataFrame]:
        """The base tables (no statistics), as the local engine returns them."""
        tables, _ = self._run(Path(log_dir), window, seed=None)
        return tables

    def build_with_statistics(
        self, log_dir: Path, window: Window, *, seed: int
    ) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, float]]]:
        """Every table with its statistics columns, and each tenant's graph summary: the
        statistics run inside Spark, one tenant per Python worker task."""
        tables, summaries = self._run(Path(log_dir), window, seed=seed)
        assert summaries is not None
        return tables, summaries

    # ----------------------------------------------------------------------- internals

    def _run(
        self, log_dir: Path, window: Window, seed: int | None
    ) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, float]] | None]:
        if self.salt_buckets < 1:
            raise ConfigError(f"engine 'spark': salt_buckets must be at least 1, got {self.salt_buckets}")
        read_log_info(log_dir)
        messages = log_dir / "messages"
        if not any(messages.glob("*.parquet")):
            raise NothingToBuild(f"message log {log_dir} has no message files under {messages}")
        spark = self.spark or SparkSession.getActiveSession()
        own = spark is None
        if spark is None:
            spark = create_session(self.master, conf=self.conf)
        elif self.master is not None or self.conf:
            logger.warning("spark engine: a Spark session is already active on %s; master %r and conf %s "
                           "are not applied", spark.sparkContext.master, self.master, dict(self.conf or {}))
        cached: list[DataFrame] = []
        previous_tz = spark.conf.get("spark.sql.session.timeZone")
        try:
            spark.conf.set("spark.sql.session.timeZone", "UTC")  # dates of timestamps are UTC days
            with quiet_pandas_warning():
                return self._tables(spark, messages, window, seed, cached)
        except (PySparkException, Py4JError) as e:
            raise SnapshotError(f"engine 'spark': the rebuild of {log_dir} failed: {e}") from e
        finally:
            for df in cached:
                df.unpersist()
            if own:
                spark.stop()
            elif previous_tz is not None:
                spark.conf.set("spark.sql.session.timeZone", previous_tz)

    def _tables(
        self, spark: SparkSession, messages: Path, window: Window, seed: int | None, cached: list[DataFrame]
    ) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, float]] | None]:
        def keep(df: DataFrame) -> DataFrame:
            cached.append(df.persist(StorageLevel.MEMORY_AND_DISK))
            return df

        t = F.col("received_at")
        log = spark.read.parquet(messages.resolve().as_uri())
        m = log.where((t >= F.lit(window.start)) & (t < F.lit(window.as_of))).select(
            "tenant", "received_at", "from_addr", "from_name", "in_reply_to", "direction",
            _addrs("to").alias("to_addrs"), _addrs("cc").alias("cc_addrs"),
        )
        # one row per (tenant, sender, display name): feeds senders, internal domains and names
        spelled = keep(m.groupBy("tenant", "from_addr", "from_name").agg(
            F.count(F.lit(1)).alias("msgs"), F.min(t).alias("f"), F.max(t).alias("l"),
            F.max(F.col("direction").isin("internal", "outbound")).alias("own"),
        ))
        internal = (spelled.where("own").select("tenant", _dom("from_addr").alias("domain")).distinct()
                    .withColumn("is_internal", F.lit(True)))

        # the distinct senders of each message id before as_of (any time, not only the window):
        # one shuffle by (tenant, id), which the join with the replies below reuses
        parts = int(spark.conf.get("spark.sql.shuffle.partitions") or 200)
        parent = (log.where(t < F.lit(window.as_of))
                  .select("tenant", F.col("message_id").alias("in_reply_to"), "from_addr")
                  .repartition(parts, "tenant", "in_reply_to")
                  .groupBy("tenant", "in_reply_to").agg(F.collect_set("from_addr").alias("parents")))
        replied = (m.where(F.col("in_reply_to").isNotNull()).join(parent, ["tenant", "in_reply_to"], "left")
                   .unionByName(m.where(F.col("in_reply_to").isNull())
                                .withColumn("parents", F.lit(None).cast("array<string>"))))
        # one row per (message, recipient); an address in both To and Cc counts once, as To.
        # weight: the local engine's LEFT JOIN repeats a message-recipient once per distinct
        # sender of the parent id (a valid log has at most one) in the edge counts, not in
        # the recipient's msgs_received
        recipients = F.concat(
            F.transform("to_addrs", lambda a: F.struct(a.alias("dst"), F.lit(True).alias("is_to"))),
            F.transform(F.array_except("cc_addrs", "to_addrs"),
                        lambda a: F.struct(a.alias("dst"), F.lit(False).alias("is_to"))),
        )
        r = (replied.select("tenant", "received_at", F.col("from_addr").alias("src"), "parents",
                            F.explode(recipients).alias("rcpt"))
             .select("tenant", "received_at", "src", "rcpt.dst", "rcpt.is_to",
                     F.greatest(F.coalesce(F.size("parents"), F.lit(0)), F.lit(1)).cast("long").alias("weight"),
                     F.coalesce(F.array_contains("parents", F.col("rcpt.dst")), F.lit(False)).alias("is_reply")))
        e = keep(self._edge_aggregate(r))

        sent = spelled.groupBy("tenant", F.col("from_addr").alias("addr")).agg(
            F.sum("msgs").alias("msgs_sent"), F.min("f").alias("sf"), F.max("l").alias("sl"),
            # spelled has one row per name: a list is a set here
            F.array_sort(F.collect_list(F.when(F.col("from_name") != "", F.col("from_name")))).alias("names"),
        )
        recv = e.groupBy("tenant", F.col("dst").alias("addr")).agg(
            F.sum("rows").alias("msgs_received"), F.min("first_seen").alias("rf"), F.max("last_seen").alias("rl"),
        )
        n = sent.join(recv, ["tenant", "addr"], "full_outer").select(
            "tenant", "addr", _dom("addr").alias("domain"),
            F.least("sf", "rf").alias("first_seen"), F.greatest("sl", "rl").alias("last_seen"),
            F.coalesce("msgs_sent", F.lit(0)).cast("long").alias("msgs_sent"),
            F.coalesce("msgs_received", F.lit(0)).cast("long").alias("msgs_received"),
            F.coalesce("names", F.array().cast("array<string>")).alias("display_names"),
        )
        by_addr = SparkWindow.partitionBy("tenant").orderBy("addr")
        nodes = keep(n.join(internal, ["tenant", "domain"], "left").select(
            "tenant", (F.row_number().over(by_addr) - 1).cast("long").alias("node"), "addr", "domain",
            F.coalesce("is_internal", F.lit(False)).alias("is_internal"),
            "first_seen", "last_seen", "msgs_sent", "msgs_received", "display_names",
        ))
        ids = nodes.select("tenant", "addr", "node")
        edges = keep(e.join(ids.withColumnsRenamed({"addr": "src", "node": "src_node"}), ["tenant", "src"])
                     .join(ids.withColumnsRenamed({"addr": "dst", "node": "dst_node"}), ["tenant", "dst"])
                     .join(e.select("tenant", F.col("dst").alias("src"), F.col("src").alias("dst"),
                                    F.col("msgs").alias("reverse_msgs")), ["tenant", "src", "dst"], "left")
                     .withColumn("reverse_msgs", F.coalesce("reverse_msgs", F.lit(0)).cast("long")))
        domains = nodes.groupBy("tenant", "domain").agg(
            F.max("is_internal").alias("is_internal"), F.min("first_seen").alias("first_seen"),
            F.max("last_seen").alias("last_seen"), F.count(F.lit(1)).alias("addresses"),
            F.sum("msgs_sent").cast("long").alias("msgs_sent"),
            F.sum("msgs_received").cast("long").alias("msgs_received"),
        )
        domain_edges = e.groupBy("tenant", _dom("src").alias("src_domain"), _dom("dst").alias("dst_domain")).agg(
            F.sum("msgs").cast("long").alias("msgs"), F.count(F.lit(1)).alias("pairs"),
            F.min("first_seen").alias("first_seen"), F.max("last_seen").alias("last_seen"),
        )
        # RE2's \s (DuckDB) is [\t\n\f\r ]; Java's would also match \v
        name_key = F.lower(F.trim(F.regexp_replace("from_name", r"[\t\n\f\r ]+", " ")))
        display_names = (spelled.where(F.trim("from_name") != "").withColumn("name_key", name_key)
                         .groupBy("tenant", "name_key", F.col("from_addr").alias("addr")).agg(
                             F.min(F.struct(-F.col("msgs"), F.col("from_name")))["from_name"].alias("name"),
                             F.sum("msgs").cast("long").alias("msgs"),
                             F.min("f").alias("first_seen"), F.max("l").alias("last_seen")))

        frames = {"nodes": nodes, "edges": edges, "domains": domains, "domain_edges": domain_edges,
                  "display_names": display_names}
        summaries: dict[str, dict[str, float]] | None = None
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        edges.count()  # materialises the cached aggregates: the phases below are timed apart
        timings["aggregate_s"] = time.perf_counter() - t0
        stats: pa.Table | None = None
        if seed is not None:
            t0 = time.perf_counter()
            stats = _statistics(nodes, edges, seed)
            timings["statistics_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = {name: _collect(df, name) for name, df in frames.items()}
        if stats is not None:
            out["nodes"], out["edges"], summaries = _attach(out["nodes"], out["edges"], stats)
        timings["collect_s"] = time.perf_counter() - t0
        self.timings_ = timings
        logger.info(
            "spark engine: %d nodes, %d edges over %d tenants (salt buckets %d); %s",
            len(out["nodes"]), len(out["edges"]), out["nodes"]["tenant"].nunique(), self.salt_buckets,
            ", ".join(f"{k} {v:.1f}" for k, v in timings.items()),
        )
        return out, summaries

    def _edge_aggregate(self, r: DataFrame) -> DataFrame:
        """Per (tenant, src, dst): the local engine's edge counts.

        Salted (``salt_buckets > 1``): the rows are first aggregated per (pair, salt), the salt
        a hash of the message's UTC day, so a hot pair spreads over up to ``salt_buckets``
        tasks; a second aggregation merges the buckets of each pair. All of a day's messages
        of a pair share one bucket, so distinct active days add up exactly across buckets.
        """
        t, day, keys = F.col("received_at"), F.to_date("received_at"), ["tenant", "src", "dst"]
        weight, is_to = F.col("weight"), F.col("is_to")
        counts = [
            F.sum(weight).alias("msgs"), F.sum(F.when(is_to, weight).otherwise(0)).alias("msgs_to"),
            F.sum(F.when(is_to, 0).otherwise(weight)).alias("msgs_cc"),
            F.min(t).alias("first_seen"), F.max(t).alias("last_seen"),
            F.count_distinct(day).alias("active_days"), F.sum(F.col("is_reply").cast("long")).alias("replies"),
            F.count(F.lit(1)).alias("rows"),  # message-recipients, unweighted
        ]
        if self.salt_buckets == 1:
            return r.groupBy(*keys).agg(*counts)
        salt = F.pmod(F.xxhash64(day), F.lit(self.salt_buckets)).alias("salt")
        summed = ("msgs", "msgs_to", "msgs_cc", "active_days", "replies", "rows")
        return r.groupBy(*keys, salt).agg(*counts).groupBy(*keys).agg(
            *[F.sum(c).cast("long").alias(c) for c in summed],
            F.min("first_seen").alias("first_seen"), F.max("last_seen").alias("last_seen"))


def _statistics(nodes: DataFrame, edges: DataFrame, seed: int) -> pa.Table:
    """Every tenant's statistics, computed in Spark (a tenant's nodes and edges meet in one
    Python worker task) and brought to the driver as one long Arrow table."""
    return (nodes.select("tenant", "node").groupBy("tenant")
            .cogroup(edges.select("tenant", "src_node", "dst_node", "msgs").groupBy("tenant"))
            .applyInPandas(functools.partial(_tenant_statistics, seed), _STATS_SCHEMA)
            .toArrow())


def _attach(
    nodes: pd.DataFrame, edges: pd.DataFrame, stats: pa.Table
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, dict[str, float]]]:
    """The statistics columns added to the collected nodes and edges. Sorted by (tenant, node)
    and (tenant, src_node, dst_node), the statistics rows line up with the tables (node ids
    follow address order); the keys are checked before the columns are added."""
    part = stats.column("part")
    node_rows = stats.filter(pc.equal(part, "node")).sort_by([("tenant", "ascending"), ("node", "ascending")])
    edge_rows = stats.filter(pc.equal(part, "edge")).sort_by(
        [("tenant", "ascending"), ("node", "ascending"), ("dst_node", "ascending")])
    for table, rows, keys in ((nodes, node_rows, {"node": "node"}),
                              (edges, edge_rows, {"src_node": "node", "dst_node": "dst_node"})):
        same = len(table) == rows.num_rows and (table["tenant"].to_numpy() == rows.column("tenant").to_numpy()).all()
        if not (same and all(np.array_equal(table[k].to_numpy(), rows.column(v).to_numpy()) for k, v in keys.items())):
            raise SnapshotError("engine 'spark': the statistics rows do not match the collected tables")
    summary_rows = stats.filter(pc.equal(part, "summary")).select(["tenant", "summary"]).to_pylist()
    summaries = {row["tenant"]: json.loads(row["summary"]) for row in summary_rows}
    return (nodes.assign(**{c: node_rows.column(c).to_numpy() for c in _NODE_STATS}),
            edges.assign(**{c: edge_rows.column(c).to_numpy() for c in _EDGE_STATS}), summaries)


def _collect(df: DataFrame, name: str) -> pd.DataFrame:
    """A Spark table on the driver as the local engine's pandas frame: the same columns,
    Arrow types and row order (sorted by tenant then the table's key)."""
    columns = BASE_COLUMNS[name]
    full = table_schema(name)
    schema = pa.schema([full.field(c) for c in columns])
    table: pa.Table = df.select(*columns).toArrow()
    table = table.cast(schema).sort_by([(k, "ascending") for k in _SORT_KEYS[name]])
    frame: pd.DataFrame = table.to_pandas()
    return frame
