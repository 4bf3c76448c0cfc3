"""Choosing the tenant and cutting its span."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from graphdet.exceptions import ConfigError
from graphdet.public.tenant import pick_tenant_domain, time_split


def test_pick_the_organisation_with_most_senders() -> None:
    senders = ["a@linux.ibm.com", "b@de.ibm.com", "a@linux.ibm.com", "c@gmail.com", "d@gmail.com", "e@gmail.com",
               "f@kernel.org", "g@kernel.org", "h@kernel.org", "x@redhat.com"]
    assert pick_tenant_domain(senders) == "ibm.com"  # free-mail and kernel.org are not organisations
    with pytest.raises(ConfigError, match="--tenant-domain"):
        pick_tenant_domain(["a@gmail.com", "b@kernel.org"])


def test_time_split_cuts_at_midnights() -> None:
    times = pa.array([datetime(2024, 1, 1, 8, tzinfo=UTC), datetime(2024, 12, 31, 20, tzinfo=UTC)],
                     pa.timestamp("us", tz="UTC"))
    s = time_split(times, 0.25, 0.25)
    assert (s.train_start, s.test_start, s.end) == (
        datetime(2024, 7, 2, tzinfo=UTC), datetime(2024, 10, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(ConfigError, match="sum < 1"):
        time_split(times, 0.6, 0.5)
