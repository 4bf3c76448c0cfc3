from pathlib import Path

import pytest

from graphdet.exceptions import ConfigError
from graphdet.schema import Direction
from graphdet.tenants import TenantConfig, TenantSpec, dump_tenant_config, load_tenant_config

CONFIG = TenantConfig(
    (
        TenantSpec("acme", ("acme.com", "acme-corp.com"), ("ceo@acme.com",)),
        TenantSpec("globex", ("globex.io",)),
    )
)


def test_subdomains_belong_to_their_parent_domain() -> None:
    assert CONFIG.tenant_of_domain("acme.com") == "acme"
    assert CONFIG.tenant_of_domain("mail.eu.acme.com") == "acme"
    assert CONFIG.tenant_of_domain("ACME.COM.") == "acme"
    assert CONFIG.tenant_of_domain("notacme.com") is None
    assert CONFIG.tenant_of_domain("acme.com.evil.io") is None


@pytest.mark.parametrize(
    ("sender", "recipients", "expected"),
    [
        ("acme.com", ["acme-corp.com", "acme.com"], [("acme", Direction.INTERNAL)]),
        ("acme.com", ["acme.com", "gmail.com"], [("acme", Direction.OUTBOUND)]),
        ("gmail.com", ["acme.com"], [("acme", Direction.INBOUND)]),
        ("gmail.com", ["acme.com", "globex.io"], [("acme", Direction.INBOUND), ("globex", Direction.INBOUND)]),
        ("acme.com", ["globex.io"], [("acme", Direction.OUTBOUND), ("globex", Direction.INBOUND)]),
        ("gmail.com", ["yahoo.com"], []),
        ("acme.com", [], [("acme", Direction.OUTBOUND)]),
    ],
)
def test_route_gives_each_tenant_its_direction(
    sender: str, recipients: list[str], expected: list[tuple[str, Direction]]
) -> None:
    assert CONFIG.route(sender, recipients) == expected


def test_empty_config_routes_everything_to_default_unknown() -> None:
    assert TenantConfig().route("a.com", ["b.com"]) == [("default", Direction.UNKNOWN)]


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    dump_tenant_config(CONFIG.tenants, tmp_path / "t.yaml")
    assert load_tenant_config(tmp_path / "t.yaml") == CONFIG


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tenants: [a, b]", "expected a mapping with a 'tenants' mapping"),
        ("tenants:\n  a:\n    domains: []\n", "'domains' must be a non-empty list"),
        ("tenants:\n  a:\n    domains: [x.com]\n    colour: red\n", "unknown keys ['colour']"),
        ("tenants:\n  a:\n    domains: [x.com]\n  b:\n    domains: [x.com]\n", "listed under both tenants"),
        ("tenants:\n  a:\n    domains: [bob@x.com]\n", "is not a domain name"),
        ("tenants: {a: {domains: [x.com]}}\nextra: 1\n", "unknown top-level keys ['extra']"),
        ("tenants: [", "invalid YAML"),
    ],
)
def test_bad_configs_name_the_file_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_tenant_config(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_tenant_config(tmp_path / "nope.yaml")
