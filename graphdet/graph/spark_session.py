"""The SparkSession the rebuild's Spark engine runs on (:func:`create_session`).

Kept quiet and local by default: Spark's own log at WARN on stderr, the driver on
127.0.0.1, no web UI; pyspark 4.x's warning that pandas 3 is "not yet fully supported" is
silenced around Spark calls (:func:`quiet_pandas_warning`), since the engine's equality
tests against the local engine are what vouch for that combination.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

from graphdet.exceptions import ConfigError

_PANDAS_WARNING = "PySpark does not yet fully support pandas"
with warnings.catch_warnings():  # pyspark 4 warns about pandas 3 at import and on every conversion
    warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException
    from pyspark.sql import SparkSession

__all__ = ["DEFAULT_MASTER", "create_session", "quiet_pandas_warning"]

logger = logging.getLogger(__name__)

DEFAULT_MASTER = "local[*]"

_LOG4J2 = """\
# root and org.apache.spark at one level, or Spark's shell start-up prints a level notice
rootLogger.level = {level}
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{{HH:mm:ss}} %p %c{{1}}: %m%n
logger.spark.name = org.apache.spark
logger.spark.level = {level}
logger.hadoop.name = org.apache.hadoop
logger.hadoop.level = error
logger.spark_util.name = org.apache.spark.util.Utils
logger.spark_util.level = error
"""


@contextlib.contextmanager
def quiet_pandas_warning() -> Iterator[None]:
    """pyspark 4.x warns that pandas 3 is "not yet fully supported" on every conversion; the
    engine's equality tests against the local engine are what vouch for the combination."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PANDAS_WARNING, category=FutureWarning)
        yield


def _require_java() -> None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return
    if shutil.which("java") is None:
        raise ConfigError(
            "engine 'spark' needs a Java runtime (Java 17): no 'java' on PATH"
            + (f" and JAVA_HOME={java_home!r} has no bin/java" if java_home else " and JAVA_HOME is unset")
        )


def create_session(
    master: str | None = None, *, conf: Mapping[str, str] | None = None, app_name: str = "graphdet-rebuild",
    log_level: str = "warn",
) -> SparkSession:
    """A SparkSession set up for the rebuild.

    ``master`` None means the master spark-submit was given, or :data:`DEFAULT_MASTER` when
    not run by spark-submit. Every session computes in UTC and uses Arrow. A local master
    also gets: the driver bound to 127.0.0.1, no web UI or console progress bar, Python
    workers on this interpreter (unless ``PYSPARK_PYTHON`` says otherwise), a few shuffle
    partitions, and Spark's own log at ``log_level`` on stderr. ``conf`` overrides all of it
    (``spark.driver.extraJavaOptions`` is extended with the log configuration, not replaced).
    """
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # the driver was started by spark-submit
    if master is None and not submitted:
        master = DEFAULT_MASTER
    local = master is not None and master.startswith("local")
    settings: dict[str, str] = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.skewJoin.enabled": "true",
    }
    log_dir = None
    if local:
        log_dir = Path(tempfile.mkdtemp(prefix="graphdet-spark-"))
        atexit.register(shutil.rmtree, log_dir, True)  # read once, when the JVM starts
        (log_dir / "log4j2.properties").write_text(_LOG4J2.format(level=log_level))
        settings.update({
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": str(max(4, 2 * (os.cpu_count() or 1))),
        })
    settings.update(conf or {})
    if log_dir is not None:
        java_options = settings.get("spark.driver.extraJavaOptions", "")
        if "log4j2.configurationFile" not in java_options:  # added to the caller's options
            log4j = f"-Dlog4j2.configurationFile={(log_dir / 'log4j2.properties').as_uri()}"
            settings["spark.driver.extraJavaOptions"] = f"{java_options} {log4j}".strip()
    if not submitted:
        _require_java()
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        with quiet_pandas_warning():
            session = builder.getOrCreate()
    except (PySparkException, Py4JError) as e:
        raise ConfigError(f"engine 'spark': could not start Spark (master {master!r}): {e}") from e
    session.sparkContext.setLogLevel(log_level.upper())
    if local and "PYSPARK_PYTHON" not in os.environ:
        # pyspark reads the workers' interpreter from PYSPARK_PYTHON only ("python3" when
        # unset); locally the workers must run this interpreter (this environment's packages)
        session.sparkContext.pythonExec = sys.executable
    logger.info("spark session %s on %s", session.version, session.sparkContext.master)
    return session
